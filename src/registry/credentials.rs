//! Registry credentials from the Docker CLI's config file, so `rimg` uses
//! the logins the user already has: `$DOCKER_CONFIG/config.json` or
//! `~/.docker/config.json`, with its `auths`, `credsStore` and
//! `credHelpers` (`docker-credential-<name> get`).

use super::config::{read_json_file, FileError};
use crate::durable::{self, Mode};
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
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{path}: invalid auth entry for {registry}")]
    BadAuth { path: PathBuf, registry: String },
    #[error("error getting credentials - err: {0}")]
    Helper(String),
    #[error("error saving credentials - err: {0}")]
    Save(String),
    #[error("error erasing credentials - err: {0}")]
    Erase(String),
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
    /// The file's permission bits when others than its owner may read it.
    loose_mode: Option<u32>,
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
        use std::os::unix::fs::PermissionsExt;
        let file = read_json_file(&path)?.unwrap_or_default();
        let loose_mode = std::fs::metadata(&path)
            .map(|m| m.permissions().mode() & 0o777)
            .ok()
            .filter(|mode| mode & 0o077 != 0);
        Ok(DockerConfig {
            path,
            file,
            loose_mode,
        })
    }

    /// A warning when the file holds credentials that users other than
    /// its owner may read. The file is still used: refusing it would break
    /// pulls that worked before, and the secret is already exposed.
    pub fn permission_warning(&self) -> Option<String> {
        let mode = self.loose_mode?;
        let holds_secrets = !self.file.auths.is_empty();
        holds_secrets.then(|| {
            format!(
                "{} holds credentials and is readable by other users (mode {mode:04o}); run chmod 600 {}",
                self.path.display(),
                self.path.display()
            )
        })
    }

    /// The `config.json` this was read from (it may not exist).
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The credential helper that keeps logins for `host`, if any.
    pub fn helper_for(&self, host: &str) -> Option<&str> {
        self.file
            .cred_helpers
            .get(server_key(host))
            .or(self.file.creds_store.as_ref())
            .map(String::as_str)
    }

    /// Saves a login as `docker login` does: through the host's credential
    /// helper when one is configured (the password goes over the helper's
    /// stdin, never its arguments), else base64 in `auths`. Other keys of
    /// the file are kept; a file this creates is readable by its owner only.
    pub fn save_login(
        &self,
        host: &str,
        username: &str,
        password: &str,
    ) -> Result<(), CredentialError> {
        let key = server_key(host);
        let entry = match self.helper_for(host) {
            Some(helper) => {
                let request = serde_json::json!({
                    "ServerURL": key,
                    "Username": username,
                    "Secret": password,
                });
                helper_command(helper, "store", request.to_string().as_bytes())
                    .map_err(CredentialError::Save)?;
                // Docker keeps an empty entry so `docker info` lists the login.
                serde_json::json!({})
            }
            None => {
                let auth = base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{password}"));
                serde_json::json!({ "auth": auth })
            }
        };
        self.edit_file(|auths| {
            auths.insert(key.to_string(), entry);
        })
    }

    /// Removes the login for `host`; false when there was none.
    pub fn erase_login(&self, host: &str) -> Result<bool, CredentialError> {
        let key = server_key(host);
        let helper = self.helper_for(host);
        if let Some(helper) = helper {
            helper_command(helper, "erase", key.as_bytes()).map_err(CredentialError::Erase)?;
        }
        let stored: Vec<String> = self
            .file
            .auths
            .keys()
            .filter(|k| *k == key || normalize_key(k) == host)
            .cloned()
            .collect();
        if stored.is_empty() {
            return Ok(helper.is_some());
        }
        self.edit_file(|auths| {
            for k in &stored {
                auths.remove(k);
            }
        })?;
        Ok(true)
    }

    /// Rewrites `config.json` with `edit` applied to its `auths`, keeping
    /// every other key, through a temporary file and a rename so a reader
    /// never sees half a file.
    fn edit_file(
        &self,
        edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
    ) -> Result<(), CredentialError> {
        let io_error = |error: std::io::Error| {
            CredentialError::File(FileError::Io {
                path: self.path.clone(),
                error,
            })
        };
        let mut document: serde_json::Map<String, serde_json::Value> =
            read_json_file(&self.path)?.unwrap_or_default();
        let auths = document
            .entry("auths")
            .or_insert_with(|| serde_json::json!({}));
        if !auths.is_object() {
            *auths = serde_json::json!({});
        }
        if let Some(auths) = auths.as_object_mut() {
            edit(auths);
        }
        std::fs::create_dir_all(durable::parent_dir(&self.path)).map_err(io_error)?;
        let mut bytes = serde_json::to_vec_pretty(&document).map_err(|error| {
            CredentialError::File(FileError::Json {
                path: self.path.clone(),
                error,
            })
        })?;
        bytes.push(b'\n');
        // It holds secrets: 0600 when new; a mode the user chose stays.
        durable::replace(&self.path, Mode::Keep { default: 0o600 }, &bytes).map_err(io_error)
    }

    /// The credential for a registry host (`docker.io`, `ghcr.io`,
    /// `localhost:5000`), as `docker login` stored it. A credential helper
    /// named for the host wins over `credsStore`, which wins over `auths`.
    pub fn lookup(&self, host: &str) -> Result<Option<Credential>, CredentialError> {
        let key = server_key(host);
        if let Some(helper) = self.helper_for(host) {
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

/// The key Docker files a host's login under.
fn server_key(host: &str) -> &str {
    if host == "docker.io" {
        DOCKER_HUB_KEY
    } else {
        host
    }
}

/// `https://host/v1/` and similar keys older Docker versions wrote, reduced
/// to the host.
pub(super) fn normalize_key(key: &str) -> &str {
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
    let fail = |msg: String| CredentialError::Helper(format!("docker-credential-{helper}: {msg}"));
    let stdout = match helper_command(helper, "get", server.as_bytes()) {
        Ok(stdout) => stdout,
        // The helper protocol's way of saying "no login for this server".
        Err(message) if message.contains("credentials not found") => return Ok(None),
        Err(message) => return Err(CredentialError::Helper(message)),
    };
    let reply: HelperReply = serde_json::from_slice(&stdout).map_err(|e| fail(e.to_string()))?;
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

/// Runs `docker-credential-<helper> <action>` with `input` on stdin (the
/// protocol's only channel for secrets); its stdout on success, else a
/// message naming the program.
fn helper_command(helper: &str, action: &str, input: &[u8]) -> Result<Vec<u8>, String> {
    let program = format!("docker-credential-{helper}");
    let fail = |msg: String| format!("{program}: {msg}");
    let mut child = Command::new(&program)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input).map_err(|e| fail(e.to_string()))?;
    }
    let output = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if !output.status.success() {
        return Err(fail(
            String::from_utf8_lossy(&output.stdout).trim().to_string(),
        ));
    }
    Ok(output.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> DockerConfig {
        DockerConfig {
            path: "config.json".into(),
            file: serde_json::from_str(json).unwrap(),
            loose_mode: None,
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
