//! SIGINT and SIGTERM in the middle of `load`, `import`, `save` and
//! `commit`: the command stops within a second (even while its input pipe
//! is silent), exits 130 or 143 as Docker does, says in one line what it
//! kept, and leaves no temporary file behind and the store consistent.
//! (`pull` and `push` are tested in pull_resume.rs and push.rs.)

mod common;

use common::consistency::assert_consistent;
use common::random::noise;
use common::{rimg_command, Fixture, ImageSpec};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Output, Stdio};
use std::time::{Duration, Instant};

const SIGNALS: [(i32, i32); 2] = [(libc::SIGINT, 130), (libc::SIGTERM, 143)];

/// How long a signalled command may take to exit: a second, as the issue
/// asks, with some slack for a machine busy compiling.
const PROMPT: Duration = Duration::from_millis(1500);

fn spawn(root: &Path, args: &[&str], stdin: Stdio) -> Child {
    rimg_command(root)
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until `ready` holds, failing if the command ends first.
fn wait_until(child: &mut Child, what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !ready() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "{what}: the command ended before it could be stopped"
        );
        assert!(Instant::now() < deadline, "{what}: never got under way");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sends `signal`, and checks the command exits promptly with `code` and
/// one line saying what it kept. Returns its output.
#[track_caller]
fn stop(child: Child, signal: i32, code: i32, what: &str) -> Output {
    let pid = i32::try_from(child.id()).unwrap();
    let sent = Instant::now();
    // SAFETY: kill has no memory effects; `pid` is our own unreaped child.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    let out = child.wait_with_output().unwrap();
    let took = sent.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{what}: {stderr}");
    assert!(took < PROMPT, "{what}: took {took:?} to stop");
    let command = what.split(' ').next().unwrap_or_default();
    assert_eq!(stderr.lines().count(), 1, "{what}: {stderr}");
    assert!(
        stderr.starts_with(&format!("{command} interrupted: ")),
        "{what}: {stderr}"
    );
    out
}

/// The store checks clean, without even leftovers (none of these commands
/// has anything to resume, so it keeps nothing), and holds no temporary
/// file.
#[track_caller]
fn assert_no_temporaries(root: &Path, what: &str) {
    let leftovers = assert_consistent(root, what);
    assert!(leftovers.is_empty(), "{what}: {leftovers:?}");
    let tmp: Vec<PathBuf> = fs::read_dir(root.join(".rimg/tmp"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(tmp.is_empty(), "{what}: {tmp:?}");
}

/// The IDs `images -q` lists (for `filter`, a reference, if given).
fn image_ids(root: &Path, filter: &[&str]) -> String {
    let out = rimg_command(root)
        .args(["images", "-q"])
        .args(filter)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An archive of an image with one 8 MB layer.
fn archive() -> Vec<u8> {
    let fx = Fixture::new();
    let file = vec![3u8; 8_000_000];
    fx.add_image(&ImageSpec::new(&["saved:1"]).layers(&[&[("file", &file)]]));
    fx.run_raw(&["save", "saved:1"], b"").stdout
}

/// Feeds the first half of `bytes`; the caller holds the pipe open, so
/// only an interrupt can end the command.
fn feed_half(stdin: &mut ChildStdin, bytes: &[u8]) {
    stdin.write_all(&bytes[..bytes.len() / 2]).unwrap();
    stdin.flush().unwrap();
}

#[test]
fn load_and_import_stop_while_their_input_pipe_is_silent() {
    let archive = archive();
    let rootfs = common::layer_tar(&[("big".to_string(), vec![5u8; 4_000_000])]);
    for (signal, code) in SIGNALS {
        for (args, input) in [
            (&["load"][..], &archive),
            (&["import", "-", "imp:1"], &rootfs),
        ] {
            let fx = Fixture::new();
            fx.ok(&["images"]);
            let root = fx.root();
            let what = format!("{} on signal {signal}", args[0]);
            let mut child = spawn(&root, args, Stdio::piped());
            let mut stdin = child.stdin.take().unwrap();
            feed_half(&mut stdin, input);
            // Its first blob is under way once it has a temporary file;
            // given time, it has taken all it was fed and waits for more.
            let tmp = root.join(".rimg/tmp");
            wait_until(&mut child, &what, || {
                fs::read_dir(&tmp).unwrap().next().is_some()
            });
            std::thread::sleep(Duration::from_millis(200));
            stop(child, signal, code, &what);
            drop(stdin);
            assert_no_temporaries(&root, &what);
            assert_eq!(image_ids(&root, &[]), "", "{what}");
        }
    }
}

/// A tar stream of one file of `size` zeros, written in pieces: a big
/// layer that compresses to almost nothing.
fn write_zero_tar(out: &mut impl Write, size: u64) {
    let mut header = tar::Header::new_gnu();
    header.set_path("zeros").unwrap();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_cksum();
    out.write_all(header.as_bytes()).unwrap();
    let chunk = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        out.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
    // Padding (size is a multiple of 512) and the two end blocks.
    out.write_all(&[0; 1024]).unwrap();
}

#[test]
fn save_stops_and_removes_its_partial_archive() {
    let fx = Fixture::new();
    let root = fx.root();
    let mut import = spawn(&root, &["import", "-", "big:1"], Stdio::piped());
    let mut stdin = import.stdin.take().unwrap();
    write_zero_tar(&mut stdin, 1 << 30);
    drop(stdin);
    let out = import.wait_with_output().unwrap();
    assert!(out.status.success(), "import: {out:?}");

    for (signal, code) in SIGNALS {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("big.tar");
        let what = format!("save on signal {signal}");
        let mut child = spawn(
            &root,
            &["save", "-o", target.to_str().unwrap(), "big:1"],
            Stdio::null(),
        );
        wait_until(&mut child, &what, || {
            fs::read_dir(dir.path())
                .unwrap()
                .any(|e| e.unwrap().metadata().is_ok_and(|m| m.len() > 64 << 20))
        });
        stop(child, signal, code, &what);
        let left: Vec<PathBuf> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(left.is_empty(), "{what}: {left:?}");
        assert_no_temporaries(&root, &what);
    }
}

#[test]
fn commit_stops_and_leaves_the_container_as_it_was() {
    let fx = Fixture::new();
    fx.add_image(&ImageSpec::new(&["app:1"]).layers(&[&[("etc/conf", b"v1")]]));
    let root = fx.root();
    fx.ok(&["create", "--name", "work", "app:1"]);
    let rootfs = PathBuf::from(fx.ok(&["mount", "work"]).trim());
    // Incompressible, so the layer's gzip output reaches the disk
    // steadily and the commit takes a few seconds.
    fs::write(rootfs.join("noise"), noise(0x5EED, 96 << 20)).unwrap();

    for (signal, code) in SIGNALS {
        let what = format!("commit on signal {signal}");
        let mut child = spawn(&root, &["commit", "work", "app:2"], Stdio::null());
        let tmp = root.join(".rimg/tmp");
        wait_until(&mut child, &what, || {
            fs::read_dir(&tmp)
                .unwrap()
                .any(|e| e.unwrap().metadata().is_ok_and(|m| m.len() > 1 << 20))
        });
        stop(child, signal, code, &what);
        assert_no_temporaries(&root, &what);
        assert_eq!(image_ids(&root, &["app:2"]), "", "{what}");
    }
    // The container is as it was: a commit now takes the whole change.
    let out = fx.run(&["commit", "work", "app:2"]);
    assert_eq!(out.code, 0, "{out:?}");
    let history = fx.ok(&["history", "app:2"]);
    assert!(history.contains("MB"), "{history}");
}

#[test]
fn a_second_signal_ends_a_save_stuck_on_a_pipe_nobody_reads() {
    let fx = Fixture::new();
    let file = noise(7, 4 << 20);
    fx.add_image(&ImageSpec::new(&["stuck:1"]).layers(&[&[("file", &file)]]));
    let mut child = spawn(&fx.root(), &["save", "stuck:1"], Stdio::null());
    // Nobody reads stdout: once the pipe is full the save blocks in a
    // write, where no stop is seen. Give it time to get there.
    std::thread::sleep(Duration::from_millis(500));
    assert!(child.try_wait().unwrap().is_none(), "the save finished");
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: kill has no memory effects; `pid` is our own unreaped child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "stopped on one signal");
    let sent = Instant::now();
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143), "{stderr}");
    assert!(sent.elapsed() < PROMPT);
    assert!(stderr.starts_with("interrupted again: "), "{stderr}");
}
