//! Hostile input that the real registry cannot produce: bad references,
//! a hostile registry (oversized manifests, malformed or lying digests,
//! mismatched diff IDs, endless redirects and bodies, garbage from the
//! token endpoint) and a Docker config that leaks its secret. Each fails
//! with exit 1 and an error naming the problem, adds no image and no
//! unverified byte to the store, and never prints a secret.

mod common;

use common::archive::store_state;
use common::consistency::assert_consistent;
use common::http::{self, Server};
use common::{gzip, layer_tar, rimg_command};
use rimg::digest::Digest;
use rimg::oci::media_type;
use serde_json::json;
use std::collections::HashMap;
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// What the hostile registry answers to one request path.
enum Reply {
    Json(&'static str, Vec<u8>),
    Blob(Vec<u8>),
    /// A body announced as a terabyte that never stops coming.
    Endless,
    /// A redirect to the same path with one more `?hop`.
    RedirectLoop,
    /// A Bearer challenge pointing at this server's `/token`.
    Challenge,
    /// Bytes that are not a token reply.
    Garbage,
    NotFound,
    /// A JSON body with this status line.
    Status(&'static str, Vec<u8>),
    /// A tag list page and the `Link` to the next one.
    TagPage(Vec<u8>, String),
    /// Accepts the request and says nothing, for up to a minute.
    Silent,
    /// Sends the headers, then the body a byte a second.
    Trickle(Vec<u8>),
    /// `503` with `Retry-After` of this many seconds.
    RetryAfter(u64),
}

/// A tiny registry whose answers the test decides.
fn hostile(route: impl Fn(&str) -> Reply + Send + Sync + 'static) -> Server {
    let addr = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let me = addr.clone();
    let server = Server::start(move |mut stream: TcpStream| {
        let Some(request) = http::accept_request(&stream) else {
            return;
        };
        let path = request.target.split('?').next().unwrap_or("").to_string();
        let host = me.get().cloned().unwrap_or_default();
        match route(&path) {
            Reply::Json(kind, body) => http::respond(
                &mut stream,
                "200 OK",
                &[("Content-Type", kind.into())],
                &body,
            ),
            Reply::Blob(body) => http::respond(&mut stream, "200 OK", &[], &body),
            Reply::Endless => {
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\nConnection: close\r\n\r\n",
                );
                let junk = vec![b'z'; 64 << 10];
                // Ends when the client hangs up; bounded by a minute anyway.
                let start = Instant::now();
                while start.elapsed() < Duration::from_secs(60) && stream.write_all(&junk).is_ok() {
                }
            }
            Reply::RedirectLoop => {
                let hops = request.target.matches("hop").count();
                let to = format!("{path}?{}", vec!["hop"; hops + 1].join("&"));
                http::respond(
                    &mut stream,
                    "307 Temporary Redirect",
                    &[("Location", to)],
                    b"",
                );
            }
            Reply::Challenge => http::respond(
                &mut stream,
                "401 Unauthorized",
                &[(
                    "WWW-Authenticate",
                    format!(r#"Bearer realm="http://{host}/token",service="hostile""#),
                )],
                b"{}",
            ),
            Reply::Garbage => {
                http::respond(&mut stream, "200 OK", &[], b"\x00\xff<html>not a token")
            }
            Reply::NotFound => http::respond(&mut stream, "404 Not Found", &[], b"{}"),
            Reply::TagPage(body, next) => http::respond(
                &mut stream,
                "200 OK",
                &[
                    ("Content-Type", "application/json".into()),
                    ("Link", format!("<{next}>; rel=\"next\"")),
                ],
                &body,
            ),
            Reply::Silent => std::thread::sleep(Duration::from_secs(60)),
            Reply::Trickle(body) => {
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                let _ = stream.write_all(head.as_bytes());
                // Ends when the client hangs up; bounded by a minute anyway.
                for byte in body.iter().take(60) {
                    if stream.write_all(&[*byte]).is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
            Reply::RetryAfter(seconds) => http::respond(
                &mut stream,
                "503 Service Unavailable",
                &[("Retry-After", seconds.to_string())],
                b"",
            ),
            Reply::Status(status, body) => http::respond(
                &mut stream,
                status,
                &[("Content-Type", "application/json".into())],
                &body,
            ),
        }
    });
    addr.set(server.addr()).unwrap();
    server
}

/// A valid one-layer image: manifest bytes and blobs by digest. `diff_id`
/// replaces the config's true diff ID when given.
fn image(diff_id: Option<Digest>) -> (Vec<u8>, HashMap<String, Vec<u8>>) {
    let tar = layer_tar(&[("hello.txt".to_string(), b"hello".to_vec())]);
    let layer = gzip(&tar);
    let diff_id = diff_id.unwrap_or_else(|| Digest::of(&tar));
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }))
    .unwrap();
    let manifest = manifest_of(&config, &layer, &Digest::of(&layer).to_string());
    let blobs = [layer, config]
        .into_iter()
        .map(|b| (format!("/v2/evil/app/blobs/{}", Digest::of(&b)), b))
        .collect();
    (manifest, blobs)
}

fn manifest_of(config: &[u8], layer: &[u8], layer_digest: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_MANIFEST,
        "config": {"mediaType": media_type::OCI_CONFIG, "digest": Digest::of(config), "size": config.len()},
        "layers": [{"mediaType": media_type::OCI_LAYER_GZIP, "digest": layer_digest, "size": layer.len()}],
    }))
    .unwrap()
}

