//! `load` on any bytes never panics, and whatever it makes of them the
//! store stays consistent: nothing corrupt, stray or incomplete, and a
//! failed load leaves no image and no blob behind.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rimg::store::{Problem, Store};

/// Stores go on tmpfs when there is one: every store write is fsynced,
/// which on a disk caps the target at ~25 runs a second, and durability
/// is the crash tests' business, not the fuzzer's.
fn scratch() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    };
    dir.expect("a temporary directory")
}

fuzz_target!(|data: &[u8]| {
    let dir = scratch();
    let store = Store::open(dir.path()).expect("an empty store");
    // Odd lengths come as from a pipe, of unknown size; even ones as from
    // a file, whose size bounds the archive's expansion.
    let size = (data.len() % 2 == 0).then_some(data.len() as u64);
    let loaded = rimg::archive::load(&store, std::io::Cursor::new(data.to_vec()), size);
    let report = store.check(false).expect("checking the store");
    for problem in &report.problems {
        assert!(
            matches!(problem, Problem::StaleCache(_)),
            "load left the store inconsistent: {problem}"
        );
    }
    if loaded.is_err() {
        assert_eq!(report.entries, 0, "a failed load registered an image");
        assert_eq!(report.blobs, 0, "a failed load left blobs behind");
    }
});
