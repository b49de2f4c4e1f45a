//! A client for OCI distribution registries (Docker Hub, GHCR, Quay,
//! `registry:2`, Harbor, ...): endpoint and scheme choice, the auth
//! challenge flow, retries with backoff, and blob downloads that resume
//! with `Range` after an interruption.
//!
//! The client moves bytes; it verifies nothing. The caller checks every
//! digest before anything is stored.

pub mod auth;
pub mod config;
pub mod credentials;
pub mod login;
pub mod search;
pub mod upload;

pub use config::RegistryConfig;
pub use credentials::{Credential, DockerConfig};

use crate::digest::Digest;
use crate::oci::media_type;
use auth::{AuthCache, Challenge};
use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, RANGE, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode, Url};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use upload::Payload;

const DOCKER_HUB: &str = "docker.io";
/// Docker Hub's API host: `docker.io` itself serves a website.
const DOCKER_HUB_ENDPOINT: &str = "https://registry-1.docker.io";

/// Every manifest type rimg understands, plus schema 1 so that a registry
/// holding only schema 1 answers with it and the user gets a clear
/// "not supported" instead of "manifest unknown".
const MANIFEST_ACCEPT: &str = concat!(
    "application/vnd.oci.image.index.v1+json, ",
    "application/vnd.docker.distribution.manifest.list.v2+json, ",
    "application/vnd.oci.image.manifest.v1+json, ",
    "application/vnd.docker.distribution.manifest.v2+json, ",
    "application/vnd.docker.distribution.manifest.v1+prettyjws;q=0.5, ",
    "application/vnd.docker.distribution.manifest.v1+json;q=0.5"
);

/// Configs, tag lists and catalogs bigger than this are refused.
const MAX_DOCUMENT: usize = crate::store::MAX_JSON_BLOB as usize;
/// All pages of one tag list (or catalog) together: the largest
/// repositories on Docker Hub list a few MB of tags, and a registry that
/// sends more is trying to exhaust memory.
const MAX_TAG_LIST: usize = MAX_DOCUMENT;
/// A tag list or catalog in more pages than this is refused, not cut
/// short.
const MAX_TAG_PAGES: usize = 1_000;
/// Manifests and indexes bigger than this are refused: the distribution
/// registry accepts no larger manifest on push, so only a hostile server
/// sends one.
const MAX_MANIFEST: usize = 4 << 20;
/// Error bodies are read only this far.
const MAX_ERROR_BODY: usize = 64 << 10;

