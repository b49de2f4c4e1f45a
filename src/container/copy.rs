//! `cp`: files between a container's filesystem and the host (or a tar
//! stream), with Docker's naming rules: into an existing directory under
//! the source's own name, else as the destination's name; `SRC/.` copies a
//! directory's contents. Paths inside the container are resolved as the
//! container sees them, so a symlink in it never leads outside the rootfs;
//! what goes in is applied by the same code that unpacks layers.

use super::resolve::{self, ResolveError};
use super::{snapshot, tarball, unpack, ContainerError, Containers, Result};
use crate::store::Store;
use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("No such container:path: {0}:{1}")]
    NotFound(String, String),
    #[error("cannot copy a directory to a file: {0}")]
    DirectoryToFile(String),
    #[error("destination directory {0} does not exist")]
    NoDirectory(String),
}

/// A path inside the container, split as Docker's `cp` looks at it.
struct Wanted<'a> {
    /// The components, `..` resolved against the root.
    parts: Vec<&'a [u8]>,
    /// `SRC/.`: the directory's contents, not the directory.
    contents: bool,
    /// Ends with `/`: must be a directory.
    dir: bool,
}

fn wanted(path: &str) -> Wanted<'_> {
    let bytes = path.as_bytes();
    let parts: Vec<&[u8]> = bytes
        .split(|&b| b == b'/')
        .filter(|p| !p.is_empty())
        .collect();
    let mut resolved: Vec<&[u8]> = Vec::new();
    for part in parts {
        match part {
            b"." => {}
            b".." => {
                resolved.pop();
            }
            _ => resolved.push(part),
        }
    }
    Wanted {
        parts: resolved,
        contents: bytes.ends_with(b"/.") || bytes == b".",
        dir: bytes.ends_with(b"/"),
    }
}

fn resolve_error(path: &str) -> impl FnOnce(ResolveError) -> ContainerError + '_ {
    move |e| ContainerError::Io {
        context: format!("resolving {path} in the container"),
        source: io::Error::other(e.to_string()),
    }
}

/// A path's parent directory on the host and its last component (`None`
/// for the root itself).
type Located<'a> = (PathBuf, Option<&'a [u8]>);

/// The host path of `path`'s parent directory in `rootfs` (symlinks
/// followed inside it), and its last component; `None` when the parent
/// does not exist.
fn locate<'a>(rootfs: &Path, path: &str, wanted: &Wanted<'a>) -> Result<Option<Located<'a>>> {
    let Some((last, parents)) = wanted.parts.split_last() else {
        return Ok(Some((rootfs.to_path_buf(), None)));
    };
    let dir = resolve::resolve_dir(rootfs, parents, false).map_err(resolve_error(path))?;
    Ok(dir.map(|dir| (dir, Some(*last))))
}

/// Writes `src` of the container as a tar stream to `out`, its top entry
/// named after `src`'s last component (for `SRC/.`, its contents only), as
/// `docker cp CONTAINER:SRC -` does.
pub fn archive<W: Write>(store: &Store, arg: &str, src: &str, out: W) -> Result<W> {
    let containers = Containers::new(store);
    let container = containers.find(arg)?;
    let rootfs = containers.mounted_rootfs(&container)?;
    let not_found = || CopyError::NotFound(arg.to_string(), src.to_string());
    let want = wanted(src);
    let (dir, last) = locate(&rootfs, src, &want)?.ok_or_else(not_found)?;
    let context = || format!("copying {src} out of the container");
    // A trailing `/` or `/.` follows a last symlink, as Docker's does.
    let (root, top): (PathBuf, Option<Vec<u8>>) = match last {
        None => (dir, None),
        Some(_) if want.contents || want.dir => {
            let inner = resolve::resolve_dir(&rootfs, &want.parts, false)
                .map_err(resolve_error(src))?
                .ok_or_else(not_found)?;
            match (want.contents, inner.parent(), inner.file_name()) {
                (false, Some(parent), Some(name)) => {
                    (parent.to_path_buf(), Some(name.as_bytes().to_vec()))
                }
                _ => (inner, None),
            }
        }
        Some(last) => (dir, Some(last.to_vec())),
    };
    let mut tar = tarball::TarWriter::new(out, &root);
    let mut entries = Vec::new();
    let base = match &top {
        Some(name) => {
            let host = root.join(OsStr::from_bytes(name));
            let meta = fs::symlink_metadata(&host).map_err(|_| not_found())?;
            entries.push(snapshot::Entry {
                path: name.clone(),
                meta: snapshot::Meta::from_metadata(&meta),
                mount: false,
                opaque: false,
            });
            meta.is_dir().then_some(host)
        }
        None => Some(root.clone()),
    };
    if let Some(dir) = base {
        for entry in snapshot::walk(&dir).map_err(super::io_context(context()))? {
            let mut path = top
                .clone()
                .map(|mut t| {
                    t.push(b'/');
                    t
                })
                .unwrap_or_default();
            path.extend_from_slice(&entry.path);
            entries.push(snapshot::Entry { path, ..entry });
        }
    }
    for entry in &entries {
        tar.append(&entry.path, &entry.meta)
            .map_err(super::io_context(context()))?;
    }
    tar.finish().map_err(super::io_context(context()))
}

