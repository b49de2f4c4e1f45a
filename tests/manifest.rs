//! `rimg manifest create/annotate/inspect/push/rm` against a real
//! registry (CNCF distribution), the pushed lists read back by skopeo,
//! Docker's own `docker manifest inspect` and `rimg pull --platform`.

mod common;

use common::checked;
use common::docker::{Dockerd, DEBIAN_DOCKER};
use common::layout::{ImageSpec as LayoutSpec, Layout};
use common::proxy::{Fault, Proxy};
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

/// The seed's annotation of its arm64 image.
const ARM64_V8: &[&str] = &["--os", "linux", "--arch", "arm64", "--variant", "v8"];

/// Pushes a Docker schema 2 image of `arch` (no variant in its config,
/// as the seed's images) as `dest`.
fn push_image(registry: &Registry, seed: u64, arch: &'static str, dest: &str) {
    let spec = LayoutSpec::new(seed, 2, 4096).platform(arch, None);
    registry.push_image_with(&spec, dest, &["--format", "v2s2"]);
}

fn blobs_in(root: &Path) -> usize {
    std::fs::read_dir(root.join("blobs/sha256"))
        .unwrap()
        .count()
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
    let mut command = Command::new(DEBIAN_DOCKER);
    command
        .env("DOCKER_CONFIG", config.path())
        .env("DOCKER_CLI_EXPERIMENTAL", "enabled")
        .args(["manifest", "inspect", "--insecure", name]);
    String::from_utf8(checked(command, "docker manifest inspect")).unwrap()
}

/// The seed tutorial's sequence: two single-platform images in their own
/// repositories, a list made of them, annotated, inspected and pushed;
/// then what Docker (`manifest inspect`, `pull --platform`), skopeo and
/// `rimg pull --platform` see, `--amend` (and concurrent annotates),
/// `rm` and `push --purge`.
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

    // An element the registry lacks fails the whole create, and leaves
    // nothing behind: not the list, not the manifests fetched before it.
    let nope = registry.image("username/nope");
    fails(
        root,
        &["manifest", "create", &list, &amd64, &nope],
        &format!("no such manifest: {nope}:latest"),
    );
    assert!(common::registry::store_is_empty(root));
    assert_eq!(blobs_in(root), 0);

    let out = ok(root, &["manifest", "create", &list, &amd64, &arm64]);
    assert_eq!(out, format!("Created manifest list {list}:latest\n"));
    // A list is no image, and leaves the store consistent.
    assert_eq!(ok(root, &["images", "-q"]), "");
    assert!(ok(root, &["system", "check"]).ends_with(": the store is consistent\n"));

    ok(
        root,
        &[
            "manifest", "annotate", &list, &amd64, "--os", "linux", "--arch", "x86_64",
        ],
    );
    ok(
        root,
        &[&["manifest", "annotate", &list, &arm64], ARM64_V8].concat(),
    );
    let local = ok(root, &["manifest", "inspect", &list]);
    let parsed: Value = serde_json::from_str(&local).unwrap();
    assert_eq!(parsed["mediaType"], media_type::DOCKER_MANIFEST_LIST);
    // Docker's order: by the elements' names.
    assert_eq!(platforms(&parsed), ["linux/arm64/v8", "linux/amd64"]);
    // Docker prints the list it would push, indented as it sends it.
    assert!(local.contains("\n   \"schemaVersion\": 2,"), "{local}");

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

    // `pull --platform` picks the arm64 image from the list; Docker's
    // daemon picks each platform, as `docker run` on each machine would.
    let fresh = TempDir::new().unwrap();
    ok(fresh.path(), &["pull", "--platform", "linux/arm64", &list]);
    let arch = ok(
        fresh.path(),
        &["inspect", "--format", "{{.Architecture}}", &list],
    );
    assert_eq!(arch.trim(), "arm64");
    let docker = Dockerd::start();
    let docker_run = |args: &[&str]| {
        let out = checked(docker.debian_command(args), &format!("docker {args:?}"));
        String::from_utf8(out).unwrap()
    };
    for (platform, arch) in [("linux/arm64", "arm64"), ("linux/amd64", "amd64")] {
        docker_run(&["pull", "--platform", platform, &list]);
        let pulled = docker_run(&["image", "inspect", "--format", "{{.Architecture}}", &list]);
        assert_eq!(pulled.trim(), arch, "docker pull --platform {platform}");
    }

    // One element of the local list, as it was added.
    let element = ok(root, &["manifest", "inspect", &list, &arm64]);
    let element: Value = serde_json::from_str(&element).unwrap();
    assert_eq!(element["mediaType"], media_type::DOCKER_MANIFEST);
    let verbose = ok(root, &["manifest", "inspect", "-v", &list]);
    let verbose: Value = serde_json::from_str(&verbose).unwrap();
    assert_eq!(verbose[0]["Ref"], format!("{arm64}:latest"));
    assert_eq!(verbose[0]["Descriptor"]["platform"]["variant"], "v8");
    assert!(verbose[0]["SchemaV2Manifest"]["layers"].is_array());

    // --amend adds a third platform and keeps the annotations.
    push_image(&registry, 3, "s390x", "username/s390x-test:latest");
    let s390x = registry.image("username/s390x-test");
    ok(root, &["manifest", "create", "--amend", &list, &s390x]);
    let amended: Value = serde_json::from_str(&ok(root, &["manifest", "inspect", &list])).unwrap();
    assert_eq!(
        platforms(&amended),
        ["linux/arm64/v8", "linux/s390x", "linux/amd64"]
    );
    // Concurrent annotates of one list all land: none overwrites another.
    let features: Vec<String> = (0..8).map(|i| format!("feature{i}")).collect();
    std::thread::scope(|scope| {
        for feature in &features {
            let args = [
                "manifest",
                "annotate",
                &list,
                &s390x,
                "--os-features",
                feature,
            ];
            scope.spawn(move || ok(root, &args));
        }
    });
    let annotated: Value =
        serde_json::from_str(&ok(root, &["manifest", "inspect", &list])).unwrap();
    let mut landed: Vec<&str> = annotated["manifests"][1]["platform"]["os.features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    landed.sort();
    assert_eq!(landed, features);

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
    assert!(ok(root, &["system", "check"]).ends_with(": the store is consistent\n"));

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
    assert_eq!(blobs_in(root), 0);
}

