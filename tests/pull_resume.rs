//! A pull killed mid-layer leaves a partial download that the next pull
//! resumes with `Range` (or refetches, if the registry ignores ranges or
//! the partial was altered), `system check` calls what the kill left
//! leftovers, not damage, and two pulls of one image into one store
//! download each layer once. All through the fault proxy in front of the
//! real registry, whose log and byte counts say what was asked and served.

mod common;

use common::consistency::assert_consistent;
use common::layout::{tar, BuiltImage, ImageSpec};
use common::proxy::{Fault, Proxy};
use common::random::{noise, Moments};
use common::registry::{isolated_rimg, Registry};
use rimg::oci::Descriptor;
use rimg::store::Store;
use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// A registry holding `resume/app:v1`: two layers of about 4 MB, the
/// first the one the tests cut.
fn registry_with_image() -> (Registry, BuiltImage) {
    let registry = Registry::start();
    let image = registry.push_image(&ImageSpec::new(41, 2, 4_000_000), "resume/app:v1");
    (registry, image)
}

/// 64 KiB every 15 ms: about a second for a layer, long enough to kill
/// the pull in the middle of it.
fn slow() -> Fault {
    Fault::Slow {
        delay: Duration::ZERO,
        chunk: 64 << 10,
        pause: Duration::from_millis(15),
    }
}

fn blob_path(layer: &Descriptor) -> String {
    format!("/blobs/{}", layer.digest)
}

fn partial(root: &Path, layer: &Descriptor) -> std::path::PathBuf {
    root.join(".rimg/ingest").join(layer.digest.hex())
}

fn pull(root: &Path, name: &str) -> Output {
    isolated_rimg(root, None)
        .args(["pull", name])
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Starts a pull of `name` and sends it `signal` once its partial
/// download of `layer` holds `at` bytes; returns the partial's size once
/// the pull is gone, and how it ended.
fn stop_mid_layer(
    root: &Path,
    name: &str,
    layer: &Descriptor,
    signal: i32,
    at: u64,
) -> (u64, ExitStatus) {
    let partial = partial(root, layer);
    let mut child = isolated_rimg(root, None)
        .args(["pull", name])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while fs::metadata(&partial).map_or(0, |m| m.len()) < at {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the pull ended before it could be stopped"
        );
        assert!(Instant::now() < deadline, "the partial download never grew");
        std::thread::sleep(Duration::from_millis(5));
    }
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: kill has no memory effects; `pid` is our own unreaped child.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    let status = child.wait().unwrap();
    let size = fs::metadata(&partial).unwrap().len();
    assert!(size < layer.size, "the layer was complete when stopped");
    (size, status)
}

#[track_caller]
fn assert_pulled(root: &Path, out: &Output, name: &str, image: &BuiltImage) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.ends_with(&format!("{name}\n")), "{stdout}");
    let store = Store::open(root).unwrap();
    for layer in &image.layers {
        store.verify_blob(&layer.digest).unwrap();
        assert!(
            !partial(root, layer).exists(),
            "a partial outlived its pull"
        );
    }
}

/// The `Range` header of each request for `layer`'s blob, in order.
fn ranges(proxy: &Proxy, layer: &Descriptor) -> Vec<Option<String>> {
    proxy
        .log()
        .into_iter()
        .filter(|l| l.method == "GET" && l.target.ends_with(&blob_path(layer)))
        .map(|l| l.range)
        .collect()
}

/// A store holding what a pull of `resume/app:v1` killed in the middle
/// of its first layer left, and the proxy it pulled through.
struct Killed {
    _registry: Registry,
    image: BuiltImage,
    proxy: Proxy,
    root: TempDir,
    name: String,
    /// The partial download's size.
    kept: u64,
}

impl Killed {
    /// Kills a pull mid-layer; `then` is the fault the first layer's
    /// later requests meet.
    fn new(then: Option<Fault>) -> Killed {
        let (registry, image) = registry_with_image();
        let proxy = Proxy::start(&registry.addr);
        let path = blob_path(&image.layers[0]);
        proxy.add(&path, 1, slow());
        if let Some(fault) = then {
            proxy.add(&path, usize::MAX, fault);
        }
        let root = TempDir::new().unwrap();
        let name = format!("{}/resume/app:v1", proxy.addr());
        let (kept, _) =
            stop_mid_layer(root.path(), &name, &image.layers[0], libc::SIGKILL, 1 << 20);
        Killed {
            _registry: registry,
            image,
            proxy,
            root,
            name,
            kept,
        }
    }

    fn layer(&self) -> &Descriptor {
        &self.image.layers[0]
    }

