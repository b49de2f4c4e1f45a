//! No error message repeats its cause. anyhow's `{:#}` prints each error
//! of the `source()` chain once, so a variant that both formats its cause
//! into its message and returns it as its source prints it twice.

use crate::archive::ArchiveError;
use crate::container::resolve::ResolveError;
use crate::container::unpack::UnpackError;
use crate::container::ContainerError;
use crate::digest::{Digest, DigestError};
use crate::format::template::FormatError;
use crate::image::import::ImportError;
use crate::image::instruction::{apply_changes, InstructionError};
use crate::image::pull::PullError;
use crate::image::push::PushError;
use crate::image::ImageError;
use crate::layer::{Expanded, LayerError};
use crate::manifest::ManifestError;
use crate::reference::ReferenceError;
use crate::registry::config::{ConfigError, FileError};
use crate::registry::credentials::CredentialError;
use crate::registry::RegistryError;
use crate::store::StoreError;
use std::io;
use std::path::PathBuf;

fn io_error(what: &str) -> io::Error {
    io::Error::other(format!("{what} failed"))
}

fn json_error() -> serde_json::Error {
    serde_json::from_str::<u8>("not json").unwrap_err()
}

fn digest() -> Digest {
    Digest::of(b"an error test")
}

fn store_io() -> StoreError {
    StoreError::Io {
        context: "writing blob".into(),
        source: io_error("store write"),
    }
}

fn registry_api() -> RegistryError {
    RegistryError::Api {
        status: 404,
        code: "MANIFEST_UNKNOWN".into(),
        message: "manifest unknown".into(),
    }
}

fn resolve_io() -> ResolveError {
    ResolveError::Io {
        context: "resolving etc/passwd".into(),
        source: io_error("lstat"),
    }
}

fn instruction() -> InstructionError {
    let mut config = crate::oci::RuntimeConfig::default();
    apply_changes(&mut config, &["NOSUCH instruction".into()]).unwrap_err()
}

/// Each argument as an `anyhow::Error`, whatever its type.
macro_rules! errors {
    ($($error:expr),* $(,)?) => {
        vec![$(anyhow::Error::from($error)),*]
    };
}

/// One error of each variant that wraps or carries another error, and a
/// few that do not, of every error type in the crate.
fn representative_errors() -> Vec<anyhow::Error> {
    let expanded = || Expanded {
        limit: 1,
        compressed: 1,
    };
    let file_io = || FileError::Io {
        path: PathBuf::from("/etc/rimg/config.json"),
        error: io_error("config read"),
    };
    errors![
        store_io(),
        StoreError::BlobMissing(digest()),
        StoreError::Json {
            what: "index.json".into(),
            source: json_error(),
        },
        StoreError::Layer {
            digest: digest(),
            source: LayerError::Io(io_error("gunzip")),
        },
        DigestError::Invalid("sha256:x".into()),
        expanded(),
        FormatError::Parse("unexpected }".into()),
        FormatError::Multiple(vec![FormatError::Execute("no field".into())]),
        FormatError::Json(json_error()),
        FormatError::Io(io_error("stdout")),
        ImageError::NotFound("app".into()),
        ImageError::Reference(ReferenceError::InvalidFormat),
        ImageError::BadTarget {
            input: "A:b".into(),
            source: ReferenceError::NameContainsUppercase,
        },
        ImageError::Store(store_io()),
        instruction(),
        ImportError::Io {
            context: "opening x.tar".into(),
            source: io_error("open"),
        },
        ImportError::NotATar(io_error("tar header")),
        ImportError::Instruction(instruction()),
        ImportError::Store(store_io()),
        PullError::ManifestUnknown {
            reference: "app:1".into(),
            cause: registry_api(),
        },
        PullError::Registry(registry_api()),
        PullError::Store(store_io()),
        PullError::Reference(ReferenceError::InvalidFormat),
        PushError::Registry(registry_api()),
        PushError::Store(store_io()),
        PushError::Reference(ReferenceError::InvalidFormat),
        PushError::Compress {
            digest: digest(),
            source: io_error("gzip"),
        },
        registry_api(),
        RegistryError::Credentials(CredentialError::File(file_io())),
        RegistryError::Credentials(CredentialError::Helper("no helper".into())),
        RegistryError::Read {
            path: PathBuf::from("/store/blob"),
            source: io_error("upload read"),
        },
        ConfigError::File(FileError::Json {
            path: PathBuf::from("/etc/rimg/config.json"),
            error: json_error(),
        }),
        ConfigError::File(file_io()),
        ManifestError::Registry(registry_api()),
        ManifestError::Unknown("app:1".into()),
        resolve_io(),
        UnpackError::Resolve(resolve_io()),
        UnpackError::Io {
            context: "creating etc".into(),
            source: io_error("mkdir"),
        },
        ContainerError::Unpack {
            layer: digest(),
            source: UnpackError::Resolve(resolve_io()),
        },
        ContainerError::Instruction(instruction()),
        ContainerError::Image(ImageError::Store(store_io())),
        ContainerError::Store(store_io()),
        ContainerError::Io {
            context: "writing the record".into(),
            source: io_error("record write"),
        },
        ArchiveError::Store(store_io()),
        ArchiveError::Image(ImageError::Reference(ReferenceError::InvalidFormat)),
        ArchiveError::Write(io_error("archive write")),
        ArchiveError::Read(io_error("archive read")),
        ArchiveError::Expanded {
            path: "layer.tar".into(),
            source: expanded(),
        },
        ArchiveError::Entry {
            path: "blobs/sha256/x".into(),
            source: store_io(),
        },
        ArchiveError::Json {
            what: "manifest.json".into(),
            source: json_error(),
        },
        ArchiveError::BadName {
            name: "A".into(),
            referrer: "manifest.json".into(),
            source: ReferenceError::NameContainsUppercase,
        },
    ]
}

#[test]
fn no_error_message_repeats_its_cause() {
    let mut repeated = Vec::new();
    for error in representative_errors() {
        let shown = format!("{error:#}");
        for cause in error.chain().skip(1) {
            let text = cause.to_string();
            if shown.matches(&text).count() > 1 {
                repeated.push(format!("{text:?} repeats in {shown:?}"));
            }
        }
    }
    assert!(repeated.is_empty(), "{repeated:#?}");
}
