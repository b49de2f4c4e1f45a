//! Applying an image layer (an uncompressed tar stream) to a container's
//! rootfs, as Docker's `UnpackLayer` does inside its chroot:
//!
//! * `.wh.<name>` removes `<name>` from the layers below; `.wh..wh..opq`
//!   empties its directory of everything the layers below put there; other
//!   `.wh..wh.*` entries (AUFS bookkeeping) are skipped. Whiteouts never
//!   remove what the same layer created, as the image spec requires.
//! * An entry replaces whatever is at its path, except that a directory
//!   entry over an existing directory only updates its metadata.
//! * Modes, ownership (when running as root), symlinks, hardlinks,
//!   modification times and extended attributes are kept where the
//!   filesystem allows; directory times and modes are set once the layer
//!   is done, so adding children does not disturb them.
//!
//! Nothing is written outside the rootfs: names are resolved with
//! [`resolve`](super::resolve) (symlinks followed as in a chroot, `..`
//! refused when it climbs above the root), the final component is never
//! followed, hardlink targets resolve inside the rootfs, and device nodes
//! are only made when running as root.

use super::resolve::{normalize, resolve_dir, ResolveError};
use crate::runtime::userns::in_user_namespace;
use crate::tar_guard::TarGuard;
use std::collections::{HashMap, HashSet};
use std::ffi::{CString, OsStr};
use std::fs::{self, FileTimes, OpenOptions, Permissions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const WHITEOUT_PREFIX: &[u8] = b".wh.";
pub const WHITEOUT_META_PREFIX: &[u8] = b".wh..wh.";
pub const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("{0:?} is outside of the container's root")]
    Breakout(String),
    #[error("invalid hardlink {name:?} -> {target:?}: {reason}")]
    InvalidHardlink {
        name: String,
        target: String,
        reason: &'static str,
    },
    #[error("invalid whiteout {0:?}")]
    InvalidWhiteout(String),
    #[error("{0:?}: a layer entry cannot replace the root directory")]
    ReplacesRoot(String),
    #[error("{name:?}: unsupported tar entry type {kind:?}")]
    UnsupportedType { name: String, kind: char },
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error("{path}: owned by {uid}:{gid}, which rimg's user namespace does not map: give your user a subordinate ID range in /etc/subuid and /etc/subgid (usermod --add-subuids 100000-165535 --add-subgids 100000-165535 USER)")]
    UnmappedOwner { path: String, uid: u32, gid: u32 },
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

fn io_context(context: impl Into<String>) -> impl FnOnce(io::Error) -> UnpackError {
    let context = context.into();
    move |source| UnpackError::Io { context, source }
}

/// A failed chown of `path` to `meta`'s owner: EINVAL is an owner the user
/// namespace rimg runs in does not map (a user without a subordinate
/// range has only its own ID there).
fn chown_error(path: &Path, meta: &Meta) -> impl FnOnce(io::Error) -> UnpackError {
    let (path, uid, gid) = (path.display().to_string(), meta.uid, meta.gid);
    move |source| match source.raw_os_error() {
        Some(libc::EINVAL) => UnpackError::UnmappedOwner { path, uid, gid },
        _ => UnpackError::Io {
            context: format!("changing the owner of {path}"),
            source,
        },
    }
}

/// How much of an entry's metadata to apply, and what whiteouts do.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Running as root (perhaps of rimg's user namespace): ownership is
    /// applied.
    pub privileged: bool,
    /// Running as the machine's root: device nodes are made.
    pub device_nodes: bool,
    /// The layer is unpacked alone, into an empty directory that overlayfs
    /// stacks over the layers below: whiteouts are recorded as overlay's
    /// (`.wh.NAME` a character device 0/0 named `NAME`, `.wh..wh..opq` the
    /// `trusted.overlay.opaque` attribute) instead of deleting anything,
    /// and the layer's own `trusted.overlay.*` attributes are dropped, so
    /// that it cannot steer overlayfs (redirects, metacopy) elsewhere.
    pub overlay: bool,
}

impl Options {
    pub fn for_current_user() -> Options {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let privileged = unsafe { libc::geteuid() } == 0;
        Options {
            privileged,
            device_nodes: privileged && !in_user_namespace(),
            overlay: false,
        }
    }
}

