//! What containers hold on to: the image commands that must know which
//! images containers use (`image prune`, `system df`).

use super::{image_users, size_rw, Container, Containers, Result};
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
