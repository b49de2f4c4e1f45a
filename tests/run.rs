//! `run`, `exec`, `start`, `stop`, `kill`, `logs`, `wait` and `ps` against
//! a real OCI runtime (runc; crun where said), on a busybox base image.

mod common;

use common::{busybox, rimg_command, Fixture};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A container of its own network lists its links.
const LIST_LINKS_WITHOUT_NETWORK: &[&str] = &[
    "run",
    "--rm",
    "--network",
    "none",
    "base",
    "ip",
    "-o",
    "link",
];

fn fixture() -> Fixture {
    let fx = Fixture::new();
    busybox::import(&fx, "base", &[]);
    fx
}

#[test]
fn run_prints_output_and_passes_exit_codes() {
    let fx = fixture();
    let os = fx.ok(&["run", "--rm", "base", "cat", "/etc/os-release"]);
    assert!(os.contains("rimg test busybox"), "{os}");
    let three = fx.run(&["run", "--rm", "base", "sh", "-c", "exit 3"]);
    assert_eq!(three.code, 3, "{three:?}");
    let missing = fx.run(&["run", "--rm", "base", "nosuch"]);
    assert_eq!(missing.code, 127, "{missing:?}");
    assert!(
        missing
            .stderr
            .contains("exec: \"nosuch\": executable file not found in $PATH"),
        "{missing:?}"
    );
    let not_exec = fx.run(&["run", "--rm", "base", "/etc/passwd"]);
    assert_eq!(not_exec.code, 126, "{not_exec:?}");
    // (The container's PID 1 ignores signals it has no handler for, so a
    // child of it is killed.)
    let signalled = fx.run(&[
        "run",
        "--rm",
        "base",
        "sh",
        "-c",
        "sh -c 'kill -9 $$'; exit $?",
    ]);
    assert_eq!(signalled.code, 137, "{signalled:?}");
    // --rm left nothing behind.
    assert_eq!(fx.ok(&["ps", "-aq"]), "");
}

#[test]
fn environment_workdir_and_users() {
    let fx = fixture();
    let env_file = fx.dir.path().join("env");
    std::fs::write(
        &env_file,
        "# a comment\nFROM_FILE=yes\n\nRIMG_TEST_PASSED\n",
    )
    .unwrap();
    let mut cmd = rimg_command(&fx.root());
    cmd.env("RIMG_TEST_PASSED", "through");
    cmd.args([
        "run",
        "--rm",
        "-e",
        "A=1",
        "-e",
        "RIMG_TEST_PASSED",
        "--env-file",
    ])
    .arg(&env_file)
    .args(["base", "env"]);
    let env = String::from_utf8(common::checked(cmd, "rimg run env")).unwrap();
    for line in [
        "A=1",
        "FROM_FILE=yes",
        "RIMG_TEST_PASSED=through",
        "HOME=/root",
    ] {
        assert!(env.lines().any(|l| l == line), "{line} missing in {env}");
    }
    assert!(env.lines().any(|l| l.starts_with("PATH=")), "{env}");
    assert!(env.lines().any(|l| l.starts_with("HOSTNAME=")), "{env}");

    let out = fx.ok(&["run", "--rm", "-w", "/new/dir", "base", "pwd"]);
    assert_eq!(out, "/new/dir\n");
    let out = fx.ok(&[
        "run",
        "--rm",
        "-u",
        "app",
        "base",
        "sh",
        "-c",
        "id; echo $HOME",
    ]);
    // Supplementary groups are those /etc/group lists the user in, as runc
    // resolves them for Docker.
    assert_eq!(
        out,
        "uid=1000(app) gid=1000(app) groups=50(staff)\n/home/app\n"
    );
    let out = fx.ok(&["run", "--rm", "-u", "1234:50", "base", "id"]);
    assert_eq!(out, "uid=1234 gid=50(staff)\n");
    let nobody = fx.run(&["run", "--rm", "-u", "nobody", "base", "id"]);
    assert_eq!(nobody.code, 125, "{nobody:?}");
    assert!(
        nobody.stderr.contains("unable to find user nobody"),
        "{nobody:?}"
    );
}

