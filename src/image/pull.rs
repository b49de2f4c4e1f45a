//! `rimg pull`: resolve a reference to a platform's image manifest, fetch
//! the config and the missing layers concurrently, verify every byte, and
//! name the image in the store.
//!
//! Each layer streams from the network into a blocking thread that writes
//! the blob to its partial file (resumed by the next pull if this one
//! dies, waited for by a concurrent one) and hashes it; the largest
//! layers, one per core, are decompressed and hashed for the diff ID in
//! the same pass, the others from their stored blob once a core is free.
//! Nothing is renamed into the store unverified, and nothing is tagged
//! unless every layer's diff ID matches the config. A lease protects every
//! blob the pull stores or reuses until the image is named.

use crate::digest::Digest;
use crate::image;
use crate::image::Catalog;
use crate::layer::{self, LayerInfo};
use crate::oci::{annotation, media_type, Descriptor, ImageConfig, Index, Manifest, Platform};
use crate::platform;
use crate::progress::{Board, LayerProgress, Progress};
use crate::reference::Reference;
use crate::registry::{self, code, Client, RegistryError, Repository};
use crate::store::{io_context, Claim, Ingest, Lease, Store, StoreError};
use bytes::{Buf, Bytes};
use futures_util::stream::{self, StreamExt};
use std::collections::BTreeMap;
use std::io::{self, BufRead, Read, Write};
use tokio::sync::{mpsc, Semaphore};

/// Docker downloads 3 layers at a time; registries and CDNs serve more
/// well. Decompression is bounded apart, at one layer per core (see
/// `download_layer`).
pub const DEFAULT_MAX_CONCURRENT_DOWNLOADS: usize = 6;

