//! Manifests and manifest lists as the registry serves them: `manifest
//! inspect` today; `manifest create/annotate/push/rm` (local lists) next.

mod inspect;

pub use inspect::{inspect, ManifestError};