/// Retries for a transient failure (5xx, 429, reset, timeout), and for a
/// refused connection, which is less likely to heal in seconds.
const MAX_RETRIES: u32 = 5;
const CONNECT_RETRIES: u32 = 2;
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// The longest `Retry-After` honoured; a registry asking for more gets
/// this much and then another try.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// How long the HTTPS probe of an insecure registry may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// curl's low-speed limit: a body that brings less than this within the
/// stall timeout, silent or trickling, is treated as a dropped connection.
const LOW_SPEED_BYTES: usize = 1 << 10;
/// How long an error body (read only for its message) may take.
const ERROR_BODY_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// An error the registry stated: `manifest unknown: manifest unknown`,
    /// `denied: requested access to the resource is denied`.
    #[error("{}: {message}", code.to_ascii_lowercase().replace('_', " "))]
    Api {
        status: u16,
        /// The distribution spec's code, e.g. `MANIFEST_UNKNOWN`.
        code: String,
        message: String,
    },
    /// Go's wording for a failed request, as Docker prints it:
    /// `Get "https://...": <cause>`.
    #[error("{} \"{url}\": {cause}", go_op(method))]
    Transport {
        method: Method,
        url: String,
        cause: String,
    },
    #[error("{} \"{url}\": unexpected status {status}", go_op(method))]
    Status {
        method: Method,
        url: String,
        status: StatusCode,
    },
    #[error(transparent)]
    Credentials(#[from] credentials::CredentialError),
    #[error("getting a token from {realm}: {reason}")]
    Token { realm: String, reason: String },
    #[error("{url}: response larger than {limit} bytes")]
    TooLarge { url: String, limit: usize },
    #[error("{} \"{url}\": {failure}; waiting {asked}s more to retry would pass the {limit}s rimg waits in all (max-retry-wait)", go_op(method))]
    RetryWait {
        method: Method,
        url: String,
        failure: String,
        asked: u64,
        limit: u64,
    },
    /// `what`: "the tag list of library/ubuntu", "the catalog of …".
    #[error("{what} is longer than {limit}")]
    ListTooLong { what: String, limit: String },
    #[error("invalid registry URL {0:?}")]
    Url(String),
    /// A local file being uploaded could not be read.
    // `source` is the cause `{:#}` prints after the message.
    #[error("reading {}", path.display())]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// `GET` as Go's `url.Error` spells it: `Get`.
fn go_op(method: &Method) -> String {
    let name = method.as_str();
    let mut op = name[..1].to_string();
    op.push_str(&name[1..].to_ascii_lowercase());
    op
}

pub mod code {
    pub const UNAUTHORIZED: &str = "UNAUTHORIZED";
    pub const DENIED: &str = "DENIED";
    pub const MANIFEST_UNKNOWN: &str = "MANIFEST_UNKNOWN";
    pub const NAME_UNKNOWN: &str = "NAME_UNKNOWN";
}

impl RegistryError {
    /// The distribution error code, for errors the registry stated.
    pub fn code(&self) -> Option<&str> {
        match self {
            RegistryError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// One place a repository can be pulled from: a mirror or the registry.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// `scheme://host[:port][/prefix]`, without a trailing slash.
    base: Url,
    /// `host[:port]`: what credentials and tokens are looked up by.
    host: String,
    pub is_mirror: bool,
    /// HTTPS without certificate checks (an insecure registry).
    unverified_tls: bool,
}

impl Endpoint {
    pub fn base(&self) -> &Url {
        &self.base
    }
}

/// A repository on one endpoint, with the auth scope pulls need.
#[derive(Clone, Debug)]
pub struct Repository {
    pub endpoint: Endpoint,
    /// `library/ubuntu`.
    path: String,
    scope: String,
}

impl Repository {
    fn url(&self, suffix: &str) -> Result<Url> {
        let text = format!(
            "{}/v2/{}/{suffix}",
            self.endpoint.base.as_str().trim_end_matches('/'),
            self.path
        );
        Url::parse(&text).map_err(|_| RegistryError::Url(text))
    }
}

/// A manifest or index as the registry served it.
pub struct FetchedManifest {
    pub bytes: Bytes,
    /// The `Content-Type`, without parameters (empty if none was sent).
    pub media_type: String,
}

pub struct Client {
    http: reqwest::Client,
    /// For HTTPS to insecure registries (loopback hosts and
    /// `insecure-registries`): Docker talks TLS to them without checking
    /// the certificate.
    unverified: reqwest::Client,
    config: RegistryConfig,
    docker_config: Arc<DockerConfig>,
    /// Credential lookups by host, done once per run: a helper may be slow.
    credentials: Mutex<HashMap<String, Option<Credential>>>,
    auth: AuthCache,
}

impl Client {
    pub fn new(config: RegistryConfig, docker_config: DockerConfig) -> Result<Client> {
        let build = |verify: bool| {
            reqwest::Client::builder()
                .user_agent(concat!("rimg/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(config.timeouts.connect)
                // reqwest drops Authorization (and cookies) when a redirect
                // leaves the host, so Docker Hub's CDN never sees the token.
                .redirect(reqwest::redirect::Policy::limited(10))
                .danger_accept_invalid_certs(!verify)
                .build()
                .map_err(|e| RegistryError::Transport {
                    method: Method::GET,
                    url: String::new(),
                    cause: describe(&e),
                })
        };
        Ok(Client {
            http: build(true)?,
            unverified: build(false)?,
            config,
            docker_config: Arc::new(docker_config),
            credentials: Mutex::new(HashMap::new()),
            auth: AuthCache::default(),
        })
    }

    /// Where `path` on `domain` can be pulled from, in the order to try:
    /// for Docker Hub the configured mirrors, then Hub itself.
    pub async fn repositories(&self, domain: &str, path: &str) -> Result<Vec<Repository>> {
        let scope = format!("repository:{path}:pull");
        let mut endpoints = Vec::new();
        if domain == DOCKER_HUB {
            for mirror in &self.config.registry_mirrors {
                let host = host_port(mirror);
                endpoints.push(Endpoint {
                    unverified_tls: self.config.is_insecure(&host),
                    host,
                    base: mirror.clone(),
                    is_mirror: true,
                });
            }
        }
        let insecure = domain != DOCKER_HUB && self.config.is_insecure(domain);
        let base = if domain == DOCKER_HUB {
            DOCKER_HUB_ENDPOINT.to_string()
        } else if insecure && !self.speaks_tls(domain).await {
            format!("http://{domain}")
        } else {
            format!("https://{domain}")
        };
        endpoints.push(Endpoint {
            base: Url::parse(&base).map_err(|_| RegistryError::Url(base))?,
            host: domain.to_string(),
            is_mirror: false,
            unverified_tls: insecure,
        });
        Ok(endpoints
            .into_iter()
            .map(|endpoint| Repository {
                endpoint,
                path: path.to_string(),
                scope: scope.clone(),
            })
            .collect())
    }

    /// Docker's rule for an insecure registry: HTTPS (certificate
    /// unchecked) if it speaks TLS at all, else plain HTTP. One request to
    /// `/v2/` decides; any HTTP answer means TLS worked.
    async fn speaks_tls(&self, domain: &str) -> bool {
        let probe = self.unverified.get(format!("https://{domain}/v2/")).send();
        matches!(tokio::time::timeout(PROBE_TIMEOUT, probe).await, Ok(Ok(_)))
    }

    fn http_for(&self, endpoint: &Endpoint) -> &reqwest::Client {
        if endpoint.unverified_tls {
            &self.unverified
        } else {
            &self.http
        }
    }

    /// Fetches a manifest or index by tag or digest.
    pub async fn manifest(&self, repo: &Repository, reference: &str) -> Result<FetchedManifest> {
        let url = repo.url(&format!("manifests/{reference}"))?;
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(MANIFEST_ACCEPT));
        let (media_type, bytes) = self
            .fetch_document(repo, url, headers, MAX_MANIFEST)
            .await?;
        Ok(FetchedManifest { bytes, media_type })
    }

    /// Fetches a small blob (an image config) whole.
    pub async fn small_blob(&self, repo: &Repository, digest: &Digest) -> Result<Bytes> {
        let url = repo.url(&format!("blobs/{digest}"))?;
        Ok(self
            .fetch_document(repo, url, HeaderMap::new(), MAX_DOCUMENT)
            .await?
            .1)
    }

    /// Starts streaming a blob of `size` bytes.
    pub fn blob<'a>(&'a self, repo: &'a Repository, digest: &Digest, size: u64) -> BlobStream<'a> {
        self.blob_from(repo, digest, size, 0)
    }

    /// Streams a blob of `size` bytes from byte `offset` on: the rest of a
    /// download an earlier process left partial. A registry that ignores
    /// `Range` resends the whole blob and the first `offset` bytes are
    /// dropped.
    pub fn blob_from<'a>(
        &'a self,
        repo: &'a Repository,
        digest: &Digest,
        size: u64,
        offset: u64,
    ) -> BlobStream<'a> {
        BlobStream {
            client: self,
            repo,
            digest: digest.clone(),
            size,
            received: offset,
            skip: 0,
            response: None,
            failures: 0,
            received_at_failure: offset,
        }
    }

    /// Every tag of the repository, following `Link` pagination.
    pub async fn tags(&self, repo: &Repository) -> Result<Vec<String>> {
        let what = format!("the tag list of {}", repo.path);
        self.list_pages(repo, repo.url("tags/list")?, "tags", &what)
            .await
    }

    /// The strings under `field` of a paginated list (`tags/list`,
    /// `_catalog`), from `first` on, following `Link` headers: without
    /// repeats, bounded in bytes and pages (`what` names the list in the
    /// error).
    async fn list_pages(
        &self,
        repo: &Repository,
        first: Url,
        field: &str,
        what: &str,
    ) -> Result<Vec<String>> {
        let too_long = |limit: String| RegistryError::ListTooLong {
            what: what.to_string(),
            limit,
        };
        let mut items = Vec::new();
        let mut seen = HashSet::new();
        let mut visited = HashSet::new();
        let mut budget = MAX_TAG_LIST;
        let mut next = Some(first);
        for _ in 0..MAX_TAG_PAGES {
            // A link back to a page already read is a loop, not more items.
            let Some(url) = next.take().filter(|url| visited.insert(url.clone())) else {
                return Ok(items);
            };
            let response = self
                .send(repo, Method::GET, url.clone(), HeaderMap::new())
                .await?;
            next = next_link(&url, response.headers());
            let body = read_limited(response, budget, &url, self.config.timeouts.stall)
                .await
                .map_err(|e| match e {
                    RegistryError::TooLarge { .. } => too_long(format!("{MAX_TAG_LIST} bytes")),
                    e => e,
                })?;
            budget -= body.len();
            let invalid = |cause: String| RegistryError::Transport {
                method: Method::GET,
                url: url.to_string(),
                cause,
            };
            let mut page: HashMap<String, serde_json::Value> = serde_json::from_slice(&body)
                .map_err(|e| invalid(format!("{what} is invalid: {e}")))?;
            let page: Vec<String> = match page.remove(field) {
                None | Some(serde_json::Value::Null) => Vec::new(),
                Some(value) => serde_json::from_value(value)
                    .map_err(|e| invalid(format!("{what} is invalid: {e}")))?,
            };
            let known = items.len();
            for item in page {
                if seen.insert(item.clone()) {
                    items.push(item);
                }
            }
            // A page with nothing new is a registry repeating itself.
            if items.len() == known {
                return Ok(items);
            }
        }
        match next {
            None => Ok(items),
            Some(_) => Err(too_long(format!("{MAX_TAG_PAGES} pages"))),
        }
    }

    /// GETs a small document whole (at most `limit` bytes), retrying when
    /// the body breaks off.
    async fn fetch_document(
        &self,
        repo: &Repository,
        url: Url,
        headers: HeaderMap,
        limit: usize,
    ) -> Result<(String, Bytes)> {
        let mut attempt = 0;
        loop {
            let response = self
                .send(repo, Method::GET, url.clone(), headers.clone())
                .await?;
            let media_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.split(';').next().unwrap_or("").trim().to_string())
                .unwrap_or_default();
            match read_limited(response, limit, &url, self.config.timeouts.stall).await {
                Ok(bytes) => return Ok((media_type, bytes)),
                Err(RegistryError::Transport { .. }) if attempt < MAX_RETRIES => {
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends an authenticated request: the cached `Authorization` for the
    /// repository's scope, a challenge answered on 401, transient failures
    /// retried. Returns only successful responses.
    async fn send(
        &self,
        repo: &Repository,
        method: Method,
        url: Url,
        headers: HeaderMap,
    ) -> Result<Response> {
        self.send_body(repo, method, url, headers, &Payload::Empty)
            .await
    }

    /// [`Client::send`] with a request body, sent afresh on a retry.
    async fn send_body(
        &self,
        repo: &Repository,
        method: Method,
        url: Url,
        headers: HeaderMap,
        body: &Payload,
    ) -> Result<Response> {
        let host = &repo.endpoint.host;
        let mut answered = false;
        loop {
            let authorization = self.auth.get(host, &repo.scope);
            // Headers come only once an upload's body is sent, which may
            // take long; the body's own stream bounds that.
            let response_timeout = match body {
                Payload::File { .. } => Duration::MAX,
                _ => self.config.timeouts.response,
            };
            let response = self
                .with_retries_within(&method, &url, response_timeout, || {
                    let request = self
                        .http_for(&repo.endpoint)
                        .request(method.clone(), url.clone())
                        .headers(headers.clone());
                    let request = body.attach(request);
                    match &authorization {
                        Some(value) => request.header(AUTHORIZATION, value),
                        None => request,
                    }
                })
                .await?;
            if response.status() == StatusCode::UNAUTHORIZED && !answered {
                answered = true;
                if self.answer(repo, &challenges(&response)).await? {
                    continue;
                }
            }
            if response.status().is_success() {
                return Ok(response);
            }
            return Err(error_from_response(&method, &url, response).await);
        }
    }

    /// Sends the request `build` makes until it gets a response that is not
    /// a transient failure, or retries run out (the last response is then
    /// returned as it is). Response headers must come within the response
    /// timeout, and the pauses between tries add up to at most the retry
    /// wait: a registry asking for a longer `Retry-After` is told no.
    async fn with_retries(
        &self,
        method: &Method,
        url: &Url,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Response> {
        let response_timeout = self.config.timeouts.response;
        self.with_retries_within(method, url, response_timeout, build)
            .await
    }

    /// [`Client::with_retries`] waiting `response_timeout` for headers.
    async fn with_retries_within(
        &self,
        method: &Method,
        url: &Url,
        response_timeout: Duration,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Response> {
        let retry_wait = self.config.timeouts.retry_wait;
        let no_answer = || {
            format!(
                "no response from {} within {}s",
                url.host_str().unwrap_or_default(),
                response_timeout.as_secs()
            )
        };
        let mut attempt = 0;
        let mut waited = Duration::ZERO;
        loop {
            let outcome = tokio::time::timeout(response_timeout, build().send()).await;
            let (limit, delay) = match &outcome {
                Ok(Ok(response)) if is_transient_status(response.status()) => (
                    MAX_RETRIES,
                    retry_after(response).unwrap_or_else(|| backoff(attempt)),
                ),
                Ok(Err(e)) if e.is_connect() => (CONNECT_RETRIES, backoff(attempt)),
                Ok(Err(e)) if is_transient(e) => (MAX_RETRIES, backoff(attempt)),
                Err(_) => (CONNECT_RETRIES, backoff(attempt)),
                _ => (0, Duration::ZERO),
            };
            if attempt >= limit {
                return match outcome {
                    Ok(outcome) => outcome.map_err(|e| transport(method, url, &e)),
                    Err(_) => Err(RegistryError::Transport {
                        method: method.clone(),
                        url: url.to_string(),
                        cause: no_answer(),
                    }),
                };
            }
            if waited + delay > retry_wait {
                return Err(RegistryError::RetryWait {
                    method: method.clone(),
                    url: url.to_string(),
                    failure: match outcome {
                        Ok(Ok(response)) => response.status().to_string(),
                        Ok(Err(e)) => describe(&e),
                        Err(_) => no_answer(),
                    },
                    asked: delay.as_secs(),
                    limit: retry_wait.as_secs(),
                });
            }
            attempt += 1;
            waited += delay;
            tokio::time::sleep(delay).await;
        }
    }

    /// Answers a 401's challenge by caching an `Authorization` value for
    /// the repository's host and scope. False when there is nothing to
    /// answer with (no credential for a Basic challenge, no known scheme).
    async fn answer(&self, repo: &Repository, challenges: &[Challenge]) -> Result<bool> {
        let host = &repo.endpoint.host;
        let credential = self.credential(host).await?;
        if let Some(bearer) = challenges.iter().find(|c| c.scheme == "bearer") {
            let token = self.token(repo, bearer, credential.as_ref()).await?;
            self.auth
                .insert(host, &repo.scope, format!("Bearer {token}"));
            return Ok(true);
        }
        match (challenges.iter().any(|c| c.scheme == "basic"), credential) {
            (true, Some(Credential::Basic { username, password })) => {
                self.auth
                    .insert(host, &repo.scope, basic_auth(&username, &password));
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn credential(&self, host: &str) -> Result<Option<Credential>> {
        if let Some(found) = self.lock_credentials().get(host) {
            return Ok(found.clone());
        }
        // Credential helpers are programs; keep them off the async workers.
        let docker_config = self.docker_config.clone();
        let server = host.to_string();
        let found = tokio::task::spawn_blocking(move || docker_config.lookup(&server))
            .await
            .map_err(|e| credentials::CredentialError::Helper(e.to_string()))??;
        self.lock_credentials()
            .insert(host.to_string(), found.clone());
        Ok(found)
    }

    fn lock_credentials(&self) -> std::sync::MutexGuard<'_, HashMap<String, Option<Credential>>> {
        self.credentials.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Gets a Bearer token from the challenge's realm (Docker's token
    /// spec), presenting the user's credential when there is one.
    async fn token(
        &self,
        repo: &Repository,
        challenge: &Challenge,
        credential: Option<&Credential>,
    ) -> Result<String> {
        let realm = challenge.param("realm").unwrap_or_default().to_string();
        let token_error = |reason: String| RegistryError::Token {
            realm: realm.clone(),
            reason,
        };
        let realm_url = Url::parse(&realm).map_err(|_| token_error("invalid realm".into()))?;
        let service = challenge.param("service").unwrap_or_default();
        let method = match credential {
            Some(Credential::IdentityToken { .. }) => Method::POST,
            _ => Method::GET,
        };
        let http = self.http_for(&repo.endpoint);
        let response = self
            .with_retries(&method, &realm_url, || match credential {
                // An identity token is an OAuth2 refresh token.
                Some(Credential::IdentityToken { token, .. }) => {
                    http.post(realm_url.clone()).form(&[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", token),
                        ("service", service),
                        ("scope", &repo.scope),
                        ("client_id", "rimg"),
                    ])
                }
                _ => {
                    let request = http
                        .get(realm_url.clone())
                        .query(&[("service", service), ("scope", &repo.scope)]);
                    match credential {
                        Some(Credential::Basic { username, password }) => {
                            request.header(AUTHORIZATION, basic_auth(username, password))
                        }
                        _ => request,
                    }
                }
            })
            .await?;
        if !response.status().is_success() {
            return Err(token_failure(&method, &realm_url, response).await);
        }
        let body = read_limited(
            response,
            MAX_DOCUMENT,
            &realm_url,
            self.config.timeouts.stall,
        )
        .await?;
        let parsed: auth::TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| token_error(format!("invalid reply: {e}")))?;
        parsed
            .into_token()
            .ok_or_else(|| token_error("reply holds no token".into()))
    }
}

/// Streams one blob, transparently resuming with `Range` where a
/// connection broke off, timed out or ended early.
pub struct BlobStream<'a> {
    client: &'a Client,
    repo: &'a Repository,
    digest: Digest,
    size: u64,
    received: u64,
    /// Bytes still to drop from a `200` answer to a `Range` request (a
    /// server that ignores ranges resends from the start).
    skip: u64,
    /// The body being read, and its stall watch.
    response: Option<(Response, StallWatch)>,
    /// Interruptions since [`LOW_SPEED_BYTES`] last arrived in one go.
    failures: u32,
    /// `received` at the last interruption.
    received_at_failure: u64,
}

impl BlobStream<'_> {
    /// The next chunk, or `None` once `size` bytes have arrived. Never
    /// yields more than `size` bytes in total: a longer body is cut, and
    /// the digest check then decides.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        loop {
            if self.received >= self.size {
                return Ok(None);
            }
            let read = match &mut self.response {
                Some((response, watch)) => watch.chunk(response).await,
                None => {
                    let response = self.open().await?;
                    let watch = StallWatch::new(self.client.config.timeouts.stall);
                    self.response = Some((response, watch));
                    continue;
                }
            };
            let cause = match read {
                Ok(Some(mut chunk)) => {
                    if self.skip > 0 {
                        let dropped = self.skip.min(chunk.len() as u64);
                        self.skip -= dropped;
                        let _ = chunk.split_to(dropped as usize);
                    }
                    if chunk.is_empty() {
                        continue;
                    }
                    let wanted = self.size - self.received;
                    if chunk.len() as u64 > wanted {
                        chunk.truncate(wanted as usize);
                    }
                    self.received += chunk.len() as u64;
                    // A trickle that resumes after each stall is no progress.
                    if self.received - self.received_at_failure >= LOW_SPEED_BYTES as u64 {
                        self.failures = 0;
                    }
                    return Ok(Some(chunk));
                }
                Ok(None) => {
                    format!("body ended after {} of {} bytes", self.received, self.size)
                }
                Err(cause) => cause,
            };
            self.response = None;
            self.received_at_failure = self.received;
            if self.failures >= MAX_RETRIES {
                return Err(RegistryError::Transport {
                    method: Method::GET,
                    url: self
                        .repo
                        .url(&format!("blobs/{}", self.digest))?
                        .to_string(),
                    cause,
                });
            }
            tokio::time::sleep(backoff(self.failures)).await;
            self.failures += 1;
        }
    }

    /// Requests the blob from where the last attempt stopped.
    async fn open(&mut self) -> Result<Response> {
        let url = self.repo.url(&format!("blobs/{}", self.digest))?;
        let mut headers = HeaderMap::new();
        if self.received > 0 {
            let range = format!("bytes={}-", self.received);
            if let Ok(value) = HeaderValue::from_str(&range) {
                headers.insert(RANGE, value);
            }
        }
        let response = self
            .client
            .send(self.repo, Method::GET, url, headers)
            .await?;
        let resumed_at = (response.status() == StatusCode::PARTIAL_CONTENT)
            .then(|| content_range_start(response.headers()))
            .flatten();
        // Anything but a 206 starting exactly where we stopped is the whole
        // blob again.
        self.skip = match resumed_at {
            Some(start) if start == self.received => 0,
            _ => self.received,
        };
        if response.status() == StatusCode::PARTIAL_CONTENT && self.skip > 0 {
            // A partial answer from elsewhere cannot be lined up: start over.
            self.received = 0;
            self.skip = 0;
            return Err(RegistryError::Transport {
                method: Method::GET,
                url: response.url().to_string(),
                cause: "server answered a Range request with a different range".into(),
            });
        }
        Ok(response)
    }
}

fn content_range_start(headers: &HeaderMap) -> Option<u64> {
    let value = headers.get(reqwest::header::CONTENT_RANGE)?.to_str().ok()?;
    let range = value.strip_prefix("bytes ")?;
    range.split('-').next()?.trim().parse().ok()
}

fn challenges(response: &Response) -> Vec<Challenge> {
    response
        .headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(auth::parse_challenges)
        .collect()
}

fn basic_auth(username: &str, password: &str) -> String {
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    format!("Basic {encoded}")
}

/// `host[:port]` of a URL.
fn host_port(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_string(),
        _ => String::new(),
    }
}

/// The `rel="next"` target of a `Link` header, resolved against `base`.
fn next_link(base: &Url, headers: &HeaderMap) -> Option<Url> {
    let link = headers.get(reqwest::header::LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        if !params.contains("rel=\"next\"") && !params.contains("rel=next") {
            return None;
        }
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        base.join(target).ok()
    })
}

fn is_transient_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
}

fn is_transient(e: &reqwest::Error) -> bool {
    e.is_timeout() || e.is_connect() || e.is_request() || e.is_body()
}

fn backoff(attempt: u32) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(1 << attempt.min(16))
        .min(MAX_BACKOFF)
}

/// A `Retry-After` in seconds (the form registries send).
fn retry_after(response: &Response) -> Option<Duration> {
    let value = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    let seconds: u64 = value.trim().parse().ok()?;
    Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER))
}