/// Chunks queued between a download and its writer thread: enough to ride
/// out a disk hiccup, small enough that memory stays flat.
const CHUNK_QUEUE: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    // The registry's error is part of the message, as in Docker's, and
    // deliberately not a `source`: it would be printed twice.
    #[error("manifest for {reference} not found: {cause}")]
    ManifestUnknown {
        reference: String,
        cause: RegistryError,
    },
    #[error("pull access denied for {name}, repository does not exist or may require 'rimg login': {cause}")]
    AccessDenied { name: String, cause: RegistryError },
    #[error("repository {name} not found: {cause}")]
    RepositoryUnknown { name: String, cause: RegistryError },
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "no matching manifest for {wanted} in the manifest list entries (available: {available})"
    )]
    NoMatchingPlatform { wanted: String, available: String },
    #[error("image with reference {reference} was found but does not match the specified platform: wanted {wanted}, actual: {actual}")]
    PlatformMismatch {
        reference: String,
        wanted: String,
        actual: String,
    },
    #[error("Docker Image Format v1 and Docker Image manifest version 2, schema 1 are not supported. Suggest the author of {0} to upgrade the image to the OCI Format or Docker Image manifest v2, schema 2")]
    Schema1(String),
    #[error("{reference}: unsupported manifest media type {media_type:?}")]
    UnsupportedMediaType {
        reference: String,
        media_type: String,
    },
    #[error("{what} {digest}: invalid: {reason}")]
    Invalid {
        what: &'static str,
        digest: Digest,
        reason: String,
    },
    #[error("{what} verification failed: expected {expected} ({expected_size} bytes), got {actual} ({actual_size} bytes)")]
    Verification {
        what: &'static str,
        expected: Digest,
        expected_size: u64,
        actual: Digest,
        actual_size: u64,
    },
    #[error("manifest verification failed for digest {expected}: the registry served {actual}")]
    ManifestDigest { expected: String, actual: Digest },
    #[error("filesystem layer verification failed for digest {digest}: {detail}")]
    Layer { digest: Digest, detail: String },
    #[error("layer {digest}: diff ID {actual} does not match the image config's {expected}")]
    DiffId {
        digest: Digest,
        expected: Digest,
        actual: Digest,
    },
    #[error(transparent)]
    Reference(#[from] crate::reference::ReferenceError),
    #[error("tag can't be used with --all-tags/-a")]
    TagWithAllTags,
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = PullError> = std::result::Result<T, E>;

#[derive(Clone, Debug)]
pub struct PullOptions {
    pub all_tags: bool,
    /// The platform asked for with `--platform`; `None` means this
    /// machine's, with no complaint if a single-platform image differs.
    pub platform: Option<Platform>,
    pub max_concurrent_downloads: usize,
}

/// Pulls `reference` (a tag or digest, or with `all_tags` a bare name)
/// and returns the canonical reference to print last.
pub async fn pull(
    store: &Store,
    client: &Client,
    reference: &Reference,
    options: &PullOptions,
    progress: &Progress,
) -> Result<Reference> {
    let repos = client
        .repositories(reference.domain(), reference.path())
        .await?;
    let puller = Puller {
        store,
        client,
        options,
        progress,
        platform: options.platform.clone().unwrap_or_else(platform::host),
    };
    if !options.all_tags {
        let updated = puller.pull_one(&repos, reference).await?;
        puller.status(updated, &reference.familiar_string());
        return Ok(reference.clone());
    }
    if reference.tag().is_some() || reference.digest().is_some() {
        return Err(PullError::TagWithAllTags);
    }
    let tags = first_success(&repos, |repo| client.tags(repo))
        .await
        .map_err(|e| translate(e, reference))?
        .1;
    let mut updated = false;
    for tag in tags {
        updated |= puller.pull_one(&repos, &reference.with_tag(&tag)?).await?;
    }
    puller.status(updated, &reference.familiar_name());
    Ok(reference.name_only())
}

/// Docker's `translatePullError`: registry errors that mean "no such
/// image" in the words `docker pull` uses.
fn translate(e: RegistryError, reference: &Reference) -> PullError {
    match e.code() {
        Some(code::DENIED) => PullError::AccessDenied {
            name: reference.familiar_name(),
            cause: e,
        },
        Some(code::MANIFEST_UNKNOWN) => PullError::ManifestUnknown {
            reference: reference.familiar_string(),
            cause: e,
        },
        Some(code::NAME_UNKNOWN) => PullError::RepositoryUnknown {
            name: reference.familiar_name(),
            cause: e,
        },
        _ => PullError::Registry(e),
    }
}

/// Tries `op` on each endpoint (mirrors first); a mirror's failure falls
/// through to the next, the registry's own is final.
async fn first_success<'r, T, F, Fut>(
    repos: &'r [Repository],
    op: F,
) -> std::result::Result<(&'r Repository, T), RegistryError>
where
    F: Fn(&'r Repository) -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, RegistryError>>,
{
    let mut last = None;
    for repo in repos {
        match op(repo).await {
            Ok(value) => return Ok((repo, value)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| RegistryError::Url("no registry endpoint".into())))
}

struct Puller<'a> {
    store: &'a Store,
    client: &'a Client,
    options: &'a PullOptions,
    progress: &'a Progress,
    platform: Platform,
}

/// The image a reference resolved to.
struct Resolved<'r> {
    repo: &'r Repository,
    /// The digest the registry served for the reference: an index's for a
    /// multi-platform image. Docker's repo digest.
    served: Digest,
    /// The platform manifest as stored, and its descriptor for index.json.
    manifest_bytes: Bytes,
    descriptor: Descriptor,
    manifest: Manifest,
    from_index: bool,
}

impl Puller<'_> {
    fn status(&self, updated: bool, name: &str) {
        let verb = if updated {
            "Downloaded newer image for"
        } else {
            "Image is up to date for"
        };
        self.progress.line(&format!("Status: {verb} {name}"));
    }

    /// Pulls one tag or digest; true when the name now points at a
    /// different image than before.
    async fn pull_one(&self, repos: &[Repository], reference: &Reference) -> Result<bool> {
        let lease = self.store.lease()?;
        let resolved = self.resolve(repos, reference, &lease).await?;
        let config = self.config(&resolved, &lease).await?;
        if resolved.manifest.layers.len() != config.rootfs.diff_ids.len() {
            return Err(PullError::Invalid {
                what: "image config",
                digest: resolved.manifest.config.digest.clone(),
                reason: format!(
                    "{} diff IDs for {} layers",
                    config.rootfs.diff_ids.len(),
                    resolved.manifest.layers.len()
                ),
            });
        }
        if let Some(wanted) = &self.options.platform {
            let actual = platform::of_config(&config);
            if !resolved.from_index && !platform::matches(wanted, &actual) {
                return Err(PullError::PlatformMismatch {
                    reference: reference.familiar_string(),
                    wanted: platform::format(wanted),
                    actual: platform::format(&actual),
                });
            }
        }
        // As Docker, which stops before the layers when it has the image
        // (its ID, the config digest): no layer lines for an image the
        // store already has, whichever manifest named it. A store that
        // another image's damage keeps from listing still pulls, with the
        // lines.
        let id = &resolved.manifest.config.digest;
        let known = Catalog::load(self.store)
            .is_ok_and(|catalog| catalog.images().iter().any(|image| image.id == *id));
        let board = self.progress.board();
        self.fetch_layers(&resolved, &config, &board, &lease, known)
            .await?;
        drop(board);
        let updated = self.commit(&resolved, reference, &lease)?;
        self.progress.line(&format!("Digest: {}", resolved.served));
        Ok(updated)
    }

    /// Fetches the manifest for `reference` and, for an index, the
    /// manifest of the wanted platform.
    async fn resolve<'r>(
        &self,
        repos: &'r [Repository],
        reference: &Reference,
        lease: &Lease,
    ) -> Result<Resolved<'r>> {
        let tag_or_digest = reference
            .digest()
            .or(reference.tag())
            .unwrap_or("latest")
            .to_string();
        let (repo, fetched) =
            first_success(repos, |repo| self.client.manifest(repo, &tag_or_digest))
                .await
                .map_err(|e| translate(e, reference))?;
        let served = Digest::of(&fetched.bytes);
        if let Some(wanted) = reference.digest() {
            if served.as_str() != wanted {
                return Err(PullError::ManifestDigest {
                    expected: wanted.to_string(),
                    actual: served,
                });
            }
        }
        self.progress.line(&format!(
            "{tag_or_digest}: Pulling from {}",
            reference.path()
        ));
        let kind = document_type(&fetched.media_type, &fetched.bytes);
        if registry::is_schema1(&kind) {
            return Err(PullError::Schema1(reference.familiar_string()));
        }
        if media_type::is_manifest(&kind) {
            let manifest = parse_manifest(&served, &fetched.bytes)?;
            let descriptor = Descriptor::new(&kind, served.clone(), fetched.bytes.len() as u64);
            return Ok(Resolved {
                repo,
                served,
                manifest_bytes: fetched.bytes,
                descriptor,
                manifest,
                from_index: false,
            });
        }
        if !media_type::is_index(&kind) {
            return Err(PullError::UnsupportedMediaType {
                reference: reference.familiar_string(),
                media_type: kind,
            });
        }
        let index: Index =
            serde_json::from_slice(&fetched.bytes).map_err(|e| PullError::Invalid {
                what: "manifest list",
                digest: served.clone(),
                reason: e.to_string(),
            })?;
        let chosen = choose_platform(&index, &self.platform)?.clone();
        if !media_type::is_manifest(&chosen.media_type) {
            return Err(PullError::UnsupportedMediaType {
                reference: reference.familiar_string(),
                media_type: chosen.media_type,
            });
        }
        let bytes = self.manifest_by_digest(repo, &chosen, lease).await?;
        let manifest = parse_manifest(&chosen.digest, &bytes)?;
        let mut descriptor =
            Descriptor::new(&chosen.media_type, chosen.digest.clone(), chosen.size);
        descriptor.platform = chosen.platform;
        Ok(Resolved {
            repo,
            served,
            manifest_bytes: bytes,
            descriptor,
            manifest,
            from_index: true,
        })
    }

    /// A platform manifest from the store if it is there (so an
    /// up-to-date re-pull costs one request), else from the registry.
    async fn manifest_by_digest(
        &self,
        repo: &Repository,
        desc: &Descriptor,
        lease: &Lease,
    ) -> Result<Bytes> {
        let fetch = || async {
            let fetched = self.client.manifest(repo, desc.digest.as_str()).await?;
            Ok::<_, RegistryError>(fetched.bytes)
        };
        self.small_document("manifest", desc, lease, fetch).await?;
        Ok(Bytes::from(self.store.read_blob(&desc.digest)?))
    }

    /// Makes a manifest or config present and leased: fetched whole by
    /// `fetch`, verified and stored, unless the store has it. It goes
    /// through its partial file as a layer does, so that of two pulls
    /// wanting it one fetches it while the other waits.
    async fn small_document<F, Fut>(
        &self,
        what: &'static str,
        desc: &Descriptor,
        lease: &Lease,
        fetch: F,
    ) -> Result<()>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Bytes, RegistryError>>,
    {
        let mut retried = false;
        while let Some(mut ingest) = self.claim(desc, None, lease).await? {
            let bytes = fetch().await?;
            verify_document(what, desc, &bytes)?;
            // A partial a killed pull left is completed like a layer's; if
            // it is not what it should be, the commit's check removes it and
            // the document is stored once more from the start.
            let resumed = ingest.len();
            let digest = desc.digest.clone();
            let stored = tokio::task::spawn_blocking(move || {
                let rest = bytes.get(resumed as usize..).unwrap_or_default();
                ingest
                    .write_all(rest)
                    .map_err(io_context(format!("storing {what} {digest}")))?;
                ingest.commit(Some((&digest, bytes.len() as u64)))
            })
            .await
            .map_err(joined)?;
            match stored {
                Err(StoreError::Mismatch { .. }) if resumed > 0 && !retried => retried = true,
                stored => return Ok(stored.map(drop)?),
            }
        }
        Ok(())
    }

    /// The image config, fetched and stored if missing.
    async fn config(&self, resolved: &Resolved<'_>, lease: &Lease) -> Result<ImageConfig> {
        let desc = &resolved.manifest.config;
        if !(desc.media_type == media_type::DOCKER_CONFIG
            || desc.media_type == media_type::OCI_CONFIG)
        {
            return Err(PullError::Invalid {
                what: "manifest",
                digest: resolved.descriptor.digest.clone(),
                reason: format!(
                    "config media type {:?} is not an image config",
                    desc.media_type
                ),
            });
        }
        let fetch = || self.client.small_blob(resolved.repo, &desc.digest);
        self.small_document("image config", desc, lease, fetch)
            .await?;
        Ok(self.store.read_json(&desc.digest)?)
    }

    /// Makes every layer of the image present, leased and measured,
    /// checking each diff ID against the config. The layers present get
    /// an `Already exists` line unless the image is `known`.
    async fn fetch_layers(
        &self,
        resolved: &Resolved<'_>,
        config: &ImageConfig,
        board: &Board,
        lease: &Lease,
        known: bool,
    ) -> Result<()> {
        let layers = &resolved.manifest.layers;
        // A digest listed twice is downloaded once.
        let mut wanted: BTreeMap<&Digest, &Descriptor> = BTreeMap::new();
        let mut lines: Vec<Option<LayerProgress>> = Vec::with_capacity(layers.len());
        for layer in layers {
            // A blob a concurrent `rmi` removed before this lease named it
            // is downloaded again.
            let present = !wanted.contains_key(&layer.digest) && lease.reuse(&layer.digest)?;
            let line = if present {
                (!known).then(|| {
                    let line = board.layer(&layer.digest);
                    line.finish("Already exists");
                    line
                })
            } else if wanted.insert(&layer.digest, layer).is_none() {
                let line = board.layer(&layer.digest);
                line.status("Pulling fs layer");
                Some(line)
            } else {
                None
            };
            lines.push(line);
        }
        let lines_by_digest: BTreeMap<&Digest, &LayerProgress> = layers
            .iter()
            .zip(&lines)
            .filter_map(|(l, line)| Some((&l.digest, line.as_ref()?)))
            .collect();
        // Largest first: the biggest layer is the longest to fetch and
        // decompress, so it bounds the pull's time.
        let mut queue: Vec<&Descriptor> = wanted.values().copied().collect();
        queue.sort_by_key(|desc| std::cmp::Reverse(desc.size));
        let limit = self.options.max_concurrent_downloads.max(1);
        let decompressors = Semaphore::new(
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        );
        let decompressors = &decompressors;
        for desc in queue.iter().skip(limit) {
            if let Some(line) = lines_by_digest.get(&desc.digest) {
                line.status("Waiting");
            }
        }
        let mut downloads = stream::iter(queue.into_iter().map(|desc| {
            let line = lines_by_digest.get(&desc.digest).copied();
            async move {
                let info = self
                    .download_layer(resolved.repo, desc, line, decompressors, lease)
                    .await?;
                Ok::<_, PullError>((desc.digest.clone(), info))
            }
        }))
        .buffer_unordered(limit);
        let mut measured: BTreeMap<Digest, LayerInfo> = BTreeMap::new();
        let mut completed = 0;
        // "Pull complete" comes in layer order, as Docker's extraction does.
        let mut report = |measured: &BTreeMap<Digest, LayerInfo>| -> Result<()> {
            while completed < layers.len() {
                let layer = &layers[completed];
                let info = match measured.get(&layer.digest) {
                    Some(info) => info.clone(),
                    None if !wanted.contains_key(&layer.digest) => self.store.layer_info(layer)?,
                    None => break,
                };
                let expected = &config.rootfs.diff_ids[completed];
                if &info.diff_id != expected {
                    return Err(PullError::DiffId {
                        digest: layer.digest.clone(),
                        expected: expected.clone(),
                        actual: info.diff_id,
                    });
                }
                if wanted.contains_key(&layer.digest) {
                    if let Some(line) = &lines[completed] {
                        line.finish("Pull complete");
                    }
                }
                completed += 1;
            }
            Ok(())
        };
        report(&measured)?;
        while let Some(done) = downloads.next().await {
            let (digest, info) = done?;
            measured.insert(digest, info);
            report(&measured)?;
        }
        Ok(())
    }

    /// Makes one layer's blob present and measures it. The download goes
    /// through the blob's partial file (see `store::Ingest`): a download
    /// an earlier process left is resumed, one another process is doing is
    /// waited for. A resumed partial that fails verification was removed
    /// by the check and is fetched once more from the start.
    async fn download_layer(
        &self,
        repo: &Repository,
        desc: &Descriptor,
        line: Option<&LayerProgress>,
        decompressors: &Semaphore,
        lease: &Lease,
    ) -> Result<LayerInfo> {
        let mut retried = false;
        loop {
            let Some(ingest) = self.claim(desc, line, lease).await? else {
                return self.measure_stored(desc, line, decompressors).await;
            };
            let resumed = ingest.len();
            match self.transfer(repo, desc, line, decompressors, ingest).await {
                Err(PullError::Layer { .. })
                    if resumed > 0 && !retried && !self.store.has_blob(&desc.digest) =>
                {
                    retried = true;
                }
                done => return done,
            }
        }
    }

    /// The blob's partial file to write, or `None` once the store has the
    /// blob; waits (saying so) while another process downloads it.
    async fn claim(
        &self,
        desc: &Descriptor,
        line: Option<&LayerProgress>,
        lease: &Lease,
    ) -> Result<Option<Ingest>> {
        let mut wait = false;
        loop {
            let (lease, digest, size) = (lease.clone(), desc.digest.clone(), desc.size);
            let claim = tokio::task::spawn_blocking(move || lease.claim(&digest, size, wait))
                .await
                .map_err(joined)??;
            match claim {
                Claim::Stored => return Ok(None),
                Claim::Resume(ingest) => return Ok(Some(*ingest)),
                Claim::Busy => {
                    if let Some(line) = line {
                        line.status("Waiting");
                    }
                    wait = true;
                }
            }
        }
    }

    /// Streams the rest of one layer into `ingest` on a thread that
    /// stores the compressed bytes (hashing them on the way) and, when one
    /// of `decompressors` (one per core) is free, to a second that
    /// decompresses and hashes the tar for the diff ID (a resumed layer's
    /// first bytes read back from its partial file). A layer that found
    /// none free is measured from its stored blob once one is: with every
    /// download decompressing
    /// at once, the cores are shared among all of them and the largest
    /// layer, which bounds the pull, finishes last and alone on one core.
    /// Layers start largest first, so the largest get the streaming slots.
    async fn transfer(
        &self,
        repo: &Repository,
        desc: &Descriptor,
        line: Option<&LayerProgress>,
        decompressors: &Semaphore,
        mut ingest: Ingest,
    ) -> Result<LayerInfo> {
        let resumed = ingest.len();
        if let Some(line) = line {
            line.downloading(desc.size);
            line.advance(resumed);
        }
        // The download stops at the declared size, which so bounds what
        // the layer may expand to.
        let size = desc.size;
        let streaming = decompressors.try_acquire().ok();
        let (mut to_measure, measured) = match streaming {
            Some(_) => {
                let head = io::BufReader::with_capacity(1 << 20, ingest.written()?);
                let (sender, chunks) = mpsc::channel::<Bytes>(CHUNK_QUEUE);
                let thread = tokio::task::spawn_blocking(move || {
                    layer::measure(head.chain(ChannelReader::new(chunks)), size)
                });
                (Some(sender), Some(thread))
            }
            None => (None, None),
        };
        let (to_blob, blob_chunks) = mpsc::channel::<Bytes>(CHUNK_QUEUE);
        let target = desc.clone();
        let stored = tokio::task::spawn_blocking(move || store_blob(ingest, &target, blob_chunks));
        let mut blob = self
            .client
            .blob_from(repo, &desc.digest, desc.size, resumed);
        let fetched: Result<()> = async {
            while let Some(chunk) = blob.next_chunk().await? {
                if let Some(line) = line {
                    line.advance(chunk.len() as u64);
                }
                // The decompressor stops early at the end of its stream or
                // at an error; the blob still gets every byte, so that its
                // digest decides what went wrong.
                if let Some(sender) = &to_measure {
                    if sender.send(chunk.clone()).await.is_err() {
                        to_measure = None;
                    }
                }
                if to_blob.send(chunk).await.is_err() {
                    break; // the blob writer failed; its error says why
                }
            }
            Ok(())
        }
        .await;
        drop(to_blob);
        drop(to_measure);
        if let Some(line) = line {
            line.status("Verifying Checksum");
        }
        let stored = stored.await.map_err(joined)?;
        let measured = match measured {
            Some(thread) => Some(thread.await.map_err(joined)?),
            None => None,
        };
        fetched?;
        stored?;
        let Some(measured) = measured else {
            return self.measure_stored(desc, line, decompressors).await;
        };
        let info = measured.map_err(|e| undecompressable(desc.digest.clone(), e))?;
        self.store.record_layer_info(&desc.digest, &info)?;
        drop(streaming);
        if let Some(line) = line {
            line.status("Download complete");
        }
        Ok(info)
    }

    /// Measures a stored layer blob once a decompressor slot is free.
    async fn measure_stored(
        &self,
        desc: &Descriptor,
        line: Option<&LayerProgress>,
        decompressors: &Semaphore,
    ) -> Result<LayerInfo> {
        let _slot = decompressors
            .acquire()
            .await
            .map_err(|e| PullError::Internal(format!("decompressor slots: {e}")))?;
        let store = self.store.clone();
        let target = desc.clone();
        let info = tokio::task::spawn_blocking(move || store.layer_info(&target))
            .await
            .map_err(joined)?
            .map_err(|e| match e {
                StoreError::Layer { digest, source } => undecompressable(digest, source),
                e => e.into(),
            })?;
        if let Some(line) = line {
            line.status("Download complete");
        }
        Ok(info)
    }

    /// Names the image. Every blob it needs is leased, so none can have
    /// gone since it was found; `image::register` still checks, under the
    /// store lock, against blobs removed by other tools.
    fn commit(
        &self,
        resolved: &Resolved<'_>,
        reference: &Reference,
        lease: &Lease,
    ) -> Result<bool> {
        let names = image_names(reference, &resolved.served)?;
        if !lease.reuse(&resolved.descriptor.digest)? {
            verify_document("manifest", &resolved.descriptor, &resolved.manifest_bytes)?;
            lease.put_blob(&resolved.manifest_bytes)?;
        }
        let index = self.store.read_index()?;
        let updated = self.points_elsewhere(&index, &names[0], &resolved.manifest.config.digest);
        image::register(self.store, &resolved.descriptor, &names)?;
        Ok(updated)
    }

    /// Whether `name` is unset or names an image other than `config` (the
    /// image ID): Docker's "Downloaded newer image" test.
    fn points_elsewhere(&self, index: &Index, name: &Reference, config: &Digest) -> bool {
        let key = name.to_string();
        let Some(entry) = index
            .manifests
            .iter()
            .find(|d| d.annotation(annotation::REF_NAME) == Some(key.as_str()))
        else {
            return true;
        };
        match self.store.read_json::<Manifest>(&entry.digest) {
            Ok(old) => &old.config.digest != config,
            Err(_) => true,
        }
    }
}

