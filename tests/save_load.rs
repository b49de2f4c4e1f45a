//! `save` and `load` through the real binary: the archive format, round
//! trips, every input format and compression, and failures mid-way.

mod common;

use common::archive::{self as ar, LegacyImage, TarWriter};
use common::podman::{skopeo, transport, Podman};
use common::{Compression, Fixture, ImageSpec};
use rimg::digest::Digest;
use rimg::image::Catalog;
use rimg::oci::{media_type, Descriptor, Manifest};
use rimg::reference::Reference;
use serde_json::Value;
use std::collections::BTreeMap;

/// Image ID to its references (full names), as the store has them.
fn images_of(fx: &Fixture) -> BTreeMap<String, Vec<String>> {
    let catalog = Catalog::load(&fx.store()).expect("catalog");
    catalog
        .images()
        .iter()
        .map(|i| {
            (
                i.id.to_string(),
                i.refs.iter().map(|r| r.to_string()).collect(),
            )
        })
        .collect()
}

/// Two images sharing a base layer, one with a repo digest, one zstd.
fn sample(fx: &Fixture) -> (common::BuiltImage, common::BuiltImage) {
    let base: &[(&str, &[u8])] = &[("etc/base", b"shared base layer")];
    let app = fx.add_image(
        &ImageSpec::new(&["app:1", "app:latest"])
            .layers(&[base, &[("app", b"application")]])
            .compression(Compression::Gzip),
    );
    let other = fx.add_image(
        &ImageSpec::new(&["registry.example:5000/team/other:2"])
            .layers(&[base, &[("other", b"other image")]])
            .compression(Compression::Zstd),
    );
    let digest_ref = Reference::parse(&format!("app@{}", app.manifest.digest)).unwrap();
    rimg::image::register(&fx.store(), &app.manifest, &[digest_ref]).unwrap();
    (app, other)
}

#[test]
fn save_writes_docker_25_layout_with_uncompressed_shared_layers_once() {
    let fx = Fixture::new();
    let (app, other) = sample(&fx);
    let bytes = ar::save(&fx, &["app", "registry.example:5000/team/other:2"]);
    let entries = ar::read_tar(&bytes);
    let paths: Vec<&str> = entries.iter().map(|(p, _, _)| p.as_str()).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted, "entries are written in sorted order");
    let file = |name: &str| -> &[u8] {
        &entries
            .iter()
            .find(|(p, _, _)| p == name)
            .unwrap_or_else(|| panic!("{name} missing from {paths:?}"))
            .2
    };
    // Layers: three distinct diff IDs, the shared base once, uncompressed.
    let layer_blobs: Vec<&str> = paths
        .iter()
        .copied()
        .filter(|p| {
            app.diff_ids
                .iter()
                .chain(&other.diff_ids)
                .any(|d| p.ends_with(d.hex()))
        })
        .collect();
    assert_eq!(layer_blobs.len(), 3, "{paths:?}");
    for path in &layer_blobs {
        let data = file(path);
        assert_eq!(format!("blobs/sha256/{}", Digest::of(data).hex()), *path);
    }
    assert_eq!(
        file(&format!("blobs/sha256/{}", app.id.hex())),
        &fx.store().read_blob(&app.id).unwrap()[..]
    );
    assert_eq!(file("oci-layout"), br#"{"imageLayoutVersion": "1.0.0"}"#);

    let manifest_json: Value = serde_json::from_slice(file("manifest.json")).unwrap();
    assert_eq!(
        manifest_json,
        serde_json::json!([
            {
                "Config": format!("blobs/sha256/{}", app.id.hex()),
                "RepoTags": ["app:1", "app:latest"],
                "Layers": app.diff_ids.iter().map(|d| format!("blobs/sha256/{}", d.hex())).collect::<Vec<_>>(),
            },
            {
                "Config": format!("blobs/sha256/{}", other.id.hex()),
                "RepoTags": ["registry.example:5000/team/other:2"],
                "Layers": other.diff_ids.iter().map(|d| format!("blobs/sha256/{}", d.hex())).collect::<Vec<_>>(),
            },
        ])
    );
    let repositories: Value = serde_json::from_slice(file("repositories")).unwrap();
    assert_eq!(repositories["app"]["1"], Value::from(app.diff_ids[1].hex()));

    let index: rimg::oci::Index = serde_json::from_slice(file("index.json")).unwrap();
    let names: Vec<(Option<&str>, Option<&str>)> = index
        .manifests
        .iter()
        .map(|d| {
            (
                d.annotation("io.containerd.image.name"),
                d.annotation("org.opencontainers.image.ref.name"),
            )
        })
        .collect();
    assert_eq!(
        names,
        vec![
            (Some("docker.io/library/app:1"), Some("1")),
            (Some("docker.io/library/app:latest"), Some("latest")),
            (Some("registry.example:5000/team/other:2"), Some("2")),
        ]
    );
    // Each manifest is valid OCI, references the uncompressed layers and
    // keeps the config, so the image ID is unchanged.
    let entry: &Descriptor = &index.manifests[0];
    assert_eq!(entry.media_type, media_type::OCI_MANIFEST);
    let manifest_bytes = file(&format!("blobs/sha256/{}", entry.digest.hex()));
    assert_eq!(Digest::of(manifest_bytes), entry.digest);
    let manifest: Manifest = serde_json::from_slice(manifest_bytes).unwrap();
    assert_eq!(manifest.config.digest, app.id);
    assert_eq!(
        manifest
            .layers
            .iter()
            .map(|l| &l.digest)
            .collect::<Vec<_>>(),
        app.diff_ids.iter().collect::<Vec<_>>()
    );
    assert!(manifest
        .layers
        .iter()
        .all(|l| l.media_type == media_type::OCI_LAYER));

    // Saving again gives the same bytes.
    assert_eq!(
        ar::save(&fx, &["app", "registry.example:5000/team/other:2"]),
        bytes
    );
}

