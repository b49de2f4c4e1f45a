//! `import`: a one-layer image from a root filesystem tarball (plain or
//! compressed; a file, stdin or an http(s) URL), as `docker import` makes
//! it. The tar stream is stored byte for byte (gzip-compressed) after
//! checking that it is a tar archive.

use super::instruction::{self, InstructionError};
use super::writer::{self, LayerWriter};
use super::ImageError;
use crate::digest::Digest;
use crate::layer;
use crate::oci::{History, ImageConfig, RootFs, RuntimeConfig};
use crate::platform;
use crate::store::{Store, StoreError};
use chrono::{SecondsFormat, Utc};
use serde_json::{json, Map};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("the input is not a tar archive")]
    NotATar(#[source] io::Error),
    #[error("the input is empty")]
    Empty,
    #[error("downloading {url}: {message}")]
    Download { url: String, message: String },
    #[error(transparent)]
    Instruction(#[from] InstructionError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Dockerfile instructions (`-c`) applied to an empty config.
    pub changes: Vec<String>,
    /// `-m`: replaces the default "Imported from …" comment.
    pub message: Option<String>,
    /// `REPO[:TAG]`; without one the image is untagged.
    pub reference: Option<String>,
}

/// Imports `source` (`-`, a path, or an http(s) URL); returns the image ID.
pub fn import(store: &Store, source: &str, options: &ImportOptions) -> Result<Digest, ImportError> {
    let names = match &options.reference {
        Some(target) => vec![super::parse_target(target)?],
        None => Vec::new(),
    };
    let mut runtime = RuntimeConfig::default();
    instruction::apply_changes(&mut runtime, &options.changes)?;

    let is_url = source.starts_with("http://") || source.starts_with("https://");
    let (layer, info) = if source == "-" {
        store_layer(store, io::stdin().lock())?
    } else if is_url {
        let file = download(store, source)?;
        store_layer(store, BufReader::with_capacity(1 << 20, file))?
    } else {
        let file = File::open(source).map_err(|e| ImportError::Io {
            context: format!("opening {source}"),
            source: e,
        })?;
        store_layer(store, BufReader::with_capacity(1 << 20, file))?
    };

    // The docker CLI streams a local file to the daemon as stdin, so the
    // daemon's comment names it "-"; only a URL is named.
    let comment = options
        .message
        .clone()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| format!("Imported from {}", if is_url { source } else { "-" }));
    let created = Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true);
    let platform = platform::host();
    let mut extra = Map::new();
    extra.insert("comment".into(), json!(comment));
    let config = ImageConfig {
        created: Some(created.clone()),
        author: None,
        architecture: platform.architecture,
        os: platform.os,
        variant: platform.variant,
        config: Some(runtime.into()),
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids: vec![info.diff_id],
        },
        history: vec![History {
            created: Some(created),
            comment: Some(comment),
            ..History::default()
        }],
        extra,
    };
    let image = writer::store_image(store, &config, vec![layer])?;
    let lock = store.lock()?;
    writer::name_image(store, &lock, &image, &names)?;
    Ok(image.id)
}

/// Decompresses `input`, checks it is a tar archive, and stores it.
fn store_layer<R: BufRead>(
    store: &Store,
    input: R,
) -> Result<(crate::oci::Descriptor, crate::layer::LayerInfo), ImportError> {
    let reading = |source| ImportError::Io {
        context: "reading the input".into(),
        source,
    };
    // Of unknown size (a pipe, a download): bounded by what it has sent.
    let plain = layer::decompress(input, None).map_err(reading)?;
    let mut archive = tar::Archive::new(Tee {
        inner: plain,
        copy: LayerWriter::new(store)?,
    });
    for entry in archive.entries().map_err(ImportError::NotATar)? {
        entry.map_err(ImportError::NotATar)?;
    }
    let mut tee = archive.into_inner();
    io::copy(&mut tee, &mut io::sink()).map_err(reading)?;
    if tee.copy.is_empty() {
        return Err(ImportError::Empty);
    }
    Ok(tee.copy.finish(store)?)
}

/// Passes what it reads on to `copy`.
struct Tee<R, W> {
    inner: R,
    copy: W,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// Fetches `url` into a temporary file in the store.
fn download(store: &Store, url: &str) -> Result<File, ImportError> {
    let fail = |message: String| ImportError::Download {
        url: url.to_string(),
        message,
    };
    let mut file = tempfile::tempfile_in(store.tmp_dir()).map_err(|e| ImportError::Io {
        context: "creating a temporary file".into(),
        source: e,
    })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(e.to_string()))?;
    runtime.block_on(async {
        let mut response = reqwest::get(url).await.map_err(|e| fail(e.to_string()))?;
        if !response.status().is_success() {
            return Err(fail(format!("unexpected status {}", response.status())));
        }
        while let Some(chunk) = response.chunk().await.map_err(|e| fail(e.to_string()))? {
            file.write_all(&chunk).map_err(|e| fail(e.to_string()))?;
        }
        Ok(())
    })?;
    use std::io::Seek;
    file.rewind().map_err(|e| fail(e.to_string()))?;
    Ok(file)
}
