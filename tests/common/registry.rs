//! A real CNCF distribution registry (Debian's `docker-registry`, 2.8) on
//! an ephemeral loopback port with its storage in a temporary directory,
//! optionally behind htpasswd Basic auth or token auth with a test token
//! issuer. Images go in with skopeo, a tool independent of rimg.

use super::http::{self, Server};
use super::layout::{BuiltImage, ImageSpec, Layout};
use base64::Engine as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tempfile::TempDir;

pub const USER: &str = "tester";
pub const PASSWORD: &str = "s3cret-pass";
pub const SERVICE: &str = "rimg-test-registry";
const ISSUER: &str = "rimg-test-issuer";

/// Finds a required tool or fails the test loudly: a missing registry must
/// never turn into a silently skipped test.
pub fn require(tool: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{tool} not found on PATH: the pull tests need it (apt-get install docker-registry skopeo)")
        })
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthKind {
    None,
    Basic,
    Token,
}

pub struct Registry {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    pub auth: AuthKind,
    child: Child,
    _dir: TempDir,
    pub token_server: Option<TokenServer>,
}

impl Registry {
    pub fn start() -> Registry {
        Registry::start_with(AuthKind::None)
    }

    pub fn start_with(auth: AuthKind) -> Registry {
        Registry::launch(auth, false)
    }

    /// A registry serving HTTPS with a self-signed certificate.
    pub fn start_tls() -> Registry {
        Registry::launch(AuthKind::None, true)
    }