/// A reqwest error as its chain of causes, the innermost last: "error
/// sending request: client error (Connect): tcp connect error: Connection
/// refused (os error 111)" says what happened where the top alone does not.
fn describe(e: &reqwest::Error) -> String {
    // The top level only says "error sending request for url (...)"; the
    // caller prints the URL itself.
    let mut parts: Vec<String> = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    if parts.is_empty() {
        return e.to_string();
    }
    parts.join(": ")
}

fn transport(method: &Method, url: &Url, e: &reqwest::Error) -> RegistryError {
    RegistryError::Transport {
        method: method.clone(),
        url: url.to_string(),
        cause: describe(e),
    }
}

/// Reads a whole body, refusing more than `limit` bytes and a body that
/// stalls for `stall`.
async fn read_limited(
    mut response: Response,
    limit: usize,
    url: &Url,
    stall: Duration,
) -> Result<Bytes> {
    let mut body = BytesMut::new();
    let mut watch = StallWatch::new(stall);
    loop {
        let chunk = watch
            .chunk(&mut response)
            .await
            .map_err(|cause| RegistryError::Transport {
                method: Method::GET,
                url: url.to_string(),
                cause,
            })?;
        let Some(chunk) = chunk else {
            return Ok(body.freeze());
        };
        if body.len() + chunk.len() > limit {
            return Err(RegistryError::TooLarge {
                url: url.to_string(),
                limit,
            });
        }
        body.extend_from_slice(&chunk);
    }
}

