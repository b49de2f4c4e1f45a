//! Truncated, corrupt and hostile archives: each must fail with an error
//! that names the problem and leave the store exactly as it was.

mod common;

use common::archive::{self as ar, LegacyImage, TarWriter};
use common::{Fixture, ImageSpec};
use rimg::digest::Digest;

/// Loads `archive` into a store that already holds an image and checks
/// that it fails with `message` and changes nothing.
fn assert_refused(archive: &[u8], message: &str) {
    let fx = Fixture::new();
    fx.add_image(&ImageSpec::new(&["existing:1"]));
    let before = ar::store_state(&fx.root());
    let run = ar::load(&fx, archive);
    assert_eq!(run.code, 1, "load should fail ({message}): {run:?}");
    assert!(
        run.stderr.contains(message),
        "expected {message:?} in: {}",
        run.stderr
    );
    assert!(
        run.stdout.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&run.stdout)
    );
    assert_eq!(ar::store_state(&fx.root()), before, "the store changed");
}

/// A valid one-image legacy archive and its image.
fn legacy() -> (Vec<u8>, LegacyImage) {
    let image = LegacyImage::new(&[&[("a", b"layer a")], &[("b", b"layer b")]], &["ok:1"]);
    (ar::legacy_archive(std::slice::from_ref(&image)), image)
}

/// A valid archive as rimg saves it, with many blobs before the metadata.
fn saved() -> Vec<u8> {
    let fx = Fixture::new();
    fx.add_image(&ImageSpec::new(&["saved:1"]).layers(&[
        &[("one", b"1")],
        &[("two", b"2")],
        &[("three", b"3")],
    ]));
    ar::save(&fx, &["saved:1"])
}

/// Rewrites the entries of a tar through `edit` (which may drop or change
/// them).
fn rewrite(archive: &[u8], edit: impl Fn(&str, Vec<u8>) -> Option<Vec<u8>>) -> Vec<u8> {
    let mut tar = TarWriter::new();
    for (path, kind, data) in ar::read_tar(archive) {
        match kind {
            tar::EntryType::Directory => tar = tar.dir(&path),
            tar::EntryType::Symlink => unreachable!("test archives hold no symlinks here"),
            _ => {
                if let Some(data) = edit(&path, data) {
                    tar = tar.file(&path, &data);
                }
            }
        }
    }
    tar.finish()
}

#[test]
fn valid_inputs_used_below_do_load() {
    let fx = Fixture::new();
    assert_eq!(ar::load(&fx, &legacy().0).code, 0);
    assert_eq!(ar::load(&fx, &saved()).code, 0);
}

#[test]
fn empty_input_and_non_archives_are_refused() {
    assert_refused(b"", "the archive is empty");
    assert_refused(&TarWriter::new().finish(), "not an image archive");
    assert_refused(&[0x42; 4096], "the input is not a tar archive");
    assert_refused(b"hello", "the input is not a tar archive");
}

#[test]
fn parent_and_absolute_paths_are_refused() {
    let (archive, _) = legacy();
    let evil = TarWriter::new().file("../evil", b"x").finish();
    assert_refused(&evil, "unsafe path");
    let evil = TarWriter::new().file("/etc/evil", b"x").finish();
    assert_refused(&evil, "unsafe path");
    let evil = TarWriter::new().file("a/../../evil", b"x").finish();
    assert_refused(&evil, "unsafe path");
    // And after valid entries, so blobs were already stored.
    let mut with_evil = archive[..archive.len() - 1024].to_vec();
    with_evil.extend(TarWriter::new().file("./../x", b"x").finish());
    assert_refused(&with_evil, "unsafe path");
}