/// Serves `manifest` as `evil/app:v1` and `blobs` by path.
fn registry(manifest: Vec<u8>, blobs: HashMap<String, Vec<u8>>) -> Server {
    hostile(move |path| match path {
        "/v2/" => Reply::Json("application/json", b"{}".to_vec()),
        "/v2/evil/app/manifests/v1" => Reply::Json(media_type::OCI_MANIFEST, manifest.clone()),
        _ => blobs
            .get(path)
            .map_or(Reply::NotFound, |b| Reply::Blob(b.clone())),
    })
}

fn rimg(root: &Path, docker_config: &Path, args: &[&str]) -> Output {
    rimg_command(root)
        .args(args)
        .env("DOCKER_CONFIG", docker_config)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Pulls `evil/app:v1` from `server` into a fresh store and asserts the
/// pull failed with exit 1 and `message` in its error, within `limit`,
/// leaving no image, no tag and nothing unverified behind. Returns the
/// error output.
#[track_caller]
fn assert_pull_refused(server: &Server, message: &str) -> String {
    let dir = TempDir::new().unwrap();
    let root = dir.path().join("root");
    rimg::store::Store::open(&root).unwrap();
    let (index, _) = store_state(&root);
    let start = Instant::now();
    let out = rimg(
        &root,
        dir.path(),
        &["pull", &format!("{}/evil/app:v1", server.addr())],
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        stderr.contains(message),
        "expected {message:?} in: {stderr}"
    );
    assert_eq!(store_state(&root).0, index, "the index changed");
    assert_consistent(&root, message);
    stderr
}

#[test]
fn bad_references_are_refused_and_change_nothing() {
    let fx = common::Fixture::new();
    fx.add_image(&common::ImageSpec::new(&["app:1"]));
    // The index and the blobs; `save` may add a cache entry.
    let state = |root: &Path| {
        let (index, files) = store_state(root);
        (
            index,
            files
                .into_iter()
                .filter(|f| f.starts_with("blobs/"))
                .collect::<Vec<_>>(),
        )
    };
    let before = state(&fx.root());
    let long_name = "a".repeat(300);
    let long_tag = format!("app:{}", "t".repeat(129));
    let cases: &[(&str, &str)] = &[
        (
            &long_name,
            "repository name must not be more than 255 characters",
        ),
        (&long_tag, "invalid reference format"),
        ("app\u{1}x:1", "invalid reference format"),
        ("app:1\n", "invalid reference format"),
        ("app:a/b", "invalid reference format"),
        ("app:../../etc", "invalid reference format"),
        ("a/../b", "invalid reference format"),
        ("../app", "invalid reference format"),
        ("app/..", "invalid reference format"),
        ("/app", "invalid reference format"),
    ];
    for (bad, message) in cases {
        for args in [
            vec!["tag", "app:1", bad],
            vec!["pull", bad],
            vec!["rmi", bad],
            vec!["save", "-o", "/dev/null", bad],
        ] {
            let run = fx.run(&args);
            assert_eq!(run.code, 1, "{args:?}: {run:?}");
            assert!(
                run.stderr.contains(message) || run.stderr.contains("No such image"),
                "{args:?}: {}",
                run.stderr
            );
        }
    }
    assert_eq!(state(&fx.root()), before);
}

#[test]
fn oversized_manifests_are_refused() {
    let (manifest, blobs) = image(None);
    let mut doc: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    doc["annotations"] = json!({"padding": "x".repeat(5 << 20)});
    let server = registry(serde_json::to_vec(&doc).unwrap(), blobs);
    assert_pull_refused(&server, "response larger than 4194304 bytes");
}

#[test]
fn malformed_and_lying_digests_are_refused() {
    let (_, blobs) = image(None);
    let config = blobs
        .values()
        .find(|b| b.starts_with(b"{"))
        .unwrap()
        .clone();
    let layer = gzip(b"a layer");
    for bad in [
        "sha256:../../../../etc/passwd",
        "md5:d41d8cd98f00b204e9800998ecf8427e",
    ] {
        let server = registry(manifest_of(&config, &layer, bad), blobs.clone());
        assert_pull_refused(&server, "digest");
    }
    // A well-formed digest whose blob holds other bytes of the same size.
    let (manifest, mut blobs) = image(None);
    for body in blobs.values_mut() {
        if !body.starts_with(b"{") {
            let last = body.len() - 1;
            body[last] ^= 0xff;
        }
    }
    let server = registry(manifest, blobs);
    assert_pull_refused(&server, "verification failed");
}

#[test]
fn configs_whose_diff_ids_do_not_match_are_refused() {
    let (manifest, blobs) = image(Some(Digest::of(b"not the layer")));
    let server = registry(manifest, blobs);
    assert_pull_refused(&server, "diff ID");
}

#[test]
fn endless_redirects_are_refused() {
    let server = hostile(|path| match path {
        "/v2/" => Reply::Json("application/json", b"{}".to_vec()),
        _ => Reply::RedirectLoop,
    });
    assert_pull_refused(&server, "redirect");
}

#[test]
fn an_endless_blob_body_is_cut_at_its_declared_size() {
    let (manifest, blobs) = image(None);
    let config_path = blobs
        .iter()
        .find(|(_, b)| b.starts_with(b"{"))
        .map(|(p, _)| p.clone())
        .unwrap();
    let config = blobs[&config_path].clone();
    let server = hostile(move |path| match path {
        "/v2/" => Reply::Json("application/json", b"{}".to_vec()),
        "/v2/evil/app/manifests/v1" => Reply::Json(media_type::OCI_MANIFEST, manifest.clone()),
        p if p == config_path => Reply::Blob(config.clone()),
        _ => Reply::Endless,
    });
    assert_pull_refused(&server, "verification failed");
}

/// A Docker config holding `SECRET` for `host`, readable by everyone.
fn leaky_config(dir: &Path, host: &str) {
    use base64::Engine as _;
    use std::os::unix::fs::PermissionsExt;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("someone:{SECRET}"));
    let path = dir.join("config.json");
    std::fs::write(&path, json!({"auths": {host: {"auth": auth}}}).to_string()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
}

const SECRET: &str = "Xq7-known-secret-9Zt";

#[test]
fn garbage_from_the_token_endpoint_is_refused_without_leaking_the_secret() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    let server = hostile(move |path| {
        log.lock().unwrap().push(path.to_string());
        match path {
            "/token" => Reply::Garbage,
            _ => Reply::Challenge,
        }
    });
    let dir = TempDir::new().unwrap();
    leaky_config(dir.path(), &server.addr());
    let root = dir.path().join("root");
    let out = rimg(
        &root,
        dir.path(),
        &["pull", &format!("{}/evil/app:v1", server.addr())],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stderr.contains("invalid reply"), "{stderr}");
    // The loose file is still read — its credential went to the token
    // endpoint — with a warning.
    assert!(seen.lock().unwrap().iter().any(|p| p == "/token"));
    assert!(
        stderr.contains("readable by other users (mode 0644)"),
        "{stderr}"
    );
    assert_no_secret(&out);
}

