//! `rimg push` against a real registry (CNCF distribution), read back by
//! skopeo and by `rimg pull` into a fresh store.

mod common;

use common::proxy::{Fault, Logged, Proxy};
use common::registry::{assert_ok, run_rimg, skopeo, AuthKind, Registry, PASSWORD, USER};
use common::{Compression, ImageSpec};
use rimg::digest::Digest;
use rimg::store::Store;
use std::path::Path;
use tempfile::TempDir;

/// A store holding one image named `name`, with `layers` distinct layers.
fn store_with(name: &str, layers: usize, compression: Compression) -> (TempDir, Digest) {
    let root = TempDir::new().unwrap();
    let store = Store::open(root.path()).unwrap();
    let contents: Vec<Vec<u8>> = (0..layers)
        .map(|i| format!("{name} layer {i}").repeat(2000).into_bytes())
        .collect();
    let files: Vec<Vec<(&str, &[u8])>> = contents.iter().map(|c| vec![("f", &c[..])]).collect();
    let refs: Vec<&[(&str, &[u8])]> = files.iter().map(|f| &f[..]).collect();
    let image = ImageSpec::new(&[name])
        .layers(&refs)
        .compression(compression)
        .write(&store);
    (root, image.id)
}

/// The image ID (config digest) the registry serves for `name`.
fn registry_image_id(registry: &Registry, name: &str) -> Digest {
    let mut args = vec!["inspect", "--tls-verify=false", "--config", "--raw"];
    let creds = format!("{USER}:{PASSWORD}");
    if registry.auth != AuthKind::None {
        args.extend(["--creds", &creds]);
    }
    let target = format!("docker://{}", registry.image(name));
    args.push(&target);
    Digest::of(&skopeo(&args))
}

fn image_id(root: &Path, name: &str) -> String {
    let out = assert_ok(&run_rimg(
        root,
        None,
        &["inspect", "--format", "{{.Id}}", name],
    ));
    out.trim().to_string()
}

#[test]
fn pushes_uncompressed_image_and_pulls_back_the_same_id() {
    let registry = Registry::start();
    let name = registry.image("app/one:v1");
    let (root, id) = store_with(&name, 3, Compression::None);

    let out = assert_ok(&run_rimg(root.path(), None, &["push", &name]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "The push refers to repository [{}]",
            registry.image("app/one")
        )
    );
    assert_eq!(
        lines.iter().filter(|l| l.ends_with(": Preparing")).count(),
        3
    );
    assert_eq!(lines.iter().filter(|l| l.ends_with(": Pushed")).count(), 3);
    let last = lines.last().unwrap();
    assert!(last.starts_with("v1: digest: sha256:"), "{out}");
    let digest = last.split(' ').nth(2).unwrap();
    let size: usize = last.rsplit(' ').next().unwrap().parse().unwrap();
    assert_eq!(registry.digest("app/one:v1"), digest);
    assert!(size > 0);

    // The registry serves the same config: the image ID survives the
    // compression of its layers.
    assert_eq!(registry_image_id(&registry, "app/one:v1"), id);

    // The pushed manifest's digest is a repo digest now.
    let listed = assert_ok(&run_rimg(root.path(), None, &["images", "--digests"]));
    assert!(listed.contains(digest), "{listed}");

    // Pushing again sends nothing.
    let again = assert_ok(&run_rimg(root.path(), None, &["push", &name]));
    assert_eq!(
        again
            .lines()
            .filter(|l| l.ends_with(": Layer already exists"))
            .count(),
        3,
        "{again}"
    );
    assert!(
        again.ends_with(&format!("v1: digest: {digest} size: {size}\n")),
        "{again}"
    );

    // A second repository of the same registry mounts the layers.
    let other = registry.image("app/two:latest");
    assert_ok(&run_rimg(root.path(), None, &["tag", &name, &other]));
    let mounted = assert_ok(&run_rimg(
        root.path(),
        None,
        &["push", &registry.image("app/two")],
    ));
    assert!(
        mounted.starts_with("Using default tag: latest\n"),
        "{mounted}"
    );
    assert_eq!(
        mounted
            .lines()
            .filter(|l| l.ends_with(": Mounted from app/one"))
            .count(),
        3,
        "{mounted}"
    );

    // rimg pulls it back into an empty store under the same ID.
    let fresh = TempDir::new().unwrap();
    assert_ok(&run_rimg(fresh.path(), None, &["pull", &name]));
    assert_eq!(image_id(fresh.path(), &name), id.to_string());
}

