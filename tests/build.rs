//! `rimg build` end to end with a real OCI runtime (runc), on a busybox
//! base imported in each test's store: instructions, the classic output,
//! the cache, multi-stage builds, contexts (directory, `-f`, stdin
//! Dockerfile and tarballs, a tarball URL, a git repository served by
//! `git daemon`), `.dockerignore`, reproducible builds and hostile input.

mod common;

use common::consistency::assert_consistent;
use common::{busybox, gzip, http, Fixture};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn fixture() -> Fixture {
    let fx = Fixture::new();
    busybox::import(&fx, "base", &[]);
    fx
}

/// A context directory with `files` (path, contents) in it.
fn context(fx: &Fixture, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = fx.dir.path().join(name);
    for (path, contents) in files {
        let path = dir.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, contents).unwrap();
    }
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn build(fx: &Fixture, dir: &Path, extra: &[&str]) -> common::Run {
    let mut args = vec!["build"];
    args.extend(extra);
    args.push(dir.to_str().unwrap());
    fx.run(&args)
}

fn build_ok(fx: &Fixture, dir: &Path, extra: &[&str]) -> String {
    let run = build(fx, dir, extra);
    assert_eq!(run.code, 0, "build failed: {run:?}");
    run.stdout
}

fn created_by(fx: &Fixture, image: &str) -> Vec<String> {
    fx.ok(&["history", "--no-trunc", "--format", "{{.CreatedBy}}", image])
        .lines()
        .map(str::to_string)
        .collect()
}