/// Watches a body for stalls, as curl's low-speed limit does: each
/// `window` must bring at least [`LOW_SPEED_BYTES`], so a server that
/// trickles a byte every few seconds is caught as surely as a silent one.
pub(crate) struct StallWatch {
    window: Duration,
    since: tokio::time::Instant,
    bytes: usize,
}

impl StallWatch {
    pub(crate) fn new(window: Duration) -> StallWatch {
        StallWatch {
            window,
            since: tokio::time::Instant::now(),
            bytes: 0,
        }
    }

    /// The body's next chunk (`None` at its end), or what went wrong.
    pub(crate) async fn chunk(&mut self, response: &mut Response) -> Result<Option<Bytes>, String> {
        match tokio::time::timeout_at(self.since + self.window, response.chunk()).await {
            Ok(Ok(chunk)) => {
                self.bytes += chunk.as_ref().map_or(0, Bytes::len);
                if self.bytes >= LOW_SPEED_BYTES {
                    self.since = tokio::time::Instant::now();
                    self.bytes = 0;
                }
                Ok(chunk)
            }
            Ok(Err(e)) => Err(describe(&e)),
            Err(_) => Err(format!(
                "stalled: less than {LOW_SPEED_BYTES} bytes in {}s",
                self.window.as_secs()
            )),
        }
    }
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
}

