//! Decompression bombs: layers and archives that expand far beyond what
//! their compressed size declares. Every decompression rimg does is bounded
//! by `rimg::layer::expansion_limit` (2048 times the compressed size, and
//! at least 1 GiB), so `pull`, `load` and `create` refuse them with an
//! error naming the problem, exit 1, and leave the store as it was, while
//! a zero-filled layer under the limit still works.
//!
//! The bombs are zstd frames of RLE blocks written by hand: a few dozen KB
//! that expand to GiBs, made without ever holding the expanded bytes.

mod common;

use common::archive::{self as ar, LegacyImage};
use common::consistency::{assert_consistent, assert_repairs_clean};
use common::layout::Layout;
use common::podman::skopeo;
use common::registry::{isolated_rimg, Registry};
use common::Fixture;
use rimg::digest::{Digest, Hasher};
use rimg::layer::MIN_EXPANSION_LIMIT;
use rimg::oci::{media_type, Descriptor};
use serde_json::json;
use std::path::Path;
use tempfile::TempDir;

/// Zeros in each bomb: twice the least the bound ever allows, so the
/// bound is what stops it.
const BOMB: u64 = 2 * MIN_EXPANSION_LIMIT;

/// Zeros in the sane layer: 32000 times its compressed size, far over the
/// ratio, but under the floor every stream may expand to.
const SANE: u64 = 256 << 20;

/// A zstd frame holding `prefix` as it is, then `zeros` zero bytes as RLE
/// blocks: 4 bytes per 128 KiB, about the most any zstd stream expands.
fn zstd_runs(prefix: &[u8], zeros: u64) -> Vec<u8> {
    const BLOCK: u64 = 128 << 10;
    // Magic; a frame header with no content size and a 128 KiB window.
    let mut out = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38];
    let mut block = |kind: u32, size: u64, last: bool, body: &[u8]| {
        let header = u32::from(last) | kind << 1 | (size as u32) << 3;
        out.extend_from_slice(&header.to_le_bytes()[..3]);
        out.extend_from_slice(body);
    };
    block(0, prefix.len() as u64, zeros == 0, prefix);
    let mut left = zeros;
    while left > 0 {
        let size = left.min(BLOCK);
        left -= size;
        block(1, size, left == 0, &[0]);
    }
    out
}

/// The header of a tar entry named `zeros` of `size` bytes.
fn tar_header(kind: tar::EntryType, size: u64) -> Vec<u8> {
    let mut header = tar::Header::new_gnu();
    header.set_path("zeros").unwrap();
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(0o755);
    header.set_mtime(0);
    header.set_cksum();
    header.as_bytes().to_vec()
}

/// A layer whose one file declares `BOMB` zeros, compressed to ~64 KB.
fn bomb_layer(kind: tar::EntryType) -> Vec<u8> {
    zstd_runs(&tar_header(kind, BOMB), BOMB)
}

/// A valid layer tar holding `SANE` zeros (with the two zero blocks that
/// end a tar), zstd-compressed, and its diff ID.
fn sane_layer() -> (Vec<u8>, Digest) {
    let header = tar_header(tar::EntryType::Regular, SANE);
    let zeros = SANE + 1024;
    let mut hasher = Hasher::new();
    hasher.update(&header);
    let chunk = vec![0; 1 << 20];
    let mut left = zeros;
    while left > 0 {
        let n = left.min(chunk.len() as u64);
        hasher.update(&chunk[..n as usize]);
        left -= n;
    }
    (zstd_runs(&header, zeros), hasher.finish())
}

/// An OCI layout in `dir` holding one image of `layer` (zstd) whose config
/// claims `diff_id`, tagged `tag`. A bomb's true diff ID is no defence: an
/// attacker who controls the image computes it, so the tests don't bother.
fn layout_with(dir: &Path, layer: &[u8], diff_id: &Digest, tag: &str) -> Descriptor {
    layout_behind(dir, 0, layer, diff_id, tag)
}

