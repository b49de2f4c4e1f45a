//! A realistic base image for tests that install packages: a minimal
//! Debian made by `debootstrap` from Debian's package archive, built once
//! and kept as a tarball in cargo's per-target test directory, so every
//! test binary and later run shares it (a lock makes concurrent tests wait
//! for the one that builds it).

use std::fs::{self, File};
use std::path::PathBuf;
use std::process::Command;

const SUITE: &str = "bookworm";
const MIRROR: &str = "http://deb.debian.org/debian";

/// The Debian rootfs as a tar archive on disk.
pub fn rootfs_tar() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let tar = dir.join(format!("debian-{SUITE}-minbase.tar"));
    let lock = File::create(dir.join(format!("debian-{SUITE}.lock"))).expect("the lock file");
    // SAFETY: flock on an open descriptor; released when `lock` is dropped.
    assert_eq!(
        unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) },
        0
    );
    if tar.exists() {
        return tar;
    }
    let work = tempfile::tempdir_in(&dir).expect("a build directory");
    let root = work.path().join("root");
    let status = Command::new("debootstrap")
        .args(["--variant=minbase", SUITE])
        .arg(&root)
        .arg(MIRROR)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("running debootstrap (is it installed?)");
    assert!(status.success(), "debootstrap of {SUITE} failed");
    let partial = work.path().join("rootfs.tar");
    let status = Command::new("tar")
        .args(["--numeric-owner", "--xattrs", "-C"])
        .arg(&root)
        .arg("-cf")
        .arg(&partial)
        .arg(".")
        .status()
        .expect("running tar");
    assert!(status.success(), "archiving the Debian rootfs failed");
    fs::rename(&partial, &tar).expect("keeping the Debian rootfs");
    tar
}

/// A `.deb` built with `dpkg-deb`: package `name`, installing an
/// executable `/usr/bin/NAME` that prints `message`.
pub fn package(dir: &std::path::Path, name: &str, message: &str) -> PathBuf {
    let tree = dir.join(format!("{name}-pkg"));
    fs::create_dir_all(tree.join("DEBIAN")).unwrap();
    fs::create_dir_all(tree.join("usr/bin")).unwrap();
    fs::write(
        tree.join("DEBIAN/control"),
        format!(
            "Package: {name}\nVersion: 1.0\nArchitecture: all\nMaintainer: rimg tests <tests@rimg.invalid>\nDescription: a test package\n"
        ),
    )
    .unwrap();
    let program = tree.join(format!("usr/bin/{name}"));
    fs::write(&program, format!("#!/bin/sh\necho '{message}'\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&program, fs::Permissions::from_mode(0o755)).unwrap();
    let deb = dir.join(format!("{name}.deb"));
    let status = Command::new("dpkg-deb")
        .args(["--root-owner-group", "--build"])
        .arg(&tree)
        .arg(&deb)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("running dpkg-deb");
    assert!(status.success(), "dpkg-deb failed");
    deb
}