#[test]
fn round_trips_through_gzip_and_zstd_keep_ids_tags_and_repo_digests() {
    let fx = Fixture::new();
    sample(&fx);
    let want = images_of(&fx);
    let bytes = ar::save(
        &fx,
        &["app:1", "app:latest", "registry.example:5000/team/other"],
    );
    for compressed in [ar::zstd(&bytes), common::gzip(&bytes)] {
        let fresh = Fixture::new();
        let run = ar::load(&fresh, &compressed);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(
            String::from_utf8_lossy(&run.stdout),
            "Loaded image: app:1\nLoaded image: app:latest\nLoaded image: registry.example:5000/team/other:2\n"
        );
        assert_eq!(images_of(&fresh), want);
        // Consistent, and no orphan or leftover either.
        assert!(fresh
            .ok(&["system", "check"])
            .ends_with(": the store is consistent\n"));
        // The loaded store saves to the very same archive.
        assert_eq!(
            ar::save(
                &fresh,
                &["app:1", "app:latest", "registry.example:5000/team/other"]
            ),
            bytes
        );
    }
}

#[test]
fn save_by_id_writes_an_untagged_image_that_loads_as_an_id() {
    let fx = Fixture::new();
    let image = fx.add_image(&ImageSpec::new(&["solo:1"]));
    let bytes = ar::save(&fx, &[image.id.short()]);
    let entries = ar::read_tar(&bytes);
    let manifest_json = &entries.iter().find(|e| e.0 == "manifest.json").unwrap().2;
    let items: Value = serde_json::from_slice(manifest_json).unwrap();
    assert_eq!(items[0]["RepoTags"], Value::Null);
    assert!(!entries.iter().any(|e| e.0 == "repositories"));

    let fresh = Fixture::new();
    let run = ar::load(&fresh, &bytes);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        format!("Loaded image ID: {}\n", image.id)
    );
}

#[test]
fn loading_moves_an_existing_tag_and_leaves_the_old_image_dangling() {
    let source = Fixture::new();
    let new = source.add_image(&ImageSpec::new(&["app:1"]).layers(&[&[("v", b"2")]]));
    let bytes = ar::save(&source, &["app:1"]);

    let fx = Fixture::new();
    let old = fx.add_image(&ImageSpec::new(&["app:1"]).layers(&[&[("v", b"1")]]));
    let run = ar::load(&fx, &bytes);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let images = images_of(&fx);
    assert_eq!(images[&new.id.to_string()], vec!["docker.io/library/app:1"]);
    assert_eq!(images[&old.id.to_string()], Vec::<String>::new());
}

