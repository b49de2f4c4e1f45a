//! The local image store: an OCI image layout on disk.
//!
//! ```text
//! <root>/oci-layout            {"imageLayoutVersion":"1.0.0"}
//! <root>/index.json            one entry per tag (ref.name annotation) or untagged image,
//!                              and one per local manifest list (io.rimg.manifest-list)
//! <root>/blobs/sha256/<hex>    manifests, configs, layers, byte-for-byte as received
//! <root>/.rimg/lock            flock taken around every mutation
//! <root>/.rimg/tmp/            blobs and index.json being written, before their rename
//! <root>/.rimg/ingest/<hex>    a download under way or cut short, resumable, flocked while written
//! <root>/.rimg/leases/<id>     blobs a live writer stored but has not named yet
//! <root>/.rimg/layers/<hex>    cache: a layer blob's diff ID and uncompressed size
//! ```
//!
//! Writes follow containerd's content store: write to a temporary file,
//! verify the digest, fsync, then rename into place, so a reader (or a crash)
//! never sees a partial blob or index. Everything under `.rimg/` other than
//! the lock and the leases can be rebuilt from the layout itself.
//!
//! A command that stores blobs before naming an image (pull, load, commit,
//! import, push's gzip) holds a [`Lease`] on them, so that nothing removing
//! unreferenced blobs meanwhile (`system check --repair`, `rmi`, `image
//! prune`) takes them; see `lease.rs`.

mod build_cache;
mod check;
mod ingest;
mod lease;

pub use build_cache::{CachePruned, CacheRecord, CacheUsage};
pub use check::{CheckReport, Problem, TEMP_EXPIRY};
pub use ingest::{Claim, Ingest};
pub use lease::Lease;

use crate::digest::{Digest, Hasher};
use crate::durable::{self, AtomicFile};
use crate::interrupt::Stop;
use crate::layer::{self, LayerInfo};
use crate::oci::{self, Descriptor, Index};
use serde::de::DeserializeOwned;
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Manifests, indexes and configs bigger than this are refused: no real one
/// comes close, and reading a hostile one whole into memory is how a store
/// gets knocked over.
pub const MAX_JSON_BLOB: u64 = 16 << 20;

/// A layer-info cache entry as read.
enum Cached {
    Current(LayerInfo),
    /// Written by an older rimg: not wrong, only to be measured again.
    Outdated,
    Unreadable,
}

/// The layer-info cache's format. Entries of another version are measured
/// again, once: version 1 had no extracted size, and its `size` was the
/// tar stream's length.
const LAYER_INFO_VERSION: u32 = 2;

/// A layer-info cache entry.
#[derive(serde::Serialize, serde::Deserialize)]
struct CachedLayerInfo {
    version: u32,
    #[serde(flatten)]
    info: LayerInfo,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("blob {0} is missing from the store")]
    BlobMissing(Digest),
    #[error("blob {expected} failed verification: got {actual} ({actual_size} bytes, expected {expected_size})")]
    Mismatch {
        expected: Digest,
        expected_size: u64,
        actual: Digest,
        actual_size: u64,
    },
    #[error("{what}: invalid JSON")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("blob {digest} is {size} bytes, more than the {limit}-byte limit for JSON documents")]
    TooLarge {
        digest: Digest,
        size: u64,
        limit: u64,
    },
    #[error("layer {digest}")]
    Layer {
        digest: Digest,
        #[source]
        source: layer::LayerError,
    },
    #[error("{0} is not an OCI image layout (missing or invalid oci-layout file)")]
    NotALayout(PathBuf),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Wraps an I/O error with what was being done, for messages that name the
/// file involved.
pub(crate) fn io_context(context: impl Into<String>) -> impl FnOnce(io::Error) -> StoreError {
    let context = context.into();
    move |source| StoreError::Io { context, source }
}

#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
    /// Checked by every blob write made through this handle, so that an
    /// interrupted command stops writing (see [`Store::stopped_by`]).
    stop: Stop,
}

