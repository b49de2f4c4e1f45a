//! Stopping synchronous work early: `load`, `save`, `commit` and `import`
//! run on a thread while the binary waits for SIGINT or SIGTERM; a signal
//! requests a [`Stop`], which the work's reads and writes check, so it
//! fails with [`Stopped`] within a chunk and its temporary files go as it
//! unwinds. (Async work, `pull` and `push`, is stopped by dropping it.)
//!
//! Reading a pipe (or writing one) can block for as long as the other end
//! likes, so [`Watched`] waits for it in short polls between checks.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// How long a [`Watched`] pipe is waited on between checks: a stop is
/// noticed within this.
const POLL_MS: i32 = 100;

/// A request to stop, shared by whoever makes it and the work that checks
/// it. The default is never requested.
#[derive(Clone, Debug, Default)]
pub struct Stop(Arc<AtomicBool>);

/// The error work fails with once stopped.
#[derive(Debug, thiserror::Error)]
#[error("stopped by an interrupt")]
pub struct Stopped;

impl Stop {
    pub fn request(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn requested(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Fails once a stop is requested. The error's kind is `Other`, never
    /// `Interrupted`, which `io::copy` and `read_exact` would retry.
    pub fn check(&self) -> io::Result<()> {
        if self.requested() {
            return Err(io::Error::other(Stopped));
        }
        Ok(())
    }

    /// `file` read so that a stop is noticed even while a pipe has
    /// nothing to give.
    pub fn watch(&self, file: File) -> Watched<File> {
        let pipe = file.metadata().map_or(true, |m| !m.is_file());
        Watched {
            poll: pipe.then(|| file.as_raw_fd()),
            inner: file,
            stop: self.clone(),
        }
    }

    /// `inner` read so that every read checks for a stop first.
    pub fn checked<R: Read>(&self, inner: R) -> Watched<R> {
        Watched {
            inner,
            stop: self.clone(),
            poll: None,
        }
    }
}

/// A reader under a [`Stop`].
pub struct Watched<R> {
    inner: R,
    stop: Stop,
    /// The descriptor of a pipe (or anything but a regular file), whose
    /// reads may block: it is polled first.
    poll: Option<RawFd>,
}

/// Whether `fd` has something to read (or has ended) within `POLL_MS`.
fn readable(fd: RawFd) -> io::Result<bool> {
    let mut fd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd; the descriptor is the `Watched` file's,
    // open while it is.
    match unsafe { libc::poll(&mut fd, 1, POLL_MS) } {
        -1 => {
            let e = io::Error::last_os_error();
            // A signal (perhaps the very one that stops us) is no failure.
            if e.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(e)
            }
        }
        0 => Ok(false),
        _ => Ok(true),
    }
}

impl<R: Read> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            self.stop.check()?;
            match self.poll {
                Some(fd) if !readable(fd)? => continue,
                _ => return self.inner.read(buf),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    use std::time::{Duration, Instant};

    #[test]
    fn a_stop_ends_a_read_waiting_on_a_silent_pipe() {
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        let stop = Stop::default();
        let mut watched = stop.watch(File::from(std::os::fd::OwnedFd::from(ours)));
        theirs.write_all(b"abc").unwrap();
        let mut buf = [0; 8];
        assert_eq!(watched.read(&mut buf).unwrap(), 3);

        let requester = stop.clone();
        let started = Instant::now();
        let later = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            requester.request();
        });
        let e = watched.read(&mut buf).unwrap_err();
        later.join().unwrap();
        assert!(e.get_ref().is_some_and(|e| e.is::<Stopped>()), "{e:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(theirs);
    }
}
