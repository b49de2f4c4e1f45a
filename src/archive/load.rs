//! Reading an archive in one pass. Docker's archives put `manifest.json`
//! and `index.json` last, after the blobs, so every file entry goes
//! straight into the store as a blob while it streams by: entries named
//! `blobs/sha256/<hex>` are verified against that digest on the way in,
//! and the rest (legacy `layer.tar` files) are hashed so the images'
//! configs can check them later. Only once every image of the archive has
//! been verified is anything named; blobs the load added that no image
//! ends up using, all of them if it failed, are removed again.

use super::{
    blob_path, oci_manifest, ArchiveError, ReadAhead, Result, BLOB_DIR, INDEX_JSON, MANIFEST_JSON,
    REPO_DIGESTS_ANNOTATION,
};
use crate::digest::Digest;
use crate::image::{self, entry_ref};
use crate::layer::{self, Compression, ExtractedSize, LayerInfo};
use crate::oci::{media_type, Descriptor, ImageConfig, Index, Manifest};
use crate::reference::Reference;
use crate::store::{io_context, Ingest, Lease, Store, StoreError, MAX_JSON_BLOB};
use crate::tar_guard::TarGuard;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::sync::mpsc;
use std::thread;

/// A chain of links longer than this is taken for a loop.
const MAX_LINK_DEPTH: usize = 16;

/// What `load` added, in the order Docker prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Loaded {
    /// An image now known by this tag.
    Tag(Reference),
    /// An image loaded without a tag, by its ID.
    Id(Digest),
}

/// Loads every image of the archive `input` (plain or compressed tar) into
/// the store. Either all of them are verified and named, or the store is
/// left as it was. `input_size`, when known (a file rather than a pipe),
/// bounds how far a compressed archive may expand (see
/// [`layer::expansion_limit`]) before any of it is read.
pub fn load(
    store: &Store,
    input: impl Read + Send + 'static,
    input_size: Option<u64>,
) -> Result<Vec<Loaded>> {
    let mut input = BufReader::new(ReadAhead::new(input, input_size));
    if input.fill_buf().map_err(ArchiveError::Read)?.is_empty() {
        return Err(ArchiveError::Empty);
    }
    let mut staging = Staging::new(store)?;
    let contents = read_entries(input, &mut staging, input_size)?;
    staging.flush()?;
    let images = match (&contents.manifest_json, &contents.index_json) {
        // Docker reads manifest.json when there is one, and so does rimg:
        // it is the one document every archive writer agrees on.
        (Some(manifest_json), _) => from_manifest_json(&contents, &mut staging, manifest_json)?,
        (None, Some(index_json)) => from_index_json(&contents, store, index_json)?,
        (None, None) => return Err(ArchiveError::NotAnImageArchive),
    };
    let mut loaded = Vec::new();
    for image in &images {
        image::register(store, &image.manifest, &image.names)?;
        let tags: Vec<Loaded> = image
            .names
            .iter()
            .filter(|n| n.digest().is_none())
            .map(|n| Loaded::Tag(n.clone()))
            .collect();
        if tags.is_empty() {
            loaded.push(Loaded::Id(image.id.clone()));
        }
        loaded.extend(tags);
    }
    staging.finish()?;
    Ok(loaded)
}

/// A file of the archive, now a blob in the store.
#[derive(Clone, Debug)]
struct FileEntry {
    digest: Digest,
    size: u64,
    /// What the file measures as an uncompressed layer once extracted,
    /// followed as it was stored; `None` for a blob the store had.
    extracted: Option<u64>,
}

/// What the archive held, once read through.
#[derive(Default)]
struct Contents {
    files: HashMap<String, FileEntry>,
    /// Link entries, by path, with the path they point at.
    links: HashMap<String, String>,
    manifest_json: Option<Vec<u8>>,
    index_json: Option<Vec<u8>>,
}

impl Contents {
    /// The file at `path` (relative to the archive's root), following links.
    fn file(&self, path: &str, referrer: &str) -> Result<&FileEntry> {
        let missing = || ArchiveError::Missing {
            referrer: referrer.to_string(),
            path: path.to_string(),
        };
        let mut current = resolve("", path).ok_or_else(missing)?;
        for _ in 0..MAX_LINK_DEPTH {
            if let Some(file) = self.files.get(&current) {
                return Ok(file);
            }
            match self.links.get(&current) {
                Some(target) => current = target.clone(),
                None => break,
            }
        }
        Err(missing())
    }

