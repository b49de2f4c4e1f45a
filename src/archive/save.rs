//! Writing an archive in one pass: every entry's size is known before its
//! header is written (layer sizes come from the store's layer info), so
//! stored layers are copied or decompressed straight into the tar stream
//! and nothing is staged on disk or held in memory.

use super::{
    blob_path, oci_manifest, ArchiveError, ReadAhead, Result, INDEX_JSON, MANIFEST_JSON,
    OCI_LAYOUT, REPOSITORIES, REPO_DIGESTS_ANNOTATION,
};
use crate::digest::{Digest, Hasher};
use crate::durable::{AtomicFile, Mode};
use crate::image::{Catalog, Image, ImageError};
use crate::layer::LayerInfo;
use crate::oci::{annotation, media_type, Descriptor, Index};
use crate::reference::Reference;
use crate::store::Store;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::Path;

/// Every entry gets this modification time, so saving the same images twice
/// gives the same bytes. Docker uses it for its own metadata files.
const MTIME: u64 = 0;

/// Where one blob of the archive comes from.
enum Blob {
    /// A manifest generated for the archive.
    Generated(Vec<u8>),
    /// A config, or a layer stored uncompressed (its digest is its diff
    /// ID), copied from the store byte for byte.
    Stored { size: u64 },
    /// A compressed stored layer, written uncompressed as Docker writes
    /// layers; the archive names it by its diff ID.
    Layer { stored: Digest, info: LayerInfo },
}

/// An image picked for saving and the tags it is saved under.
struct Selected {
    image: usize,
    tags: Vec<Reference>,
}

/// Everything an archive holds, worked out before the first byte is
/// written, so that a bad image name fails before any output exists.
pub struct SavePlan {
    store: Store,
    /// Keyed by the blob's digest in the archive; their order is the tar's.
    blobs: BTreeMap<Digest, Blob>,
    /// The top-level documents, sorted by name.
    documents: Vec<(&'static str, Vec<u8>)>,
}

impl SavePlan {
    /// Picks the images `args` name, as `docker save` does: a repository
    /// name without a tag means every tag of it, `name:tag` that tag, and an
    /// image ID (or digest reference) the image without any tag.
    pub fn new(store: &Store, args: &[String]) -> Result<SavePlan> {
        let catalog = Catalog::load(store)?;
        let mut docs = Documents::default();
        let mut blobs = BTreeMap::new();
        for Selected { image, tags } in select(&catalog, args)? {
            let image = &catalog.images()[image];
            let layers = archive_layers(store, image, &mut blobs)?;
            let size = image.manifest.config.size;
            let config = Descriptor::new(media_type::OCI_CONFIG, image.id.clone(), size);
            blobs.insert(image.id.clone(), Blob::Stored { size });
            let (manifest, bytes) = oci_manifest(config, layers.clone())?;
            blobs.insert(manifest.digest.clone(), Blob::Generated(bytes));
            docs.add(image, &tags, &manifest, &layers);
        }
        Ok(SavePlan {
            store: store.clone(),
            blobs,
            documents: docs.finish()?,
        })
    }

    /// Writes the archive to `out` and returns it, flushed.
    pub fn write<W: Write>(&self, out: W) -> Result<W> {
        let mut tar = tar::Builder::new(out);
        for dir in ["blobs/", "blobs/sha256/"] {
            let header = header(dir, 0, tar::EntryType::Directory, 0o755)?;
            tar.append(&header, io::empty()).map_err(write_error)?;
        }
        for (digest, blob) in &self.blobs {
            let path = blob_path(digest);
            match blob {
                Blob::Generated(bytes) => append(&mut tar, &path, bytes.len() as u64, &bytes[..])?,
                Blob::Stored { size } => {
                    append_stored(&mut tar, &path, &self.store, digest, *size)?
                }
                Blob::Layer { stored, info } => {
                    let (blob, size) = self.store.open_blob_sized(stored)?;
                    let reader = ReadAhead::new(blob, Some(size));
                    let reader = self.store.stop().checked(reader);
                    let reader = Verified::new(reader, stored, &info.diff_id, info.tar_size);
                    append(&mut tar, &path, info.tar_size, reader)?
                }
            }
        }
        for (name, bytes) in &self.documents {
            append(&mut tar, name, bytes.len() as u64, &bytes[..])?;
        }
        let mut out = tar.into_inner().map_err(write_error)?;
        out.flush().map_err(write_error)?;
        Ok(out)
    }

