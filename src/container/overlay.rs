//! Overlay snapshots: each layer unpacked once, alone, into a directory
//! named by its chain ID, and containers and build working trees as
//! overlayfs mounts over them.
//!
//! ```text
//! <root>/snapshots/<chain-id hex>/fs/   one layer's files, overlay whiteouts
//! <root>/snapshots/<chain-id hex>/size  the bytes it takes, once measured
//! <root>/snapshots/empty/               the bottom of a lower-only mount
//! <root>/snapshots/.tmp-*/              a snapshot being unpacked or removed
//! <root>/containers/<id>/upper/         the container's changes (overlay's upper)
//! <root>/containers/<id>/work/          overlay's work directory
//! <root>/containers/<id>/rootfs/        the mount point
//! ```
//!
//! A snapshot is unpacked into a temporary directory and renamed into
//! place, so a crash leaves either no snapshot or a whole one (and a
//! `.tmp-*` directory that a sweep removes once it is an hour old); a
//! snapshot is renamed to such a name before it is removed, so a removal
//! cut short leaves no part of one under its chain ID either. Sweeps
//! (`rmi`, `image prune`, `rm`, `system check --repair`) keep what an
//! image, a container record or a mount names; `system check` reports
//! what they would remove, and `system df -v` what each snapshot takes. A layer is unpacked
//! with [`unpack`](super::unpack)'s overlay mode, so a hostile layer is
//! confined to its snapshot directory as it is to a rootfs.
//!
//! Changes are read from the upper directory only: a path the upper does
//! not hold is the lower layers', which never change. The container's
//! snapshot file then records the upper directory (not the whole rootfs)
//! at the last create or commit; the state of the rootfs at both times is
//! rebuilt for the paths either upper holds (plus what lies under their
//! whiteouts and opaque directories, read from a read-only mount of the
//! lower layers), and compared as the copy method compares whole walks.

use super::changes::{self, Change};
use super::snapshot::{self, walk_order, Entry, Meta};
use super::unpack::{self, UnpackError};
use super::{io_context, ContainerError, Result};
use crate::digest::Digest;
use crate::durable;
use crate::layer;
use crate::oci::{self, Descriptor};
use crate::runtime::userns;
use crate::store::{Store, StoreLock};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::{CString, OsStr};
use std::fs::{self, File};
use std::io::{self, BufReader};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// How containers' filesystems are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Driver {
    /// Kernel overlayfs over layer snapshots.
    Overlay,
    /// The `fuse-overlayfs` program over the same snapshots: for a user on
    /// a kernel that mounts no overlayfs in a user namespace (before 5.11).
    FuseOverlay,
    /// Every layer unpacked into the container's own directory.
    Copy,
}

/// The program that mounts [`Driver::FuseOverlay`]'s overlays.
const FUSE_OVERLAYFS: &str = "fuse-overlayfs";

impl Driver {
    /// `RIMG_STORAGE_DRIVER=copy|overlay|fuse-overlayfs` chooses. Otherwise
    /// kernel overlayfs as root, or as root of rimg's user namespace on
    /// Linux 5.11 and later; there on older kernels, fuse-overlayfs where
    /// it is installed and FUSE may be used; else the copy driver.
    pub fn current() -> Driver {
        match std::env::var("RIMG_STORAGE_DRIVER").as_deref() {
            Ok("copy") => return Driver::Copy,
            Ok("overlay") => return Driver::Overlay,
            Ok(FUSE_OVERLAYFS) => return Driver::FuseOverlay,
            _ => {}
        }
        // SAFETY: geteuid has no preconditions and cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        let has_overlay = fs::read_to_string("/proc/filesystems")
            .is_ok_and(|s| s.lines().any(|l| l.ends_with("\toverlay")));
        let kernel_mounts =
            !userns::in_user_namespace() || userns::kernel_mounts_overlay_unprivileged();
        if !root {
            Driver::Copy
        } else if has_overlay && kernel_mounts {
            Driver::Overlay
        } else if userns::in_user_namespace() && fuse_available() {
            Driver::FuseOverlay
        } else {
            Driver::Copy
        }
    }

    /// Docker's name for it in `info`.
    pub fn name(self) -> &'static str {
        match self {
            Driver::Overlay => "overlay2",
            Driver::FuseOverlay => FUSE_OVERLAYFS,
            Driver::Copy => "vfs",
        }
    }

    /// Whether containers are overlays of layer snapshots.
    pub fn uses_snapshots(self) -> bool {
        self != Driver::Copy
    }
}

/// Whether fuse-overlayfs is installed and `/dev/fuse` may be opened.
fn fuse_available() -> bool {
    let installed = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| dir.join(FUSE_OVERLAYFS).is_file())
    });
    installed
        && fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/fuse")
            .is_ok()
}

/// A rootfs at `dir/rootfs`: the layers unpacked into it, or with
/// `lowers` an overlay of those snapshots under `dir/upper`.
pub(crate) struct Rootfs<'a> {
    pub dir: &'a Path,
    pub lowers: Option<&'a [Digest]>,
}

