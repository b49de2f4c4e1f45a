//! SIGKILL at many moments during `pull`, `load`, `commit`, `rmi`, `tag`
//! and `image prune`: after every kill the store is consistent (only leftovers
//! `--repair` removes), no partial blob is visible, and running the
//! command again succeeds, reusing the layers the killed pull had already
//! verified.
//!
//! Kill moments are deterministic: a seeded generator spreads them over
//! the command's measured duration, so a failure replays.

mod common;

use common::consistency::{assert_consistent, assert_repairs_clean};
use common::layout::ImageSpec as LayoutSpec;
use common::random::Moments;
use common::registry::Registry;
use common::{rimg_command, Fixture, ImageSpec};
// The containers' overlay mounts, detached before their directory goes.
use rimg::container::overlay::unmount_under;
use rimg::digest::Digest;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

fn command(root: &Path, args: &[&str]) -> Command {
    let mut cmd = rimg_command(root);
    cmd.args(args).stdin(Stdio::null());
    cmd
}

fn run(root: &Path, args: &[&str]) -> Output {
    command(root, args).output().unwrap()
}

/// How long `args` takes on a fresh copy of `template` (or an empty
/// store): the fastest of three runs, so one slowed by a busy machine
/// does not stretch the span until most kills land after the command.
fn measure(template: Option<&Path>, args: &[&str]) -> Duration {
    (0..3)
        .map(|_| {
            let dir = TempDir::new().unwrap();
            let root = prepare(template, dir.path());
            let start = Instant::now();
            let out = run(&root, args);
            assert!(out.status.success(), "rimg {args:?}: {out:?}");
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// A store root in `dir`: a copy of `template`, or nothing yet.
fn prepare(template: Option<&Path>, dir: &Path) -> std::path::PathBuf {
    let root = dir.join("root");
    if let Some(template) = template {
        let status = Command::new("cp")
            .arg("-a")
            .arg(template)
            .arg(&root)
            .status()
            .unwrap();
        assert!(status.success(), "copying the template store");
    }
    root
}

/// Starts `args`, SIGKILLs it after `after` (unless it finished first) and
/// returns whether it was killed before exiting on its own.
fn kill_after(root: &Path, args: &[&str], after: Duration) -> bool {
    let mut child = command(root, args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    let killed = child.try_wait().unwrap().is_none();
    child.kill().unwrap_or(()); // SIGKILL; an exited child is fine too
    child.wait().unwrap();
    killed
}

/// One registry holding a 3-layer image of a few MB, so kills land while
/// layers are being transferred.
fn registry_with_image() -> (Registry, Vec<Digest>) {
    let registry = Registry::start();
    let image = registry.push_image(&LayoutSpec::new(7, 3, 1_500_000), "crash/app:v1");
    let layers = image.layers.iter().map(|l| l.digest.clone()).collect();
    (registry, layers)
}

#[test]
fn sigkill_during_pull_and_load_keeps_the_store_consistent() {
    let (registry, layers) = registry_with_image();
    let name = registry.image("crash/app:v1");
    let pull = ["pull", name.as_str()];
    let mut moments = Moments(0x5EED_0001);
    let mut kills = 0;
    let mut reused = 0;
    let mut resumable = 0;

    let span = measure(None, &pull);
    for trial in 0..12 {
        let dir = TempDir::new().unwrap();
        let root = prepare(None, dir.path());
        let what = format!("pull killed in trial {trial}");
        kills += usize::from(kill_after(&root, &pull, moments.within(span)));
        assert_consistent(&root, &what);
        // Layers the killed pull finished are reused, not downloaded again.
        let kept: Vec<&Digest> = layers
            .iter()
            .filter(|d| root.join("blobs/sha256").join(d.hex()).exists())
            .collect();
        reused += kept.len();
        // Or, cut short, kept to be resumed (the kill's moment is random,
        // and under load it may come before any layer finished).
        resumable += std::fs::read_dir(root.join(".rimg/ingest"))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.metadata().is_ok_and(|m| m.len() > 0))
            .count();
        let out = run(&root, &pull);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{what}: re-run failed: {out:?}");
        for digest in kept {
            assert!(
                stdout.contains(&format!("{}: Already exists", digest.short()))
                    || stdout.contains("Image is up to date"),
                "{what}: verified layer {digest} was downloaded again: {stdout}"
            );
        }
        assert_repairs_clean(&root, &what);
    }

    // An archive of the pulled image, loaded from a file.
    let source = TempDir::new().unwrap();
    let source_root = prepare(None, source.path());
    assert!(run(&source_root, &pull).status.success());
    let archive = source.path().join("app.tar");
    let out = run(
        &source_root,
        &["save", "-o", archive.to_str().unwrap(), &name],
    );
    assert!(out.status.success(), "{out:?}");
    let load = ["load", "-i", archive.to_str().unwrap()];
    let span = measure(None, &load);
    for trial in 0..10 {
        let dir = TempDir::new().unwrap();
        let root = prepare(None, dir.path());
        let what = format!("load killed in trial {trial}");
        kills += usize::from(kill_after(&root, &load, moments.within(span)));
        assert_consistent(&root, &what);
        let out = run(&root, &load);
        assert!(out.status.success(), "{what}: re-run failed: {out:?}");
        assert!(run(&root, &["image", "inspect", &name]).status.success());
        assert_repairs_clean(&root, &what);
    }
    assert!(
        reused + resumable > 0,
        "no kill left a verified layer to reuse or a partial one to resume"
    );
    assert!(kills >= 15, "only {kills} of 22 kills landed mid-command");
    eprintln!("pull and load: {kills} of 22 kills landed mid-command, {reused} layers reused, {resumable} resumed");
}

/// A store with images to remove, tag and prune: tagged images sharing a
/// base layer and a few dangling ones.
fn template_store() -> Fixture {
    let fx = Fixture::new();
    const BASE: &[(&str, &[u8])] = &[("base", b"shared base layer")];
    for i in 0..8 {
        let own = vec![i as u8; 200_000 + i * 1000];
        let own: &[(&str, &[u8])] = &[("own", &own)];
        fx.add_image(
            &ImageSpec::new(&[&format!("app{i}:1"), &format!("app{i}:2")]).layers(&[BASE, own]),
        );
        let dangling = format!("dangling {i}");
        fx.add_image(&ImageSpec::new(&[]).layers(&[BASE, &[("d", dangling.as_bytes())]]));
    }
    fx
}

#[test]
fn sigkill_during_rmi_tag_and_prune_keeps_the_store_consistent() {
    let template = template_store();
    let template = template.root();
    let mut moments = Moments(0x5EED_0002);
    let mut kills = 0;
    let commands: [(&[&str], &str); 3] = [
        (
            &["rmi", "app0:1", "app0:2", "app1:1", "app1:2", "app2:1"],
            "rmi",
        ),
        (&["tag", "app3:1", "other/name:7"], "tag"),
        (&["image", "prune", "-f"], "prune"),
    ];
    for (args, label) in commands {
        let span = measure(Some(&template), args);
        for trial in 0..10 {
            let dir = TempDir::new().unwrap();
            let root = prepare(Some(&template), dir.path());
            let what = format!("{label} killed in trial {trial}");
            kills += usize::from(kill_after(&root, args, moments.within(span)));
            assert_consistent(&root, &what);
            let out = run(&root, args);
            // A kill after the index was written leaves the command done;
            // `rmi` then rightly finds nothing left to remove.
            let done_already =
                label == "rmi" && String::from_utf8_lossy(&out.stderr).contains("No such image");
            assert!(
                out.status.success() || done_already,
                "{what}: re-run failed: {out:?}"
            );
            let images = String::from_utf8_lossy(&run(&root, &["images"]).stdout).into_owned();
            match label {
                "rmi" => assert!(!images.contains("app0 "), "{what}: {images}"),
                "tag" => assert!(images.contains("other/name"), "{what}: {images}"),
                _ => assert!(!images.contains("<none>"), "{what}: {images}"),
            }
            assert!(images.contains("app7"), "{what}: lost an image: {images}");
            assert_repairs_clean(&root, &what);
        }
    }
    eprintln!("rmi, tag and prune: {kills} of 30 kills landed mid-command");
}

/// A container of `app:1` with a changed, an added and a deleted file,
/// ready to commit.
fn changed_container(root: &Path) {
    let out = run(root, &["create", "--name", "work", "app:1"]);
    assert!(out.status.success(), "create: {out:?}");
    let mount = run(root, &["mount", "work"]);
    let rootfs = std::path::PathBuf::from(String::from_utf8_lossy(&mount.stdout).trim());
    std::fs::write(rootfs.join("etc/conf"), b"changed").unwrap();
    std::fs::write(rootfs.join("added"), vec![7u8; 3_000_000]).unwrap();
    std::fs::remove_file(rootfs.join("bin/tool")).unwrap();
}

#[test]
fn sigkill_during_commit_keeps_the_store_consistent() {
    let fx = Fixture::new();
    let tool = vec![1u8; 500_000];
    fx.add_image(
        &ImageSpec::new(&["app:1"]).layers(&[&[("etc/conf", b"v1")], &[("bin/tool", &tool)]]),
    );
    let template = fx.root();
    let args: &[&str] = &["commit", "-m", "crash test", "work", "app:committed"];
    let span = {
        let dir = TempDir::new().unwrap();
        let root = prepare(Some(&template), dir.path());
        changed_container(&root);
        let start = Instant::now();
        let out = run(&root, args);
        assert!(out.status.success(), "commit: {out:?}");
        let _ = unmount_under(dir.path());
        start.elapsed()
    };
    let mut moments = Moments(0x5EED_0003);
    let mut kills = 0;
    for trial in 0..10 {
        let dir = TempDir::new().unwrap();
        let root = prepare(Some(&template), dir.path());
        changed_container(&root);
        let what = format!("commit killed in trial {trial}");
        kills += usize::from(kill_after(&root, args, moments.within(span)));
        assert_consistent(&root, &what);
        let out = run(&root, args);
        assert!(out.status.success(), "{what}: re-run failed: {out:?}");
        let images = String::from_utf8_lossy(&run(&root, &["images"]).stdout).into_owned();
        assert!(images.contains("committed"), "{what}: {images}");
        assert_repairs_clean(&root, &what);
        let _ = unmount_under(dir.path());
    }
    eprintln!("commit: {kills} of 10 kills landed mid-command");
}
