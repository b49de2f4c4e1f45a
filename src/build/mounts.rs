//! `RUN --mount` as BuildKit gives it, as bind mounts of the runtime spec:
//! `bind` (a directory or file of the context, another stage or an image;
//! read-only, or with `rw` a scratch copy whose writes are dropped),
//! `cache` (a directory kept in the store across builds, by id), `secret`
//! (a `--secret` file, read-only, never in a layer or the cache key) and
//! `tmpfs` (an empty scratch directory). The mount points the runtime
//! needs are made in the rootfs before the command and removed after it,
//! so no layer holds them.

use super::BuildError;
use crate::digest::Digest;
use crate::dockerfile::instructions::{Mount, MountType};
use crate::runtime::mounts::{self, Kind};
use crate::runtime::Bind;
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Where a RUN's mounts come from.
pub struct Sources<'a> {
    /// The tree `bind` takes its source from (the context, or the `from`
    /// stage's or image's files), per mount.
    pub roots: &'a [PathBuf],
    /// `<root>/build-mounts/cache`: cache mounts, one directory per id.
    pub cache_dir: &'a Path,
    /// `--secret id=…` files.
    pub secrets: &'a BTreeMap<String, PathBuf>,
    /// A directory for this RUN's scratch copies and tmpfs stand-ins.
    pub scratch: &'a Path,
}

fn io_error(context: String) -> impl FnOnce(io::Error) -> BuildError {
    move |source| BuildError::Io { context, source }
}

/// The path inside `root` a mount's `source` names (never outside it).
fn source_in(root: &Path, source: Option<&str>) -> Result<PathBuf, BuildError> {
    let parts = super::components(source.unwrap_or("/"));
    let (last, parents) = match parts.split_last() {
        Some((last, parents)) => (Some(*last), parents.to_vec()),
        None => (None, Vec::new()),
    };
    let dir = crate::container::resolve::resolve_dir(root, &parents, false)
        .ok()
        .flatten()
        .ok_or_else(|| BuildError::Mount(format!("source {} not found", source.unwrap_or("/"))))?;
    let path = match last {
        Some(last) => dir.join(std::ffi::OsStr::from_bytes(last)),
        None => dir,
    };
    if fs::symlink_metadata(&path).is_err() {
        return Err(BuildError::Mount(format!(
            "source {} not found",
            source.unwrap_or("/")
        )));
    }
    Ok(path)
}

/// The binds for `mounts`; `None` entries are optional secrets not given.
pub fn binds(mounts: &[Mount], from: &Sources<'_>) -> Result<Vec<Bind>, BuildError> {
    let mut binds = Vec::new();
    for (i, mount) in mounts.iter().enumerate() {
        let target = |default: Option<String>| {
            mount
                .target
                .clone()
                .or(default)
                .ok_or_else(|| BuildError::Mount("mount target is required".into()))
        };
        let bind = match mount.kind {
            MountType::Bind => {
                let root = from
                    .roots
                    .get(i)
                    .ok_or_else(|| BuildError::Mount("no source".into()))?;
                let source = source_in(root, mount.source.as_deref())?;
                let source = if mount.read_only {
                    source
                } else {
                    // Writes to a read-write bind are dropped: they go to a
                    // copy.
                    let copy = from.scratch.join(format!("bind-{i}"));
                    copy_tree(&source, &copy)?;
                    copy
                };
                Bind {
                    source: source.to_string_lossy().into_owned(),
                    destination: target(None)?,
                    read_only: mount.read_only,
                }
            }
            MountType::Cache => {
                let target = target(None)?;
                let id = mount.id.clone().unwrap_or_else(|| target.clone());
                let dir = from.cache_dir.join(&Digest::of(id.as_bytes()).hex()[..32]);
                fs::create_dir_all(&dir)
                    .map_err(io_error(format!("creating {}", dir.display())))?;
                Bind {
                    source: dir.to_string_lossy().into_owned(),
                    destination: target,
                    read_only: mount.read_only,
                }
            }
            MountType::Secret => {
                let id = mount.id.clone().or_else(|| {
                    mount
                        .target
                        .as_deref()
                        .and_then(|t| t.rsplit('/').next())
                        .map(str::to_string)
                });
                let id = id.ok_or_else(|| BuildError::Mount("secret id is required".into()))?;
                let Some(file) = from.secrets.get(&id) else {
                    if mount.required {
                        return Err(BuildError::Mount(format!("secret {id} not found")));
                    }
                    continue;
                };
                Bind {
                    source: file.to_string_lossy().into_owned(),
                    destination: target(Some(format!("/run/secrets/{id}")))?,
                    read_only: true,
                }
            }
            MountType::Tmpfs => {
                let dir = from.scratch.join(format!("tmpfs-{i}"));
                fs::create_dir_all(&dir)
                    .map_err(io_error(format!("creating {}", dir.display())))?;
                Bind {
                    source: dir.to_string_lossy().into_owned(),
                    destination: target(None)?,
                    read_only: false,
                }
            }
            MountType::Ssh => {
                return Err(BuildError::Unsupported("RUN --mount=type=ssh".into()));
            }
        };
        binds.push(bind);
    }
    Ok(binds)
}

/// Copies a directory tree (or a file) for a read-write bind.
fn copy_tree(from: &Path, to: &Path) -> Result<(), BuildError> {
    let status = std::process::Command::new("cp")
        .args(["-a", "--"])
        .arg(from)
        .arg(to)
        .status()
        .map_err(io_error("running cp".into()))?;
    if !status.success() {
        return Err(BuildError::Mount(format!("copying {}", from.display())));
    }
    Ok(())
}

/// Makes the binds' mount points in `rootfs`; returns what it made, to be
/// removed after the command ([`remove_points`]).
pub fn make_points(rootfs: &Path, binds: &[Bind]) -> Result<Vec<PathBuf>, BuildError> {
    let mut made = Vec::new();
    for bind in binds {
        // Each missing directory on the way, so all of them go again.
        let parts: Vec<&str> = bind
            .destination
            .split('/')
            .filter(|p| !p.is_empty())
            .collect();
        for depth in 1..=parts.len() {
            let path = format!("/{}", parts[..depth].join("/"));
            let host = rootfs.join(&path[1..]);
            if fs::symlink_metadata(&host).is_ok() {
                continue;
            }
            let kind = if depth < parts.len() || Path::new(&bind.source).is_dir() {
                Kind::Dir
            } else {
                Kind::File
            };
            if mounts::ensure(rootfs, &path, kind)? {
                made.push(host);
            }
        }
    }
    Ok(made)
}

/// Removes the mount points [`make_points`] made, deepest first, if the
/// command left them empty.
pub fn remove_points(made: &[PathBuf]) {
    for path in made.iter().rev() {
        match fs::symlink_metadata(path) {
            Ok(meta) if meta.is_dir() => {
                let _ = fs::remove_dir(path);
            }
            Ok(meta) if meta.len() == 0 => {
                let _ = fs::remove_file(path);
            }
            _ => {}
        }
    }
}
