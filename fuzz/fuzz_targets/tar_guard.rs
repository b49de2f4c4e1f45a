//! The tar header check on any bytes: it never panics, passes through
//! exactly the bytes it was given up to where it refuses the stream, and
//! the tar crate reading through it (long names, PAX records, GNU sparse
//! maps and all) never panics and never holds more than the check allows.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rimg::tar_guard::TarGuard;
use std::io::Read;

fuzz_target!(|data: &[u8]| {
    let mut passed = Vec::new();
    let _ = TarGuard::new(data).read_to_end(&mut passed);
    assert!(data.starts_with(&passed), "the check changed the stream");

    let mut archive = tar::Archive::new(TarGuard::new(data));
    let Ok(entries) = archive.entries() else { return };
    for entry in entries {
        let Ok(mut entry) = entry else { return };
        let _ = entry.path();
        let _ = entry.link_name();
        if let Ok(Some(extensions)) = entry.pax_extensions() {
            for record in extensions {
                let _ = record;
            }
        }
        let _ = std::io::copy(&mut entry, &mut std::io::sink());
    }
});