/// The attribute that makes an overlay directory opaque: a `trusted.*`
/// one needs the machine's root, so in rimg's user namespace overlayfs is
/// mounted with `userxattr` and reads `user.overlay.opaque`.
pub fn overlay_opaque_xattr() -> &'static str {
    if in_user_namespace() {
        "user.overlay.opaque"
    } else {
        "trusted.overlay.opaque"
    }
}

/// Whether `meta` is an overlay whiteout: a character device 0/0.
pub fn is_overlay_whiteout(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// Applies one uncompressed layer to `root`.
pub fn unpack_layer<R: Read>(root: &Path, layer: R, options: Options) -> Result<(), UnpackError> {
    let mut archive = tar::Archive::new(TarGuard::new(layer));
    let mut state = Layer {
        root,
        options,
        unpacked: HashSet::new(),
        dirs: Vec::new(),
        parents: HashMap::new(),
    };
    let entries = archive.entries().map_err(io_context("reading the layer"))?;
    for entry in entries {
        let mut entry = entry.map_err(io_context("reading the layer"))?;
        state.apply(&mut entry)?;
    }
    state.finish_dirs()
}

struct Layer<'a> {
    root: &'a Path,
    options: Options,
    /// Host paths this layer created, which its own whiteouts leave alone.
    unpacked: HashSet<PathBuf>,
    /// Directories whose mode and times are set when the layer is done.
    dirs: Vec<(PathBuf, u32, SystemTime)>,
    /// Resolved parent directories, by their path in the layer.
    parents: HashMap<Vec<u8>, PathBuf>,
}