impl Store {
    /// Opens the store at `root`, creating an empty layout if nothing is
    /// there yet.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store> {
        let root = root.into();
        // Absolute: paths under the root go to runtimes and mounts, which
        // resolve them from directories of their own.
        let root = std::path::absolute(&root)
            .map_err(io_context(format!("resolving {}", root.display())))?;
        let store = Store {
            root,
            stop: Stop::default(),
        };
        for dir in [store.blob_dir(), store.tmp_dir(), store.layer_info_dir()] {
            fs::create_dir_all(&dir).map_err(io_context(format!("creating {}", dir.display())))?;
        }
        make_private(&store.root)?;
        let layout = store.root.join("oci-layout");
        match fs::read(&layout) {
            Ok(bytes) => {
                let parsed: serde_json::Value = serde_json::from_slice(&bytes)
                    .map_err(|_| StoreError::NotALayout(store.root.clone()))?;
                if parsed.get("imageLayoutVersion").is_none() {
                    return Err(StoreError::NotALayout(store.root.clone()));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let body = format!(
                    r#"{{"imageLayoutVersion":"{}"}}"#,
                    oci::media_type::OCI_LAYOUT_VERSION
                );
                store.write_atomically(&layout, body.as_bytes(), Durability::Synced)?;
            }
            Err(e) => return Err(io_context(format!("reading {}", layout.display()))(e)),
        }
        if !store.index_path().exists() {
            let _lock = store.lock()?;
            if !store.index_path().exists() {
                store.write_index(&_lock, &Index::default())?;
            }
        }
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// This store, as a handle whose blob writes fail with
    /// [`crate::interrupt::Stopped`] once `stop` is requested.
    pub fn stopped_by(&self, stop: &Stop) -> Store {
        Store {
            root: self.root.clone(),
            stop: stop.clone(),
        }
    }

    /// What stops work done through this handle.
    pub fn stop(&self) -> &Stop {
        &self.stop
    }

    fn blob_dir(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }

    fn meta_dir(&self) -> PathBuf {
        self.root.join(".rimg")
    }

    /// Where blobs and documents are written before their rename. It lives
    /// inside the root so the rename never crosses a filesystem.
    pub fn tmp_dir(&self) -> PathBuf {
        self.meta_dir().join("tmp")
    }

    /// Downloads under way or cut short, one file per blob, named by its
    /// digest (see `ingest.rs`).
    fn partial_dir(&self) -> PathBuf {
        self.meta_dir().join("ingest")
    }

    fn layer_info_dir(&self) -> PathBuf {
        self.meta_dir().join("layers")
    }

    /// `<uncompressed layer hex>` → the digest of the gzip blob a push
    /// made from it, so a second push sends the same bytes.
    fn compressed_dir(&self) -> PathBuf {
        self.meta_dir().join("gzip")
    }

    fn index_path(&self) -> PathBuf {
        self.root.join("index.json")
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.blob_dir().join(digest.hex())
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    pub fn open_blob(&self, digest: &Digest) -> Result<File> {
        File::open(self.blob_path(digest)).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                StoreError::BlobMissing(digest.clone())
            } else {
                io_context(format!("opening blob {digest}"))(e)
            }
        })
    }

    /// Opens a blob with its length on disk: what bounds its expansion
    /// when decompressed, and what a copy of it must come to.
    pub fn open_blob_sized(&self, digest: &Digest) -> Result<(File, u64)> {
        let blob = self.open_blob(digest)?;
        let size = blob
            .metadata()
            .map_err(io_context(format!("reading blob {digest}")))?
            .len();
        Ok((blob, size))
    }

    /// Reads a small blob whole, refusing anything over `MAX_JSON_BLOB`.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let file = self.open_blob(digest)?;
        let mut bytes = Vec::new();
        file.take(MAX_JSON_BLOB + 1)
            .read_to_end(&mut bytes)
            .map_err(io_context(format!("reading blob {digest}")))?;
        if bytes.len() as u64 > MAX_JSON_BLOB {
            return Err(StoreError::TooLarge {
                digest: digest.clone(),
                size: bytes.len() as u64,
                limit: MAX_JSON_BLOB,
            });
        }
        Ok(bytes)
    }

    /// Reads and parses a JSON blob (manifest, index or config).
    pub fn read_json<T: DeserializeOwned>(&self, digest: &Digest) -> Result<T> {
        let bytes = self.read_blob(digest)?;
        serde_json::from_slice(&bytes).map_err(|source| StoreError::Json {
            what: format!("blob {digest}"),
            source,
        })
    }

    /// Starts writing a blob; see [`Ingest`].
    pub fn ingest(&self) -> Result<Ingest> {
        Ingest::new(self, None)
    }

    /// Stores a small in-memory blob (a manifest or config) and returns its
    /// digest.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<Digest> {
        self.ingest()?.put(bytes)
    }

    /// Takes the store's exclusive lock; every change to `index.json` and
    /// every blob removal happens while holding it.
    pub fn lock(&self) -> Result<StoreLock> {
        Ok(StoreLock {
            _file: lock_file(&self.meta_dir().join("lock"))?,
        })
    }

    /// The store's lock if no one holds it now: for a read command that
    /// would only record something for later and must not wait on a
    /// writer to do so.
    pub fn try_lock(&self) -> Result<Option<StoreLock>> {
        let path = self.meta_dir().join("lock");
        let file = open_lock_file(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(StoreLock { _file: file })),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => {
                Err(io_context(format!("locking {}", path.display()))(e))
            }
        }
    }

    /// Reads `index.json`. Needs no lock: writers replace it by rename.
    pub fn read_index(&self) -> Result<Index> {
        let path = self.index_path();
        let bytes = fs::read(&path).map_err(io_context(format!("reading {}", path.display())))?;
        serde_json::from_slice(&bytes).map_err(|source| StoreError::Json {
            what: path.display().to_string(),
            source,
        })
    }

    /// Replaces `index.json`; the lock proves the caller holds it.
    pub fn write_index(&self, _lock: &StoreLock, index: &Index) -> Result<()> {
        let bytes = serde_json::to_vec(index).map_err(|source| StoreError::Json {
            what: "index.json".into(),
            source,
        })?;
        self.write_atomically(&self.index_path(), &bytes, Durability::Synced)
    }

    /// A new temporary file in the store's temporary area, exclusively
    /// locked for as long as it is open: `system check --repair` removes
    /// only leftovers whose lock it can take, never a live writer's file.
    pub(crate) fn temp_file(&self, prefix: &str) -> Result<tempfile::NamedTempFile> {
        let tmp = tempfile::Builder::new()
            .prefix(prefix)
            .tempfile_in(self.tmp_dir())
            .map_err(io_context("creating a temporary file in the store"))?;
        // Waited for, not tried: another command's sweep may be probing
        // the new file this very moment (it locks each file briefly to see
        // whether it is idle, and removes only old ones).
        tmp.as_file()
            .lock()
            .map_err(io_context("locking a temporary file in the store"))?;
        Ok(tmp)
    }

    /// Writes `bytes` to `path` through a temporary file and a rename;
    /// `Synced` also fsyncs the file and its directory.
    fn write_atomically(&self, path: &Path, bytes: &[u8], durability: Durability) -> Result<()> {
        let file = AtomicFile::adopt(self.temp_file("write-")?, path);
        file.as_file()
            .write_all(bytes)
            .and_then(|()| match durability {
                Durability::Synced => file.commit(),
                Durability::Cache => file.commit_unsynced(),
            })
            .map_err(io_context(format!("writing {}", path.display())))
    }

    /// The diff ID and sizes of a layer blob, from the cache or computed by
    /// decompressing the blob once.
    pub fn layer_info(&self, layer: &Descriptor) -> Result<LayerInfo> {
        if let Some(info) = self.cached_layer_info(&layer.digest) {
            return Ok(info);
        }
        let info = self.measure_layer(&layer.digest)?;
        self.record_layer_info(&layer.digest, &info)?;
        Ok(info)
    }

    /// The layer-info cache's entry for a blob, if it holds a readable one
    /// of this version.
    fn cached_layer_info(&self, digest: &Digest) -> Option<LayerInfo> {
        match self.read_cached_layer_info(digest)? {
            Cached::Current(info) => Some(info),
            Cached::Outdated | Cached::Unreadable => None,
        }
    }

    /// The layer-info cache's entry for a blob, as far as it reads; `None`
    /// when there is none.
    fn read_cached_layer_info(&self, digest: &Digest) -> Option<Cached> {
        let bytes = fs::read(self.layer_info_dir().join(digest.hex())).ok()?;
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            return Some(Cached::Unreadable);
        };
        // Version 1 had no version field.
        if value.get("version").and_then(serde_json::Value::as_u64)
            != Some(u64::from(LAYER_INFO_VERSION))
        {
            return Some(Cached::Outdated);
        }
        Some(match serde_json::from_value::<CachedLayerInfo>(value) {
            Ok(cached) => Cached::Current(cached.info),
            Err(_) => Cached::Unreadable,
        })
    }

    /// Decompresses a layer blob to measure it. The blob's own length
    /// bounds its expansion: a descriptor's size may come from another
    /// tool's index.
    fn measure_layer(&self, digest: &Digest) -> Result<LayerInfo> {
        let (blob, size) = self.open_blob_sized(digest)?;
        layer::measure(io::BufReader::with_capacity(1 << 20, blob), size).map_err(|source| {
            StoreError::Layer {
                digest: digest.clone(),
                source,
            }
        })
    }

    /// A layer's size once extracted, for the sizes `images`, `history`,
    /// `inspect` and `system df` show. A layer that cannot be measured (corrupt, or a
    /// decompression bomb another tool stored) counts its compressed size,
    /// so its image can still be listed and removed; the commands that
    /// read its content report why.
    pub fn layer_size(&self, layer: &Descriptor) -> Result<u64> {
        match self.layer_info(layer) {
            Ok(info) => Ok(info.size),
            // Unmeasurable, or removed by a concurrent rmi since the caller
            // read the index (readers take no lock): the compressed size.
            Err(StoreError::Layer { .. } | StoreError::BlobMissing(_)) => Ok(layer.size),
            Err(e) => Err(e),
        }
    }

    /// Caches what a pull or load measured while streaming a layer.
    pub fn record_layer_info(&self, digest: &Digest, info: &LayerInfo) -> Result<()> {
        let cached = CachedLayerInfo {
            version: LAYER_INFO_VERSION,
            info: info.clone(),
        };
        let bytes = serde_json::to_vec(&cached).map_err(|source| StoreError::Json {
            what: "layer info".into(),
            source,
        })?;
        // A cache entry can be recomputed from the blob, so it skips fsync.
        self.write_atomically(
            &self.layer_info_dir().join(digest.hex()),
            &bytes,
            Durability::Cache,
        )
    }

    /// The compressed blob recorded for an uncompressed layer blob, if it
    /// is still in the store.
    pub fn compressed_variant(&self, layer: &Digest) -> Option<Digest> {
        let text = fs::read_to_string(self.compressed_dir().join(layer.hex())).ok()?;
        let digest = Digest::parse(text.trim()).ok()?;
        self.has_blob(&digest).then_some(digest)
    }

    /// Remembers that `compressed` holds the layer `layer` compressed.
    pub fn record_compressed_variant(&self, layer: &Digest, compressed: &Digest) -> Result<()> {
        let dir = self.compressed_dir();
        fs::create_dir_all(&dir).map_err(io_context(format!("creating {}", dir.display())))?;
        // Like the layer-info cache: lost, it only costs a recompression.
        self.write_atomically(
            &dir.join(layer.hex()),
            compressed.as_str().as_bytes(),
            Durability::Cache,
        )
    }

    /// Every blob reachable from the index's entries and the build cache's
    /// records: manifests (and, for nested indexes, their children),
    /// configs and layers. Blobs missing from the store are included too;
    /// they are still referenced.
    pub fn referenced_blobs(&self, index: &Index) -> Result<BTreeSet<Digest>> {
        let mut roots: Vec<Descriptor> = index.manifests.clone();
        roots.extend(self.cached_manifests()?);
        Ok(self.blobs_under(roots))
    }

    /// `roots` and every blob reachable from them: for nested indexes their
    /// children, for manifests their config and layers.
    pub(super) fn blobs_under(&self, roots: Vec<Descriptor>) -> BTreeSet<Digest> {
        let mut seen = BTreeSet::new();
        let mut pending = roots;
        while let Some(desc) = pending.pop() {
            if !seen.insert(desc.digest.clone()) {
                continue;
            }
            if oci::media_type::is_index(&desc.media_type) {
                if let Ok(child) = self.read_json::<Index>(&desc.digest) {
                    pending.extend(child.manifests);
                }
            } else if oci::media_type::is_manifest(&desc.media_type) {
                if let Ok(manifest) = self.read_json::<oci::Manifest>(&desc.digest) {
                    seen.insert(manifest.config.digest.clone());
                    seen.extend(manifest.layers.into_iter().map(|l| l.digest));
                }
            }
        }
        seen
    }

    /// Removes the given blobs (and their cached layer info) unless `keep`
    /// or a held lease names them. Callers hold the lock and pass the
    /// blobs of the images they just dropped (or, for `system check`, the
    /// orphans it found). Returns each removed blob with the bytes it took
    /// on disk.
    pub fn remove_blobs(
        &self,
        _lock: &StoreLock,
        candidates: &BTreeSet<Digest>,
        keep: &BTreeSet<Digest>,
    ) -> Result<Vec<(Digest, u64)>> {
        let unkept: Vec<&Digest> = candidates.difference(keep).collect();
        // Only blobs seen here are removed, and the leases are read after
        // seeing them: a writer leases a blob before it becomes visible,
        // and one reusing a blob leases it under the lock we hold.
        let present: Vec<(&Digest, u64)> = unkept
            .iter()
            .filter_map(|d| Some((*d, fs::metadata(self.blob_path(d)).ok()?.len())))
            .collect();
        let leased = self.leased_blobs()?;
        let mut removed = Vec::new();
        for (digest, size) in present.into_iter().filter(|(d, _)| !leased.contains(d)) {
            match fs::remove_file(self.blob_path(digest)) {
                Ok(()) => removed.push((digest.clone(), size)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_context(format!("removing blob {digest}"))(e)),
            }
        }
        for digest in unkept.into_iter().filter(|d| !leased.contains(d)) {
            let _ = fs::remove_file(self.layer_info_dir().join(digest.hex()));
        }
        if !removed.is_empty() {
            sync_dir(&self.blob_dir())?;
        }
        Ok(removed)
    }

    /// Verifies a stored blob against its digest by reading it whole.
    pub fn verify_blob(&self, digest: &Digest) -> Result<u64> {
        let mut file = self.open_blob(digest)?;
        let mut hasher = Hasher::new();
        io::copy(&mut file, &mut hasher).map_err(io_context(format!("reading blob {digest}")))?;
        let size = hasher.len();
        let actual = hasher.finish();
        if &actual != digest {
            return Err(StoreError::Mismatch {
                expected: digest.clone(),
                expected_size: size,
                actual,
                actual_size: size,
            });
        }
        Ok(size)
    }
}

