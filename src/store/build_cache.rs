//! The build cache: what each `build` step made, kept under the step's
//! cache key (its parent image, the instruction as expanded, and for
//! COPY/ADD the contents of exactly the files copied).
//!
//! ```text
//! .rimg/build-cache/<key hex>   {"manifest": descriptor, "used": RFC 3339}
//! ```
//!
//! A record is an image in all but name: its manifest, config and layers
//! count as referenced ([`Store::referenced_blobs`]), so nothing removes
//! them while the record exists; `builder prune` removes the records and
//! then whatever blobs no image still needs. Records live apart from
//! `index.json` so that naming or removing images never touches them.

use super::{io_context, Result, Store, StoreError, StoreLock};
use crate::digest::Digest;
use crate::durable::{self, Mode};
use crate::oci::{Descriptor, Manifest};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::PathBuf;

/// One step's result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CacheRecord {
    pub manifest: Descriptor,
    /// When a build last used it (RFC 3339).
    pub used: String,
}

/// What the build cache holds, for `system df`.
#[derive(Debug, Default)]
pub struct CacheUsage {
    /// Each record: its key, when it was last used, and the bytes of the
    /// blobs it alone keeps (its step's layer and config).
    pub records: Vec<(Digest, String, u64)>,
    /// The bytes of every blob only the cache keeps: what `builder
    /// prune` reclaims.
    pub size: u64,
}

/// What `builder prune` removed.
#[derive(Debug, Default)]
pub struct CachePruned {
    pub records: Vec<Digest>,
    /// Bytes of the blobs removed with them.
    pub reclaimed: u64,
}

impl Store {
    fn build_cache_dir(&self) -> PathBuf {
        self.meta_dir().join("build-cache")
    }

    /// The step stored under `key`, if its record and every blob it needs
    /// are there.
    pub fn cache_lookup(&self, key: &Digest) -> Result<Option<(CacheRecord, Manifest)>> {
        let path = self.build_cache_dir().join(key.hex());
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_context(format!("reading {}", path.display()))(e)),
        };
        // A record that cannot be read is a miss: the step runs again and
        // replaces it.
        let Ok(record) = serde_json::from_slice::<CacheRecord>(&bytes) else {
            return Ok(None);
        };
        let Ok(manifest) = self.read_json::<Manifest>(&record.manifest.digest) else {
            return Ok(None);
        };
        let complete = self.has_blob(&manifest.config.digest)
            && manifest.layers.iter().all(|l| self.has_blob(&l.digest));
        Ok(complete.then_some((record, manifest)))
    }

    /// Records `manifest` (stored under the caller's lease) as the result
    /// of the step `key`.
    pub fn cache_record(&self, key: &Digest, manifest: &Descriptor) -> Result<()> {
        let dir = self.build_cache_dir();
        fs::create_dir_all(&dir).map_err(io_context(format!("creating {}", dir.display())))?;
        let record = CacheRecord {
            manifest: manifest.clone(),
            used: crate::image::now(),
        };
        let bytes = serde_json::to_vec(&record).map_err(|source| StoreError::Json {
            what: "a build cache record".into(),
            source,
        })?;
        let path = dir.join(key.hex());
        // Under the lock, as index.json is written: a sweep reading the
        // records sees this one or runs before the blobs were leased.
        let _lock = self.lock()?;
        durable::replace(&path, Mode::Private, &bytes)
            .map_err(io_context(format!("writing {}", path.display())))
    }

    /// Every record, with its key.
    pub fn cache_records(&self) -> Result<Vec<(Digest, CacheRecord)>> {
        let dir = self.build_cache_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_context(format!("reading {}", dir.display()))(e)),
        };
        let mut records = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_context(format!("reading {}", dir.display())))?;
            let name = entry.file_name();
            let Ok(key) = Digest::parse(&format!("sha256:{}", name.to_string_lossy())) else {
                continue;
            };
            let Ok(bytes) = fs::read(entry.path()) else {
                continue;
            };
            if let Ok(record) = serde_json::from_slice::<CacheRecord>(&bytes) {
                records.push((key, record));
            }
        }
        records.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(records)
    }

    /// The records and the space only they hold.
    pub fn cache_usage(&self) -> Result<CacheUsage> {
        let records = self.cache_records()?;
        // Blobs images keep: referenced from the index alone.
        let kept_by_images = self.blobs_under(self.read_index()?.manifests);
        let size_of = |digest: &Digest| fs::metadata(self.blob_path(digest)).map_or(0, |m| m.len());
        let mut counted = BTreeSet::new();
        let mut usage = CacheUsage::default();
        for (key, record) in records {
            let mut own = 0;
            for blob in self.blobs_under(vec![record.manifest.clone()]) {
                if !kept_by_images.contains(&blob) && counted.insert(blob.clone()) {
                    own += size_of(&blob);
                }
            }
            usage.size += own;
            usage.records.push((key, record.used, own));
        }
        Ok(usage)
    }

    /// The manifests the build cache keeps.
    pub(super) fn cached_manifests(&self) -> Result<Vec<Descriptor>> {
        Ok(self
            .cache_records()?
            .into_iter()
            .map(|(_, record)| record.manifest)
            .collect())
    }

    /// `builder prune`: removes every record, then the blobs only they
    /// referenced.
    pub fn cache_prune(&self) -> Result<CachePruned> {
        let records = self.cache_records()?;
        let lock: StoreLock = self.lock()?;
        let candidates =
            self.blobs_under(records.iter().map(|(_, r)| r.manifest.clone()).collect());
        for (key, _) in &records {
            let path = self.build_cache_dir().join(key.hex());
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_context(format!("removing {}", path.display()))(e)),
            }
        }
        let keep = self.referenced_blobs(&self.read_index()?)?;
        let removed = self.remove_blobs(&lock, &candidates, &keep)?;
        Ok(CachePruned {
            records: records.into_iter().map(|(key, _)| key).collect(),
            reclaimed: removed.iter().map(|(_, size)| size).sum(),
        })
    }
}
