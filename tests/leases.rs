//! Leases: blobs a writer has stored but not yet named survive
//! `system check --repair`, `image prune` and `rmi` while the writer holds
//! its lease, and become ordinary orphans once it lets go or dies.

mod common;

use common::{Fixture, ImageSpec};
use std::fs;

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
    let run = fx.run(&["system", "check", "--repair"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stdout.contains("repaired: "), "{}", run.stdout);
    assert!(fx.store().has_blob(&fresh) && fx.store().has_blob(&img.layers[0]));

    drop(lease);
    let run = fx.run(&["system", "check"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains(&format!("orphaned blob {fresh}")));
    let run = fx.run(&["system", "check", "--repair"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout.matches("repaired: orphaned blob ").count(), 2);
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

    let run = fx.run(&["system", "check"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains(&format!("orphaned blob {orphan}")));
    assert!(run
        .stdout
        .contains(&format!("leftover temporary file {}", stale.display())));
    assert!(
        run.stdout.ends_with("2 problem(s) found\n"),
        "{}",
        run.stdout
    );

    let run = fx.run(&["system", "check", "--repair"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout.matches("repaired: ").count(), 2);
    assert!(!stale.exists());
    assert!(!fx.store().has_blob(&orphan));
    assert_eq!(
        fx.ok(&["system", "check"]),
        "checked 3 blobs and 1 index entries: the store is consistent\n"
    );
}
