//! Writing new images into the store, for `commit` and `import`: a layer
//! blob gzip-compressed as it streams in while its diff ID is computed,
//! then the config and manifest, then the names. The blobs are written
//! under the caller's lease, which it holds until the image is named.

use crate::digest::{Digest, Hasher};
use crate::layer::{ExtractedSize, LayerInfo};
use crate::oci::{annotation, media_type, Descriptor, ImageConfig, Manifest};
use crate::reference::Reference;
use crate::store::{io_context, Ingest, Lease, Store, StoreError, StoreLock};
use flate2::write::GzEncoder;
use serde_json::Map;
use std::collections::BTreeMap;
use std::io::{self, Write};

/// gzip level for new layers: zlib's default, as `docker push` compresses.
const GZIP_LEVEL: u32 = 6;

/// The uncompressed tar stream of a new layer goes in; a gzip blob (or,
/// for a build step, the tar itself) comes out in the store, with its diff
/// ID and size recorded.
pub struct LayerWriter {
    extracted: ExtractedSize,
    out: Output,
    lease: Lease,
}

enum Output {
    /// The compressed blob, and the tar's hash for the diff ID.
    Gzip(Box<GzEncoder<Ingest>>, Hasher),
    /// Stored as it comes: a build step's layer, as Docker's own store
    /// keeps layers; `push` compresses it once when it goes out. The
    /// blob's digest is the diff ID (hashing the bytes a second time cost
    /// a build step a tenth of its CPU).
    Tar(Box<Ingest>),
}

impl LayerWriter {
    /// A gzip-compressed layer (`commit`, `import`).
    pub fn new(lease: &Lease) -> Result<LayerWriter, StoreError> {
        let gzip = GzEncoder::new(lease.ingest()?, flate2::Compression::new(GZIP_LEVEL));
        Ok(LayerWriter::with(
            lease,
            Output::Gzip(Box::new(gzip), Hasher::new()),
        ))
    }

    /// An uncompressed layer: nothing spent compressing what may never
    /// leave the machine.
    pub fn uncompressed(lease: &Lease) -> Result<LayerWriter, StoreError> {
        Ok(LayerWriter::with(
            lease,
            Output::Tar(Box::new(lease.ingest()?)),
        ))
    }

    fn with(lease: &Lease, out: Output) -> LayerWriter {
        LayerWriter {
            extracted: ExtractedSize::default(),
            out,
            lease: lease.clone(),
        }
    }

    /// Uncompressed bytes written so far.
    pub fn len(&self) -> u64 {
        match &self.out {
            Output::Gzip(_, diff) => diff.len(),
            Output::Tar(ingest) => ingest.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stores the blob; returns its descriptor and what it holds.
    pub fn finish(self) -> Result<(Descriptor, LayerInfo), StoreError> {
        let tar_size = self.len();
        let (ingest, kind, diff_id) = match self.out {
            Output::Gzip(gzip, diff) => (
                gzip.finish().map_err(io_context("compressing the layer"))?,
                media_type::OCI_LAYER_GZIP,
                diff.finish(),
            ),
            Output::Tar(ingest) => {
                let diff_id = ingest.digest();
                (*ingest, media_type::OCI_LAYER, diff_id)
            }
        };
        let info = LayerInfo {
            tar_size,
            diff_id,
            size: self.extracted.size(),
        };
        let size = ingest.len();
        let digest = ingest.commit(None)?;
        self.lease.store().record_layer_info(&digest, &info)?;
        Ok((Descriptor::new(kind, digest, size), info))
    }
}

impl Write for LayerWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Checked here too: a layer that compresses well writes to its
        // ingest only now and then.
        self.lease.store().stop().check()?;
        let n = match &mut self.out {
            Output::Gzip(gzip, diff) => {
                let n = gzip.write(buf)?;
                diff.update(&buf[..n]);
                n
            }
            Output::Tar(ingest) => ingest.write(buf)?,
        };
        self.extracted.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.out {
            Output::Gzip(gzip, _) => gzip.flush(),
            Output::Tar(ingest) => ingest.flush(),
        }
    }
}

/// A new image's manifest and config, stored but not yet named.
pub struct NewImage {
    pub id: Digest,
    pub manifest: Descriptor,
}

/// Stores `config` and a manifest listing `layers` under `lease`; register
/// it with [`name_image`] (or [`super::register`]) to make it visible.
pub fn store_image(
    lease: &Lease,
    config: &ImageConfig,
    layers: Vec<Descriptor>,
) -> Result<NewImage, StoreError> {
    let json = |what: &str, source| StoreError::Json {
        what: what.to_string(),
        source,
    };
    let config_bytes = serde_json::to_vec(config).map_err(|e| json("image config", e))?;
    let id = lease.put_blob(&config_bytes)?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(media_type::OCI_MANIFEST.to_string()),
        config: Descriptor::new(
            media_type::OCI_CONFIG,
            id.clone(),
            config_bytes.len() as u64,
        ),
        layers,
        annotations: BTreeMap::new(),
        extra: Map::new(),
    };
    let manifest_bytes = serde_json::to_vec(&manifest).map_err(|e| json("manifest", e))?;
    let manifest_digest = lease.put_blob(&manifest_bytes)?;
    Ok(NewImage {
        id,
        manifest: Descriptor::new(
            media_type::OCI_MANIFEST,
            manifest_digest,
            manifest_bytes.len() as u64,
        ),
    })
}

/// Names a stored image (or keeps it untagged) while the caller holds the
/// lock, so it can record what uses the image in the same step. A name
/// given is Docker's `LastTagTime`; `parent` (`commit`'s image) its
/// `Parent`.
pub fn name_image(
    store: &Store,
    lock: &StoreLock,
    image: &NewImage,
    names: &[Reference],
    parent: Option<&Digest>,
) -> Result<(), StoreError> {
    let mut annotations = Vec::new();
    if !names.is_empty() {
        annotations.push((annotation::LAST_TAGGED, super::now()));
    }
    if let Some(parent) = parent {
        annotations.push((annotation::PARENT, parent.to_string()));
    }
    super::register_locked(store, lock, &image.manifest, names, &annotations)
}
