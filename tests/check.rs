//! `system check` finds corrupt, missing, orphaned and leftover files and
//! `--repair` removes what can be removed.

mod common;

use common::{Fixture, ImageSpec};
use std::fs;

#[test]
fn a_clean_store_is_consistent() {
    let fx = Fixture::new();
    fx.add_image(&ImageSpec::new(&["app:1"]));
    assert_eq!(
        fx.ok(&["system", "check"]),
        "checked 3 blobs and 1 index entries: the store is consistent\n"
    );
}

#[test]
fn layer_info_an_older_rimg_cached_is_brought_up_to_date_not_reported() {
    let fx = Fixture::new();
    let img = fx.add_image(&ImageSpec::new(&["app:1"]));
    fx.ok(&["images"]);
    let entry = fx.root().join(".rimg/layers").join(img.layers[0].hex());
    // Version 1: no version, and `size` the tar stream's length.
    let old = serde_json::json!({"diffID": img.diff_ids[0], "size": 2048});
    fs::write(&entry, old.to_string()).unwrap();
    assert_eq!(
        fx.ok(&["system", "check"]),
        "checked 3 blobs and 1 index entries: the store is consistent\n"
    );
    let cached: serde_json::Value = serde_json::from_slice(&fs::read(&entry).unwrap()).unwrap();
    assert_eq!(cached["version"], 2);
    assert_eq!(cached["size"], 5, "{cached}");
}

#[test]
fn finds_and_repairs_leftovers() {
    let fx = Fixture::new();
    let img = fx.add_image(&ImageSpec::new(&["app:1"]));
    let root = fx.root();
    let orphan = fx.store().put_blob(b"nobody needs me").unwrap();
    fs::write(root.join("blobs/sha256/junk"), b"x").unwrap();
    fs::write(root.join(".rimg/tmp/ingest-dead"), b"half a blob").unwrap();
    // A temporary file a live writer holds locked is not a leftover.
    let live = root.join(".rimg/tmp/ingest-live");
    let held = fs::File::create(&live).unwrap();
    held.lock().unwrap();

    let run = fx.run(&["system", "check"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout
            .contains(&format!("orphaned blob {orphan} (15 bytes)")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("stray file "), "{}", run.stdout);
    assert!(run.stdout.contains("leftover temporary file ") && run.stdout.contains("ingest-dead"));
    assert!(!run.stdout.contains("ingest-live"));
    // Only the stray file is damage; the rest is what stopped commands
    // leave.
    assert!(
        run.stdout
            .ends_with("1 problem(s) found; 2 leftover(s) of stopped commands (26B), not damage\n"),
        "{}",
        run.stdout
    );

    let run = fx.run(&["system", "check", "--repair"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout.matches("repaired: ").count(), 3);
    assert!(live.exists());
    assert!(!root.join(".rimg/tmp/ingest-dead").exists());
    assert!(fx.store().has_blob(&img.layers[0]));
    assert!(!fx.store().has_blob(&orphan));
    drop(held);
}

#[test]
fn reports_corrupt_blobs_and_the_images_they_break() {
    let fx = Fixture::new();
    let img = fx.add_image(&ImageSpec::new(&["app:1"]));
    let layer = fx.root().join("blobs/sha256").join(img.layers[0].hex());
    fs::write(&layer, b"bit rot").unwrap();

    let run = fx.run(&["system", "check"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains(&format!(
        "corrupt blob {}: its content hashes to sha256:",
        img.layers[0]
    )));
    assert!(run.stdout.contains(&format!(
        "incomplete image docker.io/library/app:1: blob {} is missing or corrupt",
        img.layers[0]
    )));

    // Repair removes the corrupt blob; the image stays incomplete until it
    // is pulled or loaded again, so the check still fails.
    let run = fx.run(&["system", "check", "--repair"]);
    assert_eq!(run.code, 1);
    assert!(run
        .stdout
        .starts_with(&format!("repaired: corrupt blob {}", img.layers[0])));
    assert!(!layer.exists());
}
