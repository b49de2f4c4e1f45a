//! `rimg build` against `docker build` (Docker 20.10's classic builder,
//! whose output and history the seed tutorials show): the same Dockerfile
//! on the same base image gives the same history lines and runtime
//! config, and the image rimg builds runs in Docker. The seed examples
//! come along: the nginx-style two-liner, one RUN against seven, and a
//! multi-stage build with `--target`.

mod common;

use common::docker::Dockerd;
use common::{busybox, debian, Fixture};
use std::fs;
use std::path::Path;

/// `docker build` with the classic builder; its stdout.
fn docker_build(docker: &Dockerd, dir: &Path, args: &[&str]) -> String {
    let mut cmd = docker.debian_command(&["build"]);
    cmd.args(args).arg(dir).env("DOCKER_BUILDKIT", "0");
    String::from_utf8_lossy(&common::checked(cmd, &format!("docker build {args:?}"))).into_owned()
}

fn docker_out(docker: &Dockerd, args: &[&str]) -> String {
    String::from_utf8_lossy(&common::checked(
        docker.debian_command(args),
        &format!("docker {args:?}"),
    ))
    .into_owned()
}

/// History lines with the content hash of COPY/ADD taken out: Docker's is
/// a tarsum of its own, rimg's a digest of the files' contents.
fn history(lines: &str) -> Vec<String> {
    lines
        .lines()
        .map(
            |line| match line.find(" file:").or_else(|| line.find(" dir:")) {
                Some(at) => {
                    let rest = &line[at + 1..];
                    let kind_end = rest.find(':').unwrap();
                    let hash_end = rest.find(' ').unwrap_or(rest.len());
                    format!(
                        "{} {}:<hash>{}",
                        &line[..at],
                        &rest[..kind_end],
                        &rest[hash_end..]
                    )
                }
                None => line.to_string(),
            },
        )
        .collect()
}

/// Only the lines of `docker build`'s output that do not name IDs.
fn steps(output: &str) -> Vec<String> {
    output
        .lines()
        .filter(|l| l.starts_with("Step ") || *l == " ---> Using cache")
        .map(str::to_string)
        .collect()
}

#[test]
fn rimg_builds_what_docker_builds() {
    let docker = Dockerd::start();
    let fx = Fixture::new();
    busybox::import(&fx, "base", &[]);
    let base = fx.dir.path().join("base.tar");
    fx.ok(&["save", "-o", base.to_str().unwrap(), "base"]);
    docker_out(&docker, &["load", "-i", base.to_str().unwrap()]);

    let dir = fx.dir.path().join("ctx");
    fs::create_dir_all(dir.join("site")).unwrap();
    fs::write(dir.join("site/index.html"), "<h1>Hello, Docker!</h1>\n").unwrap();
    fs::write(dir.join("site/about.html"), "about\n").unwrap();
    fs::write(dir.join("notes.txt"), "notes\n").unwrap();
    fs::write(
        dir.join("Dockerfile"),
        "FROM base AS builder\n\
         RUN echo built > /artifact\n\
         FROM base\n\
         LABEL maintainer=\"rimg <rimg@example.com>\" version=1\n\
         ARG GREETING=hello\n\
         ENV APP=/srv PATH=/srv/bin:$PATH\n\
         WORKDIR /srv\n\
         COPY site/index.html /srv/html/\n\
         COPY site ./site\n\
         COPY --from=builder /artifact /srv/\n\
         RUN echo \"$GREETING from $APP\" > /srv/greeting\n\
         RUN [\"/bin/sh\", \"-c\", \"echo exec form > /srv/exec\"]\n\
         USER app\n\
         EXPOSE 8080 53/udp\n\
         VOLUME [\"/data\"]\n\
         STOPSIGNAL SIGQUIT\n\
         ENTRYPOINT [\"/bin/sh\", \"-c\"]\n\
         CMD [\"cat /srv/greeting /srv/artifact /srv/html/index.html\"]\n",
    )
    .unwrap();
    let docker_output = docker_build(&docker, &dir, &["-t", "same:1"]);
    let rimg_output = fx.ok(&["build", "-t", "same:1", dir.to_str().unwrap()]);
    assert_eq!(
        steps(&rimg_output),
        steps(&docker_output),
        "{rimg_output}\n{docker_output}"
    );

    let format = [
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}",
        "same:1",
    ];
    assert_eq!(
        history(&fx.ok(&format)),
        history(&docker_out(&docker, &format)),
    );
    for field in [
        "Env",
        "Cmd",
        "Entrypoint",
        "WorkingDir",
        "User",
        "ExposedPorts",
        "Volumes",
        "Labels",
        "StopSignal",
        "OnBuild",
    ] {
        let args = [
            "inspect",
            "-f",
            &format!("{{{{json .Config.{field}}}}}"),
            "same:1",
        ];
        assert_eq!(fx.ok(&args), docker_out(&docker, &args), "Config.{field}");
    }
    let layers = ["inspect", "-f", "{{len .RootFS.Layers}}", "same:1"];
    assert_eq!(fx.ok(&layers), docker_out(&docker, &layers));

    // The second build is all cache, on both sides.
    let again_docker = docker_build(&docker, &dir, &["-t", "same:1"]);
    let again_rimg = fx.ok(&["build", "-t", "same:1", dir.to_str().unwrap()]);
    assert_eq!(steps(&again_rimg), steps(&again_docker));

    // What rimg built runs in Docker.
    let archive = fx.dir.path().join("built.tar");
    fx.ok(&["save", "-o", archive.to_str().unwrap(), "same:1"]);
    docker_out(&docker, &["rmi", "same:1"]);
    docker_out(&docker, &["load", "-i", archive.to_str().unwrap()]);
    let ran = docker_out(&docker, &["run", "--rm", "--network", "none", "same:1"]);
    assert_eq!(ran, "hello from /srv\nbuilt\n<h1>Hello, Docker!</h1>\n");
}