#[test]
fn volumes_network_read_only_and_stdin() {
    let fx = fixture();
    let host = fx.dir.path().join("shared");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("in"), "from the host\n").unwrap();
    let rw = format!("{}:/data", host.display());
    let out = fx.ok(&[
        "run",
        "--rm",
        "-v",
        &rw,
        "base",
        "sh",
        "-c",
        "cat /data/in; echo back > /data/out",
    ]);
    assert_eq!(out, "from the host\n");
    assert_eq!(std::fs::read_to_string(host.join("out")).unwrap(), "back\n");
    let ro = format!("{}:/data:ro", host.display());
    let refused = fx.run(&["run", "--rm", "-v", &ro, "base", "touch", "/data/x"]);
    assert_ne!(refused.code, 0, "{refused:?}");
    assert!(!host.join("x").exists());

    let links = fx.ok(LIST_LINKS_WITHOUT_NETWORK);
    let names: Vec<&str> = links.lines().filter_map(|l| l.split(": ").nth(1)).collect();
    assert_eq!(names, ["lo"], "{links}");

    let read_only = fx.run(&["run", "--rm", "--read-only", "base", "touch", "/x"]);
    assert_ne!(read_only.code, 0, "{read_only:?}");
    assert!(
        read_only.stderr.contains("Read-only file system"),
        "{read_only:?}"
    );

    let piped = fx.run_with_stdin(&["run", "--rm", "-i", "base", "wc", "-l"], "a\nb\nc\n");
    assert_eq!(piped.stdout.trim(), "3", "{piped:?}");
    // Without -i the container's stdin is empty.
    let closed = fx.run_with_stdin(&["run", "--rm", "base", "wc", "-l"], "a\nb\n");
    assert_eq!(closed.stdout.trim(), "0", "{closed:?}");
}

#[test]
fn a_tty_under_a_pseudo_terminal() {
    let fx = fixture();
    let line = format!(
        "{} --root {} run --rm -t base sh -c 'test -t 0 && test -t 1 && echo tty:$TERM'",
        common::rimg_bin().display(),
        fx.root().display()
    );
    // `script` gives rimg a terminal, as a user's shell would.
    let mut script = Command::new("script");
    common::isolate(&mut script, &fx.root());
    script.args(["-qec", &line, "/dev/null"]);
    let out = String::from_utf8(common::checked(script, "script rimg run -t")).unwrap();
    assert!(out.contains("tty:xterm"), "{out:?}");
    // -t with no terminal at hand (a script, CI): rimg's own
    // pseudo-terminal, whose screen is printed and logged; -it is refused
    // as Docker refuses it.
    let out = fx.run(&[
        "run",
        "--name",
        "headless",
        "-t",
        "base",
        "sh",
        "-c",
        "test -t 1 && echo tty",
    ]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "tty\r\n"), "{out:?}");
    assert_eq!(fx.ok(&["logs", "headless"]), "tty\r\n");
    let refused = fx.run(&["run", "--rm", "-it", "base", "sh"]);
    assert_eq!(
        (refused.code, refused.stderr.as_str()),
        (1, "Error: the input device is not a TTY\n")
    );
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn detached_containers_exec_logs_stop_and_commit() {
    let fx = fixture();
    let id = fx.ok(&[
        "run",
        "-d",
        "--name",
        "webserver",
        "base",
        "sh",
        "-c",
        "echo started; echo warn >&2; while true; do sleep 1; done",
    ]);
    assert_eq!(id.trim().len(), 64, "{id}");
    let ps = fx.ok(&["ps"]);
    let header = ps.lines().next().unwrap();
    assert!(
        header.starts_with("CONTAINER ID   IMAGE     COMMAND "),
        "{ps}"
    );
    assert!(
        header.ends_with("STATUS    PORTS     NAMES") || header.contains("STATUS"),
        "{ps}"
    );
    assert!(ps.contains("Up ") && ps.contains("webserver"), "{ps}");

    wait_for("the logs", || fx.ok(&["logs", "webserver"]) == "started\n");
    let both = fx.run(&["logs", "webserver"]);
    assert_eq!(
        (both.stdout.as_str(), both.stderr.as_str()),
        ("started\n", "warn\n")
    );
    let stamped = fx.ok(&["logs", "-t", "--tail", "1", "webserver"]);
    assert!(
        stamped.ends_with("Z started\n") || stamped.is_empty(),
        "{stamped}"
    );

    fx.ok(&[
        "exec",
        "webserver",
        "sh",
        "-c",
        "mkdir -p /srv && echo hello from exec > /srv/index.html",
    ]);
    assert_eq!(
        fx.ok(&["exec", "webserver", "cat", "/srv/index.html"]),
        "hello from exec\n"
    );
    let failed = fx.run(&["exec", "webserver", "sh", "-c", "exit 5"]);
    assert_eq!(failed.code, 5);
    // Only what the process changed: no resolv.conf, hosts or mount points.
    assert_eq!(fx.ok(&["diff", "webserver"]), "A /srv\nA /srv/index.html\n");

    let refused = fx.run(&["rm", "webserver"]);
    assert_eq!(refused.code, 1);
    assert!(
        refused
            .stderr
            .contains("You cannot remove a running container"),
        "{refused:?}"
    );

    // A running container commits, paused; the image runs the change.
    // Without root it has no cgroup freezer, and is committed running.
    let committed = fx.run(&["commit", "webserver", "nginx:v2"]);
    assert_eq!(committed.code, 0, "{committed:?}");
    let warning = if common::is_machine_root() {
        ""
    } else {
        "WARNING: committing the container running: without root it has no cgroup freezer to pause it with\n"
    };
    assert_eq!(committed.stderr, warning);
    let served = fx.ok(&["run", "--rm", "nginx:v2", "cat", "/srv/index.html"]);
    assert_eq!(served, "hello from exec\n");

    // sh as PID 1 ignores SIGTERM: stop waits its timeout, then kills.
    let started = Instant::now();
    assert_eq!(fx.ok(&["stop", "-t", "1", "webserver"]), "webserver\n");
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(fx.ok(&["wait", "webserver"]), "137\n");
    assert_eq!(fx.ok(&["ps", "-q"]), "");
    let all = fx.ok(&["ps", "-a", "--format", "{{.Names}} {{.State}} {{.Status}}"]);
    assert!(all.starts_with("webserver exited Exited (137) "), "{all}");
    let not_running = fx.run(&["exec", "webserver", "true"]);
    assert_eq!(not_running.code, 1);
    assert!(
        not_running.stderr.contains("is not running"),
        "{not_running:?}"
    );

    // Started again, it runs the same command; the logs keep both runs.
    fx.ok(&["start", "webserver"]);
    wait_for("the second run's output", || {
        fx.ok(&["logs", "webserver"]) == "started\nstarted\n"
    });
    fx.ok(&["kill", "-s", "KILL", "webserver"]);
    assert_eq!(fx.ok(&["wait", "webserver"]), "137\n");
    fx.ok(&["rm", "webserver"]);
    assert_eq!(fx.ok(&["ps", "-aq"]), "");
}