    /// Pulls again and checks the image arrived whole.
    fn pull_again(&self) {
        let out = pull(self.root.path(), &self.name);
        assert_pulled(self.root.path(), &out, &self.name, &self.image);
    }

    /// The `Range` headers of the first layer's requests.
    fn ranges(&self) -> Vec<Option<String>> {
        ranges(&self.proxy, self.layer())
    }
}

#[test]
fn a_killed_pull_resumes_where_it_stopped_and_is_no_damage() {
    let killed = Killed::new(None);
    let (root, layer, kept) = (killed.root.path(), killed.layer(), killed.kept);
    let leftovers = assert_consistent(root, "after a killed pull");
    assert!(
        leftovers
            .iter()
            .any(|l| l.starts_with("resumable download ")
                && l.contains(&format!("({kept} bytes)"))),
        "{leftovers:?}"
    );

    killed.pull_again();
    assert_eq!(killed.ranges(), vec![None, Some(format!("bytes={kept}-"))]);
    // The second pull was served exactly what the partial lacked, and
    // both together at most one 16 MiB window more than the blob.
    let served = killed.proxy.served(&blob_path(layer));
    assert!(served.contains(&(layer.size - kept)), "{served:?}");
    let total: u64 = served.iter().sum();
    assert!(total <= layer.size + (16 << 20), "{served:?}");
    assert_consistent(root, "after the resumed pull");
}

#[test]
fn a_registry_ignoring_range_still_completes() {
    let killed = Killed::new(Some(Fault::IgnoreRange));
    killed.pull_again();
    // Asked for the rest, answered with the whole blob: its head dropped.
    assert_eq!(
        killed.ranges(),
        vec![None, Some(format!("bytes={}-", killed.kept))]
    );
    let served = killed.proxy.served(&blob_path(killed.layer()));
    assert!(served.contains(&killed.layer().size), "{served:?}");
}

#[test]
fn a_partial_altered_on_disk_is_refetched_from_the_start() {
    let killed = Killed::new(None);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .open(partial(killed.root.path(), killed.layer()))
        .unwrap();
    file.seek(SeekFrom::Start(1000)).unwrap();
    file.write_all(b"bit rot").unwrap();
    drop(file);

    killed.pull_again();
    assert_eq!(
        killed.ranges(),
        vec![None, Some(format!("bytes={}-", killed.kept)), None]
    );
}

#[test]
fn concurrent_pulls_download_each_layer_once() {
    let (registry, image) = registry_with_image();
    let proxy = Proxy::start(&registry.addr);
    for layer in &image.layers {
        proxy.add(&blob_path(layer), usize::MAX, slow());
    }
    // Slow to answer, so that both pulls find the store without it.
    let config = format!("/blobs/{}", image.config);
    let late = Fault::Slow {
        delay: Duration::from_millis(300),
        chunk: 64 << 10,
        pause: Duration::ZERO,
    };
    proxy.add(&config, usize::MAX, late);
    let root = TempDir::new().unwrap();
    let name = format!("{}/resume/app:v1", proxy.addr());
    let start = || {
        isolated_rimg(root.path(), None)
            .args(["pull", &name])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (start(), start());
    let outputs = [
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    ];
    for out in &outputs {
        assert_pulled(root.path(), out, &name, &image);
    }
    for layer in &image.layers {
        assert_eq!(ranges(&proxy, layer), vec![None], "{}", layer.digest);
    }
    // The config too, though it is small enough to come in one piece.
    assert_eq!(proxy.served(&config).len(), 1, "{:?}", proxy.log());
    let said: String = outputs
        .iter()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .collect();
    assert!(said.contains(": Waiting\n"), "{said}");
    assert_consistent(root.path(), "after two concurrent pulls");
}

#[test]
fn a_failed_pull_keeps_its_partial_for_the_next() {
    let (registry, image) = registry_with_image();
    let layer = &image.layers[0];
    let failing = Proxy::start(&registry.addr);
    failing.add(&blob_path(layer), 1, Fault::Drop { bytes: 1_500_000 });
    let refusal = Fault::Status {
        code: 404,
        retry_after: None,
    };
    failing.add(&blob_path(layer), usize::MAX, refusal);
    let root = TempDir::new().unwrap();
    let out = pull(root.path(), &format!("{}/resume/app:v1", failing.addr()));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        fs::metadata(partial(root.path(), layer)).unwrap().len(),
        1_500_000
    );

    let working = Proxy::start(&registry.addr);
    let name = format!("{}/resume/app:v1", working.addr());
    let out = pull(root.path(), &name);
    assert_pulled(root.path(), &out, &name, &image);
    assert_eq!(
        ranges(&working, layer),
        vec![Some("bytes=1500000-".to_string())]
    );
}

