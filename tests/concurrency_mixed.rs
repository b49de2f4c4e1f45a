//! 16 rimg processes on one store at once — two pulling the same image,
//! loads, tags, removals and prunes: every command succeeds within a
//! bound (no deadlock), every success is reflected in the store, and the
//! store checks clean afterwards.

mod common;

use common::consistency::assert_consistent;
use common::layout::ImageSpec as LayoutSpec;
use common::registry::Registry;
use common::{rimg_command, Fixture, ImageSpec};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::thread;
use std::time::{Duration, Instant};

/// Runs one rimg command, failing the test if it fails or is still
/// running after a minute (a deadlock).
fn run(root: &Path, args: &[String]) {
    let mut child = rimg_command(root)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("rimg {args:?} still running after 60s: deadlock");
        }
        thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "rimg {args:?} failed: {stderr}");
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn sixteen_processes_of_mixed_commands_lose_nothing() {
    let registry = Registry::start();
    registry.push_image(&LayoutSpec::new(31, 3, 400_000), "mixed/app:v1");
    let pulled = registry.image("mixed/app:v1");

    let fx = Fixture::new();
    const BASE: &[(&str, &[u8])] = &[("base", b"shared base layer")];
    for i in 0..4 {
        let own = format!("image {i}");
        fx.add_image(
            &ImageSpec::new(&[&format!("img{i}:1")]).layers(&[BASE, &[("own", own.as_bytes())]]),
        );
        let gone = format!("removed {i}");
        fx.add_image(
            &ImageSpec::new(&[&format!("gone{i}:1")]).layers(&[BASE, &[("g", gone.as_bytes())]]),
        );
        let dangling = format!("dangling {i}");
        fx.add_image(&ImageSpec::new(&[]).layers(&[BASE, &[("d", dangling.as_bytes())]]));
    }
    // Archives to load, of images the store then forgets.
    let archives: Vec<PathBuf> = (0..2)
        .map(|i| {
            let name = format!("loaded{i}:1");
            let own = format!("loaded {i}");
            fx.add_image(&ImageSpec::new(&[&name]).layers(&[BASE, &[("l", own.as_bytes())]]));
            let path = fx.dir.path().join(format!("loaded{i}.tar"));
            fx.ok(&["save", "-o", path.to_str().unwrap(), &name]);
            fx.ok(&["rmi", &name]);
            path
        })
        .collect();

    let root = fx.root();
    let mut jobs: Vec<Vec<Vec<String>>> = Vec::new();
    // Two processes pulling the same image at once, and two more later.
    for _ in 0..4 {
        jobs.push(vec![args(&["pull", &pulled])]);
    }
    for i in 0..4 {
        let archive = archives[i % 2].to_str().unwrap();
        jobs.push(vec![args(&["load", "-i", archive])]);
    }
    for w in 0..4 {
        jobs.push(
            (0..5)
                .map(|j| args(&["tag", &format!("img{w}:1"), &format!("t{w}:{j}")]))
                .collect(),
        );
    }
    for w in 0..2 {
        jobs.push(vec![
            args(&["rmi", &format!("gone{}:1", 2 * w)]),
            args(&["rmi", &format!("gone{}:1", 2 * w + 1)]),
        ]);
    }
    for _ in 0..2 {
        jobs.push(vec![args(&["image", "prune", "-f"])]);
    }
    assert_eq!(jobs.len(), 16);
    let workers: Vec<_> = jobs
        .into_iter()
        .map(|commands| {
            let root = root.clone();
            thread::spawn(move || {
                for command in commands {
                    run(&root, &command);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("a command failed or hung");
    }

    let images = fx.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    let mut have: Vec<&str> = images.lines().collect();
    have.sort();
    let mut want = vec![pulled.clone(), "loaded0:1".into(), "loaded1:1".into()];
    for i in 0..4 {
        want.push(format!("img{i}:1"));
        want.extend((0..5).map(|j| format!("t{i}:{j}")));
    }
    want.sort();
    assert_eq!(have, want, "every successful command is reflected");
    let leftovers = assert_consistent(&root, "after 16 concurrent processes");
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn pulls_listings_rmi_and_prune_in_loops_all_succeed() {
    let registry = Registry::start();
    registry.push_image(&LayoutSpec::new(47, 3, 100_000), "loops/app:v1");
    let pulled = registry.image("loops/app:v1");
    let fx = Fixture::new();
    let root = fx.root();
    let commands: Vec<Vec<String>> = vec![
        args(&["pull", "-q", &pulled]),
        args(&["pull", "-q", &pulled]),
        args(&["pull", "-q", &pulled]),
        args(&["pull", "-q", &pulled]),
        args(&["rmi", "-f", &pulled]),
        args(&["image", "prune", "-af"]),
        args(&["images", "-q"]),
        args(&["images"]),
    ];
    // Each loop runs its command for 15 s, at most 200 times; `run` fails
    // the test on the first command that fails.
    let workers: Vec<_> = commands
        .into_iter()
        .map(|command| {
            let root = root.clone();
            thread::spawn(move || {
                let start = Instant::now();
                let mut runs = 0;
                while start.elapsed() < Duration::from_secs(15) && runs < 200 {
                    run(&root, &command);
                    runs += 1;
                }
                runs
            })
        })
        .collect();
    let runs: usize = workers
        .into_iter()
        .map(|w| w.join().expect("a command failed or hung"))
        .sum();
    assert!(runs >= 8, "{runs} runs");
    let leftovers = assert_consistent(&root, "after the loops");
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