#[test]
fn a_container_that_handles_sigterm_stops_at_once() {
    let fx = fixture();
    fx.ok(&[
        "run",
        "-d",
        "--name",
        "polite",
        "base",
        "sh",
        "-c",
        "trap 'exit 0' TERM; echo ready; while true; do sleep 0.1; done",
    ]);
    wait_for("the trap", || fx.ok(&["logs", "polite"]) == "ready\n");
    let started = Instant::now();
    fx.ok(&["stop", "-t", "20", "polite"]);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(fx.ok(&["wait", "polite"]), "0\n");
    assert_eq!(
        fx.ok(&["ps", "-a", "--filter", "status=exited", "-q"])
            .lines()
            .count(),
        1
    );
    assert_eq!(fx.ok(&["ps", "-a", "--filter", "status=running", "-q"]), "");
    let bad = fx.run(&["ps", "--filter", "status=bogus"]);
    assert_eq!(bad.code, 1);
    fx.ok(&["rm", "-f", "polite"]);
}

#[test]
fn a_killed_rimg_run_leaves_an_exited_container() {
    let fx = fixture();
    // Sleeps on its first run, exits 7 on the next; the sleep's length
    // tells its process apart from other tests'.
    let script = "test -e /again && exit 7; touch /again; exec sleep 1357";
    let killed_run = |name: &str| {
        let mut child = rimg_command(&fx.root())
            .args(["run", "--name", name, "base", "sh", "-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Killed only once its first run has marked it.
        wait_for("the container to run", || {
            let rootfs = fx.run(&["mount", name]);
            rootfs.code == 0
                && std::path::Path::new(&format!("{}/again", rootfs.stdout.trim())).exists()
        });
        child.kill().unwrap();
        child.wait().unwrap();
    };
    killed_run("orphan");
    let status = fx.ok(&["ps", "-a", "--format", "{{.State}} {{.Status}}"]);
    assert!(status.starts_with("exited Exited (137)"), "{status}");
    // Nothing of it is left running.
    let sleeping = Command::new("pgrep")
        .args(["-f", "sleep 1357"])
        .output()
        .unwrap();
    assert!(sleeping.stdout.is_empty(), "{sleeping:?}");
    fx.ok(&["rm", "orphan"]);

    // Started again at once, with nobody having looked in between: the
    // start ends the orphaned run itself (it used to wait for its own lock).
    killed_run("again");
    let mut start = Command::new("timeout");
    start
        .arg("60")
        .arg(common::rimg_bin())
        .arg("--root")
        .arg(fx.root());
    common::isolate(&mut start, &fx.root());
    let started = start.args(["start", "-a", "again"]).status().unwrap();
    assert_eq!(started.code(), Some(7));
    fx.ok(&["rm", "again"]);
}

#[test]
fn rm_force_kills_a_running_container() {
    let fx = fixture();
    fx.ok(&["run", "-d", "--name", "doomed", "base", "sleep", "1000"]);
    assert_eq!(fx.ok(&["rm", "-f", "doomed"]), "doomed\n");
    assert_eq!(fx.ok(&["ps", "-aq"]), "");
}

#[test]
fn crun_runs_the_same_containers() {
    let fx = fixture();
    // crun refuses a hybrid cgroup host whose v2 hierarchy has controllers
    // (as here), and only root can hide that hierarchy from it: a user is
    // told why and what to use instead, not crun's bare error.
    let hybrid_with_controllers =
        std::fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers")
            .is_ok_and(|c| !c.trim().is_empty());
    if !common::is_machine_root() && hybrid_with_controllers {
        let refused = fx.run(&["run", "--rm", "--runtime", "crun", "base", "true"]);
        assert_eq!(refused.code, 125, "{refused:?}");
        assert_eq!(
            refused.stderr,
            "Error: crun cannot run containers without root on this system: its cgroup v2 \
             hierarchy (/sys/fs/cgroup/unified) has controllers enabled, which crun refuses on \
             a hybrid cgroup host; use runc (--runtime runc), or run rimg as root\n"
        );
        return;
    }
    let out = fx.ok(&[
        "run",
        "--rm",
        "--runtime",
        "crun",
        "-u",
        "app",
        "base",
        "sh",
        "-c",
        "id -u; cat /etc/os-release",
    ]);
    assert!(
        out.starts_with("1000\n") && out.contains("rimg test busybox"),
        "{out}"
    );
    let code = fx.run(&[
        "run",
        "--rm",
        "--runtime",
        "crun",
        "base",
        "sh",
        "-c",
        "exit 4",
    ]);
    assert_eq!(code.code, 4);
    fx.ok(&[
        "run",
        "-d",
        "--runtime",
        "crun",
        "--name",
        "cr",
        "base",
        "sleep",
        "1000",
    ]);
    fx.ok(&["exec", "cr", "true"]);
    fx.ok(&["rm", "-f", "cr"]);
    let missing = fx.run(&[
        "run",
        "--rm",
        "--runtime",
        "no-such-runtime",
        "base",
        "true",
    ]);
    assert_eq!(missing.code, 125);
    assert!(
        missing
            .stderr
            .contains("OCI runtime \"no-such-runtime\" not found"),
        "{missing:?}"
    );
}

#[test]
fn symlinks_in_the_image_cannot_reach_outside_the_rootfs() {
    let fx = Fixture::new();
    let outside = fx.dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    // The base, with /etc/hosts and the working directory pointing out.
    let mut tar = tar::Builder::new(Vec::new());
    let base = busybox::rootfs_tar();
    let mut archive = tar::Archive::new(&base[..]);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut header = entry.header().clone();
        let path = entry.path().unwrap().into_owned();
        tar.append_data(&mut header, path, &mut entry).unwrap();
    }
    let escape = format!("../../../../../../../..{}", outside.display());
    for (name, target) in [
        ("etc/hosts", format!("{escape}/hosts")),
        ("work", format!("{escape}/work")),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        header.set_mode(0o777);
        tar.append_link(&mut header, name, &target).unwrap();
    }
    let path = fx.dir.path().join("hostile.tar");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(&tar.into_inner().unwrap())
        .unwrap();
    fx.ok(&[
        "import",
        "-c",
        "WORKDIR /work/sub",
        path.to_str().unwrap(),
        "hostile",
    ]);
    // Inside, the links lead where they point, within the container.
    let out = fx.ok(&[
        "run",
        "--rm",
        "hostile",
        "sh",
        "-c",
        "pwd; cat /etc/hosts | wc -l",
    ]);
    assert!(
        out.starts_with(&format!("{}/work/sub\n", outside.display())),
        "{out}"
    );
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "rimg wrote outside the rootfs"
    );
}

