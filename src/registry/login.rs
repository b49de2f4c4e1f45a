//! `rimg login`'s check that a username and password work, before they
//! are saved: the registry's `/v2/` with the credential, answering its
//! challenge as a pull would (Basic directly, Bearer through the token
//! endpoint with the credential).

use super::{basic_auth, error_from_response, Client, Credential, Endpoint, Repository, Result};
use reqwest::header::AUTHORIZATION;
use reqwest::{Method, StatusCode, Url};

impl Client {
    /// Succeeds when the registry at `domain` accepts `username` and
    /// `password` (or needs no login at all). A refusal is the registry's
    /// `unauthorized: ...`.
    pub async fn check_login(&self, domain: &str, username: &str, password: &str) -> Result<()> {
        let endpoint = self.push_repository(domain, "").await?.endpoint;
        let url = v2_url(&endpoint)?;
        let credential = Credential::Basic {
            username: username.to_string(),
            password: password.to_string(),
        };
        let http = self.http_for(&endpoint);
        let first = self
            .with_retries(&Method::GET, &url, || http.get(url.clone()))
            .await?;
        if first.status() != StatusCode::UNAUTHORIZED {
            return check(&url, first).await;
        }
        let challenges = super::challenges(&first);
        let authorization = match challenges.iter().find(|c| c.scheme == "bearer") {
            Some(bearer) => {
                // Login asks for no repository: an empty scope.
                let repo = Repository {
                    endpoint: endpoint.clone(),
                    path: String::new(),
                    scope: String::new(),
                };
                format!(
                    "Bearer {}",
                    self.token(&repo, bearer, Some(&credential)).await?
                )
            }
            None => basic_auth(username, password),
        };
        let answer = self
            .with_retries(&Method::GET, &url, || {
                http.get(url.clone()).header(AUTHORIZATION, &authorization)
            })
            .await?;
        check(&url, answer).await
    }
}

fn v2_url(endpoint: &Endpoint) -> Result<Url> {
    let text = format!("{}/v2/", endpoint.base.as_str().trim_end_matches('/'));
    Url::parse(&text).map_err(|_| super::RegistryError::Url(text))
}

async fn check(url: &Url, response: reqwest::Response) -> Result<()> {
    if response.status().is_success() {
        return Ok(());
    }
    Err(error_from_response(&Method::GET, url, response).await)
}

/// The registry host a `login`/`logout` argument names: Docker's forms
/// (`https://host/v1/`, `index.docker.io`) reduced to the host, Docker Hub
/// when none is given.
pub fn server_host(server: Option<&str>) -> String {
    let Some(server) = server else {
        return super::DOCKER_HUB.to_string();
    };
    let host = super::credentials::normalize_key(server);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => super::DOCKER_HUB.to_string(),
        _ => host.to_string(),
    }
}

/// How `logout` names a host: Docker Hub by its old index address.
pub fn shown_server(host: &str) -> &str {
    if host == super::DOCKER_HUB {
        "https://index.docker.io/v1/"
    } else {
        host
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn server_forms() {
        assert_eq!(super::server_host(None), "docker.io");
        assert_eq!(
            super::server_host(Some("https://index.docker.io/v1/")),
            "docker.io"
        );
        assert_eq!(super::server_host(Some("localhost:5000")), "localhost:5000");
        assert_eq!(
            super::server_host(Some("http://reg.example/")),
            "reg.example"
        );
    }
}
