//! A tiny base image for tests that run containers: the host's static
//! busybox (Debian's `busybox-static`) with its applets linked, a passwd and
//! group with a user `app`, and an os-release, imported into a store with
//! `rimg import`.

use super::Fixture;
use std::path::Path;

const APPLETS: &[&str] = &[
    "sh", "cat", "echo", "id", "ls", "pwd", "env", "sleep", "true", "false", "mkdir", "touch",
    "rm", "ip", "hostname", "test", "stat", "wc", "grep", "sed", "tail", "kill", "readlink",
];

/// The base rootfs as a tar archive.
pub fn rootfs_tar() -> Vec<u8> {
    let busybox =
        std::fs::read("/bin/busybox").expect("reading /bin/busybox (is busybox-static installed?)");
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |path: &str, mode: u32, data: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_mtime(1_600_000_000);
        header.set_cksum();
        tar.append_data(&mut header, path, data).expect("tar entry");
    };
    add("bin/busybox", 0o755, &busybox);
    add(
        "etc/passwd",
        0o644,
        b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
    );
    add(
        "etc/group",
        0o644,
        b"root:x:0:\nstaff:x:50:app\napp:x:1000:\n",
    );
    add(
        "etc/os-release",
        0o644,
        b"NAME=\"rimg test busybox\"\nID=busybox\n",
    );
    add("root/.profile", 0o644, b"");
    for applet in APPLETS {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        header.set_mode(0o777);
        header.set_mtime(1_600_000_000);
        tar.append_link(&mut header, format!("bin/{applet}"), "busybox")
            .expect("tar link");
    }
    tar.into_inner().expect("tar")
}

/// Imports the base image into `fx`'s store as `name`, with `changes`
/// (`-c` instructions; `CMD ["sh"]` when none).
pub fn import(fx: &Fixture, name: &str, changes: &[&str]) {
    let tar = fx.dir.path().join("busybox.tar");
    if !Path::new(&tar).exists() {
        std::fs::write(&tar, rootfs_tar()).expect("writing the base rootfs");
    }
    let mut args = vec!["import"];
    let default = ["CMD [\"sh\"]"];
    for change in if changes.is_empty() {
        &default[..]
    } else {
        changes
    } {
        args.extend(["-c", change]);
    }
    let tar = tar.to_string_lossy().into_owned();
    args.extend([tar.as_str(), name]);
    fx.ok(&args);
}
