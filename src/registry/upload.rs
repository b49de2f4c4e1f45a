//! The push side of the distribution API: asking whether the registry has a
//! blob, cross-repository mounts, blob uploads (monolithic for small blobs,
//! chunked `PATCH`es with `Content-Range` for large ones, resumed from the
//! registry's own idea of the offset after a failed chunk) and manifest
//! `PUT`s.

use super::{Client, RegistryError, Repository, Result, MAX_RETRIES};
use crate::digest::Digest;
use bytes::Bytes;
use futures_util::stream;
use reqwest::header::{
    HeaderMap, HeaderValue, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION, RANGE,
};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// Blobs up to this size go up in one `PUT`; larger ones in `PATCH`
/// chunks of this size, so that a dropped connection costs at most one
/// chunk.
pub const CHUNK_SIZE: u64 = 16 << 20;

/// Reads of a file body: large enough that the blocking-pool round trip
/// per read is noise, small enough that memory stays flat.
const READ_SIZE: u64 = 1 << 20;

/// A request body, made anew for each attempt at sending it.
pub(super) enum Payload {
    Empty,
    Bytes(Bytes),
    /// `len` bytes of the file at `path` from `offset`, read as they go
    /// out rather than held in memory.
    File {
        path: PathBuf,
        offset: u64,
        len: u64,
    },
}

impl Payload {
    fn len(&self) -> u64 {
        match self {
            Payload::Empty => 0,
            Payload::Bytes(bytes) => bytes.len() as u64,
            Payload::File { len, .. } => *len,
        }
    }

    pub(super) fn attach(&self, request: RequestBuilder) -> RequestBuilder {
        match self {
            Payload::Empty => request,
            Payload::Bytes(bytes) => request.body(bytes.clone()),
            Payload::File { path, offset, len } => request
                // A streamed body has no length of its own; without this it
                // would go out chunk-encoded.
                .header(CONTENT_LENGTH, *len)
                .body(reqwest::Body::wrap_stream(file_stream(
                    path.clone(),
                    *offset,
                    *len,
                ))),
        }
    }
}

/// The bytes of a file range as a stream of reads; the file is opened
/// when the body is first polled.
fn file_stream(
    path: PathBuf,
    offset: u64,
    len: u64,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    stream::try_unfold((None, len), move |(file, left)| {
        let path = path.clone();
        async move {
            if left == 0 {
                return Ok(None);
            }
            let mut file = match file {
                Some(file) => file,
                None => {
                    let mut file = tokio::fs::File::open(&path).await?;
                    file.seek(std::io::SeekFrom::Start(offset)).await?;
                    file
                }
            };
            let mut buf = vec![0; READ_SIZE.min(left) as usize];
            let n = file.read(&mut buf).await?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("{} ended before the blob did", path.display()),
                ));
            }
            buf.truncate(n);
            Ok(Some((Bytes::from(buf), (Some(file), left - n as u64))))
        }
    })
}

/// An upload session the registry opened (`202 Accepted` and a
/// `Location`).
pub struct Upload {
    /// Where the next request goes; every answer may move it.
    location: Url,
}

/// What a mount request achieved.
pub enum Mount {
    /// The registry linked the blob from the other repository.
    Mounted,
    /// It could not (unknown blob, no access there) and opened an upload.
    Upload(Upload),
}

impl Client {
    /// `domain/path` as a push target: the registry itself (never a
    /// mirror), with tokens asked for `pull,push`.
    pub async fn push_repository(&self, domain: &str, path: &str) -> Result<Repository> {
        let mut repos = self.repositories(domain, path).await?;
        let mut repo = repos
            .pop()
            .ok_or_else(|| RegistryError::Url(format!("{domain}/{path}")))?;
        repo.scope = format!("repository:{path}:pull,push");
        Ok(repo)
    }

