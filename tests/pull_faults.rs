//! `rimg pull` through a fault-injecting proxy in front of the real
//! registry: corruption must fail cleanly, interruptions must resume with
//! `Range`, transient errors must be retried, and a redirect to another
//! host must not carry the registry's credentials. The proxy's request
//! log also shows what an up-to-date pull costs and that Docker Hub names
//! go to a configured mirror.

mod common;

use base64::Engine as _;
use common::layout::{BuiltImage, ImageSpec};
use common::proxy::{Fault, Proxy};
use common::registry::{isolated_rimg, store_is_empty, AuthKind, Registry, PASSWORD, USER};
use rimg::oci::{annotation, Manifest};
use rimg::store::Store;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// A registry holding one 3-layer image as `faults/app:v1`.
fn registry_with_image(auth: AuthKind) -> (Registry, BuiltImage) {
    let registry = Registry::start_with(auth);
    let image = registry.push_image(&ImageSpec::new(21, 3, 300_000), "faults/app:v1");
    (registry, image)
}

fn pull(root: &Path, docker_config: Option<&Path>, name: &str) -> Output {
    isolated_rimg(root, docker_config)
        .args(["pull", name])
        .output()
        .unwrap()
}

#[track_caller]
fn assert_pulled(root: &Path, out: &Output, name: &str, image: &BuiltImage) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = Store::open(root).unwrap();
    let entry = store
        .read_index()
        .unwrap()
        .manifests
        .into_iter()
        .find(|d| d.annotation(annotation::REF_NAME) == Some(name))
        .unwrap();
    let manifest: Manifest = store.read_json(&entry.digest).unwrap();
    assert_eq!(manifest.config.digest, image.config);
    for layer in &image.layers {
        store.verify_blob(&layer.digest).unwrap();
    }
}

fn blob_path(image: &BuiltImage, layer: usize) -> String {
    format!("/blobs/{}", image.layers[layer].digest)
}

#[test]
fn corrupted_blobs_fail_and_leave_nothing() {
    let (registry, image) = registry_with_image(AuthKind::None);
    let proxy = Proxy::start(&registry.addr);
    proxy.add(
        &blob_path(&image, 1),
        usize::MAX,
        Fault::Corrupt { offset: 1000 },
    );
    let root = TempDir::new().unwrap();
    let out = pull(
        root.path(),
        None,
        &format!("{}/faults/app:v1", proxy.addr()),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "Error: filesystem layer verification failed for digest {}",
            image.layers[1].digest
        )),
        "{err}"
    );
    assert!(!root
        .path()
        .join("blobs/sha256")
        .join(image.layers[1].digest.hex())
        .exists());
    assert_eq!(
        std::fs::read_dir(root.path().join(".rimg/tmp"))
            .unwrap()
            .count(),
        0
    );
    assert!(store_is_empty(root.path()));

    // A manifest pulled by digest must have that digest.
    let digest = registry.digest("faults/app:v1");
    let proxy = Proxy::start(&registry.addr);
    proxy.add("/manifests/", usize::MAX, Fault::Corrupt { offset: 20 });
    let out = pull(
        root.path(),
        None,
        &format!("{}/faults/app@{digest}", proxy.addr()),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "Error: manifest verification failed for digest {digest}"
        )),
        "{err}"
    );

    // A corrupted config is refused the same way.
    let root = TempDir::new().unwrap();
    let proxy = Proxy::start(&registry.addr);
    proxy.add(
        &format!("/blobs/{}", image.config),
        usize::MAX,
        Fault::Corrupt { offset: 5 },
    );
    let out = pull(
        root.path(),
        None,
        &format!("{}/faults/app:v1", proxy.addr()),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "image config verification failed: expected {}",
            image.config
        )),
        "{err}"
    );
    assert!(!root
        .path()
        .join("blobs/sha256")
        .join(image.config.hex())
        .exists());
}