#[test]
fn the_seed_examples() {
    let docker = Dockerd::start();
    let fx = Fixture::new();
    busybox::import(&fx, "nginx", &[]);
    let dir = fx.dir.path().join("ctx");
    fs::create_dir_all(&dir).unwrap();

    // FROM nginx / RUN echo '<h1>Hello, Docker!</h1>' > …/index.html
    fs::write(
        dir.join("Dockerfile"),
        "FROM nginx\nRUN mkdir -p /usr/share/nginx/html && echo '<h1>Hello, Docker!</h1>' > /usr/share/nginx/html/index.html\n",
    )
    .unwrap();
    let out = fx.ok(&["build", "-t", "nginx:v3", dir.to_str().unwrap()]);
    assert!(out.starts_with("Step 1/2 : FROM nginx\n"), "{out}");
    assert!(out.ends_with("Successfully tagged nginx:v3\n"), "{out}");
    assert_eq!(
        fx.ok(&[
            "run",
            "--rm",
            "nginx:v3",
            "cat",
            "/usr/share/nginx/html/index.html"
        ]),
        "<h1>Hello, Docker!</h1>\n"
    );

    // Seven RUNs make seven layers; one RUN joined with && makes one.
    let seven = "FROM nginx\nRUN mkdir /a\nRUN echo 1 > /a/1\nRUN echo 2 > /a/2\nRUN echo 3 > /a/3\nRUN echo 4 > /a/4\nRUN echo 5 > /a/5\nRUN rm /a/1\n";
    let one = "FROM nginx\nRUN set -x; mkdir /a \\\n    && echo 2 > /a/2 \\\n    && echo 3 > /a/3 \\\n    && echo 4 > /a/4 \\\n    && echo 5 > /a/5\n";
    let count = |dockerfile: &str, tag: &str| {
        fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
        fx.ok(&["build", "-t", tag, dir.to_str().unwrap()]);
        let base: usize = fx
            .ok(&["inspect", "-f", "{{len .RootFS.Layers}}", "nginx"])
            .trim()
            .parse()
            .unwrap();
        let built: usize = fx
            .ok(&["inspect", "-f", "{{len .RootFS.Layers}}", tag])
            .trim()
            .parse()
            .unwrap();
        built - base
    };
    assert_eq!(count(seven, "seven:1"), 7);
    assert_eq!(count(one, "one:1"), 1);
    assert_eq!(fx.ok(&["run", "--rm", "one:1", "ls", "/a"]), "2\n3\n4\n5\n");

    // A failing RUN: Docker's message on both sides; the classic builder
    // exits with the command's status, rimg with 1 as Docker's BuildKit
    // builder does.
    let base = fx.dir.path().join("nginx.tar");
    fx.ok(&["save", "-o", base.to_str().unwrap(), "nginx"]);
    docker_out(&docker, &["load", "-i", base.to_str().unwrap()]);
    fs::write(dir.join("Dockerfile"), "FROM nginx\nRUN echo out; exit 3\n").unwrap();
    let rimg = fx.run(&["build", dir.to_str().unwrap()]);
    let mut cmd = docker.debian_command(&["build"]);
    let docker_failed = cmd.arg(&dir).env("DOCKER_BUILDKIT", "0").output().unwrap();
    let docker_stderr = String::from_utf8_lossy(&docker_failed.stderr);
    assert_eq!(docker_failed.status.code(), Some(3), "{docker_stderr}");
    assert_eq!(rimg.code, 1, "{rimg:?}");
    let message = "The command '/bin/sh -c echo out; exit 3' returned a non-zero code: 3";
    assert!(docker_stderr.contains(message), "{docker_stderr}");
    assert!(rimg.stderr.contains(message), "{rimg:?}");

    // A multi-stage build stopped at a stage with --target, run by Docker.
    fs::write(
        dir.join("Dockerfile"),
        "FROM nginx as builder\nRUN echo 'binary' > /app\nFROM nginx\nCOPY --from=0 /app /app\nCMD [\"cat\", \"/app\"]\n",
    )
    .unwrap();
    let target = fx.ok(&[
        "build",
        "--target",
        "builder",
        "-t",
        "app:builder",
        dir.to_str().unwrap(),
    ]);
    assert!(
        target.contains("Step 2/2 : RUN echo 'binary' > /app"),
        "{target}"
    );
    // `--output type=docker,dest=FILE` writes what `docker load` reads.
    let archive = fx.dir.path().join("app.tar");
    let output = format!("type=docker,dest={}", archive.display());
    fx.ok(&[
        "build",
        "-t",
        "app:final",
        "--output",
        &output,
        dir.to_str().unwrap(),
    ]);
    docker_out(&docker, &["load", "-i", archive.to_str().unwrap()]);
    assert_eq!(
        docker_out(&docker, &["run", "--rm", "--network", "none", "app:final"]),
        "binary\n"
    );
}