#[test]
fn loads_legacy_docker_archives_in_every_compression() {
    let base: &[(&str, &[u8])] = &[("base", b"base")];
    let images = [
        LegacyImage::new(&[base, &[("one", b"1")]], &["one:1", "quay.io/x/one:2"]),
        LegacyImage::new(&[base], &[]),
    ];
    let archive = ar::legacy_archive(&images);
    for (name, input) in [
        ("plain", archive.clone()),
        ("gzip", common::gzip(&archive)),
        ("bzip2", ar::bzip2(&archive)),
        ("xz", ar::xz(&archive)),
        ("zstd", ar::zstd(&archive)),
    ] {
        let fx = Fixture::new();
        let run = ar::load(&fx, &input);
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        assert_eq!(
            String::from_utf8_lossy(&run.stdout),
            format!(
                "Loaded image: one:1\nLoaded image: quay.io/x/one:2\nLoaded image ID: {}\n",
                images[1].id()
            ),
            "{name}"
        );
        let loaded = images_of(&fx);
        assert_eq!(
            loaded[&images[0].id().to_string()],
            vec!["docker.io/library/one:1", "quay.io/x/one:2"]
        );
        // Only the images' blobs stay: the legacy json/VERSION files and
        // manifest.json are gone.
        let (_, files) = ar::store_state(&fx.root());
        let blobs = files.iter().filter(|f| f.starts_with("blobs/")).count();
        assert_eq!(blobs, 2 + 2 + 2, "{name}: 2 layers, 2 configs, 2 manifests");
        assert!(fx
            .ok(&["system", "check"])
            .ends_with(": the store is consistent\n"));
    }
}

#[test]
fn loads_oci_archives_with_compressed_layers_and_ref_names() {
    // What skopeo and `podman save --format oci-archive` write: blobs as
    // stored (gzip here), tags only in index.json.
    let source = Fixture::new();
    let tagged = source.add_image(&ImageSpec::new(&["oci:1"]).compression(Compression::Gzip));
    let untagged = source.add_image(&ImageSpec::new(&["gone:1"]).compression(Compression::Zstd));
    let store = source.store();
    let mut tar = TarWriter::new().file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    let mut blobs: Vec<&Digest> = Vec::new();
    for image in [&tagged, &untagged] {
        blobs.push(&image.manifest.digest);
        blobs.push(&image.id);
        blobs.extend(&image.layers);
    }
    let mut entries = vec![tagged.manifest.clone(), untagged.manifest.clone()];
    entries[0].annotations.insert(
        "org.opencontainers.image.ref.name".into(),
        "localhost/oci:1".into(),
    );
    let index = rimg::oci::Index {
        manifests: entries,
        ..Default::default()
    };
    tar = tar.file("index.json", &serde_json::to_vec(&index).unwrap());
    for digest in blobs {
        tar = tar.file(
            &format!("blobs/sha256/{}", digest.hex()),
            &store.read_blob(digest).unwrap(),
        );
    }
    let fx = Fixture::new();
    let run = ar::load(&fx, &tar.finish());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        format!(
            "Loaded image: localhost/oci:1\nLoaded image ID: {}\n",
            untagged.id
        )
    );
    // Stored as they came: the same manifests, so the same digests.
    let catalog = Catalog::load(&fx.store()).unwrap();
    let found = catalog.find("localhost/oci:1").unwrap();
    assert_eq!(
        catalog.image(&found).descriptor.digest,
        tagged.manifest.digest
    );
    assert_eq!(catalog.images().len(), 2);
}

#[test]
fn load_reads_a_file_with_dash_i_and_save_writes_one_with_dash_o() {
    let fx = Fixture::new();
    let image = fx.add_image(&ImageSpec::new(&["file:1"]));
    let path = fx.dir.path().join("out.tar");
    fx.ok(&["save", "-o", path.to_str().unwrap(), "file:1"]);
    let fresh = Fixture::new();
    let out = fresh.ok(&["load", "-q", "-i", path.to_str().unwrap()]);
    assert_eq!(out, "Loaded image: file:1\n");
    assert!(images_of(&fresh).contains_key(&image.id.to_string()));
}

#[test]
fn save_dash_o_writes_a_file_of_0666_less_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let fx = Fixture::new();
    fx.add_image(&ImageSpec::new(&["file:1"]));
    let path = fx.dir.path().join("out.tar");
    fx.ok_with_umask_022(&["save", "-o", path.to_str().unwrap(), "file:1"]);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o644);
}

/// An image of one layer stored with `compression`, whose stored layer
/// blob `damage` then changes behind the store's back (its layer info was
/// recorded first).
fn damaged_image(
    fx: &Fixture,
    compression: Compression,
    damage: impl FnOnce(&mut Vec<u8>),
) -> common::BuiltImage {
    let image = fx.add_image(&ImageSpec::new(&["broken:1"]).compression(compression));
    let store = fx.store();
    let stored = Descriptor::new(media_type::OCI_LAYER, image.layers[0].clone(), 0);
    store.layer_info(&stored).unwrap();
    let layer = store.blob_path(&image.layers[0]);
    let mut bytes = std::fs::read(&layer).unwrap();
    damage(&mut bytes);
    std::fs::write(&layer, bytes).unwrap();
    image
}