    /// Writes the archive to `path` through a temporary file beside it, so
    /// a failure leaves no half-written archive behind. Like Docker's, the
    /// file is 0666 less the umask.
    pub fn write_to_path(&self, path: &Path) -> Result<()> {
        let file = AtomicFile::create(path, Mode::Umask).map_err(ArchiveError::Write)?;
        let out = self.write(io::BufWriter::with_capacity(1 << 20, file.as_file()))?;
        out.into_inner()
            .map_err(|e| ArchiveError::Write(e.into_error()))?;
        file.commit().map_err(ArchiveError::Write)
    }
}

/// The image's layers as the archive holds them, uncompressed and named
/// by diff ID, each added to `blobs` unless another image put it there.
fn archive_layers(
    store: &Store,
    image: &Image,
    blobs: &mut BTreeMap<Digest, Blob>,
) -> Result<Vec<Descriptor>> {
    let mut layers = Vec::new();
    for (i, stored) in image.manifest.layers.iter().enumerate() {
        let info = store.layer_info(stored)?;
        // Other tools check layers against the config's diff IDs.
        if let Some(expected) = image.config.rootfs.diff_ids.get(i) {
            if *expected != info.diff_id {
                let detail = format!("it gives {}", info.diff_id);
                return Err(damaged(&stored.digest, expected, detail));
            }
        }
        layers.push(Descriptor::new(
            media_type::OCI_LAYER,
            info.diff_id.clone(),
            info.tar_size,
        ));
        blobs.entry(info.diff_id.clone()).or_insert_with(|| {
            if stored.digest == info.diff_id {
                Blob::Stored {
                    size: info.tar_size,
                }
            } else {
                Blob::Layer {
                    stored: stored.digest.clone(),
                    info,
                }
            }
        });
    }
    Ok(layers)
}

/// The archive's top-level documents, built up image by image.
#[derive(Default)]
struct Documents {
    index_entries: Vec<Descriptor>,
    manifest_items: Vec<Value>,
    repositories: BTreeMap<String, BTreeMap<String, String>>,
}

impl Documents {
    fn add(
        &mut self,
        image: &Image,
        tags: &[Reference],
        manifest: &Descriptor,
        layers: &[Descriptor],
    ) {
        self.index_entries
            .extend(index_entries(image, tags, manifest));
        if let Some(top) = layers.last() {
            for tag in tags {
                self.repositories
                    .entry(tag.familiar_name())
                    .or_default()
                    .insert(
                        tag.tag().unwrap_or_default().to_string(),
                        top.digest.hex().to_string(),
                    );
            }
        }
        let repo_tags: Vec<String> = tags.iter().map(Reference::familiar_string).collect();
        self.manifest_items.push(json!({
            "Config": blob_path(&image.id),
            // Docker writes null, not [], for an image saved by ID.
            "RepoTags": if repo_tags.is_empty() { Value::Null } else { json!(repo_tags) },
            "Layers": layers.iter().map(|l| blob_path(&l.digest)).collect::<Vec<_>>(),
        }));
    }

