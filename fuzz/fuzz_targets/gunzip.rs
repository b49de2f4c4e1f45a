//! Inflating any bytes as a gzip layer never crashes (igzip is C and
//! assembly behind rimg's one unsafe boundary), and whatever flate2's
//! decoder inflates, rimg inflates to the same bytes. (rimg may accept a
//! little more: it does not check the optional header CRC, which a layer's
//! digest makes redundant.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::Read;

fuzz_target!(|data: &[u8]| {
    // Only gzip reaches igzip; anything else is another decoder's input.
    if !data.starts_with(&[0x1f, 0x8b]) {
        return;
    }
    let mut ours = Vec::new();
    let ours_ok = rimg::layer::decompress(data, Some(data.len() as u64))
        .and_then(|mut reader| reader.read_to_end(&mut ours))
        .is_ok();
    let mut theirs = Vec::new();
    let theirs_ok = flate2::read::MultiGzDecoder::new(data)
        .read_to_end(&mut theirs)
        .is_ok();
    if theirs_ok {
        assert!(ours_ok, "igzip refuses what flate2 inflates");
        assert!(ours == theirs, "igzip and flate2 inflate differently");
    }
});
