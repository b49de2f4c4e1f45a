//! Hostile layers: whatever a layer holds, unpacking never writes outside
//! the container's rootfs. Each case is a crafted layer; it either fails
//! with a clear error or its entry is confined to the rootfs.

mod common;
#[path = "common/layers.rs"]
mod layers;

use layers::Layer;
use rimg::container::unpack::{unpack_layer, Options, UnpackError};
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use tar::EntryType;

/// A temporary directory holding `rootfs/` and, beside it, `outside/`
/// with a `secret` file that no layer may touch.
struct Scene {
    dir: tempfile::TempDir,
}

impl Scene {
    fn new() -> Scene {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("rootfs")).unwrap();
        fs::create_dir(dir.path().join("outside")).unwrap();
        fs::write(dir.path().join("outside/secret"), b"secret").unwrap();
        fs::set_permissions(
            dir.path().join("outside"),
            fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        Scene { dir }
    }

    fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    fn outside(&self) -> PathBuf {
        self.dir.path().join("outside")
    }

    /// The outside directory as an absolute path string, for link targets.
    fn outside_str(&self) -> String {
        self.outside().display().to_string()
    }

    fn unpack(&self, layers: &[Vec<u8>]) -> Result<(), UnpackError> {
        for layer in layers {
            unpack_layer(&self.rootfs(), &layer[..], Options::for_current_user())?;
        }
        Ok(())
    }

    /// Fails unless `outside/` still holds exactly `secret`, unchanged,
    /// and nothing appeared next to `rootfs/`.
    fn assert_outside_untouched(&self) {
        let names: Vec<String> = fs::read_dir(self.outside())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["secret"], "files appeared outside the rootfs");
        let secret = self.outside().join("secret");
        assert_eq!(fs::read(&secret).unwrap(), b"secret");
        let meta = fs::metadata(&secret).unwrap();
        assert_eq!(meta.nlink(), 1, "the secret was hardlinked");
        assert_eq!(meta.mode() & 0o7777, 0o644);
        assert_eq!(fs::metadata(self.outside()).unwrap().mode() & 0o7777, 0o755);
        let mut beside: Vec<String> = fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        beside.sort();
        assert_eq!(beside, vec!["outside", "rootfs"]);
    }
}

fn assert_file(path: &Path, content: &[u8]) {
    assert_eq!(
        fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        content
    );
}

#[test]
fn dot_dot_names_that_climb_out_are_refused() {
    let s = Scene::new();
    for name in [&b"../escape"[..], b"a/../../escape", b"../outside/secret"] {
        let layer = Layer::new()
            .raw(EntryType::Regular, name, b"", b"pwned")
            .finish();
        let err = s.unpack(&[layer]).unwrap_err();
        assert!(
            err.to_string()
                .contains("is outside of the container's root"),
            "{err}"
        );
    }
    // `..` that stays inside is just a path.
    let layer = Layer::new()
        .raw(EntryType::Regular, b"a/../inside", b"", b"ok")
        .finish();
    s.unpack(&[layer]).unwrap();
    assert_file(&s.rootfs().join("inside"), b"ok");
    s.assert_outside_untouched();
}

#[test]
fn absolute_names_are_rooted_in_the_rootfs() {
    let s = Scene::new();
    let target = format!("{}/secret", s.outside_str());
    let layer = Layer::new()
        .raw(EntryType::Regular, target.as_bytes(), b"", b"pwned")
        .finish();
    s.unpack(&[layer]).unwrap();
    assert_file(&s.rootfs().join(target.trim_start_matches('/')), b"pwned");
    s.assert_outside_untouched();
}

#[test]
fn a_symlinked_parent_pointing_outside_stays_inside() {
    let s = Scene::new();
    let absolute = Layer::new()
        .symlink("abs", &s.outside_str())
        .file("abs/secret", b"pwned", 0o644)
        .file("abs/new", b"pwned", 0o644)
        .finish();
    let relative = Layer::new()
        .symlink("rel", "../../../../../../../../../..")
        .file(&format!("rel{}/secret", s.outside_str()), b"pwned", 0o644)
        .finish();
    // Across layers too: the link in one layer, the file in the next.
    let later = Layer::new().file("abs/later", b"pwned", 0o644).finish();
    s.unpack(&[absolute, relative, later]).unwrap();
    let confined = s.rootfs().join(s.outside_str().trim_start_matches('/'));
    assert_file(&confined.join("secret"), b"pwned");
    assert_file(&confined.join("new"), b"pwned");
    assert_file(&confined.join("later"), b"pwned");
    // The symlinks themselves are kept as the layer wrote them.
    assert_eq!(fs::read_link(s.rootfs().join("abs")).unwrap(), s.outside());
    s.assert_outside_untouched();
}

#[test]
fn a_symlink_in_the_final_component_is_replaced_not_followed() {
    let s = Scene::new();
    let secret = format!("{}/secret", s.outside_str());
    let first = Layer::new()
        .symlink("file", &secret)
        .symlink("dir", &s.outside_str())
        .symlink("node", &secret)
        .finish();
    let second = Layer::new()
        .file("file", b"inside", 0o600)
        .dir("dir", 0o700)
        .fifo("node")
        .finish();
    s.unpack(&[first, second]).unwrap();
    assert_file(&s.rootfs().join("file"), b"inside");
    assert!(fs::symlink_metadata(s.rootfs().join("dir"))
        .unwrap()
        .is_dir());
    assert!(!fs::symlink_metadata(s.rootfs().join("node"))
        .unwrap()
        .file_type()
        .is_symlink());
    s.assert_outside_untouched();
}

