//! The store is a real OCI image layout: skopeo reads what rimg writes, and
//! rimg manages what skopeo writes into it.

mod common;

use common::podman::skopeo;
use common::{Fixture, ImageSpec};

#[test]
fn skopeo_reads_images_rimg_holds() {
    let fx = Fixture::new();
    let img = fx.add_image(&ImageSpec::new(&["app:1"]));
    fx.ok(&["tag", "app:1", "localhost:5000/team/app:2"]);
    let root = fx.root();
    for name in ["docker.io/library/app:1", "localhost:5000/team/app:2"] {
        let inspect: serde_json::Value = serde_json::from_str(&skopeo(&[
            "inspect",
            &format!("oci:{}:{name}", root.display()),
        ]))
        .unwrap();
        assert_eq!(inspect["Digest"], img.manifest.digest.as_str());
        assert_eq!(inspect["Layers"][0], img.layers[0].as_str());
        let config: serde_json::Value = serde_json::from_str(&skopeo(&[
            "inspect",
            "--config",
            &format!("oci:{}:{name}", root.display()),
        ]))
        .unwrap();
        assert_eq!(config["rootfs"]["diff_ids"][0], img.diff_ids[0].as_str());
    }
}

/// A fresh store into which skopeo copied `source`'s `src:1` as `copied:1`.
fn copied_in(source: &Fixture) -> Fixture {
    let fx = Fixture::new();
    fx.store();
    skopeo(&[
        "copy",
        &format!("oci:{}:docker.io/library/src:1", source.root().display()),
        &format!("oci:{}:docker.io/library/copied:1", fx.root().display()),
    ]);
    fx
}

#[test]
fn rimg_manages_images_skopeo_copies_in() {
    let source = Fixture::new();
    let img = source.add_image(&ImageSpec::new(&["src:1"]).label("from", "skopeo"));
    let fx = copied_in(&source);
    assert_eq!(
        fx.ok(&[
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}"
        ]),
        format!("copied:1 {} 5B\n", img.id.short())
    );
    assert_eq!(
        fx.ok(&[
            "inspect",
            "-f",
            "{{.Id}} {{.Config.Labels.from}}",
            "copied:1"
        ]),
        format!("{} skopeo\n", img.id)
    );
    fx.ok(&["tag", "copied:1", "copied:2"]);
    assert_eq!(fx.ok(&["rmi", "copied:1"]), "Untagged: copied:1\n");
    let out = fx.ok(&["rmi", "copied:2"]);
    assert!(
        out.starts_with(&format!("Untagged: copied:2\nDeleted: {}", img.id)),
        "{out}"
    );
    let left = std::fs::read_dir(fx.root().join("blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(left, 0);
}

/// Sizes are measured only by the commands that show them: a layer another
/// tool copied in has no `.rimg/layers` entry, and `tag` or `rmi` must not
/// decompress it to make one.
#[test]
fn tag_and_rmi_measure_no_layers_of_a_copied_in_image() {
    let source = Fixture::new();
    source.add_image(&ImageSpec::new(&["src:1"]));
    let fx = copied_in(&source);
    let measured = || {
        std::fs::read_dir(fx.root().join(".rimg/layers"))
            .unwrap()
            .count()
    };
    fx.ok(&["tag", "copied:1", "copied:2"]);
    fx.ok(&["rmi", "copied:2"]);
    assert_eq!(measured(), 0);
    fx.ok(&["images"]);
    assert_eq!(measured(), 1);
}
