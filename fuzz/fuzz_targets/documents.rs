//! Manifest, index and config parsing never panics on any input, and what
//! parses serialises again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rimg::oci::{chain_ids, ImageConfig, Index, Manifest};

fuzz_target!(|data: &[u8]| {
    if let Ok(manifest) = serde_json::from_slice::<Manifest>(data) {
        serde_json::to_vec(&manifest).expect("a parsed manifest serialises");
    }
    if let Ok(index) = serde_json::from_slice::<Index>(data) {
        serde_json::to_vec(&index).expect("a parsed index serialises");
    }
    if let Ok(config) = serde_json::from_slice::<ImageConfig>(data) {
        let _ = config.created_time();
        let _ = config.labels();
        let _ = chain_ids(&config.rootfs.diff_ids);
        serde_json::to_vec(&config).expect("a parsed config serialises");
    }
});
