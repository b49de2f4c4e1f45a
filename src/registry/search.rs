//! `rimg search`: Docker Hub's v1 search API (and that of any registry
//! offering it) as Docker's daemon asks it; for registries without it
//! (the CNCF distribution registry) the repository catalog filtered by
//! the term, as podman does; and a repository's tags (`--list-tags`).

use super::upload::status_of;
use super::{read_limited, Client, Endpoint, RegistryError, Repository, DOCKER_HUB, MAX_DOCUMENT};
use crate::reference::{Reference, ReferenceError};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;

/// Docker's default `--limit`.
pub const DEFAULT_LIMIT: i64 = 25;
/// Docker Hub's search host: the v1 index, not the v2 registry.
const DOCKER_HUB_INDEX: &str = "https://index.docker.io";
/// Catalog page size asked for: distribution's own default is larger,
/// and a smaller page keeps each answer small.
const CATALOG_PAGE: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error("Limit {0} is outside the range of [1, 100]")]
    Limit(i64),
    #[error("bad format of filter (expected name=value)")]
    BadFilterFormat,
    /// An unknown key, or a key with an invalid value (`key=value`).
    #[error("Invalid filter '{0}'")]
    InvalidFilter(String),
    #[error("{registry} has no search API, and it refused to list its repositories")]
    CatalogRefused {
        registry: String,
        #[source]
        source: RegistryError,
    },
    #[error("invalid search results from {url}: {reason}")]
    Invalid { url: String, reason: String },
    #[error("--list-tags needs a repository name without a tag or digest, not {0}")]
    TagsOfTagged(String),
}

/// One result, in the v1 search API's shape.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct SearchResult {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub star_count: i64,
    #[serde(default)]
    pub is_official: bool,
    #[serde(default)]
    pub is_automated: bool,
}

#[derive(Deserialize)]
struct SearchResults {
    #[serde(default)]
    results: Vec<SearchResult>,
}

/// `--filter stars=N`, `is-official=BOOL`, `is-automated=BOOL`, checked
/// as Docker's daemon checks them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SearchFilter {
    stars: Option<i64>,
    official: Option<bool>,
    automated: Option<bool>,
}

/// A `--filter` value's `key=value` split. (Docker checks the form as it
/// parses its flags; so does rimg's command line.)
pub fn filter_pair(raw: &str) -> Result<(&str, &str), SearchError> {
    raw.split_once('=').ok_or(SearchError::BadFilterFormat)
}

impl SearchFilter {
    pub fn parse(filters: &[String]) -> Result<SearchFilter, SearchError> {
        let mut filter = SearchFilter::default();
        let mut official = Vec::new();
        let mut automated = Vec::new();
        for raw in filters {
            let (key, value) = filter_pair(raw)?;
            match key {
                "stars" => {
                    let stars: i64 = value
                        .parse()
                        .map_err(|_| SearchError::InvalidFilter(raw.clone()))?;
                    // Several values: the highest counts.
                    filter.stars = Some(filter.stars.map_or(stars, |s| s.max(stars)));
                }
                "is-official" => official.push(value.to_string()),
                "is-automated" => automated.push(value.to_string()),
                _ => return Err(SearchError::InvalidFilter(key.to_string())),
            }
        }
        filter.official = unique_bool("is-official", &official)?;
        filter.automated = unique_bool("is-automated", &automated)?;
        Ok(filter)
    }

    fn keeps(&self, result: &SearchResult) -> bool {
        self.official.is_none_or(|o| o == result.is_official)
            && self.automated.is_none_or(|a| a == result.is_automated)
            && self.stars.is_none_or(|s| result.star_count >= s)
    }
}

/// A boolean filter given once as `true` or `false`; anything else is
/// refused naming all its values, as Go prints a slice (`[a b]`).
fn unique_bool(key: &str, values: &[String]) -> Result<Option<bool>, SearchError> {
    match values {
        [] => Ok(None),
        [one] if one == "true" => Ok(Some(true)),
        [one] if one == "false" => Ok(Some(false)),
        _ => Err(SearchError::InvalidFilter(format!(
            "{key}=[{}]",
            values.join(" ")
        ))),
    }
}