#[test]
fn rejected_credentials_never_appear_in_any_output() {
    let server = hostile(|path| match path {
        "/token" => Reply::NotFound,
        _ => Reply::Challenge,
    });
    let dir = TempDir::new().unwrap();
    leaky_config(dir.path(), &server.addr());
    let root = dir.path().join("root");
    let name = format!("{}/evil/app:v1", server.addr());
    for args in [
        vec!["pull", name.as_str()],
        vec!["pull", "--all-tags", &name[..name.len() - 3]],
        vec!["pull", "-q", name.as_str()],
    ] {
        let out = rimg(&root, dir.path(), &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        assert_no_secret(&out);
    }
}

#[track_caller]
fn assert_no_secret(out: &Output) {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("someone:{SECRET}"));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains(SECRET), "the secret leaked: {all}");
    assert!(!all.contains(&encoded), "the encoded secret leaked: {all}");
}

/// Runs rimg on a store under `dir` (its Docker config dir too), asserts
/// it exits 1 and returns what it printed on stderr.
fn refused(dir: &Path, args: &[&str]) -> String {
    let out = rimg(&dir.join("root"), dir, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    stderr
}

#[test]
fn terminal_escapes_in_a_registry_error_reach_no_terminal() {
    let body = serde_json::to_vec(&json!({"errors": [{
        "code": "DENIED",
        "message": "no \x1b]0;PWNED\x07\x1b[2J\u{9b}31m way",
    }]}))
    .unwrap();
    let server = hostile(move |path| match path {
        "/v2/" => Reply::Json("application/json", b"{}".to_vec()),
        _ => Reply::Status("403 Forbidden", body.clone()),
    });
    let dir = TempDir::new().unwrap();
    let stderr = refused(
        dir.path(),
        &["pull", &format!("{}/evil/app:v1", server.addr())],
    );
    assert!(
        !stderr.contains(|c: char| c.is_control() && c != '\n'),
        "a control character reached stderr: {stderr:?}"
    );
    assert!(
        stderr.contains(r"no \x1b]0;PWNED\x07\x1b[2J\x9b31m way"),
        "{stderr:?}"
    );
}

/// A registry whose tag list for `evil/app` is `page(n)` at
/// `tags/list?n=N`, each page linking to the next, forever; and which
/// counts the tag-list and manifest requests it answers.
fn endless_tag_list(
    page: impl Fn(usize) -> Vec<String> + Send + Sync + 'static,
) -> (Server, std::sync::Arc<[std::sync::atomic::AtomicUsize; 2]>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let counts = std::sync::Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let seen = counts.clone();
    let pages = std::sync::Arc::new(AtomicUsize::new(0));
    let server = hostile(move |path| match path {
        "/v2/" => Reply::Json("application/json", b"{}".to_vec()),
        "/v2/evil/app/tags/list" => {
            seen[0].fetch_add(1, Ordering::SeqCst);
            let n = pages.fetch_add(1, Ordering::SeqCst);
            let body = serde_json::to_vec(&json!({"name": "evil/app", "tags": page(n)})).unwrap();
            Reply::TagPage(body, format!("/v2/evil/app/tags/list?n={}", n + 1))
        }
        _ => {
            seen[1].fetch_add(1, Ordering::SeqCst);
            Reply::NotFound
        }
    });
    (server, counts)
}

#[test]
fn a_tag_list_that_repeats_itself_is_read_once_and_each_tag_pulled_once() {
    use std::sync::atomic::Ordering;
    let (server, counts) = endless_tag_list(|_| vec!["v1".to_string(), "v1".to_string()]);
    let dir = TempDir::new().unwrap();
    // v1 is not served, so the pull fails; what matters is how often it
    // asked.
    refused(
        dir.path(),
        &["pull", "-a", &format!("{}/evil/app", server.addr())],
    );
    assert_eq!(counts[0].load(Ordering::SeqCst), 2, "tag list pages read");
    assert!(
        counts[1].load(Ordering::SeqCst) <= 4,
        "v1 was asked for {} times",
        counts[1].load(Ordering::SeqCst)
    );
}

#[test]
fn a_tag_list_beyond_16_mib_is_refused() {
    use std::sync::atomic::Ordering;
    // 1 MiB pages of new tags, without end.
    let (server, counts) =
        endless_tag_list(|n| (0..16 << 10).map(|i| format!("t{n}-{i:058}")).collect());
    let dir = TempDir::new().unwrap();
    let stderr = refused(
        dir.path(),
        &["pull", "-a", &format!("{}/evil/app", server.addr())],
    );
    assert!(
        stderr.contains("the tag list of evil/app is longer than 16777216 bytes"),
        "{stderr}"
    );
    assert!(counts[0].load(Ordering::SeqCst) <= 17);
    assert_eq!(counts[1].load(Ordering::SeqCst), 0, "no tag is pulled");
}

/// A fresh store whose rimg config sets `settings` (the wait bounds).
fn store_with_settings(settings: serde_json::Value) -> TempDir {
    let dir = TempDir::new().unwrap();
    let config = dir.path().join("root/config-home/rimg");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("config.json"), settings.to_string()).unwrap();
    dir
}

