//! `load` on any bytes never panics, and whatever it makes of them the
//! store stays consistent: nothing corrupt, stray or incomplete, and a
//! failed load leaves no image and no blob behind.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rimg::store::{Problem, Store};

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Store::open(dir.path()).expect("an empty store");
    let loaded = rimg::archive::load(&store, std::io::Cursor::new(data.to_vec()), Some(data.len() as u64));
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
