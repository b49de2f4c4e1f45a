//! Writing one blob into the store: bytes go to a temporary file while
//! their digest is computed, and only a verified, fsynced file is renamed
//! into `blobs/`.

use super::{io_context, Result, Store, StoreError};
use crate::digest::{Digest, Hasher};
use std::io::{self, Write};
use tempfile::NamedTempFile;

/// A blob being written. Dropping it without `commit` removes the
/// temporary file; nothing becomes visible under `blobs/`.
pub struct Ingest {
    store: Store,
    file: io::BufWriter<NamedTempFile>,
    hasher: Hasher,
}

impl Ingest {
    pub(super) fn new(store: &Store) -> Result<Ingest> {
        let file = store.temp_file("ingest-")?;
        Ok(Ingest {
            store: store.clone(),
            file: io::BufWriter::with_capacity(1 << 20, file),
            hasher: Hasher::new(),
        })
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
        if target.exists() {
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