/// Runs `rimg save -o` of `broken:1` into an empty directory and checks it
/// fails naming the damage and leaves nothing there.
fn assert_save_fails_without_output(fx: &Fixture) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.tar");
    let run = fx.run(&["save", "-o", path.to_str().unwrap(), "broken:1"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("is damaged"), "{}", run.stderr);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn save_failing_mid_way_leaves_no_output_file() {
    // A compressed layer is decompressed and checked against its diff ID:
    // the writer notices only when it reaches the end of the layer.
    let fx = Fixture::new();
    damaged_image(&fx, Compression::Gzip, |b| {
        let middle = b.len() / 2;
        b[middle] ^= 1;
    });
    assert_save_fails_without_output(&fx);
    // An uncompressed layer is copied as it is, but never with another
    // size than the tar header gives.
    let fx = Fixture::new();
    damaged_image(&fx, Compression::None, |b| b.truncate(b.len() - 1));
    assert_save_fails_without_output(&fx);
    // Without the cached layer info, the config's diff IDs catch a changed
    // byte first.
    let fx = Fixture::new();
    damaged_image(&fx, Compression::None, |b| b[600] ^= 1);
    std::fs::remove_dir_all(fx.root().join(".rimg/layers")).unwrap();
    assert_save_fails_without_output(&fx);
}

#[test]
fn a_changed_byte_in_an_uncompressed_layer_is_caught_by_load_and_system_check() {
    // Save copies uncompressed layers without hashing them again (the
    // store verified them on the way in), so damage done to the store
    // afterwards goes into the archive, under the layer's true digest.
    let fx = Fixture::new();
    let image = damaged_image(&fx, Compression::None, |b| b[600] ^= 1);
    let bytes = ar::save(&fx, &["broken:1"]);
    let fresh = Fixture::new();
    let run = ar::load(&fresh, &bytes);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("failed verification"), "{}", run.stderr);
    assert!(images_of(&fresh).is_empty());
    let run = fx.run(&["system", "check"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout
            .contains(&format!("corrupt blob {}", image.layers[0])),
        "{}",
        run.stdout
    );
}

#[test]
fn save_to_a_closed_pipe_fails_with_a_message() {
    let fx = Fixture::new();
    // Big enough not to fit in the pipe buffer.
    let big: Vec<u8> = (0..4_000_000u32).flat_map(|i| i.to_le_bytes()).collect();
    fx.add_image(&ImageSpec::new(&["big:1"]).layers(&[&[("big", &big[..])]]));
    let mut child = common::rimg_command(&fx.root())
        .args(["save", "big:1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("writing the archive"), "{stderr}");
}

#[test]
fn save_refuses_unknown_images_before_writing() {
    let fx = Fixture::new();
    let path = fx.dir.path().join("none.tar");
    // Docker 20.10's words for a tag no image has.
    let run = fx.run(&["save", "-o", path.to_str().unwrap(), "nope:1"]);
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (1, "Error: reference does not exist\n")
    );
    assert!(!path.exists());
}

/// Saves `names` from `fx` into `DIR/FILE` and returns the path.
fn save_file(fx: &Fixture, file: &str, names: &[&str]) -> std::path::PathBuf {
    let path = fx.dir.path().join(file);
    let mut args = vec!["save", "-o", path.to_str().unwrap()];
    args.extend_from_slice(names);
    fx.ok(&args);
    path
}

#[test]
fn docker_engine_loads_runs_and_saves_archives_rimg_reads() {
    let fx = Fixture::new();
    let runnable = LegacyImage::from_layers(
        vec![ar::runnable_layer("hello from rimg\n")],
        &["rimg-run:1"],
    );
    let run = ar::load(&fx, &ar::legacy_archive(std::slice::from_ref(&runnable)));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let data = fx.add_image(
        &ImageSpec::new(&["rimg-data:1"])
            .layers(&[&[("a", b"zstd layer")], &[("b", b"another")]])
            .compression(Compression::Zstd),
    );
    let path = save_file(&fx, "rimg.tar", &["rimg-run:1", "rimg-data:1"]);

    let docker = common::docker::Dockerd::start();
    let out = docker.ok(&["load", "-i", path.to_str().unwrap()]);
    assert!(out.contains("Loaded image: rimg-run:1"), "{out}");
    assert!(out.contains("Loaded image: rimg-data:1"), "{out}");
    for (name, id) in [
        ("rimg-run:1", runnable.id()),
        ("rimg-data:1", data.id.clone()),
    ] {
        let docker_id = docker.ok(&["image", "inspect", "--format", "{{.Id}}", name]);
        assert_eq!(docker_id.trim(), id.to_string(), "{name}");
    }
    let printed = docker.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "rimg-run:1",
        "/bin/cat",
        "/hello.txt",
    ]);
    assert_eq!(printed, "hello from rimg\n");

    // And back: what this Docker engine saves, rimg loads with the same IDs.
    docker.ok(&["tag", "rimg-run:1", "docker-made:2"]);
    let saved = docker.ok_raw(&["save", "docker-made:2", "rimg-data:1"]);
    let fresh = Fixture::new();
    let run = ar::load(&fresh, &saved);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let images = images_of(&fresh);
    assert_eq!(
        images[&runnable.id().to_string()],
        vec!["docker.io/library/docker-made:2"]
    );
    assert_eq!(
        images[&data.id.to_string()],
        vec!["docker.io/library/rimg-data:1"]
    );
}