/// `docker cp CONTAINER:SRC DEST`: into an existing directory `dest` under
/// `src`'s name, else as `dest`.
pub fn copy_to_host(store: &Store, arg: &str, src: &str, dest: &Path) -> Result<()> {
    let want = wanted(src);
    let src_name: Option<Vec<u8>> = want.parts.last().map(|n| n.to_vec());
    let (target_dir, rename): (PathBuf, Option<Vec<u8>>) = if dest.is_dir() {
        (dest.to_path_buf(), None)
    } else {
        if dest.as_os_str().as_bytes().ends_with(b"/") {
            return Err(CopyError::NoDirectory(dest.display().to_string()).into());
        }
        let parent = crate::durable::parent_dir(dest);
        if !parent.is_dir() {
            return Err(CopyError::NoDirectory(parent.display().to_string()).into());
        }
        let name = dest.file_name().map(|n| n.as_bytes().to_vec());
        (parent.to_path_buf(), name)
    };
    let (reader, writer) = io::pipe().map_err(super::io_context("copying"))?;
    std::thread::scope(|scope| {
        let producer = scope.spawn(move || archive(store, arg, src, writer).map(drop));
        let extracted = extract_on_host(
            reader,
            &target_dir,
            src_name.as_deref(),
            rename.as_deref(),
            want.contents,
        );
        let produced = producer.join().unwrap_or_else(|_| {
            Err(super::io_context("copying")(io::Error::other(
                "the archiving thread panicked",
            )))
        });
        produced?;
        extracted
    })
}

/// Unpacks a tar stream `archive` made into `dir`, the top entry `from`
/// renamed to `to`; a directory copied onto a file is refused.
fn extract_on_host<R: Read>(
    input: R,
    dir: &Path,
    from: Option<&[u8]>,
    to: Option<&[u8]>,
    contents: bool,
) -> Result<()> {
    let mut tar = tar::Archive::new(input);
    tar.set_preserve_permissions(true);
    tar.set_overwrite(true);
    let context = || format!("copying into {}", dir.display());
    let to = if contents { None } else { to };
    for entry in tar.entries().map_err(super::io_context(context()))? {
        let mut entry = entry.map_err(super::io_context(context()))?;
        let path = entry.path_bytes().into_owned();
        let renamed = match (from, to) {
            (Some(from), Some(to))
                if path.starts_with(from)
                    && (path.len() == from.len() || path[from.len()] == b'/') =>
            {
                let mut p = to.to_vec();
                p.extend_from_slice(&path[from.len()..]);
                p
            }
            _ => path,
        };
        let target = dir.join(OsStr::from_bytes(&renamed));
        if entry.header().entry_type().is_dir() && target.exists() && !target.is_dir() {
            return Err(CopyError::DirectoryToFile(target.display().to_string()).into());
        }
        entry
            .unpack(&target)
            .map_err(super::io_context(context()))?;
    }
    Ok(())
}

/// `docker cp SRC CONTAINER:DEST` from the host, as root-owned files unless
/// `keep_owners` (`-a`).
pub fn copy_from_host(
    store: &Store,
    arg: &str,
    src: &Path,
    dest: &str,
    keep_owners: bool,
) -> Result<()> {
    let meta = fs::symlink_metadata(src)
        .map_err(super::io_context(format!("copying {}", src.display())))?;
    let contents = src.as_os_str().as_bytes().ends_with(b"/.");
    let name = src
        .file_name()
        .map(|n| n.as_bytes().to_vec())
        .unwrap_or_default();
    let (reader, writer) = io::pipe().map_err(super::io_context("copying"))?;
    let (src_dir, is_dir) = (src.to_path_buf(), meta.is_dir());
    std::thread::scope(|scope| {
        let name = &name;
        let producer = scope.spawn(move || -> io::Result<()> {
            let mut tar = tar::Builder::new(writer);
            tar.follow_symlinks(false);
            if contents {
                tar.append_dir_all(".", &src_dir)?;
            } else if is_dir {
                tar.append_dir_all(OsStr::from_bytes(name), &src_dir)?;
            } else {
                tar.append_path_with_name(&src_dir, OsStr::from_bytes(name))?;
            }
            tar.finish()
        });
        let top = (!contents).then_some(&name[..]);
        let applied = put_in(store, arg, reader, dest, top, is_dir, keep_owners);
        let produced = producer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the archiving thread panicked")));
        applied?;
        produced.map_err(super::io_context(format!("copying {}", src.display())))
    })
}

