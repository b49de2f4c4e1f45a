//! Writing one blob into the store: bytes go to a temporary file while
//! their digest is computed, and only a verified, fsynced file is renamed
//! into `blobs/`.

use super::{io_context, Lease, Result, Store, StoreError};
use crate::digest::{Digest, Hasher};
use std::io::{self, Write};
use tempfile::NamedTempFile;

/// A blob being written. Dropping it without `commit` removes the
/// temporary file; nothing becomes visible under `blobs/`.
pub struct Ingest {
    store: Store,
    file: io::BufWriter<NamedTempFile>,
    hasher: Hasher,
    /// Protects the blob from the moment it is stored.
    lease: Option<Lease>,
}

impl Ingest {
    pub(super) fn new(store: &Store, lease: Option<Lease>) -> Result<Ingest> {
        let file = store.temp_file("ingest-")?;
        Ok(Ingest {
            store: store.clone(),
            file: io::BufWriter::with_capacity(1 << 20, file),
            hasher: Hasher::new(),
            lease,
        })
    }

    /// Writes `bytes` as the whole blob and commits it.
    pub(super) fn put(mut self, bytes: &[u8]) -> Result<Digest> {
        self.write_all(bytes).map_err(io_context("writing blob"))?;
        self.commit(None)
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.hasher.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hasher.is_empty()
    }

    /// The digest of the bytes written so far, without committing: lets a
    /// caller learn whether the store already holds the blob.
    pub fn digest(&self) -> Digest {
        self.hasher.clone().finish()
    }

    /// Verifies the content against `expected` (digest and size) when
    /// given, then makes it durable and visible. Returns the digest.
    pub fn commit(self, expected: Option<(&Digest, u64)>) -> Result<Digest> {
        let size = self.hasher.len();
        let actual = self.hasher.finish();
        if let Some((digest, expected_size)) = expected {
            if *digest != actual || expected_size != size {
                return Err(StoreError::Mismatch {
                    expected: digest.clone(),
                    expected_size,
                    actual,
                    actual_size: size,
                });
            }
        }
        let target = self.store.blob_path(&actual);
        if let Some(lease) = &self.lease {
            // Before the rename: a stored blob is never unleased.
            lease.protect(&actual)?;
        }
        if target.exists() && still_stored(&self.store, self.lease.is_some(), &actual)? {
            return Ok(actual);
        }
        let file = self
            .file
            .into_inner()
            .map_err(|e| io_context(format!("writing blob {actual}"))(e.into_error()))?;
        file.as_file()
            .sync_all()
            .map_err(io_context(format!("syncing blob {actual}")))?;
        file.persist(&target)
            .map_err(|e| io_context(format!("storing blob {actual}"))(e.error))?;
        super::sync_dir(target.parent().unwrap_or(self.store.root()))?;
        Ok(actual)
    }
}

/// Whether a blob found already stored is still there once leased: a
/// removal that read the leases before ours was appended may be under way,
/// and the store lock waits it out. Unleased, the blob is taken as found.
fn still_stored(store: &Store, leased: bool, digest: &Digest) -> Result<bool> {
    if !leased {
        return Ok(true);
    }
    let _lock = store.lock()?;
    Ok(store.has_blob(digest))
}

impl Write for Ingest {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}
