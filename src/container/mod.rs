//! Working containers, as in buildah: an image's layers unpacked into a
//! directory that the user changes with ordinary tools and then commits.
//! rimg runs no processes, so a container is only ever "created".
//!
//! ```text
//! <root>/containers/<id>/config.json      the record (JSON, replaced by rename)
//! <root>/containers/<id>/rootfs/          the container's filesystem
//! <root>/containers/<id>/snapshot-<n>     lstat metadata of rootfs at the last create/commit
//!                                         (with overlay: of the upper directory)
//! <root>/containers/<id>/upper/, work/    overlay's directories (see [`overlay`])
//! <root>/containers/<id>/lock             flock held while committing or removing
//! ```
//!
//! A container's record is written under the store lock, so `rmi` (which
//! checks for containers under the same lock) never misses one, and a
//! container's name is unique among the records.

pub mod changes;
mod commit;
pub mod copy;
pub mod filter;
pub mod info;
pub(crate) mod names;
pub mod overlay;
pub mod resolve;
pub mod run;
pub mod snapshot;
pub mod state;
mod tarball;
pub mod unpack;
mod usage;

pub(crate) use commit::write_layer;
pub use commit::{cannot_pause, commit, CommitOptions};
pub use usage::{disk_usage, prune_images, snapshot_usage, ContainerUsage, SnapshotUsage};

use crate::digest::Digest;
use crate::durable::{self, AtomicFile, Mode};
use crate::image::instruction::InstructionError;
use crate::image::{Catalog, Image, ImageError, ImageUsers};
use crate::layer;
use crate::oci::Descriptor;
use crate::runtime::ContainerSpec;
use crate::store::{io_context as store_io, CheckReport, Problem, Store, StoreError, StoreLock};
use changes::Change;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};
use unpack::UnpackError;

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("No such container: {0}")]
    NotFound(String),
    #[error("Multiple IDs found with provided prefix: {0}")]
    Ambiguous(String),
    #[error("Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name.")]
    NameInUse { name: String, id: String },
    #[error("Invalid container name ({0}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName(String),
    #[error("unpacking layer {layer}")]
    Unpack {
        layer: Digest,
        #[source]
        source: UnpackError,
    },
    #[error("the image the container was last created or committed from ({0}) is no longer in the store")]
    BaseMissing(Digest),
    #[error("cannot commit /{0}: names starting with .wh. are reserved for whiteouts")]
    ReservedName(String),
    #[error("No command specified")]
    NoCommand,
    /// The command cannot be run: Docker's 127 (not found) or 126.
    #[error("{message}")]
    CannotRun { code: i32, message: String },
    #[error(
        "the container was created by an older rimg without a command to run; create it again"
    )]
    NotRunnable,
    #[error("container {0} is already running")]
    AlreadyRunning(String),
    #[error("Container {0} is not running")]
    NotRunning(String),
    #[error("You cannot remove a running container {0}. Stop the container before attempting removal or force remove")]
    RemoveRunning(String),
    #[error("OCI runtime failed: {runtime}: {message}")]
    Runtime { runtime: String, message: String },
    #[error("pausing the container to commit it (--pause=false commits it running)")]
    Pause {
        #[source]
        source: crate::runtime::RuntimeError,
    },
    #[error("the container's monitor failed: {0}")]
    MonitorFailed(String),
    #[error(transparent)]
    RuntimeSetup(#[from] crate::runtime::RuntimeError),
    #[error(transparent)]
    Copy(#[from] copy::CopyError),
    #[error(transparent)]
    Instruction(#[from] InstructionError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

pub type Result<T, E = ContainerError> = std::result::Result<T, E>;

fn io_context(context: impl Into<String>) -> impl FnOnce(io::Error) -> ContainerError {
    let context = context.into();
    move |source| ContainerError::Io { context, source }
}

/// A container's record (`config.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Container {
    /// 64 hex digits.
    pub id: String,
    pub name: String,
    /// RFC 3339 with nanoseconds.
    pub created: String,
    /// The image as named at `create` (Docker's `Config.Image`).
    pub image: String,
    /// The image ID the container was created from.
    pub image_id: Digest,
    /// The image whose layers the rootfs matches as of the snapshot: the
    /// image created from, then the last commit.
    pub head: Head,
    /// The snapshot file's name in the container's directory.
    pub snapshot: String,
    /// What it runs; `None` for containers made before rimg could run them.
    #[serde(default)]
    pub spec: Option<ContainerSpec>,
    /// `--rm`: removed once its process exits.
    #[serde(default)]
    pub auto_remove: bool,
    /// With the overlay driver, the chain IDs of the snapshots mounted
    /// under the container's upper directory, bottom first; `None` for a
    /// container unpacked whole (the copy driver).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lowers: Option<Vec<Digest>>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Head {
    pub config: Digest,
    pub layers: Vec<Descriptor>,
}

impl Container {
    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }

    pub fn created_time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::DateTime::parse_from_rfc3339(&self.created)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
    }

    /// The images the container depends on: the one it was created from
    /// and the one it was last committed to.
    pub fn images(&self) -> impl Iterator<Item = &Digest> {
        std::iter::once(&self.image_id)
            .chain(Some(&self.head.config).filter(|h| **h != self.image_id))
    }
}

