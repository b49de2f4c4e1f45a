//! A full disk during `pull` and `load`: the store lives on a tmpfs too
//! small for the image. The command fails with an error naming the cause,
//! exits 1, and leaves the store consistent (at most leftovers `--repair`
//! removes); once space is freed the same store works again.

mod common;

use common::consistency::{assert_consistent, assert_repairs_clean};
use common::layout::ImageSpec;
use common::registry::Registry;
use common::rimg_command;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use tempfile::TempDir;

/// A tmpfs of `size` mounted on a fresh temporary directory, unmounted on
/// drop. Needs root: a test that cannot mount fails rather than skip, so a
/// missing guarantee never passes silently.
struct SmallDisk {
    dir: TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = TempDir::new().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("running mount");
        assert!(
            out.status.success(),
            "mounting a {size} tmpfs failed (the full-disk tests need root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn run(root: &Path, args: &[&str]) -> Output {
    rimg_command(root)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[track_caller]
fn assert_full_disk_error(out: &Output, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{what}: {out:?}");
    assert!(
        stderr.contains("No space left on device"),
        "{what}: the error does not name the full disk: {stderr}"
    );
}

#[test]
fn pull_and_load_onto_a_full_disk_fail_cleanly() {
    let registry = Registry::start();
    // About 3 MB of layers, compressed, for a 2 MB disk.
    registry.push_image(&ImageSpec::new(11, 3, 2_000_000), "full/app:v1");
    let name = registry.image("full/app:v1");

    let disk = SmallDisk::mount("2m");
    let out = run(&disk.root(), &["pull", &name]);
    assert_full_disk_error(&out, "pull");
    assert_consistent(&disk.root(), "after a pull onto a full disk");
    assert!(!String::from_utf8_lossy(&run(&disk.root(), &["images"]).stdout).contains("full/app"));

    // The same image as an archive, loaded onto a full disk.
    let elsewhere = TempDir::new().unwrap();
    let big_root = elsewhere.path().join("root");
    assert!(run(&big_root, &["pull", &name]).status.success());
    let archive = elsewhere.path().join("app.tar");
    let saved = run(&big_root, &["save", "-o", archive.to_str().unwrap(), &name]);
    assert!(saved.status.success(), "{saved:?}");
    let out = run(&disk.root(), &["load", "-i", archive.to_str().unwrap()]);
    assert_full_disk_error(&out, "load");
    assert_consistent(&disk.root(), "after a load onto a full disk");
    assert_repairs_clean(&disk.root(), "after a full disk");

    // The store keeps working: a small image still fits.
    registry.push_image(&ImageSpec::new(12, 1, 1000), "full/tiny:v1");
    let out = run(&disk.root(), &["pull", &registry.image("full/tiny:v1")]);
    assert!(out.status.success(), "{out:?}");
    assert_consistent(&disk.root(), "after a small pull");
}