#[test]
fn interrupted_blobs_resume_with_range() {
    let (registry, image) = registry_with_image(AuthKind::None);
    let proxy = Proxy::start(&registry.addr);
    proxy.add(&blob_path(&image, 0), 1, Fault::Drop { bytes: 100_000 });
    proxy.add(&blob_path(&image, 2), 1, Fault::Truncate { bytes: 50_000 });
    let root = TempDir::new().unwrap();
    let name = format!("{}/faults/app:v1", proxy.addr());
    let out = pull(root.path(), None, &name);
    assert_pulled(root.path(), &out, &name, &image);
    let log = proxy.log();
    let ranges = |layer: usize| -> Vec<Option<String>> {
        log.iter()
            .filter(|l| l.target.ends_with(&blob_path(&image, layer)))
            .map(|l| l.range.clone())
            .collect()
    };
    assert_eq!(ranges(0), vec![None, Some("bytes=100000-".to_string())]);
    assert_eq!(ranges(2), vec![None, Some("bytes=50000-".to_string())]);
}

#[test]
fn server_errors_and_rate_limits_are_retried() {
    let (registry, image) = registry_with_image(AuthKind::None);
    let proxy = Proxy::start(&registry.addr);
    proxy.add(
        "/manifests/v1",
        2,
        Fault::Status {
            code: 500,
            retry_after: None,
        },
    );
    proxy.add(
        &blob_path(&image, 1),
        1,
        Fault::Status {
            code: 429,
            retry_after: Some(1),
        },
    );
    proxy.add(
        &blob_path(&image, 2),
        1,
        Fault::Status {
            code: 503,
            retry_after: None,
        },
    );
    let root = TempDir::new().unwrap();
    let name = format!("{}/faults/app:v1", proxy.addr());
    let started = Instant::now();
    let out = pull(root.path(), None, &name);
    assert_pulled(root.path(), &out, &name, &image);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was not honoured"
    );
    let manifest_requests = proxy
        .log()
        .iter()
        .filter(|l| l.target.ends_with("/manifests/v1"))
        .count();
    assert_eq!(manifest_requests, 3);
}

#[test]
fn slow_responses_complete() {
    let (registry, image) = registry_with_image(AuthKind::None);
    let proxy = Proxy::start(&registry.addr);
    let slow = Fault::Slow {
        delay: Duration::from_millis(300),
        chunk: 32 << 10,
        pause: Duration::from_millis(10),
    };
    proxy.add("/blobs/", usize::MAX, slow.clone());
    proxy.add("/manifests/", usize::MAX, slow);
    let root = TempDir::new().unwrap();
    let name = format!("{}/faults/app:v1", proxy.addr());
    let out = pull(root.path(), None, &name);
    assert_pulled(root.path(), &out, &name, &image);
}

#[test]
fn redirects_to_another_host_carry_no_authorization() {
    let (registry, image) = registry_with_image(AuthKind::Basic);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    // The "CDN" fetches from the registry with its own credentials.
    let cdn = Proxy::start_with_auth(&registry.addr, Some(format!("Basic {basic}")));
    let proxy = Proxy::start(&registry.addr);
    proxy.add("/blobs/", usize::MAX, Fault::Redirect { to: cdn.addr() });

    let config = TempDir::new().unwrap();
    let auths = serde_json::json!({"auths": {proxy.addr(): {"auth": basic}}});
    std::fs::write(config.path().join("config.json"), auths.to_string()).unwrap();
    let root = TempDir::new().unwrap();
    let name = format!("{}/faults/app:v1", proxy.addr());
    let out = pull(root.path(), Some(config.path()), &name);
    assert_pulled(root.path(), &out, &name, &image);

    let redirected: Vec<_> = proxy
        .log()
        .into_iter()
        .filter(|l| matches!(l.fault, Some(Fault::Redirect { .. })))
        .collect();
    assert_eq!(
        redirected.len(),
        4,
        "config and 3 layers go through the CDN"
    );
    assert!(redirected.iter().all(|l| l.authorization.is_some()));
    let at_cdn = cdn.log();
    assert_eq!(at_cdn.len(), 4);
    assert!(
        at_cdn.iter().all(|l| l.authorization.is_none()),
        "{at_cdn:?}"
    );
}

#[test]
fn up_to_date_pulls_cost_one_request() {
    let (registry, image) = registry_with_image(AuthKind::None);
    let proxy = Proxy::start(&registry.addr);
    let root = TempDir::new().unwrap();
    let name = format!("{}/faults/app:v1", proxy.addr());
    assert_pulled(root.path(), &pull(root.path(), None, &name), &name, &image);
    let first = proxy.log().len();
    let out = pull(root.path(), None, &name);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Status: Image is up to date"));
    let second: Vec<_> = proxy.log().into_iter().skip(first).collect();
    assert_eq!(second.len(), 1, "{second:?}");
    assert!(second[0].target.ends_with("/manifests/v1"));
}