/// The containers of one store.
pub struct Containers {
    dir: PathBuf,
    snapshots: overlay::Snapshots,
}

/// A container's changes since its snapshot.
pub(crate) struct Current {
    /// The walk they were found by: the next snapshot.
    pub walk: Vec<snapshot::Entry>,
    pub changes: Vec<Change>,
    /// The directory holding the changed files (rootfs, or overlay's upper).
    pub source: PathBuf,
}

impl Containers {
    pub fn new(store: &Store) -> Containers {
        Containers {
            dir: store.root().join("containers"),
            snapshots: overlay::Snapshots::new(store),
        }
    }

    /// The rootfs, mounted again first if it is an overlay that is not
    /// mounted (after a reboot, say).
    pub fn mounted_rootfs(&self, container: &Container) -> Result<PathBuf> {
        let rootfs = self.rootfs(container);
        if let Some(chains) = &container.lowers {
            let dir = self.dir(&container.id);
            let _lock = crate::store::lock_file(&dir.join("mount.lock"))?;
            if !overlay::is_mounted(&rootfs, &dir) {
                self.snapshots.mount(chains, &dir)?;
            }
        }
        Ok(rootfs)
    }

    /// The container's changes since its snapshot: with overlay, from its
    /// upper directory alone.
    pub(crate) fn current(&self, container: &Container) -> Result<Current> {
        let old = self.read_snapshot(container)?;
        let dir = self.dir(&container.id);
        let rootfs = overlay::Rootfs {
            dir: &dir,
            lowers: container.lowers.as_deref(),
        };
        rootfs.current(&self.snapshots, &old)
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    pub fn rootfs(&self, container: &Container) -> PathBuf {
        self.dir(&container.id).join("rootfs")
    }

    /// Every container, newest first.
    pub fn list(&self) -> Result<Vec<Container>, StoreError> {
        let mut out = Vec::new();
        let reading = |path: &Path| store_io(format!("reading {}", path.display()));
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(reading(&self.dir)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(reading(&self.dir))?;
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path().join("config.json");
            match fs::read(&path) {
                Ok(bytes) => {
                    out.push(
                        serde_json::from_slice(&bytes).map_err(|source| StoreError::Json {
                            what: path.display().to_string(),
                            source,
                        })?,
                    )
                }
                // Being created, or removed, right now.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(reading(&path)(e)),
            }
        }
        out.sort_by(|a: &Container, b: &Container| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Finds a container as Docker does: full ID, then name, then a unique
    /// ID prefix.
    pub fn find(&self, arg: &str) -> Result<Container> {
        let all = self.list()?;
        if let Some(c) = all.iter().find(|c| c.id == arg) {
            return Ok(c.clone());
        }
        let name = arg.strip_prefix('/').unwrap_or(arg);
        if let Some(c) = all.iter().find(|c| c.name == name) {
            return Ok(c.clone());
        }
        if !arg.is_empty() && arg.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut matches = all.iter().filter(|c| c.id.starts_with(arg));
            match (matches.next(), matches.next()) {
                (Some(c), None) => return Ok(c.clone()),
                (Some(_), Some(_)) => return Err(ContainerError::Ambiguous(arg.to_string())),
                _ => {}
            }
        }
        Err(ContainerError::NotFound(arg.to_string()))
    }

    fn check_name_free(&self, name: &str) -> Result<()> {
        match self.list()?.into_iter().find(|c| c.name == name) {
            Some(c) => Err(ContainerError::NameInUse {
                name: name.to_string(),
                id: c.id,
            }),
            None => Ok(()),
        }
    }

    /// Replaces the container's record atomically.
    fn write_record(&self, container: &Container) -> Result<()> {
        let dir = self.dir(&container.id);
        let context = || format!("writing the record of container {}", container.id);
        let bytes = serde_json::to_vec_pretty(container).expect("a record serializes");
        durable::replace(&dir.join("config.json"), Mode::Private, &bytes)
            .map_err(io_context(context()))
    }

    /// Takes the container's own lock, held while committing or removing.
    fn lock(&self, container: &Container) -> Result<File> {
        Ok(crate::store::lock_file(
            &self.dir(&container.id).join("lock"),
        )?)
    }

    /// Reads the container's snapshot.
    fn read_snapshot(&self, container: &Container) -> Result<Vec<snapshot::Entry>> {
        let path = self.dir(&container.id).join(&container.snapshot);
        let file = File::open(&path).map_err(io_context(format!("opening {}", path.display())))?;
        snapshot::read(file).map_err(io_context(format!("reading {}", path.display())))
    }
}

/// Writes `entries` as a new snapshot file in `dir`; returns its name.
fn write_snapshot(dir: &Path, entries: &[snapshot::Entry]) -> Result<String> {
    let context = || format!("writing a snapshot in {}", dir.display());
    snapshot::settle(dir, entries).map_err(io_context(context()))?;
    let tmp = tempfile::Builder::new()
        .prefix("snapshot-")
        .tempfile_in(dir)
        .map_err(io_context(context()))?;
    snapshot::write(entries, tmp.as_file()).map_err(io_context(context()))?;
    let (_, path) = tmp.keep().map_err(|e| io_context(context())(e.error))?;
    Ok(path
        .file_name()
        .expect("a temporary file has a name")
        .to_string_lossy()
        .into_owned())
}

/// Removes a container's directory when dropped, unless disarmed.
struct Cleanup(Option<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            let _ = remove_tree(&dir);
        }
    }
}