    /// The documents with their names, sorted by name as the tar has them.
    fn finish(self) -> Result<Vec<(&'static str, Vec<u8>)>> {
        let index = Index {
            manifests: self.index_entries,
            ..Index::default()
        };
        let mut documents = vec![
            (INDEX_JSON, to_json(&index)?),
            // Docker writes these two with Go's json.Encoder, which ends
            // them with a newline.
            (MANIFEST_JSON, to_json_line(&self.manifest_items)?),
            (OCI_LAYOUT, br#"{"imageLayoutVersion": "1.0.0"}"#.to_vec()),
        ];
        if !self.repositories.is_empty() {
            documents.push((REPOSITORIES, to_json_line(&self.repositories)?));
        }
        Ok(documents)
    }
}

fn select(catalog: &Catalog, args: &[String]) -> Result<Vec<Selected>> {
    let mut selected: Vec<Selected> = Vec::new();
    let mut add = |image: usize, tag: Option<Reference>| {
        let slot = match selected.iter().position(|s| s.image == image) {
            Some(slot) => slot,
            None => {
                selected.push(Selected {
                    image,
                    tags: Vec::new(),
                });
                selected.len() - 1
            }
        };
        let tags = &mut selected[slot].tags;
        if let Some(tag) = tag.filter(|t| !tags.contains(t)) {
            tags.push(tag);
        }
    };
    for arg in args {
        let repository = Reference::parse(arg)
            .ok()
            .filter(|r| r.tag().is_none() && r.digest().is_none());
        let mut whole_repository = false;
        if let Some(repository) = repository {
            for (i, image) in catalog.images().iter().enumerate() {
                for tag in image.tags().filter(|t| t.name() == repository.name()) {
                    add(i, Some(tag.clone()));
                    whole_repository = true;
                }
            }
        }
        if !whole_repository {
            let tagged = Reference::parse(arg).is_ok_and(|r| r.tag().is_some());
            let found = catalog.find(arg).map_err(|e| match e {
                ImageError::NotFound(_) if tagged => ArchiveError::NoReference,
                e => e.into(),
            })?;
            add(found.image, found.by.filter(|r| r.digest().is_none()));
        }
    }
    Ok(selected)
}

/// `index.json` entries for one image, as Docker 25+ writes them: one per
/// tag, with the full name for containerd and the bare tag as the OCI ref
/// name, or one without names for an image saved by ID.
fn index_entries(image: &Image, tags: &[Reference], manifest: &Descriptor) -> Vec<Descriptor> {
    let digests: Vec<String> = image.digests().map(Reference::to_string).collect();
    let entry = |tag: Option<&Reference>| {
        let mut entry = manifest.clone();
        if let Some(tag) = tag {
            entry.annotations.insert(
                annotation::CONTAINERD_IMAGE_NAME.to_string(),
                tag.to_string(),
            );
            entry.annotations.insert(
                annotation::REF_NAME.to_string(),
                tag.tag().unwrap_or_default().to_string(),
            );
        }
        if !digests.is_empty() {
            entry
                .annotations
                .insert(REPO_DIGESTS_ANNOTATION.to_string(), digests.join(","));
        }
        entry
    };
    if tags.is_empty() {
        vec![entry(None)]
    } else {
        tags.iter().map(|t| entry(Some(t))).collect()
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|source| ArchiveError::Json {
        what: "archive metadata".into(),
        source,
    })
}

fn to_json_line<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
    let mut bytes = to_json(value)?;
    bytes.push(b'\n');
    Ok(bytes)
}

fn header(path: &str, size: u64, kind: tar::EntryType, mode: u32) -> Result<tar::Header> {
    let mut header = tar::Header::new_ustar();
    header.set_path(path).map_err(write_error)?;
    header.set_size(size);
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_mtime(MTIME);
    header.set_uid(0);
    header.set_gid(0);
    header.set_cksum();
    Ok(header)
}

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    size: u64,
    data: impl Read,
) -> Result<()> {
    let header = header(path, size, tar::EntryType::Regular, 0o644)?;
    tar.append(&header, data).map_err(write_error)
}

