//! Test support: a temporary store, synthetic images written straight into
//! it, and a runner for the real `rimg` binary.
#![allow(dead_code)] // each test binary uses its own part of this module

pub mod archive;
pub mod busybox;
pub mod consistency;
pub mod debian;
pub mod docker;
pub mod podman;
pub mod random;

use rimg::digest::Digest;
use rimg::oci::{media_type, Descriptor, Manifest};
use rimg::reference::Reference;
use rimg::store::Store;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The rimg binary under test: cargo's, or the copy `RIMG_TEST_BINARY`
/// names (scripts/as-test-user.sh runs a test binary as an unprivileged
/// user from a directory that user can reach, with rimg beside it).
pub fn rimg_bin() -> PathBuf {
    std::env::var_os("RIMG_TEST_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_rimg")))
}

/// Whether the tests run as root: the machine's, or of rimg's user
/// namespace, where scripts/test.sh runs the container suites as an
/// unprivileged user (`rimg unshare`), as that user's rimg works.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Whether the tests run as the machine's root; what a user cannot do
/// even in a user namespace (cgroups) differs.
pub fn is_machine_root() -> bool {
    rimg::runtime::userns::host_uid() == 0
}

/// A temporary rimg root.
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

/// What `rimg` printed and how it exited.
#[derive(Debug)]
pub struct Run {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

/// What `rimg` printed (stdout as bytes, for archives) and how it exited.
#[derive(Debug)]
pub struct RawRun {
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub code: i32,
}

impl Run {
    fn from(raw: RawRun) -> Run {
        Run {
            stdout: String::from_utf8_lossy(&raw.stdout).into_owned(),
            stderr: raw.stderr,
            code: raw.code,
        }
    }
}

impl Drop for Fixture {
    /// Detaches the containers' overlay mounts, so the temporary directory
    /// can go and no mount outlives the test, and removes the runtime's
    /// state for the store (under /run, which the test's directory is not).
    fn drop(&mut self) {
        let _ = rimg::container::overlay::unmount_under(self.dir.path());
        let _ = std::fs::remove_dir_all(rimg::runtime::state_dir(&self.root()));
    }
}

/// Detaches the overlay mounts under a directory when dropped: for a test
/// that makes containers in a temporary directory of its own (declare it
/// after the directory, so it goes first).
pub struct Unmounts<'a>(pub &'a Path);

impl Drop for Unmounts<'_> {
    fn drop(&mut self) {
        let _ = rimg::container::overlay::unmount_under(self.0);
    }
}

impl Fixture {
    pub fn new() -> Fixture {
        Fixture {
            dir: tempfile::tempdir().expect("creating a temporary directory"),
        }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn store(&self) -> Store {
        Store::open(self.root()).expect("opening the test store")
    }

    /// Runs `rimg --root <root> ARGS…` with no stdin.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, "")
    }

    pub fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Run {
        Run::from(self.run_raw(args, stdin.as_bytes()))
    }

    /// Runs rimg with `stdin` as its input, keeping stdout as bytes.
    pub fn run_raw(&self, args: &[&str], stdin: &[u8]) -> RawRun {
        let mut command = rimg_command(&self.root());
        command.args(args);
        let output = output_with_stdin(&mut command, stdin);
        RawRun {
            stdout: output.stdout,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            code: output.status.code().unwrap_or(-1),
        }
    }

    /// Runs rimg under `umask 022` (set in a shell that then execs it, so
    /// the test process's own umask is untouched) and fails the test unless
    /// it exits 0.
    pub fn ok_with_umask_022(&self, args: &[&str]) {
        let mut command = Command::new("sh");
        command
            .args(["-c", "umask 022; exec \"$@\"", "sh"])
            .arg(rimg_bin())
            .arg("--root")
            .arg(self.root())
            .args(args)
            .env_remove("RIMG_ROOT");
        checked(command, &format!("rimg {args:?} under umask 022"));
    }

    /// Runs rimg and fails the test unless it exits 0; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args);
        assert_eq!(run.code, 0, "rimg {args:?} failed: {run:?}");
        run.stdout
    }

    /// Writes `spec` into the store as an image and names it.
    pub fn add_image(&self, spec: &ImageSpec) -> BuiltImage {
        spec.write(&self.store())
    }
}

/// Runs `cmd` (`what` names it in messages) with no input and fails the
/// test unless it exits 0; returns its stdout.
pub fn checked(mut cmd: Command, what: &str) -> Vec<u8> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {what} (is it installed?): {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs `command` with `stdin` as its input and collects its output.
pub fn output_with_stdin(command: &mut Command, stdin: &[u8]) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the command");
    let mut input = child.stdin.take().expect("the command's stdin");
    let stdin = stdin.to_vec();
    // A writer thread, so a command that stops reading early (a failed
    // load) cannot deadlock the test.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let output = child.wait_with_output().expect("waiting for the command");
    writer.join().expect("stdin writer");
    output
}

/// `rimg --root ROOT` as a Command.
pub fn rimg_command(root: &Path) -> Command {
    rimg_command_of(&rimg_bin(), root)
}

/// [`rimg_command`] for the rimg binary at `bin` (a copy made elsewhere).
pub fn rimg_command_of(bin: &Path, root: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.arg("--root").arg(root);
    isolate(&mut cmd, root);
    cmd
}