/// `create`/`run` options besides the image.
#[derive(Clone, Debug, Default)]
pub struct CreateOptions {
    pub name: Option<String>,
    pub flags: run::RunFlags,
    /// `--rm`
    pub auto_remove: bool,
}

/// `create [--name NAME] IMAGE [CMD…]`: unpacks the image's layers into a
/// new container's rootfs, makes the runtime's mount points in it, and
/// records it with the process it will run.
pub fn create(store: &Store, image: &str, create: &CreateOptions) -> Result<Container> {
    let containers = Containers::new(store);
    let name = create
        .name
        .as_deref()
        .map(|n| n.strip_prefix('/').unwrap_or(n));
    if let Some(name) = name {
        if !names::is_valid_name(name) {
            return Err(ContainerError::InvalidName(name.to_string()));
        }
        containers.check_name_free(name)?;
    }
    // Open the layer blobs under the lock: a concurrent `rmi` may unlink
    // them afterwards, but what is open stays readable.
    let (found, blobs) = {
        let _lock = store.lock()?;
        let catalog = Catalog::load(store)?;
        let found = catalog.image(&catalog.find(image)?).clone();
        let blobs = found
            .manifest
            .layers
            .iter()
            .map(|l| store.open_blob(&l.digest))
            .collect::<Result<Vec<_>, _>>()?;
        (found, blobs)
    };
    let id = names::new_id().map_err(io_context("generating a container ID"))?;
    let spec = run::container_spec(found.config.config.as_deref(), &create.flags, &id)?;
    let dir = containers.dir(&id);
    fs::create_dir_all(&dir).map_err(io_context(format!("creating {}", dir.display())))?;
    crate::store::make_private(&containers.dir)?;
    let mut cleanup = Cleanup(Some(dir.clone()));
    let rootfs = dir.join("rootfs");
    fs::create_dir(&rootfs).map_err(io_context(format!("creating {}", rootfs.display())))?;
    let lowers = overlay::Rootfs::make(
        &containers.snapshots,
        &found.manifest.layers,
        Some(&found.config.rootfs.diff_ids),
        blobs,
        &dir,
    )?;
    run::prepare_rootfs(&rootfs, &spec)?;
    let entries = overlay::Rootfs {
        dir: &dir,
        lowers: lowers.as_deref(),
    }
    .walk()?;
    let snapshot = write_snapshot(&dir, &entries)?;
    let mut record = Container {
        id,
        name: String::new(),
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        image: image.to_string(),
        image_id: found.id.clone(),
        head: Head {
            config: found.id.clone(),
            layers: found.manifest.layers.clone(),
        },
        snapshot,
        spec: Some(spec),
        auto_remove: create.auto_remove,
        lowers,
    };
    {
        let _lock = store.lock()?;
        record.name = match name {
            Some(name) => {
                containers.check_name_free(name)?;
                name.to_string()
            }
            None => unused_name(&containers)?,
        };
        // The image may have been removed while we unpacked it.
        let catalog = Catalog::load(store)?;
        if !catalog.images().iter().any(|i| i.id == found.id) {
            return Err(ImageError::NotFound(image.to_string()).into());
        }
        containers.write_record(&record)?;
    }
    cleanup.0 = None;
    Ok(record)
}

