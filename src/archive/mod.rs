//! `save` and `load`: image archives, the tar files `docker save` writes
//! and `docker load` reads.
//!
//! rimg writes the format Docker 25+ writes, which every mainstream tool
//! reads: an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/`)
//! that also carries Docker's `manifest.json` and `repositories`, with
//! layers uncompressed. It reads that format, Docker's legacy one
//! (`<id>/layer.tar`, `<config>.json`), plain OCI layout archives and
//! Podman's docker-archive, compressed or not.

mod load;
mod save;

pub use load::{load, Loaded};
pub use save::SavePlan;

use crate::digest::Digest;
use crate::image::ImageError;
use crate::layer;
use crate::oci::{media_type, Descriptor, Manifest};
use crate::store::Store;
use crate::store::StoreError;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::sync::mpsc;
use std::thread;

/// Loads from an open file or pipe (`-i FILE`, or stdin). A regular
/// file's size (`< archive.tar.zst` is one too) bounds what the archive may
/// expand to; a pipe's is learnt as it is read. Reads stop when the
/// store's stop is requested, even while a pipe is silent.
pub fn load_file(store: &Store, file: File) -> Result<Vec<Loaded>, ArchiveError> {
    let size = file
        .metadata()
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len());
    load(store, store.stop().watch(file), size)
}

/// Docker's list of images, with paths to each config and layer.
const MANIFEST_JSON: &str = "manifest.json";
/// The OCI layout's index of manifests.
const INDEX_JSON: &str = "index.json";
const OCI_LAYOUT: &str = "oci-layout";
/// Docker's pre-1.10 `{"name":{"tag":"id"}}` map, still written for old
/// loaders.
const REPOSITORIES: &str = "repositories";
/// Where an OCI layout keeps blobs: `blobs/sha256/<hex>`.
const BLOB_DIR: &str = "blobs/sha256";

/// rimg's own annotation on an `index.json` entry: the image's repo
/// digests (`docker.io/library/app@sha256:…`, comma separated). Saved
/// layers are uncompressed, so the archive's manifest is not the one those
/// digests name, and nothing in Docker's format records them; other tools
/// ignore unknown annotations.
const REPO_DIGESTS_ANNOTATION: &str = "io.github.rimg.image.repo-digests";

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Image(#[from] ImageError),
    /// `save NAME:TAG` of a tag no image has: Docker's reference store's
    /// words.
    #[error("reference does not exist")]
    NoReference,
    // The I/O error is part of the message, not a source: `{:#}` would
    // print it twice.
    #[error("writing the archive: {0}")]
    Write(io::Error),
    #[error("reading the archive: {0}")]
    Read(io::Error),
    #[error("the input is not a tar archive (plain, or gzip, bzip2, xz or zstd compressed)")]
    NotATar,
    #[error("the archive is empty")]
    Empty,
    #[error("the archive holds no manifest.json or index.json: it is not an image archive")]
    NotAnImageArchive,
    #[error("archive entry {0:?} has an unsafe path (absolute, or with '..')")]
    UnsafePath(String),
    #[error("archive entry {path:?} is a link to {target:?}, outside the archive")]
    LinkOutside { path: String, target: String },
    #[error("the archive is truncated: it ends inside entry {0:?}")]
    Truncated(String),
    #[error("archive entry {path:?} is too large")]
    Expanded {
        path: String,
        #[source]
        source: layer::Expanded,
    },
    #[error("archive entry {0:?} appears more than once")]
    Duplicate(String),
    #[error("archive entry {path:?} is a {kind}, which image archives never hold")]
    UnsupportedEntry { path: String, kind: String },
    #[error("archive entry {path:?} is {size} bytes, more than the {limit}-byte limit for JSON documents")]
    TooLarge { path: String, size: u64, limit: u64 },
    #[error("{referrer} refers to {path:?}, which is not in the archive")]
    Missing { referrer: String, path: String },
    #[error("{referrer} refers to blob {digest}, which is not in the archive")]
    MissingBlob { referrer: String, digest: Digest },
    #[error("archive entry {path:?}")]
    Entry {
        path: String,
        #[source]
        source: StoreError,
    },
    #[error("{what}: invalid JSON")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("image {id}: its config lists {expected} layers but the archive gives {actual}")]
    LayerCount {
        id: Digest,
        expected: usize,
        actual: usize,
    },
    #[error("image {id}: layer {index} has diff ID {actual}, but the config expects {expected}")]
    DiffIdMismatch {
        id: Digest,
        index: usize,
        expected: Digest,
        actual: Digest,
    },
    #[error("layer {0} is compressed with {1}; only plain, gzip and zstd layers can be stored")]
    UnsupportedLayerCompression(Digest, &'static str),
    #[error("{0} is an image index; archives of multi-platform images are not supported")]
    NestedIndex(Digest),
    #[error("{referrer} says {digest} is {declared} bytes, but it is {actual}")]
    WrongSize {
        referrer: String,
        digest: Digest,
        declared: u64,
        actual: u64,
    },
    #[error("invalid image name {name:?} in {referrer}")]
    BadName {
        name: String,
        referrer: String,
        #[source]
        source: crate::reference::ReferenceError,
    },
    #[error("stored blob {digest} is damaged: it should give {expected}, but {detail}")]
    Damaged {
        digest: Digest,
        expected: Digest,
        detail: String,
    },
}

pub type Result<T, E = ArchiveError> = std::result::Result<T, E>;

/// Where an archive keeps the blob `digest`.
fn blob_path(digest: &Digest) -> String {
    format!("{BLOB_DIR}/{}", digest.hex())
}

/// The OCI manifest for an image as an archive holds it (and as `load`
/// stores an image from Docker's `manifest.json`): the config as it is and
/// the layers as given. Returns its descriptor and bytes.
fn oci_manifest(config: Descriptor, layers: Vec<Descriptor>) -> Result<(Descriptor, Vec<u8>)> {
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(media_type::OCI_MANIFEST.to_string()),
        config,
        layers,
        annotations: Default::default(),
        extra: Default::default(),
    };
    let bytes = serde_json::to_vec(&manifest).map_err(|source| ArchiveError::Json {
        what: "image manifest".into(),
        source,
    })?;
    let descriptor = Descriptor::new(
        media_type::OCI_MANIFEST,
        Digest::of(&bytes),
        bytes.len() as u64,
    );
    Ok((descriptor, bytes))
}