/// As [`layout_with`], with `fillers` larger plain layers before `layer`.
/// A pull decompresses the largest layers, one per core, as they stream;
/// behind enough larger ones, `layer` is measured from its stored blob.
fn layout_behind(dir: &Path, fillers: u8, layer: &[u8], diff_id: &Digest, tag: &str) -> Descriptor {
    let mut layout = Layout::new(dir);
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    for filler in 0..fillers {
        let mut tar = tar_header(tar::EntryType::Regular, 256 << 10);
        tar.extend(vec![filler; (256 << 10) + 1024]);
        let digest = layout.blob(&tar);
        layers.push(Descriptor::new(
            media_type::OCI_LAYER,
            digest.clone(),
            tar.len() as u64,
        ));
        diff_ids.push(digest);
    }
    let digest = layout.blob(layer);
    layers.push(Descriptor::new(
        media_type::OCI_LAYER_ZSTD,
        digest,
        layer.len() as u64,
    ));
    diff_ids.push(diff_id.clone());
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap();
    let config = layout.blob(&config);
    let image = common::layout::BuiltImage {
        manifest: layout.manifest_with(&config, &layers),
        config,
        layers: layers.clone(),
        diff_ids,
    };
    layout.tag(tag, &[&image]);
    layers.pop().unwrap()
}

/// A legacy archive of one image: `layer` (compressed, so its config
/// names `diff_id` rather than the file's digest), tagged `tag`.
fn legacy_archive(layer: Vec<u8>, diff_id: &Digest, tag: &str) -> Vec<u8> {
    let mut image = LegacyImage::from_layers(vec![layer], &[tag]);
    let mut config: serde_json::Value = serde_json::from_slice(&image.config).unwrap();
    config["rootfs"]["diff_ids"] = json!([diff_id]);
    image.config = serde_json::to_vec(&config).unwrap();
    ar::legacy_archive(&[image])
}

#[track_caller]
fn assert_refused(code: i32, stderr: &str, names: &str) {
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(names) && stderr.contains("refused as a decompression bomb"),
        "expected {names:?} and the bomb named in: {stderr}"
    );
}

/// Pushes an image whose last layer is a bomb, behind `fillers` larger
/// layers, as `zeros/app:TAG`; returns the bomb's descriptor.
fn push_bomb(registry: &Registry, src: &Path, fillers: u8, tag: &str) -> Descriptor {
    let bomb = layout_behind(
        src,
        fillers,
        &bomb_layer(tar::EntryType::Regular),
        &Digest::of(b"whatever"),
        tag,
    );
    registry.push(
        src,
        tag,
        &format!("zeros/app:{tag}"),
        &["--preserve-digests"],
    );
    bomb
}

fn pull(registry: &Registry, root: &Path, tag: &str) -> std::process::Output {
    isolated_rimg(root, None)
        .args(["pull", &registry.image(&format!("zeros/app:{tag}"))])
        .output()
        .unwrap()
}

/// The pull failed on `bomb`, in Docker's words for a bad layer.
fn assert_pull_refused(out: &std::process::Output, bomb: &Descriptor) {
    assert_refused(
        out.status.code().unwrap_or(-1),
        &String::from_utf8_lossy(&out.stderr),
        &format!(
            "filesystem layer verification failed for digest {}",
            bomb.digest
        ),
    );
}

#[test]
fn pull_refuses_a_bomb_layer_and_takes_a_sane_zero_filled_one() {
    let registry = Registry::start();
    let src = TempDir::new().unwrap();
    let (sane, sane_diff_id) = sane_layer();
    layout_with(src.path(), &sane, &sane_diff_id, "sane");
    registry.push(
        src.path(),
        "sane",
        "zeros/app:sane",
        &["--preserve-digests"],
    );
    let bomb = push_bomb(&registry, src.path(), 0, "bomb");

    let root = TempDir::new().unwrap();
    let sane_pull = pull(&registry, root.path(), "sane");
    assert!(sane_pull.status.success(), "{sane_pull:?}");
    let before = ar::store_state(root.path());

    assert_pull_refused(&pull(&registry, root.path(), "bomb"), &bomb);
    // As after any failed pull, blobs that verified against their digest
    // may stay as repairable leftovers; the index is untouched.
    assert_eq!(
        ar::store_state(root.path()).0,
        before.0,
        "the index changed"
    );
    assert_consistent(root.path(), "after a bomb pull");
    assert_repairs_clean(root.path(), "after a bomb pull");
    assert_eq!(ar::store_state(root.path()), before);
}

#[test]
fn pull_refuses_a_bomb_layer_measured_from_its_stored_blob() {
    // Four larger layers take the streaming decompressors of a machine
    // with fewer cores (CI has two), so the bomb is measured once stored:
    // it must be refused there too, in the same words.
    let registry = Registry::start();
    let src = TempDir::new().unwrap();
    let bomb = push_bomb(&registry, src.path(), 4, "behind");
    let root = TempDir::new().unwrap();
    assert_pull_refused(&pull(&registry, root.path(), "behind"), &bomb);
    assert_consistent(root.path(), "after a bomb pull");
}

