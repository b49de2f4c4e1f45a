//! Writing one blob into the store: bytes go to a temporary file while
//! their digest is computed, and only a verified, fsynced file is renamed
//! into `blobs/`.
//!
//! A blob whose digest is known before it arrives (a pulled layer) goes to
//! a partial file named after that digest, `.rimg/ingest/<hex>`, flocked
//! by the one process writing it. A process that dies leaves the partial
//! behind; the next one to need the blob takes the lock, rehashes the
//! bytes already there and asks only for the rest. One that finds the lock
//! held waits, then finds the blob stored or the partial to resume: a blob
//! is downloaded once per store however many pulls want it.

use super::{io_context, Lease, Result, Store, StoreError};
use crate::digest::{Digest, Hasher};
use std::fs::{self, File, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use tempfile::TempPath;

/// A blob being written. Dropping it without `commit` removes a temporary
/// file and keeps a partial one for the next process to resume; nothing
/// becomes visible under `blobs/`.
pub struct Ingest {
    store: Store,
    file: io::BufWriter<File>,
    hasher: Hasher,
    /// Protects the blob from the moment it is stored.
    lease: Option<Lease>,
    backing: Backing,
    /// How far the file's writeback has been started (see [`WRITEBACK`]).
    written_back: u64,
}

/// Every this many bytes written, the kernel is asked to start writing
/// them to disk. The commit's fsync then waits only for the last few: on
/// a big layer it otherwise waits for the whole file, at the very end of
/// the pull (about 85 ms for a 188 MB layer here).
const WRITEBACK: u64 = 8 << 20;

enum Backing {
    /// A random name under `.rimg/tmp`, removed when dropped.
    Temp(TempPath),
    /// `.rimg/ingest/<hex>`, kept when dropped so it can be resumed.
    Partial(PathBuf),
}

impl Backing {
    fn path(&self) -> &Path {
        match self {
            Backing::Temp(path) => path,
            Backing::Partial(path) => path,
        }
    }
}

/// What [`Lease::claim`] found for a blob.
pub enum Claim {
    /// The store has the blob (and the lease now protects it).
    Stored,
    /// The blob's partial file, locked, its bytes hashed: write the rest.
    Resume(Box<Ingest>),
    /// Another process holds the partial (only without waiting).
    Busy,
}

impl Ingest {
    pub(super) fn new(store: &Store, lease: Option<Lease>) -> Result<Ingest> {
        let (file, path) = store.temp_file("ingest-")?.into_parts();
        Ok(Ingest::over(
            store,
            lease,
            file,
            Hasher::new(),
            Backing::Temp(path),
        ))
    }

    fn over(
        store: &Store,
        lease: Option<Lease>,
        file: File,
        hasher: Hasher,
        backing: Backing,
    ) -> Ingest {
        Ingest {
            store: store.clone(),
            file: io::BufWriter::with_capacity(1 << 20, file),
            written_back: hasher.len(),
            hasher,
            lease,
            backing,
        }
    }

    /// Starts writeback of what reached the file since the last call,
    /// once that is at least [`WRITEBACK`] bytes. Only a hint: a failure
    /// leaves the work to the commit's fsync.
    fn start_writeback(&mut self) {
        let on_file = self.hasher.len() - self.file.buffer().len() as u64;
        if on_file - self.written_back < WRITEBACK {
            return;
        }
        let (Ok(offset), Ok(len)) = (
            libc::off64_t::try_from(self.written_back),
            libc::off64_t::try_from(on_file - self.written_back),
        ) else {
            return;
        };
        // SAFETY: sync_file_range only reads its integer arguments; the
        // descriptor is the ingest's open file.
        unsafe {
            libc::sync_file_range(
                self.file.get_ref().as_raw_fd(),
                offset,
                len,
                libc::SYNC_FILE_RANGE_WRITE,
            );
        }
        self.written_back = on_file;
    }

    /// Writes `bytes` as the whole blob and commits it.
    pub(super) fn put(mut self, bytes: &[u8]) -> Result<Digest> {
        self.write_all(bytes).map_err(io_context("writing blob"))?;
        self.commit(None)
    }

    /// The bytes written so far, read back from the file: what a resumed
    /// download has before its first new chunk, for a reader that needs
    /// the blob from its start. Flushes what is buffered first.
    pub fn written(&mut self) -> Result<io::Take<File>> {
        let len = self.len();
        let path = self.backing.path();
        self.file
            .flush()
            .and_then(|()| File::open(path))
            .map(|file| file.take(len))
            .map_err(io_context(format!("reading back {}", path.display())))
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.hasher.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hasher.is_empty()
    }

    /// The digest of the bytes written so far, without committing: lets a
    /// caller learn whether the store already holds the blob.
    pub fn digest(&self) -> Digest {
        self.hasher.clone().finish()
    }

    /// Verifies the content against `expected` (digest and size) when
    /// given, then makes it durable and visible. Returns the digest. A
    /// partial file that fails verification is removed: resuming it could
    /// only fail again.
    pub fn commit(self, expected: Option<(&Digest, u64)>) -> Result<Digest> {
        let Ingest {
            store,
            file,
            hasher,
            lease,
            backing,
            written_back: _,
        } = self;
        let size = hasher.len();
        let actual = hasher.finish();
        if let Some((digest, expected_size)) = expected {
            if *digest != actual || expected_size != size {
                if let Backing::Partial(path) = &backing {
                    // Still locked: a waiter sees the file gone and starts anew.
                    let _ = fs::remove_file(path);
                }
                return Err(StoreError::Mismatch {
                    expected: digest.clone(),
                    expected_size,
                    actual,
                    actual_size: size,
                });
            }
        }
        let target = store.blob_path(&actual);
        if let Some(lease) = &lease {
            // Before the rename: a stored blob is never unleased.
            lease.protect(&actual)?;
        }
        if target.exists() && still_stored(&store, lease.is_some(), &actual)? {
            if let Backing::Partial(path) = &backing {
                let _ = fs::remove_file(path);
            }
            return Ok(actual);
        }
        let file = file.into_inner().map_err(|e| {
            let e = e.into_error();
            give_up_if_full(&backing, &e);
            io_context(format!("writing blob {actual}"))(e)
        })?;
        file.sync_all()
            .inspect_err(|e| give_up_if_full(&backing, e))
            .map_err(io_context(format!("syncing blob {actual}")))?;
        fs::rename(backing.path(), &target)
            .map_err(io_context(format!("storing blob {actual}")))?;
        // Renamed away: nothing left for the temporary path to remove. The
        // file (and a partial's lock) is released only now, so a waiter
        // finds the blob stored.
        if let Backing::Temp(path) = backing {
            let _ = path.keep();
        }
        drop(file);
        super::sync_dir(target.parent().unwrap_or(store.root()))?;
        Ok(actual)
    }
}

impl Lease {
    /// Claims the download of blob `digest` (`size` bytes): `Stored` if the
    /// store has it, else its partial file, locked, ready to take the rest.
    /// With `wait`, a partial another process holds is waited for, else
    /// `Busy` says so. Blocks on file I/O (rehashing a partial reads it).
    pub fn claim(&self, digest: &Digest, size: u64, wait: bool) -> Result<Claim> {
        let store = self.store();
        let dir = store.partial_dir();
        fs::create_dir_all(&dir).map_err(io_context(format!("creating {}", dir.display())))?;
        let path = dir.join(digest.hex());
        let context = || format!("resuming {}", path.display());
        loop {
            if self.reuse(digest)? {
                return Ok(Claim::Stored);
            }
            let file = fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(io_context(context()))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) if wait => {
                    file.lock().map_err(io_context(context()))?
                }
                Err(TryLockError::WouldBlock) => return Ok(Claim::Busy),
                Err(TryLockError::Error(e)) => return Err(io_context(context())(e)),
            }
            // The holder may have stored the file as the blob, or removed
            // it, while we waited: then the lock is on a file no longer
            // here, and we look again.
            let locked = file.metadata().map_err(io_context(context()))?;
            let current = fs::metadata(&path).ok();
            if !current.is_some_and(|m| m.ino() == locked.ino() && m.dev() == locked.dev()) {
                continue;
            }
            let (file, hasher) = rehash(file, size).map_err(io_context(context()))?;
            return Ok(Claim::Resume(Box::new(Ingest::over(
                store,
                Some(self.clone()),
                file,
                hasher,
                Backing::Partial(path),
            ))));
        }
    }
}