/// No build left its working directories behind.
fn assert_no_build_dirs(fx: &Fixture) {
    let builds = fx.root().join("builds");
    let left: Vec<_> = fs::read_dir(&builds)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn instructions_classic_output_and_history() {
    let fx = fixture();
    let dir = context(
        &fx,
        "ctx",
        &[
            ("a.txt", "hello\n"),
            ("d/x", "x\n"),
            (
                "Dockerfile",
                "FROM base\n\
                 LABEL maintainer=\"me <me@example.com>\"\n\
                 ARG V=1\n\
                 ENV A=b\n\
                 RUN echo \"hi $A $V\" > /hi && cat /hi\n\
                 COPY a.txt /app/\n\
                 COPY d /app/d\n\
                 WORKDIR /app\n\
                 USER app\n\
                 EXPOSE 80/tcp\n\
                 VOLUME /data\n\
                 STOPSIGNAL SIGTERM\n\
                 ENTRYPOINT [\"cat\"]\n\
                 CMD [\"/hi\"]\n",
            ),
        ],
    );
    let out = build_ok(&fx, &dir, &["-t", "app:1"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Step 1/14 : FROM base");
    assert!(
        lines[1].starts_with(" ---> ") && lines[1].len() == 18,
        "{out}"
    );
    assert_eq!(
        lines[2],
        "Step 2/14 : LABEL maintainer=\"me <me@example.com>\""
    );
    let run_at = lines
        .iter()
        .position(|l| l.starts_with("Step 5/14 : RUN"))
        .unwrap();
    assert!(lines[run_at + 1].starts_with(" ---> Running in "), "{out}");
    assert_eq!(lines[run_at + 2], "hi b 1");
    assert!(lines[run_at + 3].starts_with("Removing intermediate container "));
    let id = fx.ok(&["images", "-q", "app:1"]);
    assert_eq!(
        lines[lines.len() - 2],
        format!("Successfully built {}", id.trim())
    );
    assert_eq!(lines[lines.len() - 1], "Successfully tagged app:1");

    // The image runs as built: entrypoint, cmd, user, workdir.
    assert_eq!(fx.ok(&["run", "--rm", "app:1"]), "hi b 1\n");
    assert_eq!(
        fx.ok(&[
            "run",
            "--rm",
            "--entrypoint",
            "sh",
            "app:1",
            "-c",
            "id -u; pwd; cat a.txt d/x"
        ]),
        "1000\n/app\nhello\nx\n"
    );
    let config = fx.ok(&["inspect", "-f", "{{json .Config}}", "app:1"]);
    for wanted in [
        "\"User\":\"app\"",
        "\"ExposedPorts\":{\"80/tcp\":{}}",
        "\"WorkingDir\":\"/app\"",
        "\"Entrypoint\":[\"cat\"]",
        "\"Cmd\":[\"/hi\"]",
        "\"Volumes\":{\"/data\":{}}",
        "\"StopSignal\":\"SIGTERM\"",
        // `{{json}}` in a template does not escape HTML, as Docker's CLI.
        "\"maintainer\":\"me <me@example.com>\"",
    ] {
        assert!(config.contains(wanted), "{wanted} in {config}");
    }

    // The history as Docker's classic builder writes it, newest first.
    let history = created_by(&fx, "app:1");
    assert_eq!(history[0], "/bin/sh -c #(nop)  CMD [\"/hi\"]");
    assert_eq!(history[1], "/bin/sh -c #(nop)  ENTRYPOINT [\"cat\"]");
    assert_eq!(history[2], "/bin/sh -c #(nop)  STOPSIGNAL SIGTERM");
    assert_eq!(history[3], "/bin/sh -c #(nop)  VOLUME [/data]");
    assert_eq!(history[4], "/bin/sh -c #(nop)  EXPOSE 80/tcp");
    assert_eq!(history[5], "/bin/sh -c #(nop)  USER app");
    assert_eq!(history[6], "/bin/sh -c #(nop) WORKDIR /app");
    assert!(
        history[7].starts_with("/bin/sh -c #(nop) COPY dir:"),
        "{history:?}"
    );
    assert!(history[7].ends_with(" in /app/d "), "{history:?}");
    assert!(
        history[8].starts_with("/bin/sh -c #(nop) COPY file:"),
        "{history:?}"
    );
    assert_eq!(
        history[9],
        "|1 V=1 /bin/sh -c echo \"hi $A $V\" > /hi && cat /hi"
    );
    assert_eq!(history[10], "/bin/sh -c #(nop)  ENV A=b");
    assert_eq!(history[11], "/bin/sh -c #(nop)  ARG V=1");
    assert_eq!(
        history[12],
        "/bin/sh -c #(nop)  LABEL maintainer=me <me@example.com>"
    );
    // Only RUN and the two COPYs made layers; WORKDIR's directory existed.
    let layers = fx.ok(&["inspect", "-f", "{{len .RootFS.Layers}}", "app:1"]);
    let base_layers = fx.ok(&["inspect", "-f", "{{len .RootFS.Layers}}", "base"]);
    assert_eq!(
        layers.trim().parse::<usize>().unwrap(),
        base_layers.trim().parse::<usize>().unwrap() + 3
    );
    assert_no_build_dirs(&fx);
    assert_consistent(&fx.root(), "after a build");
}

#[test]
fn the_cache_follows_contents_not_times() {
    let fx = fixture();
    let dir = context(
        &fx,
        "ctx",
        &[
            ("one", "1\n"),
            ("two", "2\n"),
            (
                "Dockerfile",
                "FROM base\nRUN echo first > /first\nCOPY one /one\nRUN cat /one > /copy\nCOPY two /two\nRUN echo last\n",
            ),
        ],
    );
    let first = build_ok(&fx, &dir, &["-t", "c:1"]);
    assert_eq!(first.matches("Using cache").count(), 0, "{first}");
    let id = fx.ok(&["images", "-q", "c:1"]);

    // Unchanged: every step from the cache, the same image, no container.
    let again = build_ok(&fx, &dir, &["-t", "c:1"]);
    assert_eq!(again.matches("Using cache").count(), 5, "{again}");
    assert!(!again.contains("Running in"), "{again}");
    assert_eq!(fx.ok(&["images", "-q", "c:1"]), id);

    // A new mtime alone changes nothing.
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
    fs::File::options()
        .write(true)
        .open(dir.join("two"))
        .unwrap()
        .set_modified(later)
        .unwrap();
    let touched = build_ok(&fx, &dir, &["-t", "c:1"]);
    assert_eq!(touched.matches("Using cache").count(), 5, "{touched}");

    // A changed file: the steps before its COPY are cached, the rest run.
    fs::write(dir.join("two"), "two\n").unwrap();
    let changed = build_ok(&fx, &dir, &["-t", "c:1"]);
    assert_eq!(changed.matches("Using cache").count(), 3, "{changed}");
    assert!(changed.contains("Running in"), "{changed}");

    // --no-cache runs everything again.
    let fresh = build_ok(&fx, &dir, &["--no-cache", "-t", "c:1"]);
    assert_eq!(fresh.matches("Using cache").count(), 0, "{fresh}");

    // The cache is build cache in `system df`, and `builder prune` drops it.
    let df = fx.ok(&[
        "system",
        "df",
        "--format",
        "{{.Type}} {{.TotalCount}} {{.Active}}",
    ]);
    assert!(
        df.lines()
            .any(|l| l.starts_with("Build Cache ") && l != "Build Cache 0 0"),
        "{df}"
    );
    let pruned = fx.ok(&["builder", "prune", "-f"]);
    assert!(
        pruned.starts_with("Deleted build cache objects:"),
        "{pruned}"
    );
    let after = build_ok(&fx, &dir, &["-t", "c:1"]);
    assert_eq!(after.matches("Using cache").count(), 0, "{after}");
    assert_eq!(fx.ok(&["run", "--rm", "c:1", "cat", "/two"]), "two\n");
    assert_consistent(&fx.root(), "after builder prune");
}

#[test]
fn a_failing_run_tags_nothing_and_keeps_the_finished_steps() {
    let fx = fixture();
    let dir = context(
        &fx,
        "ctx",
        &[(
            "Dockerfile",
            "FROM base\nRUN echo done > /done\nRUN echo out; exit 3\n",
        )],
    );
    let failed = build(&fx, &dir, &["-t", "broken:1"]);
    // Exit status 1, as Docker's BuildKit builder; the command's is in the
    // message.
    assert_eq!(failed.code, 1, "{failed:?}");
    assert!(
        failed
            .stderr
            .contains("The command '/bin/sh -c echo out; exit 3' returned a non-zero code: 3"),
        "{failed:?}"
    );
    assert!(failed.stdout.contains("out\n"), "{failed:?}");
    assert!(fx.run(&["images", "-q", "broken:1"]).stdout.is_empty());
    assert_no_build_dirs(&fx);
    assert_consistent(&fx.root(), "after a failed build");

    fs::write(
        dir.join("Dockerfile"),
        "FROM base\nRUN echo done > /done\nRUN true\n",
    )
    .unwrap();
    let fixed = build_ok(&fx, &dir, &["-t", "broken:1"]);
    assert_eq!(fixed.matches("Using cache").count(), 1, "{fixed}");
}

#[test]
fn multi_stage_targets_copy_from_and_scratch() {
    let fx = fixture();
    let dir = context(
        &fx,
        "ctx",
        &[(
            "Dockerfile",
            "FROM base AS builder\n\
             RUN echo built > /artifact\n\
             FROM base AS unused\n\
             RUN echo never; exit 1\n\
             FROM scratch\n\
             COPY --from=builder /artifact /artifact\n\
             COPY --from=0 /bin/busybox /busybox\n\
             COPY --from=base /etc/os-release /os-release\n\
             CMD [\"/busybox\", \"cat\", \"/artifact\", \"/os-release\"]\n",
        )],
    );
    let out = build_ok(&fx, &dir, &["-t", "ms:1"]);
    // The unused stage does not run (BuildKit's skipping), so its steps are
    // not counted either.
    assert!(!out.contains("never"), "{out}");
    assert!(
        out.starts_with("Step 1/7 : FROM base AS builder\n"),
        "{out}"
    );
    assert!(out.contains("Step 3/7 : FROM scratch\n ---> \n"), "{out}");
    let shown = fx.ok(&["run", "--rm", "ms:1"]);
    assert_eq!(shown, "built\nNAME=\"rimg test busybox\"\nID=busybox\n");
    let history = created_by(&fx, "ms:1");
    assert_eq!(history.len(), 4, "{history:?}");

    let target = build_ok(&fx, &dir, &["--target", "builder", "-t", "ms:builder"]);
    assert!(target.contains("Step 2/2 : RUN echo built"), "{target}");
    assert_eq!(
        fx.ok(&["run", "--rm", "ms:builder", "cat", "/artifact"]),
        "built\n"
    );
    let missing = build(&fx, &dir, &["--target", "nope"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing
            .stderr
            .contains("failed to reach build target nope in Dockerfile"),
        "{missing:?}"
    );
}

#[test]
fn build_args_onbuild_heredocs_and_shell() {
    let fx = fixture();
    busybox::import(&fx, "parent", &["ONBUILD RUN echo triggered > /trigger"]);
    let dir = context(
        &fx,
        "ctx",
        &[(
            "Dockerfile",
            "ARG BASE=parent\n\
             FROM $BASE\n\
             ARG WHO=world\n\
             ARG TARGETARCH\n\
             RUN echo \"hello $WHO on $TARGETARCH\" > /greeting\n\
             RUN <<EOF\n\
             echo from a heredoc > /heredoc\n\
             EOF\n\
             RUN cat <<EOF > /input\n\
             line $WHO\n\
             EOF\n\
             SHELL [\"/bin/sh\", \"-ec\"]\n\
             RUN test -f /trigger\n",
        )],
    );
    let out = build_ok(
        &fx,
        &dir,
        &[
            "--build-arg",
            "WHO=rimg",
            "--build-arg",
            "UNUSED=1",
            "-t",
            "args:1",
        ],
    );
    assert!(out.contains("# Executing 1 build trigger"), "{out}");
    assert!(
        out.contains("[Warning] One or more build-args [UNUSED] were not consumed"),
        "{out}"
    );
    let arch = fx.ok(&["inspect", "-f", "{{.Architecture}}", "base"]);
    assert_eq!(
        fx.ok(&[
            "run",
            "--rm",
            "args:1",
            "cat",
            "/greeting",
            "/heredoc",
            "/input",
            "/trigger"
        ]),
        format!(
            "hello rimg on {}\nfrom a heredoc\nline rimg\ntriggered\n",
            arch.trim()
        )
    );
    // The triggers ran once: the child has none left.
    assert_eq!(
        fx.ok(&["inspect", "-f", "{{json .Config.OnBuild}}", "args:1"]),
        "null\n"
    );
}

#[test]
fn contexts_from_stdin_files_and_tarballs() {
    let fx = fixture();
    // `docker build - < Dockerfile`: no context.
    let out = fx.run_with_stdin(
        &["build", "-t", "stdin:1", "-"],
        "FROM base\nRUN echo piped > /piped\n",
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        fx.ok(&["run", "--rm", "stdin:1", "cat", "/piped"]),
        "piped\n"
    );

    // `-f` from elsewhere, and `-f -`.
    let dir = context(&fx, "ctx", &[("data", "context data\n")]);
    let elsewhere = fx.dir.path().join("Dockerfile.other");
    fs::write(&elsewhere, "FROM base\nCOPY data /data\n").unwrap();
    build_ok(&fx, &dir, &["-f", elsewhere.to_str().unwrap(), "-t", "f:1"]);
    assert_eq!(
        fx.ok(&["run", "--rm", "f:1", "cat", "/data"]),
        "context data\n"
    );
    let mut args = vec!["build", "-f", "-", "-t", "f:2"];
    args.push(dir.to_str().unwrap());
    let piped = fx.run_with_stdin(&args, "FROM base\nCOPY data /piped-data\n");
    assert_eq!(piped.code, 0, "{piped:?}");

    // A context tarball on stdin, plain, gzip and xz compressed.
    let mut tar = tar::Builder::new(Vec::new());
    for (path, data) in [
        ("Dockerfile", &b"FROM base\nCOPY sub/file /file\n"[..]),
        ("sub/file", b"from the tarball\n"),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, path, data).unwrap();
    }
    let tar = tar.into_inner().unwrap();
    let xz = {
        let mut child = Command::new("xz")
            .arg("-c")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&tar).unwrap();
        child.wait_with_output().unwrap().stdout
    };
    for (name, bytes) in [("plain", tar.clone()), ("gzip", gzip(&tar)), ("xz", xz)] {
        let tag = format!("tarball:{name}");
        let run = fx.run_raw(&["build", "-t", &tag, "-"], &bytes);
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        assert_eq!(
            fx.ok(&["run", "--rm", &tag, "cat", "/file"]),
            "from the tarball\n"
        );
    }

    // A tarball URL, served over HTTP on loopback.
    let served = gzip(&tar);
    let server = http::Server::start(move |mut stream| {
        if http::accept_request(&stream).is_some() {
            http::respond(&mut stream, "200 OK", &[], &served);
        }
    });
    let url = format!("http://{}/context.tar.gz", server.addr());
    let run = fx.run(&["build", "-t", "url:1", &url]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        fx.ok(&["run", "--rm", "url:1", "cat", "/file"]),
        "from the tarball\n"
    );
    assert_no_build_dirs(&fx);
}

#[test]
fn a_git_repository_served_by_git_daemon() {
    let fx = fixture();
    let repos = fx.dir.path().join("repos");
    let work = repos.join("app.git");
    fs::create_dir_all(work.join("sub")).unwrap();
    fs::write(
        work.join("sub/Dockerfile"),
        "FROM base\nCOPY hello /hello\n",
    )
    .unwrap();
    fs::write(work.join("sub/hello"), "from git\n").unwrap();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(&work)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "context"]);
    git(&["branch", "release"]);
    fs::write(work.join("sub/hello"), "from main\n").unwrap();
    git(&["commit", "-qam", "changed on main"]);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    // git-daemon itself, not `git daemon`, which would leave it running
    // when killed.
    let exec_path = Command::new("git").arg("--exec-path").output().unwrap();
    let exec_path = String::from_utf8(exec_path.stdout).unwrap();
    let mut daemon = Command::new(Path::new(exec_path.trim()).join("git-daemon"))
        .args([
            "--reuseaddr",
            "--export-all",
            "--listen=127.0.0.1",
            &format!("--port={port}"),
            &format!("--base-path={}", repos.display()),
        ])
        .arg(&repos)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("git://127.0.0.1:{port}/app.git#release:sub");
    let mut run = fx.run(&["build", "-t", "git:1", &url]);
    for _ in 0..50 {
        if run.code == 0 || !run.stderr.contains("error fetching") {
            break;
        }
        // The daemon may not listen yet.
        std::thread::sleep(std::time::Duration::from_millis(100));
        run = fx.run(&["build", "-t", "git:1", &url]);
    }
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        fx.ok(&["run", "--rm", "git:1", "cat", "/hello"]),
        "from git\n"
    );
}

