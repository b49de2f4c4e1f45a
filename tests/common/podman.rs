//! Podman and skopeo for interoperability tests, kept to a private store
//! under a temporary directory (`--root`, `--runroot`, vfs storage).

use super::checked;
use std::path::Path;
use std::process::Command;

pub struct Podman {
    dir: tempfile::TempDir,
}

impl Default for Podman {
    fn default() -> Self {
        Podman {
            dir: tempfile::tempdir().expect("temporary directory for podman"),
        }
    }
}

impl Podman {
    pub fn new() -> Podman {
        Podman::default()
    }

    /// Runs podman and fails the test unless it succeeds; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let root = self.dir.path();
        let mut cmd = Command::new("podman");
        cmd.arg("--root")
            .arg(root.join("root"))
            .arg("--runroot")
            .arg(root.join("runroot"))
            .args(["--storage-driver", "vfs", "--events-backend", "none"])
            .args(args);
        String::from_utf8_lossy(&checked(cmd, &format!("podman {args:?}"))).into_owned()
    }
}

/// Runs `skopeo ARGS…` and fails the test unless it succeeds; returns
/// stdout.
pub fn skopeo(args: &[&str]) -> String {
    let mut cmd = Command::new("skopeo");
    cmd.args(args);
    String::from_utf8_lossy(&checked(cmd, &format!("skopeo {args:?}"))).into_owned()
}

/// `docker-archive:PATH` or `oci-archive:PATH` for skopeo and podman.
pub fn transport(kind: &str, path: &Path) -> String {
    format!("{kind}:{}", path.display())
}
