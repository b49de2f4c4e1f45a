//! Containers against a real Docker engine: what rimg commits runs in
//! Docker with the changes, author, comment and CMD, and `rimg export` of
//! a fresh container is `docker export` of one, file for file.
//!
//! Images travel from rimg to Docker as `rimg save` then `docker load`.
//! These tests never skip: they fail if dockerd cannot start
//! (scripts/test.sh installs docker.io).

mod common;
#[path = "common/layers.rs"]
mod layers;

use common::docker::Dockerd;
use common::Fixture;
use layers::{add_image, read_tar, runnable_layer, Layer, TarEntry};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fs;
/// Copies `name` from the rimg store into Docker: `rimg save`, then
/// `docker load`.
fn load_into_docker(fx: &Fixture, docker: &Dockerd, name: &str) {
    let archive = fx
        .dir
        .path()
        .join(format!("{}.tar", name.replace([':', '/'], "_")));
    fx.ok(&["save", "-o", archive.to_str().unwrap(), name]);
    let out = docker.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert!(out.contains(&format!("Loaded image: {name}")), "{out}");
}

/// An image with a bit of everything a rootfs holds, over two layers.
fn rich_image(fx: &Fixture) {
    let lower = runnable_layer()
        .dir("etc", 0o755)
        .file("etc/os-release", b"NAME=rimg-test\n", 0o644)
        .file("etc/gone", b"whited out\n", 0o644)
        .dir("data", 0o755)
        .dir("data/dir", 0o755)
        .file("data/dir/a", b"a\n", 0o644)
        .file("data/dir/b", b"b\n", 0o600)
        .dir("data/empty", 0o700)
        .dir("opaque", 0o755)
        .file("opaque/old", b"hidden\n", 0o644)
        .dir("tmp", 0o1777)
        .dir("usr", 0o755)
        .dir("usr/local", 0o755)
        .dir("usr/local/bin", 0o755)
        .owned_file(
            "usr/local/bin/tool",
            b"#!/bin/sh\necho tool\n",
            0o4755,
            1000,
            1001,
        )
        // Its header's mode and owner differ from the target's: Docker
        // applies them to the linked file, and so does rimg.
        .hardlink("usr/local/bin/tool-link", "usr/local/bin/tool")
        .symlink("usr/local/bin/abs", "/usr/local/bin/tool")
        .symlink("usr/local/bin/rel", "tool")
        .symlink("data/dangling", "/nowhere")
        .file("replaced", b"a file first\n", 0o644)
        .fifo("data/pipe")
        .finish();
    let upper = Layer::new()
        .file("etc/.wh.gone", b"", 0)
        .file("opaque/.wh..wh..opq", b"", 0)
        .file("opaque/new", b"visible\n", 0o640)
        .dir("replaced", 0o750)
        .file("replaced/inner", b"then a directory\n", 0o644)
        .file("etc/lower.txt", b"in the second layer\n", 0o644)
        .file("etc/changeme", b"old\n", 0o644)
        .finish();
    add_image(
        fx,
        &["rich:1"],
        &[lower, upper],
        json!({"Env": ["PATH=/usr/local/bin:/usr/bin:/bin"], "Cmd": ["/bin/sh"]}),
    );
}

#[test]
fn docker_runs_what_rimg_committed() {
    let fx = Fixture::new();
    rich_image(&fx);
    fx.ok(&["create", "--name", "work", "rich:1"]);
    let root = std::path::PathBuf::from(fx.ok(&["mount", "work"]).trim_end());
    fs::write(root.join("etc/added"), b"added by rimg\n").unwrap();
    fs::write(root.join("etc/changeme"), b"changed by rimg\n").unwrap();
    fs::remove_dir_all(root.join("data/dir")).unwrap();
    // A file of the lower layer.
    fs::remove_file(root.join("etc/os-release")).unwrap();
    let script = "cat /etc/added /etc/changeme; \
                  for p in /data/dir /etc/os-release /etc/gone; do test -e $p && echo present $p; done; \
                  cat /etc/lower.txt";
    let cmd = format!("CMD [\"/bin/sh\", \"-c\", \"{script}\"]");
    let id = fx.ok(&[
        "commit",
        "-a",
        "Ann Author <ann@example.com>",
        "-m",
        "rimg changes",
        "-c",
        &cmd,
        "work",
        "committed:1",
    ]);
    let id = id.trim_end().to_string();

    let docker = Dockerd::start();
    load_into_docker(&fx, &docker, "committed:1");
    let out = docker.ok(&["run", "--rm", "--network", "none", "committed:1"]);
    assert_eq!(
        out, "added by rimg\nchanged by rimg\nin the second layer\n",
        "the added and changed files show, the deleted ones do not"
    );
    let inspect: Value =
        serde_json::from_str(&docker.ok(&["image", "inspect", "committed:1"])).unwrap();
    let inspect = &inspect[0];
    assert_eq!(inspect["Id"], id.as_str());
    assert_eq!(inspect["Author"], "Ann Author <ann@example.com>");
    assert_eq!(inspect["Comment"], "rimg changes");
    assert_eq!(inspect["Config"]["Cmd"], json!(["/bin/sh", "-c", script]));
    assert_eq!(inspect["RootFS"]["Layers"].as_array().unwrap().len(), 3);
    let history = docker.ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}|{{.Comment}}",
        "committed:1",
    ]);
    assert_eq!(history.lines().next().unwrap(), "/bin/sh|rimg changes");
    assert_eq!(history.lines().count(), 3);
}

/// Paths the engine itself adds to every container.
fn engine_added(path: &str) -> bool {
    matches!(
        path,
        "" | ".dockerenv"
            | "etc/hostname"
            | "etc/hosts"
            | "etc/resolv.conf"
            | "etc/mtab"
            | "dev"
            | "proc"
            | "sys"
    ) || path.starts_with("dev/")
        || path.starts_with("proc/")
        || path.starts_with("sys/")
}

#[test]
fn rimg_export_matches_docker_export() {
    let fx = Fixture::new();
    rich_image(&fx);
    fx.ok(&["create", "--name", "fresh", "rich:1"]);
    let path = fx.dir.path().join("rimg-export.tar");
    fx.ok(&["export", "-o", path.to_str().unwrap(), "fresh"]);
    let ours = read_tar(&fs::read(&path).unwrap());

    let docker = Dockerd::start();
    load_into_docker(&fx, &docker, "rich:1");
    let container = docker.ok(&["create", "rich:1"]);
    let theirs_path = fx.dir.path().join("docker-export.tar");
    docker.ok(&[
        "export",
        "-o",
        theirs_path.to_str().unwrap(),
        container.trim_end(),
    ]);
    let theirs: BTreeMap<String, TarEntry> = read_tar(&fs::read(&theirs_path).unwrap())
        .into_iter()
        .filter(|(p, _)| !engine_added(p))
        .collect();
    let ours: BTreeMap<String, TarEntry> =
        ours.into_iter().filter(|(p, _)| !engine_added(p)).collect();
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>(),
        "the same paths"
    );
    for (path, theirs) in &theirs {
        assert_eq!(&ours[path], theirs, "{path}");
    }
    // The comparison covered the interesting cases.
    for path in [
        "usr/local/bin/tool-link",
        "usr/local/bin/abs",
        "data/empty",
        "data/pipe",
        "opaque/new",
        "replaced/inner",
        "tmp",
    ] {
        assert!(
            theirs.contains_key(path),
            "{path} missing from docker export"
        );
    }
    assert!(!theirs.contains_key("opaque/old") && !theirs.contains_key("etc/gone"));
}