#[test]
fn dockerignore_rules() {
    let fx = fixture();
    let dir = context(
        &fx,
        "ctx",
        &[
            ("keep.txt", "k"),
            ("skip.log", "s"),
            ("logs/important.log", "i"),
            ("logs/deep/other.log", "o"),
            ("secret/key", "no"),
            (".dockerignore", "**/*.log\n!logs/important.log\nsecret\n"),
            ("Dockerfile", "FROM base\nCOPY . /ctx\n"),
            ("Special.Dockerfile", "FROM base\nCOPY . /ctx\n"),
            ("Special.Dockerfile.dockerignore", "keep.txt\n"),
        ],
    );
    build_ok(&fx, &dir, &["-t", "ign:1"]);
    let listed = fx.ok(&[
        "run",
        "--rm",
        "ign:1",
        "sh",
        "-c",
        "cd /ctx && find . -type f | sort",
    ]);
    // busybox has no find applet linked: list with ls instead when absent.
    let listed = if listed.is_empty() {
        fx.ok(&["run", "--rm", "ign:1", "ls", "-R", "/ctx"])
    } else {
        listed
    };
    assert!(listed.contains("keep.txt"), "{listed}");
    assert!(listed.contains("important.log"), "{listed}");
    assert!(!listed.contains("skip.log"), "{listed}");
    assert!(!listed.contains("other.log"), "{listed}");
    assert!(!listed.contains("key"), "{listed}");
    // An ignored file cannot be named either.
    fs::write(dir.join("Dockerfile"), "FROM base\nCOPY secret/key /key\n").unwrap();
    let refused = build(&fx, &dir, &[]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.contains("excluded by .dockerignore"),
        "{refused:?}"
    );
    // The Dockerfile's own ignore file wins over the context's.
    let special = dir.join("Special.Dockerfile");
    build_ok(&fx, &dir, &["-f", special.to_str().unwrap(), "-t", "ign:2"]);
    let listed = fx.ok(&["run", "--rm", "ign:2", "ls", "-R", "/ctx"]);
    assert!(!listed.contains("keep.txt"), "{listed}");
    assert!(
        listed.contains("skip.log") && listed.contains("key"),
        "{listed}"
    );
}