/// Cuts a command that runs rimg (directly, or under `script`) off from
/// the user's environment, the one place every test does it: no
/// `RIMG_ROOT`, and a home, Docker config dir, rimg config home and data
/// home of its own under ROOT, absent until something writes them. A test
/// that wants logins sets `DOCKER_CONFIG` again after this.
pub fn isolate(cmd: &mut Command, root: &Path) {
    cmd.env_remove("RIMG_ROOT")
        .env("HOME", root.join("home"))
        .env("DOCKER_CONFIG", root.join("no-docker-config"))
        .env("XDG_CONFIG_HOME", root.join("config-home"))
        .env("XDG_DATA_HOME", root.join("data-home"));
}

/// A synthetic image: layers of small files, a creation time, labels,
/// names. Equal layers give equal blobs, so images can share layers.
#[derive(Clone)]
pub struct ImageSpec {
    pub names: Vec<String>,
    pub layers: Vec<Vec<(String, Vec<u8>)>>,
    pub created: String,
    pub labels: Vec<(String, String)>,
    pub compression: Compression,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

pub struct BuiltImage {
    pub id: Digest,
    pub manifest: Descriptor,
    pub layers: Vec<Digest>,
    pub diff_ids: Vec<Digest>,
}

impl ImageSpec {
    /// An image with `names` and one layer holding a file named after the
    /// first name, so differently named specs differ.
    pub fn new(names: &[&str]) -> ImageSpec {
        let marker = names.first().copied().unwrap_or("untagged");
        ImageSpec {
            names: names.iter().map(|n| n.to_string()).collect(),
            layers: vec![vec![("id".to_string(), marker.as_bytes().to_vec())]],
            created: "2020-01-01T00:00:00Z".to_string(),
            labels: Vec::new(),
            compression: Compression::Gzip,
        }
    }

    pub fn layers(mut self, layers: &[&[(&str, &[u8])]]) -> ImageSpec {
        self.layers = layers
            .iter()
            .map(|files| {
                files
                    .iter()
                    .map(|(p, c)| (p.to_string(), c.to_vec()))
                    .collect()
            })
            .collect();
        self
    }

    pub fn created(mut self, created: &str) -> ImageSpec {
        self.created = created.to_string();
        self
    }

    pub fn label(mut self, key: &str, value: &str) -> ImageSpec {
        self.labels.push((key.to_string(), value.to_string()));
        self
    }

    pub fn compression(mut self, compression: Compression) -> ImageSpec {
        self.compression = compression;
        self
    }

    /// Writes the image into `store` and names it.
    pub fn write(&self, store: &Store) -> BuiltImage {
        let mut layer_descs = Vec::new();
        let mut diff_ids = Vec::new();
        let mut history = Vec::new();
        for (i, files) in self.layers.iter().enumerate() {
            let tar = layer_tar(files);
            diff_ids.push(Digest::of(&tar));
            let (bytes, media) = match self.compression {
                Compression::None => (tar, media_type::OCI_LAYER),
                Compression::Gzip => (gzip(&tar), media_type::OCI_LAYER_GZIP),
                Compression::Zstd => (
                    zstd::encode_all(&tar[..], 3).expect("zstd"),
                    media_type::OCI_LAYER_ZSTD,
                ),
            };
            let digest = store.put_blob(&bytes).expect("storing layer");
            layer_descs.push(Descriptor::new(media, digest, bytes.len() as u64));
            history.push(json!({
                "created": self.created,
                "created_by": format!("/bin/sh -c #(nop) ADD layer {i} in /"),
            }));
        }
        history.push(json!({
            "created": self.created,
            "created_by": "/bin/sh -c #(nop)  CMD [\"sh\"]",
            "empty_layer": true,
        }));
        let labels: serde_json::Map<String, serde_json::Value> = self
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        let config = json!({
            "created": self.created,
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["sh"], "Labels": labels},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": history,
        });
        let config_bytes = serde_json::to_vec(&config).expect("config JSON");
        let config_digest = store.put_blob(&config_bytes).expect("storing config");
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": media_type::OCI_MANIFEST,
            "config": {"mediaType": media_type::OCI_CONFIG, "digest": config_digest, "size": config_bytes.len()},
            "layers": layer_descs,
        });
        let manifest_bytes = serde_json::to_vec(&manifest).expect("manifest JSON");
        let _: Manifest = serde_json::from_slice(&manifest_bytes).expect("valid manifest");
        let manifest_digest = store.put_blob(&manifest_bytes).expect("storing manifest");
        let descriptor = Descriptor::new(
            media_type::OCI_MANIFEST,
            manifest_digest,
            manifest_bytes.len() as u64,
        );
        let names: Vec<Reference> = self
            .names
            .iter()
            .map(|n| Reference::parse_with_default_tag(n).expect("valid test image name"))
            .collect();
        rimg::image::register(store, &descriptor, &names).expect("registering image");
        BuiltImage {
            id: config_digest,
            manifest: descriptor,
            layers: layer_descs.into_iter().map(|d| d.digest).collect(),
            diff_ids,
        }
    }
}

/// A deterministic tar of `files` (fixed mtimes, owners and modes).
pub fn layer_tar(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        builder
            .append_data(&mut header, path, &content[..])
            .expect("tar entry");
    }
    builder.into_inner().expect("tar")
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

// The pull tests' harness: a real registry, images pushed with skopeo, and
// a fault-injecting proxy.
pub mod http;
pub mod layout;
pub mod proxy;
pub mod registry;
