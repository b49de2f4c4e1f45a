//! `rimg version`: the fields of `docker version`'s client section that
//! apply to rimg (the Rust toolchain in place of Go's), and the OCI runtime
//! that `run` and `build` will use. rimg has no daemon, so no server.

use crate::platform;
use serde_json::{json, Value};
use std::process::Command;

/// The default output, laid out as the docker CLI's.
pub const TEMPLATE: &str = "Client:
 Version:           {{.Client.Version}}
 Rust version:      {{.Client.RustVersion}}
 Git commit:        {{.Client.GitCommit}}
 Built:             {{.Client.BuildTime}}
 OS/Arch:           {{.Client.Os}}/{{.Client.Arch}}
 OCI runtime:       {{.Client.OciRuntime}}";

/// The OCI runtimes looked for, in order of preference: Docker's, then
/// the one Podman prefers.
const RUNTIMES: [&str; 2] = ["runc", "crun"];

/// What `--format` templates see: `{{.Client.Version}}` as in Docker.
pub fn info() -> Value {
    let host = platform::host();
    json!({
        "Client": {
            "Version": env!("CARGO_PKG_VERSION"),
            "RustVersion": env!("RIMG_RUST_VERSION"),
            "GitCommit": env!("RIMG_GIT_COMMIT"),
            "BuildTime": build_time(),
            "Os": host.os,
            "Arch": host.architecture,
            "OciRuntime": oci_runtime(),
        }
    })
}

/// The build time as Go's `time.ANSIC` prints it (`Thu May  7 21:09:36
/// 2026`), in UTC.
fn build_time() -> String {
    env!("RIMG_BUILD_EPOCH")
        .parse::<i64>()
        .ok()
        .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0))
        .map(|t| t.format("%a %b %e %H:%M:%S %Y").to_string())
        .unwrap_or_default()
}

/// The first OCI runtime on `PATH` and its version (`runc 1.1.5`), from
/// the first line of its `--version`: `runc version 1.1.5`.
fn oci_runtime() -> String {
    RUNTIMES
        .iter()
        .find_map(|name| {
            let out = Command::new(name).arg("--version").output().ok()?;
            let text = String::from_utf8_lossy(&out.stdout);
            let first = text.lines().next()?.trim();
            let version = first
                .strip_prefix(&format!("{name} version "))
                .unwrap_or(first);
            Some(format!("{name} {version}"))
        })
        .unwrap_or_else(|| "none found (runc or crun)".to_string())
}