#[test]
fn a_debian_image_with_a_package_a_user_and_their_files() {
    let docker = Dockerd::start();
    let fx = Fixture::new();
    let rootfs = debian::rootfs_tar();
    fx.ok(&[
        "import",
        "-c",
        "CMD [\"bash\"]",
        rootfs.to_str().unwrap(),
        "debian:minbase",
    ]);
    let dir = fx.dir.path().join("ctx");
    fs::create_dir_all(dir.join("debs")).unwrap();
    debian::package(&dir.join("debs"), "rimg-hello", "hello from a package");
    fs::write(
        dir.join("app.sh"),
        "#!/bin/sh\necho \"$(id -un) runs $(rimg-hello)\"\n",
    )
    .unwrap();
    fs::write(
        dir.join("Dockerfile"),
        "FROM debian:minbase\n\
         RUN --mount=type=bind,source=debs,target=/debs dpkg -i /debs/rimg-hello.deb\n\
         RUN useradd --create-home app\n\
         WORKDIR /home/app\n\
         COPY --chown=app:app --chmod=755 app.sh ./\n\
         USER app\n\
         CMD [\"./app.sh\"]\n",
    )
    .unwrap();
    let out = fx.ok(&["build", "-t", "deb:1", dir.to_str().unwrap()]);
    assert!(out.ends_with("Successfully tagged deb:1\n"), "{out}");
    assert_eq!(
        fx.ok(&["run", "--rm", "deb:1"]),
        "app runs hello from a package\n"
    );
    assert_eq!(
        fx.ok(&["run", "--rm", "deb:1", "stat", "-c", "%U:%G %a", "app.sh"]),
        "app:app 755\n"
    );
    // The bind mount left nothing behind; dpkg's database has the package.
    let diffs = fx.ok(&[
        "run",
        "--rm",
        "deb:1",
        "sh",
        "-c",
        "ls -d /debs 2>&1; dpkg -s rimg-hello | head -2",
    ]);
    assert!(diffs.contains("No such file or directory"), "{diffs}");
    assert!(diffs.contains("Status: install ok installed"), "{diffs}");
    let archive = fx.dir.path().join("deb.tar");
    fx.ok(&["save", "-o", archive.to_str().unwrap(), "deb:1"]);
    docker_out(&docker, &["load", "-i", archive.to_str().unwrap()]);
    assert_eq!(
        docker_out(&docker, &["run", "--rm", "--network", "none", "deb:1"]),
        "app runs hello from a package\n"
    );
}
