//! Tar headers that ask for more than is sane — a GNU long name of
//! 900 MiB, a sparse entry of 3 GiB in a few bytes — through create, load
//! and import: each is refused from its header with a short error, before
//! the name is read into memory or the holes written out.

mod common;
#[path = "common/layers.rs"]
mod layers;

use common::archive as ar;
use common::Fixture;
use layers::add_image;
use serde_json::json;

fn header(name: &str, kind: u8, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_path(name).unwrap();
    h.set_size(size);
    h.set_entry_type(tar::EntryType::new(kind));
    h.set_mode(0o644);
    h.set_cksum();
    h
}

/// A GNU long-name entry declaring 900 MiB, of which 1 MiB follows.
fn huge_long_name() -> Vec<u8> {
    let mut tar = header("././@LongLink", b'L', 900 << 20).as_bytes().to_vec();
    tar.extend(vec![b'a'; 1 << 20]);
    tar
}

/// One GNU sparse entry that stores no data and claims 3 GiB.
fn huge_sparse_file() -> Vec<u8> {
    let mut h = header("holes", b'S', 0);
    h.as_mut_bytes()[483..495].copy_from_slice(format!("{:011o}\0", 3u64 << 30).as_bytes());
    h.set_cksum();
    let mut tar = h.as_bytes().to_vec();
    tar.extend(vec![0; 1024]);
    tar
}

const LONG_NAME: &str = "tar entry's long name is 943718400 bytes, more than the 16384 allowed";

/// `create` of an image of `layer` fails with `message`, leaving no
/// container directory, and says so in a few lines.
fn assert_create_refused(layer: Vec<u8>, message: &str) {
    let fx = Fixture::new();
    add_image(&fx, &["hostile:1"], &[layer], json!({}));
    let run = fx.run(&["create", "hostile:1"]);
    // 125: create's own errors, as Docker's.
    assert_eq!(run.code, 125, "{run:?}");
    assert!(run.stderr.contains(message), "{}", run.stderr);
    assert!(
        run.stderr.len() < 1024,
        "a long error: {} bytes",
        run.stderr.len()
    );
    let containers = fx.root().join("containers");
    let left = std::fs::read_dir(&containers).map_or(0, |d| d.count());
    assert_eq!(left, 0, "container directories left behind");
}

#[test]
fn create_refuses_a_huge_long_name_from_its_header() {
    assert_create_refused(huge_long_name(), LONG_NAME);
}

#[test]
fn create_refuses_a_sparse_entry_beyond_the_expansion_bound() {
    assert_create_refused(
        huge_sparse_file(),
        "tar entry \"holes\" is sparse with 3221225472 bytes",
    );
}

#[test]
fn load_and_import_refuse_a_huge_long_name_from_its_header() {
    let fx = Fixture::new();
    fx.store();
    let before = ar::store_state(&fx.root());
    let tar = zstd::encode_all(&huge_long_name()[..], 3).unwrap();
    let run = ar::load(&fx, &tar);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains(LONG_NAME), "{}", run.stderr);
    let run = fx.run_raw(&["import", "-"], &tar);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains(LONG_NAME), "{}", run.stderr);
    assert_eq!(ar::store_state(&fx.root()), before, "the store changed");
}