#[test]
fn sigint_and_sigterm_exit_as_docker_does_and_keep_the_partial() {
    let (registry, image) = registry_with_image();
    let layer = &image.layers[0];
    for (signal, code) in [(libc::SIGINT, 130), (libc::SIGTERM, 143)] {
        let proxy = Proxy::start(&registry.addr);
        proxy.add(&blob_path(layer), 1, slow());
        let root = TempDir::new().unwrap();
        let name = format!("{}/resume/app:v1", proxy.addr());
        let started = Instant::now();
        let (kept, status) = stop_mid_layer(root.path(), &name, layer, signal, 1 << 20);
        assert_eq!(status.code(), Some(code), "signal {signal}");
        assert!(started.elapsed() < Duration::from_secs(30));
        // Nothing but what the next pull needs: no temporary file, no
        // stale lease.
        let leftovers = assert_consistent(root.path(), "after an interrupted pull");
        assert!(
            leftovers.iter().all(|l| !l.starts_with("leftover ")),
            "{leftovers:?}"
        );
        let out = pull(root.path(), &name);
        assert_pulled(root.path(), &out, &name, &image);
        assert_eq!(
            ranges(&proxy, layer),
            vec![None, Some(format!("bytes={kept}-"))]
        );
    }
}

#[test]
fn image_prune_reclaims_a_killed_pulls_blobs_but_not_its_young_partial() {
    let killed = Killed::new(None);
    let root = killed.root.path();
    let config = &killed.image.config;
    assert!(Store::open(root).unwrap().has_blob(config));
    let out = isolated_rimg(root, None)
        .args(["image", "prune", "-f"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(!Store::open(root).unwrap().has_blob(config));
    assert!(partial(root, killed.layer()).exists());

    killed.pull_again();
    assert_eq!(
        killed.ranges(),
        vec![None, Some(format!("bytes={}-", killed.kept))]
    );
}

/// The kill test: a pull of an image with a 100 MiB layer killed
/// by SIGKILL at 20 random points of that layer (seeded, so a failure
/// replays). After each kill `system check` finds no damage, and the next
/// pull completes having been served at most what was missing plus one
/// 16 MiB window per layer.
#[test]
fn sigkill_at_random_points_then_the_next_pull_fetches_only_what_is_missing() {
    const WINDOW: u64 = 16 << 20;
    let registry = Registry::start();
    let mut spec = ImageSpec::new(43, 1, 1_000_000);
    // Incompressible, so the blob is as big as the data.
    spec.layers
        .insert(0, tar("big/data.bin", noise(43, 100 << 20)));
    let image = registry.push_image(&spec, "resume/big:v1");
    let big = &image.layers[0];
    assert!(big.size >= 100 << 20, "{}", big.size);
    let proxy = Proxy::start(&registry.addr);
    // At most about 250 MB/s, so that the 20 MiB left after the latest
    // kill point take longer than a busy machine may keep the test from
    // noticing the point was reached.
    let paced = Fault::Slow {
        delay: Duration::ZERO,
        chunk: 256 << 10,
        pause: Duration::from_millis(1),
    };
    proxy.add(&blob_path(big), usize::MAX, paced);
    let name = format!("{}/resume/big:v1", proxy.addr());
    let mut moments = Moments(0x5EED_0013);
    for trial in 0..20 {
        let root = TempDir::new().unwrap();
        let at = (big.size as f64 * (0.01 + 0.79 * moments.next_fraction())) as u64;
        let what = format!("trial {trial}, killed at {at} bytes");
        let (_, status) = stop_mid_layer(root.path(), &name, big, libc::SIGKILL, at);
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{what}");
        assert_consistent(root.path(), &what);

        let store = Store::open(root.path()).unwrap();
        let missing: u64 = image
            .layers
            .iter()
            .filter(|l| !store.has_blob(&l.digest))
            .map(|l| l.size - fs::metadata(partial(root.path(), l)).map_or(0, |m| m.len()))
            .sum();
        let before: Vec<usize> = image
            .layers
            .iter()
            .map(|l| proxy.served(&blob_path(l)).len())
            .collect();
        let out = pull(root.path(), &name);
        assert_pulled(root.path(), &out, &name, &image);
        let served: u64 = image
            .layers
            .iter()
            .zip(before)
            .map(|(l, n)| proxy.served(&blob_path(l))[n..].iter().sum::<u64>())
            .sum();
        let allowed = missing + WINDOW * image.layers.len() as u64;
        assert!(
            served <= allowed,
            "{what}: served {served} bytes for {missing} missing"
        );
    }
}