#[derive(Clone, Copy)]
enum Durability {
    Synced,
    Cache,
}

/// Held while the store is being changed; released on drop.
pub struct StoreLock {
    _file: File,
}

/// Opens (creating it if need be) and exclusively flocks `path`; the lock
/// lasts as long as the returned file.
pub(crate) fn lock_file(path: &Path) -> Result<File> {
    let file = open_lock_file(path)?;
    file.lock()
        .map_err(io_context(format!("locking {}", path.display())))?;
    Ok(file)
}

/// Opens a lock file, creating it if need be.
fn open_lock_file(path: &Path) -> Result<File> {
    fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(io_context(format!("opening {}", path.display())))
}

/// fsyncs a directory so a rename into it survives a crash.
fn sync_dir(dir: &Path) -> Result<()> {
    durable::sync_dir(dir).map_err(io_context(format!("syncing {}", dir.display())))
}

/// The store root when neither `--root` nor `$RIMG_ROOT` names one:
/// `/var/lib/rimg` for root, else `$XDG_DATA_HOME/rimg` or
/// `~/.local/share/rimg`.
/// Makes a directory of ours reachable by its owner only (0700), as Docker
/// keeps `/var/lib/docker`: containers' root filesystems below it hold the
/// images' setuid binaries and device nodes, which must not be usable by
/// every local user. A directory someone else owns is left as it is (its
/// owner decides; chmod would fail anyway).
pub fn make_private(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let context = || format!("making {} private", dir.display());
    let meta = fs::metadata(dir).map_err(io_context(context()))?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let mine = meta.uid() == unsafe { libc::geteuid() };
    if mine && meta.mode() & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(io_context(context()))?;
    }
    Ok(())
}

pub fn default_root() -> PathBuf {
    if crate::runtime::userns::host_uid() == 0 {
        return PathBuf::from("/var/lib/rimg");
    }
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
            PathBuf::from(home).join(".local").join("share")
        });
    data_home.join("rimg")
}