/// Docker's limit rule: 1 to 100.
fn checked_limit(limit: i64) -> Result<usize, SearchError> {
    match usize::try_from(limit) {
        Ok(l) if (1..=100).contains(&l) => Ok(l),
        _ => Err(SearchError::Limit(limit)),
    }
}

/// Docker's `splitReposSearchTerm`: a first component that looks like a
/// host names the registry, anything else searches Docker Hub.
fn split_term(term: &str) -> (&str, &str) {
    match term.split_once('/') {
        Some((host, rest)) if host.contains(['.', ':']) || host == "localhost" => (host, rest),
        _ => (DOCKER_HUB, term),
    }
}

impl Client {
    /// `search TERM`: up to `limit` results the filter keeps. Docker Hub
    /// (and any registry with it) answers the v1 search API; a registry
    /// without it is asked for its catalog, whose repositories containing
    /// the term are listed as `host/name`.
    pub async fn search(
        &self,
        term: &str,
        limit: i64,
        filter: &SearchFilter,
    ) -> Result<Vec<SearchResult>, SearchError> {
        let limit = checked_limit(limit)?;
        let (domain, remote) = split_term(term);
        let mut results = if domain == DOCKER_HUB {
            // Official images are stored as `library/x` but found as `x`.
            let remote = remote.strip_prefix("library/").unwrap_or(remote);
            let base = Url::parse(DOCKER_HUB_INDEX)
                .map_err(|_| RegistryError::Url(DOCKER_HUB_INDEX.into()))?;
            let index = Endpoint {
                host: "index.docker.io".into(),
                base,
                is_mirror: false,
                unverified_tls: false,
            };
            self.v1_search(&registry_root(index, ""), remote, limit)
                .await?
        } else {
            let root = self.root(domain, "").await?;
            match self.v1_search(&root, remote, limit).await {
                Err(SearchError::Registry(e)) if lacks_v1(&e) => {
                    self.catalog_search(domain, remote, limit).await?
                }
                other => other?,
            }
        };
        results.truncate(limit);
        results.retain(|r| filter.keeps(r));
        Ok(results)
    }

    /// `search --list-tags REPOSITORY`: up to `limit` of its tags.
    pub async fn search_tags(
        &self,
        repository: &Reference,
        limit: i64,
    ) -> Result<Vec<String>, SearchError> {
        let limit = checked_limit(limit)?;
        if repository.tag().is_some() || repository.digest().is_some() {
            return Err(SearchError::TagsOfTagged(repository.to_string()));
        }
        let repo = self
            .repositories(repository.domain(), repository.path())
            .await?
            .pop()
            .ok_or_else(|| RegistryError::Url(repository.to_string()))?;
        let mut tags = self.tags(&repo).await?;
        tags.truncate(limit);
        Ok(tags)
    }

    /// The registry `domain` itself, with auth asked for `scope`.
    async fn root(&self, domain: &str, scope: &str) -> Result<Repository, SearchError> {
        let endpoint = self
            .repositories(domain, "")
            .await?
            .pop()
            .ok_or_else(|| RegistryError::Url(domain.to_string()))?
            .endpoint;
        Ok(registry_root(endpoint, scope))
    }

    /// `GET /v1/search?q=TERM&n=LIMIT`.
    async fn v1_search(
        &self,
        root: &Repository,
        term: &str,
        limit: usize,
    ) -> Result<Vec<SearchResult>, SearchError> {
        let mut url = endpoint_url(root, "v1/search")?;
        url.query_pairs_mut()
            .append_pair("q", term)
            .append_pair("n", &limit.to_string());
        let response = self
            .send(root, Method::GET, url.clone(), HeaderMap::new())
            .await?;
        let body = read_limited(response, MAX_DOCUMENT, &url, self.config.timeouts.stall).await?;
        let parsed: SearchResults =
            serde_json::from_slice(&body).map_err(|e| SearchError::Invalid {
                url: url.to_string(),
                reason: e.to_string(),
            })?;
        Ok(parsed.results)
    }

