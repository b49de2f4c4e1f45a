//! `rimg pull` against a real registry (CNCF distribution 2.8), with
//! images pushed by skopeo in every manifest flavour.

mod common;

use common::layout::{ImageSpec, Layout};
use common::registry::{isolated_rimg, skopeo, store_is_empty, Registry};
use common::Compression;
use rimg::digest::Digest;
use rimg::oci::{annotation, media_type, Descriptor, Manifest};
use rimg::store::Store;
use std::path::Path;
use std::process::Output;
use tempfile::TempDir;

/// Runs the rimg binary on a store, isolated from the user's settings.
fn rimg(root: &Path, args: &[&str]) -> Output {
    isolated_rimg(root, None).args(args).output().unwrap()
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

/// What skopeo reads back from rimg's store for `name`.
fn inspect_store(root: &Path, name: &str) -> serde_json::Value {
    let raw = skopeo(&["inspect", &format!("oci:{}:{name}", root.display())]);
    serde_json::from_slice(&raw).unwrap()
}

#[test]
fn pulls_an_oci_image_and_prints_docker_output() {
    let registry = Registry::start();
    let image = registry.push_image(&ImageSpec::new(1, 3, 200_000), "app/oci:v1");
    let served = registry.digest("app/oci:v1");

    let root = TempDir::new().unwrap();
    let name = registry.image("app/oci:v1");
    let out = assert_ok(&rimg(root.path(), &["pull", &name]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "v1: Pulling from app/oci");
    for layer in &image.layers {
        let short = layer.digest.short();
        for status in [
            "Pulling fs layer",
            "Verifying Checksum",
            "Download complete",
            "Pull complete",
        ] {
            assert!(
                lines.contains(&format!("{short}: {status}").as_str()),
                "{status} for {short} in\n{out}"
            );
        }
    }
    let n = lines.len();
    assert_eq!(lines[n - 3], format!("Digest: {served}"));
    assert_eq!(
        lines[n - 2],
        format!("Status: Downloaded newer image for {name}")
    );
    assert_eq!(lines[n - 1], name);
    assert!(
        !out.contains('\x1b') && !out.contains('\r'),
        "control characters in {out:?}"
    );

    let inspected = inspect_store(root.path(), &name);
    assert_eq!(inspected["Digest"], served);
    let repo_digest = format!("{}@{served}", registry.image("app/oci"));
    assert_eq!(inspect_store(root.path(), &repo_digest)["Digest"], served);

    // `rimg images` lists it under the image ID (the config digest).
    let listed = assert_ok(&rimg(
        root.path(),
        &[
            "images",
            "--no-trunc",
            "--format",
            "{{.Repository}}:{{.Tag}} {{.ID}}",
        ],
    ));
    assert_eq!(listed, format!("{name} {}\n", image.config));

    // Re-pulling is a no-op that says so, and only that: Docker 20.10
    // prints no layer lines for an image it has.
    let again = assert_ok(&rimg(root.path(), &["pull", &name]));
    assert_eq!(
        again,
        format!(
            "v1: Pulling from app/oci\nDigest: {served}\n\
             Status: Image is up to date for {name}\n{name}\n"
        )
    );
}

/// The index entry rimg's store has for `name`.
fn entry(root: &Path, name: &str) -> Option<Descriptor> {
    let store = Store::open(root).unwrap();
    store
        .read_index()
        .unwrap()
        .manifests
        .into_iter()
        .find(|d| d.annotation(annotation::REF_NAME) == Some(name))
}

/// The image ID (config digest) `name` points at in the store.
fn image_id(root: &Path, name: &str) -> Digest {
    let entry = entry(root, name).unwrap_or_else(|| panic!("{name} is not in the store"));
    let store = Store::open(root).unwrap();
    store
        .read_json::<Manifest>(&entry.digest)
        .unwrap()
        .config
        .digest
}

#[test]
fn pulls_docker_schema2_zstd_and_uncompressed_images() {
    let registry = Registry::start();
    let src = TempDir::new().unwrap();
    let mut layout = Layout::new(src.path());
    let gzip = layout.image(&ImageSpec::new(2, 2, 100_000));
    let zstd = layout.image(&ImageSpec::new(3, 2, 100_000).compression(Compression::Zstd));
    let plain = layout.image(&ImageSpec::new(4, 2, 100_000).compression(Compression::None));
    layout.tag("gzip", &[&gzip]);
    layout.tag("zstd", &[&zstd]);
    layout.tag("plain", &[&plain]);
    registry.push(
        &layout.dir,
        "gzip",
        "flavours/docker:v2s2",
        &["--format", "v2s2"],
    );
    registry.push(
        &layout.dir,
        "zstd",
        "flavours/oci:zstd",
        &["--preserve-digests"],
    );
    registry.push(
        &layout.dir,
        "plain",
        "flavours/oci:plain",
        &["--preserve-digests"],
    );

    let root = TempDir::new().unwrap();
    for (repo, image) in [
        ("flavours/docker:v2s2", &gzip),
        ("flavours/oci:zstd", &zstd),
        ("flavours/oci:plain", &plain),
    ] {
        let name = registry.image(repo);
        assert_ok(&rimg(root.path(), &["pull", "-q", &name]));
        let stored = entry(root.path(), &name).unwrap();
        assert_eq!(stored.digest.to_string(), registry.digest(repo));
        // skopeo 1.9's OCI layout reader skips entries with Docker media
        // types, so only the OCI flavours can be inspected with it.
        if stored.media_type == media_type::OCI_MANIFEST {
            assert_eq!(
                inspect_store(root.path(), &name)["Digest"],
                registry.digest(repo)
            );
        }
        assert_eq!(image_id(root.path(), &name), image.config, "{repo}");
        // Layers are stored as served: compressed ones stay compressed.
        for layer in &image.layers {
            assert!(root
                .path()
                .join("blobs/sha256")
                .join(layer.digest.hex())
                .is_file());
        }
    }
    let docker = entry(root.path(), &registry.image("flavours/docker:v2s2")).unwrap();
    assert_eq!(docker.media_type, media_type::DOCKER_MANIFEST);
}

#[test]
fn multi_platform_indexes_pick_the_platform() {
    let registry = Registry::start();
    let src = TempDir::new().unwrap();
    let mut layout = Layout::new(src.path());
    let amd64 = layout.image(&ImageSpec::new(5, 2, 50_000));
    let arm64 = layout.image(&ImageSpec::new(6, 2, 50_000).platform("arm64", Some("v8")));
    let arm = layout.image(&ImageSpec::new(7, 2, 50_000).platform("arm", Some("v7")));
    layout.tag("multi", &[&amd64, &arm64, &arm]);
    registry.push(
        &layout.dir,
        "multi",
        "multi/oci:1",
        &["--all", "--preserve-digests"],
    );
    registry.push(
        &layout.dir,
        "multi",
        "multi/list:1",
        &["--all", "--format", "v2s2"],
    );

    let root = TempDir::new().unwrap();
    for repo in ["multi/oci:1", "multi/list:1"] {
        let name = registry.image(repo);
        let index_digest = registry.digest(repo);
        let out = assert_ok(&rimg(root.path(), &["pull", &name]));
        assert!(out.contains(&format!("Digest: {index_digest}")), "{out}");
        assert_eq!(image_id(root.path(), &name), amd64.config);
        // The repo digest is the index's, pointing at the platform manifest.
        let (bare, _) = repo.split_once(':').unwrap();
        let repo_digest = format!("{}@{index_digest}", registry.image(bare));
        assert_eq!(image_id(root.path(), &repo_digest), amd64.config);
        let tagged = entry(root.path(), &name).unwrap();
        assert!(media_type::is_manifest(&tagged.media_type));
    }

    let arm_root = TempDir::new().unwrap();
    let name = registry.image("multi/oci:1");
    assert_ok(&rimg(
        arm_root.path(),
        &["pull", "--platform", "linux/arm/v7", &name],
    ));
    assert_eq!(image_id(arm_root.path(), &name), arm.config);
    assert_ok(&rimg(
        arm_root.path(),
        &["pull", "--platform", "linux/arm64", &name],
    ));
    assert_eq!(image_id(arm_root.path(), &name), arm64.config);

    let out = rimg(
        arm_root.path(),
        &["pull", "--platform", "linux/s390x", &name],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim(),
        "Error: no matching manifest for linux/s390x in the manifest list entries (available: linux/amd64, linux/arm64/v8, linux/arm/v7)"
    );

    // A single-platform image must match an explicit --platform.
    let single = registry.image("multi/single:1");
    registry.push(
        &layout.dir,
        "multi",
        "multi/single:1",
        &["--preserve-digests"],
    );
    let out = rimg(
        arm_root.path(),
        &["pull", "--platform", "linux/arm64", &single],
    );
    assert!(
        stderr(&out).contains(
            "does not match the specified platform: wanted linux/arm64, actual: linux/amd64"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn shared_layers_already_exist_and_digest_pulls_work() {
    let registry = Registry::start();
    let src = TempDir::new().unwrap();
    let mut layout = Layout::new(src.path());
    let base = ImageSpec::new(8, 3, 60_000);
    let mut derived = ImageSpec::new(8, 3, 60_000);
    derived.layers.push(common::layout::tar(
        "extra",
        common::layout::content(99, 30_000),
    ));
    let base = layout.image(&base);
    let derived = layout.image(&derived);
    layout.tag("base", &[&base]);
    layout.tag("derived", &[&derived]);
    registry.push(
        &layout.dir,
        "base",
        "shared/base:1",
        &["--preserve-digests"],
    );
    registry.push(
        &layout.dir,
        "derived",
        "shared/derived:1",
        &["--preserve-digests"],
    );

    let root = TempDir::new().unwrap();
    assert_ok(&rimg(
        root.path(),
        &["pull", &registry.image("shared/base:1")],
    ));
    let digest = registry.digest("shared/derived:1");
    let by_digest = format!("{}@{digest}", registry.image("shared/derived"));
    let out = assert_ok(&rimg(root.path(), &["pull", &by_digest]));
    for layer in &base.layers {
        assert!(
            out.contains(&format!("{}: Already exists", layer.digest.short())),
            "{out}"
        );
    }
    let new_layer = derived.layers[3].digest.short();
    assert!(
        out.contains(&format!("{new_layer}: Pull complete")),
        "{out}"
    );
    assert!(
        out.starts_with(&format!("{digest}: Pulling from shared/derived\n")),
        "{out}"
    );
    assert!(
        out.ends_with(&format!(
            "Status: Downloaded newer image for {by_digest}\n{by_digest}\n"
        )),
        "{out}"
    );
    assert_eq!(image_id(root.path(), &by_digest), derived.config);
    // A digest pull names no tag.
    assert!(entry(root.path(), &registry.image("shared/derived:1")).is_none());
}

#[test]
fn all_tags_and_quiet() {
    let registry = Registry::start();
    let src = TempDir::new().unwrap();
    let mut layout = Layout::new(src.path());
    let one = layout.image(&ImageSpec::new(10, 1, 10_000));
    let two = layout.image(&ImageSpec::new(11, 1, 10_000));
    layout.tag("one", &[&one]);
    layout.tag("two", &[&two]);
    registry.push(&layout.dir, "one", "tags/app:one", &["--preserve-digests"]);
    registry.push(&layout.dir, "two", "tags/app:two", &["--preserve-digests"]);

    let root = TempDir::new().unwrap();
    let repo = registry.image("tags/app");
    let out = assert_ok(&rimg(root.path(), &["pull", "-a", &repo]));
    assert!(out.contains("one: Pulling from tags/app\n"), "{out}");
    assert!(out.contains("two: Pulling from tags/app\n"), "{out}");
    assert!(
        out.ends_with(&format!(
            "Status: Downloaded newer image for {repo}\n{repo}\n"
        )),
        "{out}"
    );
    assert_eq!(image_id(root.path(), &format!("{repo}:one")), one.config);
    assert_eq!(image_id(root.path(), &format!("{repo}:two")), two.config);

    let out = rimg(root.path(), &["pull", "-a", &format!("{repo}:one")]);
    assert_eq!(
        stderr(&out).trim(),
        "Error: tag can't be used with --all-tags/-a"
    );

    let quiet = TempDir::new().unwrap();
    let out = assert_ok(&rimg(quiet.path(), &["pull", "-q", &format!("{repo}:two")]));
    assert_eq!(out, format!("{repo}:two\n"));
}

#[test]
fn errors_are_dockers() {
    let registry = Registry::start();
    let spec = ImageSpec::new(12, 1, 10_000);
    registry.push_image(&spec, "errs/app:v1");
    registry.push_image_with(&spec, "errs/old:v1", &["--format", "v2s1"]);
    let root = TempDir::new().unwrap();

    let missing = registry.image("errs/app:nope");
    let out = rimg(root.path(), &["pull", &missing]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim(),
        format!("Error: manifest for {missing} not found: manifest unknown: manifest unknown")
    );

    let out = rimg(root.path(), &["pull", &registry.image("errs/old:v1")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("schema 1 are not supported"),
        "{}",
        stderr(&out)
    );

    let port = common::registry::free_port();
    let out = rimg(
        root.path(),
        &["pull", &format!("127.0.0.1:{port}/errs/app:v1")],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!(
            "Error: Get \"http://127.0.0.1:{port}/v2/errs/app/manifests/v1\": "
        )),
        "{err}"
    );
    assert!(err.contains("Connection refused"), "{err}");

    // Nothing was stored for any of them.
    assert!(store_is_empty(root.path()));
}

#[test]
fn diff_id_mismatch_fails_and_tags_nothing() {
    let registry = Registry::start();
    let src = TempDir::new().unwrap();
    let mut layout = Layout::new(src.path());
    let mut spec = ImageSpec::new(13, 2, 20_000);
    let good = layout.image(&spec);
    // Same config (diff IDs of the original tars), different layer content.
    spec.layers[1] = common::layout::tar("other", common::layout::content(77, 100));
    let mut bad = layout.image(&spec);
    let config = layout.image(&ImageSpec::new(13, 2, 20_000)).config;
    assert_eq!(config, good.config);
    bad.manifest = layout.manifest_with(&good.config, &bad.layers);
    layout.tag("bad", &[&bad]);
    registry.push(
        &layout.dir,
        "bad",
        "diffid/app:bad",
        &["--preserve-digests"],
    );

    let root = TempDir::new().unwrap();
    let out = rimg(root.path(), &["pull", &registry.image("diffid/app:bad")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("layer {}: diff ID", bad.layers[1].digest)),
        "{}",
        stderr(&out)
    );
    assert!(store_is_empty(root.path()));
}

#[test]
fn loopback_registries_may_speak_https_with_any_certificate() {
    // Docker treats loopback registries as insecure: HTTPS if they speak
    // it (certificate unchecked), else HTTP.
    let registry = Registry::start_tls();
    let image = registry.push_image(&ImageSpec::new(14, 2, 20_000), "tls/app:v1");
    let root = TempDir::new().unwrap();
    let name = registry.image("tls/app:v1");
    assert_ok(&rimg(root.path(), &["pull", &name]));
    assert_eq!(image_id(root.path(), &name), image.config);
}

#[test]
fn max_concurrent_downloads_queues_the_rest() {
    let registry = Registry::start();
    let image = registry.push_image(&ImageSpec::new(15, 3, 20_000), "queue/app:v1");
    let root = TempDir::new().unwrap();
    let name = registry.image("queue/app:v1");
    let out = assert_ok(&rimg(
        root.path(),
        &["pull", "--max-concurrent-downloads", "1", &name],
    ));
    assert_eq!(out.matches(": Waiting\n").count(), 2, "{out}");
    // The largest layer goes first; the others wait.
    let largest = image.layers.iter().max_by_key(|l| l.size).unwrap();
    assert!(
        !out.contains(&format!("{}: Waiting", largest.digest.short())),
        "{out}"
    );
    assert_eq!(image_id(root.path(), &name), image.config);
}