    /// The blob `digest` under `blobs/sha256/`.
    fn blob(&self, digest: &Digest, referrer: &str) -> Result<&FileEntry> {
        self.file(&blob_path(digest), referrer)
            .map_err(|_| ArchiveError::MissingBlob {
                referrer: referrer.to_string(),
                digest: digest.clone(),
            })
    }

    /// The blob `descriptor` names, which must be as long as it says: a
    /// wrong size would load, then fail `save` and `push`.
    fn described(&self, descriptor: &Descriptor, referrer: &str) -> Result<&FileEntry> {
        let file = self.blob(&descriptor.digest, referrer)?;
        if file.size != descriptor.size {
            return Err(ArchiveError::WrongSize {
                referrer: referrer.to_string(),
                digest: descriptor.digest.clone(),
                declared: descriptor.size,
                actual: file.size,
            });
        }
        Ok(file)
    }
}

/// An image verified and ready to be named.
struct VerifiedImage {
    id: Digest,
    manifest: Descriptor,
    /// Tags and repo digests.
    names: Vec<Reference>,
}

/// Reads the archive's entries. With the input's size known, an entry
/// that would end past what the archive may expand to is refused from its
/// header, before its data fills the disk.
fn read_entries(
    input: impl Read,
    staging: &mut Staging,
    input_size: Option<u64>,
) -> Result<Contents> {
    let mut contents = Contents::default();
    let mut seen = HashSet::new();
    let mut first = true;
    let mut archive = tar::Archive::new(TarGuard::new(input));
    for entry in archive.entries().map_err(ArchiveError::Read)? {
        // tar's own complaints (kind Other) about the very first header
        // mean the input is no tar at all; later ones, or a decompressor's,
        // are worth showing as they are.
        let mut entry = entry.map_err(|e| match e.kind() {
            io::ErrorKind::Other if first => ArchiveError::NotATar,
            _ => ArchiveError::Read(e),
        })?;
        first = false;
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            continue;
        }
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let path = entry_path(&raw)?;
        if kind.is_dir() {
            continue;
        }
        if path.is_empty() {
            return Err(ArchiveError::UnsafePath(raw));
        }
        if !seen.insert(path.clone()) {
            return Err(ArchiveError::Duplicate(path));
        }
        if kind.is_symlink() || kind.is_hard_link() {
            let target = link_target(&entry, &path)?;
            contents.links.insert(path, target);
            continue;
        }
        if !kind.is_file() && !kind.is_contiguous() {
            return Err(ArchiveError::UnsupportedEntry {
                path,
                kind: format!("{kind:?}"),
            });
        }
        let size = entry.size();
        if let Some(input_size) = input_size {
            let end = entry.raw_file_position().saturating_add(size);
            layer::Expanded::check(end, input_size).map_err(|source| ArchiveError::Expanded {
                path: path.clone(),
                source,
            })?;
        }
        let document = match path.as_str() {
            MANIFEST_JSON => &mut contents.manifest_json,
            INDEX_JSON => &mut contents.index_json,
            _ if is_unused(&path) => continue,
            _ => {
                let digest = path
                    .strip_prefix(BLOB_DIR)
                    .and_then(|rest| rest.strip_prefix('/'))
                    .and_then(|hex| Digest::parse(&format!("sha256:{hex}")).ok());
                let file = staging.ingest(&mut entry, digest.as_ref(), size, &path)?;
                contents.files.insert(path, file);
                continue;
            }
        };
        *document = Some(read_document(&mut entry, path, size)?);
    }
    Ok(contents)
}

/// Where a link entry points, as a path from the archive's root. A
/// symlink's target is relative to its own directory, a hard link's to the
/// root. Docker's legacy archives link a layer saved twice to its first
/// copy (`../<id>/layer.tar`); links that leave the archive are refused.
fn link_target(entry: &tar::Entry<impl Read>, path: &str) -> Result<String> {
    let target = entry
        .link_name_bytes()
        .map(|t| String::from_utf8_lossy(&t).into_owned())
        .unwrap_or_default();
    let base = if entry.header().entry_type().is_symlink() {
        path.rsplit_once('/').map_or("", |(dir, _)| dir)
    } else {
        ""
    };
    resolve(base, &target).ok_or_else(|| ArchiveError::LinkOutside {
        path: path.to_string(),
        target,
    })
}

