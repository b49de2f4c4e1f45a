//! Registry credentials from the Docker CLI's config file, so `rimg` uses
//! the logins the user already has: `$DOCKER_CONFIG/config.json` or
//! `~/.docker/config.json`, with its `auths`, `credsStore` and
//! `credHelpers` (`docker-credential-<name> get`).

use base64::Engine as _;
use serde::Deserialize;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The key Docker files Docker Hub credentials under.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    Basic {
        username: String,
        password: String,
    },
    /// An OAuth2 refresh token (`identitytoken`), exchanged at the token
    /// endpoint instead of a password.
    IdentityToken {
        username: String,
        token: String,
    },
}

// Hand-written so a debug print can never leak a secret.
impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Basic { username, .. } => write!(f, "Basic({username})"),
            Credential::IdentityToken { username, .. } => write!(f, "IdentityToken({username})"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("reading {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: invalid JSON: {error}")]
    Json {
        path: PathBuf,
        error: serde_json::Error,
    },
    #[error("{path}: invalid auth entry for {registry}")]
    BadAuth { path: PathBuf, registry: String },
    #[error("error getting credentials - err: {0}")]
    Helper(String),
}

#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: HashMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// The parsed Docker config; empty when the user has none.
#[derive(Debug, Default)]
pub struct DockerConfig {
    path: PathBuf,
    file: ConfigFile,
}

impl DockerConfig {
    pub fn load() -> Result<DockerConfig, CredentialError> {
        let dir = std::env::var_os("DOCKER_CONFIG")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")));
        let Some(dir) = dir else {
            return Ok(DockerConfig::default());
        };
        DockerConfig::load_from(dir.join("config.json"))
    }

    pub fn load_from(path: PathBuf) -> Result<DockerConfig, CredentialError> {
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(DockerConfig {
                    path,
                    file: ConfigFile::default(),
                })
            }
            Err(error) => return Err(CredentialError::Io { path, error }),
        };
        match serde_json::from_slice(&bytes) {
            Ok(file) => Ok(DockerConfig { path, file }),
            Err(error) => Err(CredentialError::Json { path, error }),
        }
    }

    /// The credential for a registry host (`docker.io`, `ghcr.io`,
    /// `localhost:5000`), as `docker login` stored it. A credential helper
    /// named for the host wins over `credsStore`, which wins over `auths`.
    pub fn lookup(&self, host: &str) -> Result<Option<Credential>, CredentialError> {
        let key = if host == "docker.io" {
            DOCKER_HUB_KEY
        } else {
            host
        };
        if let Some(helper) = self
            .file
            .cred_helpers
            .get(key)
            .or(self.file.creds_store.as_ref())
        {
            return run_helper(helper, key);
        }
        let entry = self
            .file
            .auths
            .iter()
            .find(|(k, _)| *k == key || normalize_key(k) == host)
            .map(|(_, entry)| entry);
        entry.map_or(Ok(None), |entry| self.decode(key, entry))
    }

    fn decode(&self, key: &str, entry: &AuthEntry) -> Result<Option<Credential>, CredentialError> {
        let bad = || CredentialError::BadAuth {
            path: self.path.clone(),
            registry: key.to_string(),
        };
        let (username, password) = match (&entry.auth, &entry.username) {
            (Some(auth), _) if !auth.is_empty() => {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(auth.trim())
                    .map_err(|_| bad())?;
                let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
                let (user, pass) = decoded.split_once(':').ok_or_else(bad)?;
                (user.to_string(), pass.to_string())
            }
            (_, Some(user)) => (user.clone(), entry.password.clone().unwrap_or_default()),
            _ => (String::new(), String::new()),
        };
        Ok(match &entry.identitytoken {
            Some(token) if !token.is_empty() => Some(Credential::IdentityToken {
                username,
                token: token.clone(),
            }),
            _ if username.is_empty() && password.is_empty() => None,
            _ => Some(Credential::Basic { username, password }),
        })
    }
}

/// `https://host/v1/` and similar keys older Docker versions wrote, reduced
/// to the host.
fn normalize_key(key: &str) -> &str {
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    rest.split('/').next().unwrap_or(rest)
}

#[derive(Deserialize)]
struct HelperReply {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Runs `docker-credential-<helper> get` with the server on stdin, as the
/// docker CLI does.
fn run_helper(helper: &str, server: &str) -> Result<Option<Credential>, CredentialError> {
    let program = format!("docker-credential-{helper}");
    let fail = |msg: String| CredentialError::Helper(format!("{program}: {msg}"));
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(server.as_bytes())
            .map_err(|e| fail(e.to_string()))?;
    }
    let output = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if !output.status.success() {
        let message = String::from_utf8_lossy(&output.stdout).trim().to_string();
        // The helper protocol's way of saying "no login for this server".
        if message.contains("credentials not found") {
            return Ok(None);
        }
        return Err(fail(message));
    }
    let reply: HelperReply =
        serde_json::from_slice(&output.stdout).map_err(|e| fail(e.to_string()))?;
    Ok(match (reply.username.as_str(), reply.secret) {
        (_, secret) if secret.is_empty() => None,
        // Docker's marker for an identity token in place of a password.
        ("<token>", token) => Some(Credential::IdentityToken {
            username: String::new(),
            token,
        }),
        (username, password) => Some(Credential::Basic {
            username: username.to_string(),
            password,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> DockerConfig {
        DockerConfig {
            path: "config.json".into(),
            file: serde_json::from_str(json).unwrap(),
        }
    }

    #[test]
    fn auths_entries_decode() {
        let c = config(
            r#"{"auths":{
                "https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNz"},
                "https://ghcr.io":{"username":"u","password":"p"},
                "quay.io":{"auth":"","identitytoken":"tok"}}}"#,
        );
        assert_eq!(
            c.lookup("docker.io").unwrap(),
            Some(Credential::Basic {
                username: "user".into(),
                password: "pass".into()
            })
        );
        assert_eq!(
            c.lookup("ghcr.io").unwrap(),
            Some(Credential::Basic {
                username: "u".into(),
                password: "p".into()
            })
        );
        assert!(matches!(
            c.lookup("quay.io").unwrap(),
            Some(Credential::IdentityToken { token, .. }) if token == "tok"
        ));
        assert_eq!(c.lookup("localhost:5000").unwrap(), None);
    }

    #[test]
    fn missing_helper_is_an_error() {
        let c = config(r#"{"credHelpers":{"reg.example":"rimg-test-no-such-helper"}}"#);
        assert!(matches!(
            c.lookup("reg.example"),
            Err(CredentialError::Helper(_))
        ));
        assert_eq!(c.lookup("other.example").unwrap(), None);
    }
}