#[derive(serde::Deserialize)]
struct ErrorEntry {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// Turns a failed response into the error the registry meant, as the
/// distribution client Docker uses does: a Bearer challenge's `error`
/// first (`insufficient_scope` is "denied"), then the JSON error body,
/// then the bare status.
async fn error_from_response(method: &Method, url: &Url, response: Response) -> RegistryError {
    let status = response.status();
    let from_challenge = challenges(&response).into_iter().find_map(|c| {
        let code = match c.param("error")? {
            "invalid_token" => code::UNAUTHORIZED,
            "insufficient_scope" => code::DENIED,
            _ => return None,
        };
        let message = c
            .param("error_description")
            .map(str::to_string)
            .unwrap_or_else(|| default_message(code).to_string());
        Some((code.to_string(), message))
    });
    let body = read_limited(response, MAX_ERROR_BODY, url, ERROR_BODY_WAIT)
        .await
        .ok();
    let from_body = body
        .as_deref()
        .and_then(|b| serde_json::from_slice::<ErrorBody>(b).ok())
        .and_then(|b| b.errors.into_iter().find(|e| !e.code.is_empty()))
        .map(|e| (e.code, e.message));
    match from_challenge.or(from_body) {
        Some((code, message)) => RegistryError::Api {
            status: status.as_u16(),
            code,
            message,
        },
        None if status == StatusCode::UNAUTHORIZED => RegistryError::Api {
            status: status.as_u16(),
            code: code::UNAUTHORIZED.into(),
            message: default_message(code::UNAUTHORIZED).into(),
        },
        None => RegistryError::Status {
            method: method.clone(),
            url: url.to_string(),
            status,
        },
    }
}

/// What a token endpoint's refusal says: Docker Hub sends
/// `{"details": "incorrect username or password"}`, distribution's
/// errors body, others nothing useful.
async fn token_failure(method: &Method, url: &Url, response: Response) -> RegistryError {
    let status = response.status();
    if status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN {
        return error_from_response(method, url, response).await;
    }
    #[derive(serde::Deserialize)]
    struct Details {
        details: String,
    }
    let body = read_limited(response, MAX_ERROR_BODY, url, ERROR_BODY_WAIT)
        .await
        .unwrap_or_default();
    let message = serde_json::from_slice::<Details>(&body)
        .map(|d| d.details)
        .ok()
        .or_else(|| {
            serde_json::from_slice::<ErrorBody>(&body)
                .ok()
                .and_then(|b| b.errors.into_iter().next())
                .map(|e| e.message)
        })
        .unwrap_or_else(|| default_message(code::UNAUTHORIZED).into());
    RegistryError::Api {
        status: status.as_u16(),
        code: code::UNAUTHORIZED.into(),
        message,
    }
}

/// The distribution spec's message for a code, as Docker prints it.
fn default_message(code: &str) -> &'static str {
    match code {
        code::DENIED => "requested access to the resource is denied",
        code::UNAUTHORIZED => "authentication required",
        _ => "",
    }
}