/// What a tar header says about an entry, besides its data.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: SystemTime,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Layer<'_> {
    fn apply<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), UnpackError> {
        let raw_name = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw_name).into_owned();
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader
        ) {
            return Ok(());
        }
        let parts = normalize(&raw_name).ok_or_else(|| UnpackError::Breakout(name.clone()))?;
        let Some((&base, parent)) = parts.split_last() else {
            return self.apply_root(entry, &name);
        };
        if base.starts_with(WHITEOUT_PREFIX) {
            return self.whiteout(parent, base, &name);
        }
        let path = self.parent_dir(parent)?.join(OsStr::from_bytes(base));
        let meta = self.meta(entry)?;
        use tar::EntryType as T;
        match kind {
            T::Directory => self.make_dir(&path, meta)?,
            T::Regular | T::Continuous | T::GNUSparse => {
                self.make_file(&path, entry, meta)?;
            }
            T::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                self.create(&path, || {
                    std::os::unix::fs::symlink(OsStr::from_bytes(&target), &path)
                })
                .map_err(io_context(format!("creating symlink {name}")))?;
                self.finish_node(&path, &meta, false)?;
            }
            T::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                let (source, to_symlink) = self.hardlink_source(&name, &target)?;
                self.create(&path, || fs::hard_link(&source, &path))
                    .map_err(io_context(format!(
                        "linking {name} to {}",
                        String::from_utf8_lossy(&target)
                    )))?;
                // Docker applies the link header's owner, mode and times to
                // the linked inode too (mode only when it is no symlink).
                self.finish_node(&path, &meta, !to_symlink)?;
            }
            T::Char | T::Block | T::Fifo => {
                if kind != T::Fifo && !self.options.device_nodes {
                    // Only root can make device nodes; Docker skips them
                    // the same way in a user namespace.
                    return Ok(());
                }
                let file_type = match kind {
                    T::Char => libc::S_IFCHR,
                    T::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                let major = entry.header().device_major().ok().flatten().unwrap_or(0);
                let minor = entry.header().device_minor().ok().flatten().unwrap_or(0);
                self.create(&path, || {
                    mknod(&path, file_type | (meta.mode & 0o7777), major, minor)
                })
                .map_err(io_context(format!("creating {name}")))?;
                self.finish_node(&path, &meta, true)?;
            }
            other => {
                return Err(UnpackError::UnsupportedType {
                    name,
                    kind: other.as_byte() as char,
                })
            }
        }
        self.unpacked.insert(path);
        Ok(())
    }

    /// An entry naming the root itself (`./`): a directory updates the
    /// rootfs's own metadata; anything else is refused.
    fn apply_root<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        name: &str,
    ) -> Result<(), UnpackError> {
        if entry.header().entry_type() != tar::EntryType::Directory {
            return Err(UnpackError::ReplacesRoot(name.to_string()));
        }
        let meta = self.meta(entry)?;
        self.make_dir(&self.root.to_path_buf(), meta)
    }

    fn meta<R: Read>(&self, entry: &mut tar::Entry<'_, R>) -> Result<Meta, UnpackError> {
        let header = entry.header();
        let mode = header.mode().unwrap_or(0o644) & 0o7777;
        let uid = header.uid().unwrap_or(0) as u32;
        let gid = header.gid().unwrap_or(0) as u32;
        let mtime = UNIX_EPOCH + Duration::from_secs(header.mtime().unwrap_or(0));
        let mut xattrs = Vec::new();
        if let Some(extensions) = entry
            .pax_extensions()
            .map_err(io_context("reading PAX headers"))?
        {
            for ext in extensions.flatten() {
                if let Some(name) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") {
                    if self.options.overlay && is_overlay_xattr(name) {
                        continue;
                    }
                    xattrs.push((name.to_vec(), ext.value_bytes().to_vec()));
                }
            }
        }
        Ok(Meta {
            mode,
            uid,
            gid,
            mtime,
            xattrs,
        })
    }

    fn make_dir(&mut self, path: &PathBuf, meta: Meta) -> Result<(), UnpackError> {
        match fs::create_dir(path) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                // A directory over this layer's own whiteout replaces the
                // lower one: overlay must not merge the two.
                let over_whiteout = self.options.overlay
                    && fs::symlink_metadata(path).is_ok_and(|m| is_overlay_whiteout(&m));
                let existing = remove_existing(path, true)?;
                if existing == Cleared::RemovedPathway {
                    self.parents.clear();
                }
                if existing != Cleared::KeptDir {
                    fs::create_dir(path)
                        .map_err(io_context(format!("creating {}", path.display())))?;
                }
                if over_whiteout {
                    set_opaque(path)?;
                }
            }
            other => other.map_err(io_context(format!("creating {}", path.display())))?,
        }
        if self.options.privileged {
            std::os::unix::fs::lchown(path, Some(meta.uid), Some(meta.gid))
                .map_err(chown_error(path, &meta))?;
        }
        set_xattrs(path, &meta.xattrs);
        self.dirs.push((path.clone(), meta.mode, meta.mtime));
        Ok(())
    }

    fn make_file<R: Read>(
        &mut self,
        path: &Path,
        data: &mut R,
        meta: Meta,
    ) -> Result<(), UnpackError> {
        let context = || format!("writing {}", path.display());
        let mut file = self
            .create(path, || {
                OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                    .open(path)
            })
            .map_err(io_context(context()))?;
        io::copy(data, &mut file).map_err(io_context(context()))?;
        if self.options.privileged {
            std::os::unix::fs::fchown(&file, Some(meta.uid), Some(meta.gid))
                .map_err(chown_error(path, &meta))?;
        }
        // After chown, which clears set-user-ID and set-group-ID bits.
        file.set_permissions(Permissions::from_mode(meta.mode))
            .map_err(io_context(context()))?;
        set_xattrs(path, &meta.xattrs);
        file.set_times(times(meta.mtime))
            .map_err(io_context(context()))?;
        Ok(())
    }

    /// Owner, mode (unless a symlink), xattrs and times of a node just made
    /// at `path`, none of which follow a symlink.
    fn finish_node(&self, path: &Path, meta: &Meta, chmod: bool) -> Result<(), UnpackError> {
        let context = || format!("setting metadata of {}", path.display());
        if self.options.privileged {
            std::os::unix::fs::lchown(path, Some(meta.uid), Some(meta.gid))
                .map_err(chown_error(path, meta))?;
        }
        if chmod {
            fs::set_permissions(path, Permissions::from_mode(meta.mode))
                .map_err(io_context(context()))?;
        }
        set_xattrs(path, &meta.xattrs);
        set_times_nofollow(path, meta.mtime).map_err(io_context(context()))
    }

    /// The existing file a hardlink entry points at, resolved inside the
    /// rootfs without following its last component, and whether it is a
    /// symlink.
    fn hardlink_source(&self, name: &str, target: &[u8]) -> Result<(PathBuf, bool), UnpackError> {
        let invalid = |reason| UnpackError::InvalidHardlink {
            name: name.to_string(),
            target: String::from_utf8_lossy(target).into_owned(),
            reason,
        };
        let parts = normalize(target).ok_or_else(|| invalid("the target is outside the root"))?;
        let Some((&base, parent)) = parts.split_last() else {
            return Err(invalid("the target is the root directory"));
        };
        let source = resolve_dir(self.root, parent, false)?
            .map(|dir| dir.join(OsStr::from_bytes(base)))
            .ok_or_else(|| invalid("the target does not exist"))?;
        match fs::symlink_metadata(&source) {
            Ok(meta) if meta.is_dir() => Err(invalid("the target is a directory")),
            Ok(meta) => Ok((source, meta.file_type().is_symlink())),
            Err(_) => Err(invalid("the target does not exist")),
        }
    }

    fn whiteout(&mut self, parent: &[&[u8]], base: &[u8], name: &str) -> Result<(), UnpackError> {
        // Whiteouts remove directories the cache may hold.
        self.parents.clear();
        if base == OPAQUE_MARKER {
            let dir = resolve_dir(self.root, parent, true)?.expect("created");
            if self.options.overlay {
                return set_opaque(&dir);
            }
            return self.make_opaque(&dir);
        }
        if base.starts_with(WHITEOUT_META_PREFIX) {
            return Ok(());
        }
        let hidden = &base[WHITEOUT_PREFIX.len()..];
        if matches!(hidden, b"" | b"." | b"..") || hidden.contains(&b'/') {
            return Err(UnpackError::InvalidWhiteout(name.to_string()));
        }
        // Overlay's whiteout hides the lower file from a directory of this
        // layer, which must therefore exist.
        let Some(dir) = resolve_dir(self.root, parent, self.options.overlay)? else {
            return Ok(());
        };
        let path = dir.join(OsStr::from_bytes(hidden));
        if self.unpacked.contains(&path) {
            return Ok(());
        }
        remove_existing(&path, false)?;
        if self.options.overlay {
            make_whiteout(&path).map_err(io_context(format!("creating the whiteout {name}")))?;
        }
        Ok(())
    }

    /// The host directory for a parent path, created if missing. Entries
    /// come grouped by directory, so the last resolutions are cached until
    /// something removes a directory.
    fn parent_dir(&mut self, parent: &[&[u8]]) -> Result<PathBuf, UnpackError> {
        let key = parent.join(&b'/');
        if let Some(dir) = self.parents.get(&key) {
            return Ok(dir.clone());
        }
        let dir = resolve_dir(self.root, parent, true)?.expect("created");
        self.parents.insert(key, dir.clone());
        Ok(dir)
    }

    /// Makes a non-directory at `path` with `make`, which fails if
    /// anything is there (`O_EXCL`, `symlink`, `link`, `mknod` all do):
    /// then whatever is there is removed, never followed, and `make` runs
    /// again. Most paths are new, so most entries cost no `lstat`.
    fn create<T>(&mut self, path: &Path, make: impl Fn() -> io::Result<T>) -> io::Result<T> {
        match make() {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                match remove_existing(path, false) {
                    Ok(Cleared::RemovedPathway) => self.parents.clear(),
                    Ok(_) => {}
                    Err(UnpackError::Io { source, .. }) => return Err(source),
                    Err(other) => return Err(io::Error::other(other.to_string())),
                }
                make()
            }
            other => other,
        }
    }

    /// Removes everything under `dir` that this layer did not create.
    fn make_opaque(&self, dir: &Path) -> Result<(), UnpackError> {
        let children =
            fs::read_dir(dir).map_err(io_context(format!("reading {}", dir.display())))?;
        for child in children {
            let child = child
                .map_err(io_context(format!("reading {}", dir.display())))?
                .path();
            if !self.unpacked.contains(&child) {
                remove_existing(&child, false)?;
            } else if fs::symlink_metadata(&child).is_ok_and(|m| m.is_dir()) {
                self.make_opaque(&child)?;
            }
        }
        Ok(())
    }

    /// Sets the deferred modes and times, deepest directories first so
    /// setting a child's times does not change its parent's afterwards.
    fn finish_dirs(self) -> Result<(), UnpackError> {
        for (path, mode, mtime) in self.dirs.into_iter().rev() {
            // A later entry of the layer may have replaced the directory;
            // O_NOFOLLOW and O_DIRECTORY make sure it is still one.
            let Ok(dir) = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&path)
            else {
                continue;
            };
            let context = || format!("setting metadata of {}", path.display());
            dir.set_permissions(Permissions::from_mode(mode))
                .map_err(io_context(context()))?;
            dir.set_times(times(mtime)).map_err(io_context(context()))?;
        }
        Ok(())
    }
}

