//! The reference parser never panics, and whatever it accepts prints back
//! to a string that parses to the same reference. (The familiar form need
//! not: as in Docker, `docker.io/a.b/c` is familiar `a.b/c`, which names
//! another registry.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use rimg::reference::{familiar_match, Reference};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(reference) = Reference::parse(text) {
        let printed = reference.to_string();
        assert_eq!(
            Reference::parse(&printed).as_ref(),
            Ok(&reference),
            "{printed}"
        );
        let _ = reference.familiar_string();
    }
    if let Ok(tagged) = Reference::parse_with_default_tag(text) {
        let _ = familiar_match(text, &tagged);
    }
});