/// How far a [`ReadAhead`] runs ahead: this many chunks of `CHUNK` bytes.
const AHEAD: usize = 4;
const CHUNK: usize = 256 << 10;

/// Reads and decompresses (gzip, zstd, bzip2, xz or plain, sniffed) a
/// stream on a second thread, a few chunks ahead of the reader. Saving
/// decompresses a stored layer while the archive is hashed and written;
/// loading decompresses the input while its entries are hashed and
/// stored: either way both cores work. Memory stays at a few chunks.
struct ReadAhead {
    /// Taken on drop: the thread's next send then fails and it stops.
    chunks: Option<mpsc::Receiver<io::Result<Vec<u8>>>>,
    thread: Option<thread::JoinHandle<()>>,
    current: Vec<u8>,
    pos: usize,
}

impl ReadAhead {
    /// `compressed_size` bounds the expansion; see [`layer::decompress`].
    fn new(input: impl Read + Send + 'static, compressed_size: Option<u64>) -> ReadAhead {
        let (tx, chunks) = mpsc::sync_channel(AHEAD);
        // The thread ends at the end of the stream, on an error, or when
        // the reader is dropped.
        let thread = thread::spawn(move || {
            let input = BufReader::with_capacity(1 << 20, input);
            let mut reader = match layer::decompress(input, compressed_size) {
                Ok(reader) => reader,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            loop {
                let mut chunk = Vec::with_capacity(CHUNK);
                let chunk = match (&mut reader).take(CHUNK as u64).read_to_end(&mut chunk) {
                    Ok(0) => return,
                    Ok(_) => Ok(chunk),
                    Err(e) => Err(e),
                };
                let failed = chunk.is_err();
                if tx.send(chunk).is_err() || failed {
                    return;
                }
            }
        });
        ReadAhead {
            chunks: Some(chunks),
            thread: Some(thread),
            current: Vec::new(),
            pos: 0,
        }
    }
}

impl Read for ReadAhead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.current.len() {
            match self.chunks.as_ref().map(mpsc::Receiver::recv) {
                Some(Ok(chunk)) => {
                    self.current = chunk?;
                    self.pos = 0;
                }
                // The thread finished: the end of the stream.
                Some(Err(mpsc::RecvError)) | None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Drop for ReadAhead {
    /// Stops the thread and waits for it, so none outlives its reader
    /// (a library caller's process may go on for long after a failed load).
    fn drop(&mut self) {
        self.chunks = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