#[test]
fn pushes_compressed_layers_as_they_are() {
    let registry = Registry::start();
    let name = registry.image("gz:v2");
    let (root, id) = store_with(&name, 2, Compression::Gzip);
    let store = Store::open(root.path()).unwrap();
    let manifest = store.read_index().unwrap().manifests[0].clone();
    let quiet = assert_ok(&run_rimg(root.path(), None, &["push", "-q", &name]));
    assert_eq!(quiet, format!("{name}\n"));
    // Nothing needed rewriting: the registry holds the stored manifest.
    assert_eq!(registry.digest("gz:v2"), manifest.digest.to_string());
    assert_eq!(registry_image_id(&registry, "gz:v2"), id);
}

#[test]
fn all_tags_pushes_every_tag_of_the_repository() {
    let registry = Registry::start();
    let name = registry.image("multi:a");
    let (root, _) = store_with(&name, 1, Compression::Gzip);
    assert_ok(&run_rimg(
        root.path(),
        None,
        &["tag", &name, &registry.image("multi:b")],
    ));
    let out = assert_ok(&run_rimg(
        root.path(),
        None,
        &["push", "-a", &registry.image("multi")],
    ));
    assert!(out.contains("\na: digest: sha256:"), "{out}");
    assert!(out.contains("\nb: digest: sha256:"), "{out}");

    let missing = run_rimg(
        root.path(),
        None,
        &["push", &registry.image("nothing:here")],
    );
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr).trim(),
        format!(
            "Error: An image does not exist locally with the tag: {}",
            registry.image("nothing")
        )
    );
}

#[test]
fn pushes_with_basic_and_token_auth() {
    for kind in [AuthKind::Basic, AuthKind::Token] {
        let registry = Registry::start_with(kind);
        let name = registry.image("secure/app:v1");
        let (root, id) = store_with(&name, 2, Compression::None);

        let denied = run_rimg(root.path(), None, &["push", &name]);
        assert_eq!(denied.status.code(), Some(1), "{kind:?}");
        let message = String::from_utf8_lossy(&denied.stderr).trim().to_string();
        let expected = match kind {
            AuthKind::Token => "Error: denied: requested access to the resource is denied",
            _ => "Error: unauthorized: authentication required",
        };
        assert_eq!(message, expected, "{kind:?}");

        let login = registry.docker_config_with_login();
        assert_ok(&run_rimg(root.path(), Some(login.path()), &["push", &name]));
        assert_eq!(
            registry_image_id(&registry, "secure/app:v1"),
            id,
            "{kind:?}"
        );
    }
}

#[test]
fn manifest_inspect_prints_the_pushed_manifest() {
    let registry = Registry::start();
    let name = registry.image("inspect/me:v1");
    let (root, id) = store_with(&name, 2, Compression::Gzip);
    assert_ok(&run_rimg(root.path(), None, &["push", "-q", &name]));
    let digest = registry.digest("inspect/me:v1");

    let out = assert_ok(&run_rimg(
        root.path(),
        None,
        &["manifest", "inspect", &name],
    ));
    assert!(out.starts_with("{\n\t\"schemaVersion\": 2,"), "{out}");
    let printed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(printed["config"]["digest"], id.to_string());

    // --insecure is accepted as Docker's is (a loopback registry is
    // insecure anyway).
    let out = assert_ok(&run_rimg(
        root.path(),
        None,
        &["manifest", "inspect", "--insecure", "--verbose", &name],
    ));
    // Docker 20.10's shape: the reference as given, the descriptor with
    // the config's platform, the manifest; no raw bytes.
    let verbose: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(verbose["Ref"], name);
    assert_eq!(verbose["Descriptor"]["digest"], digest);
    assert_eq!(verbose["Descriptor"]["platform"]["architecture"], "amd64");
    assert_eq!(verbose["OCIManifest"]["config"]["digest"], id.to_string());
    assert!(verbose.get("Raw").is_none());

    let missing = run_rimg(
        root.path(),
        None,
        &["manifest", "inspect", &registry.image("inspect/me:nope")],
    );
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no such manifest"));
}

