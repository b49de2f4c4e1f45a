//! Many rimg processes changing one store at once lose no tag and leave no
//! orphaned or missing blob.

mod common;

use common::{rimg_command, Fixture, ImageSpec};
use rimg::image::Catalog;
use rimg::store::Store;
use std::collections::BTreeSet;
use std::thread;

#[test]
fn parallel_tags_and_removals_keep_the_store_consistent() {
    let fx = Fixture::new();
    const BASE: &[(&str, &[u8])] = &[("base", b"shared base layer")];
    let base = BASE;
    for i in 0..4 {
        let own = format!("image {i}");
        fx.add_image(
            &ImageSpec::new(&[&format!("img{i}:1")]).layers(&[base, &[("own", own.as_bytes())]]),
        );
    }
    let root = fx.root();
    let workers: Vec<_> = (0..16)
        .map(|w| {
            let root = root.clone();
            thread::spawn(move || {
                let base = BASE;
                let run = |args: &[&str]| {
                    let out = rimg_command(&root).args(args).output().unwrap();
                    assert!(out.status.success(), "rimg {args:?}: {out:?}");
                };
                let source = format!("img{}:1", w % 4);
                for j in 0..5 {
                    run(&["tag", &source, &format!("w{w}:{j}")]);
                }
                run(&["rmi", &format!("w{w}:0"), &format!("w{w}:1")]);
                // A short-lived image of its own, removed with its own
                // blobs while the others keep using the shared base layer.
                let own = format!("worker {w}");
                ImageSpec::new(&[&format!("own{w}:1")])
                    .layers(&[base, &[("own", own.as_bytes())]])
                    .write(&Store::open(&root).unwrap());
                run(&["rmi", &format!("own{w}:1")]);
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("worker panicked");
    }

    let catalog = Catalog::load(&fx.store()).unwrap();
    let tags: BTreeSet<String> = catalog
        .images()
        .iter()
        .flat_map(|i| i.refs.iter().map(|r| r.familiar_string()))
        .collect();
    let mut expected: BTreeSet<String> = (0..4).map(|i| format!("img{i}:1")).collect();
    for w in 0..16 {
        for j in 2..5 {
            expected.insert(format!("w{w}:{j}"));
        }
    }
    assert_eq!(tags, expected);

    let store = fx.store();
    let referenced = store.referenced_blobs(&catalog.index).unwrap();
    let on_disk: BTreeSet<String> = std::fs::read_dir(root.join("blobs/sha256"))
        .unwrap()
        .map(|e| format!("sha256:{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    let referenced: BTreeSet<String> = referenced.iter().map(|d| d.to_string()).collect();
    assert_eq!(on_disk, referenced, "no orphaned and no missing blobs");
    for digest in &referenced {
        store
            .verify_blob(&digest.parse().unwrap())
            .expect("every blob verifies");
    }
    let leftovers = std::fs::read_dir(root.join(".rimg/tmp")).unwrap().count();
    assert_eq!(leftovers, 0, "no temporary files left behind");
}