#[test]
fn foreground_runs_and_detached_terminals_are_logged() {
    let fx = fixture();
    let run = fx.run(&[
        "run",
        "--name",
        "fg",
        "base",
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]);
    assert_eq!(
        (run.stdout.as_str(), run.stderr.as_str()),
        ("out\n", "err\n")
    );
    let logs = fx.run(&["logs", "fg"]);
    assert_eq!(
        (logs.stdout.as_str(), logs.stderr.as_str()),
        ("out\n", "err\n")
    );

    let id = fx.ok(&[
        "run",
        "-dt",
        "--name",
        "dt",
        "base",
        "sh",
        "-c",
        "test -t 1 && echo tty; sleep 1000",
    ]);
    wait_for("the terminal's output", || {
        fx.ok(&["logs", "dt"]) == "tty\r\n"
    });
    // Its monitor killed, the container is ended at the next look.
    let monitor = Command::new("pgrep")
        .args(["-f", &format!("container-monitor .*{}", id.trim())])
        .output()
        .unwrap();
    let pid = String::from_utf8(monitor.stdout).unwrap();
    let pid: i32 = pid
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("one monitor: {pid:?}"));
    unsafe { libc::kill(pid, libc::SIGKILL) };
    wait_for("the container to end", || {
        fx.ok(&["ps", "-a", "--format", "{{.State}}"]) == "exited\nexited\n"
    });
    fx.ok(&["rm", "dt", "fg"]);
}