#[test]
fn source_date_epoch_builds_the_same_image_in_two_stores() {
    // Two stores with the same base image (as two machines pulling it).
    let first = fixture();
    let base = first.dir.path().join("base.tar");
    first.ok(&["save", "-o", base.to_str().unwrap(), "base"]);
    let second = Fixture::new();
    second.ok(&["load", "-i", base.to_str().unwrap()]);
    let mut ids = Vec::new();
    for fx in [&first, &second] {
        let dir = context(
            fx,
            "ctx",
            &[
                ("file", "same\n"),
                (
                    "Dockerfile",
                    "FROM base\nCOPY file /file\nRUN echo made > /made\nCMD [\"cat\", \"/made\"]\n",
                ),
            ],
        );
        build_ok(
            fx,
            &dir,
            &[
                "--build-arg",
                "SOURCE_DATE_EPOCH=1700000000",
                "-t",
                "repro:1",
            ],
        );
        let created = fx.ok(&["inspect", "-f", "{{.Created}}", "repro:1"]);
        assert_eq!(created, "2023-11-14T22:13:20Z\n");
        ids.push(fx.ok(&["inspect", "-f", "{{.Id}} {{.RootFS.Layers}}", "repro:1"]));
        // Past a second, so that times taken from the clock would differ.
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    assert_eq!(ids[0], ids[1]);
}

#[test]
fn add_extracts_local_archives_and_copy_keeps_them() {
    let fx = fixture();
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(6);
    header.set_mode(0o600);
    header.set_cksum();
    tar.append_data(&mut header, "inner/file", &b"inside"[..])
        .unwrap();
    let tar = tar.into_inner().unwrap();
    let dir = context(&fx, "ctx", &[("Dockerfile", "FROM base\nADD a.tar.gz /x/\nCOPY a.tar.gz /y/\nCOPY --chown=app:staff --chmod=640 Dockerfile /owned\n")]);
    fs::write(dir.join("a.tar.gz"), gzip(&tar)).unwrap();
    build_ok(&fx, &dir, &["-t", "add:1"]);
    assert_eq!(
        fx.ok(&["run", "--rm", "add:1", "cat", "/x/inner/file"]),
        "inside"
    );
    assert_eq!(fx.ok(&["run", "--rm", "add:1", "ls", "/y"]), "a.tar.gz\n");
    assert_eq!(
        fx.ok(&["run", "--rm", "add:1", "stat", "-c", "%u:%g %a", "/owned"]),
        "1000:50 640\n"
    );
}

/// A step's layer records the owners the container saw, with or without
/// root (rimg without root recorded the files' host owners, the caller's
/// and its subordinate IDs, so an image built rootless ran elsewhere with
/// files owned by uid 1002 or 166535).
#[test]
fn a_run_steps_layer_records_the_owners_inside_the_container() {
    let fx = fixture();
    let dir = context(
        &fx,
        "ctx",
        &[(
            "Dockerfile",
            "FROM base\nRUN echo > /by-root && mkdir /app && chown app:staff /app && \
             su app -c 'echo > /app/by-app'\n",
        )],
    );
    build_ok(&fx, &dir, &["-t", "owners:1"]);
    let layers = fx.ok(&["inspect", "-f", "{{json .RootFS.Layers}}", "owners:1"]);
    let layers: Vec<String> = serde_json::from_str(&layers).unwrap();
    // A built layer is stored uncompressed: its blob digest is its diff ID.
    let top: rimg::digest::Digest = layers.last().unwrap().parse().unwrap();
    let blob = fs::read(fx.store().blob_path(&top)).unwrap();
    let mut owners = Vec::new();
    for entry in tar::Archive::new(&blob[..]).entries().unwrap() {
        let entry = entry.unwrap();
        let header = entry.header();
        owners.push((
            String::from_utf8_lossy(&entry.path_bytes()).into_owned(),
            header.uid().unwrap(),
            header.gid().unwrap(),
        ));
    }
    owners.sort();
    assert_eq!(
        owners,
        [
            ("app/".to_string(), 1000, 50),
            ("app/by-app".to_string(), 1000, 1000),
            ("by-root".to_string(), 0, 0),
        ]
    );
}

#[test]
fn hostile_contexts_and_dockerfiles() {
    let fx = fixture();
    let outside = fx.dir.path().join("outside-secret");
    fs::write(&outside, "secret").unwrap();
    let dir = context(&fx, "ctx", &[("ok", "ok")]);
    std::os::unix::fs::symlink(&outside, dir.join("abs-link")).unwrap();
    std::os::unix::fs::symlink("../outside-secret", dir.join("rel-link")).unwrap();

    // A symlink out of the context resolves inside it: nothing there.
    for link in ["abs-link", "rel-link"] {
        fs::write(
            dir.join("Dockerfile"),
            format!("FROM base\nCOPY {link} /x\n"),
        )
        .unwrap();
        let run = build(&fx, &dir, &[]);
        assert_eq!(run.code, 1, "{link}: {run:?}");
        assert!(
            run.stderr.contains("file not found in build context"),
            "{run:?}"
        );
    }
    fs::write(
        dir.join("Dockerfile"),
        "FROM base\nCOPY ../outside-secret /x\n",
    )
    .unwrap();
    let up = build(&fx, &dir, &[]);
    assert_eq!(up.code, 1, "{up:?}");
    assert!(up.stderr.contains("outside the build context"), "{up:?}");

    // ADD of a tar whose entries climb out, or link out, of the rootfs.
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Symlink);
    header.set_size(0);
    header.set_mode(0o777);
    tar.append_link(&mut header, "escape", "/").unwrap();
    let mut header = tar::Header::new_gnu();
    header.set_size(4);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "escape/tmp/pwned", &b"evil"[..])
        .unwrap();
    fs::write(dir.join("evil.tar"), tar.into_inner().unwrap()).unwrap();
    fs::write(dir.join("Dockerfile"), "FROM base\nADD evil.tar /x/\n").unwrap();
    let _ = build(&fx, &dir, &["-t", "evil:1"]);
    assert!(!Path::new("/tmp/pwned").exists());

    // A heredoc that never ends, and a Dockerfile of 100,000 lines.
    fs::write(dir.join("Dockerfile"), "FROM base\nRUN <<EOF\necho never\n").unwrap();
    let unterminated = build(&fx, &dir, &[]);
    assert_eq!(unterminated.code, 1, "{unterminated:?}");
    assert!(
        unterminated.stderr.contains("unterminated heredoc"),
        "{unterminated:?}"
    );
    // 100,000 lines with a typo at the end: refused before anything runs.
    let mut long = String::from("FROM base\nRUN echo never > /ran\n");
    for i in 0..100_000 {
        long.push_str(&format!("# comment {i}\n"));
    }
    long.push_str("COPPY x /\n");
    fs::write(dir.join("Dockerfile"), long).unwrap();
    let typo = build(&fx, &dir, &[]);
    assert_eq!(typo.code, 1, "{typo:?}");
    assert!(
        typo.stderr
            .contains("Dockerfile:100003: unknown instruction: COPPY"),
        "{typo:?}"
    );
    assert!(!typo.stdout.contains("Step"), "{typo:?}");
    assert_no_build_dirs(&fx);
    assert_consistent(&fx.root(), "after hostile builds");
}