#[test]
fn docker_hub_pulls_go_to_the_configured_mirror() {
    let (registry, _) = registry_with_image(AuthKind::None);
    let hub_image = registry.push_image(&ImageSpec::new(22, 2, 20_000), "library/mirrored:v1");
    let proxy = Proxy::start(&registry.addr);

    let root = TempDir::new().unwrap();
    let config_home = root.path().join("config-home");
    std::fs::create_dir_all(config_home.join("rimg")).unwrap();
    let config = serde_json::json!({"registry-mirrors": [format!("http://{}", proxy.addr())]});
    std::fs::write(config_home.join("rimg/config.json"), config.to_string()).unwrap();
    let out = pull(root.path(), None, "mirrored:v1");
    assert_pulled(
        root.path(),
        &out,
        "docker.io/library/mirrored:v1",
        &hub_image,
    );
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("docker.io/library/mirrored:v1\n"));
    assert!(proxy
        .log()
        .iter()
        .any(|l| l.target == "/v2/library/mirrored/manifests/v1"));
}

#[test]
fn blobs_a_pull_reuses_survive_a_concurrent_rmi() {
    let registry = Registry::start();
    let base = ImageSpec::new(30, 2, 50_000);
    let mut derived = ImageSpec::new(30, 2, 50_000);
    derived.layers.push(common::layout::tar(
        "extra",
        common::layout::content(31, 10_000),
    ));
    let base = registry.push_image(&base, "race/base:v1");
    let derived = registry.push_image(&derived, "race/derived:v1");
    let proxy = Proxy::start(&registry.addr);
    let root = TempDir::new().unwrap();
    let base_name = format!("{}/race/base:v1", proxy.addr());
    assert_pulled(
        root.path(),
        &pull(root.path(), None, &base_name),
        &base_name,
        &base,
    );

    // The derived image finds the base layers present and leases them,
    // then waits on its own layer while `rmi` removes the base image: the
    // leased layers stay.
    let slow = Fault::Slow {
        delay: Duration::from_secs(3),
        chunk: 1 << 20,
        pause: Duration::ZERO,
    };
    proxy.add(&blob_path(&derived, 2), 1, slow);
    let derived_name = format!("{}/race/derived:v1", proxy.addr());
    let pulling = isolated_rimg(root.path(), None)
        .args(["pull", &derived_name])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let removed = isolated_rimg(root.path(), None)
        .args(["rmi", &base_name])
        .output()
        .unwrap();
    assert!(
        removed.status.success(),
        "{}",
        String::from_utf8_lossy(&removed.stderr)
    );
    assert!(root
        .path()
        .join("blobs/sha256")
        .join(base.layers[0].digest.hex())
        .exists());

    let out = pulling.wait_with_output().unwrap();
    assert_pulled(root.path(), &out, &derived_name, &derived);
    let fetched = |layer: usize| {
        proxy
            .log()
            .iter()
            .filter(|l| l.target.ends_with(&blob_path(&derived, layer)))
            .count()
    };
    assert_eq!(fetched(0), 1, "pulled for the base only");
}

#[test]
fn a_terminal_gets_live_progress_bars() {
    let (registry, image) = registry_with_image(AuthKind::None);
    let proxy = Proxy::start(&registry.addr);
    let slow = Fault::Slow {
        delay: Duration::ZERO,
        chunk: 16 << 10,
        pause: Duration::from_millis(40),
    };
    proxy.add(&blob_path(&image, 0), 1, slow);
    let root = TempDir::new().unwrap();
    let name = format!("{}/faults/app:v1", proxy.addr());
    // script(1) runs rimg on a pseudo-terminal.
    let command = format!(
        "{} --root {} pull {name}",
        common::rimg_bin().display(),
        root.path().display()
    );
    let mut script = std::process::Command::new(common::registry::require("script"));
    common::isolate(&mut script, root.path());
    let out = script
        .args(["-qec", &command, "/dev/null"])
        .env("COLUMNS", "120")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("\x1b["),
        "no terminal control sequences: {text:?}"
    );
    let short = image.layers[0].digest.short();
    assert!(
        text.contains(&format!("{short}: Downloading [")),
        "{text:?}"
    );
    assert!(
        text.contains(&format!("{short}: Pull complete")),
        "{text:?}"
    );
    assert!(text.trim_end().ends_with(&name), "{text:?}");
}