/// Reads `manifest.json` or `index.json` whole, refusing one over
/// `MAX_JSON_BLOB` before reading any of it.
fn read_document(entry: &mut impl Read, path: String, size: u64) -> Result<Vec<u8>> {
    if size > MAX_JSON_BLOB {
        return Err(ArchiveError::TooLarge {
            path,
            size,
            limit: MAX_JSON_BLOB,
        });
    }
    let mut bytes = Vec::with_capacity(size as usize);
    entry.read_to_end(&mut bytes).map_err(ArchiveError::Read)?;
    if (bytes.len() as u64) < size {
        return Err(ArchiveError::Truncated(path));
    }
    Ok(bytes)
}

/// Entries no loader reads: the OCI layout marker, Docker's pre-1.10
/// `repositories`, and each legacy layer's `json` and `VERSION`. tar skips
/// their data.
fn is_unused(path: &str) -> bool {
    matches!(path, super::OCI_LAYOUT | super::REPOSITORIES)
        || path
            .rsplit_once('/')
            .is_some_and(|(dir, name)| !dir.contains('/') && matches!(name, "json" | "VERSION"))
}

/// An entry's path, normalized (`./a//b` is `a/b`). Paths that are
/// absolute or climb with `..` are refused outright, though rimg never
/// extracts anything: no legitimate archive has them.
fn entry_path(raw: &str) -> Result<String> {
    if raw.split('/').any(|part| part == "..") {
        return Err(ArchiveError::UnsafePath(raw.to_string()));
    }
    resolve("", raw).ok_or_else(|| ArchiveError::UnsafePath(raw.to_string()))
}

/// Joins `rel` onto the directory `base` and normalizes the result; None
/// for an absolute path or one that climbs out of the archive's root.
fn resolve(base: &str, rel: &str) -> Option<String> {
    if rel.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    Some(parts.join("/"))
}

/// One entry of Docker's `manifest.json`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ManifestItem {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    layers: Vec<String>,
}

/// Images from Docker's `manifest.json`, legacy or 25+, or Podman's. Each
/// is stored under a new OCI manifest over the layers as they came; the
/// config, and so the image ID, is unchanged.
fn from_manifest_json(
    contents: &Contents,
    staging: &mut Staging,
    manifest_json: &[u8],
) -> Result<Vec<VerifiedImage>> {
    let items: Vec<ManifestItem> = parse_json(manifest_json, MANIFEST_JSON)?;
    let repo_digests = match &contents.index_json {
        Some(index_json) => repo_digests_by_config(contents, staging.store, index_json)?,
        None => HashMap::new(),
    };
    let mut images = Vec::new();
    for item in items {
        let config = contents.file(&item.config, MANIFEST_JSON)?;
        let layers = item
            .layers
            .iter()
            .map(|path| contents.file(path, MANIFEST_JSON).cloned())
            .collect::<Result<Vec<_>>>()?;
        let parsed = read_config(staging.store, config, &item.config)?;
        let layers = verify_layers(staging.store, &config.digest, &parsed, &layers)?;
        let config_desc =
            Descriptor::new(media_type::OCI_CONFIG, config.digest.clone(), config.size);
        let (manifest, bytes) = oci_manifest(config_desc, layers)?;
        staging.put(&bytes)?;
        let mut names = Vec::new();
        for tag in item.repo_tags.iter().flatten() {
            names.push(parse_name(
                tag,
                MANIFEST_JSON,
                Reference::parse_with_default_tag,
            )?);
        }
        names.extend(
            repo_digests
                .get(&config.digest)
                .into_iter()
                .flatten()
                .cloned(),
        );
        images.push(VerifiedImage {
            id: config.digest.clone(),
            manifest,
            names,
        });
    }
    Ok(images)
}