/// True for the media types of Docker's retired schema 1 manifests.
pub fn is_schema1(media_type: &str) -> bool {
    media_type == media_type::DOCKER_MANIFEST_V1
        || media_type == media_type::DOCKER_MANIFEST_V1_SIGNED
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn docker_hub_goes_to_registry_1_after_mirrors() {
        let config = RegistryConfig {
            insecure_registries: vec![],
            registry_mirrors: vec![Url::parse("https://mirror.example:5000").unwrap()],
            ..RegistryConfig::default()
        };
        let client = Client::new(config, DockerConfig::default()).unwrap();
        let repos = client
            .repositories("docker.io", "library/ubuntu")
            .await
            .unwrap();
        assert_eq!(repos.len(), 2);
        assert!(repos[0].endpoint.is_mirror);
        assert_eq!(repos[0].endpoint.host, "mirror.example:5000");
        assert_eq!(
            repos[1].url("manifests/18.04").unwrap().as_str(),
            "https://registry-1.docker.io/v2/library/ubuntu/manifests/18.04"
        );
        // Nothing speaks TLS on a port just freed: plain HTTP.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let local = client
            .repositories(&format!("127.0.0.1:{port}"), "a/b")
            .await
            .unwrap();
        assert_eq!(local.len(), 1);
        assert_eq!(local[0].endpoint.base.scheme(), "http");
        let remote = client.repositories("ghcr.io", "a/b").await.unwrap();
        assert_eq!(remote[0].endpoint.base.scheme(), "https");
    }

    #[test]
    fn link_header_pagination() {
        let base = Url::parse("http://r/v2/a/tags/list").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::LINK,
            HeaderValue::from_static(r#"</v2/a/tags/list?last=b&n=2>; rel="next""#),
        );
        assert_eq!(
            next_link(&base, &headers).unwrap().as_str(),
            "http://r/v2/a/tags/list?last=b&n=2"
        );
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff(0), FIRST_BACKOFF);
        assert_eq!(backoff(1), FIRST_BACKOFF * 2);
        assert_eq!(backoff(30), MAX_BACKOFF);
    }
}