/// [`refused`], which must say `message`, well before a hostile server's
/// minute is up; returns how long it took.
fn assert_refused_soon(dir: &Path, args: &[&str], message: &str) -> Duration {
    let start = Instant::now();
    let stderr = refused(dir, args);
    assert!(stderr.contains(message), "{stderr}");
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(45),
        "gave up only after {took:?}"
    );
    took
}

fn pull_v1(server: &Server) -> [String; 2] {
    ["pull".into(), format!("{}/evil/app:v1", server.addr())]
}

fn import_url(server: &Server) -> [String; 2] {
    [
        "import".into(),
        format!("http://{}/rootfs.tar", server.addr()),
    ]
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[test]
fn a_registry_that_never_answers_is_given_up_on() {
    let server = hostile(|_| Reply::Silent);
    let dir = store_with_settings(json!({"response-timeout": 2}));
    let args = pull_v1(&server);
    assert_refused_soon(
        dir.path(),
        &strs(&args),
        "no response from 127.0.0.1 within 2s",
    );
}

#[test]
fn a_blob_trickled_a_byte_a_second_counts_as_stalled() {
    let (manifest, blobs) = image(None);
    let layer = blobs
        .iter()
        .find(|(_, b)| b.starts_with(&[0x1f, 0x8b]))
        .map(|(path, _)| path.clone())
        .unwrap();
    let server = hostile(move |path| match path {
        "/v2/" => Reply::Json("application/json", b"{}".to_vec()),
        "/v2/evil/app/manifests/v1" => Reply::Json(media_type::OCI_MANIFEST, manifest.clone()),
        p if p == layer => Reply::Trickle(blobs[p].clone()),
        p => blobs
            .get(p)
            .map_or(Reply::NotFound, |b| Reply::Blob(b.clone())),
    });
    let dir = store_with_settings(json!({"stall-timeout": 2}));
    let args = pull_v1(&server);
    assert_refused_soon(
        dir.path(),
        &strs(&args),
        "stalled: less than 1024 bytes in 2s",
    );
}

#[test]
fn a_retry_after_beyond_the_retry_wait_is_refused_at_once() {
    let server = hostile(|path| match path {
        "/v2/" => Reply::Json("application/json", b"{}".to_vec()),
        _ => Reply::RetryAfter(60),
    });
    let dir = TempDir::new().unwrap();
    let args = pull_v1(&server);
    let took = assert_refused_soon(
        dir.path(),
        &strs(&args),
        "503 Service Unavailable; waiting 60s more to retry would pass the 30s rimg waits in all (max-retry-wait)",
    );
    assert!(took < Duration::from_secs(10));
}

#[test]
fn import_of_an_endless_body_that_is_no_tar_stops_at_its_first_header() {
    let server = hostile(|_| Reply::Endless);
    let dir = TempDir::new().unwrap();
    let args = import_url(&server);
    let took = assert_refused_soon(dir.path(), &strs(&args), "the input is not a tar archive");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_consistent(&dir.path().join("root"), "after a refused import");
}

#[test]
fn import_stops_a_download_beyond_max_download_size() {
    let tar = layer_tar(&[("big".to_string(), vec![7; 4 << 20])]);
    let server = hostile(move |_| Reply::Blob(tar.clone()));
    let dir = store_with_settings(json!({"max-download-size": 1 << 20}));
    let args = import_url(&server);
    let message = "larger than 1048576 bytes, the most rimg takes";
    assert_refused_soon(dir.path(), &strs(&args), message);
    assert_consistent(&dir.path().join("root"), "after a refused import");
}