/// `rimg build -t TAG DIR` in the background, its stderr piped.
fn spawn_build(fx: &Fixture, dir: &Path, tag: &str) -> std::process::Child {
    common::rimg_command(&fx.root())
        .args(["build", "-t", tag, dir.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until a build's RUN has made `/started` in its working tree.
fn wait_for_started(fx: &Fixture) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let started = fs::read_dir(fx.root().join("builds"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|b| {
                fs::read_dir(b.path())
                    .into_iter()
                    .flatten()
                    .flatten()
                    .any(|t| t.path().join("rootfs/started").exists())
            });
        if started {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the build never got to its RUN"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn a_killed_build_leaves_a_consistent_store_and_its_cache() {
    let fx = fixture();
    let dir = context(
        &fx,
        "ctx",
        &[(
            "Dockerfile",
            "FROM base\nRUN echo first > /first\nRUN touch /started && sleep 30\n",
        )],
    );
    let mut child = spawn_build(&fx, &dir, "killed:1");
    // Wait until the second RUN is running, then kill rimg outright.
    wait_for_started(&fx);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(fx.run(&["images", "-q", "killed:1"]).stdout.is_empty());
    assert_consistent(&fx.root(), "after a killed build");
    fs::write(
        dir.join("Dockerfile"),
        "FROM base\nRUN echo first > /first\nRUN true\n",
    )
    .unwrap();
    let next = build_ok(&fx, &dir, &["-t", "killed:1"]);
    assert_eq!(next.matches("Using cache").count(), 1, "{next}");
    // The killed build's directory went with the next build's sweep.
    assert_no_build_dirs(&fx);
}

#[test]
fn add_downloads_urls_without_extracting_them() {
    let fx = fixture();
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(2);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "inner", &b"in"[..]).unwrap();
    let served = gzip(&tar.into_inner().unwrap());
    let body = served.clone();
    let server = http::Server::start(move |mut stream| {
        if http::accept_request(&stream).is_some() {
            let modified = ("Last-Modified", "Tue, 14 Nov 2023 22:13:20 GMT".to_string());
            http::respond(&mut stream, "200 OK", &[modified], &body);
        }
    });
    let url = format!("http://{}/files/archive.tar.gz?version=1", server.addr());
    let dir = context(
        &fx,
        "ctx",
        &[(
            "Dockerfile",
            &format!("FROM base\nADD {url} /dl/\nADD {url} /renamed\n"),
        )],
    );
    build_ok(&fx, &dir, &["-t", "url:1"]);
    assert_eq!(
        fx.ok(&[
            "run",
            "--rm",
            "url:1",
            "stat",
            "-c",
            "%a %Y %s",
            "/dl/archive.tar.gz",
            "/renamed"
        ]),
        format!(
            "600 1700000000 {}\n600 1700000000 {}\n",
            served.len(),
            served.len()
        )
    );
    // The same contents again: from the cache.
    let again = build_ok(&fx, &dir, &["-t", "url:1"]);
    assert_eq!(again.matches("Using cache").count(), 2, "{again}");
    // COPY takes no URL.
    fs::write(
        dir.join("Dockerfile"),
        format!("FROM base\nCOPY {url} /x\n"),
    )
    .unwrap();
    let refused = build(&fx, &dir, &[]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("source can't be a URL for COPY"),
        "{refused:?}"
    );
}

#[test]
fn cache_from_an_image_built_elsewhere() {
    let first = fixture();
    let dockerfile =
        "FROM base\nRUN echo made > /made\nCOPY file /file\nENV K=v\nRUN cat /file /made > /both\n";
    let files = [("file", "contents\n"), ("Dockerfile", dockerfile)];
    let dir = context(&first, "ctx", &files);
    build_ok(&first, &dir, &["-t", "cached:1"]);
    let id = first.ok(&["images", "-q", "--no-trunc", "cached:1"]);
    // Another store, as another machine: the base and the built image
    // arrive (as by pull), the build cache does not.
    let archive = first.dir.path().join("images.tar");
    first.ok(&["save", "-o", archive.to_str().unwrap(), "base", "cached:1"]);
    let second = Fixture::new();
    second.ok(&["load", "-i", archive.to_str().unwrap()]);
    let dir = context(&second, "ctx", &files);
    let without = build_ok(&second, &dir, &["--no-cache", "-t", "other:1"]);
    assert_eq!(without.matches("Using cache").count(), 0);
    let with = build_ok(
        &second,
        &dir,
        &["--cache-from", "cached:1", "-t", "cached:2"],
    );
    assert_eq!(with.matches("Using cache").count(), 4, "{with}");
    assert!(!with.contains("Running in"), "{with}");
    assert_eq!(second.ok(&["images", "-q", "--no-trunc", "cached:2"]), id);
    // A changed file stops the cache from there on.
    fs::write(dir.join("file"), "changed\n").unwrap();
    let changed = build_ok(
        &second,
        &dir,
        &["--cache-from", "cached:1", "-t", "cached:3"],
    );
    assert_eq!(changed.matches("Using cache").count(), 1, "{changed}");
    assert_eq!(
        second.ok(&["run", "--rm", "cached:3", "cat", "/both"]),
        "changed\nmade\n"
    );
}

#[test]
fn run_mounts_cache_bind_secret_and_tmpfs() {
    let fx = fixture();
    let secret = fx.dir.path().join("token");
    fs::write(&secret, "s3cret").unwrap();
    let dir = context(
        &fx,
        "ctx",
        &[
            ("data/input", "from the context\n"),
            (
                "Dockerfile",
                "FROM base\n\
                 RUN --mount=type=cache,target=/cache echo -n x >> /cache/count && cat /cache/count > /count\n\
                 RUN --mount=type=bind,source=data,target=/data cat /data/input > /copied\n\
                 RUN --mount=type=secret,id=token wc -c < /run/secrets/token > /secret-length\n\
                 RUN --mount=type=tmpfs,target=/scratch touch /scratch/gone && ls /scratch > /tmpfs\n",
            ),
        ],
    );
    let secret_arg = format!("id=token,src={}", secret.display());
    build_ok(&fx, &dir, &["--secret", &secret_arg, "-t", "mounts:1"]);
    let shown = fx.ok(&[
        "run",
        "--rm",
        "mounts:1",
        "cat",
        "/count",
        "/copied",
        "/secret-length",
        "/tmpfs",
    ]);
    // (`/count` holds `x` with no newline.)
    assert_eq!(shown, "xfrom the context\n6\ngone\n");
    // Nothing mounted stays in the image.
    let listed = fx.ok(&["run", "--rm", "mounts:1", "ls", "-a", "/"]);
    for gone in ["cache", "data", "scratch", "run"] {
        assert!(
            !listed.split_whitespace().any(|w| w == gone),
            "{gone} in {listed}"
        );
    }
    // The cache mount outlives the build: a rebuild adds to it.
    build_ok(
        &fx,
        &dir,
        &["--no-cache", "--secret", &secret_arg, "-t", "mounts:2"],
    );
    assert_eq!(fx.ok(&["run", "--rm", "mounts:2", "cat", "/count"]), "xx");
    // A changed bind source runs its step again; the cache mount's does not.
    fs::write(dir.join("data/input"), "changed\n").unwrap();
    let again = build_ok(&fx, &dir, &["--secret", &secret_arg, "-t", "mounts:3"]);
    assert_eq!(again.matches("Using cache").count(), 1, "{again}");
}

#[test]
fn sigint_stops_a_build_at_once_and_keeps_its_finished_steps() {
    let fx = fixture();
    let dir = context(
        &fx,
        "ctx",
        &[(
            "Dockerfile",
            "FROM base\nRUN echo first > /first\nRUN touch /started && sleep 60\n",
        )],
    );
    let child = spawn_build(&fx, &dir, "stopped:1");
    wait_for_started(&fx);
    let sent = std::time::Instant::now();
    // SAFETY: kill has no memory-safety preconditions; the pid is our child's.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert!(
        sent.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(out.status.code(), Some(130));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("build interrupted"), "{stderr}");
    assert_no_build_dirs(&fx);
    assert_consistent(&fx.root(), "after an interrupted build");
    fs::write(
        dir.join("Dockerfile"),
        "FROM base\nRUN echo first > /first\nRUN true\n",
    )
    .unwrap();
    let next = build_ok(&fx, &dir, &["-t", "stopped:1"]);
    assert_eq!(next.matches("Using cache").count(), 1, "{next}");
}

#[test]
fn a_dockerfile_of_only_from_gives_the_base_image() {
    let fx = fixture();
    let dir = context(&fx, "ctx", &[("Dockerfile", "FROM base\n")]);
    let out = build_ok(&fx, &dir, &["-t", "same:1"]);
    let base = fx.ok(&["images", "-q", "base"]);
    assert!(
        out.ends_with(&format!(
            "Successfully built {}Successfully tagged same:1\n",
            base
        )),
        "{out}"
    );
    assert_eq!(fx.ok(&["images", "-q", "same:1"]), base);
    fs::write(dir.join("Dockerfile"), "FROM scratch\n").unwrap();
    let empty = build(&fx, &dir, &[]);
    assert_eq!(empty.code, 1);
    assert!(
        empty
            .stderr
            .contains("No image was generated. Is your Dockerfile empty?"),
        "{empty:?}"
    );
}

#[test]
fn plain_progress_as_buildkit_prints_it() {
    let fx = fixture();
    let dir = context(
        &fx,
        "ctx",
        &[(
            "Dockerfile",
            "FROM base AS app\nRUN echo hello from run\nCMD [\"sh\"]\n",
        )],
    );
    let mut args = vec!["build", "--progress", "plain", "-t", "plain:1"];
    args.push(dir.to_str().unwrap());
    let first = fx.run(&args);
    assert_eq!(first.code, 0, "{first:?}");
    assert!(first.stdout.is_empty(), "{first:?}");
    let lines: Vec<&str> = first.stderr.lines().collect();
    assert!(
        lines.contains(&"#1 [app 1/3] FROM base AS app"),
        "{}",
        first.stderr
    );
    assert!(
        lines.contains(&"#2 [app 2/3] RUN echo hello from run"),
        "{}",
        first.stderr
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("#2 0.") && l.ends_with(" hello from run")),
        "{}",
        first.stderr
    );
    assert!(
        lines.iter().any(|l| l.starts_with("#2 DONE ")),
        "{}",
        first.stderr
    );
    assert!(
        lines.contains(&"#4 naming to docker.io/library/plain:1 done"),
        "{}",
        first.stderr
    );
    let again = fx.run(&args);
    assert!(
        again.stderr.lines().any(|l| l == "#2 CACHED"),
        "{}",
        again.stderr
    );
}

#[test]
fn a_bad_tag_is_a_flag_error_before_anything_runs() {
    let fx = fixture();
    let dir = context(&fx, "ctx", &[("Dockerfile", "FROM base\nRUN touch /ran\n")]);
    let bad = build(&fx, &dir, &["-t", "Bad:1"]);
    assert_eq!(bad.code, 125, "{bad:?}");
    assert!(
        bad.stderr.starts_with(
            "invalid argument \"Bad:1\" for \"-t, --tag\" flag: invalid reference format"
        ),
        "{bad:?}"
    );
    assert!(bad.stdout.is_empty(), "{bad:?}");
}

#[test]
fn a_missing_base_is_pulled_and_pull_refreshes_it() {
    let registry = common::registry::Registry::start();
    let fx = fixture();
    // The base goes to the registry with rimg itself, then leaves the store.
    let remote = registry.image("bases/busybox:1");
    fx.ok(&["tag", "base", &remote]);
    fx.ok(&["push", &remote]);
    fx.ok(&["rmi", &remote]);
    let dir = context(
        &fx,
        "ctx",
        &[(
            "Dockerfile",
            &format!("FROM {remote}\nRUN echo pulled > /pulled\n"),
        )],
    );
    let out = build_ok(&fx, &dir, &["-t", "pulled:1"]);
    assert!(out.contains(&format!("Step 1/2 : FROM {remote}")), "{out}");
    assert_eq!(
        fx.ok(&["run", "--rm", "pulled:1", "cat", "/pulled"]),
        "pulled\n"
    );
    // --pull asks the registry again even though the base is here now.
    let again = build_ok(&fx, &dir, &["--pull", "-t", "pulled:1"]);
    assert!(again.contains("Status: Image is up to date for"), "{again}");
    assert!(again.contains("Using cache"), "{again}");
    assert!(!fx.ok(&["images", "-q", &remote]).is_empty());
}

#[test]
fn quiet_iidfile_labels_network_and_platform() {
    let fx = fixture();
    let dir = context(
        &fx,
        "ctx",
        &[(
            "Dockerfile",
            "FROM base\nRUN ip -o link | wc -l > /links\nLABEL from=file\n",
        )],
    );
    let iid = fx.dir.path().join("iid");
    let arch = fx.ok(&["inspect", "-f", "{{.Os}}/{{.Architecture}}", "base"]);
    let out = build_ok(
        &fx,
        &dir,
        &[
            "-q",
            "--iidfile",
            iid.to_str().unwrap(),
            "--label",
            "b=2",
            "--label",
            "a=1",
            "--network",
            "none",
            "--platform",
            arch.trim(),
            "-t",
            "flags:1",
        ],
    );
    let id = fs::read_to_string(&iid).unwrap();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    assert_eq!(out, format!("{id}\n"));
    assert_eq!(
        fx.ok(&["inspect", "-f", "{{json .Config.Labels}}", "flags:1"]),
        "{\"a\":\"1\",\"b\":\"2\",\"from\":\"file\"}\n"
    );
    // Only the loopback interface without a network.
    assert_eq!(
        fx.ok(&["run", "--rm", "flags:1", "cat", "/links"]).trim(),
        "1"
    );
    let bad = build(&fx, &dir, &["--platform", "s390x"]);
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(bad.stderr.contains("invalid platform"), "{bad:?}");
}

/// `--platform` and `FROM --platform` build for another platform, as
/// BuildKit does without emulation for steps that run nothing: the base
/// is pulled for that platform (a multi-platform list's entry), `scratch`
/// and the image say it, and TARGETARCH is it. A base here only for
/// another platform is Docker's error.
#[test]
fn builds_for_another_platform() {
    use common::layout::ImageSpec as LayoutSpec;
    let registry = common::registry::Registry::start();
    let fx = fixture();
    let (amd64, arm64, list) = (
        registry.image("multi/amd64"),
        registry.image("multi/arm64"),
        registry.image("multi/list"),
    );
    for (seed, arch) in [(1, "amd64"), (2, "arm64")] {
        let spec = LayoutSpec::new(seed, 1, 512).platform(arch, None);
        let dest = format!("multi/{arch}:latest");
        registry.push_image_with(&spec, &dest, &["--format", "v2s2"]);
    }
    fx.ok(&["manifest", "create", "--insecure", &list, &amd64, &arm64]);
    fx.ok(&["manifest", "push", "--insecure", &list]);
    let platform_of = |image: &str| {
        fx.ok(&[
            "inspect",
            "-f",
            "{{.Os}}/{{.Architecture}} {{.Config.Labels.arch}}",
            image,
        ])
    };

    let dockerfile = format!("FROM {list}\nARG TARGETARCH\nLABEL arch=$TARGETARCH\n");
    let dir = context(&fx, "ctx", &[("Dockerfile", &dockerfile)]);
    build_ok(&fx, &dir, &["--platform", "linux/arm64", "-t", "arm:1"]);
    assert_eq!(platform_of("arm:1"), "linux/arm64 arm64\n");
    let scratch = context(
        &fx,
        "scratch",
        &[(
            "Dockerfile",
            "FROM --platform=linux/arm64 scratch\nARG TARGETARCH\nLABEL arch=$TARGETARCH\n",
        )],
    );
    // The same steps for this machine first: no cache hit across
    // platforms.
    fs::write(
        scratch.join("Dockerfile.host"),
        "FROM scratch\nARG TARGETARCH\nLABEL arch=$TARGETARCH\n",
    )
    .unwrap();
    let host_file = scratch.join("Dockerfile.host");
    let host_file = host_file.to_str().unwrap();
    build_ok(&fx, &scratch, &["-f", host_file, "-t", "host:1"]);
    build_ok(
        &fx,
        &scratch,
        &["-f", host_file, "--platform", "linux/arm64", "-t", "arm:2"],
    );
    assert_eq!(platform_of("arm:2"), "linux/arm64 arm64\n");
    build_ok(&fx, &scratch, &["-t", "scratch:1"]);
    // FROM --platform sets the stage's; TARGETARCH stays the build's.
    let host = fx.ok(&["inspect", "-f", "{{.Architecture}}", "base"]);
    assert_eq!(
        platform_of("scratch:1"),
        format!("linux/arm64 {}", host.trim_end()) + "\n"
    );

    // Only an amd64 image by that name, and the registry has none.
    let local = registry.image("only/here:1");
    fx.ok(&["tag", "base", &local]);
    let dir = context(&fx, "local", &[("Dockerfile", &format!("FROM {local}\n"))]);
    let other = build(&fx, &dir, &["--platform", "linux/arm64"]);
    assert_eq!(other.code, 1, "{other:?}");
    assert!(
        other.stderr.contains(&format!(
            "image with reference {local} was found but does not match the specified platform: wanted linux/arm64, actual: linux/{}",
            host.trim_end()
        )),
        "{other:?}"
    );
}

/// The layer snapshots under `fx`'s store (chain IDs; `empty` and
/// unfinished ones left out).
fn snapshots(fx: &Fixture) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(fx.root().join("snapshots"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.len() == 64)
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// On overlay, each step's layer gets its snapshot during the build, so
/// that a later build reusing the step mounts it instead of unpacking it
/// (a one-file rebuild spent half its time unpacking the cached steps'
/// layers); the snapshots stay while the cache holds the steps and go
/// with `builder prune`.
#[test]
fn cached_steps_keep_their_layer_snapshots() {
    let fx = fixture();
    let dir = context(
        &fx,
        "ctx",
        &[
            ("one", "1\n"),
            (
                "Dockerfile",
                "FROM base\nRUN mkdir -p /d/sub && echo 1 > /d/f && echo a > /a && echo - > /gone\n\
                 RUN rm -r /d /gone && mkdir /d && echo x > /d/only && echo b > /b\n\
                 COPY one /one\n",
            ),
        ],
    );
    build_ok(&fx, &dir, &["-t", "s:1"]);
    let overlay = rimg::container::overlay::Driver::current().uses_snapshots();
    let made = snapshots(&fx);
    // The base's, and one per step layer.
    assert_eq!(made.len(), if overlay { 4 } else { 0 }, "{made:?}");

    // Another tag's removal sweeps snapshots: the cached steps' stay.
    fx.ok(&["tag", "s:1", "s:2"]);
    fx.ok(&["rmi", "s:2"]);
    assert_eq!(snapshots(&fx), made);

    // A changed file: the cached steps' snapshots are used as they are.
    fs::write(dir.join("one"), "one\n").unwrap();
    build_ok(&fx, &dir, &["-t", "s:1"]);
    let rebuilt = snapshots(&fx);
    assert!(made.iter().all(|s| rebuilt.contains(s)), "{rebuilt:?}");
    assert_eq!(
        fx.ok(&["run", "--rm", "s:1", "cat", "/a", "/b", "/one"]),
        "a\nb\none\n"
    );
    // The snapshots a build made (from its overlay's upper directories,
    // whiteouts and opaque directories included) show what the layers do.
    let listing = |driver: &str| {
        let mut cmd = common::rimg_command(&fx.root());
        cmd.env("RIMG_STORAGE_DRIVER", driver).args([
            "run",
            "--rm",
            "s:1",
            "sh",
            "-c",
            "ls -a /d; ls /; cat /d/only",
        ]);
        String::from_utf8(common::checked(cmd, "rimg run")).unwrap()
    };
    let unpacked = listing("copy");
    assert!(unpacked.starts_with(".\n..\nonly\n"), "{unpacked}");
    assert!(!unpacked.contains("gone"), "{unpacked}");
    assert_eq!(listing("overlay"), unpacked);

    // Without the cache and the images (the first build's is dangling
    // now), only the base's is left (made by the overlay run above on the
    // copy driver).
    fx.ok(&["rmi", "s:1"]);
    fx.ok(&["builder", "prune", "-f"]);
    fx.ok(&["image", "prune", "-f"]);
    assert_eq!(snapshots(&fx).len(), 1);
    assert_consistent(&fx.root(), "after builder prune");
}

/// An image of more layers than one page of mount options can list by
/// absolute path (about forty) is built and run on overlay: mount(2) took
/// them all in one `lowerdir` and failed with EINVAL.
#[test]
fn an_image_of_sixty_layers_builds_and_runs() {
    let fx = fixture();
    let mut dockerfile = String::from("FROM base\n");
    for i in 0..60 {
        dockerfile.push_str(&format!("COPY f /f{i}\n"));
    }
    let dir = context(&fx, "ctx", &[("f", "x\n"), ("Dockerfile", &dockerfile)]);
    build_ok(&fx, &dir, &["-q", "-t", "tall:1"]);
    assert_eq!(
        fx.ok(&["run", "--rm", "tall:1", "cat", "/f0", "/f59"]),
        "x\nx\n"
    );
}
