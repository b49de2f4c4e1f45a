//! The seed tutorials' ways of changing an image, end to end: run a
//! container, change it from inside (a file written through `exec`, a
//! package installed with dpkg in a Debian image), commit it, and a real
//! Docker engine runs the result (`rimg save`, `docker load`, `docker
//! run`). Never skipped: dockerd and debootstrap must be there.

mod common;

use common::docker::Dockerd;
use common::{busybox, debian, Fixture};

/// `rimg save NAME` loaded into Docker.
fn load_into_docker(fx: &Fixture, docker: &Dockerd, name: &str) {
    let archive = fx.dir.path().join("image.tar");
    fx.ok(&["save", "-o", archive.to_str().unwrap(), name]);
    let out = docker.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert!(out.contains(&format!("Loaded image: {name}")), "{out}");
}

#[test]
fn what_runs_in_rimg_and_is_committed_runs_in_docker() {
    let docker = Dockerd::start();

    // docker run --name webserver -d …; docker exec webserver …; docker
    // diff webserver; docker commit webserver nginx:v2
    let fx = Fixture::new();
    busybox::import(&fx, "base", &[]);
    fx.ok(&[
        "run",
        "-d",
        "--name",
        "webserver",
        "base",
        "sh",
        "-c",
        "while true; do sleep 1; done",
    ]);
    fx.ok(&[
        "exec",
        "webserver",
        "sh",
        "-c",
        "mkdir -p /srv && echo '<h1>Hello, Docker!</h1>' > /srv/index.html",
    ]);
    assert_eq!(fx.ok(&["diff", "webserver"]), "A /srv\nA /srv/index.html\n");
    fx.ok(&["commit", "webserver", "nginx:v2"]);
    fx.ok(&["rm", "-f", "webserver"]);
    load_into_docker(&fx, &docker, "nginx:v2");
    let served = docker.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "nginx:v2",
        "cat",
        "/srv/index.html",
    ]);
    assert_eq!(served, "<h1>Hello, Docker!</h1>\n");

    // docker run -t -i debian bash; install a package; exit; docker commit
    // -m "Added hello" -a "Docker Newbee" <container> ouruser/hello:v2
    let fx = Fixture::new();
    let rootfs = debian::rootfs_tar();
    fx.ok(&[
        "import",
        "-c",
        "CMD [\"bash\"]",
        rootfs.to_str().unwrap(),
        "debian:minbase",
    ]);
    let debs = fx.dir.path().join("debs");
    std::fs::create_dir(&debs).unwrap();
    debian::package(&debs, "rimg-hello", "hello from a package");
    let volume = format!("{}:/debs:ro", debs.display());
    let session = fx.run_with_stdin(
        &[
            "run",
            "-i",
            "--name",
            "pkgbox",
            "-v",
            &volume,
            "debian:minbase",
            "bash",
        ],
        "dpkg -i /debs/rimg-hello.deb && rimg-hello\nexit\n",
    );
    assert_eq!(session.code, 0, "{session:?}");
    assert!(
        session.stdout.contains("hello from a package"),
        "{session:?}"
    );
    let diff = fx.ok(&["diff", "pkgbox"]);
    for line in ["A /usr/bin/rimg-hello", "C /var/lib/dpkg/status"] {
        assert!(
            diff.lines().any(|l| l == line),
            "{line} missing from:\n{diff}"
        );
    }
    // Nothing of the runtime's: no mount points, no generated /etc files.
    for path in [
        "/etc/hosts",
        "/etc/hostname",
        "/etc/resolv.conf",
        "/debs",
        "/proc",
        "/sys",
        "/dev",
    ] {
        assert!(!diff.lines().any(|l| &l[2..] == path), "{path} in:\n{diff}");
    }
    fx.ok(&[
        "commit",
        "-m",
        "Added hello",
        "-a",
        "Docker Newbee",
        "pkgbox",
        "ouruser/hello:v2",
    ]);
    load_into_docker(&fx, &docker, "ouruser/hello:v2");
    let ran = docker.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "ouruser/hello:v2",
        "rimg-hello",
    ]);
    assert_eq!(ran, "hello from a package\n");
    let author = docker.ok(&[
        "inspect",
        "--format",
        "{{.Author}} / {{.Comment}}",
        "ouruser/hello:v2",
    ]);
    assert_eq!(author, "Docker Newbee / Added hello\n");
}