    /// True when the repository already holds the blob (`HEAD` answers 200).
    pub async fn blob_exists(&self, repo: &Repository, digest: &Digest) -> Result<bool> {
        let url = repo.url(&format!("blobs/{digest}"))?;
        match self.send(repo, Method::HEAD, url, HeaderMap::new()).await {
            Ok(_) => Ok(true),
            Err(e) if status_of(&e) == Some(StatusCode::NOT_FOUND) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Asks the registry to link `digest` from repository `from` (a path
    /// on the same registry). The request needs pull access to `from`, so
    /// the token is asked for both scopes; a registry that refuses that
    /// access anyway gets a plain upload instead.
    pub async fn mount_blob(
        &self,
        repo: &Repository,
        digest: &Digest,
        from: &str,
    ) -> Result<Mount> {
        let mut mounting = repo.clone();
        mounting.scope = format!("{} repository:{from}:pull", repo.scope);
        let mut url = repo.url("blobs/uploads/")?;
        url.query_pairs_mut()
            .append_pair("mount", digest.as_str())
            .append_pair("from", from);
        let response = match self
            .send(&mounting, Method::POST, url, HeaderMap::new())
            .await
        {
            Ok(response) => response,
            Err(e) if is_access_error(&e) => {
                return Ok(Mount::Upload(self.start_upload(repo).await?))
            }
            Err(e) => return Err(e),
        };
        if response.status() == StatusCode::CREATED {
            return Ok(Mount::Mounted);
        }
        Ok(Mount::Upload(Upload {
            location: location(&response)?,
        }))
    }

    /// Gives back a session that will not be used. Best effort: a session
    /// left open expires on the registry.
    pub async fn cancel_upload(&self, repo: &Repository, upload: Upload) {
        let _ = self
            .send(repo, Method::DELETE, upload.location, HeaderMap::new())
            .await;
    }

    /// Opens an upload session.
    pub async fn start_upload(&self, repo: &Repository) -> Result<Upload> {
        let url = repo.url("blobs/uploads/")?;
        let response = self.send(repo, Method::POST, url, HeaderMap::new()).await?;
        Ok(Upload {
            location: location(&response)?,
        })
    }

    /// Uploads the file at `path` (`size` bytes, named `digest`) through
    /// `upload`, reporting each byte sent to `sent`.
    pub async fn upload_blob(
        &self,
        repo: &Repository,
        mut upload: Upload,
        path: &Path,
        digest: &Digest,
        size: u64,
        sent: &(dyn Fn(u64) + Sync),
    ) -> Result<()> {
        let on_disk = tokio::fs::metadata(path)
            .await
            .map_err(|e| file_error(path, e))?
            .len();
        if on_disk != size {
            return Err(file_error(
                path,
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{on_disk} bytes where the blob has {size}"),
                ),
            ));
        }
        // Progress only moves forward, also when a new session starts over.
        let reported = AtomicU64::new(0);
        let reached = |end: u64| {
            let before = reported.fetch_max(end, Ordering::Relaxed);
            if end > before {
                sent(end - before);
            }
        };
        let mut restarts = 0;
        loop {
            match self
                .send_blob(repo, &mut upload, path, digest, size, &reached)
                .await
            {
                Err(e)
                    if restarts < MAX_RETRIES && status_of(&e) == Some(StatusCode::NOT_FOUND) =>
                {
                    // The registry dropped the session: distribution cancels
                    // one whose stored bytes are not what its Location says,
                    // as when it kept part of a chunk that never got an
                    // answer. The blob goes up again in a new one.
                    restarts += 1;
                    upload = self.start_upload(repo).await?;
                }
                done => return done,
            }
        }
    }

    /// Sends the blob through one upload session: in one `PUT` when it is
    /// small, else chunk by chunk, each failed chunk resumed from the
    /// registry's offset. `reached` hears the offsets the registry holds.
    async fn send_blob(
        &self,
        repo: &Repository,
        upload: &mut Upload,
        path: &Path,
        digest: &Digest,
        size: u64,
        reached: &(dyn Fn(u64) + Sync),
    ) -> Result<()> {
        let range = |offset, len| Payload::File {
            path: path.to_path_buf(),
            offset,
            len,
        };
        if size <= CHUNK_SIZE {
            upload.complete(self, repo, digest, &range(0, size)).await?;
            reached(size);
            return Ok(());
        }
        let mut offset = 0;
        let mut failures = 0;
        while offset < size {
            let len = CHUNK_SIZE.min(size - offset);
            match upload.patch(self, repo, offset, &range(offset, len)).await {
                Ok(()) => {
                    offset += len;
                    failures = 0;
                }
                Err(e) if failures < MAX_RETRIES && is_resumable(&e) => {
                    failures += 1;
                    tokio::time::sleep(super::backoff(failures)).await;
                    // The registry may have kept part of the chunk: carry on
                    // from what it says it has.
                    offset = upload.offset(self, repo).await?;
                }
                Err(e) => return Err(e),
            }
            reached(offset);
        }
        // An empty body, not none: some registries want a length on a PUT.
        upload
            .complete(self, repo, digest, &Payload::Bytes(Bytes::new()))
            .await
    }

    /// `PUT`s a manifest under a tag or digest, as `media_type`.
    pub async fn put_manifest(
        &self,
        repo: &Repository,
        reference: &str,
        media_type: &str,
        bytes: Bytes,
    ) -> Result<()> {
        let url = repo.url(&format!("manifests/{reference}"))?;
        let mut headers = HeaderMap::new();
        let content_type =
            HeaderValue::from_str(media_type).map_err(|_| RegistryError::Url(media_type.into()))?;
        headers.insert(CONTENT_TYPE, content_type);
        self.send_body(repo, Method::PUT, url, headers, &Payload::Bytes(bytes))
            .await?;
        Ok(())
    }
}

impl Upload {
    /// Sends one chunk, a file range starting at `offset`.
    async fn patch(
        &mut self,
        client: &Client,
        repo: &Repository,
        offset: u64,
        chunk: &Payload,
    ) -> Result<()> {
        let mut headers = octet_stream();
        let range = format!("{offset}-{}", (offset + chunk.len()).saturating_sub(1));
        if let Ok(value) = HeaderValue::from_str(&range) {
            headers.insert(CONTENT_RANGE, value);
        }
        let response = client
            .send_body(repo, Method::PATCH, self.location.clone(), headers, chunk)
            .await?;
        self.follow(&response)
    }

    /// How many bytes the registry holds for this upload (`GET` on the
    /// session: `204` with `Range: 0-<last>`).
    async fn offset(&mut self, client: &Client, repo: &Repository) -> Result<u64> {
        let response = client
            .send(repo, Method::GET, self.location.clone(), HeaderMap::new())
            .await?;
        self.follow(&response)?;
        let last = response
            .headers()
            .get(RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim_start_matches("bytes=").split('-').nth(1))
            .and_then(|end| end.trim().parse::<u64>().ok());
        Ok(last.map_or(0, |last| last + 1))
    }

    /// Closes the session with `PUT ?digest=`, carrying the blob when it
    /// is small enough for one request.
    async fn complete(
        &self,
        client: &Client,
        repo: &Repository,
        digest: &Digest,
        body: &Payload,
    ) -> Result<()> {
        let mut url = self.location.clone();
        url.query_pairs_mut().append_pair("digest", digest.as_str());
        client
            .send_body(repo, Method::PUT, url, octet_stream(), body)
            .await?;
        Ok(())
    }

    fn follow(&mut self, response: &Response) -> Result<()> {
        if response.headers().contains_key(LOCATION) {
            self.location = location(response)?;
        }
        Ok(())
    }
}

fn octet_stream() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers
}

/// The `Location` of an answer, resolved against the request's URL (the
/// registry usually sends a path).
fn location(response: &Response) -> Result<Url> {
    let value = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| RegistryError::Transport {
            method: Method::POST,
            url: response.url().to_string(),
            cause: "upload answer without a Location".into(),
        })?;
    response
        .url()
        .join(value)
        .map_err(|_| RegistryError::Url(value.to_string()))
}

pub(super) fn status_of(e: &RegistryError) -> Option<StatusCode> {
    match e {
        RegistryError::Api { status, .. } => StatusCode::from_u16(*status).ok(),
        RegistryError::Status { status, .. } => Some(*status),
        _ => None,
    }
}

fn is_access_error(e: &RegistryError) -> bool {
    matches!(
        e.code(),
        Some(super::code::DENIED | super::code::UNAUTHORIZED)
    )
}

/// A chunk that failed in transit, or that the registry refused as out of
/// line with what it holds (416), can be resent from the registry's offset.
fn is_resumable(e: &RegistryError) -> bool {
    matches!(e, RegistryError::Transport { .. })
        || status_of(e).is_some_and(|s| {
            s == StatusCode::RANGE_NOT_SATISFIABLE || super::is_transient_status(s)
        })
}

fn file_error(path: &Path, source: std::io::Error) -> RegistryError {
    RegistryError::Read {
        path: path.to_path_buf(),
        source,
    }
}