impl Rootfs<'_> {
    /// Makes `dir/rootfs` (which must exist) hold `layers` (their blobs
    /// open, `diff_ids` from the image's config if known) with the current
    /// driver; returns the snapshots under it, `None` if unpacked whole.
    pub fn make(
        snapshots: &Snapshots,
        layers: &[Descriptor],
        diff_ids: Option<&[Digest]>,
        blobs: Vec<File>,
        dir: &Path,
    ) -> Result<Option<Vec<Digest>>> {
        // Without each layer's diff ID there are no chain IDs to name
        // snapshots by.
        let diff_ids = diff_ids.filter(|d| d.len() == layers.len());
        let Some(diff_ids) = diff_ids.filter(|_| Driver::current().uses_snapshots()) else {
            super::unpack_blobs(layers, blobs, &dir.join("rootfs"))?;
            return Ok(None);
        };
        let chains = snapshots.prepare(layers, diff_ids, blobs)?;
        for sub in ["upper", "work"] {
            let path = dir.join(sub);
            fs::create_dir(&path).map_err(io_context(format!("creating {}", path.display())))?;
        }
        snapshots.mount(&chains, dir)?;
        Ok(Some(chains))
    }

    /// What a snapshot file records: the whole rootfs, or the upper
    /// directory.
    pub fn walk(&self) -> Result<Vec<Entry>> {
        let (path, walked) = match self.lowers {
            Some(_) => {
                let upper = self.dir.join("upper");
                let walked = walk_upper(&upper);
                (upper, walked)
            }
            None => {
                let rootfs = self.dir.join("rootfs");
                let walked = snapshot::walk(&rootfs);
                (rootfs, walked)
            }
        };
        walked.map_err(io_context(format!("reading {}", path.display())))
    }

    /// The changes since `old` (a [`walk`](Self::walk) taken then).
    pub fn current(&self, snapshots: &Snapshots, old: &[Entry]) -> Result<super::Current> {
        let walk = self.walk()?;
        let Some(chains) = self.lowers else {
            return Ok(super::Current {
                changes: changes::changes(old, &walk),
                walk,
                source: self.dir.join("rootfs"),
            });
        };
        let upper = self.dir.join("upper");
        let changes = snapshots.with_lower_view(chains, self.dir, |lower| {
            changes(old, &walk, lower).map_err(io_context(format!("reading {}", upper.display())))
        })?;
        Ok(super::Current {
            walk,
            changes,
            source: upper,
        })
    }
}

/// The snapshot store of one rimg store.
pub struct Snapshots {
    dir: PathBuf,
}

/// A snapshot no image, container or mount uses, or an unpack left
/// unfinished: what a sweep removes and `system check` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unused {
    pub path: PathBuf,
    /// The snapshot's chain ID; `None` for an unfinished unpack.
    pub chain: Option<Digest>,
}

/// The file beside a snapshot's `fs/` that records the bytes it takes.
const SIZE_RECORD: &str = "size";

impl Snapshots {
    pub fn new(store: &Store) -> Snapshots {
        Snapshots {
            dir: store.root().join("snapshots"),
        }
    }

    /// The files of the layer stack `chain`'s top layer.
    pub fn fs(&self, chain: &Digest) -> PathBuf {
        self.dir.join(chain.hex()).join("fs")
    }

