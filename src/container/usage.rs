//! What containers hold on to: the image commands that must know which
//! images containers use (`image prune`, `system df`), and the layer
//! snapshots under them (`system df -v`).

use super::{image_users, overlay, size_rw, Container, Containers, Result, SnapshotUsers};
use crate::digest::Digest;
use crate::image::{self, Catalog, DiskUsage, Image, PruneFilter, PruneReport};
use crate::store::Store;
use std::cell::OnceCell;

/// `image prune`: removes dangling images (with `all`, every unused one)
/// that `filters` select, never one a container uses.
pub fn prune_images(store: &Store, all: bool, filters: &PruneFilter) -> Result<PruneReport> {
    // Asked under prune's lock, so a container created meanwhile counts.
    let users = OnceCell::new();
    let keep = |i: &Image| {
        // If the containers cannot be listed, nothing is pruned.
        let users = users.get_or_init(|| image_users(store).ok());
        !filters.matches(i) || users.as_ref().is_none_or(|u| u.contains_key(&i.id))
    };
    let report = image::prune(store, all, keep)?;
    super::sweep_snapshots(store)?;
    Ok(report)
}

/// A container, its run state and what its changes add up to (its
/// `SizeRw`).
pub struct ContainerUsage {
    pub container: Container,
    pub state: super::state::State,
    pub size_rw: u64,
}

/// `system df`: the images' figures with containers' use, and what each
/// container's own changes add up to.
pub fn disk_usage(store: &Store, catalog: &Catalog) -> Result<(DiskUsage, Vec<ContainerUsage>)> {
    let users = image_users(store)?;
    let mut usage = image::disk_usage(store, catalog, &users)?;
    let mut containers = Vec::new();
    let engine = super::run::Engine::new(store, None);
    for container in Containers::new(store).list()? {
        let size_rw = size_rw(store, &container)?;
        let state = engine.state(&container)?;
        usage.containers_size += size_rw;
        // As Docker's: running ones are active, the others reclaimable.
        if state.is_running() {
            usage.active_containers += 1;
        } else {
            usage.containers_reclaimable += size_rw;
        }
        containers.push(ContainerUsage {
            container,
            state,
            size_rw,
        });
    }
    usage.containers = containers.len();
    Ok((usage, containers))
}

/// One layer snapshot's share of the disk, for `system df -v`.
#[derive(Debug)]
pub struct SnapshotUsage {
    pub chain: Digest,
    /// The bytes it takes on disk (see [`overlay::measure`]).
    pub size: u64,
    pub users: SnapshotUsers,
    /// Whether a mount (a container's, a build's working tree) stands on
    /// it.
    pub mounted: bool,
}

impl SnapshotUsage {
    /// Whether removing the images no container uses (`image prune -a`)
    /// would free it: as an image's unique layers, its snapshots are
    /// reclaimable exactly when it is.
    pub fn reclaimable(&self) -> bool {
        self.users.containers == 0 && !self.users.active && !self.mounted
    }
}

/// `system df -v`: the layer snapshots with the bytes each takes and who
/// uses it. A snapshot's size is measured once and recorded beside it (it
/// never changes), so only snapshots new since the last call are walked.
pub fn snapshot_usage(
    store: &Store,
    catalog: &Catalog,
    containers: &[ContainerUsage],
) -> Result<Vec<SnapshotUsage>> {
    let snapshots = overlay::Snapshots::new(store);
    let users = super::snapshot_users(catalog.images(), containers.iter().map(|c| &c.container));
    let mounts = overlay::mount_table();
    let mut usage = Vec::new();
    let mut measured = Vec::new();
    for chain in snapshots.list()? {
        // Removed since it was listed: no longer there to count.
        let Some((size, new)) = snapshots.size(&chain)? else {
            continue;
        };
        if new {
            measured.push((chain.clone(), size));
        }
        usage.push(SnapshotUsage {
            users: users.get(&chain).copied().unwrap_or_default(),
            mounted: snapshots.is_mounted(&mounts, &chain),
            chain,
            size,
        });
    }
    // Recorded only if no other rimg holds the store: a read command does
    // not wait on writers for a cache.
    if !measured.is_empty() {
        if let Some(lock) = store.try_lock()? {
            for (chain, size) in &measured {
                snapshots.record_size(&lock, chain, *size);
            }
        }
    }
    Ok(usage)
}