/// Images from an OCI layout's `index.json` (skopeo, buildah, `podman save
/// --format oci-archive`): each entry's manifest is stored as it is, named
/// by its ref-name annotation, or left untagged.
fn from_index_json(
    contents: &Contents,
    store: &Store,
    index_json: &[u8],
) -> Result<Vec<VerifiedImage>> {
    let index: Index = parse_json(index_json, INDEX_JSON)?;
    let mut images: Vec<VerifiedImage> = Vec::new();
    for entry in &index.manifests {
        let slot = match images
            .iter()
            .position(|i| i.manifest.digest == entry.digest)
        {
            Some(slot) => slot,
            None => {
                let (manifest, file) = read_manifest(contents, store, entry)?;
                let referrer = format!("manifest {}", entry.digest);
                let config = contents.described(&manifest.config, &referrer)?;
                let parsed = read_config(store, config, &blob_path(&config.digest))?;
                let layers = manifest
                    .layers
                    .iter()
                    .map(|l| contents.described(l, &referrer).cloned())
                    .collect::<Result<Vec<_>>>()?;
                verify_layers(store, &config.digest, &parsed, &layers)?;
                let mut descriptor = Descriptor::new(&entry.media_type, file.digest, file.size);
                descriptor.platform = entry.platform.clone();
                images.push(VerifiedImage {
                    id: config.digest.clone(),
                    manifest: descriptor,
                    names: Vec::new(),
                });
                images.len() - 1
            }
        };
        let names = &mut images[slot].names;
        names.extend(entry_ref(entry));
        names.extend(repo_digests(entry)?);
    }
    Ok(images)
}

/// The manifest an `index.json` entry points at, read from the archive.
fn read_manifest(
    contents: &Contents,
    store: &Store,
    entry: &Descriptor,
) -> Result<(Manifest, FileEntry)> {
    if media_type::is_index(&entry.media_type) {
        return Err(ArchiveError::NestedIndex(entry.digest.clone()));
    }
    let file = contents.described(entry, INDEX_JSON)?.clone();
    let manifest = store
        .read_json(&file.digest)
        .map_err(entry_error(&blob_path(&file.digest)))?;
    Ok((manifest, file))
}

/// rimg's repo-digest annotations in `index.json`, by image ID.
fn repo_digests_by_config(
    contents: &Contents,
    store: &Store,
    index_json: &[u8],
) -> Result<HashMap<Digest, Vec<Reference>>> {
    let index: Index = parse_json(index_json, INDEX_JSON)?;
    let mut by_config: HashMap<Digest, Vec<Reference>> = HashMap::new();
    for entry in &index.manifests {
        let digests = repo_digests(entry)?;
        if !digests.is_empty() {
            let (manifest, _) = read_manifest(contents, store, entry)?;
            by_config
                .entry(manifest.config.digest)
                .or_default()
                .extend(digests);
        }
    }
    Ok(by_config)
}

fn repo_digests(entry: &Descriptor) -> Result<Vec<Reference>> {
    let parse_digest_ref = |name: &str| {
        Reference::parse(name).and_then(|r| match r.digest() {
            Some(_) => Ok(r),
            None => Err(crate::reference::ReferenceError::InvalidDigest),
        })
    };
    entry
        .annotation(REPO_DIGESTS_ANNOTATION)
        .into_iter()
        .flat_map(|list| list.split(','))
        .map(|name| parse_name(name, INDEX_JSON, parse_digest_ref))
        .collect()
}

fn parse_name(
    name: &str,
    referrer: &str,
    parse: impl Fn(&str) -> Result<Reference, crate::reference::ReferenceError>,
) -> Result<Reference> {
    parse(name).map_err(|source| ArchiveError::BadName {
        name: name.to_string(),
        referrer: referrer.to_string(),
        source,
    })
}

fn read_config(store: &Store, config: &FileEntry, path: &str) -> Result<ImageConfig> {
    store.read_json(&config.digest).map_err(entry_error(path))
}