#[test]
fn cp_copies_between_the_host_and_a_container_inside_its_rootfs() {
    let fx = fixture();
    // As the seed's multi-stage section: create, cp out, rm.
    fx.ok(&["create", "--name", "extract", "base"]);
    let host = fx.dir.path().join("host");
    std::fs::create_dir_all(host.join("app/lib")).unwrap();
    std::fs::write(host.join("app/lib/x"), "x\n").unwrap();
    std::fs::write(host.join("one"), "one\n").unwrap();
    let app = host.join("app");
    let in_app = format!("{}", app.display());
    fx.ok(&["cp", &in_app, "extract:/srv"]);
    fx.ok(&[
        "cp",
        host.join("one").to_str().unwrap(),
        "extract:/srv/renamed",
    ]);
    fx.ok(&["cp", &format!("{in_app}/."), "extract:/etc"]);
    assert_eq!(
        fx.ok(&["diff", "extract"]),
        "C /etc\nA /etc/lib\nA /etc/lib/x\nA /srv\nA /srv/lib\nA /srv/lib/x\nA /srv/renamed\n"
    );
    // Owned by root inside, without -a.
    let rootfs = fx.ok(&["mount", "extract"]);
    let meta = std::fs::metadata(format!("{}/srv/lib/x", rootfs.trim())).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), 0);

    let out = fx.dir.path().join("out");
    fx.ok(&["cp", "extract:/etc/os-release", out.to_str().unwrap()]);
    assert!(std::fs::read_to_string(&out)
        .unwrap()
        .contains("rimg test busybox"));
    std::fs::create_dir(fx.dir.path().join("into")).unwrap();
    let into = fx.dir.path().join("into");
    fx.ok(&["cp", "extract:/srv", into.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(into.join("srv/lib/x")).unwrap(),
        "x\n"
    );
    let tar = fx.run_raw(&["cp", "extract:/srv/renamed", "-"], b"");
    let mut archive = tar::Archive::new(&tar.stdout[..]);
    let names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert_eq!(names, ["renamed"]);
    let missing = fx.run(&["cp", "extract:/nope", out.to_str().unwrap()]);
    assert_eq!(
        (missing.code, missing.stderr.as_str()),
        (1, "Error: No such container:path: extract:/nope\n")
    );

    // A symlink in the container cannot take a copy outside its rootfs:
    // `..` stops at its root, as in a chroot.
    let climb = "../".repeat(20);
    std::os::unix::fs::symlink(&climb, format!("{}/escape", rootfs.trim())).unwrap();
    fx.ok(&[
        "cp",
        host.join("one").to_str().unwrap(),
        "extract:/escape/rimg-cp-escape",
    ]);
    assert!(std::path::Path::new(&format!("{}/rimg-cp-escape", rootfs.trim())).is_file());
    assert!(!std::path::Path::new("/rimg-cp-escape").exists());

    fx.ok(&["run", "-d", "--name", "busy", "base", "sleep", "1000"]);
    let pruned = fx.ok(&["container", "prune", "-f"]);
    assert!(
        pruned.starts_with("Deleted Containers:\n") && pruned.contains("Total reclaimed space: "),
        "{pruned}"
    );
    assert_eq!(fx.ok(&["ps", "-a", "--format", "{{.Names}}"]), "busy\n");
    fx.ok(&["rm", "-f", "busy"]);
}