/// Hashes the bytes a partial file holds and leaves it positioned at its
/// end. One longer than the blob cannot be right and is emptied.
fn rehash(mut file: File, size: u64) -> io::Result<(File, Hasher)> {
    let mut hasher = Hasher::new();
    if file.metadata()?.len() > size {
        file.set_len(0)?;
    }
    io::copy(&mut (&mut file).take(size), &mut hasher)?;
    file.seek(io::SeekFrom::Start(hasher.len()))?;
    Ok((file, hasher))
}

/// Whether a blob found already stored is still there once leased: a
/// removal that read the leases before ours was appended may be under way,
/// and the store lock waits it out. Unleased, the blob is taken as found.
fn still_stored(store: &Store, leased: bool, digest: &Digest) -> Result<bool> {
    if !leased {
        return Ok(true);
    }
    let _lock = store.lock()?;
    Ok(store.has_blob(digest))
}

/// On a full disk a partial file is given up rather than kept for
/// resuming: the bytes it holds would only keep the space every later
/// command needs.
fn give_up_if_full(backing: &Backing, e: &io::Error) {
    if let (Backing::Partial(path), io::ErrorKind::StorageFull) = (backing, e.kind()) {
        // Still locked: a waiter sees the file gone and starts anew.
        let _ = fs::remove_file(path);
    }
}

impl Write for Ingest {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.store.stop().check()?;
        let n = self
            .file
            .write(buf)
            .inspect_err(|e| give_up_if_full(&self.backing, e))?;
        self.hasher.update(&buf[..n]);
        self.start_writeback();
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file
            .flush()
            .inspect_err(|e| give_up_if_full(&self.backing, e))
    }
}
