//! `rmi` and `image prune`: untagging and deleting images, then removing
//! the blobs no remaining image needs.

use super::catalog::{Catalog, Image};
use super::edit::{drop_manifests, strip_name};
use super::ImageError;
use crate::digest::Digest;
use crate::oci::{chain_ids, Index};
use crate::reference::Reference;
use crate::store::{Store, StoreError, StoreLock};
use std::collections::{BTreeMap, BTreeSet};

/// One line of `rmi` / `image prune` output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemoveEvent {
    /// A reference removed, in its familiar form (`ubuntu:18.04`).
    Untagged(String),
    /// An image ID, or a layer's chain ID, that is gone.
    Deleted(Digest),
}

/// What removing one `rmi` argument did, or why it failed.
pub type RemoveResult = Result<Vec<RemoveEvent>, ImageError>;

/// Image IDs in use by containers, each with the ID of one container
/// using it.
pub type ImageUsers = BTreeMap<Digest, String>;

/// Removes each image named in `args`, as `docker rmi` does, under one
/// lock. Repeated arguments are handled once (so `rmi $(images -q)` works
/// when an image has several tags). Each argument gets its own result;
/// a failed one does not stop the others. `users` is asked, under the
/// lock, which images containers use: those are only removed with `force`.
pub fn remove_images(
    store: &Store,
    args: &[String],
    force: bool,
    users: impl FnOnce() -> Result<ImageUsers, ImageError>,
) -> Result<Vec<(String, RemoveResult)>, ImageError> {
    let lock = store.lock()?;
    let users = users()?;
    let mut seen = BTreeSet::new();
    let mut results = Vec::new();
    for arg in args {
        if !seen.insert(arg.as_str()) {
            continue;
        }
        results.push((arg.clone(), remove_one(store, &lock, arg, force, &users)));
    }
    Ok(results)
}

fn remove_one(
    store: &Store,
    lock: &StoreLock,
    arg: &str,
    force: bool,
    users: &ImageUsers,
) -> Result<Vec<RemoveEvent>, ImageError> {
    let mut catalog = Catalog::load(store)?;
    let found = catalog.find(arg)?;
    let image = catalog.image(&found).clone();
    let mut refs = image.refs.clone();
    let mut events = Vec::new();
    let user = users
        .get(&image.id)
        .filter(|_| !force && is_single_reference_or_none(&refs))
        .map(|container| container[..12].to_string());
    match &found.by {
        Some(by) => {
            if let Some(container) = user {
                return Err(ImageError::ReferenceInUse {
                    reference: arg.to_string(),
                    container,
                    image: image.id.short().to_string(),
                });
            }
            untag(&mut catalog.index, by, &mut events);
            refs.retain(|r| r != by);
            // Untagging a repository's last tag also drops its digest
            // references, as Docker does.
            let tag_left = refs
                .iter()
                .any(|r| r.digest().is_none() && r.name() == by.name());
            if by.digest().is_none() && !tag_left {
                for r in refs.iter().filter(|r| r.name() == by.name()) {
                    untag(&mut catalog.index, r, &mut events);
                }
                refs.retain(|r| r.name() != by.name());
            }
            if !refs.is_empty() {
                store.write_index(lock, &catalog.index)?;
                return Ok(events);
            }
        }
        None => {
            if !refs.is_empty() && !is_single_reference(&refs) && !force {
                return Err(ImageError::MultipleRepositories(
                    image.id.short().to_string(),
                ));
            }
            if let Some(container) = user {
                return Err(ImageError::UsedByContainer {
                    image: image.id.short().to_string(),
                    container,
                });
            }
            for r in &refs {
                untag(&mut catalog.index, r, &mut events);
            }
        }
    }
    events.extend(delete_image(store, lock, &mut catalog, &image)?.0);
    Ok(events)
}