    /// An empty directory: overlayfs wants two lower layers when there is
    /// no upper one.
    fn empty(&self) -> Result<PathBuf> {
        let empty = self.dir.join("empty");
        match fs::create_dir(&empty) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                Err(io_context(format!("creating {}", empty.display()))(e))
            }
            _ => Ok(empty),
        }
    }

    /// Makes sure each of `layers` (bottom first, their blobs open) has a
    /// snapshot; returns their chain IDs, bottom first.
    pub fn prepare(
        &self,
        layers: &[Descriptor],
        diff_ids: &[Digest],
        blobs: Vec<File>,
    ) -> Result<Vec<Digest>> {
        let chains = oci::chain_ids(diff_ids);
        fs::create_dir_all(&self.dir)
            .map_err(io_context(format!("creating {}", self.dir.display())))?;
        for ((layer, chain), blob) in layers.iter().zip(&chains).zip(blobs) {
            if !self.fs(chain).is_dir() {
                self.unpack(layer, chain, blob)?;
            }
        }
        Ok(chains)
    }

    /// A new `.tmp-*` directory: an unfinished snapshot until renamed to
    /// its chain ID, which sweeps remove once an hour old.
    fn tmp_dir(&self) -> Result<tempfile::TempDir> {
        tempfile::Builder::new()
            .prefix(".tmp-")
            .tempdir_in(&self.dir)
            .map_err(io_context(format!(
                "creating a directory in {}",
                self.dir.display()
            )))
    }

    /// Unpacks one layer into a temporary directory, renamed into place
    /// once whole.
    fn unpack(&self, layer: &Descriptor, chain: &Digest, blob: File) -> Result<()> {
        let unpack_error = |source| ContainerError::Unpack {
            layer: layer.digest.clone(),
            source,
        };
        let io_error = |context: &str| {
            let context = context.to_string();
            move |source| unpack_error(UnpackError::Io { context, source })
        };
        let tmp = self.tmp_dir()?;
        let root = tmp.path().join("fs");
        fs::create_dir(&root).map_err(io_error("creating the snapshot"))?;
        let size = blob.metadata().map_err(io_error("decompressing"))?.len();
        let reader = layer::decompress(BufReader::with_capacity(1 << 20, blob), Some(size))
            .map_err(io_error("decompressing"))?;
        let options = unpack::Options {
            overlay: true,
            ..unpack::Options::for_current_user()
        };
        unpack::unpack_layer(&root, reader, options).map_err(unpack_error)?;
        self.put_in_place(tmp, chain)
    }

    /// Renames `tmp`, a whole snapshot, to `chain`'s name; drops it if
    /// another rimg made the same snapshot meanwhile.
    fn put_in_place(&self, tmp: tempfile::TempDir, chain: &Digest) -> Result<()> {
        let target = self.dir.join(chain.hex());
        let tmp = tmp.keep();
        match fs::rename(&tmp, &target) {
            Ok(()) => Ok(()),
            // Another rimg made the same snapshot meanwhile.
            Err(_) if target.is_dir() => {
                let _ = super::remove_tree(&tmp);
                Ok(())
            }
            Err(e) => {
                let _ = super::remove_tree(&tmp);
                Err(io_context(format!("renaming {}", tmp.display()))(e))
            }
        }
    }

    /// Makes the upper directory of the overlay mounted at `dir/rootfs`
    /// the snapshot `chain` (its layer's files, in the same overlay format
    /// as an unpacked one), and leaves `dir` unmounted with an empty upper
    /// and work directory. A snapshot `chain` that exists already is kept
    /// and the upper directory dropped.
    pub fn adopt_upper(&self, chain: &Digest, dir: &Path) -> Result<()> {
        let rootfs = dir.join("rootfs");
        // Not detached: a mount something still used could change the
        // snapshot after this.
        umount2(&rootfs, 0).map_err(io_context(format!("unmounting {}", rootfs.display())))?;
        let (upper, work) = (dir.join("upper"), dir.join("work"));
        if !self.fs(chain).is_dir() {
            if Driver::current() == Driver::FuseOverlay {
                kernel_markers(&upper).map_err(io_context(format!(
                    "rewriting the markers in {}",
                    upper.display()
                )))?;
            }
            let tmp = self.tmp_dir()?;
            fs::rename(&upper, tmp.path().join("fs"))
                .map_err(io_context(format!("moving {}", upper.display())))?;
            self.put_in_place(tmp, chain)?;
        }
        for path in [&upper, &work] {
            if path.exists() {
                super::remove_tree(path)
                    .map_err(io_context(format!("removing {}", path.display())))?;
            }
            fs::create_dir(path).map_err(io_context(format!("creating {}", path.display())))?;
        }
        Ok(())
    }

    /// The chain IDs that have a snapshot.
    pub fn list(&self) -> Result<Vec<Digest>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_context(format!("reading {}", self.dir.display()))(e)),
        };
        Ok(entries
            .flatten()
            .filter_map(|e| Digest::parse(&format!("sha256:{}", e.file_name().to_str()?)).ok())
            .collect())
    }

    /// Whether the snapshot `chain` is a lower layer of a mount in `table`
    /// ([`mount_table`]): a container's, or a build's working tree,
    /// which may stand on layers no image names yet.
    pub fn is_mounted(&self, table: &str, chain: &Digest) -> bool {
        table.contains(&*self.fs(chain).to_string_lossy())
    }

    /// What a sweep removes: every snapshot not in `keep` and not
    /// mounted, and unpacks left unfinished an hour ago (a younger one may
    /// be another rimg's, running).
    pub fn unused(&self, keep: &BTreeSet<Digest>) -> Result<Vec<Unused>> {
        let mounted = mount_table();
        let mut unused: Vec<Unused> = self
            .list()?
            .into_iter()
            .filter(|chain| !keep.contains(chain) && !self.is_mounted(&mounted, chain))
            .map(|chain| Unused {
                path: self.dir.join(chain.hex()),
                chain: Some(chain),
            })
            .collect();
        if let Ok(entries) = fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let old = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > crate::store::TEMP_EXPIRY);
                if entry.file_name().as_bytes().starts_with(b".tmp-") && old {
                    unused.push(Unused {
                        path: entry.path(),
                        chain: None,
                    });
                }
            }
        }
        Ok(unused)
    }

    /// Removes what [`unused`](Self::unused) finds. The caller holds the
    /// store lock, under which containers are recorded, so no snapshot in
    /// use goes. An unfinished unpack that cannot be removed now is tried
    /// again next time.
    pub fn sweep(&self, keep: &BTreeSet<Digest>) -> Result<()> {
        for unused in self.unused(keep)? {
            match self.remove(&unused) {
                Err(_) if unused.chain.is_none() => {}
                other => other?,
            }
        }
        Ok(())
    }

    /// Removes one of what [`unused`](Self::unused) found. A snapshot is
    /// renamed to an unfinished one's name first: should its removal stop
    /// halfway, what is left is swept later, never taken for a whole
    /// snapshot by the next [`prepare`](Self::prepare).
    pub fn remove(&self, unused: &Unused) -> Result<()> {
        let removing = match unused.chain {
            Some(_) => {
                let tmp = self.tmp_dir()?.keep();
                // Over the empty directory just made: a unique free name.
                fs::rename(&unused.path, &tmp)
                    .map_err(io_context(format!("removing {}", unused.path.display())))?;
                tmp
            }
            None => unused.path.clone(),
        };
        super::remove_tree(&removing)
            .map_err(io_context(format!("removing {}", removing.display())))
    }

    /// The bytes the snapshot `chain` takes on disk, as recorded by an
    /// earlier [`record_size`](Self::record_size) (plus the record's own
    /// blocks), else measured; `None` if it is gone (removed meanwhile).
    /// The second value says whether it was measured now, so worth
    /// recording.
    pub fn size(&self, chain: &Digest) -> Result<Option<(u64, bool)>> {
        let dir = self.dir.join(chain.hex());
        if let Some(size) = read_size_record(&dir.join(SIZE_RECORD)) {
            return Ok(Some((size, false)));
        }
        Ok(measure(&dir)?.map(|size| (size, true)))
    }

    /// Records the snapshot `chain`'s measured size, so later `system df`
    /// calls read it instead of walking the tree: a snapshot never changes
    /// once in place (overlayfs never writes to a lower layer). The caller
    /// holds the store lock, so no sweep is removing the directory (a
    /// file written into it then would make that removal fail). Best
    /// effort: unrecorded, it is measured again next time.
    pub fn record_size(&self, _lock: &StoreLock, chain: &Digest, size: u64) {
        let dir = self.dir.join(chain.hex());
        if dir.is_dir() {
            let _ = durable::AtomicFile::create(&dir.join(SIZE_RECORD), durable::Mode::Private)
                .and_then(|file| {
                    io::Write::write_all(&mut file.as_file(), size.to_string().as_bytes())?;
                    file.commit_unsynced()
                });
        }
    }

    /// The lower directories for `chains` (bottom first), top first as
    /// overlayfs takes them, then `empty` if given, as mount options.
    fn lowers(&self, chains: &[Digest], empty: bool) -> Result<Vec<String>> {
        let mut lowers: Vec<PathBuf> = chains.iter().rev().map(|c| self.fs(c)).collect();
        if empty {
            lowers.push(self.empty()?);
        }
        lowers.iter().map(|p| option_path(p)).collect()
    }

    /// Mounts the container's overlay at `rootfs` over `chains`.
    pub fn mount(&self, chains: &[Digest], dir: &Path) -> Result<()> {
        let lowers = self.lowers(chains, chains.is_empty())?;
        let (upper, work) = (dir.join("upper"), dir.join("work"));
        // Whatever the kernel's defaults: a copied-up file holds its data
        // (no metacopy) and a renamed lower directory is copied, not
        // redirected, so the upper directory alone says what changed.
        // (`nofollow`, not `off`, which follows: `userxattr` allows no
        // following, and no snapshot holds a redirect to follow.)
        let options = [
            ("upperdir", option_path(&upper)?),
            ("workdir", option_path(&work)?),
            ("redirect_dir", "nofollow".to_string()),
            ("metacopy", "off".to_string()),
        ];
        let rootfs = dir.join("rootfs");
        mount_overlay(&rootfs, &lowers, &options, false).map_err(io_context(format!(
            "mounting the overlay at {}",
            rootfs.display()
        )))
    }

    /// Runs `f` with the lower layers mounted read-only in a temporary
    /// directory under `dir`.
    pub fn with_lower_view<T>(
        &self,
        chains: &[Digest],
        dir: &Path,
        f: impl FnOnce(&Path) -> Result<T>,
    ) -> Result<T> {
        if chains.is_empty() {
            return f(&self.empty()?);
        }
        let lowers = self.lowers(chains, true)?;
        let target = tempfile::Builder::new()
            .prefix("lower-")
            .tempdir_in(dir)
            .map_err(io_context(format!(
                "creating a directory in {}",
                dir.display()
            )))?;
        mount_overlay(target.path(), &lowers, &[], true).map_err(io_context(format!(
            "mounting the lower layers at {}",
            target.path().display()
        )))?;
        let result = f(target.path());
        let _ = unmount(target.path());
        result
    }
}

