//! `rimg pull` against a real registry behind htpasswd Basic auth and
//! behind token auth (with the harness's token issuer), using credentials
//! from a Docker config the way the docker CLI stores them.

mod common;

use base64::Engine as _;
use common::layout::ImageSpec;
use common::registry::{isolated_rimg, AuthKind, Registry, PASSWORD, USER};
use std::path::Path;
use std::process::Output;
use std::sync::atomic::Ordering;
use tempfile::TempDir;

fn rimg(root: &Path, docker_config: &Path, path_prefix: Option<&Path>, args: &[&str]) -> Output {
    let mut command = isolated_rimg(root, Some(docker_config));
    if let Some(dir) = path_prefix {
        let path = std::env::var("PATH").unwrap_or_default();
        command.env("PATH", format!("{}:{path}", dir.display()));
    }
    command.args(args).output().unwrap()
}

fn err(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).trim().to_string()
}

/// A Docker config dir whose `config.json` is `json`.
fn docker_config(json: &serde_json::Value) -> TempDir {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(&path, json.to_string()).unwrap();
    // As `docker login` writes it: readable by its owner only, so rimg has
    // no permission warning to add.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    dir
}

fn auths_for(registry: &Registry, user: &str, password: &str) -> TempDir {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    docker_config(&serde_json::json!({"auths": {registry.addr.clone(): {"auth": auth}}}))
}

fn push_image(registry: &Registry, repo: &str) {
    registry.push_image(&ImageSpec::new(repo.len() as u64, 3, 30_000), repo);
}

#[test]
fn basic_auth_uses_docker_config_credentials() {
    let registry = Registry::start_with(AuthKind::Basic);
    push_image(&registry, "basic/app:v1");
    let name = registry.image("basic/app:v1");

    let root = TempDir::new().unwrap();
    let none = TempDir::new().unwrap();
    let out = rimg(root.path(), none.path(), None, &["pull", &name]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(err(&out), "Error: unauthorized: authentication required");

    let wrong = auths_for(&registry, USER, "wrong");
    let out = rimg(root.path(), wrong.path(), None, &["pull", &name]);
    assert_eq!(err(&out), "Error: unauthorized: authentication required");

    let good = auths_for(&registry, USER, PASSWORD);
    let out = rimg(root.path(), good.path(), None, &["pull", &name]);
    assert!(out.status.success(), "{}", err(&out));

    // The same login through a credential helper.
    let bin = TempDir::new().unwrap();
    let helper = bin.path().join("docker-credential-rimgtest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nread server\n[ \"$1\" = get ] && [ \"$server\" = {} ] || exit 1\necho '{{\"ServerURL\":\"'$server'\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}'\n",
            registry.addr
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let helpers =
        docker_config(&serde_json::json!({"credHelpers": {registry.addr.clone(): "rimgtest"}}));
    let fresh = TempDir::new().unwrap();
    let out = rimg(
        fresh.path(),
        helpers.path(),
        Some(bin.path()),
        &["pull", &name],
    );
    assert!(out.status.success(), "{}", err(&out));
}

#[test]
fn token_auth_anonymous_and_with_credentials() {
    let registry = Registry::start_with(AuthKind::Token);
    push_image(&registry, "public/app:v1");
    push_image(&registry, "private/app:v1");
    let issued = &registry.token_server.as_ref().unwrap().requests;
    let none = TempDir::new().unwrap();

    // Anonymous pulls of a public repository get a token; one token
    // serves the manifest, the config and every layer.
    let root = TempDir::new().unwrap();
    let before = issued.load(Ordering::SeqCst);
    let out = rimg(
        root.path(),
        none.path(),
        None,
        &["pull", &registry.image("public/app:v1")],
    );
    assert!(out.status.success(), "{}", err(&out));
    assert_eq!(issued.load(Ordering::SeqCst) - before, 1);

    let private = registry.image("private/app:v1");
    let out = rimg(root.path(), none.path(), None, &["pull", &private]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        err(&out),
        format!(
            "Error: pull access denied for {}, repository does not exist or may require 'rimg login': denied: requested access to the resource is denied",
            registry.image("private/app")
        )
    );

    let wrong = auths_for(&registry, USER, "wrong");
    let out = rimg(root.path(), wrong.path(), None, &["pull", &private]);
    assert!(
        err(&out).contains("unauthorized: incorrect username or password"),
        "{}",
        err(&out)
    );

    let good = auths_for(&registry, USER, PASSWORD);
    let out = rimg(root.path(), good.path(), None, &["pull", &private]);
    assert!(out.status.success(), "{}", err(&out));
}
