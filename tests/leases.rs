//! Leases: blobs a writer has stored but not yet named survive
//! `system check --repair`, `image prune` and `rmi` while the writer holds
//! its lease, and become ordinary orphans once it lets go or dies.

mod common;

use common::{Fixture, ImageSpec};
use std::fs;

/// Runs `system check`, with `--repair` if asked, expecting exit `code`;
/// returns the report's lines without the summary.
fn check(fx: &Fixture, repair: bool, code: i32) -> Vec<String> {
    let args: &[&str] = if repair {
        &["system", "check", "--repair"]
    } else {
        &["system", "check"]
    };
    let run = fx.run(args);
    assert_eq!(run.code, code, "{run:?}");
    let mut lines: Vec<String> = run.stdout.lines().map(str::to_string).collect();
    lines.pop();
    lines
}

#[test]
fn a_held_lease_keeps_its_blobs_through_repair_and_prune() {
    let fx = Fixture::new();
    let img = fx.add_image(&ImageSpec::new(&["app:1"]));
    let store = fx.store();
    // What a build or pull in another process would hold: a blob it
    // stored and one it reuses from an image that is about to go.
    let lease = store.lease().unwrap();
    let fresh = lease.put_blob(b"a layer being built").unwrap();
    assert!(lease.reuse(&img.layers[0]).unwrap());

    fx.ok(&["image", "prune", "-af"]);
    assert!(fx.store().has_blob(&img.layers[0]));
    assert!(!fx.store().has_blob(&img.id));
    assert_eq!(check(&fx, true, 0), Vec::<String>::new());
    assert!(fx.store().has_blob(&fresh) && fx.store().has_blob(&img.layers[0]));

    drop(lease);
    // An orphan is what a stopped writer leaves, not damage: exit 0.
    let found = check(&fx, false, 0);
    assert!(found.contains(&format!(
        "orphaned blob {fresh} (19 bytes), referenced by no image"
    )));
    let repaired = check(&fx, true, 0);
    assert_eq!(repaired.len(), 2, "{repaired:?}");
    assert!(repaired
        .iter()
        .all(|l| l.starts_with("repaired: orphaned blob ")));
    assert!(!fx.store().has_blob(&fresh) && !fx.store().has_blob(&img.layers[0]));
}

#[test]
fn a_stale_lease_is_a_leftover_and_protects_nothing() {
    let fx = Fixture::new();
    fx.add_image(&ImageSpec::new(&["app:1"]));
    let orphan = fx.store().put_blob(b"left by a writer that died").unwrap();
    // The lease of a killed writer: its file remains, its lock is gone.
    let leases = fx.root().join(".rimg/leases");
    fs::create_dir_all(&leases).unwrap();
    let stale = leases.join("12345-dead");
    fs::write(&stale, format!("{orphan}\n")).unwrap();

    assert_eq!(
        check(&fx, false, 0),
        [
            format!("orphaned blob {orphan} (26 bytes), referenced by no image"),
            format!("leftover temporary file {}", stale.display()),
        ]
    );
    assert_eq!(check(&fx, true, 0).len(), 2);
    assert!(!stale.exists());
    assert!(!fx.store().has_blob(&orphan));
    assert_eq!(
        fx.ok(&["system", "check"]),
        "checked 3 blobs and 1 index entries: the store is consistent\n"
    );
}
