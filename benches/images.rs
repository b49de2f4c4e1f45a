//! `cargo bench --bench images`: times `rimg images` on a store holding
//! 1,000 images (two layers each, one shared), and podman's `images` on the
//! same 1,000 images where podman is installed. Prints medians and ratios.

use rimg::digest::Digest;
use rimg::oci::{media_type, Descriptor};
use rimg::reference::Reference;
use rimg::store::Store;
use serde_json::json;
use std::process::Command;
use std::time::{Duration, Instant};

const IMAGES: usize = 1000;
const RUNS: usize = 15;

fn layer(store: &Store, content: &[u8]) -> (Descriptor, Digest) {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder.append_data(&mut header, "file", content).unwrap();
    let tar = builder.into_inner().unwrap();
    let diff_id = Digest::of(&tar);
    let digest = store.put_blob(&tar).unwrap();
    (
        Descriptor::new(media_type::OCI_LAYER, digest, tar.len() as u64),
        diff_id,
    )
}

fn populate(store: &Store) {
    let base = layer(store, b"shared base");
    for i in 0..IMAGES {
        let own = layer(store, format!("image {i}").as_bytes());
        let config = serde_json::to_vec(&json!({
            "created": format!("2024-01-01T00:{:02}:{:02}Z", i / 60 % 60, i % 60),
            "architecture": "amd64", "os": "linux",
            "config": {"Labels": {"n": i.to_string()}},
            "rootfs": {"type": "layers", "diff_ids": [base.1, own.1]},
        }))
        .unwrap();
        let config_digest = store.put_blob(&config).unwrap();
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": media_type::OCI_MANIFEST,
            "config": {"mediaType": media_type::OCI_CONFIG, "digest": config_digest, "size": config.len()},
            "layers": [base.0, own.0],
        }))
        .unwrap();
        let digest = store.put_blob(&manifest).unwrap();
        let desc = Descriptor::new(media_type::OCI_MANIFEST, digest, manifest.len() as u64);
        let name = Reference::parse(&format!("bench/img{i}:latest")).unwrap();
        rimg::image::register(store, &desc, &[name]).unwrap();
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time(mut cmd: impl FnMut() -> Command) -> Duration {
    let samples = (0..RUNS)
        .map(|_| {
            let mut c = cmd();
            let start = Instant::now();
            let out = c.output().expect("running the benchmarked command");
            assert!(out.status.success(), "{out:?}");
            start.elapsed()
        })
        .collect();
    median(samples)
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let store = Store::open(&root).unwrap();
    populate(&store);
    let rimg = env!("CARGO_BIN_EXE_rimg");
    let run = |args: &'static [&'static str]| {
        let root = root.clone();
        move || {
            let mut c = Command::new(rimg);
            c.arg("--root").arg(&root).args(args);
            c
        }
    };
    let table = time(run(&["images"]));
    let quiet = time(run(&["images", "-q"]));
    println!(
        "rimg images     ({IMAGES} images): median {:>7.1} ms over {RUNS} runs",
        table.as_secs_f64() * 1e3
    );
    println!(
        "rimg images -q  ({IMAGES} images): median {:>7.1} ms",
        quiet.as_secs_f64() * 1e3
    );
    if let Some(podman) = podman_images(&root) {
        println!(
            "podman images   ({IMAGES} images): median {:>7.1} ms",
            podman.as_secs_f64() * 1e3
        );
        println!(
            "ratio rimg/podman: {:.3}",
            table.as_secs_f64() / podman.as_secs_f64()
        );
    }
}

/// Copies the same images into an isolated podman store (via skopeo from
/// rimg's OCI layout) and times `podman images` there.
fn podman_images(root: &std::path::Path) -> Option<Duration> {
    let which = |c: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {c}")])
            .output()
            .ok()?
            .status
            .success()
            .then_some(())
    };
    which("podman")?;
    which("skopeo")?;
    let dir = tempfile::tempdir().ok()?;
    let podman = |args: &[&str]| {
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(dir.path().join("graph"))
            .arg("--runroot")
            .arg(dir.path().join("run"))
            .arg("--storage-driver")
            .arg("vfs")
            .args(args);
        c
    };
    let store_spec = format!(
        "containers-storage:[vfs@{}+{}]",
        dir.path().join("graph").display(),
        dir.path().join("run").display()
    );
    for i in 0..IMAGES {
        let name = format!("docker.io/bench/img{i}:latest");
        let ok = Command::new("skopeo")
            .args(["copy", "-q"])
            .arg(format!("oci:{}:{name}", root.display()))
            .arg(format!("{store_spec}{name}"))
            .status()
            .ok()?
            .success();
        if !ok {
            eprintln!("skopeo copy into podman storage failed; skipping the podman comparison");
            return None;
        }
    }
    Some(time(|| podman(&["images"])))
}