#[test]
fn links_out_of_the_archive_are_refused() {
    let evil = TarWriter::new()
        .symlink("abc/layer.tar", "../../etc/passwd")
        .finish();
    assert_refused(&evil, "outside the archive");
    let evil = TarWriter::new()
        .symlink("abc/layer.tar", "/etc/passwd")
        .finish();
    assert_refused(&evil, "outside the archive");
    let evil = TarWriter::new()
        .hardlink("abc/layer.tar", "/etc/passwd")
        .finish();
    assert_refused(&evil, "outside the archive");
    // A link inside the archive that leads nowhere, or only to other
    // links, is a missing file.
    let image = LegacyImage::new(&[&[("a", b"a")]], &["x:1"]);
    let manifest = serde_json::json!([{
        "Config": format!("{}.json", image.id().hex()),
        "RepoTags": ["x:1"],
        "Layers": ["l/layer.tar"],
    }]);
    let dangling: &[(&str, &str)] = &[("l/layer.tar", "../nowhere/layer.tar")];
    let looping: &[(&str, &str)] = &[
        ("l/layer.tar", "../m/layer.tar"),
        ("m/layer.tar", "../l/layer.tar"),
    ];
    for links in [dangling, looping] {
        let mut tar = TarWriter::new();
        for (path, target) in links {
            tar = tar.symlink(path, target);
        }
        let archive = tar
            .file(&format!("{}.json", image.id().hex()), &image.config)
            .file("manifest.json", &serde_json::to_vec(&manifest).unwrap())
            .finish();
        assert_refused(
            &archive,
            "refers to \"l/layer.tar\", which is not in the archive",
        );
    }
}

#[test]
fn special_files_are_refused() {
    let evil = TarWriter::new().fifo("pipe").finish();
    assert_refused(&evil, "\"pipe\" is a Fifo");
}

#[test]
fn duplicate_names_are_refused() {
    let (archive, _) = legacy();
    let evil = rewrite(&archive, |_, data| Some(data));
    let mut doubled = evil[..evil.len() - 1024].to_vec();
    doubled.extend(TarWriter::new().file("./manifest.json", b"[]").finish());
    assert_refused(&doubled, "\"manifest.json\" appears more than once");
}

#[test]
fn missing_files_and_blobs_are_refused() {
    let (archive, image) = legacy();
    // The second layer.tar dropped.
    let cut = rewrite(&archive, |path, data| {
        (!(path.ends_with("layer.tar") && data == image.layers[1])).then_some(data)
    });
    assert_refused(&cut, "which is not in the archive");
    // A blob of a Docker 25+ / OCI archive dropped, index.json alone.
    let saved = saved();
    let oci_only = rewrite(&saved, |path, data| {
        (path != "manifest.json" && !path.starts_with("blobs/sha256/")).then_some(data)
    });
    assert_refused(&oci_only, "which is not in the archive");
}

#[test]
fn manifests_pointing_outside_the_archive_are_refused() {
    let (archive, image) = legacy();
    let evil = rewrite(&archive, |path, data| {
        if path == "manifest.json" {
            let manifest = serde_json::json!([{
                "Config": format!("{}.json", image.id().hex()),
                "RepoTags": ["evil:1"],
                "Layers": ["../../../etc/passwd", "/etc/shadow"],
            }]);
            Some(serde_json::to_vec(&manifest).unwrap())
        } else {
            Some(data)
        }
    });
    assert_refused(
        &evil,
        "refers to \"../../../etc/passwd\", which is not in the archive",
    );
}

#[test]
fn oversized_json_is_refused() {
    let big = vec![b' '; (16 << 20) + 1];
    let evil = TarWriter::new().file("manifest.json", &big).finish();
    assert_refused(&evil, "more than the 16777216-byte limit");
    // An oversized config blob named by manifest.json.
    let config_hex = Digest::of(&big).hex().to_string();
    let manifest = serde_json::json!([{"Config": format!("{config_hex}.json"), "Layers": []}]);
    let evil = TarWriter::new()
        .file(&format!("{config_hex}.json"), &big)
        .file("manifest.json", &serde_json::to_vec(&manifest).unwrap())
        .finish();
    assert_refused(&evil, "more than the 16777216-byte limit");
}

#[test]
fn corrupt_blobs_are_refused() {
    // A Docker 25+ blob whose content does not match its name; blobs
    // before it were already stored and must go again.
    let saved = saved();
    let entries = ar::read_tar(&saved);
    let last_blob = entries
        .iter()
        .rfind(|e| e.0.starts_with("blobs/sha256/") && e.1 == tar::EntryType::Regular)
        .unwrap()
        .0
        .clone();
    let corrupt = rewrite(&saved, |path, mut data| {
        if path == last_blob {
            data[0] ^= 1;
        }
        Some(data)
    });
    assert_refused(&corrupt, "failed verification");
    // A legacy layer that does not match the config's diff ID.
    let (archive, image) = legacy();
    let corrupt = rewrite(&archive, |_, mut data| {
        if data == image.layers[1] {
            data[600] ^= 1;
        }
        Some(data)
    });
    assert_refused(&corrupt, "layer 1 has diff ID");
    // Garbage JSON.
    let corrupt = rewrite(&archive, |path, data| {
        Some(if path == "manifest.json" {
            b"{not json".to_vec()
        } else {
            data
        })
    });
    assert_refused(&corrupt, "manifest.json: invalid JSON");
}

