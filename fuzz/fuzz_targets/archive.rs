//! Loading an archive never panics on any input, and a load that fails
//! leaves the store exactly as it was: the same index, the same blobs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rimg::store::Store;
use std::path::Path;
use std::sync::OnceLock;

/// One store for the whole run: opening one per input would cost more
/// than the load.
fn store() -> &'static (tempfile::TempDir, Store) {
    static STORE: OnceLock<(tempfile::TempDir, Store)> = OnceLock::new();
    STORE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = Store::open(dir.path().join("root")).expect("opening the store");
        (dir, store)
    })
}

fn state(root: &Path) -> (Vec<u8>, Vec<String>) {
    let index = std::fs::read(root.join("index.json")).expect("index.json");
    let mut blobs: Vec<String> = std::fs::read_dir(root.join("blobs/sha256"))
        .expect("blob directory")
        .map(|e| {
            e.expect("blob entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    blobs.sort();
    (index, blobs)
}

fuzz_target!(|data: &[u8]| {
    let (_, store) = store();
    let before = state(store.root());
    if rimg::archive::load(store, std::io::Cursor::new(data.to_vec())).is_err() {
        assert!(
            state(store.root()) == before,
            "a failed load changed the store"
        );
    }
});