/// Unpacks `layers` (their blobs already open, in order) into `rootfs`.
pub(crate) fn unpack_blobs(layers: &[Descriptor], blobs: Vec<File>, rootfs: &Path) -> Result<()> {
    let options = unpack::Options::for_current_user();
    for (layer, blob) in layers.iter().zip(blobs) {
        let unpack_error = |source| ContainerError::Unpack {
            layer: layer.digest.clone(),
            source,
        };
        let decompressing = |source| {
            unpack_error(UnpackError::Io {
                context: "decompressing".into(),
                source,
            })
        };
        let size = blob.metadata().map_err(decompressing)?.len();
        let reader = layer::decompress(BufReader::with_capacity(1 << 20, blob), Some(size))
            .map_err(decompressing)?;
        unpack::unpack_layer(rootfs, reader, options).map_err(unpack_error)?;
    }
    Ok(())
}

fn unused_name(containers: &Containers) -> Result<String> {
    let taken: Vec<String> = containers.list()?.into_iter().map(|c| c.name).collect();
    for attempt in 0.. {
        let name =
            names::random_name(attempt.min(1)).map_err(io_context("naming the container"))?;
        if !taken.contains(&name) {
            return Ok(name);
        }
    }
    unreachable!("the loop only ends by returning")
}

/// `rm [-f] NAME`: removes the container and its rootfs; a running one
/// only with `force`, which kills it first.
pub fn remove(store: &Store, arg: &str, force: bool) -> Result<()> {
    let engine = run::Engine::new(store, None);
    let containers = engine.containers();
    let container = containers.find(arg)?;
    if engine.state(&container)?.is_running() {
        if !force {
            return Err(ContainerError::RemoveRunning(container.id));
        }
        engine.stop(&container, "KILL", std::time::Duration::ZERO)?;
    }
    let _lock = containers.lock(&container)?;
    let dir = containers.dir(&container.id);
    // Renamed first, so the container disappears at once even if deleting
    // a large rootfs takes a while or is interrupted.
    let trash = containers.dir(&format!(".removing-{}", container.id));
    fs::rename(&dir, &trash).map_err(io_context(format!("removing {}", dir.display())))?;
    remove_tree(&trash).map_err(io_context(format!("removing {}", trash.display())))?;
    // The last user of a force-removed image's snapshots.
    if container.lowers.is_some() {
        sweep_snapshots(store)?;
    }
    Ok(())
}