/// Rewrites fuse-overlayfs's markers in the upper directory `dir` as the
/// kernel's (see [`fuse_markers`]) before it becomes a snapshot, which
/// kernel overlayfs may mount later (after a kernel upgrade): opaque
/// directories by attribute alone, whiteouts as 0/0 devices where they
/// may be made, and no `user.fuseoverlayfs.*` attributes.
fn kernel_markers(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.as_bytes();
        let kind = entry.file_type()?;
        if name == unpack::OPAQUE_MARKER {
            xattr::set(dir, unpack::overlay_opaque_xattr(), b"y")?;
            fs::remove_file(&path)?;
            continue;
        }
        if name == FUSE_OPAQUE_NODE {
            fs::remove_file(&path)?;
            continue;
        }
        if let (Some(hidden), true) = (name.strip_prefix(unpack::WHITEOUT_PREFIX), kind.is_file()) {
            let whiteout = dir.join(OsStr::from_bytes(hidden));
            if unpack::make_whiteout(&whiteout).is_ok() {
                fs::remove_file(&path)?;
            }
            continue;
        }
        if let Ok(names) = xattr::list(&path) {
            for own in names.filter(|n| n.as_bytes().starts_with(b"user.fuseoverlayfs.")) {
                xattr::remove(&path, own)?;
            }
        }
        if kind.is_dir() {
            kernel_markers(&path)?;
        }
    }
    Ok(())
}

