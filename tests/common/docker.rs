//! A private Docker engine for interoperability tests: `dockerd` (Debian's
//! `docker.io`) started as root with its own data root, exec root and
//! socket under a temporary directory, and no networking set-up, so it
//! touches nothing else on the machine. Dropping it stops that daemon, and
//! only it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's Docker 20.10 CLI, the Docker rimg's output is held to; the
/// `docker` first on PATH may be another version.
pub const DEBIAN_DOCKER: &str = "/usr/bin/docker";

pub struct Dockerd {
    child: Child,
    dir: tempfile::TempDir,
}

impl Dockerd {
    /// Starts the daemon and waits (at most 60 s) until it answers. Fails
    /// the test, with the daemon's log, if it cannot start: these tests
    /// are never skipped.
    pub fn start() -> Dockerd {
        let dir = tempfile::tempdir().expect("temporary directory for dockerd");
        let log = std::fs::File::create(dir.path().join("dockerd.log")).expect("dockerd log");
        let child = Command::new("dockerd")
            .args([
                "--iptables=false",
                "--ip-forward=false",
                "--ip-masq=false",
                "--bridge=none",
            ])
            .arg("--data-root")
            .arg(dir.path().join("data"))
            .arg("--exec-root")
            .arg(dir.path().join("exec"))
            .arg("--pidfile")
            .arg(dir.path().join("dockerd.pid"))
            .arg("-H")
            .arg(format!(
                "unix://{}",
                dir.path().join("docker.sock").display()
            ))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dockerd log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start dockerd (is docker.io installed?): {e}"));
        let mut daemon = Dockerd { child, dir };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let info = daemon
                .command(&["info"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if info.is_ok_and(|s| s.success()) {
                return daemon;
            }
            if let Ok(Some(status)) = daemon.child.try_wait() {
                panic!(
                    "dockerd exited ({status}) before answering:\n{}",
                    daemon.log()
                );
            }
            if Instant::now() > deadline {
                panic!("dockerd did not answer within 60 s:\n{}", daemon.log());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("docker.sock")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }

    /// `docker -H unix://SOCK ARGS…`.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("docker");
        cmd.arg("-H")
            .arg(format!("unix://{}", self.socket().display()))
            .args(args)
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT");
        cmd
    }

    /// [`DEBIAN_DOCKER`] `-H unix://SOCK ARGS…`.
    pub fn debian_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(DEBIAN_DOCKER);
        cmd.arg("-H")
            .arg(format!("unix://{}", self.socket().display()))
            .args(args);
        cmd
    }

    /// Runs docker and fails the test unless it succeeds; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        String::from_utf8_lossy(&self.ok_raw(args)).into_owned()
    }

    /// `ok` for binary output (`docker save`).
    pub fn ok_raw(&self, args: &[&str]) -> Vec<u8> {
        super::checked(self.command(args), &format!("docker {args:?}"))
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // SIGTERM lets dockerd stop its containerd and unmount its layers.
        // SAFETY: kill has no memory-safety preconditions; the pid is our
        // own child's.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