/// A user of this machine for rootless runs, created when missing (with
/// `useradd_args`), and a store in a fixture it owns.
struct User {
    uid: u32,
    gid: u32,
    fx: Fixture,
}

impl Drop for User {
    /// Removes the runtime state the user's rimg kept for the store (its
    /// fixture removes what the test's own rimg would keep).
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(rimg::runtime::state_dir_of(&self.fx.root(), self.uid));
    }
}

impl User {
    fn new(name: &str, useradd_args: &[&str]) -> User {
        let exists = |name: &str| {
            Command::new("id")
                .arg(name)
                .output()
                .is_ok_and(|o| o.status.success())
        };
        if !exists(name) {
            let made = Command::new("useradd")
                .args(useradd_args)
                .arg(name)
                .status();
            // Another test binary may have made it meanwhile.
            assert!(
                made.is_ok_and(|s| s.success()) || exists(name),
                "useradd {name}"
            );
        }
        let id = |flag: &str| -> u32 {
            let out = Command::new("id").args([flag, name]).output().unwrap();
            String::from_utf8(out.stdout)
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        };
        let (uid, gid) = (id("-u"), id("-g"));
        let fx = Fixture::new();
        std::os::unix::fs::chown(fx.dir.path(), Some(uid), Some(gid)).unwrap();
        // A copy the user can run: the build's may be under a private
        // directory (a clone in a home or a mktemp -d).
        std::fs::copy(common::rimg_bin(), fx.dir.path().join("rimg")).unwrap();
        User { uid, gid, fx }
    }

    /// Runs rimg as the user on its store.
    fn run(&self, args: &[&str]) -> common::Run {
        use std::os::unix::process::CommandExt;
        let mut cmd = common::rimg_command_of(&self.fx.dir.path().join("rimg"), &self.fx.root());
        // Its runtime state goes under its own temporary directory.
        cmd.uid(self.uid)
            .gid(self.gid)
            .env_remove("XDG_RUNTIME_DIR")
            .args(args);
        let out = common::output_with_stdin(&mut cmd, b"");
        common::Run {
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
            code: out.status.code().unwrap_or(-1),
        }
    }

    fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args);
        assert_eq!(
            run.code, 0,
            "rimg {args:?} as uid {} failed: {run:?}",
            self.uid
        );
        run.stdout
    }

    /// Imports a tarball of `bytes` as `name`, with `sh` as its command.
    fn import(&self, bytes: &[u8], name: &str) {
        let tar = self.fx.dir.path().join(format!("{name}.tar"));
        std::fs::write(&tar, bytes).unwrap();
        self.ok(&["import", "-c", "CMD [\"sh\"]", tar.to_str().unwrap(), name]);
    }
}