/// What a size record says, with the blocks the record itself takes.
/// A record is only ever written whole (renamed into place), but an
/// unreadable one is measured again rather than trusted.
fn read_size_record(path: &Path) -> Option<u64> {
    let mut file = File::open(path).ok()?;
    let blocks = file.metadata().ok()?.blocks();
    let mut text = String::new();
    io::Read::read_to_string(&mut file, &mut text).ok()?;
    let size: u64 = text.trim().parse().ok()?;
    Some(size + blocks * 512)
}

/// The bytes the tree at `root` takes on disk (see [`disk_use`]); `None`
/// if it is gone, removed before or while it was measured.
pub fn measure(root: &Path) -> Result<Option<u64>> {
    match disk_use(root) {
        Ok(size) => Ok(Some(size)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_context(format!("measuring {}", root.display()))(e)),
    }
}

/// The bytes the tree at `root` takes on disk, as `du -sx` counts them:
/// allocated blocks (`st_blocks`), not apparent sizes, each inode once
/// however many names it has. Blocks are what removing the tree frees: a
/// layer of many small files and directories takes more than their
/// lengths add up to (Debian bookworm's minbase layer: 215.4MB of blocks,
/// 202.2MB apparent), and a sparse file far less.
fn disk_use(root: &Path) -> io::Result<u64> {
    let top = fs::symlink_metadata(root)?;
    let mut total = top.blocks() * 512;
    let mut linked = HashSet::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let meta = match entry.metadata() {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if meta.dev() != top.dev() {
                continue;
            }
            if meta.is_dir() {
                dirs.push(entry.path());
            } else if meta.nlink() > 1 && !linked.insert(meta.ino()) {
                continue;
            }
            total += meta.blocks() * 512;
        }
    }
    Ok(total)
}

fn option_path(path: &Path) -> Result<String> {
    let s = path.to_str().filter(|s| !s.contains([',', ':', '\\']));
    s.map(str::to_string).ok_or_else(|| ContainerError::Io {
        context: format!("{} cannot be an overlay mount option", path.display()),
        source: io::ErrorKind::InvalidInput.into(),
    })
}

fn cstring(s: &[u8]) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// Mounts an overlay at `target` over `lowers` (top first) with `options`
/// (name, value). Layer by layer where the kernel takes `lowerdir+` (6.8
/// on): mount(2) takes every option in one page, which a `lowerdir` of
/// absolute paths fills at about forty layers, fewer than images and
/// builds have.
fn mount_overlay(
    target: &Path,
    lowers: &[String],
    options: &[(&str, String)],
    read_only: bool,
) -> io::Result<()> {
    if Driver::current() == Driver::FuseOverlay {
        return fuse_mount(target, lowers, options);
    }
    // In rimg's user namespace overlayfs keeps its attributes (whiteouts'
    // opaque marks) as `user.overlay.*`, the only ones it may write there.
    let user_xattrs = crate::runtime::userns::in_user_namespace();
    match NewMount::open()? {
        Some(mount) if mount.lower_by_lower(lowers)? => {
            mount.set("source", "overlay")?;
            for (name, value) in options {
                mount.set(name, value)?;
            }
            if user_xattrs {
                mount.config(
                    libc::FSCONFIG_SET_FLAG,
                    c"userxattr".as_ptr(),
                    std::ptr::null(),
                )?;
            }
            mount.attach(target, read_only)
        }
        _ => {
            let mut data = format!("lowerdir={}", lowers.join(":"));
            for (name, value) in options {
                data.push_str(&format!(",{name}={value}"));
            }
            if user_xattrs {
                data.push_str(",userxattr");
            }
            let flags = if read_only { libc::MS_RDONLY } else { 0 };
            legacy_mount(target, &data, flags)
        }
    }
}