#[test]
fn hardlinks_to_outside_targets_fail_or_stay_inside() {
    let s = Scene::new();
    let climbing = Layer::new()
        .raw(EntryType::Link, b"link", b"../outside/secret", b"")
        .finish();
    let err = s.unpack(&[climbing]).unwrap_err();
    assert!(err.to_string().contains("invalid hardlink"), "{err}");
    // An absolute target names a path inside the rootfs, which is absent.
    let secret = format!("{}/secret", s.outside_str());
    let absolute = Layer::new().hardlink("link", &secret).finish();
    let err = s.unpack(&[absolute]).unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    // Through a symlinked parent: resolved inside the rootfs as well.
    let through = Layer::new()
        .symlink("out", &s.outside_str())
        .hardlink("link", "out/secret")
        .finish();
    let err = s.unpack(&[through]).unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    // A link to a symlink links the symlink itself, never its target.
    let to_symlink = Layer::new()
        .symlink("sym", &secret)
        .hardlink("link", "sym")
        .finish();
    s.unpack(&[to_symlink]).unwrap();
    assert!(fs::symlink_metadata(s.rootfs().join("link"))
        .unwrap()
        .file_type()
        .is_symlink());
    s.assert_outside_untouched();
}

#[test]
fn whiteouts_through_symlinks_never_remove_outside_files() {
    let s = Scene::new();
    let first = Layer::new().symlink("out", &s.outside_str()).finish();
    let second = Layer::new()
        .file("out/.wh.secret", b"", 0)
        .file("out/.wh..wh..opq", b"", 0)
        .finish();
    s.unpack(&[first, second]).unwrap();
    s.assert_outside_untouched();
    for bad in [&b".wh.."[..], b"a/.wh..", b".wh..."] {
        let layer = Layer::new().raw(EntryType::Regular, bad, b"", b"").finish();
        let err = s.unpack(&[layer]).unwrap_err();
        assert!(err.to_string().contains("invalid whiteout"), "{err}");
    }
    s.assert_outside_untouched();
}

#[test]
fn device_nodes_are_only_made_by_root() {
    let s = Scene::new();
    let layer = Layer::new().char_device("dev/null", 1, 3).finish();
    unpack_layer(&s.rootfs(), &layer[..], Options::default()).unwrap();
    assert!(!s.rootfs().join("dev/null").exists());
    if Options::for_current_user().device_nodes {
        unpack_layer(
            &s.rootfs(),
            &layer[..],
            Options {
                privileged: true,
                device_nodes: true,
                overlay: false,
            },
        )
        .unwrap();
        let meta = fs::symlink_metadata(s.rootfs().join("dev/null")).unwrap();
        assert_eq!(meta.mode() & libc::S_IFMT, libc::S_IFCHR);
        assert_eq!(meta.rdev(), libc::makedev(1, 3));
    }
    s.assert_outside_untouched();
}

#[test]
fn a_symlink_loop_is_an_error_not_a_hang() {
    let s = Scene::new();
    let layer = Layer::new()
        .symlink("a", "b")
        .symlink("b", "a")
        .file("a/x", b"", 0o644)
        .finish();
    let err = s.unpack(&[layer]).unwrap_err();
    assert!(err.to_string().contains("symbolic links"), "{err}");
}

#[test]
fn create_reports_a_hostile_layer_and_leaves_nothing_behind() {
    let fx = common::Fixture::new();
    let layer = Layer::new()
        .file("ok", b"fine", 0o644)
        .raw(EntryType::Regular, b"../../../escape", b"", b"pwned")
        .finish();
    layers::add_image(&fx, &["evil:1"], &[layer], serde_json::json!({}));
    let run = fx.run(&["create", "evil:1"]);
    // 125: create's own errors, as Docker's.
    assert_eq!(run.code, 125);
    assert!(
        run.stderr.starts_with("Error: unpacking layer sha256:")
            && run
                .stderr
                .contains("\"../../../escape\" is outside of the container's root"),
        "{}",
        run.stderr
    );
    assert_eq!(fx.ok(&["ps", "-aq"]), "");
    let left: Vec<_> = fs::read_dir(fx.root().join("containers"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "a failed create left {left:?}");
}

#[test]
fn overlay_snapshots_keep_whiteouts_and_links_inside() {
    let s = Scene::new();
    let layer = Layer::new()
        .symlink("out", &s.outside_str())
        .file("out/.wh.secret", b"", 0)
        .file("out/.wh..wh..opq", b"", 0)
        .file("out/new", b"pwned", 0o644)
        .symlink("rel", "../../../../../../../../../..")
        .file(&format!("rel{}/.wh.secret", s.outside_str()), b"", 0)
        .finish();
    let options = Options {
        overlay: true,
        ..Options::for_current_user()
    };
    unpack_layer(&s.rootfs(), &layer[..], options).unwrap();
    s.assert_outside_untouched();
    let confined = s.rootfs().join(s.outside_str().trim_start_matches('/'));
    assert_file(&confined.join("new"), b"pwned");
    if options.privileged {
        // Overlay's whiteout: a character device 0/0, inside the snapshot.
        let whiteout = fs::symlink_metadata(confined.join("secret")).unwrap();
        assert!(whiteout.file_type().is_char_device());
        assert_eq!(whiteout.rdev(), 0);
    }
}