/// What clearing a path for a new entry found there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cleared {
    Nothing,
    KeptDir,
    /// A directory or symlink went: cached parent resolutions may be stale.
    RemovedPathway,
}

/// Clears `path` for a new entry: removes whatever is there, except an
/// existing directory when `keep_dir` is set. Never follows a symlink.
fn remove_existing(path: &Path, keep_dir: bool) -> Result<Cleared, UnpackError> {
    let context = || format!("removing {}", path.display());
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() && keep_dir => Ok(Cleared::KeptDir),
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path)
            .map(|_| Cleared::RemovedPathway)
            .map_err(io_context(context())),
        Ok(meta) => fs::remove_file(path)
            .map(|_| {
                if meta.file_type().is_symlink() {
                    Cleared::RemovedPathway
                } else {
                    Cleared::Nothing
                }
            })
            .map_err(io_context(context())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Cleared::Nothing),
        Err(e) => Err(io_context(context())(e)),
    }
}

fn times(mtime: SystemTime) -> FileTimes {
    FileTimes::new().set_accessed(mtime).set_modified(mtime)
}

/// Extended attributes, where the filesystem and our privileges allow
/// (`trusted.*` needs root, some filesystems have none), as Docker ignores
/// the same failures.
fn set_xattrs(path: &Path, xattrs: &[(Vec<u8>, Vec<u8>)]) {
    for (name, value) in xattrs {
        let _ = xattr::set(path, OsStr::from_bytes(name), value);
    }
}

