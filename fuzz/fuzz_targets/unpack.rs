//! Unpacking any bytes as a layer never panics and never writes outside
//! the rootfs: a sibling directory stays empty and the sandbox holds
//! nothing but the rootfs, whatever links, `..` names or absolute paths
//! the tar holds; in both modes, a container's rootfs and an overlay
//! snapshot.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rimg::container::unpack::{unpack_layer, Options};

fuzz_target!(|data: &[u8]| {
    let sandbox = tempfile::tempdir().expect("a temporary directory");
    let outside = sandbox.path().join("outside");
    std::fs::create_dir(&outside).expect("outside");
    for overlay in [false, true] {
        let root = sandbox.path().join(if overlay { "snapshot" } else { "rootfs" });
        std::fs::create_dir(&root).expect("rootfs");
        // Unprivileged: the fuzzer must not make device nodes on its host.
        let _ = unpack_layer(&root, data, Options { overlay, ..Options::default() });
    }
    let escaped: Vec<_> = std::fs::read_dir(&outside)
        .expect("listing outside")
        .collect();
    assert!(escaped.is_empty(), "wrote outside the rootfs: {escaped:?}");
    let siblings = std::fs::read_dir(sandbox.path())
        .expect("listing the sandbox")
        .count();
    assert_eq!(siblings, 3, "created files beside the rootfs");
});
