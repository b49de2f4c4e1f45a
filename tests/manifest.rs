//! `rimg manifest create/annotate/inspect/push/rm` against a real
//! registry (CNCF distribution), the pushed lists read back by skopeo,
//! Docker's own `docker manifest inspect` and `rimg pull --platform`.

mod common;

use base64::Engine as _;
use common::layout::ImageSpec as LayoutSpec;
use common::registry::{assert_ok, run_rimg, AuthKind, Registry};
use common::ImageSpec;
use rimg::oci::media_type;
use rimg::store::Store;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use tempfile::TempDir;

fn ok(root: &Path, args: &[&str]) -> String {
    assert_ok(&run_rimg(root, None, args))
}

/// Runs rimg expecting Docker's failure: exit 1 and `message` on stderr.
#[track_caller]
fn fails(root: &Path, args: &[&str], message: &str) {
    let output = run_rimg(root, None, args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "rimg {args:?}: {stderr}");
    assert_eq!(
        stderr.trim_end(),
        format!("Error: {message}"),
        "rimg {args:?}"
    );
}

/// Pushes a Docker schema 2 image of `arch` (no variant in its config,
/// as the seed's images) as `dest`.
fn push_image(registry: &Registry, seed: u64, arch: &'static str, dest: &str) {
    let spec = LayoutSpec::new(seed, 2, 4096).platform(arch, None);
    registry.push_image_with(&spec, dest, &["--format", "v2s2"]);
}

/// The platforms of a list's entries, as `os/arch[/variant]`.
fn platforms(list: &Value) -> Vec<String> {
    list["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let p = &m["platform"];
            let mut s = format!(
                "{}/{}",
                p["os"].as_str().unwrap(),
                p["architecture"].as_str().unwrap()
            );
            if let Some(v) = p["variant"].as_str() {
                s = format!("{s}/{v}");
            }
            s
        })
        .collect()
}