#[test]
fn rootless_runs_map_the_caller_to_root_in_rimgs_namespaces() {
    if !common::is_machine_root() {
        // Already a user's run (scripts/test.sh's rootless pass).
        return;
    }
    let user = User::new("rimg-rootless", &["--create-home"]);
    let (fx, uid) = (&user.fx, user.uid);
    let as_user = |args: &[&str]| user.ok(args);
    user.import(&busybox::rootfs_tar(), "base");
    let out = as_user(&[
        "run",
        "--rm",
        "base",
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map",
    ]);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("0"), "{out}");
    let map: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(map[0], ["0", &uid.to_string(), "1"], "{out}");
    // With a subordinate range, the other IDs are mapped too, so a package
    // manager can switch users.
    assert_eq!(map.len(), 2, "{out}");
    assert_eq!(
        as_user(&["run", "--rm", "-u", "app", "base", "id", "-u"]),
        "1000\n"
    );
    let links = as_user(LIST_LINKS_WITHOUT_NETWORK);
    assert_eq!(links.lines().count(), 1, "{links}");
    // Each command joins the namespaces the first one made, where the
    // detached container lives and its overlay is mounted: exec reaches
    // it, and `unshare` shows its files, whose owners are kept.
    // (The test's RIMG_STORAGE_DRIVER, if any, chooses for the user too.)
    let driver = rimg::container::overlay::Driver::current().name();
    assert_eq!(
        as_user(&["info", "--format", "{{.Driver}}"]),
        format!("{driver}\n")
    );
    as_user(&["run", "-d", "--name", "mine", "base", "sleep", "1000"]);
    assert_eq!(as_user(&["exec", "mine", "id", "-u"]), "0\n");
    as_user(&["exec", "mine", "sh", "-c", "mkdir /made && chown app /made"]);
    as_user(&["exec", "-u", "app", "mine", "touch", "/made/by-app"]);
    // A user's shell is outside rimg's mount namespace: told where to
    // look.
    let mounted = user.run(&["mount", "mine"]);
    assert_eq!(
        mounted.stderr,
        "WARNING: without root, a container's files are mounted in rimg's mount namespace \
         only: use the path under `rimg unshare`\n"
    );
    let listed = as_user(&[
        "unshare",
        "ls",
        "-n",
        &format!("{}/made", mounted.stdout.trim()),
    ]);
    assert!(listed.contains(" 1000 1000 "), "{listed}");
    // unshare ends as its command does, or as a shell would.
    assert_eq!(user.run(&["unshare", "sh", "-c", "exit 3"]).code, 3);
    let missing = user.run(&["unshare", "/nonexistent"]);
    assert_eq!(missing.code, 127, "{missing:?}");
    assert_eq!(
        missing.stderr,
        "Error: running /nonexistent: No such file or directory (os error 2)\n"
    );
    as_user(&["rm", "-f", "mine"]);

    // The process holding them ends once its store is gone.
    let store = fx.root().display().to_string();
    let holders = || {
        let out = Command::new("pgrep")
            .args([
                "-u",
                &uid.to_string(),
                "-f",
                &format!("rimg --root {store} "),
            ])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    assert_ne!(holders(), "", "no process holds rimg's namespaces");
    std::fs::remove_dir_all(fx.root()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !holders().is_empty() {
        assert!(Instant::now() < deadline, "still running: {}", holders());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A runtime state directory another user made first (under /tmp, without
/// XDG_RUNTIME_DIR) is not trusted to name the namespace's holder: images
/// still work, containers are refused, and the warning says what to do.
#[test]
fn a_state_directory_another_user_made_is_refused() {
    if !common::is_machine_root() {
        return;
    }
    let user = User::new("rimg-rootless", &["--create-home"]);
    let state = rimg::runtime::state_dir_of(&user.fx.root(), user.uid);
    let parent = state.parent().unwrap();
    if !parent.exists() {
        std::fs::create_dir(parent).unwrap();
        std::os::unix::fs::chown(parent, Some(user.uid), Some(user.gid)).unwrap();
    }
    std::fs::create_dir(&state).unwrap();
    let warning = format!(
        "WARNING: {} belongs to another user (uid 0): set XDG_RUNTIME_DIR to a directory of \
         yours\n",
        state.display()
    );
    let images = user.run(&["images", "-q"]);
    assert_eq!((images.code, images.stderr.as_str()), (0, warning.as_str()));
    user.import(&busybox::rootfs_tar(), "base");
    let refused = user.run(&["run", "--rm", "base", "true"]);
    assert_eq!(refused.code, 125, "{refused:?}");
    assert!(
        refused.stderr.ends_with(
            "Error: running a container without root needs rimg's user namespace, which it \
             could not enter (see the warning above)\n"
        ),
        "{refused:?}"
    );
}

/// A user without a subordinate ID range has only its own ID in rimg's
/// namespace (mapped by rimg itself, no newuidmap): an image whose files
/// are all root's runs; one with a file of another owner is refused with
/// what to do, not a bare EINVAL from chown.
#[test]
fn a_user_without_subordinate_ids_has_its_own_id_alone() {
    if !common::is_machine_root() {
        return;
    }
    let user = User::new(
        "rimg-nosubids",
        &["-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0"],
    );
    let mut rootfs = tar::Builder::new(Vec::new());
    let busybox_tar = busybox::rootfs_tar();
    let mut busybox = tar::Archive::new(&busybox_tar[..]);
    for entry in busybox.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut header = entry.header().clone();
        header.set_uid(0);
        header.set_gid(0);
        let path = entry.path().unwrap().into_owned();
        if header.entry_type().is_symlink() || header.entry_type().is_hard_link() {
            let target = entry.link_name().unwrap().unwrap().into_owned();
            rootfs.append_link(&mut header, &path, &target).unwrap();
        } else {
            rootfs.append_data(&mut header, &path, &mut entry).unwrap();
        }
    }
    let root_only = rootfs.into_inner().unwrap();
    user.import(&root_only, "mine");
    assert_eq!(
        user.ok(&[
            "run",
            "--rm",
            "mine",
            "sh",
            "-c",
            "id -u; cat /proc/self/uid_map"
        ])
        .split_whitespace()
        .collect::<Vec<_>>(),
        ["0", "0", &user.uid.to_string(), "1"]
    );

    let mut layer = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(2);
    header.set_mode(0o644);
    header.set_uid(1000);
    header.set_gid(1000);
    header.set_cksum();
    layer
        .append_data(&mut header, "owned", &b"x\n"[..])
        .unwrap();
    user.import(&layer.into_inner().unwrap(), "other");
    let refused = user.run(&["create", "other"]);
    assert_eq!(refused.code, 125, "{refused:?}");
    assert!(
        refused.stderr.contains(
            "owned by 1000:1000, which rimg's user namespace does not map: give your user a \
             subordinate ID range in /etc/subuid and /etc/subgid"
        ),
        "{refused:?}"
    );
    assert_eq!(user.ok(&["ps", "-aq"]), "");
}

/// A relative command runs from the working directory, as execve finds it
/// (rimg's own check looked for it from `/`, and refused it with 127).
#[test]
fn a_relative_command_is_found_in_the_working_directory() {
    let fx = fixture();
    assert_eq!(
        fx.ok(&["run", "--rm", "-w", "/bin", "base", "./echo", "found"]),
        "found\n"
    );
}

/// A relative `--root` names the store from the working directory (the
/// runtime, which runs from the bundle's directory, was given the
/// relative rootfs path and failed with "invalid rootfs").
#[test]
fn a_relative_root_works_as_an_absolute_one() {
    let fx = fixture();
    let parent = fx.root();
    let parent = parent.parent().unwrap();
    let name = fx.root().file_name().unwrap().to_owned();
    let mut cmd = rimg_command(std::path::Path::new(&name));
    cmd.current_dir(parent)
        .args(["run", "--rm", "base", "echo", "relative"]);
    let out = common::checked(cmd, "rimg run with a relative --root");
    assert_eq!(String::from_utf8(out).unwrap(), "relative\n");
}

/// A run killed while runc wrote its PID file leaves runc's temporary
/// `.pid` in the bundle; the next start removes it (runc refused to start
/// the container again: "open …/.pid: file exists").
#[test]
fn a_start_clears_what_a_killed_runtime_left_in_the_bundle() {
    let fx = fixture();
    fx.ok(&["run", "--name", "twice", "base", "true"]);
    let id = fx.ok(&["ps", "-aq", "--no-trunc"]);
    let bundle = fx.root().join("containers").join(id.trim()).join("bundle");
    std::fs::write(bundle.join(".pid"), "").unwrap();
    fx.ok(&["start", "-a", "twice"]);
    fx.ok(&["rm", "twice"]);
}

/// `ps --filter` keys Docker's differential suite cannot compare (its
/// containers never run): exit codes, networks and volumes.
#[test]
fn ps_filters_by_exit_code_network_and_volume() {
    let fx = fixture();
    let data = fx.dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let volume = format!("{}:/data", data.display());
    fx.ok(&["run", "--name", "plain", "base", "true"]);
    let failed = fx.run(&[
        "run",
        "--name",
        "boxed",
        "--network",
        "none",
        "-v",
        &volume,
        "base",
        "sh",
        "-c",
        "exit 3",
    ]);
    assert_eq!(failed.code, 3, "{failed:?}");
    let names = |filters: &[&str]| {
        let mut args = vec!["ps", "--format", "{{.Names}}"];
        args.extend(filters);
        let mut names: Vec<String> = fx.ok(&args).lines().map(str::to_string).collect();
        names.sort();
        names.join(" ")
    };
    assert_eq!(names(&["-a", "-f", "exited=3"]), "boxed");
    assert_eq!(
        names(&["-a", "-f", "exited=0", "-f", "exited=3"]),
        "boxed plain"
    );
    // `exited` alone lists only what `ps` lists (running ones); `status`
    // lists stopped ones without -a, as Docker does.
    assert_eq!(names(&["-f", "exited=3"]), "");
    assert_eq!(names(&["-f", "status=exited"]), "boxed plain");
    assert_eq!(names(&["-a", "-f", "network=none"]), "boxed");
    assert_eq!(names(&["-a", "-f", "network=host"]), "plain");
    assert_eq!(names(&["-a", "-f", "volume=/data"]), "boxed");
    assert_eq!(
        names(&["-a", "-f", "name=^/pl", "-f", "status=exited"]),
        "plain"
    );
}