/// Checks each layer against the diff ID the image's config lists for it,
/// and returns the layers' descriptors. A plain tar layer's digest is its
/// diff ID; a compressed one is decompressed once to find it. Either way
/// the store caches the result.
fn verify_layers(
    store: &Store,
    id: &Digest,
    config: &ImageConfig,
    layers: &[FileEntry],
) -> Result<Vec<Descriptor>> {
    let expected = &config.rootfs.diff_ids;
    if expected.len() != layers.len() {
        return Err(ArchiveError::LayerCount {
            id: id.clone(),
            expected: expected.len(),
            actual: layers.len(),
        });
    }
    let mut descriptors = Vec::new();
    for (index, (file, diff_id)) in layers.iter().zip(expected).enumerate() {
        let media_type = match sniff(store, &file.digest)? {
            Compression::None => media_type::OCI_LAYER,
            Compression::Gzip => media_type::OCI_LAYER_GZIP,
            Compression::Zstd => media_type::OCI_LAYER_ZSTD,
            Compression::Bzip2 => {
                return Err(ArchiveError::UnsupportedLayerCompression(
                    file.digest.clone(),
                    "bzip2",
                ))
            }
            Compression::Xz => {
                return Err(ArchiveError::UnsupportedLayerCompression(
                    file.digest.clone(),
                    "xz",
                ))
            }
        };
        let descriptor = Descriptor::new(media_type, file.digest.clone(), file.size);
        let info = match file.extracted {
            Some(size) if media_type == media_type::OCI_LAYER => {
                let info = LayerInfo {
                    diff_id: file.digest.clone(),
                    tar_size: file.size,
                    size,
                };
                store.record_layer_info(&file.digest, &info)?;
                info
            }
            _ => store.layer_info(&descriptor)?,
        };
        if info.diff_id != *diff_id {
            return Err(ArchiveError::DiffIdMismatch {
                id: id.clone(),
                index,
                expected: diff_id.clone(),
                actual: info.diff_id,
            });
        }
        descriptors.push(descriptor);
    }
    Ok(descriptors)
}

/// The compression of a stored blob, from its first bytes.
fn sniff(store: &Store, digest: &Digest) -> Result<Compression> {
    let mut head = Vec::with_capacity(8);
    store
        .open_blob(digest)?
        .take(8)
        .read_to_end(&mut head)
        .map_err(io_context(format!("reading blob {digest}")))?;
    Ok(Compression::sniff(&head))
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|source| ArchiveError::Json {
        what: what.to_string(),
        source,
    })
}

fn entry_error(path: &str) -> impl FnOnce(StoreError) -> ArchiveError + '_ {
    move |source| ArchiveError::Entry {
        path: path.to_string(),
        source,
    }
}

/// The blobs this load added to the store. Nothing references them until
/// the images are registered, so a lease protects them (and those it
/// reuses) meanwhile; at the end, whatever is still unreferenced
/// (everything, if the load failed) is removed, so a failed load leaves
/// the store as it was.
struct Staging<'a> {
    store: &'a Store,
    lease: Lease,
    added: BTreeSet<Digest>,
    buffer: Vec<u8>,
    committer: Committer,
    finished: bool,
}

