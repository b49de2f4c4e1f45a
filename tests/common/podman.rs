//! Podman and skopeo for interoperability tests, kept to a private store
//! under a temporary directory (`--root`, `--runroot`, vfs storage).

use std::path::Path;
use std::process::{Command, Output, Stdio};

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

    pub fn run(&self, args: &[&str]) -> Output {
        let root = self.dir.path();
        Command::new("podman")
            .arg("--root")
            .arg(root.join("root"))
            .arg("--runroot")
            .arg(root.join("runroot"))
            .args(["--storage-driver", "vfs", "--events-backend", "none"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("running podman (is podman installed?)")
    }

    /// Runs podman and fails the test unless it succeeds; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "podman {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// `skopeo inspect --raw|--config… TRANSPORT:PATH`; fails the test unless
/// it succeeds and returns stdout.
pub fn skopeo_inspect(args: &[&str], image: &str) -> String {
    let out = Command::new("skopeo")
        .arg("inspect")
        .args(args)
        .arg(image)
        .stdin(Stdio::null())
        .output()
        .expect("running skopeo (is skopeo installed?)");
    assert!(
        out.status.success(),
        "skopeo inspect {args:?} {image} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `docker-archive:PATH` or `oci-archive:PATH` for skopeo and podman.
pub fn transport(kind: &str, path: &Path) -> String {
    format!("{kind}:{}", path.display())
}
