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
use crate::registry::{RegistryConfig, StallWatch};
use crate::store::{Lease, Store, StoreError};
use crate::tar_guard::TarGuard;
use chrono::{SecondsFormat, Utc};
use serde_json::{json, Map};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::AsFd;

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
    // Held until the image is named, so no blob sweep takes its blobs.
    let lease = store.lease()?;
    let (layer, info) = if source == "-" {
        let stdin = io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|source| ImportError::Io {
                context: "reading the input".into(),
                source,
            })?;
        let stdin = store.stop().watch(File::from(stdin));
        store_layer(&lease, BufReader::with_capacity(1 << 20, stdin))?
    } else if is_url {
        let download = Download::start(store, source)?;
        let failure = download.failure.clone();
        store_layer(&lease, BufReader::with_capacity(1 << 20, download)).map_err(|e| {
            // The download's own failure says more than what tar made of it.
            match failure.lock().ok().and_then(|mut f| f.take()) {
                Some(message) => ImportError::Download {
                    url: source.to_string(),
                    message,
                },
                None => e,
            }
        })?
    } else {
        let file = File::open(source).map_err(|e| ImportError::Io {
            context: format!("opening {source}"),
            source: e,
        })?;
        store_layer(
            &lease,
            BufReader::with_capacity(1 << 20, store.stop().watch(file)),
        )?
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
    let image = writer::store_image(&lease, &config, vec![layer])?;
    let lock = store.lock()?;
    writer::name_image(store, &lock, &image, &names, None)?;
    Ok(image.id)
}

/// Decompresses `input`, checks it is a tar archive, and stores it.
fn store_layer<R: BufRead>(
    lease: &Lease,
    input: R,
) -> Result<(crate::oci::Descriptor, crate::layer::LayerInfo), ImportError> {
    let reading = |source| ImportError::Io {
        context: "reading the input".into(),
        source,
    };
    // Of unknown size (a pipe, a download): bounded by what it has sent.
    let plain = layer::decompress(input, None).map_err(reading)?;
    let mut archive = tar::Archive::new(TarGuard::new(Tee {
        inner: plain,
        copy: LayerWriter::new(lease)?,
    }));
    for entry in archive.entries().map_err(ImportError::NotATar)? {
        entry.map_err(ImportError::NotATar)?;
    }
    let mut tee = archive.into_inner().into_inner();
    io::copy(&mut tee, &mut io::sink()).map_err(reading)?;
    if tee.copy.is_empty() {
        return Err(ImportError::Empty);
    }
    Ok(tee.copy.finish()?)
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

/// An http(s) body read as it arrives, so that a body that is not a tar
/// archive fails at its first header, and bounded: by `max-download-size`
/// and by the store's free space (the layer goes there), and by the
/// registry client's wait bounds.
struct Download {
    runtime: tokio::runtime::Runtime,
    response: reqwest::Response,
    pending: bytes::Bytes,
    received: u64,
    limit: u64,
    watch: StallWatch,
    /// Why the download stopped, for the error `import` reports.
    failure: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl Download {
    fn start(store: &Store, url: &str) -> Result<Download, ImportError> {
        let fail = |message: String| ImportError::Download {
            url: url.to_string(),
            message,
        };
        let config = RegistryConfig::load().map_err(|e| fail(e.to_string()))?;
        let free = free_space(&store.tmp_dir()).map_err(|e| fail(e.to_string()))?;
        let limit = config.max_download.map_or(free, |max| max.min(free));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| fail(e.to_string()))?;
        let timeouts = config.timeouts;
        let response = runtime.block_on(async {
            let client = reqwest::Client::builder()
                .connect_timeout(timeouts.connect)
                .build()
                .map_err(|e| fail(e.to_string()))?;
            let sent = tokio::time::timeout(timeouts.response, client.get(url).send());
            let response = sent
                .await
                .map_err(|_| {
                    fail(format!(
                        "no response within {}s",
                        timeouts.response.as_secs()
                    ))
                })?
                .map_err(|e| fail(e.to_string()))?;
            if !response.status().is_success() {
                return Err(fail(format!("unexpected status {}", response.status())));
            }
            Ok(response)
        })?;
        Ok(Download {
            runtime,
            response,
            pending: bytes::Bytes::new(),
            received: 0,
            limit,
            watch: StallWatch::new(timeouts.stall),
            failure: Default::default(),
        })
    }

    fn fail(&self, message: String) -> io::Error {
        if let Ok(mut failure) = self.failure.lock() {
            *failure = Some(message.clone());
        }
        io::Error::other(message)
    }
}

impl Read for Download {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pending.is_empty() {
            let next = self.runtime.block_on(self.watch.chunk(&mut self.response));
            match next {
                Ok(Some(chunk)) => self.pending = chunk,
                Ok(None) => return Ok(0),
                Err(cause) => return Err(self.fail(cause)),
            }
            self.received += self.pending.len() as u64;
            if self.received > self.limit {
                return Err(self.fail(format!(
                    "larger than {} bytes, the most rimg takes (the store's free space, or max-download-size)",
                    self.limit
                )));
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending.split_to(n));
        Ok(n)
    }
}

/// Bytes an unprivileged writer may still put on `dir`'s filesystem.
fn free_space(dir: &std::path::Path) -> io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: statvfs is plain data, filled in for a NUL-terminated path.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(stat.f_bavail as u64 * stat.f_frsize as u64)
}