/// `docker cp - CONTAINER:DEST`: a tar stream unpacked into the directory
/// `dest`, entries as they are named.
pub fn copy_tar_in<R: Read + Send>(
    store: &Store,
    arg: &str,
    tar: R,
    dest: &str,
    keep_owners: bool,
) -> Result<()> {
    put_in(store, arg, tar, dest, None, true, keep_owners)
}

/// Applies `input` (a tar stream whose top entry is `top`, or a directory's
/// contents) at `dest` in the container following Docker's naming rules.
fn put_in<R: Read + Send>(
    store: &Store,
    arg: &str,
    input: R,
    dest: &str,
    top: Option<&[u8]>,
    src_is_dir: bool,
    keep_owners: bool,
) -> Result<()> {
    let containers = Containers::new(store);
    let container = containers.find(arg)?;
    let rootfs = containers.mounted_rootfs(&container)?;
    let want = wanted(dest);
    let is_dir = matches!(
        resolve::resolve_dir(&rootfs, &want.parts, false),
        Ok(Some(_))
    );
    // Where the entries land, as a path inside the rootfs, and what the
    // top entry is called there.
    let (prefix, rename): (Vec<&[u8]>, Option<&[u8]>) = if is_dir {
        // An existing directory: inside it, under the source's name.
        (want.parts.clone(), None)
    } else {
        // A new name: its directory must exist, and a directory does not
        // replace a file.
        let (dir, last) = match locate(&rootfs, dest, &want)? {
            Some((dir, Some(last))) if !want.dir && top.is_some() => (dir, last),
            _ => return Err(CopyError::NoDirectory(dest.to_string()).into()),
        };
        if src_is_dir && dir.join(OsStr::from_bytes(last)).symlink_metadata().is_ok() {
            return Err(CopyError::DirectoryToFile(dest.to_string()).into());
        }
        (want.parts[..want.parts.len() - 1].to_vec(), Some(last))
    };
    let mut prefix_bytes = prefix.join(&b'/');
    if !prefix_bytes.is_empty() {
        prefix_bytes.push(b'/');
    }
    let (reader, writer) = io::pipe().map_err(super::io_context("copying"))?;
    std::thread::scope(|scope| {
        let rewriter =
            scope.spawn(move || relocate(input, writer, &prefix_bytes, top, rename, keep_owners));
        let applied = unpack::unpack_layer(&rootfs, reader, unpack::Options::for_current_user())
            .map_err(|source| ContainerError::Io {
                context: format!("copying into {dest}"),
                source: io::Error::other(source.to_string()),
            });
        let rewritten = rewriter
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the copying thread panicked")));
        applied?;
        rewritten.map_err(super::io_context(format!("copying into {dest}")))
    })
}

/// Re-emits a tar stream with every name under `prefix`, the top entry
/// `top` renamed to `rename`, and owners reset to root unless kept.
pub(crate) fn relocate<R: Read, W: Write>(
    input: R,
    out: W,
    prefix: &[u8],
    top: Option<&[u8]>,
    rename: Option<&[u8]>,
    keep_owners: bool,
) -> io::Result<()> {
    let mut archive = tar::Archive::new(input);
    let mut builder = tar::Builder::new(out);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let mut header = entry.header().clone();
        let name = entry.path_bytes().into_owned();
        let name = name.strip_prefix(b"./").unwrap_or(&name);
        if name.is_empty() || name == b"." {
            continue;
        }
        let mut path = prefix.to_vec();
        match (top, rename) {
            (Some(top), Some(rename))
                if name.starts_with(top)
                    && (name.len() == top.len() || name[top.len()] == b'/') =>
            {
                path.extend_from_slice(rename);
                path.extend_from_slice(&name[top.len()..]);
            }
            _ => path.extend_from_slice(name),
        }
        if !keep_owners {
            header.set_uid(0);
            header.set_gid(0);
            let _ = header.set_username("");
            let _ = header.set_groupname("");
        }
        let link = entry.link_name_bytes().map(|l| l.into_owned());
        match link {
            Some(link) if header.entry_type().is_hard_link() => {
                let mut target = prefix.to_vec();
                target.extend_from_slice(link.strip_prefix(b"./").unwrap_or(&link));
                builder.append_link(
                    &mut header,
                    OsStr::from_bytes(&path),
                    OsStr::from_bytes(&target),
                )?;
            }
            Some(link) => builder.append_link(
                &mut header,
                OsStr::from_bytes(&path),
                OsStr::from_bytes(&link),
            )?,
            None => builder.append_data(&mut header, OsStr::from_bytes(&path), &mut entry)?,
        }
    }
    builder.finish()
}