fn untag(index: &mut Index, name: &Reference, events: &mut Vec<RemoveEvent>) {
    strip_name(index, name);
    events.push(RemoveEvent::Untagged(name.familiar_string()));
}

/// [`is_single_reference`], also true for an image with no reference.
fn is_single_reference_or_none(refs: &[Reference]) -> bool {
    refs.is_empty() || is_single_reference(refs)
}

/// Docker's rule for removing an image by ID without `-f`: allowed when
/// it has at most one tag and all its references are in one repository.
fn is_single_reference(refs: &[Reference]) -> bool {
    let mut tags = refs.iter().filter(|r| r.digest().is_none());
    let single = match (tags.next(), tags.next()) {
        (_, Some(_)) => return false,
        (Some(tag), None) => tag,
        (None, None) => &refs[0],
    };
    refs.iter().all(|r| r.name() == single.name())
}

/// Drops the image's entries, writes the index and removes the blobs
/// nothing else references. Returns the `Deleted` events (the image, then
/// its removed layers top-down by chain ID) and the space reclaimed as
/// Docker counts it.
fn delete_image(
    store: &Store,
    lock: &StoreLock,
    catalog: &mut Catalog,
    image: &Image,
) -> Result<(Vec<RemoveEvent>, u64), ImageError> {
    // What Docker reclaims: the sizes of the layers that go (their
    // extracted size, Docker's), not configs or manifests. Measured now:
    // the layer-info cache entries go with the blobs.
    let layer_sizes: BTreeMap<&Digest, u64> = image
        .manifest
        .layers
        .iter()
        .map(|l| Ok((&l.digest, store.layer_size(l)?)))
        .collect::<Result<_, StoreError>>()?;
    drop_manifests(&mut catalog.index, &image.entries);
    store.write_index(lock, &catalog.index)?;
    let keep = store.referenced_blobs(&catalog.index)?;
    let mut candidates: BTreeSet<Digest> = image.blobs().cloned().collect();
    candidates.extend(image.entries.iter().cloned());
    let removed = store.remove_blobs(lock, &candidates, &keep)?;
    let removed_digests: BTreeSet<&Digest> = removed.iter().map(|(d, _)| d).collect();
    let mut events = vec![RemoveEvent::Deleted(image.id.clone())];
    let chains = chain_ids(&image.config.rootfs.diff_ids);
    for (layer, chain) in image.manifest.layers.iter().zip(&chains).rev() {
        if removed_digests.contains(&layer.digest) {
            events.push(RemoveEvent::Deleted(chain.clone()));
        }
    }
    let reclaimed = layer_sizes
        .iter()
        .filter(|(digest, _)| removed_digests.contains(*digest))
        .map(|(_, size)| size)
        .sum();
    Ok((events, reclaimed))
}

/// What `image prune` removed.
#[derive(Debug, Default)]
pub struct PruneReport {
    pub events: Vec<RemoveEvent>,
    pub reclaimed: u64,
}

/// Removes dangling images (no reference at all), or with `all` every
/// image. `keep` decides, per image, whether a filter spares it.
pub fn prune(
    store: &Store,
    all: bool,
    keep: impl Fn(&Image) -> bool,
) -> Result<PruneReport, ImageError> {
    let lock = store.lock()?;
    let mut catalog = Catalog::load(store)?;
    let victims: Vec<Image> = catalog
        .images()
        .iter()
        .filter(|image| (all || image.refs.is_empty()) && !keep(image))
        .cloned()
        .collect();
    let mut report = PruneReport::default();
    for image in &victims {
        for r in &image.refs {
            untag(&mut catalog.index, r, &mut report.events);
        }
        let (events, freed) = delete_image(store, &lock, &mut catalog, image)?;
        report.events.extend(events);
        report.reclaimed += freed;
    }
    // What killed commands left (blobs of an unfinished pull or load, old
    // temporary files and downloads) goes too: space no image uses.
    report.reclaimed += store.reclaim_leftovers(&lock)?;
    Ok(report)
}
