//! Unpacking any bytes as a layer never panics and never writes outside
//! the rootfs: a sibling directory stays empty and the sandbox holds
//! nothing but the rootfs, whatever links, `..` names or absolute paths
//! the tar holds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rimg::container::unpack::{unpack_layer, Options};

fuzz_target!(|data: &[u8]| {
    let sandbox = tempfile::tempdir().expect("a temporary directory");
    let rootfs = sandbox.path().join("rootfs");
    let outside = sandbox.path().join("outside");
    std::fs::create_dir(&rootfs).expect("rootfs");
    std::fs::create_dir(&outside).expect("outside");
    // Unprivileged: the fuzzer must not make device nodes on its host.
    let _ = unpack_layer(&rootfs, data, Options::default());
    let escaped: Vec<_> = std::fs::read_dir(&outside)
        .expect("listing outside")
        .collect();
    assert!(escaped.is_empty(), "wrote outside the rootfs: {escaped:?}");
    let siblings = std::fs::read_dir(sandbox.path())
        .expect("listing the sandbox")
        .count();
    assert_eq!(siblings, 2, "created files beside the rootfs");
});
