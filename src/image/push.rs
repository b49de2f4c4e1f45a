//! `rimg push`: sends an image's layers, config and manifest to a
//! registry and records the pushed manifest's digest as a repo digest.
//!
//! Layers go up concurrently. A layer the repository already has is
//! skipped, one that another repository of the same registry holds (by
//! this store's repo digests) is mounted from there, the rest are
//! uploaded. Uncompressed layers (from `load`, `commit`) are gzipped into
//! the store first: the compressed digest must be known before the
//! manifest can name it, a spill through the store keeps memory flat, and
//! keeping the result lets the next push send the very same blob. A lease
//! protects those blobs, and the pushed manifest, until it is registered.

use crate::digest::Digest;
use crate::image::{self, Catalog, Image};
use crate::layer::{Compression, ExtractedSize, LayerInfo};
use crate::oci::{media_type, Descriptor};
use crate::progress::{Board, Progress};
use crate::reference::{Reference, ReferenceError};
use crate::registry::upload::Mount;
use crate::registry::{Client, RegistryError, Repository};
use crate::store::{Lease, Store, StoreError};
use bytes::Bytes;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use std::io::{self, Read, Write};

/// Docker's default `max-concurrent-uploads`.
pub const DEFAULT_MAX_CONCURRENT_UPLOADS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("An image does not exist locally with the tag: {0}")]
    NotFound(String),
    #[error("tag does not exist: {0}")]
    NoTags(String),
    #[error("tag can't be used with --all-tags/-a")]
    TagWithAllTags,
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error("image {image}: {layers} layers but {diff_ids} diff IDs in its config")]
    Invalid {
        image: Digest,
        layers: usize,
        diff_ids: usize,
    },
    // `source` is the cause `{:#}` prints after the message.
    #[error("compressing layer {digest}")]
    Compress { digest: Digest, source: io::Error },
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = PushError> = std::result::Result<T, E>;

#[derive(Clone, Debug)]
pub struct PushOptions {
    pub all_tags: bool,
    pub max_concurrent_uploads: usize,
}

/// What one tag's push produced.
#[derive(Clone, Debug)]
pub struct Pushed {
    pub reference: Reference,
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
}

/// Pushes `reference` (a tag, or with `all_tags` every local tag of its
/// repository).
pub async fn push(
    store: &Store,
    client: &Client,
    reference: &Reference,
    options: &PushOptions,
    progress: &Progress,
) -> Result<Vec<Pushed>> {
    if options.all_tags && reference.tag().is_some() {
        return Err(PushError::TagWithAllTags);
    }
    let catalog = Catalog::load(store)?;
    let targets = targets(&catalog, reference, options.all_tags)?;
    progress.line(&format!(
        "The push refers to repository [{}]",
        reference.name()
    ));
    let repo = client
        .push_repository(reference.domain(), reference.path())
        .await?;
    let pusher = Pusher {
        store,
        client,
        catalog: &catalog,
        repo: &repo,
        target: reference,
        options,
    };
    let mut pushed = Vec::new();
    for (tag, image) in targets {
        let result = pusher.push_image(image, &tag, progress).await?;
        progress.line(&format!(
            "{}: digest: {} size: {}",
            tag.tag().unwrap_or("latest"),
            result.digest,
            result.size
        ));
        pushed.push(result);
    }
    Ok(pushed)
}

/// Pushes the local image `image` into `target`'s repository without a
/// tag, by digest: `manifest push` does so with a list's local elements.
pub async fn push_by_digest(
    store: &Store,
    client: &Client,
    image: &Reference,
    target: &Reference,
    progress: &Progress,
) -> Result<Pushed> {
    let catalog = Catalog::load(store)?;
    let (_, found) = targets(&catalog, image, false)?
        .pop()
        .ok_or_else(|| PushError::NotFound(image.name()))?;
    let repo = client
        .push_repository(target.domain(), target.path())
        .await?;
    let options = PushOptions {
        all_tags: false,
        max_concurrent_uploads: DEFAULT_MAX_CONCURRENT_UPLOADS,
    };
    let pusher = Pusher {
        store,
        client,
        catalog: &catalog,
        repo: &repo,
        target,
        options: &options,
    };
    pusher
        .push_image(found, &target.name_only(), progress)
        .await
}

