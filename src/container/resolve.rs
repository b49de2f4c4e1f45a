//! Paths inside a container's rootfs, resolved the way a process chrooted
//! into it would see them: symlinks are followed, but an absolute target
//! starts again at the rootfs and `..` stops there, so nothing a layer or
//! a user put in the rootfs can point a write outside of it.
//!
//! Only directories are resolved here; the last component of a path being
//! written is never followed (callers `lstat` it and replace it).

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// Symlinks followed while resolving one path before giving up, as Linux
/// gives up with `ELOOP` after 40.
const MAX_SYMLINKS: usize = 40;

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("{0}: not a directory")]
    NotADirectory(String),
    #[error("{0}: too many levels of symbolic links")]
    TooManySymlinks(String),
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

/// Splits a path as written in a tar entry or a link target into the
/// components that stay inside the rootfs: a leading `/` is dropped (the
/// rootfs is `/`), `.` and empty components are skipped and `..` removes
/// the previous component. `None` when `..` would climb above the root.
pub fn normalize(name: &[u8]) -> Option<Vec<&[u8]>> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in name.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                parts.pop()?;
            }
            _ => parts.push(part),
        }
    }
    Some(parts)
}

/// Joins rootfs-relative components into a display path (`/a/b`).
pub fn display(parts: &[&[u8]]) -> String {
    let mut out = Vec::new();
    for part in parts {
        out.push(b'/');
        out.extend_from_slice(part);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Resolves the directory `parts` names inside `root`. Missing directories
/// are created (mode 0755, as Docker creates a layer's missing parents)
/// when `create` is set, or the result is `None`. The returned host path
/// names a real directory under `root` whose every component was checked
/// not to be a symlink.
pub fn resolve_dir(
    root: &Path,
    parts: &[&[u8]],
    create: bool,
) -> Result<Option<PathBuf>, ResolveError> {
    let mut resolved: Vec<Vec<u8>> = Vec::new();
    let mut pending: Vec<Vec<u8>> = parts.iter().rev().map(|p| p.to_vec()).collect();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        match &part[..] {
            b"" | b"." => continue,
            b".." => {
                resolved.pop();
                continue;
            }
            _ => {}
        }
        let host = host_path(root, &resolved).join(OsStr::from_bytes(&part));
        match fs::symlink_metadata(&host) {
            Ok(meta) if meta.is_dir() => resolved.push(part),
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(ResolveError::TooManySymlinks(display(parts)));
                }
                let target = fs::read_link(&host).map_err(io_error(&host))?;
                let target = target.as_os_str().as_bytes();
                if target.starts_with(b"/") {
                    resolved.clear();
                }
                pending.extend(target.split(|&b| b == b'/').rev().map(<[u8]>::to_vec));
            }
            Ok(_) => return Err(ResolveError::NotADirectory(display(parts))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !create {
                    return Ok(None);
                }
                fs::DirBuilder::new()
                    .mode(0o755)
                    .create(&host)
                    .map_err(io_error(&host))?;
                resolved.push(part);
            }
            Err(e) => return Err(io_error(&host)(e)),
        }
    }
    Ok(Some(host_path(root, &resolved)))
}

fn host_path(root: &Path, parts: &[Vec<u8>]) -> PathBuf {
    let mut path = root.to_path_buf();
    for part in parts {
        path.push(OsStr::from_bytes(part));
    }
    path
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> ResolveError + '_ {
    move |source| ResolveError::Io {
        context: format!("resolving {}", path.display()),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn normalize_confines_and_refuses_climbing() {
        assert_eq!(
            normalize(b"/a/./b//c/../d").unwrap(),
            vec![&b"a"[..], b"b", b"d"]
        );
        assert_eq!(normalize(b"./").unwrap(), Vec::<&[u8]>::new());
        assert!(normalize(b"a/../../etc").is_none());
        assert!(normalize(b"../x").is_none());
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("rootfs");
        fs::create_dir_all(root.join("usr/lib")).unwrap();
        symlink("/usr/lib", root.join("abs")).unwrap();
        symlink("../../../../..", root.join("up")).unwrap();
        symlink("/", root.join("slash")).unwrap();
        let got = resolve_dir(&root, &[b"abs"], false).unwrap().unwrap();
        assert_eq!(got, root.join("usr/lib"));
        // `..` past the root stays at the root, like chroot.
        let got = resolve_dir(&root, &[b"up", b"etc"], true).unwrap().unwrap();
        assert_eq!(got, root.join("etc"));
        assert!(root.join("etc").is_dir());
        let got = resolve_dir(&root, &[b"slash", b"usr"], false)
            .unwrap()
            .unwrap();
        assert_eq!(got, root.join("usr"));
        assert!(resolve_dir(&root, &[b"missing"], false).unwrap().is_none());
    }

    #[test]
    fn loops_and_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        symlink("b", root.join("a")).unwrap();
        symlink("a", root.join("b")).unwrap();
        fs::write(root.join("f"), b"").unwrap();
        assert!(matches!(
            resolve_dir(root, &[b"a"], true),
            Err(ResolveError::TooManySymlinks(_))
        ));
        assert!(matches!(
            resolve_dir(root, &[b"f", b"x"], true),
            Err(ResolveError::NotADirectory(_))
        ));
    }
}