#[test]
fn truncated_archives_are_refused() {
    let (archive, image) = legacy();
    // Cut inside the second layer's data.
    let layer = &image.layers[1];
    let at = archive
        .windows(layer.len())
        .position(|w| w == &layer[..])
        .unwrap();
    assert_refused(&archive[..at + 700], "truncated");
    // Cut at an entry boundary, before manifest.json: no metadata.
    assert_refused(&archive[..at + layer.len()], "not an image archive");
    // A compressed stream cut short.
    let gz = common::gzip(&saved());
    assert_refused(&gz[..gz.len() / 2], "reading the archive");
}

/// `archive` with every entry kept but the one at `path`, whose data
/// becomes `data`.
fn with_entry_replaced(archive: &[u8], path: &str, data: &[u8]) -> Vec<u8> {
    let mut out = TarWriter::new();
    for (name, kind, bytes) in ar::read_tar(archive) {
        out = match kind {
            tar::EntryType::Directory => out.dir(&name),
            _ if name == path => out.file(&name, data),
            _ => out.file(&name, &bytes),
        };
    }
    out.finish()
}

#[test]
fn an_archive_naming_a_stored_blob_cannot_change_what_the_store_says_of_it() {
    let source = Fixture::new();
    source.add_image(&ImageSpec::new(&["good:1"]));
    let good = ar::save(&source, &["good:1"]);
    let fx = Fixture::new();
    assert_eq!(ar::load(&fx, &good).code, 0);
    let size = |fx: &Fixture| fx.ok(&["images", "--format", "{{.Size}}", "good:1"]);
    let before = size(&fx);
    let store = fx.store();
    let catalog = rimg::image::Catalog::load(&store).unwrap();
    let image = catalog.image(&catalog.find("good:1").unwrap()).clone();
    let layer = image.manifest.layers[0].digest.clone();

    // The same archive, its layer entry holding one byte.
    let hostile = with_entry_replaced(&good, &format!("blobs/sha256/{}", layer.hex()), b"x");
    assert_eq!(ar::load(&fx, &hostile).code, 0, "the stored blob is used");
    assert_eq!(size(&fx), before, "the stored layer's size changed");
    let saved = fx.run_raw(&["save", "good:1"], b"");
    assert_eq!(saved.code, 0, "{}", saved.stderr);
    assert_eq!(fx.ok(&["system", "check"]).lines().count(), 1);
}

#[test]
fn descriptors_with_wrong_sizes_are_refused() {
    let source = Fixture::new();
    source.add_image(&ImageSpec::new(&["sized:1"]));
    let good = ar::save(&source, &["sized:1"]);
    // The archive's index.json entry claims its manifest is one byte longer.
    let entries = ar::read_tar(&good);
    let (_, _, index) = entries.iter().find(|(n, _, _)| n == "index.json").unwrap();
    let mut index: serde_json::Value = serde_json::from_slice(index).unwrap();
    let manifest = &mut index["manifests"][0];
    let digest = manifest["digest"].as_str().unwrap().to_string();
    let true_size = manifest["size"].as_u64().unwrap();
    manifest["size"] = (true_size + 1).into();
    let mut hostile = TarWriter::new();
    for (name, kind, bytes) in entries {
        hostile = match kind {
            tar::EntryType::Directory => hostile.dir(&name),
            _ if name == "manifest.json" => hostile,
            _ if name == "index.json" => hostile.file(&name, &serde_json::to_vec(&index).unwrap()),
            _ => hostile.file(&name, &bytes),
        };
    }
    assert_refused(
        &hostile.finish(),
        &format!(
            "index.json says {digest} is {} bytes, but it is {true_size}",
            true_size + 1
        ),
    );
}
