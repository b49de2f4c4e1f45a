//! Images in the store as Docker shows them: the index entries grouped by
//! image ID (the config digest), each with its tag and digest references,
//! and the lookups and changes `images`, `tag`, `rmi` and friends make.

mod catalog;
mod edit;
mod filter;
pub mod import;
pub mod instruction;
pub mod pull;
pub mod push;
mod remove;
mod tag;
mod usage;
pub mod writer;

pub use catalog::{entry_ref, Catalog, Image, ImageRef, Sizes};
pub use filter::{list, ImageFilter, LabelFilter, ListOptions, ListRow};
pub use remove::{prune, remove_images, ImageUsers, PruneReport, RemoveEvent};
pub use tag::{parse_target, tag};
pub use usage::{disk_usage, DiskUsage, ImageUsage, PruneFilter};

use crate::oci::{Descriptor, Manifest};
use crate::reference::{Reference, ReferenceError};
use crate::store::{Store, StoreError, StoreLock};

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("No such image: {0}")]
    NotFound(String),
    /// What `inspect`, which stands for any kind of object, reports.
    #[error("No such object: {0}")]
    NoSuchObject(String),
    #[error("No such image: {prefix} (the ID prefix is ambiguous: it matches {count} images)")]
    Ambiguous { prefix: String, count: usize },
    #[error("conflict: unable to delete {0} (must be forced) - image is referenced in multiple repositories")]
    MultipleRepositories(String),
    #[error("conflict: unable to remove repository reference {reference:?} (must force) - container {container} is using its referenced image {image}")]
    ReferenceInUse {
        reference: String,
        container: String,
        image: String,
    },
    #[error("conflict: unable to delete {image} (must be forced) - image is being used by stopped container {container}")]
    UsedByContainer { image: String, container: String },
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error("Error parsing reference: {input:?} is not a valid repository/tag")]
    BadTarget {
        input: String,
        #[source]
        source: ReferenceError,
    },
    #[error("refusing to create a tag with a digest reference")]
    TagWithDigest,
    /// An unknown filter (`bogus`) or a bad value (`dangling=[maybe]`).
    #[error("Invalid filter '{0}'")]
    InvalidFilter(String),
    #[error("bad format of filter (expected name=value)")]
    BadFilterFormat,
    #[error("failed to parse value as time or duration: {0:?}")]
    BadTime(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Records an image whose blobs are already in the store: points each of
/// `names` at `manifest` (moving them from other images), or with no names
/// keeps it as an untagged image. Under the lock it first checks that every
/// blob the manifest needs is present: callers lease what they store and
/// reuse (see [`crate::store::Lease`]), but an image can still name a blob
/// that was never stored, or that another tool removed; that is
/// [`StoreError::BlobMissing`].
pub fn register(
    store: &Store,
    manifest: &Descriptor,
    names: &[Reference],
) -> Result<(), StoreError> {
    let lock = store.lock()?;
    register_locked(store, &lock, manifest, names, &[])
}

/// The time to record as an image's last naming (Go's RFC 3339 with
/// nanoseconds, as Docker prints `LastTagTime`).
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// [`register`] for a caller that already holds the store lock, which
/// also records `annotations` on the image's entries (see
/// [`edit::annotate`]).
pub fn register_locked(
    store: &Store,
    lock: &StoreLock,
    manifest: &Descriptor,
    names: &[Reference],
    annotations: &[(&str, String)],
) -> Result<(), StoreError> {
    let parsed: Manifest = store.read_json(&manifest.digest)?;
    let needed =
        std::iter::once(&parsed.config.digest).chain(parsed.layers.iter().map(|l| &l.digest));
    if let Some(missing) = needed.into_iter().find(|d| !store.has_blob(d)) {
        return Err(StoreError::BlobMissing(missing.clone()));
    }
    let mut index = store.read_index()?;
    if names.is_empty() {
        edit::keep_unnamed(&mut index, manifest);
    }
    for name in names {
        edit::set_name(&mut index, name, manifest);
    }
    for (key, value) in annotations {
        edit::annotate(&mut index, &manifest.digest, key, value);
    }
    store.write_index(lock, &index)
}
