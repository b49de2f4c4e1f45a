//! A stage's working tree, as buildah's working container: the image's
//! layers made into a rootfs the first time a step needs files (a cache
//! hit needs none), changed by RUN, COPY and ADD, and turned into one layer
//! per step from what changed since the last one (the same snapshot, diff
//! and layer writer as `commit`). As a container's, the rootfs is an
//! overlay of the layers' snapshots when the storage driver allows, else
//! the layers unpacked (see `container::overlay`); either way it is
//! unmounted when the tree's directory is removed. On overlay, as in
//! BuildKit, each step's upper directory then becomes that layer's
//! snapshot and the tree is mounted again over it with an empty upper one:
//! a later build that reuses the step mounts it at once instead of
//! unpacking its layer first, and nothing is written twice.

use super::BuildError;
use crate::container::overlay::{Rootfs, Snapshots};
use crate::container::{self, snapshot};
use crate::digest::Digest;
use crate::oci::Descriptor;
use crate::runtime::ContainerSpec;
use crate::store::{Lease, Store};
use std::fs;
use std::path::{Path, PathBuf};

pub struct WorkingTree {
    pub dir: PathBuf,
    pub rootfs: PathBuf,
    /// The rootfs as of the last layer (with overlay: its upper directory).
    snapshot: Vec<snapshot::Entry>,
    snapshots: Snapshots,
    /// The layer snapshots under an overlay rootfs; `None` if unpacked.
    lowers: Option<Vec<Digest>>,
}

/// A layer a step made.
pub struct StepLayer {
    pub descriptor: Descriptor,
    pub diff_id: Digest,
}

impl WorkingTree {
    /// Makes `dir/rootfs` hold `layers`, with the runtime's mount points
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
        let mut diff_ids = Vec::new();
        for layer in layers {
            // Leased first: a concurrent `rmi` cannot take them meanwhile.
            lease.reuse(&layer.digest)?;
            blobs.push(store.open_blob(&layer.digest)?);
            // Measured once per blob (cached): the chain IDs name snapshots.
            diff_ids.push(store.layer_info(layer)?.diff_id);
        }
        let snapshots = Snapshots::new(store);
        let lowers = Rootfs::make(&snapshots, layers, Some(&diff_ids), blobs, dir)?;
        container::run::prepare_rootfs(&rootfs, &ContainerSpec::default())?;
        let snapshot = Rootfs {
            dir,
            lowers: lowers.as_deref(),
        }
        .walk()?;
        Ok(WorkingTree {
            dir: dir.to_path_buf(),
            rootfs,
            snapshot,
            snapshots,
            lowers,
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
        let current = Rootfs {
            dir: &self.dir,
            lowers: self.lowers.as_deref(),
        }
        .current(&self.snapshots, &self.snapshot)?;
        if current.changes.is_empty() {
            return Ok(None);
        }
        let out = crate::image::writer::LayerWriter::uncompressed(lease)?;
        let layer = container::write_layer(out, &current.source, &current.changes, now, clamp)?;
        match &mut self.lowers {
            Some(lowers) => {
                let chain = crate::oci::chain_id(lowers.last(), &layer.diff_id);
                self.snapshots.adopt_upper(&chain, &self.dir)?;
                lowers.push(chain);
                self.snapshots.mount(lowers, &self.dir)?;
                self.snapshot = Vec::new();
            }
            None => self.snapshot = current.walk,
        }
        Ok(Some(StepLayer {
            descriptor: layer.descriptor,
            diff_id: layer.diff_id,
        }))
    }
}