/// The tags to push and their images.
fn targets<'c>(
    catalog: &'c Catalog,
    reference: &Reference,
    all_tags: bool,
) -> Result<Vec<(Reference, &'c Image)>> {
    if !all_tags {
        let found = catalog
            .images()
            .iter()
            .find(|image| image.refs.contains(reference))
            .ok_or_else(|| PushError::NotFound(reference.name()))?;
        return Ok(vec![(reference.clone(), found)]);
    }
    let name = reference.name();
    let mut found: Vec<(Reference, &Image)> = catalog
        .images()
        .iter()
        .flat_map(|image| {
            image
                .tags()
                .filter(|r| r.name() == name)
                .map(move |r| (r.clone(), image))
        })
        .collect();
    found.sort_by_key(|(r, _)| r.to_string());
    if found.is_empty() {
        return Err(PushError::NotFound(name));
    }
    Ok(found)
}

struct Pusher<'a> {
    store: &'a Store,
    client: &'a Client,
    catalog: &'a Catalog,
    repo: &'a Repository,
    /// The repository pushed to, as the user named it.
    target: &'a Reference,
    options: &'a PushOptions,
}

/// A layer as it goes to the registry.
struct Outgoing {
    descriptor: Descriptor,
    diff_id: Digest,
}

impl Pusher<'_> {
    async fn push_image(
        &self,
        image: &Image,
        tag: &Reference,
        progress: &Progress,
    ) -> Result<Pushed> {
        let diff_ids = &image.config.rootfs.diff_ids;
        if diff_ids.len() != image.manifest.layers.len() {
            return Err(PushError::Invalid {
                image: image.id.clone(),
                layers: image.manifest.layers.len(),
                diff_ids: diff_ids.len(),
            });
        }
        let manifest_type = manifest_media_type(image);
        let lease = self.store.lease()?;
        let board = progress.board();
        let mut seen = std::collections::HashSet::new();
        let unique: Vec<(&Descriptor, &Digest)> = image
            .manifest
            .layers
            .iter()
            .zip(diff_ids)
            .filter(|(layer, _)| seen.insert(layer.digest.clone()))
            .collect();
        let outgoing: Vec<Outgoing> = stream::iter(unique.into_iter().map(|(layer, diff_id)| {
            self.push_layer(layer, diff_id, &manifest_type, &board, &lease)
        }))
        .buffered(self.options.max_concurrent_uploads.max(1))
        .try_collect()
        .await?;
        drop(board);

        let config = &image.manifest.config;
        if !self.client.blob_exists(self.repo, &config.digest).await? {
            let upload = self.client.start_upload(self.repo).await?;
            let path = self.store.blob_path(&config.digest);
            self.client
                .upload_blob(
                    self.repo,
                    upload,
                    &path,
                    &config.digest,
                    config.size,
                    &|_| {},
                )
                .await?;
        }

        let bytes = self.manifest_bytes(image, &outgoing)?;
        let digest = lease.put_blob(&bytes)?;
        // A reference without a tag (`push_by_digest`) is pushed by digest.
        self.client
            .put_manifest(
                self.repo,
                tag.tag().unwrap_or(digest.as_str()),
                &manifest_type,
                bytes.clone(),
            )
            .await?;
        let descriptor = Descriptor::new(&manifest_type, digest.clone(), bytes.len() as u64);
        let repo_digest = tag.with_digest(digest.as_str())?;
        image::register(self.store, &descriptor, &[repo_digest])?;
        Ok(Pushed {
            reference: tag.clone(),
            digest,
            size: bytes.len() as u64,
            media_type: manifest_type,
        })
    }

    /// The manifest to push: the stored bytes themselves when every layer
    /// goes up as stored (so the digest is the one already known), else
    /// the manifest with the compressed layers' descriptors.
    fn manifest_bytes(&self, image: &Image, outgoing: &[Outgoing]) -> Result<Bytes> {
        let replaced: std::collections::HashMap<&Digest, &Descriptor> = image
            .manifest
            .layers
            .iter()
            .map(|l| &l.digest)
            .zip(image.config.rootfs.diff_ids.iter())
            .filter_map(|(digest, diff_id)| {
                let out = outgoing.iter().find(|o| &o.diff_id == diff_id)?;
                (out.descriptor.digest != *digest).then_some((digest, &out.descriptor))
            })
            .collect();
        if replaced.is_empty() && media_type::is_manifest(&image.descriptor.media_type) {
            return Ok(Bytes::from(self.store.read_blob(&image.descriptor.digest)?));
        }
        let mut manifest = image.manifest.clone();
        for layer in &mut manifest.layers {
            if let Some(new) = replaced.get(&layer.digest) {
                *layer = (*new).clone();
            }
        }
        serde_json::to_vec_pretty(&manifest)
            .map(Bytes::from)
            .map_err(|e| PushError::Internal(format!("serializing the manifest: {e}")))
    }

    async fn push_layer(
        &self,
        layer: &Descriptor,
        diff_id: &Digest,
        manifest_type: &str,
        board: &Board,
        lease: &Lease,
    ) -> Result<Outgoing> {
        let line = board.layer(diff_id);
        line.status("Preparing");
        let descriptor = self
            .registry_blob(layer, diff_id, manifest_type, lease)
            .await?;
        let out = Outgoing {
            descriptor: descriptor.clone(),
            diff_id: diff_id.clone(),
        };
        if self
            .client
            .blob_exists(self.repo, &descriptor.digest)
            .await?
        {
            line.finish("Layer already exists");
            return Ok(out);
        }
        // Each refused mount opens an upload session: the last one carries
        // the upload, the others are given back.
        let mut upload = None;
        for from in self.mount_sources(diff_id, descriptor.size) {
            if let Some(unused) = upload.take() {
                self.client.cancel_upload(self.repo, unused).await;
            }
            match self
                .client
                .mount_blob(self.repo, &descriptor.digest, &from)
                .await?
            {
                Mount::Mounted => {
                    line.finish(&format!("Mounted from {from}"));
                    return Ok(out);
                }
                Mount::Upload(opened) => upload = Some(opened),
            }
        }
        let upload = match upload {
            Some(upload) => upload,
            None => self.client.start_upload(self.repo).await?,
        };
        line.pushing(descriptor.size);
        let path = self.store.blob_path(&descriptor.digest);
        self.client
            .upload_blob(
                self.repo,
                upload,
                &path,
                &descriptor.digest,
                descriptor.size,
                &|n| line.advance(n),
            )
            .await?;
        line.finish("Pushed");
        Ok(out)
    }

    /// Other repositories on the same registry that this store knows (by
    /// repo digests) to hold an image with the layer: those sharing the
    /// most leading path components with the target first, and no more
    /// than Docker tries for a blob of this size.
    fn mount_sources(&self, diff_id: &Digest, size: u64) -> Vec<String> {
        let target = self.target.path();
        let mut found: Vec<&str> = Vec::new();
        let known = self
            .catalog
            .images()
            .iter()
            .filter(|image| image.config.rootfs.diff_ids.contains(diff_id))
            .flat_map(|image| image.digests())
            .filter(|r| r.domain() == self.target.domain() && r.path() != target);
        for r in known {
            if !found.contains(&r.path()) {
                found.push(r.path());
            }
        }
        let shared = |path: &str| {
            path.split('/')
                .zip(target.split('/'))
                .take_while(|(a, b)| a == b)
                .count()
        };
        found.sort_by_key(|path| std::cmp::Reverse(shared(path)));
        found.truncate(mount_attempts(size));
        found.into_iter().map(String::from).collect()
    }

    /// The blob a layer goes up as: the stored blob when it is compressed,
    /// else a gzip of it made (once) in the store, leased.
    async fn registry_blob(
        &self,
        layer: &Descriptor,
        diff_id: &Digest,
        manifest_type: &str,
        lease: &Lease,
    ) -> Result<Descriptor> {
        let store = self.store.clone();
        let lease = lease.clone();
        let layer = layer.clone();
        let diff_id = diff_id.clone();
        let gzip_type = if manifest_type == media_type::DOCKER_MANIFEST {
            media_type::DOCKER_LAYER_GZIP
        } else {
            media_type::OCI_LAYER_GZIP
        };
        tokio::task::spawn_blocking(move || -> Result<Descriptor> {
            if !is_uncompressed(&store, &layer.digest)? {
                return Ok(layer);
            }
            let digest = match store.compressed_variant(&layer.digest) {
                Some(digest) if lease.reuse(&digest)? => digest,
                _ => gzip_into_store(&lease, &layer, &diff_id)?,
            };
            let path = store.blob_path(&digest);
            let size = std::fs::metadata(&path)
                .map_err(|source| PushError::Compress {
                    digest: layer.digest.clone(),
                    source,
                })?
                .len();
            Ok(Descriptor::new(gzip_type, digest, size))
        })
        .await
        .map_err(|e| PushError::Internal(e.to_string()))?
    }
}