#[test]
fn load_refuses_a_bomb_layer_and_takes_a_sane_zero_filled_one() {
    let fx = Fixture::new();
    let (sane, sane_diff_id) = sane_layer();
    let loaded = ar::load(&fx, &legacy_archive(sane, &sane_diff_id, "sane:1"));
    assert_eq!(loaded.code, 0, "{loaded:?}");
    let before = ar::store_state(&fx.root());

    let bomb = bomb_layer(tar::EntryType::Regular);
    let digest = Digest::of(&bomb);
    let run = ar::load(
        &fx,
        &legacy_archive(bomb, &Digest::of(b"whatever"), "bomb:1"),
    );
    assert_refused(run.code, &run.stderr, &format!("layer {digest}"));
    assert_eq!(ar::store_state(&fx.root()), before, "the store changed");
    assert_consistent(&fx.root(), "after a bomb load");
}

#[test]
fn load_refuses_a_bomb_archive_from_a_file_before_writing_it() {
    let fx = Fixture::new();
    fx.store();
    let before = ar::store_state(&fx.root());
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("bomb.tar.zst");
    std::fs::write(&path, bomb_layer(tar::EntryType::Regular)).unwrap();
    // Refused from the entry's header: its data would end past the limit.
    let run = fx.run_raw(&["load", "-i", path.to_str().unwrap()], b"");
    assert_refused(
        run.code,
        &run.stderr,
        "archive entry \"zeros\" is too large",
    );
    // Through stdin redirected from the file, likewise.
    let mut command = common::rimg_command(&fx.root());
    let out = command
        .arg("load")
        .stdin(std::fs::File::open(&path).unwrap())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_refused(
        out.status.code().unwrap_or(-1),
        &stderr,
        "archive entry \"zeros\" is too large",
    );
    assert_eq!(ar::store_state(&fx.root()), before, "the store changed");
}

#[test]
fn load_refuses_a_bomb_archive_from_a_pipe() {
    let fx = Fixture::new();
    fx.store();
    let before = ar::store_state(&fx.root());
    // A pipe has no size to bound by: the stream is cut once it has
    // expanded beyond the limit for the bytes read so far (1 GiB here).
    let run = ar::load(&fx, &bomb_layer(tar::EntryType::Regular));
    assert_refused(run.code, &run.stderr, "reading the archive");
    assert_eq!(ar::store_state(&fx.root()), before, "the store changed");
    assert_consistent(&fx.root(), "after a bomb load");
}

#[test]
fn create_refuses_a_bomb_layer_another_tool_stored() {
    let fx = Fixture::new();
    fx.store();
    // skopeo writes into the store as it would for any image: nothing
    // measured the layer on the way in.
    let src = TempDir::new().unwrap();
    // The bomb is a directory entry with data, which tar skips by reading
    // it: the bound is on the decompressed stream whatever its entries,
    // and this one cuts it off without writing a GiB first.
    let bomb = layout_with(
        src.path(),
        &bomb_layer(tar::EntryType::Directory),
        &Digest::of(b"whatever"),
        "bomb",
    );
    skopeo(&[
        "copy",
        &format!("oci:{}:bomb", src.path().display()),
        &format!("oci:{}:docker.io/library/bomb:1", fx.root().display()),
    ]);
    let before = ar::store_state(&fx.root());
    let run = fx.run(&["create", "--name", "boom", "bomb:1"]);
    // create exits 125 on its own errors, as Docker's.
    assert_eq!(run.code, 125, "{}", run.stderr);
    assert_refused(1, &run.stderr, &bomb.digest.to_string());
    assert_eq!(ar::store_state(&fx.root()), before, "the store changed");
    let containers = fx.root().join("containers");
    let left = std::fs::read_dir(&containers).map_or(0, |d| d.count());
    assert_eq!(left, 0, "container directories left behind");
    // The image still lists (its unmeasurable layer counted at its
    // compressed size) and can be removed.
    let listed = fx.ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.Size}}"]);
    assert_eq!(listed, "bomb:1 66.1kB\n");
    fx.ok(&["rmi", "bomb:1"]);
    assert_eq!(fx.ok(&["images", "-q"]), "");
}
