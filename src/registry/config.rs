//! rimg's own registry settings, read from `$XDG_CONFIG_HOME/rimg/config.json`
//! (default `~/.config/rimg/config.json`). The keys are those of Docker's
//! `daemon.json`, so a user can copy them over:
//!
//! ```json
//! {"insecure-registries": ["myregistry:5000", "10.0.0.0/8"],
//!  "registry-mirrors": ["https://mirror.example.com"]}
//! ```
//!
//! rimg adds its own bounds on waiting, in seconds: `connect-timeout`
//! (15), `response-timeout` (30: from sending a request to its response
//! headers), `stall-timeout` (30: a body bringing less than 1 KiB in that
//! long, silent or trickling, counts as dropped and is resumed) and
//! `max-retry-wait` (30: what all `Retry-After` and backoff pauses of one
//! request may add up to). `max-download-size` (bytes; no bound but the
//! store's free space by default) bounds `import URL`.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{path}: invalid registry mirror {mirror:?}: {reason}")]
    Mirror {
        path: PathBuf,
        mirror: String,
        reason: String,
    },
}

/// A JSON settings file (rimg's or Docker's) that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
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
}

/// Parses a JSON file; `None` when there is no such file.
pub(super) fn read_json_file<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, FileError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(FileError::Io {
                path: path.to_path_buf(),
                error,
            })
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|error| FileError::Json {
            path: path.to_path_buf(),
            error,
        })
}

#[derive(Clone, Debug, Default)]
pub struct RegistryConfig {
    /// Hosts (`host[:port]`) or CIDR ranges reached over plain HTTP.
    pub insecure_registries: Vec<String>,
    /// Base URLs tried before Docker Hub, in order.
    pub registry_mirrors: Vec<reqwest::Url>,
    pub timeouts: Timeouts,
    /// The most `import URL` downloads, beyond the store's free space.
    pub max_download: Option<u64>,
}

/// How long rimg waits for a registry (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub response: Duration,
    pub stall: Duration,
    pub retry_wait: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(15),
            response: Duration::from_secs(30),
            stall: Duration::from_secs(30),
            retry_wait: Duration::from_secs(30),
        }
    }
}

/// The file as written; other daemon.json keys are ignored.
#[derive(Deserialize)]
struct ConfigFile {
    #[serde(default, rename = "insecure-registries")]
    insecure_registries: Vec<String>,
    #[serde(default, rename = "registry-mirrors")]
    registry_mirrors: Vec<String>,
    #[serde(rename = "connect-timeout")]
    connect_timeout: Option<u64>,
    #[serde(rename = "response-timeout")]
    response_timeout: Option<u64>,
    #[serde(rename = "stall-timeout")]
    stall_timeout: Option<u64>,
    #[serde(rename = "max-retry-wait")]
    max_retry_wait: Option<u64>,
    #[serde(rename = "max-download-size")]
    max_download_size: Option<u64>,
}

impl RegistryConfig {
    /// Reads the config file; a missing file is an empty config.
    pub fn load() -> Result<RegistryConfig, ConfigError> {
        match config_path() {
            Some(path) => RegistryConfig::load_from(&path),
            None => Ok(RegistryConfig::default()),
        }
    }

    pub fn load_from(path: &Path) -> Result<RegistryConfig, ConfigError> {
        let Some(file) = read_json_file::<ConfigFile>(path)? else {
            return Ok(RegistryConfig::default());
        };
        let mut registry_mirrors = Vec::new();
        for mirror in file.registry_mirrors {
            match reqwest::Url::parse(&mirror) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {
                    registry_mirrors.push(url)
                }
                _ => {
                    return Err(ConfigError::Mirror {
                        path: path.to_path_buf(),
                        mirror,
                        reason: "expected an http:// or https:// URL with a host".into(),
                    })
                }
            }
        }
        let default = Timeouts::default();
        let seconds = |given: Option<u64>, default: Duration| {
            // Zero would give up before any answer could come.
            given.map_or(default, |s| Duration::from_secs(s.max(1)))
        };
        Ok(RegistryConfig {
            insecure_registries: file.insecure_registries,
            registry_mirrors,
            timeouts: Timeouts {
                connect: seconds(file.connect_timeout, default.connect),
                response: seconds(file.response_timeout, default.response),
                stall: seconds(file.stall_timeout, default.stall),
                retry_wait: seconds(file.max_retry_wait, default.retry_wait),
            },
            max_download: file.max_download_size,
        })
    }

    /// Whether `host` (`name[:port]`, as in a reference's domain) is
    /// insecure: reached over HTTPS without certificate checks, or plain
    /// HTTP. Loopback hosts always are (as Docker treats `127.0.0.0/8`),
    /// others only when listed.
    pub fn is_insecure(&self, host: &str) -> bool {
        let ip = host_ip(host);
        if is_loopback(host) {
            return true;
        }
        self.insecure_registries.iter().any(|entry| {
            entry == host
                || matches!((ip, parse_cidr(entry)), (Some(ip), Some((net, bits))) if in_cidr(ip, net, bits))
        })
    }
}

fn config_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("rimg").join("config.json"))
}

/// `host` without a trailing `:port`; IPv6 literals keep their brackets.
fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port)) if !name.ends_with(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

fn host_ip(host: &str) -> Option<IpAddr> {
    let name = strip_port(host);
    name.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

pub fn is_loopback(host: &str) -> bool {
    strip_port(host) == "localhost" || host_ip(host).is_some_and(|ip| ip.is_loopback())
}

fn parse_cidr(entry: &str) -> Option<(IpAddr, u32)> {
    let (net, bits) = entry.split_once('/')?;
    Some((net.parse().ok()?, bits.parse().ok()?))
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u32) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_listed_hosts_are_insecure() {
        let config = RegistryConfig {
            insecure_registries: vec!["reg.local:5000".into(), "10.1.0.0/16".into()],
            registry_mirrors: vec![],
            ..RegistryConfig::default()
        };
        for host in [
            "localhost:5000",
            "127.0.0.1:8080",
            "127.9.9.9",
            "[::1]:5000",
        ] {
            assert!(config.is_insecure(host), "{host}");
        }
        assert!(config.is_insecure("reg.local:5000"));
        assert!(config.is_insecure("10.1.2.3:443"));
        assert!(!config.is_insecure("reg.local:5001"));
        assert!(!config.is_insecure("10.2.0.1"));
        assert!(!config.is_insecure("docker.io"));
    }
}