/// A store holding `name`: one layer of 20 MiB of noise, stored with
/// `compression`, so that compressed it still goes up in more than one
/// chunk (16 MiB).
fn store_with_large_layer(name: &str, compression: Compression) -> (TempDir, Digest) {
    let root = TempDir::new().unwrap();
    let store = Store::open(root.path()).unwrap();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let noise: Vec<u8> = (0..20 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let image = ImageSpec::new(&[name])
        .layers(&[&[("noise", &noise[..])]])
        .compression(compression)
        .write(&store);
    (root, image.id)
}

#[test]
fn large_layer_goes_up_in_chunks() {
    let registry = Registry::start();
    let name = registry.image("big:v1");
    let (root, id) = store_with_large_layer(&name, Compression::None);
    assert_ok(&run_rimg(root.path(), None, &["push", &name]));
    assert_eq!(registry_image_id(&registry, "big:v1"), id);
    let fresh = TempDir::new().unwrap();
    assert_ok(&run_rimg(fresh.path(), None, &["pull", &name]));
    assert_eq!(image_id(fresh.path(), &name), id.to_string());
}

/// A large layer for the upload faults, which do not care what it holds:
/// zstd, which the unoptimized test build and rimg compress and check the
/// quickest.
fn large_zstd_layer(name: &str) -> (TempDir, Digest) {
    store_with_large_layer(name, Compression::Zstd)
}

/// What a push through a fault went through.
struct FaultedPush {
    /// rimg's output.
    out: String,
    /// The request the proxy's single fault hit, as `METHOD CONTENT-RANGE`.
    hit: String,
    /// The requests after it.
    after: Vec<Logged>,
}

/// Pushes `repo_tag`, as `store` makes it, through a proxy that `faults`
/// sets up to hit one request, and checks that the registry then serves
/// the image and that rimg pulls it back (verifying every blob) under the
/// same ID.
fn push_through_fault(
    repo_tag: &str,
    store: fn(&str) -> (TempDir, Digest),
    faults: impl FnOnce(&Proxy),
) -> FaultedPush {
    let registry = Registry::start();
    let proxy = Proxy::start(&registry.addr);
    let name = format!("{}/{repo_tag}", proxy.addr());
    let (root, id) = store(&name);
    faults(&proxy);
    let out = assert_ok(&run_rimg(root.path(), None, &["push", &name]));

    assert_eq!(registry_image_id(&registry, repo_tag), id);
    let fresh = TempDir::new().unwrap();
    let direct = registry.image(repo_tag);
    assert_ok(&run_rimg(fresh.path(), None, &["pull", &direct]));
    assert_eq!(image_id(fresh.path(), &direct), id.to_string());

    let log = proxy.log();
    let faulted: Vec<usize> = (0..log.len()).filter(|&i| log[i].fault.is_some()).collect();
    assert_eq!(faulted.len(), 1, "{log:#?}");
    let hit = &log[faulted[0]];
    FaultedPush {
        out,
        hit: method_and_range(hit),
        after: log[faulted[0] + 1..].to_vec(),
    }
}

/// `METHOD CONTENT-RANGE` of a logged request.
fn method_and_range(request: &Logged) -> String {
    let range = request.content_range.as_deref().unwrap_or("");
    format!("{} {range}", request.method)
}

/// The position of the first upload session opened in `log`.
fn new_session(log: &[Logged]) -> usize {
    log.iter()
        .position(|l| l.method == "POST" && l.target.ends_with("/blobs/uploads/"))
        .unwrap_or_else(|| panic!("no new upload session: {log:#?}"))
}

#[test]
fn chunk_dropped_mid_upload_goes_up_again() {
    // The registry gets 5 MiB of the first chunk and rimg never hears
    // back. Distribution keeps those bytes and then refuses the session,
    // whose Location says it holds none.
    let push = push_through_fault("big:v1", large_zstd_layer, |proxy| {
        proxy.add("/blobs/uploads/", 1, Fault::DropRequest { bytes: 5 << 20 });
    });
    assert!(push.out.contains(": Pushed\n"), "{}", push.out);
    assert_eq!(push.hit, "PATCH 0-16777215");
    // A new session, and the blob from its first byte.
    let restart = new_session(&push.after);
    assert!(
        push.after[restart..]
            .iter()
            .any(|l| l.method == "PATCH" && l.content_range.as_deref() == Some("0-16777215")),
        "{:#?}",
        push.after
    );
}

#[test]
fn refused_chunk_resumes_from_the_registry_offset() {
    // The session's POST and first chunk go through; the second chunk is
    // refused as out of line with what the registry holds.
    let push = push_through_fault("big:v1", large_zstd_layer, |proxy| {
        let refused = Fault::Status {
            code: 416,
            retry_after: None,
        };
        proxy.add_after("/blobs/uploads/", 2, 1, refused);
    });
    assert!(push.hit.starts_with("PATCH 16777216-"), "{}", push.hit);
    // rimg asks the session how much the registry has, and goes on from
    // there: the second chunk again, in the same session.
    let after: Vec<String> = push.after.iter().take(2).map(method_and_range).collect();
    assert_eq!(after[0], "GET ", "{:#?}", push.after);
    assert!(after[1].starts_with("PATCH 16777216-"), "{:#?}", push.after);
}

#[test]
fn blob_dropped_mid_put_goes_up_again() {
    // The layer goes up in one PUT, of which the registry gets 100 bytes.
    let push = push_through_fault(
        "small:v1",
        |name| store_with(name, 1, Compression::None),
        |proxy| proxy.add("/blobs/uploads/", 1, Fault::DropRequest { bytes: 100 }),
    );
    assert_eq!(push.hit, "PUT ");
    new_session(&push.after);
}

#[test]
fn mount_tries_the_next_repository_when_one_lacks_the_layer() {
    let registry = Registry::start();
    let name = registry.image("app/one:v1");
    let root = TempDir::new().unwrap();
    let store = Store::open(root.path()).unwrap();
    // Over 100 KB compressed, so that Docker would try more than one
    // repository to mount it from.
    let bytes = common::layout::content(7, 1 << 20);
    ImageSpec::new(&[&name])
        .layers(&[&[("f", &bytes[..])]])
        .compression(Compression::Gzip)
        .write(&store);
    assert_ok(&run_rimg(root.path(), None, &["push", &name]));

    // The store also believes app/ghost holds the image (as after the
    // repository was deleted on the registry); it sorts before app/one.
    let catalog = rimg::image::Catalog::load(&store).unwrap();
    let image = &catalog.images()[0];
    let ghost = rimg::reference::Reference::parse(&registry.image("app/ghost"))
        .unwrap()
        .with_digest(image.descriptor.digest.as_str())
        .unwrap();
    rimg::image::register(&store, &image.descriptor, &[ghost]).unwrap();

    let target = registry.image("app/two:v1");
    assert_ok(&run_rimg(root.path(), None, &["tag", &name, &target]));
    let out = assert_ok(&run_rimg(root.path(), None, &["push", &target]));
    assert!(out.contains(": Mounted from app/one\n"), "{out}");
    assert!(!out.contains(": Pushed"), "{out}");
    assert_eq!(registry_image_id(&registry, "app/two:v1"), image.id);
}

#[test]
fn sigint_stops_a_push_with_dockers_code_and_leaves_nothing() {
    let registry = Registry::start();
    let proxy = Proxy::start(&registry.addr);
    let stall = Fault::Slow {
        delay: std::time::Duration::from_secs(3),
        chunk: 1 << 20,
        pause: std::time::Duration::ZERO,
    };
    proxy.add("/blobs/uploads/", usize::MAX, stall);
    let name = format!("{}/app/interrupted:v1", proxy.addr());
    let (root, _) = store_with(&name, 2, Compression::Gzip);
    let child = common::rimg_command(root.path())
        .args(["push", &name])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !proxy
        .log()
        .iter()
        .any(|l| l.target.contains("/blobs/uploads/"))
    {
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: kill has no memory effects; `pid` is our own unreaped child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("push interrupted: "));
    let tmp = std::fs::read_dir(root.path().join(".rimg/tmp")).unwrap();
    assert_eq!(tmp.count(), 0, "temporary files left behind");
    let leases = std::fs::read_dir(root.path().join(".rimg/leases"));
    assert!(
        leases.map_or(true, |l| l.count() == 0),
        "a lease left behind"
    );
}
