//! `rimg push` read back by a real Docker engine: images loaded from an
//! uncompressed archive, made by `commit`, and pulled (gzip) go up to the
//! real registry, `docker pull` gets them under rimg's image IDs and
//! `docker run` prints a file from them; `rimg pull` into an empty store
//! gets the same IDs too.
//!
//! One dockerd and one registry serve the whole round trip (dockerd takes
//! a while to start). Never skipped: it fails if dockerd cannot start
//! (scripts/test.sh installs docker.io). Docker treats 127.0.0.0/8 as an
//! insecure registry, so the loopback registry needs no daemon setting.

mod common;

use common::archive::{legacy_archive, runnable_layer, LegacyImage};
use common::docker::Dockerd;
use common::registry::{isolated_rimg, skopeo, Registry};
use rimg::digest::Digest;
use std::path::Path;
use tempfile::TempDir;

/// Runs rimg on the store at `root` and fails the test unless it succeeds;
/// returns stdout.
fn rimg(root: &Path, args: &[&str]) -> String {
    let out = isolated_rimg(root, None).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "rimg {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A legacy archive of one runnable image (`/hello.txt` holds `greeting`),
/// its layer uncompressed, written under `dir`.
fn archive(dir: &Path, greeting: &str, tag: &str) -> (std::path::PathBuf, Digest) {
    let image = LegacyImage::from_layers(vec![runnable_layer(greeting)], &[tag]);
    let path = dir.join(format!("{greeting}.tar"));
    std::fs::write(&path, legacy_archive(std::slice::from_ref(&image))).unwrap();
    (path, image.id())
}

/// Pushes `name` from the store at `root` (returning rimg's output), then
/// checks that Docker pulls it as `id` and prints `file` from it as
/// `content`, and that rimg pulls it into an empty store as `id`.
fn push_and_pull_back(
    root: &Path,
    docker: &Dockerd,
    name: &str,
    id: &Digest,
    (file, content): (&str, &str),
) -> String {
    let out = rimg(root, &["push", name]);
    docker.ok(&["pull", name]);
    let docker_id = docker.ok(&["image", "inspect", "--format", "{{.Id}}", name]);
    assert_eq!(docker_id.trim(), id.to_string(), "docker's ID of {name}");
    let printed = docker.ok(&["run", "--rm", "--network", "none", name, "/bin/cat", file]);
    assert_eq!(printed, content, "{file} in {name}");

    let fresh = TempDir::new().unwrap();
    rimg(fresh.path(), &["pull", name]);
    let pulled = rimg(fresh.path(), &["inspect", "--format", "{{.Id}}", name]);
    assert_eq!(
        pulled.trim(),
        id.to_string(),
        "rimg's ID of {name} pulled back"
    );
    out
}

fn count(out: &str, status: &str) -> usize {
    out.lines().filter(|l| l.ends_with(status)).count()
}

#[test]
fn docker_pulls_and_runs_what_rimg_pushed() {
    let registry = Registry::start();
    let docker = Dockerd::start();
    let work = TempDir::new().unwrap();
    let root = work.path().join("root");

    // (a) Loaded from an uncompressed archive: the layer is gzipped on
    // the way up, the image ID stays.
    let loaded = registry.image("loaded:1");
    let (path, loaded_id) = archive(work.path(), "loaded\n", &loaded);
    rimg(&root, &["load", "-i", path.to_str().unwrap()]);
    let out = push_and_pull_back(
        &root,
        &docker,
        &loaded,
        &loaded_id,
        ("/hello.txt", "loaded\n"),
    );
    assert_eq!(count(&out, ": Pushed"), 1, "{out}");

    // (b) Made by commit on top of it, with the file changed: the new
    // layer goes up, the base layer is mounted from the repository it was
    // pushed to.
    rimg(&root, &["create", "--name", "work", &loaded]);
    let rootfs = rimg(&root, &["mount", "work"]);
    std::fs::write(
        Path::new(rootfs.trim_end()).join("hello.txt"),
        "committed\n",
    )
    .unwrap();
    let committed = registry.image("committed:1");
    let committed_id = rimg(&root, &["commit", "work", &committed]);
    let committed_id: Digest = committed_id.trim().parse().unwrap();
    let out = push_and_pull_back(
        &root,
        &docker,
        &committed,
        &committed_id,
        ("/hello.txt", "committed\n"),
    );
    assert_eq!(count(&out, ": Mounted from loaded"), 1, "{out}");
    assert_eq!(count(&out, ": Pushed"), 1, "{out}");

    // (c) Pulled, so stored gzipped as the registry served it: skopeo
    // puts it there, rimg pulls it and pushes it to another repository.
    let (path, pulled_id) = archive(work.path(), "pulled\n", "base:1");
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("docker-archive:{}", path.display()),
        &format!("docker://{}", registry.image("base:1")),
    ]);
    rimg(&root, &["pull", &registry.image("base:1")]);
    let pulled = registry.image("pulled:1");
    rimg(&root, &["tag", &registry.image("base:1"), &pulled]);
    let out = push_and_pull_back(
        &root,
        &docker,
        &pulled,
        &pulled_id,
        ("/hello.txt", "pulled\n"),
    );
    assert_eq!(count(&out, ": Mounted from base"), 1, "{out}");
}