    fn launch(auth: AuthKind, tls: bool) -> Registry {
        let binary = require("docker-registry");
        require("skopeo");
        let dir = tempfile::tempdir().unwrap();
        let storage = dir.path().join("storage");
        let token_server = (auth == AuthKind::Token).then(|| TokenServer::start(dir.path()));
        let auth_yaml = match (&auth, &token_server) {
            (AuthKind::Basic, _) => {
                let hash = bcrypt::hash(PASSWORD, 4).unwrap();
                let htpasswd = dir.path().join("htpasswd");
                std::fs::write(&htpasswd, format!("{USER}:{hash}\n")).unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: test-realm\n    path: {}\n",
                    htpasswd.display()
                )
            }
            (AuthKind::Token, Some(ts)) => format!(
                "auth:\n  token:\n    realm: http://{}/token\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
                ts.server.addr(),
                ts.cert.display()
            ),
            _ => String::new(),
        };
        let tls_yaml = if tls {
            let (key, cert) = (
                dir.path().join("tls-key.pem"),
                dir.path().join("tls-cert.pem"),
            );
            self_signed(
                &key,
                &cert,
                "127.0.0.1",
                &["-addext", "subjectAltName=IP:127.0.0.1"],
            );
            format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            )
        } else {
            String::new()
        };
        // The port is picked free and then handed over; another process
        // grabbing it in between is retried.
        for _ in 0..5 {
            let addr = format!("127.0.0.1:{}", free_port());
            let config = dir.path().join("config.yml");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n  secret: test-secret\n{tls_yaml}compatibility:\n  schema1:\n    enabled: true\n{auth_yaml}",
                    storage.display()
                ),
            )
            .unwrap();
            let mut child = Command::new(&binary)
                .arg("serve")
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            if wait_for_http(&addr, &mut child, tls) {
                return Registry {
                    addr,
                    auth,
                    child,
                    _dir: dir,
                    token_server,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("docker-registry did not start");
    }

    /// `127.0.0.1:PORT/<repo>`.
    pub fn image(&self, repo: &str) -> String {
        format!("{}/{repo}", self.addr)
    }

    /// Pushes `layout:tag` to `<registry>/<dest>` with skopeo; `extra` picks
    /// the flavour (`--format v2s2`, `--all`, ...).
    pub fn push(&self, layout: &Path, tag: &str, dest: &str, extra: &[&str]) {
        let source = format!("oci:{}:{tag}", layout.display());
        let target = format!("docker://{}", self.image(dest));
        let creds = format!("{USER}:{PASSWORD}");
        let mut args = vec!["copy", "--dest-tls-verify=false"];
        if self.auth != AuthKind::None {
            args.extend(["--dest-creds", &creds]);
        }
        args.extend(extra);
        args.extend([source.as_str(), target.as_str()]);
        skopeo(&args);
    }

    /// Pushes a single-platform image built from `spec` as `dest`
    /// (`repo:tag`), keeping its digests.
    pub fn push_image(&self, spec: &ImageSpec, dest: &str) -> BuiltImage {
        self.push_image_with(spec, dest, &["--preserve-digests"])
    }

    /// Like [`Registry::push_image`], with skopeo flags of the caller's
    /// choosing (`--format v2s1`, ...).
    pub fn push_image_with(&self, spec: &ImageSpec, dest: &str, flags: &[&str]) -> BuiltImage {
        let src = TempDir::new().unwrap();
        let mut layout = Layout::new(src.path());
        let image = layout.image(spec);
        layout.tag("pushed", &[&image]);
        self.push(&layout.dir, "pushed", dest, flags);
        image
    }

    /// The digest the registry serves for `<dest>` (skopeo's view).
    pub fn digest(&self, dest: &str) -> String {
        rimg::digest::Digest::of(&self.raw(dest)).to_string()
    }

    /// The manifest or index the registry serves for `<dest>`, as skopeo
    /// reads it.
    pub fn raw(&self, dest: &str) -> Vec<u8> {
        let target = format!("docker://{}", self.image(dest));
        let creds = format!("{USER}:{PASSWORD}");
        let mut args = vec!["inspect", "--tls-verify=false", "--raw"];
        if self.auth != AuthKind::None {
            args.extend(["--creds", &creds]);
        }
        args.push(&target);
        skopeo(&args)
    }

    /// What the registry answers a client without a login, as rimg
    /// prints it: Basic auth asks for one, while the token issuer hands
    /// anonymous clients a token without access.
    pub fn anonymous_refusal(&self) -> &'static str {
        match self.auth {
            AuthKind::Token => "denied: requested access to the resource is denied",
            _ => "unauthorized: authentication required",
        }
    }

    /// A Docker config dir holding the test user's login to this registry.
    pub fn docker_config_with_login(&self) -> TempDir {
        let dir = TempDir::new().unwrap();
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
        let json = serde_json::json!({"auths": {self.addr.clone(): {"auth": auth}}});
        std::fs::write(dir.path().join("config.json"), json.to_string()).unwrap();
        dir
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs skopeo, failing the test with its stderr if it fails.
pub fn skopeo(args: &[&str]) -> Vec<u8> {
    let output = Command::new(require("skopeo")).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "skopeo {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Waits (bounded) until `addr` answers HTTP on `/v2/` (for TLS, until
/// it accepts connections).
fn wait_for_http(addr: &str, child: &mut Child, tls: bool) -> bool {
    for _ in 0..200 {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if let Ok(mut stream) = TcpStream::connect(addr) {
            if tls {
                return true;
            }
            use std::io::{Read, Write};
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = write!(
                stream,
                "GET /v2/ HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
            );
            let mut reply = String::new();
            let _ = stream.read_to_string(&mut reply);
            if reply.starts_with("HTTP/1.1 200") || reply.starts_with("HTTP/1.1 401") {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A token issuer for the registry's token auth: hands out RS256 JWTs
/// signed with a fresh key whose self-signed certificate the registry
/// trusts. With the test user's Basic credentials every requested action
/// is granted; anonymously only `pull` on repositories under `public/`.
pub struct TokenServer {
    pub server: Server,
    cert: PathBuf,
    /// Token requests served (to check tokens are reused within a run).
    pub requests: Arc<AtomicUsize>,
}

impl TokenServer {
    fn start(dir: &Path) -> TokenServer {
        let key = dir.join("token-key.pem");
        let cert = dir.join("token-cert.pem");
        let status = Command::new(require("openssl"))
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=rimg-test-issuer",
                "-keyout",
            ])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "openssl req failed");
        let der = Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&cert)
            .output()
            .unwrap()
            .stdout;
        let x5c = base64::engine::general_purpose::STANDARD.encode(der);
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let server = Server::start(move |mut stream| {
            let Some(request) = http::accept_request(&stream) else {
                return;
            };
            counter.fetch_add(1, Ordering::SeqCst);
            let authed = request.header("authorization").is_some_and(|h| {
                let expected =
                    base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
                h == format!("Basic {expected}")
            });
            if request.header("authorization").is_some() && !authed {
                http::respond(
                    &mut stream,
                    "401 Unauthorized",
                    &[],
                    br#"{"details":"incorrect username or password"}"#,
                );
                return;
            }
            let access: Vec<serde_json::Value> = request
                .query("scope")
                .iter()
                .flat_map(|s| s.split(' ').map(str::to_string).collect::<Vec<_>>())
                .filter_map(|scope| {
                    let mut parts = scope.splitn(3, ':');
                    let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
                    let actions: Vec<&str> = actions
                        .split(',')
                        .filter(|a| authed || (*a == "pull" && name.starts_with("public/")))
                        .collect();
                    Some(serde_json::json!({"type": kind, "name": name, "actions": actions}))
                })
                .collect();
            let token = sign_jwt(&key, &x5c, access);
            http::respond(
                &mut stream,
                "200 OK",
                &[("Content-Type", "application/json".into())],
                serde_json::json!({"token": token, "expires_in": 300})
                    .to_string()
                    .as_bytes(),
            );
        });
        TokenServer {
            server,
            cert,
            requests,
        }
    }
}

/// A fresh RSA key and self-signed certificate for `cn`.
fn self_signed(key: &Path, cert: &Path, cn: &str, extra: &[&str]) {
    let status = Command::new(require("openssl"))
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .arg("-subj")
        .arg(format!("/CN={cn}"))
        .args(extra)
        .arg("-keyout")
        .arg(key)
        .arg("-out")
        .arg(cert)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "openssl req failed");
}

fn sign_jwt(key: &Path, x5c: &str, access: Vec<serde_json::Value>) -> String {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [x5c]});
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": USER, "aud": SERVICE,
        "exp": now + 300, "nbf": now - 10, "iat": now,
        "jti": format!("{now}-{}", rand_suffix()),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = super::output_with_stdin(
        Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(key),
        signing_input.as_bytes(),
    )
    .stdout;
    format!("{signing_input}.{}", b64(&signature))
}

fn rand_suffix() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// `rimg --root ROOT` cut off from the user's settings (see
/// `common::isolate`), with `docker_config` as its Docker config dir when
/// given.
pub fn isolated_rimg(root: &Path, docker_config: Option<&Path>) -> Command {
    let mut command = super::rimg_command(root);
    if let Some(dir) = docker_config {
        command.env("DOCKER_CONFIG", dir);
    }
    command
}

/// Runs rimg on the store at `root`, with logins from `docker_config`.
pub fn run_rimg(root: &Path, docker_config: Option<&Path>, args: &[&str]) -> std::process::Output {
    isolated_rimg(root, docker_config)
        .args(args)
        .output()
        .unwrap()
}

/// The stdout of a rimg run that must have succeeded.
#[track_caller]
pub fn assert_ok(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "rimg failed: {}\nstdout:\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// True when the store at `root` names no image at all.
pub fn store_is_empty(root: &Path) -> bool {
    rimg::store::Store::open(root)
        .unwrap()
        .read_index()
        .unwrap()
        .manifests
        .is_empty()
}