fn is_uncompressed(store: &Store, digest: &Digest) -> Result<bool> {
    let mut head = [0u8; 8];
    let mut file = store.open_blob(digest)?;
    let mut filled = 0;
    while filled < head.len() {
        match file.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(PushError::Compress {
                    digest: digest.clone(),
                    source,
                })
            }
        }
    }
    Ok(Compression::sniff(&head[..filled]) == Compression::None)
}

/// Gzips an uncompressed layer into a new store blob. The gzip header is
/// fixed (no name, mtime 0) so the same layer always gives the same blob.
/// Level 1: a registry push is bound by this step, and the size gained
/// by higher levels is small next to the time they cost.
fn gzip_into_store(lease: &Lease, layer: &Descriptor, diff_id: &Digest) -> Result<Digest> {
    let store = lease.store();
    let compress_error = |source| PushError::Compress {
        digest: layer.digest.clone(),
        source,
    };
    let mut input = store.open_blob(&layer.digest)?;
    let ingest = lease.ingest()?;
    let mut encoder = flate2::GzBuilder::new()
        .mtime(0)
        .write(ingest, flate2::Compression::fast());
    let mut buf = vec![0; 1 << 20];
    let mut size = 0u64;
    let mut extracted = ExtractedSize::default();
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(compress_error(e)),
        };
        encoder.write_all(&buf[..n]).map_err(compress_error)?;
        extracted.update(&buf[..n]);
        size += n as u64;
    }
    let ingest = encoder.finish().map_err(compress_error)?;
    let digest = ingest.commit(None)?;
    store.record_layer_info(
        &digest,
        &LayerInfo {
            diff_id: diff_id.clone(),
            tar_size: size,
            size: extracted.size(),
        },
    )?;
    store.record_compressed_variant(&layer.digest, &digest)?;
    Ok(digest)
}

/// How many repositories Docker tries to mount a blob from: more for a
/// bigger blob, whose upload a failed attempt's round trip costs less.
fn mount_attempts(size: u64) -> usize {
    match size {
        s if s > 10 << 20 => 4,
        s if s > 100 << 10 => 3,
        _ => 1,
    }
}

/// The type the manifest is pushed as: its own.
fn manifest_media_type(image: &Image) -> String {
    if media_type::is_manifest(&image.descriptor.media_type) {
        return image.descriptor.media_type.clone();
    }
    image
        .manifest
        .media_type
        .clone()
        .unwrap_or_else(|| media_type::OCI_MANIFEST.to_string())
}
