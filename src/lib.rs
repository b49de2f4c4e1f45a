//! rimg: a daemonless, Docker-compatible container image tool.
//!
//! The binary (`src/main.rs`, one file per command group under `src/cli/`)
//! only parses arguments and prints; everything else lives in these
//! modules. `docs/architecture.md` shows how they fit.

pub mod archive;
pub mod build;
pub mod container;
pub mod digest;
pub mod dockerfile;
pub mod durable;
pub mod format;
pub mod image;
pub mod interrupt;
pub mod layer;
pub mod manifest;
pub mod oci;
pub mod pathmatch;
pub mod platform;
pub mod progress;
pub mod reference;
pub mod registry;
pub mod runtime;
pub mod store;
pub mod tar_guard;
pub mod version;
pub mod view;

#[cfg(test)]
mod error_tests;