/// The names a pull gives the image: the reference itself (tag or digest)
/// and the repo digest, `name@<digest served>`.
fn image_names(reference: &Reference, served: &Digest) -> Result<Vec<Reference>> {
    let repo_digest = reference.name_only().with_digest(served.as_str())?;
    let mut names = vec![reference.clone()];
    if repo_digest != *reference {
        names.push(repo_digest);
    }
    Ok(names)
}

/// The document's media type: the `Content-Type` when it names one we
/// know, else the body's `mediaType`, else its shape (OCI allows leaving
/// `mediaType` out).
fn document_type(content_type: &str, body: &[u8]) -> String {
    let known =
        |t: &str| media_type::is_manifest(t) || media_type::is_index(t) || registry::is_schema1(t);
    if known(content_type) {
        return content_type.to_string();
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Shape {
        #[serde(default)]
        schema_version: u32,
        #[serde(default)]
        media_type: Option<String>,
        #[serde(default)]
        manifests: Option<serde_json::Value>,
        #[serde(default)]
        config: Option<serde_json::Value>,
    }
    let Ok(shape) = serde_json::from_slice::<Shape>(body) else {
        return content_type.to_string();
    };
    match shape {
        Shape {
            media_type: Some(t),
            ..
        } if known(&t) => t,
        Shape {
            schema_version: 1, ..
        } => media_type::DOCKER_MANIFEST_V1_SIGNED.to_string(),
        Shape {
            manifests: Some(_), ..
        } => media_type::OCI_INDEX.to_string(),
        Shape {
            config: Some(_), ..
        } => media_type::OCI_MANIFEST.to_string(),
        _ => content_type.to_string(),
    }
}

fn parse_manifest(digest: &Digest, bytes: &[u8]) -> Result<Manifest> {
    serde_json::from_slice(bytes).map_err(|e| PullError::Invalid {
        what: "manifest",
        digest: digest.clone(),
        reason: e.to_string(),
    })
}

/// Checks a document fetched whole against its descriptor.
fn verify_document(what: &'static str, desc: &Descriptor, bytes: &[u8]) -> Result<()> {
    let actual = Digest::of(bytes);
    if actual != desc.digest || bytes.len() as u64 != desc.size {
        return Err(PullError::Verification {
            what,
            expected: desc.digest.clone(),
            expected_size: desc.size,
            actual,
            actual_size: bytes.len() as u64,
        });
    }
    Ok(())
}

fn joined(e: tokio::task::JoinError) -> PullError {
    PullError::Internal(format!("layer thread: {e}"))
}

/// Either way a layer that will not decompress fails in one set of words,
/// Docker's.
fn undecompressable(digest: Digest, layer::LayerError::Io(e): layer::LayerError) -> PullError {
    PullError::Layer {
        digest,
        detail: format!("decompressing: {e}"),
    }
}

/// Writes a blob's chunks after what `ingest` holds and commits it, leased,
/// only if its digest and size match the descriptor.
fn store_blob(
    mut ingest: Ingest,
    desc: &Descriptor,
    mut chunks: mpsc::Receiver<Bytes>,
) -> Result<()> {
    while let Some(chunk) = chunks.blocking_recv() {
        ingest.write_all(&chunk).map_err(|e| StoreError::Io {
            context: format!("writing blob {}", desc.digest),
            source: e,
        })?;
    }
    // A download that stopped short (it failed, or the pull was
    // interrupted) keeps its partial for the next pull: verifying it now
    // would only discard it.
    if ingest.len() < desc.size {
        return Err(PullError::Layer {
            digest: desc.digest.clone(),
            detail: format!(
                "download stopped after {} of {} bytes",
                ingest.len(),
                desc.size
            ),
        });
    }
    match ingest.commit(Some((&desc.digest, desc.size))) {
        Ok(_) => Ok(()),
        Err(StoreError::Mismatch {
            actual,
            actual_size,
            ..
        }) => Err(PullError::Layer {
            digest: desc.digest.clone(),
            detail: format!("got {actual} ({actual_size} bytes, expected {})", desc.size),
        }),
        Err(e) => Err(e.into()),
    }
}

/// The chunks a download sends, read in place (no copy into a buffer of
/// our own); the end of the channel is the end of the blob.
struct ChannelReader {
    receiver: mpsc::Receiver<Bytes>,
    chunk: Bytes,
}

impl ChannelReader {
    fn new(receiver: mpsc::Receiver<Bytes>) -> ChannelReader {
        ChannelReader {
            receiver,
            chunk: Bytes::new(),
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = buf.len().min(available.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for ChannelReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.chunk.is_empty() {
            match self.receiver.blocking_recv() {
                Some(chunk) => self.chunk = chunk,
                None => break,
            }
        }
        Ok(&self.chunk)
    }

    fn consume(&mut self, n: usize) {
        self.chunk.advance(n);
    }
}

/// The index entry for `wanted`, or an error naming what there is.
fn choose_platform<'i>(index: &'i Index, wanted: &Platform) -> Result<&'i Descriptor> {
    platform::choose(index, wanted, |_| true).ok_or_else(|| {
        let offered = platform::offered(index);
        PullError::NoMatchingPlatform {
            wanted: platform::format(wanted),
            available: if offered.is_empty() {
                "none".into()
            } else {
                offered.join(", ")
            },
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::tests::{index_of, platform};

    #[test]
    fn no_match_names_the_available_platforms() {
        let index = index_of(vec![
            platform("linux", "arm64", None),
            platform("linux", "arm", Some("v7")),
            platform("unknown", "unknown", None),
        ]);
        let err = choose_platform(&index, &platform("linux", "s390x", None)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no matching manifest for linux/s390x in the manifest list entries (available: linux/arm64, linux/arm/v7)"
        );
    }

    #[test]
    fn document_type_falls_back_to_the_body() {
        assert_eq!(
            document_type("application/json", br#"{"schemaVersion":2,"manifests":[]}"#),
            media_type::OCI_INDEX
        );
        assert_eq!(
            document_type("", br#"{"schemaVersion":1,"name":"x"}"#),
            media_type::DOCKER_MANIFEST_V1_SIGNED
        );
        assert_eq!(
            document_type(media_type::DOCKER_MANIFEST, b"{}"),
            media_type::DOCKER_MANIFEST
        );
    }
}
