//! `rimg pull` against a real registry (CNCF distribution 2.8), with
//! images pushed by skopeo in every manifest flavour.

mod common;

use common::layout::{BuiltImage, Compression, ImageSpec, Layout};
use common::registry::{skopeo, AuthKind, Registry};
use std::path::Path;
use std::process::{Command, Output};
use tempfile::TempDir;

/// Runs the rimg binary on a store, with a Docker config dir and rimg
/// config home of the test's own (never the user's).
fn rimg(root: &Path, args: &[&str]) -> Output {
    rimg_env(root, args, &[])
}

fn rimg_env(root: &Path, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rimg"));
    command
        .arg("--root")
        .arg(root)
        .args(args)
        .env("DOCKER_CONFIG", root.join("no-docker-config"))
        .env("XDG_CONFIG_HOME", root.join("no-rimg-config"));
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[track_caller]
fn assert_ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "rimg failed: {}\nstdout:\n{}",
        stderr(output),
        stdout(output)
    );
    stdout(output)
}

/// A layout holding one image tagged `tag`.
fn build(dir: &Path, spec: ImageSpec, tag: &str) -> (Layout, BuiltImage) {
    let mut layout = Layout::new(dir);
    let image = layout.image(&spec);
    layout.tag(tag, &[&image]);
    (layout, image)
}

/// What skopeo reads back from rimg's store for `name`.
fn inspect_store(root: &Path, name: &str) -> serde_json::Value {
    let raw = skopeo(&["inspect", &format!("oci:{}:{name}", root.display())]);
    serde_json::from_slice(&raw).unwrap()
}

#[test]
fn pulls_an_oci_image_and_prints_docker_output() {
    let registry = Registry::start();
    let src = TempDir::new().unwrap();
    let (layout, image) = build(src.path(), ImageSpec::new(1, 3, 200_000), "v1");
    registry.push(&layout.dir, "v1", "app/oci:v1", &["--preserve-digests"]);
    let served = registry.digest("app/oci:v1");

    let root = TempDir::new().unwrap();
    let name = registry.image("app/oci:v1");
    let out = assert_ok(&rimg(root.path(), &["pull", &name]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "v1: Pulling from app/oci");
    for layer in &image.layers {
        let short = layer.digest.short();
        for status in ["Pulling fs layer", "Verifying Checksum", "Download complete", "Pull complete"] {
            assert!(lines.contains(&format!("{short}: {status}").as_str()), "{status} for {short} in\n{out}");
        }
    }
    let n = lines.len();
    assert_eq!(lines[n - 3], format!("Digest: {served}"));
    assert_eq!(lines[n - 2], format!("Status: Downloaded newer image for {name}"));
    assert_eq!(lines[n - 1], name);
    assert!(!out.contains('\x1b') && !out.contains('\r'), "control characters in {out:?}");

    let inspected = inspect_store(root.path(), &name);
    assert_eq!(inspected["Digest"], served);
    let repo_digest = format!("{}@{served}", registry.image("app/oci"));
    assert_eq!(inspect_store(root.path(), &repo_digest)["Digest"], served);

    // Re-pulling is a no-op that says so.
    let again = assert_ok(&rimg(root.path(), &["pull", &name]));
    assert!(again.contains(&format!("Status: Image is up to date for {name}")), "{again}");
    assert!(!again.contains("Pulling fs layer"), "{again}");
    let _ = image.config;
}
