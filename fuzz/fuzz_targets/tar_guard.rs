//! The tar header check on any bytes: it never panics, passes through
//! exactly the bytes it was given up to where it refuses the stream, and
//! the tar crate reading through it (long names, PAX records, GNU sparse
//! maps and all) never panics and never holds more than the check allows.
//! A layer's extracted size, which follows the headers the same way, never
//! panics and does not depend on how the stream is cut into pieces.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rimg::layer::ExtractedSize;
use rimg::tar_guard::TarGuard;
use std::io::Read;

fuzz_target!(|data: &[u8]| {
    let mut passed = Vec::new();
    let _ = TarGuard::new(data).read_to_end(&mut passed);
    assert!(data.starts_with(&passed), "the check changed the stream");

    let mut whole = ExtractedSize::default();
    whole.update(data);
    let mut pieces = ExtractedSize::default();
    // Pieces of lengths taken from the data itself, so the fuzzer varies them.
    let mut rest = data;
    for &b in data.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let n = (usize::from(b) + 1).min(rest.len());
        pieces.update(&rest[..n]);
        rest = &rest[n..];
    }
    assert_eq!(whole.size(), pieces.size(), "the size depends on the pieces");

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
