//! A stage's working tree, as buildah's working container: the image's
//! layers unpacked into a directory the first time a step needs files
//! (a cache hit needs none), changed by RUN, COPY and ADD, and turned into
//! one layer per step from what changed since the last one (the same
//! snapshot, diff and layer writer as `commit`).

use super::BuildError;
use crate::container::{self, changes, snapshot};
use crate::digest::Digest;
use crate::oci::Descriptor;
use crate::runtime::ContainerSpec;
use crate::store::{Lease, Store};
use std::fs;
use std::path::{Path, PathBuf};

pub struct WorkingTree {
    pub dir: PathBuf,
    pub rootfs: PathBuf,
    /// The rootfs as of the last layer.
    snapshot: Vec<snapshot::Entry>,
}

/// A layer a step made.
pub struct StepLayer {
    pub descriptor: Descriptor,
    pub diff_id: Digest,
}

impl WorkingTree {
    /// Unpacks `layers` into `dir/rootfs`, with the runtime's mount points
    /// made before the snapshot so that no layer ever holds them.
    pub fn materialize(
        store: &Store,
        lease: &Lease,
        layers: &[Descriptor],
        dir: &Path,
    ) -> Result<WorkingTree, BuildError> {
        let rootfs = dir.join("rootfs");
        fs::create_dir_all(&rootfs).map_err(|source| BuildError::Io {
            context: format!("creating {}", rootfs.display()),
            source,
        })?;
        let mut blobs = Vec::new();
        for layer in layers {
            // Leased first: a concurrent `rmi` cannot take them meanwhile.
            lease.reuse(&layer.digest)?;
            blobs.push(store.open_blob(&layer.digest)?);
        }
        container::unpack_blobs(layers, blobs, &rootfs)?;
        container::run::prepare_rootfs(&rootfs, &ContainerSpec::default())?;
        let snapshot = snapshot::walk(&rootfs).map_err(|source| BuildError::Io {
            context: format!("reading {}", rootfs.display()),
            source,
        })?;
        Ok(WorkingTree {
            dir: dir.to_path_buf(),
            rootfs,
            snapshot,
        })
    }

    /// The layer of what changed since the last one, `None` if nothing did
    /// (Docker's empty layer, recorded as `empty_layer`).
    pub fn commit(
        &mut self,
        lease: &Lease,
        now: i64,
        clamp: Option<u64>,
    ) -> Result<Option<StepLayer>, BuildError> {
        let new = snapshot::walk(&self.rootfs).map_err(|source| BuildError::Io {
            context: format!("reading {}", self.rootfs.display()),
            source,
        })?;
        let changes = changes::changes(&self.snapshot, &new);
        if changes.is_empty() {
            return Ok(None);
        }
        let out = crate::image::writer::LayerWriter::uncompressed(lease)?;
        let layer = container::write_layer(out, &self.rootfs, &changes, now, clamp)?;
        self.snapshot = new;
        Ok(Some(StepLayer {
            descriptor: layer.descriptor,
            diff_id: layer.diff_id,
        }))
    }
}