/// Appends a blob copied from the store as it is. It is not hashed again:
/// the store's ingest verified it before naming it by its digest (as
/// `create` and `push` trust it too), `system check` re-hashes every blob
/// to find later damage, and the archive names it by that digest, so every
/// loader (rimg, Docker, podman) refuses it should it be damaged after all.
/// Its size is checked, so the tar stream itself is never broken. Skipping
/// the hash lets `io::copy` move the bytes with `copy_file_range` when the
/// output is a file, and makes saving uncompressed layers several times
/// faster.
fn append_stored<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    store: &Store,
    digest: &Digest,
    size: u64,
) -> Result<()> {
    let (file, actual) = store.open_blob_sized(digest)?;
    if actual != size {
        let detail = format!("it is {actual} bytes, not {size}");
        return Err(damaged(digest, digest, detail));
    }
    // Written past the tar builder, whose `append` copies through `dyn`
    // readers and writers that `io::copy` cannot hand to the kernel; the
    // layout is the builder's: header, data, zeros to a 512-byte block.
    let out = tar.get_mut();
    let header = header(path, size, tar::EntryType::Regular, 0o644)?;
    out.write_all(header.as_bytes())
        .map_err(ArchiveError::Write)?;
    // In chunks, so that an interrupt is noticed between them; each still
    // goes to the kernel in one `copy_file_range` when it can.
    let mut copied = 0;
    while copied < size {
        store.stop().check().map_err(ArchiveError::Write)?;
        let chunk = (size - copied).min(COPY_CHUNK);
        let n = io::copy(&mut (&file).take(chunk), out).map_err(ArchiveError::Write)?;
        if n == 0 {
            break;
        }
        copied += n;
    }
    if copied != size {
        let detail = format!("only {copied} of its {size} bytes could be read");
        return Err(damaged(digest, digest, detail));
    }
    let padding = (BLOCK - size % BLOCK) % BLOCK;
    out.write_all(&[0; BLOCK as usize][..padding as usize])
        .map_err(ArchiveError::Write)
}

/// The tar block size: every entry's data is padded to a multiple of it.
const BLOCK: u64 = 512;

/// How much of a stored blob is copied between checks for an interrupt:
/// a few tens of milliseconds' work.
const COPY_CHUNK: u64 = 16 << 20;

/// An I/O error from the tar writer: either the output failed, or a
/// [`Verified`] reader found the store's data wrong and said so in an
/// [`ArchiveError`] carried inside the I/O error.
fn write_error(e: io::Error) -> ArchiveError {
    e.downcast::<ArchiveError>()
        .unwrap_or_else(ArchiveError::Write)
}

fn damaged(digest: &Digest, expected: &Digest, detail: impl ToString) -> ArchiveError {
    ArchiveError::Damaged {
        digest: digest.clone(),
        expected: expected.clone(),
        detail: detail.to_string(),
    }
}

/// Passes a stored blob through while hashing it, and fails at its end
/// unless it had exactly the expected digest and size. The tar header was
/// written with that size, so without this check a damaged store would
/// give a silently broken archive instead of an error.
struct Verified<'a, R> {
    inner: R,
    /// The store blob read, for the error message.
    stored: &'a Digest,
    expected: &'a Digest,
    size: u64,
    hasher: Hasher,
}

impl<'a, R: Read> Verified<'a, R> {
    fn new(inner: R, stored: &'a Digest, expected: &'a Digest, size: u64) -> Self {
        Verified {
            inner,
            stored,
            expected,
            size,
            hasher: Hasher::new(),
        }
    }

    fn fail(&self, source: io::Error) -> io::Error {
        io::Error::other(damaged(self.stored, self.expected, source))
    }
}

impl<R: Read> Read for Verified<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf).map_err(|e| self.fail(e))?;
        self.hasher.update(&buf[..n]);
        if self.hasher.len() > self.size
            || (n == 0 && self.hasher.clone().finish() != *self.expected)
        {
            let found = format!(
                "read {} bytes with digest {}",
                self.hasher.len(),
                self.hasher.clone().finish()
            );
            return Err(self.fail(io::Error::new(io::ErrorKind::InvalidData, found)));
        }
        Ok(n)
    }
}