    /// The catalog's repositories containing `term`, as results.
    async fn catalog_search(
        &self,
        domain: &str,
        term: &str,
        limit: usize,
    ) -> Result<Vec<SearchResult>, SearchError> {
        let root = self.root(domain, "registry:catalog:*").await?;
        let mut url = endpoint_url(&root, "v2/_catalog")?;
        url.query_pairs_mut()
            .append_pair("n", &CATALOG_PAGE.to_string());
        let what = format!("the catalog of {domain}");
        let names = self
            .list_pages(&root, url, "repositories", &what)
            .await
            .map_err(|source| match source {
                e @ RegistryError::ListTooLong { .. } => SearchError::Registry(e),
                source => SearchError::CatalogRefused {
                    registry: domain.to_string(),
                    source,
                },
            })?;
        Ok(names
            .into_iter()
            .filter(|name| name.contains(term))
            .take(limit)
            .map(|name| SearchResult {
                name: format!("{domain}/{name}"),
                ..SearchResult::default()
            })
            .collect())
    }
}

/// A registry-level pseudo repository: its endpoint, for requests outside
/// any repository (`/v1/search`, `/v2/_catalog`).
fn registry_root(endpoint: Endpoint, scope: &str) -> Repository {
    Repository {
        endpoint,
        path: String::new(),
        scope: scope.to_string(),
    }
}

fn endpoint_url(root: &Repository, path: &str) -> Result<Url, RegistryError> {
    let text = format!(
        "{}/{path}",
        root.endpoint.base.as_str().trim_end_matches('/')
    );
    Url::parse(&text).map_err(|_| RegistryError::Url(text))
}

/// A registry without the v1 search API answers 404 (distribution), or
/// refuses it as it refuses anything unknown (401, 403, 405).
fn lacks_v1(e: &RegistryError) -> bool {
    status_of(e).is_some_and(|s| {
        [
            StatusCode::NOT_FOUND,
            StatusCode::UNAUTHORIZED,
            StatusCode::FORBIDDEN,
            StatusCode::METHOD_NOT_ALLOWED,
        ]
        .contains(&s)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters(raw: &[&str]) -> Result<SearchFilter, SearchError> {
        SearchFilter::parse(&raw.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn search_terms_name_a_registry_only_by_host() {
        assert_eq!(split_term("ubuntu"), ("docker.io", "ubuntu"));
        assert_eq!(split_term("user/app"), ("docker.io", "user/app"));
        assert_eq!(split_term("localhost/app"), ("localhost", "app"));
        assert_eq!(split_term("127.0.0.1:5000/a/b"), ("127.0.0.1:5000", "a/b"));
        assert_eq!(split_term("quay.io/x"), ("quay.io", "x"));
    }

    #[test]
    fn filters_as_dockers_daemon_checks_them() {
        let f = filters(&["stars=3", "stars=10", "is-official=true"]).unwrap();
        assert_eq!(f.stars, Some(10));
        assert_eq!(f.official, Some(true));
        let result = |stars, official| SearchResult {
            star_count: stars,
            is_official: official,
            ..SearchResult::default()
        };
        assert!(f.keeps(&result(10, true)));
        assert!(!f.keeps(&result(9, true)));
        assert!(!f.keeps(&result(10, false)));
        let message = |raw: &[&str]| filters(raw).unwrap_err().to_string();
        assert_eq!(message(&["stars=x"]), "Invalid filter 'stars=x'");
        assert_eq!(
            message(&["is-automated=maybe"]),
            "Invalid filter 'is-automated=[maybe]'"
        );
        assert_eq!(
            message(&["is-official=true", "is-official=false"]),
            "Invalid filter 'is-official=[true false]'"
        );
        assert_eq!(message(&["color=red"]), "Invalid filter 'color'");
        assert_eq!(
            message(&["stars"]),
            "bad format of filter (expected name=value)"
        );
    }

    #[test]
    fn limit_bounds() {
        assert_eq!(checked_limit(1).unwrap(), 1);
        assert_eq!(checked_limit(100).unwrap(), 100);
        assert!(checked_limit(0).is_err());
        assert!(checked_limit(-1).is_err());
        assert_eq!(
            checked_limit(101).unwrap_err().to_string(),
            "Limit 101 is outside the range of [1, 100]"
        );
    }
}