/// Mounts an overlay at `target` with the fuse-overlayfs program, which
/// stays behind to serve it until it is unmounted. Only the directories
/// among `options`: it takes none of the kernel's tuning (it never makes
/// metacopies or redirects). Without an upper directory it is read-only.
fn fuse_mount(target: &Path, lowers: &[String], options: &[(&str, String)]) -> io::Result<()> {
    let mut data = format!("lowerdir={}", lowers.join(":"));
    for (name, value) in options {
        if matches!(*name, "upperdir" | "workdir") {
            data.push_str(&format!(",{name}={value}"));
        }
    }
    // Once mounted it detaches from its output (FUSE's daemonize), so
    // reading that to its end waits for the mount, not for the program.
    let out = std::process::Command::new(FUSE_OVERLAYFS)
        .arg("-o")
        .arg(&data)
        .arg(target)
        .stdin(std::process::Stdio::null())
        .output()?;
    if out.status.success() {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "{FUSE_OVERLAYFS}: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}

/// An overlay being configured through the kernel's file system context
/// API (fsopen, fsconfig, fsmount, move_mount).
struct NewMount(std::os::fd::OwnedFd);

impl NewMount {
    /// `None` on a kernel without the API, or where a seccomp filter
    /// refuses it (with EPERM, as older container runtimes' filters
    /// answer system calls they do not know) while mount(2) may work.
    fn open() -> io::Result<Option<NewMount>> {
        // SAFETY: a NUL-terminated name and flags; the result is a new fd
        // or -1.
        let fd =
            unsafe { libc::syscall(libc::SYS_fsopen, c"overlay".as_ptr(), libc::FSOPEN_CLOEXEC) };
        if fd < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::ENOSYS | libc::EPERM) => Ok(None),
                _ => Err(e),
            };
        }
        // SAFETY: fsopen returned this descriptor, owned by no one else.
        Ok(Some(NewMount(unsafe {
            std::os::fd::OwnedFd::from_raw_fd(fd as libc::c_int)
        })))
    }

    /// Adds each lower layer; `false` if the kernel has no `lowerdir+`.
    fn lower_by_lower(&self, lowers: &[String]) -> io::Result<bool> {
        for (i, lower) in lowers.iter().enumerate() {
            match self.set("lowerdir+", lower) {
                Err(e) if i == 0 && e.raw_os_error() == Some(libc::EINVAL) => return Ok(false),
                other => other?,
            }
        }
        Ok(true)
    }

    fn set(&self, name: &str, value: &str) -> io::Result<()> {
        let (name, value) = (cstring(name.as_bytes())?, cstring(value.as_bytes())?);
        self.config(libc::FSCONFIG_SET_STRING, name.as_ptr(), value.as_ptr())
    }

    fn config(
        &self,
        command: libc::c_uint,
        name: *const libc::c_char,
        value: *const libc::c_char,
    ) -> io::Result<()> {
        // SAFETY: the fd is open; `name` and `value` are NUL-terminated
        // strings alive for the call, or null where the command takes none.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                self.0.as_raw_fd(),
                command,
                name,
                value,
                0,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Creates the file system and mounts it at `target`.
    fn attach(self, target: &Path, read_only: bool) -> io::Result<()> {
        let null = std::ptr::null();
        self.config(libc::FSCONFIG_CMD_CREATE, null, null)?;
        let attributes = if read_only {
            libc::MOUNT_ATTR_RDONLY
        } else {
            0
        };
        // SAFETY: the fd is a created file system context.
        let mount = unsafe {
            libc::syscall(
                libc::SYS_fsmount,
                self.0.as_raw_fd(),
                libc::FSMOUNT_CLOEXEC,
                attributes,
            )
        };
        if mount < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fsmount returned this descriptor, owned by no one else.
        let mount = unsafe { std::os::fd::OwnedFd::from_raw_fd(mount as libc::c_int) };
        let target = cstring(target.as_os_str().as_bytes())?;
        // SAFETY: an open mount fd, an empty path (with the flag that
        // says so) and a NUL-terminated target alive for the call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_move_mount,
                mount.as_raw_fd(),
                c"".as_ptr(),
                libc::AT_FDCWD,
                target.as_ptr(),
                libc::MOVE_MOUNT_F_EMPTY_PATH,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

fn legacy_mount(target: &Path, options: &str, flags: libc::c_ulong) -> io::Result<()> {
    let source = cstring(b"overlay")?;
    let target = cstring(target.as_os_str().as_bytes())?;
    let data = cstring(options.as_bytes())?;
    // SAFETY: every pointer is a NUL-terminated string alive for the call.
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            source.as_ptr(),
            flags,
            data.as_ptr().cast(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The mounts as `/proc/self/mountinfo` lists them (overlays with their
/// lower directories); empty, as if nothing were mounted, if it cannot be
/// read. With fuse-overlayfs, whose mounts list no directories, the
/// command lines of its processes, which do.
pub fn mount_table() -> String {
    let mut table = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    if Driver::current() == Driver::FuseOverlay {
        for process in fs::read_dir("/proc").into_iter().flatten().flatten() {
            let comm = fs::read(process.path().join("comm")).unwrap_or_default();
            if comm.strip_suffix(b"\n") == Some(FUSE_OVERLAYFS.as_bytes()) {
                let line = fs::read(process.path().join("cmdline")).unwrap_or_default();
                table.push_str(&String::from_utf8_lossy(&line).replace('\0', " "));
                table.push('\n');
            }
        }
    }
    table
}

/// Detaches the mount at `target`.
pub fn unmount(target: &Path) -> io::Result<()> {
    umount2(target, libc::MNT_DETACH)
}

fn umount2(target: &Path, flags: libc::c_int) -> io::Result<()> {
    let target = cstring(target.as_os_str().as_bytes())?;
    // SAFETY: `target` is NUL-terminated and alive for the call.
    if unsafe { libc::umount2(target.as_ptr(), flags) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Detaches every mount at or below `dir` (deepest first), so that
/// removing `dir` never reaches into a mounted rootfs or its layers.
pub fn unmount_under(dir: &Path) -> io::Result<()> {
    let Ok(dir) = fs::canonicalize(dir) else {
        return Ok(());
    };
    let table = fs::read_to_string("/proc/self/mountinfo")?;
    let mut points: Vec<PathBuf> = table
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(OsStr::from_bytes(&unescape_octal(field))))
        .filter(|point| point.starts_with(&dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    for point in points {
        unmount(&point)?;
    }
    Ok(())
}

/// mountinfo's escapes (`\040` for a space) undone.
fn unescape_octal(field: &str) -> Vec<u8> {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let code = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], code) {
            (b'\\', Some(d)) => {
                out.push(d.iter().fold(0u8, |n, b| n.wrapping_mul(8) + (b - b'0')));
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// Whether something is mounted at `path` (a directory of `parent`).
pub fn is_mounted(path: &Path, parent: &Path) -> bool {
    match (fs::symlink_metadata(path), fs::symlink_metadata(parent)) {
        (Ok(a), Ok(b)) => a.dev() != b.dev(),
        _ => false,
    }
}

fn is_whiteout(meta: &Meta) -> bool {
    meta.file_type() == libc::S_IFCHR && meta.rdev == 0
}

/// Walks an upper directory, marking its opaque directories.
pub fn walk_upper(upper: &Path) -> io::Result<Vec<Entry>> {
    let mut entries = snapshot::walk(upper)?;
    let fuse = Driver::current() == Driver::FuseOverlay;
    let kernel = [unpack::overlay_opaque_xattr()];
    let names: &[&str] = if fuse { &FUSE_OPAQUE_XATTRS } else { &kernel };
    for entry in entries.iter_mut().filter(|e| e.meta.is_dir()) {
        entry.opaque = names.iter().any(|name| {
            xattr::get(entry.host_path(upper), name)
                .ok()
                .flatten()
                .is_some_and(|v| v == b"y")
        });
    }
    if fuse {
        entries = fuse_markers(entries);
    }
    Ok(entries)
}

/// The node fuse-overlayfs also leaves in an opaque directory (a 0/0
/// device, as a whiteout of `.opq` would be).
const FUSE_OPAQUE_NODE: &[u8] = b".wh..opq";

/// The attributes fuse-overlayfs marks an opaque directory with: the
/// kernel's as root, its own or the kernel's user one in a user namespace.
const FUSE_OPAQUE_XATTRS: [&str; 3] = [
    "trusted.overlay.opaque",
    "user.overlay.opaque",
    "user.fuseoverlayfs.opaque",
];

/// fuse-overlayfs's upper directory read as the kernel's: in an opaque
/// directory it also leaves a `.wh..wh..opq` file (which alone marks it
/// where it may set no attribute) and a `.wh..opq` node, both dropped;
/// where it may not make a 0/0 device, a whiteout is a `.wh.NAME` file,
/// taken as the kernel's whiteout of NAME.
fn fuse_markers(entries: Vec<Entry>) -> Vec<Entry> {
    let split = |path: &[u8]| match path.iter().rposition(|&b| b == b'/') {
        Some(slash) => (path[..slash].to_vec(), path[slash + 1..].to_vec()),
        None => (Vec::new(), path.to_vec()),
    };
    let opaque_dirs: HashSet<Vec<u8>> = entries
        .iter()
        .filter(|e| split(&e.path).1 == unpack::OPAQUE_MARKER)
        .map(|e| split(&e.path).0)
        .collect();
    let mut kept = Vec::with_capacity(entries.len());
    for mut entry in entries {
        let (parent, name) = split(&entry.path);
        if name == unpack::OPAQUE_MARKER || name == FUSE_OPAQUE_NODE {
            continue;
        }
        if entry.meta.is_dir() && opaque_dirs.contains(&entry.path) {
            entry.opaque = true;
        }
        if let Some(hidden) = name.strip_prefix(unpack::WHITEOUT_PREFIX) {
            entry.path = if parent.is_empty() {
                hidden.to_vec()
            } else {
                [&parent[..], b"/", hidden].concat()
            };
            entry.meta.mode = libc::S_IFCHR;
            entry.meta.rdev = 0;
        }
        kept.push(entry);
    }
    kept.sort_by(|a, b| walk_order(&a.path, &b.path));
    kept
}

/// What an upper directory makes of a path.
enum Seen<'a> {
    Upper(&'a Entry),
    Hidden,
    Lower,
}

struct Upper<'a>(HashMap<&'a [u8], &'a Entry>);

impl<'a> Upper<'a> {
    fn new(entries: &'a [Entry]) -> Upper<'a> {
        Upper(entries.iter().map(|e| (&e.path[..], e)).collect())
    }

    fn look(&self, path: &[u8]) -> Seen<'a> {
        if let Some(e) = self.0.get(path) {
            return if is_whiteout(&e.meta) {
                Seen::Hidden
            } else {
                Seen::Upper(e)
            };
        }
        let mut prefix = path;
        while let Some(slash) = prefix.iter().rposition(|&b| b == b'/') {
            prefix = &prefix[..slash];
            if let Some(e) = self.0.get(prefix) {
                if is_whiteout(&e.meta) || !e.meta.is_dir() || e.opaque {
                    return Seen::Hidden;
                }
            }
        }
        Seen::Lower
    }
}

/// The changes between two states of an upper directory (`old` at the
/// last create or commit, `new` now) over the lower layers mounted at
/// `lower`: the same as comparing walks of the whole rootfs.
pub fn changes(old: &[Entry], new: &[Entry], lower: &Path) -> io::Result<Vec<Change>> {
    let mut paths: BTreeSet<Vec<u8>> = BTreeSet::new();
    let mut lower_meta: HashMap<Vec<u8>, Meta> = HashMap::new();
    for e in old.iter().chain(new) {
        paths.insert(e.path.clone());
        if is_whiteout(&e.meta) || e.opaque {
            // What the whiteout or opaque directory hides.
            let host = e.host_path(lower);
            if fs::symlink_metadata(&host).is_ok_and(|m| m.is_dir()) {
                for below in snapshot::walk(&host)? {
                    let path = [&e.path[..], b"/", &below.path].concat();
                    paths.insert(path.clone());
                    lower_meta.insert(path, below.meta);
                }
            }
        }
    }
    let mut paths: Vec<Vec<u8>> = paths.into_iter().collect();
    paths.sort_by(|a, b| walk_order(a, b));
    let mut lower_of = |path: &[u8]| -> io::Result<Option<Meta>> {
        if let Some(meta) = lower_meta.get(path) {
            return Ok(Some(*meta));
        }
        let meta = match fs::symlink_metadata(lower.join(OsStr::from_bytes(path))) {
            Ok(m) => Some(Meta::from_metadata(&m)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                None
            }
            Err(e) => return Err(e),
        };
        if let Some(meta) = meta {
            lower_meta.insert(path.to_vec(), meta);
        }
        Ok(meta)
    };
    let (old_upper, new_upper) = (Upper::new(old), Upper::new(new));
    let (mut old_view, mut new_view) = (Vec::new(), Vec::new());
    for path in &paths {
        for (upper, view) in [(&old_upper, &mut old_view), (&new_upper, &mut new_view)] {
            let meta = match upper.look(path) {
                Seen::Hidden => None,
                Seen::Lower => lower_of(path)?,
                Seen::Upper(e) => {
                    let mut meta = e.meta;
                    // A directory copied up is still the lower one; only
                    // an opaque one replaced it.
                    if meta.is_dir() && !e.opaque {
                        if let Some(below) = lower_of(path)?.filter(Meta::is_dir) {
                            meta.ino = below.ino;
                            meta.btime = below.btime;
                            meta.btime_nsec = below.btime_nsec;
                        }
                    }
                    Some(meta)
                }
            };
            if let Some(meta) = meta {
                view.push(Entry {
                    path: path.clone(),
                    meta,
                    mount: false,
                    opaque: false,
                });
            }
        }
    }
    Ok(changes::changes(&old_view, &new_view))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, mode: u32) -> Entry {
        Entry {
            path: path.as_bytes().to_vec(),
            meta: Meta {
                mode,
                ..Meta::default()
            },
            mount: false,
            opaque: false,
        }
    }

    #[test]
    fn fuse_overlayfs_markers_read_as_the_kernels() {
        let entries = vec![
            entry("etc", libc::S_IFDIR | 0o755),
            entry("etc/.wh..opq", libc::S_IFCHR),
            entry("etc/.wh..wh..opq", libc::S_IFREG),
            entry("etc/new", libc::S_IFREG | 0o644),
            entry("usr", libc::S_IFDIR | 0o755),
            entry("usr/.wh.gone", libc::S_IFREG),
        ];
        let read: Vec<(String, bool, bool)> = fuse_markers(entries)
            .iter()
            .map(|e| {
                (
                    String::from_utf8(e.path.clone()).unwrap(),
                    e.opaque,
                    is_whiteout(&e.meta),
                )
            })
            .collect();
        assert_eq!(
            read,
            [
                ("etc".to_string(), true, false),
                ("etc/new".to_string(), false, false),
                ("usr".to_string(), false, false),
                ("usr/gone".to_string(), false, true),
            ]
        );
    }
}