impl<'a> Staging<'a> {
    fn new(store: &'a Store) -> Result<Staging<'a>> {
        Ok(Staging {
            store,
            lease: store.lease()?,
            added: BTreeSet::new(),
            buffer: vec![0; 256 << 10],
            committer: Committer::new(),
            finished: false,
        })
    }

    /// Streams one archive entry of `size` bytes into the store, verified
    /// against `expected` when its name gives a digest. A blob the store
    /// already has is not written again; tar skips its data.
    fn ingest(
        &mut self,
        data: &mut impl Read,
        expected: Option<&Digest>,
        size: u64,
        path: &str,
    ) -> Result<FileEntry> {
        if let Some(digest) = expected {
            if self.lease.reuse(digest)? {
                // The store's verified blob, not the entry's header, says
                // how long it is: a hostile archive may name a blob the
                // store has and hold anything under that name.
                let (_, size) = self.store.open_blob_sized(digest)?;
                return Ok(FileEntry {
                    digest: digest.clone(),
                    size,
                    extracted: None,
                });
            }
        }
        let mut ingest = self.lease.ingest()?;
        // Any file may be an uncompressed layer; following its headers
        // costs little next to hashing it.
        let mut extracted = ExtractedSize::default();
        loop {
            let n = data.read(&mut self.buffer).map_err(ArchiveError::Read)?;
            if n == 0 {
                break;
            }
            ingest
                .write_all(&self.buffer[..n])
                .map_err(io_context(format!("writing {path} into the store")))?;
            extracted.update(&self.buffer[..n]);
        }
        if ingest.len() < size {
            return Err(ArchiveError::Truncated(path.to_string()));
        }
        let digest = ingest.digest();
        if !self.store.has_blob(&digest) {
            self.added.insert(digest.clone());
        }
        let expected = expected.map(|d| (d.clone(), size));
        self.committer.send(ingest, expected, path)?;
        Ok(FileEntry {
            digest,
            size,
            extracted: Some(extracted.size()),
        })
    }

    /// Stores a document rimg made (a manifest).
    fn put(&mut self, bytes: &[u8]) -> Result<Digest> {
        let existed = self.store.has_blob(&Digest::of(bytes));
        let digest = self.lease.put_blob(bytes)?;
        if !existed {
            self.added.insert(digest.clone());
        }
        Ok(digest)
    }

    /// Waits until every ingested blob is committed.
    fn flush(&mut self) -> Result<()> {
        self.committer.wait()
    }

    fn finish(mut self) -> Result<()> {
        self.finished = true;
        self.remove_unreferenced()
    }

    fn remove_unreferenced(&self) -> Result<()> {
        Ok(self.lease.remove_unreferenced(&self.added)?)
    }
}

/// A blob to commit: the ingest, the digest and size its archive name
/// promises, and the entry's path for messages.
type Commit = (Ingest, Option<(Digest, u64)>, String);

/// Commits ingested blobs on a second thread: a commit mostly waits for
/// its fsync, and meanwhile the next entry streams in and is hashed.
struct Committer {
    queue: Option<mpsc::SyncSender<Commit>>,
    thread: Option<thread::JoinHandle<Result<()>>>,
}

impl Committer {
    fn new() -> Committer {
        // One blob queued: each holds an open file and a write buffer.
        let (queue, commits) = mpsc::sync_channel::<Commit>(1);
        let thread = thread::spawn(move || commits.into_iter().try_for_each(commit));
        Committer {
            queue: Some(queue),
            thread: Some(thread),
        }
    }

    fn send(&mut self, ingest: Ingest, expected: Option<(Digest, u64)>, path: &str) -> Result<()> {
        let job = (ingest, expected, path.to_string());
        let job = match &self.queue {
            Some(queue) => match queue.send(job) {
                Ok(()) => return Ok(()),
                Err(mpsc::SendError(job)) => job,
            },
            None => job,
        };
        // The thread is gone: it stopped at a failed commit (report that),
        // or was already waited for (commit here).
        self.wait()?;
        commit(job)
    }

    /// Waits for every queued commit; returns the first failure.
    fn wait(&mut self) -> Result<()> {
        self.queue = None;
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            None => Ok(()),
        }
    }
}

fn commit((ingest, expected, path): Commit) -> Result<()> {
    let expected = expected.as_ref().map(|(digest, size)| (digest, *size));
    ingest.commit(expected).map_err(entry_error(&path))?;
    Ok(())
}

impl Drop for Staging<'_> {
    fn drop(&mut self) {
        if !self.finished {
            // Best effort: the load already failed with its own error. The
            // committer first finishes, so no blob lands after the sweep.
            let _ = self.committer.wait();
            let _ = self.remove_unreferenced();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_stays_inside_the_archive() {
        assert_eq!(resolve("", "./a//b/").as_deref(), Some("a/b"));
        assert_eq!(resolve("x/y", "../z").as_deref(), Some("x/z"));
        assert_eq!(resolve("x", "../../z"), None);
        assert_eq!(resolve("", "/etc/passwd"), None);
    }

    #[test]
    fn entry_paths_refuse_parent_components() {
        assert!(entry_path("a/../b").is_err());
        assert!(entry_path("/abs").is_err());
        assert_eq!(entry_path("./blobs/sha256/").unwrap(), "blobs/sha256");
    }

    #[test]
    fn legacy_metadata_is_skipped() {
        assert!(is_unused("abc/json"));
        assert!(is_unused("abc/VERSION"));
        assert!(is_unused("repositories"));
        assert!(!is_unused("abc/layer.tar"));
        assert!(!is_unused("a/b/json"));
    }
}