/// `docker manifest inspect` (Debian's 20.10 CLI, no daemon needed) with
/// a Docker config dir of its own.
fn docker_manifest_inspect(name: &str) -> String {
    let config = TempDir::new().unwrap();
    let output = Command::new("/usr/bin/docker")
        .env("DOCKER_CONFIG", config.path())
        .env("DOCKER_CLI_EXPERIMENTAL", "enabled")
        .args(["manifest", "inspect", "--insecure", name])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "docker manifest inspect: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The seed tutorial's sequence: two single-platform images in their own
/// repositories, a list made of them, annotated, inspected and pushed;
/// then what Docker, skopeo and `rimg pull --platform` see, `--amend`,
/// `rm`, `push --purge` and Docker's errors.
#[test]
fn seed_sequence_builds_and_pushes_a_multi_arch_list() {
    let registry = Registry::start();
    push_image(&registry, 1, "amd64", "username/x8664-test:latest");
    push_image(&registry, 2, "arm64", "username/arm64v8-test:latest");
    let root = TempDir::new().unwrap();
    let root = root.path();
    let list = registry.image("username/test");
    let amd64 = registry.image("username/x8664-test");
    let arm64 = registry.image("username/arm64v8-test");

    let out = ok(root, &["manifest", "create", &list, &amd64, &arm64]);
    assert_eq!(out, format!("Created manifest list {list}:latest\n"));
    // A list is no image, and leaves the store consistent.
    assert_eq!(ok(root, &["images", "-q"]), "");
    ok(root, &["system", "check"]);

    ok(
        root,
        &[
            "manifest", "annotate", &list, &amd64, "--os", "linux", "--arch", "x86_64",
        ],
    );
    ok(
        root,
        &[
            "manifest",
            "annotate",
            &list,
            &arm64,
            "--os",
            "linux",
            "--arch",
            "arm64",
            "--variant",
            "v8",
        ],
    );
    let local = ok(root, &["manifest", "inspect", &list]);
    let parsed: Value = serde_json::from_str(&local).unwrap();
    assert_eq!(parsed["mediaType"], media_type::DOCKER_MANIFEST_LIST);
    // Docker's order: by the elements' names.
    assert_eq!(platforms(&parsed), ["linux/arm64/v8", "linux/amd64"]);
    // Docker prints the list it would push, indented as it sends it.
    assert!(local.contains("\n   \"schemaVersion\": 2,"), "{local}");

    // Docker's errors, exit 1.
    fails(
        root,
        &["manifest", "create", &list, &amd64],
        "refusing to amend an existing manifest list with no --amend flag",
    );
    let other = registry.image("username/other");
    fails(
        root,
        &["manifest", "annotate", &list, &other, "--arch", "arm64"],
        &format!("manifest for image {other} does not exist in {list}"),
    );
    fails(
        root,
        &[
            "manifest", "annotate", &list, &amd64, "--os", "plan9", "--arch", "s390x",
        ],
        "manifest entry for image has unsupported os/arch combination: plan9/s390x",
    );

    let out = ok(root, &["manifest", "push", &list]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    for (line, element) in lines
        .iter()
        .zip(&parsed["manifests"].as_array().unwrap()[..])
    {
        let digest = element["digest"].as_str().unwrap();
        assert_eq!(
            *line,
            format!("Pushed ref {list}@{digest} with digest: {digest}")
        );
    }
    let pushed = registry.raw("username/test:latest");
    assert_eq!(lines[2], rimg::digest::Digest::of(&pushed).to_string());
    // What was pushed is what `inspect` showed, and what Docker reads.
    let pushed: Value = serde_json::from_slice(&pushed).unwrap();
    assert_eq!(pushed, parsed);
    assert_eq!(docker_manifest_inspect(&list), local);

    // `pull --platform` picks the arm64 image from the list.
    let fresh = TempDir::new().unwrap();
    ok(fresh.path(), &["pull", "--platform", "linux/arm64", &list]);
    let arch = ok(
        fresh.path(),
        &["inspect", "--format", "{{.Architecture}}", &list],
    );
    assert_eq!(arch.trim(), "arm64");

    // One element of the local list, as it was added.
    let element = ok(root, &["manifest", "inspect", &list, &arm64]);
    let element: Value = serde_json::from_str(&element).unwrap();
    assert_eq!(element["mediaType"], media_type::DOCKER_MANIFEST);
    let verbose = ok(root, &["manifest", "inspect", "-v", &list]);
    let verbose: Value = serde_json::from_str(&verbose).unwrap();
    assert_eq!(verbose[0]["Ref"], format!("{arm64}:latest"));
    assert_eq!(verbose[0]["Descriptor"]["platform"]["variant"], "v8");
    assert!(verbose[0]["SchemaV2Manifest"]["layers"].is_array());
    let raw_bytes = base64::engine::general_purpose::STANDARD
        .decode(verbose[0]["Raw"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        rimg::digest::Digest::of(&raw_bytes).to_string(),
        parsed["manifests"][0]["digest"].as_str().unwrap()
    );

    // --amend adds a third platform and keeps the annotations.
    push_image(&registry, 3, "s390x", "username/s390x-test:latest");
    let s390x = registry.image("username/s390x-test");
    ok(root, &["manifest", "create", "--amend", &list, &s390x]);
    let amended: Value = serde_json::from_str(&ok(root, &["manifest", "inspect", &list])).unwrap();
    assert_eq!(
        platforms(&amended),
        ["linux/arm64/v8", "linux/s390x", "linux/amd64"]
    );

    // rm forgets the local list: inspect reads the pushed one again.
    ok(root, &["manifest", "rm", &list]);
    let remote = ok(root, &["manifest", "inspect", &list]);
    assert_eq!(remote, docker_manifest_inspect(&list));
    let remote: Value = serde_json::from_str(&remote).unwrap();
    assert_eq!(platforms(&remote), ["linux/arm64/v8", "linux/amd64"]);
    fails(
        root,
        &["manifest", "rm", &list],
        &format!("No such manifest: {list}:latest"),
    );
    fails(
        root,
        &["manifest", "push", &list],
        &format!("No such manifest: {list}:latest"),
    );
    ok(root, &["system", "check"]);

    // push --purge: the list is pushed under its tag, then forgotten.
    let tagged = format!("{list}:v2");
    ok(root, &["manifest", "create", &tagged, &amd64, &s390x]);
    let out = ok(root, &["manifest", "push", "--purge", &tagged]);
    let digest = out.lines().last().unwrap();
    assert_eq!(
        rimg::digest::Digest::of(&registry.raw("username/test:v2")).to_string(),
        digest
    );
    fails(
        root,
        &["manifest", "rm", &tagged],
        &format!("No such manifest: {tagged}"),
    );
    // Nothing of the lists is left in the store.
    assert!(common::registry::store_is_empty(root));
    let blobs = std::fs::read_dir(root.join("blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(blobs, 0);
}

/// A registry that wants a login: create and push with the user's saved
/// login work; without one, the registry's refusal is the error.
#[test]
fn push_to_a_registry_needing_login() {
    let registry = Registry::start_with(AuthKind::Basic);
    push_image(&registry, 4, "amd64", "team/amd:1");
    push_image(&registry, 5, "arm64", "team/arm:1");
    let root = TempDir::new().unwrap();
    let root = root.path();
    let list = registry.image("team/multi:1");
    let (amd, arm) = (registry.image("team/amd:1"), registry.image("team/arm:1"));

    let anonymous = run_rimg(root, None, &["manifest", "create", &list, &amd, &arm]);
    assert_eq!(anonymous.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&anonymous.stderr);
    assert!(stderr.contains("authentication required"), "{stderr}");

    let login = registry.docker_config_with_login();
    let with_login = |args: &[&str]| assert_ok(&run_rimg(root, Some(login.path()), args));
    with_login(&["manifest", "create", &list, &amd, &arm]);
    let out = with_login(&["manifest", "push", &list]);
    let pushed = registry.raw("team/multi:1");
    assert_eq!(
        out.lines().last().unwrap(),
        rimg::digest::Digest::of(&pushed).to_string()
    );
    let pushed: Value = serde_json::from_slice(&pushed).unwrap();
    assert_eq!(platforms(&pushed), ["linux/amd64", "linux/arm64"]);
}

/// Elements that exist only in the store are pushed into the list's
/// repository by digest as part of `manifest push` (podman's extension:
/// Docker cannot); the list can then be pulled per platform.
#[test]
fn local_images_are_pushed_with_the_list() {
    let registry = Registry::start();
    push_image(&registry, 6, "arm64", "app/arm:latest");
    let root = TempDir::new().unwrap();
    let local = registry.image("app/local:v1");
    let image = ImageSpec::new(&[&local]).write(&Store::open(root.path()).unwrap());
    let root = root.path();
    let list = registry.image("app/multi");
    let arm = registry.image("app/arm");

    ok(root, &["manifest", "create", &list, &local, &arm]);
    let out = ok(root, &["manifest", "push", &list]);
    let pushed = registry.raw("app/multi:latest");
    assert_eq!(
        out.lines().last().unwrap(),
        rimg::digest::Digest::of(&pushed).to_string()
    );
    // The local image went up as an OCI manifest: the list is an OCI index.
    let pushed: Value = serde_json::from_slice(&pushed).unwrap();
    assert_eq!(pushed["mediaType"], media_type::OCI_INDEX);
    assert_eq!(platforms(&pushed), ["linux/arm64", "linux/amd64"]);

    let fresh = TempDir::new().unwrap();
    ok(fresh.path(), &["pull", "--platform", "linux/amd64", &list]);
    let id = ok(fresh.path(), &["inspect", "--format", "{{.Id}}", &list]);
    assert_eq!(id.trim(), image.id.to_string());
}