/// What `container prune` removed.
#[derive(Debug, Default)]
pub struct PruneReport {
    pub deleted: Vec<String>,
    /// The bytes their changes held.
    pub reclaimed: u64,
}

/// `container prune`: removes every container that is not running.
pub fn prune(store: &Store) -> Result<PruneReport> {
    let engine = run::Engine::new(store, None);
    let mut report = PruneReport::default();
    for container in engine.containers().list()? {
        if engine.state(&container)?.is_running() {
            continue;
        }
        let size = size_rw(store, &container).unwrap_or(0);
        match remove(store, &container.id, false) {
            Ok(()) => {
                report.deleted.push(container.id);
                report.reclaimed += size;
            }
            // Started, or removed, since it was listed.
            Err(ContainerError::RemoveRunning(_) | ContainerError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(report)
}

/// `remove_dir_all` after unmounting what is mounted inside (the overlay
/// rootfs of a container or build tree), making directories writable
/// first if an unprivileged user cannot otherwise empty them.
pub(crate) fn remove_tree(path: &Path) -> io::Result<()> {
    overlay::unmount_under(path)?;
    if fs::remove_dir_all(path).is_ok() {
        return Ok(());
    }
    use std::os::unix::fs::PermissionsExt;
    fn open_up(dir: &Path) {
        let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
        if let Ok(children) = fs::read_dir(dir) {
            for child in children.flatten() {
                if child.file_type().is_ok_and(|t| t.is_dir()) {
                    open_up(&child.path());
                }
            }
        }
    }
    open_up(path);
    fs::remove_dir_all(path)
}

/// `diff NAME`: the changes since the container was created or last
/// committed.
pub fn diff(store: &Store, arg: &str) -> Result<Vec<Change>> {
    let containers = Containers::new(store);
    let container = containers.find(arg)?;
    current_changes(&containers, &container)
}

fn current_changes(containers: &Containers, container: &Container) -> Result<Vec<Change>> {
    Ok(containers.current(container)?.changes)
}

/// The bytes a container's changes add (`SizeRw`): the sizes of its added
/// and changed files.
pub fn size_rw(store: &Store, container: &Container) -> Result<u64> {
    let containers = Containers::new(store);
    Ok(current_changes(&containers, container)?
        .iter()
        .filter_map(|c| c.meta)
        .filter(|m| !m.is_dir())
        .map(|m| m.size)
        .sum())
}

/// `export CONTAINER`: the container's whole filesystem as a tar stream.
pub fn export<W: Write>(store: &Store, arg: &str, out: W) -> Result<W> {
    let containers = Containers::new(store);
    let container = containers.find(arg)?;
    let rootfs = containers.mounted_rootfs(&container)?;
    let context = || format!("exporting {}", rootfs.display());
    let entries = snapshot::walk(&rootfs).map_err(io_context(context()))?;
    let mut tar = tarball::TarWriter::new(out, &rootfs);
    for entry in &entries {
        tar.append(&entry.path, &entry.meta)
            .map_err(io_context(context()))?;
    }
    tar.finish().map_err(io_context(context()))
}

/// `export -o PATH`: the tar stream written to `PATH` through a temporary
/// file, which takes the name only once complete, with Docker's mode
/// (0666 less the umask).
pub fn export_to_path(store: &Store, arg: &str, path: &Path) -> Result<()> {
    let dir = durable::parent_dir(path);
    let file = AtomicFile::create(path, Mode::Umask)
        .map_err(io_context(format!("creating a file in {}", dir.display())))?;
    let writing = || io_context(format!("writing {}", path.display()));
    export(store, arg, io::BufWriter::new(file.as_file()))?
        .into_inner()
        .map_err(|e| writing()(e.into_error()))?;
    file.commit().map_err(writing())
}

/// Who uses a layer snapshot.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotUsers {
    /// Images whose layers it is.
    pub images: usize,
    /// Containers mounted over it (their `lowers`).
    pub containers: usize,
    /// Whether an image a container uses names it: then it goes only
    /// with the container, as the image does.
    pub active: bool,
}

/// The snapshots `images` and `containers` name, and by whom. What no one
/// names here (and no mount uses) is what sweeps remove.
fn snapshot_users<'a>(
    images: &[Image],
    containers: impl Iterator<Item = &'a Container>,
) -> BTreeMap<Digest, SnapshotUsers> {
    let mut users: BTreeMap<Digest, SnapshotUsers> = BTreeMap::new();
    let mut active = BTreeSet::new();
    for container in containers {
        active.extend(container.images().cloned());
        for chain in container.lowers.iter().flatten() {
            users.entry(chain.clone()).or_default().containers += 1;
        }
    }
    for image in images {
        let used = active.contains(&image.id);
        for chain in crate::oci::chain_ids(&image.config.rootfs.diff_ids) {
            let entry = users.entry(chain).or_default();
            entry.images += 1;
            entry.active |= used;
        }
    }
    users
}

/// The snapshots that images and containers name. The caller holds the
/// store lock, under which images and containers are recorded, so the
/// answer holds while it does.
fn snapshots_in_use(store: &Store, _lock: &StoreLock) -> Result<BTreeSet<Digest>> {
    let containers = Containers::new(store).list()?;
    let users = snapshot_users(Catalog::load(store)?.images(), containers.iter());
    let mut in_use: BTreeSet<Digest> = users.into_keys().collect();
    // A build's steps keep theirs while the cache holds them: the next
    // build that reuses a step then mounts it at once.
    for (_, record) in store.cache_records()? {
        let config = store
            .read_json::<crate::oci::Manifest>(&record.manifest.digest)
            .and_then(|m| store.read_json::<crate::oci::ImageConfig>(&m.config.digest));
        if let Ok(config) = config {
            in_use.extend(crate::oci::chain_ids(&config.rootfs.diff_ids));
        }
    }
    Ok(in_use)
}

/// Removes the snapshots that no image, no container and no mount uses,
/// and unpacks killed commands left.
pub fn sweep_snapshots(store: &Store) -> Result<()> {
    let lock = store.lock()?;
    overlay::Snapshots::new(store).sweep(&snapshots_in_use(store, &lock)?)
}

/// `system check`: the store's own check, then what the snapshots'
/// sweeps would remove — snapshots no image, container or mount uses,
/// unpacks left unfinished — reported with the space it takes, as
/// leftovers (not damage); `repair` removes exactly those.
pub fn check(store: &Store, repair: bool) -> Result<CheckReport> {
    let mut report = store.check(repair)?;
    let lock = store.lock()?;
    let snapshots = overlay::Snapshots::new(store);
    for unused in snapshots.unused(&snapshots_in_use(store, &lock)?)? {
        let size = match &unused.chain {
            Some(chain) => snapshots.size(chain)?.map(|(size, _)| size),
            None => overlay::measure(&unused.path)?,
        };
        // Removed since it was listed: an unpack that failed cleans up
        // after itself without the store lock.
        let Some(size) = size else {
            continue;
        };
        let problem = match unused.chain.clone() {
            Some(chain) => Problem::UnusedSnapshot { chain, size },
            None => Problem::UnfinishedSnapshot {
                path: unused.path.clone(),
                size,
            },
        };
        if repair && snapshots.remove(&unused).is_ok() {
            report.repaired.push(problem);
        } else {
            report.problems.push(problem);
        }
    }
    Ok(report)
}

/// Which containers use which images: image ID → a container's ID.
pub fn image_users(store: &Store) -> Result<ImageUsers, StoreError> {
    let mut users = ImageUsers::new();
    for container in Containers::new(store).list()? {
        for image in container.images() {
            users
                .entry(image.clone())
                .or_insert_with(|| container.id.clone());
        }
    }
    Ok(users)
}
