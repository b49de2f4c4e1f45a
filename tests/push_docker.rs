//! `rimg push` read back by a real Docker engine: images loaded from an
//! uncompressed archive, made by `commit`, and pulled (gzip) go up to the
//! real registry, `docker pull` gets them under rimg's image IDs and
//! `docker run` prints a file from them; `rimg pull` into an empty store
//! gets the same IDs too. Behind token auth, rimg pushes with the login
//! `docker login` saved.
//!
//! One dockerd and one registry serve the whole round trip (dockerd takes
//! a while to start). Never skipped: it fails if dockerd cannot start
//! (scripts/test.sh installs docker.io). Docker treats 127.0.0.0/8 as an
//! insecure registry, so the loopback registry needs no daemon setting.

mod common;

use common::archive::{legacy_archive, runnable_layer, LegacyImage};
use common::docker::Dockerd;
use common::registry::{isolated_rimg, skopeo, AuthKind, Registry, PASSWORD, USER};
use common::{checked, output_with_stdin};
use rimg::digest::Digest;
use std::path::{Path, PathBuf};
use std::process::Command;
use tempfile::TempDir;

/// The docker CLI and rimg of one user: both read logins from the same
/// Docker config directory.
struct User<'a> {
    docker: &'a Dockerd,
    config: PathBuf,
}

impl User<'_> {
    fn docker_command(&self, args: &[&str]) -> Command {
        let mut command = self.docker.command(args);
        command.env("DOCKER_CONFIG", &self.config);
        command
    }

    /// Runs docker and fails the test unless it succeeds; returns stdout.
    fn docker(&self, args: &[&str]) -> String {
        let out = checked(self.docker_command(args), &format!("docker {args:?}"));
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Runs rimg on the store at `root` and fails the test unless it
    /// succeeds; returns stdout.
    fn rimg(&self, root: &Path, args: &[&str]) -> String {
        let mut command = isolated_rimg(root, Some(&self.config));
        command.args(args);
        let out = checked(command, &format!("rimg {args:?}"));
        String::from_utf8_lossy(&out).into_owned()
    }
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
    user: &User,
    root: &Path,
    name: &str,
    id: &Digest,
    (file, content): (&str, &str),
) -> String {
    let out = user.rimg(root, &["push", name]);
    user.docker(&["pull", name]);
    let docker_id = user.docker(&["image", "inspect", "--format", "{{.Id}}", name]);
    assert_eq!(docker_id.trim(), id.to_string(), "docker's ID of {name}");
    let printed = user.docker(&["run", "--rm", "--network", "none", name, "/bin/cat", file]);
    assert_eq!(printed, content, "{file} in {name}");

    let fresh = TempDir::new().unwrap();
    user.rimg(fresh.path(), &["pull", name]);
    let pulled = user.rimg(fresh.path(), &["inspect", "--format", "{{.Id}}", name]);
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
    // Its container's overlay mount goes before the directory does.
    let _unmounts = common::Unmounts(work.path());
    let root = work.path().join("root");
    let user = User {
        docker: &docker,
        config: work.path().join("docker-config"),
    };

    // (a) Loaded from an uncompressed archive: the layer is gzipped on
    // the way up, the image ID stays.
    let loaded = registry.image("loaded:1");
    let (path, loaded_id) = archive(work.path(), "loaded\n", &loaded);
    user.rimg(&root, &["load", "-i", path.to_str().unwrap()]);
    let hello = ("/hello.txt", "loaded\n");
    let out = push_and_pull_back(&user, &root, &loaded, &loaded_id, hello);
    assert_eq!(count(&out, ": Pushed"), 1, "{out}");

    // (b) Made by commit on top of it, with the file changed: the new
    // layer goes up, the base layer is mounted from the repository it was
    // pushed to.
    user.rimg(&root, &["create", "--name", "work", &loaded]);
    let rootfs = user.rimg(&root, &["mount", "work"]);
    let changed = Path::new(rootfs.trim_end()).join("hello.txt");
    std::fs::write(changed, "committed\n").unwrap();
    let committed = registry.image("committed:1");
    let committed_id = user.rimg(&root, &["commit", "work", &committed]);
    let committed_id: Digest = committed_id.trim().parse().unwrap();
    let hello = ("/hello.txt", "committed\n");
    let out = push_and_pull_back(&user, &root, &committed, &committed_id, hello);
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
    user.rimg(&root, &["pull", &registry.image("base:1")]);
    let pulled = registry.image("pulled:1");
    user.rimg(&root, &["tag", &registry.image("base:1"), &pulled]);
    let hello = ("/hello.txt", "pulled\n");
    let out = push_and_pull_back(&user, &root, &pulled, &pulled_id, hello);
    assert_eq!(count(&out, ": Mounted from base"), 1, "{out}");

    // (d) Behind token auth: `docker login` saves the login, rimg pushes
    // with it, Docker pulls with it.
    let secure = Registry::start_with(AuthKind::Token);
    let login = ["login", "-u", USER, "--password-stdin", &secure.addr];
    let out = output_with_stdin(&mut user.docker_command(&login), PASSWORD.as_bytes());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let private = secure.image("private/app:1");
    user.rimg(&root, &["tag", &committed, &private]);
    let hello = ("/hello.txt", "committed\n");
    let out = push_and_pull_back(&user, &root, &private, &committed_id, hello);
    assert_eq!(count(&out, ": Pushed"), 2, "{out}");
}