/// A registry that wants a login: create and push with the user's saved
/// login work; without one, the registry's refusal is the error.
#[test]
fn push_to_a_registry_needing_login() {
    for auth in [AuthKind::Basic, AuthKind::Token] {
        push_with_login(auth);
    }
}

fn push_with_login(auth: AuthKind) {
    let registry = Registry::start_with(auth);
    push_image(&registry, 4, "amd64", "team/amd:1");
    push_image(&registry, 5, "arm64", "team/arm:1");
    let root = TempDir::new().unwrap();
    let root = root.path();
    let list = registry.image("team/multi:1");
    let (amd, arm) = (registry.image("team/amd:1"), registry.image("team/arm:1"));

    let anonymous = run_rimg(root, None, &["manifest", "create", &list, &amd, &arm]);
    assert_eq!(anonymous.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&anonymous.stderr);
    assert!(
        stderr.contains(registry.anonymous_refusal()),
        "{auth:?}: {stderr}"
    );

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

/// Docker's own `docker manifest` (Debian's 20.10 CLI, which needs no
/// daemon for this) and rimg make the same list from the same images:
/// the same output at each step, the same errors, the same pushed digest.
#[test]
fn docker_and_rimg_make_the_same_list() {
    let registry = Registry::start();
    push_image(&registry, 7, "amd64", "same/amd:latest");
    push_image(&registry, 8, "arm64", "same/arm:latest");
    let (amd, arm) = (registry.image("same/amd"), registry.image("same/arm"));
    let root = TempDir::new().unwrap();
    let root = root.path();
    let docker_config = TempDir::new().unwrap();
    let docker = |args: &[&str]| {
        let output = Command::new(DEBIAN_DOCKER)
            .env("DOCKER_CONFIG", docker_config.path())
            .env("DOCKER_CLI_EXPERIMENTAL", "enabled")
            .arg("manifest")
            .args(args)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    };
    let rimg = |args: &[&str]| {
        let output = run_rimg(root, None, &[&["manifest"], args].concat());
        let stderr = String::from_utf8(output.stderr).unwrap();
        (
            output.status.code(),
            String::from_utf8(output.stdout).unwrap(),
            // rimg prefixes its errors with "Error: ", as newer Docker does.
            stderr
                .strip_prefix("Error: ")
                .unwrap_or(&stderr)
                .to_string(),
        )
    };
    let same = |args: &[&str]| {
        let (d, r) = (docker(args), rimg(args));
        assert_eq!(r, d, "manifest {args:?}: rimg, then docker");
        r.1
    };
    let list = registry.image("same/multi");
    same(&["create", "--insecure", &list, &registry.image("same/nope")]);
    same(&["create", "--insecure", &list, &amd, &arm]);
    same(&["create", "--insecure", &list, &amd]);
    same(&[&["annotate", &list, &arm], ARM64_V8].concat());
    same(&[
        "annotate",
        &list,
        &registry.image("same/none"),
        "--arch",
        "arm64",
    ]);
    same(&["annotate", &list, &amd, "--os", "plan9", "--arch", "s390x"]);
    same(&["inspect", &list]);
    same(&["inspect", &list, &arm]);
    same(&["inspect", "-v", &list]);
    same(&["inspect", "-v", &list, &arm]);
    same(&["create", "--amend", "--insecure", &list, &amd]);
    same(&["inspect", &list]);
    // Docker 20.10 puts the elements' manifests re-serialized, under
    // other digests than the list names, and the registry then refuses
    // the list ("manifest blob unknown"); rimg puts them as they are.
    let (code, pushed, _) = rimg(&["push", "--insecure", &list]);
    assert_eq!(code, Some(0));
    assert!(pushed.ends_with(&format!("{}\n", registry.digest("same/multi:latest"))));
    same(&["rm", &list]);
    same(&["rm", &list]);
    // With the local list gone, inspect reads the registry's.
    same(&["inspect", "--insecure", &list]);
    same(&["inspect", "-v", "--insecure", &list]);
    same(&["inspect", "--insecure", &amd]);
    same(&["inspect", "-v", "--insecure", &amd]);
    same(&["push", &list]);
}

/// An index given as an element contributes one element per platform;
/// a registry that answers the mounts with upload sessions (as one does
/// a mount it will not do) gets the blobs copied; an element on another
/// registry is refused as Docker refuses it.
#[test]
fn index_elements_and_refused_mounts() {
    let registry = Registry::start();
    let src = TempDir::new().unwrap();
    let mut layout = Layout::new(src.path());
    let amd64 = layout.image(&LayoutSpec::new(9, 2, 4096));
    let arm = layout.image(&LayoutSpec::new(10, 2, 4096).platform("arm", Some("v7")));
    layout.tag("multi", &[&amd64, &arm]);
    registry.push(
        &layout.dir,
        "multi",
        "src/multi:1",
        &["--all", "--preserve-digests"],
    );
    let proxy = Proxy::start(&registry.addr);
    proxy.add("mount=", 100, Fault::DropQuery);
    let root = TempDir::new().unwrap();
    let root = root.path();
    let list = format!("{}/dst/list:1", proxy.addr());
    let element = format!("{}/src/multi:1", proxy.addr());

    ok(root, &["manifest", "create", &list, &element]);
    let local: Value = serde_json::from_str(&ok(root, &["manifest", "inspect", &list])).unwrap();
    assert_eq!(local["mediaType"], media_type::OCI_INDEX);
    assert_eq!(platforms(&local), ["linux/amd64", "linux/arm/v7"]);
    let out = ok(root, &["manifest", "push", &list]);
    assert_eq!(out.lines().last().unwrap(), registry.digest("dst/list:1"));
    // Every blob went up through the upload a refused mount opened.
    let log = proxy.log();
    let mounts = log.iter().filter(|r| r.target.contains("mount=")).count();
    let uploads = log
        .iter()
        .filter(|r| r.method == "PUT" && r.target.contains("digest="))
        .count();
    assert_eq!(mounts, 6, "two configs and four layers: {log:#?}");
    assert_eq!(uploads, mounts);
    let fresh = TempDir::new().unwrap();
    let pulled = format!("{}/dst/list:1", registry.addr);
    ok(
        fresh.path(),
        &["pull", "--platform", "linux/arm/v7", &pulled],
    );
    let id = ok(fresh.path(), &["inspect", "--format", "{{.Id}}", &pulled]);
    assert_eq!(id.trim(), arm.config.to_string());

    // The same registry under another name is another registry.
    let elsewhere = registry.image("dst/other:1");
    ok(root, &["manifest", "create", &elsewhere, &element]);
    fails(
        root,
        &["manifest", "push", &elsewhere],
        &format!(
            "cannot use source images from a different registry than the target image: {} != {}",
            proxy.addr(),
            registry.addr
        ),
    );
}