/// `trusted.overlay.*` and `user.overlay.*`: overlayfs's own attributes
/// (and `user.fuseoverlayfs.*`, fuse-overlayfs's: the origin of a file it
/// copied up).
pub(crate) fn is_overlay_xattr(name: &[u8]) -> bool {
    name.starts_with(b"trusted.overlay.")
        || name.starts_with(b"user.overlay.")
        || name.starts_with(b"user.fuseoverlayfs.")
}

fn set_opaque(dir: &Path) -> Result<(), UnpackError> {
    xattr::set(dir, overlay_opaque_xattr(), b"y")
        .map_err(io_context(format!("marking {} opaque", dir.display())))
}

fn cstring(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// Overlay's whiteout at `path`: a character device 0/0.
pub(crate) fn make_whiteout(path: &Path) -> io::Result<()> {
    mknod(path, libc::S_IFCHR, 0, 0)
}

fn mknod(path: &Path, mode: u32, major: u32, minor: u32) -> io::Result<()> {
    let c = cstring(path)?;
    // SAFETY: `c` is a valid NUL-terminated string for the call's duration.
    let rc = unsafe { libc::mknod(c.as_ptr(), mode, libc::makedev(major, minor)) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `utimensat(…, AT_SYMLINK_NOFOLLOW)`: times of the link itself.
pub fn set_times_nofollow(path: &Path, mtime: SystemTime) -> io::Result<()> {
    let c = cstring(path)?;
    let since = mtime.duration_since(UNIX_EPOCH).unwrap_or_default();
    let ts = libc::timespec {
        tv_sec: since.as_secs() as libc::time_t,
        tv_nsec: since.subsec_nanos() as libc::c_long,
    };
    let times = [ts, ts];
    // SAFETY: `c` is NUL-terminated and `times` holds two timespecs, as
    // utimensat requires.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(b: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, path: &str, link: &str) {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(0o755);
        h.set_size(0);
        if link.is_empty() {
            b.append_data(&mut h, path, io::empty()).unwrap();
        } else {
            b.append_link(&mut h, path, link).unwrap();
        }
    }

    #[test]
    fn replacing_a_symlinked_parent_is_not_hidden_by_the_parent_cache() {
        use tar::EntryType::{Directory, Regular, Symlink};
        let dir = tempfile::tempdir().unwrap();
        let mut b = tar::Builder::new(Vec::new());
        entry(&mut b, Directory, "x/", "");
        entry(&mut b, Symlink, "a", "x");
        entry(&mut b, Regular, "a/b/f1", "");
        entry(&mut b, Directory, "a/", "");
        entry(&mut b, Regular, "a/b/f2", "");
        let layer = b.into_inner().unwrap();
        unpack_layer(dir.path(), &layer[..], Options::default()).unwrap();
        assert!(dir.path().join("x/b/f1").is_file());
        assert!(dir.path().join("a/b/f2").is_file());
        assert!(!dir.path().join("x/b/f2").exists());
    }
}
