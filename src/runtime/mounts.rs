//! Paths in a container's rootfs that the runtime needs before it starts:
//! mount points (`/proc`, `/etc/hosts`, a `-v` target, …) and the working
//! directory. They are made here, inside the rootfs as a chrooted process
//! would see it, so a symlink an image planted (`/etc/hosts -> /root/x`,
//! a `WorkingDir` through `../../..`) can never lead outside of it.

use super::RuntimeError;
use crate::container::resolve::{self, ResolveError};
use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// As many symlinks as Linux follows for one path.
const MAX_LINKS: usize = 40;
/// `/etc/passwd` and friends are small; a huge one is not read whole.
const MAX_READ: u64 = 4 << 20;

/// What a mount point must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

fn resolve_error(path: &str) -> impl FnOnce(ResolveError) -> RuntimeError + '_ {
    move |source| RuntimeError::Rootfs {
        path: path.to_string(),
        source: io::Error::other(source.to_string()),
    }
}

/// The host path of `path` in `rootfs` with every symlink, the last one
/// included, followed inside the rootfs. Missing parents are created when
/// `create` is set; the last component may not exist.
fn resolve_path(rootfs: &Path, path: &str, create: bool) -> Result<Option<PathBuf>, RuntimeError> {
    let mut wanted = path.as_bytes().to_vec();
    for _ in 0..MAX_LINKS {
        let parts: Vec<&[u8]> = wanted
            .split(|&b| b == b'/')
            .filter(|p| !p.is_empty() && *p != b".")
            .collect();
        let Some((last, parents)) = parts.split_last() else {
            return Ok(Some(rootfs.to_path_buf()));
        };
        if *last == b".." {
            return resolve::resolve_dir(rootfs, &parts, create).map_err(resolve_error(path));
        }
        let Some(dir) =
            resolve::resolve_dir(rootfs, parents, create).map_err(resolve_error(path))?
        else {
            return Ok(None);
        };
        let host = dir.join(OsStr::from_bytes(last));
        match fs::symlink_metadata(&host) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = fs::read_link(&host).map_err(rootfs_error(path))?;
                let target = target.as_os_str().as_bytes();
                // A relative target is relative to the link's directory,
                // which is `parents` inside the rootfs.
                wanted = if target.starts_with(b"/") {
                    target.to_vec()
                } else {
                    let mut joined = parents.join(&b'/');
                    joined.push(b'/');
                    joined.extend_from_slice(target);
                    joined
                };
            }
            _ => return Ok(Some(host)),
        }
    }
    Err(RuntimeError::Rootfs {
        path: path.to_string(),
        source: io::Error::other("too many levels of symbolic links"),
    })
}

fn rootfs_error(path: &str) -> impl FnOnce(io::Error) -> RuntimeError + '_ {
    move |source| RuntimeError::Rootfs {
        path: path.to_string(),
        source,
    }
}

/// Makes sure `path` exists in `rootfs` as a directory or a file (an empty
/// one is created, as runc would); returns whether it had to be made.
pub fn ensure(rootfs: &Path, path: &str, kind: Kind) -> Result<bool, RuntimeError> {
    let host = resolve_path(rootfs, path, true)?.ok_or_else(|| RuntimeError::Rootfs {
        path: path.to_string(),
        source: io::ErrorKind::NotFound.into(),
    })?;
    match (fs::symlink_metadata(&host), kind) {
        (Ok(meta), Kind::Dir) if meta.is_dir() => Ok(false),
        (Ok(meta), Kind::File) if !meta.is_dir() => Ok(false),
        (Ok(_), _) => Err(RuntimeError::Rootfs {
            path: path.to_string(),
            source: io::Error::other(match kind {
                Kind::Dir => "not a directory",
                Kind::File => "is a directory",
            }),
        }),
        (Err(e), _) if e.kind() == io::ErrorKind::NotFound => {
            match kind {
                Kind::Dir => {
                    let parts: Vec<&[u8]> = path.as_bytes().split(|&b| b == b'/').collect();
                    resolve::resolve_dir(rootfs, &parts, true).map_err(resolve_error(path))?;
                }
                Kind::File => {
                    fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(0o644)
                        .custom_flags(libc::O_NOFOLLOW)
                        .open(&host)
                        .map_err(rootfs_error(path))?;
                }
            }
            Ok(true)
        }
        (Err(e), _) => Err(rootfs_error(path)(e)),
    }
}

/// A small file of the rootfs (`etc/passwd`), read as the container sees
/// it; `None` when it is missing, not a file, or unreadable.
pub fn read_file_in(rootfs: &Path, path: &str) -> Option<String> {
    let host = resolve_path(rootfs, path, false).ok()??;
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(host)
        .ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut text = String::new();
    file.take(MAX_READ).read_to_string(&mut text).ok()?;
    Some(text)
}

/// Whether `path` in the rootfs is an executable file (`Some(false)`: it
/// exists but is not), symlinks followed inside the rootfs.
pub fn executable_in(rootfs: &Path, path: &str) -> Option<bool> {
    use std::os::unix::fs::PermissionsExt;
    let host = resolve_path(rootfs, path, false).ok()??;
    let meta = fs::symlink_metadata(host).ok()?;
    Some(meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn mount_points_are_made_inside_the_rootfs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("rootfs");
        let outside = dir.path().join("outside");
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::create_dir_all(&outside).unwrap();
        // Links an image could plant to reach the host.
        symlink(&outside, root.join("etc/hosts")).unwrap();
        symlink("../../../outside/new", root.join("work")).unwrap();
        assert!(ensure(&root, "/etc/hosts", Kind::File).unwrap());
        // The absolute target starts again at the rootfs.
        assert!(root.join(outside.strip_prefix("/").unwrap()).is_file());
        assert!(ensure(&root, "/work", Kind::Dir).unwrap());
        assert!(root.join("outside/new").is_dir());
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
        assert!(!ensure(&root, "/etc", Kind::Dir).unwrap());
        assert!(ensure(&root, "/etc", Kind::File).is_err());
    }

    #[test]
    fn files_are_read_through_links_in_the_rootfs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("usr/lib")).unwrap();
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::write(root.join("usr/lib/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
        symlink("../usr/lib/passwd", root.join("etc/passwd")).unwrap();
        assert!(read_file_in(root, "etc/passwd")
            .unwrap()
            .starts_with("root:"));
        assert_eq!(read_file_in(root, "etc/group"), None);
    }
}
