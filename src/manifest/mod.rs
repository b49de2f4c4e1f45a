//! Manifests and manifest lists: `manifest inspect` of a registry's
//! manifest or index, and local lists (`manifest create/annotate/rm`)
//! until `manifest push` sends them.

mod inspect;
pub mod list;
mod push;

pub use inspect::{inspect, inspect_element};
pub use list::{annotate, create, remove, Annotation};
pub use push::push;

use crate::image::push::PushError;
use crate::reference::{Reference, ReferenceError};
use crate::registry::RegistryError;
use crate::store::StoreError;
use inspect::kind_of;
use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Push(#[from] PushError),
    #[error("{reference}: invalid {what}: {reason}")]
    Invalid {
        reference: String,
        what: &'static str,
        reason: String,
    },
    /// What Docker's registry client says of a manifest it cannot find.
    #[error("no such manifest: {0}")]
    Unknown(String),
    /// What Docker's manifest store says of a list (or element) it lacks.
    #[error("No such manifest: {0}")]
    NoSuchList(String),
    #[error("refusing to amend an existing manifest list with no --amend flag")]
    Exists,
    #[error("manifest for image {image} does not exist in {list}")]
    NotInList { image: String, list: String },
    #[error("manifest entry for image has unsupported os/arch combination: {os}/{arch}")]
    UnsupportedPlatform { os: String, arch: String },
    #[error("manifest {0} must have an OS and Architecture to be pushed to a registry")]
    NoPlatform(String),
    #[error(
        "cannot use source images from a different registry than the target image: {0} != {1}"
    )]
    OtherRegistry(String, String),
    #[error("manifest list {0} keeps changing under this command; try again")]
    Busy(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// Parses a document fetched or stored for `reference`.
fn parse_as<T: DeserializeOwned>(
    reference: &Reference,
    what: &'static str,
    bytes: &[u8],
) -> Result<T, ManifestError> {
    serde_json::from_slice(bytes).map_err(|e| ManifestError::Invalid {
        reference: reference.to_string(),
        what,
        reason: e.to_string(),
    })
}
