//! A container's run state (`state.json` beside its record): created,
//! running (with the process that watches it) or exited (with its code).
//! The record says what the container is; this says what it is doing, and
//! is written by whichever process starts, watches or reaps it.
//!
//! A watcher that died (a `kill -9` of `rimg run`, a reboot) cannot write
//! the exit itself, so every reader checks that the watcher named in a
//! running state is still alive — by PID and process start time, so a
//! reused PID is not taken for it — and ends the container if it is not:
//! a container is never shown running forever.

use super::{io_context, Result};
use crate::durable::{self, Mode};
use crate::runtime::process_start;
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::Path;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Exited,
}

/// The process watching a running container: `rimg run` in the foreground,
/// or the monitor a detached run leaves behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watcher {
    pub pid: i32,
    /// Its start time in clock ticks since boot (`/proc/PID/stat`).
    pub start: u64,
}

impl Watcher {
    /// This process.
    pub fn current() -> Option<Watcher> {
        let pid = std::process::id() as i32;
        Some(Watcher {
            pid,
            start: process_start(pid)?,
        })
    }

    pub fn is_alive(&self) -> bool {
        process_start(self.pid) == Some(self.start)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    pub status: Status,
    pub watcher: Option<Watcher>,
    /// RFC 3339, set when it last started and exited.
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub exit_code: i32,
    /// Why it could not start, as `docker inspect`'s `State.Error`.
    pub error: Option<String>,
    /// The OCI runtime of the last start: a container is stopped by the
    /// runtime that started it.
    pub runtime: Option<String>,
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

impl State {
    pub fn read(dir: &Path) -> Result<State> {
        let path = dir.join("state.json");
        match fs::read(&path) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes).unwrap_or_default()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(io_context(format!("reading {}", path.display()))(e)),
        }
    }

    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join("state.json");
        let bytes = serde_json::to_vec(self).expect("a state serializes");
        durable::replace(&path, Mode::Private, &bytes)
            .map_err(io_context(format!("writing {}", path.display())))
    }

    pub fn is_running(&self) -> bool {
        self.status == Status::Running
    }

    /// Running, but its watcher is gone: nobody will record its end.
    pub fn is_orphaned(&self) -> bool {
        self.is_running() && !self.watcher.is_some_and(|w| w.is_alive())
    }

    /// Docker's `STATUS` column: `Up 5 seconds`, `Exited (0) 3 minutes
    /// ago`, `Created`.
    pub fn status_line(&self, now: chrono::DateTime<chrono::Utc>) -> String {
        use crate::format::units::{human_duration, parse_rfc3339};
        let since = |t: &Option<String>| {
            let t = t.as_deref().and_then(parse_rfc3339)?;
            (now - t).to_std().ok().or(Some(std::time::Duration::ZERO))
        };
        match self.status {
            Status::Created => "Created".into(),
            Status::Running => match since(&self.started_at) {
                Some(d) => format!("Up {}", human_duration(d)),
                None => "Up".into(),
            },
            Status::Exited => match since(&self.finished_at) {
                Some(d) => format!("Exited ({}) {} ago", self.exit_code, human_duration(d)),
                None => format!("Exited ({})", self.exit_code),
            },
        }
    }

    /// Docker's `State` field: `created`, `running`, `exited`.
    pub fn name(&self) -> &'static str {
        match self.status {
            Status::Created => "created",
            Status::Running => "running",
            Status::Exited => "exited",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_changed_start_is_not() {
        let me = Watcher::current().unwrap();
        assert!(me.is_alive());
        let reused = Watcher {
            start: me.start + 1,
            ..me
        };
        assert!(!reused.is_alive());
    }

    #[test]
    fn a_zombie_is_not_alive() {
        // A watcher killed under a parent that does not reap it stays a
        // zombie with the same start time.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while process_start(pid).is_some() {
            assert!(std::time::Instant::now() < deadline, "true did not exit");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        child.wait().unwrap();
    }

    #[test]
    fn status_lines_as_docker_prints_them() {
        let now = chrono::Utc::now();
        let ago = |s: i64| {
            Some(
                (now - chrono::Duration::seconds(s))
                    .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            )
        };
        let running = State {
            status: Status::Running,
            started_at: ago(5),
            ..State::default()
        };
        assert_eq!(running.status_line(now), "Up 5 seconds");
        let exited = State {
            status: Status::Exited,
            exit_code: 3,
            finished_at: ago(180),
            ..State::default()
        };
        assert_eq!(exited.status_line(now), "Exited (3) 3 minutes ago");
        assert_eq!(State::default().status_line(now), "Created");
    }
}