#[test]
fn podman_and_skopeo_read_rimg_archives_and_rimg_reads_theirs() {
    let fx = Fixture::new();
    let app = fx.add_image(
        &ImageSpec::new(&["app:1"])
            .layers(&[&[("a", b"first")], &[("b", b"second")]])
            .compression(Compression::Gzip),
    );
    let path = save_file(&fx, "rimg.tar", &["app:1"]);

    // skopeo reads both faces of the archive.
    let docker_face: Value =
        serde_json::from_str(&skopeo(&["inspect", &transport("docker-archive", &path)])).unwrap();
    let diff_ids: Vec<Value> = app
        .diff_ids
        .iter()
        .map(|d| Value::from(d.as_str()))
        .collect();
    assert_eq!(docker_face["Layers"], Value::from(diff_ids.clone()));
    let raw: Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--raw",
        &transport("oci-archive", &path),
    ]))
    .unwrap();
    assert_eq!(raw["config"]["digest"], Value::from(app.id.as_str()));

    // podman loads it with the same ID, and an archive of two images
    // under three tags too.
    let podman = Podman::new();
    let out = podman.ok(&["load", "-i", path.to_str().unwrap()]);
    assert!(out.contains("app:1"), "{out}");
    let other = fx.add_image(&ImageSpec::new(&["other:1", "other:2"]));
    let both = save_file(&fx, "both.tar", &["app:1", "other"]);
    // (In a store of its own: podman converts images it holds twice.)
    let podman_both = Podman::new();
    podman_both.ok(&["load", "-i", both.to_str().unwrap()]);
    // Podman reads an archive of several images through manifest.json and
    // puts short names under localhost/, as it does for Docker's archives.
    let listed = podman_both.ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
    for (name, id) in [
        ("/app:1", &app.id),
        ("/other:1", &other.id),
        ("/other:2", &other.id),
    ] {
        assert!(
            listed
                .lines()
                .any(|l| l.contains(&format!("{name} {}", id.short()))),
            "{name} {id} missing from:\n{listed}"
        );
    }

    // And what podman saves, in both formats, rimg loads.
    for format in ["docker-archive", "oci-archive"] {
        let out = fx.dir.path().join(format!("podman-{format}.tar"));
        podman.ok(&[
            "save",
            "--format",
            format,
            "-o",
            out.to_str().unwrap(),
            "docker.io/library/app:1",
        ]);
        let fresh = Fixture::new();
        let run = fresh.run(&["load", "-i", out.to_str().unwrap()]);
        assert_eq!(run.code, 0, "{format}: {}", run.stderr);
        assert_eq!(run.stdout, "Loaded image: app:1\n", "{format}");
        let images = images_of(&fresh);
        assert_eq!(
            images[&app.id.to_string()],
            vec!["docker.io/library/app:1"],
            "{format}"
        );
    }
}

#[test]
fn save_to_a_terminal_and_load_from_one_are_refused() {
    let fx = Fixture::new();
    fx.add_image(&ImageSpec::new(&["tty:1"]));
    // util-linux `script` gives rimg a terminal for stdin and stdout.
    let in_terminal = |args: &str| {
        let command = format!(
            "{} --root {} {args}",
            common::rimg_bin().display(),
            fx.root().display()
        );
        let mut script = std::process::Command::new("script");
        common::isolate(&mut script, &fx.root());
        let out = script
            .args(["-qec", &command, "/dev/null"])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("running script (util-linux)");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = in_terminal("save tty:1");
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("cowardly refusing to save to a terminal. Use the -o flag or redirect"),
        "{out}"
    );
    let (code, out) = in_terminal("load");
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("requested load from stdin, but stdin is empty"),
        "{out}"
    );
}
