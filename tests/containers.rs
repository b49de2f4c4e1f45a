//! Working containers through the real binary: create, ps, mount, rm,
//! diff, commit, export, import, and how rmi, image prune and system df
//! treat the images containers use.

mod common;
#[path = "common/layers.rs"]
mod layers;

use common::Fixture;
use layers::{add_image, read_tar, tar_names, Layer};
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;

/// A two-layer image: the second layer deletes, replaces and adds.
fn base_image(fx: &Fixture) -> String {
    let lower = Layer::new()
        .dir("etc", 0o755)
        .file("etc/passwd", b"root:x:0:0\n", 0o644)
        .file("etc/gone", b"whited out\n", 0o644)
        .dir("opaque", 0o755)
        .file("opaque/old", b"hidden\n", 0o644)
        .dir("srv", 0o750)
        .dir("srv/www", 0o755)
        .file("srv/www/index.html", b"<h1>hi</h1>\n", 0o644)
        .file("srv/www/style.css", b"body{}\n", 0o644)
        .dir("tmp", 0o1777)
        .owned_file("usr/bin/tool", b"#!/bin/sh\n", 0o4755, 1000, 1000)
        .symlink("bin", "usr/bin")
        .owned_hardlink("usr/bin/tool-again", "usr/bin/tool", 0o4755, 1000, 1000)
        .file("replaced", b"a file\n", 0o644)
        .finish();
    let upper = Layer::new()
        .file("etc/.wh.gone", b"", 0)
        .file("opaque/.wh..wh..opq", b"", 0)
        .file("opaque/new", b"visible\n", 0o600)
        .dir("replaced", 0o700)
        .file("replaced/inner", b"now a dir\n", 0o644)
        .file("etc/hostname.default", b"base\n", 0o644)
        .finish();
    add_image(
        fx,
        &["base:1"],
        &[lower, upper],
        json!({"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["sh"]}),
    );
    "base:1".to_string()
}

fn mount(fx: &Fixture, name: &str) -> PathBuf {
    PathBuf::from(fx.ok(&["mount", name]).trim_end())
}

fn layer_digests(fx: &Fixture, image: &str) -> Vec<rimg::digest::Digest> {
    let catalog = rimg::image::Catalog::load(&fx.store()).unwrap();
    let found = catalog.find(image).unwrap();
    catalog
        .image(&found)
        .manifest
        .layers
        .iter()
        .map(|l| l.digest.clone())
        .collect()
}

fn layer_blobs(fx: &Fixture, image: &str) -> Vec<Vec<u8>> {
    let store = fx.store();
    layer_digests(fx, image)
        .iter()
        .map(|d| fs::read(store.blob_path(d)).unwrap())
        .collect()
}

fn inspect(fx: &Fixture, image: &str) -> Value {
    let out = fx.ok(&["inspect", image]);
    serde_json::from_str::<Value>(&out).unwrap()[0].clone()
}

#[test]
fn create_unpacks_layers_applying_whiteouts_and_metadata() {
    let fx = Fixture::new();
    let image = base_image(&fx);
    let id = fx.ok(&["create", "--name", "web", &image]);
    let id = id.trim_end();
    assert_eq!(id.len(), 64, "{id}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    let root = mount(&fx, "web");
    assert!(root.is_absolute());
    assert_eq!(mount(&fx, &id[..8]), root);
    assert_eq!(mount(&fx, id), root);
    let read = |p: &str| fs::read(root.join(p)).unwrap();
    assert_eq!(read("etc/passwd"), b"root:x:0:0\n");
    assert!(!root.join("etc/gone").exists());
    assert!(!root.join("opaque/old").exists());
    assert_eq!(read("opaque/new"), b"visible\n");
    assert_eq!(read("replaced/inner"), b"now a dir\n");
    let mode = |p: &str| fs::symlink_metadata(root.join(p)).unwrap().mode() & 0o7777;
    assert_eq!(mode("tmp"), 0o1777);
    assert_eq!(mode("srv"), 0o750);
    assert_eq!(mode("replaced"), 0o700);
    assert_eq!(mode("usr/bin/tool"), 0o4755);
    assert_eq!(
        fs::read_link(root.join("bin")).unwrap(),
        PathBuf::from("usr/bin")
    );
    let tool = fs::metadata(root.join("usr/bin/tool")).unwrap();
    assert_eq!(tool.nlink(), 2);
    assert_eq!(
        tool.ino(),
        fs::metadata(root.join("usr/bin/tool-again")).unwrap().ino()
    );
    assert_eq!(tool.mtime(), 1_600_000_000);
    if common::is_root() {
        assert_eq!((tool.uid(), tool.gid()), (1000, 1000));
    }
    // Nothing changed yet.
    assert_eq!(fx.ok(&["diff", "web"]), "");
}

#[test]
fn ps_lists_containers_like_docker() {
    let fx = Fixture::new();
    let image = base_image(&fx);
    let first = fx.ok(&["create", "--name", "one", &image]);
    let second = fx.ok(&["create", &image]);
    let (first, second) = (first.trim_end(), second.trim_end());
    let out = fx.ok(&["ps", "-a"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].starts_with("CONTAINER ID   IMAGE     COMMAND   CREATED")
            && lines[0].ends_with("   STATUS    PORTS     NAMES"),
        "{out}"
    );
    // Newest first; the unnamed one got an adjective_surname name.
    assert!(lines[1].starts_with(&format!("{}   base:1    ", &second[..12])));
    let generated = lines[1].split_whitespace().last().unwrap();
    assert!(generated.contains('_'), "{generated}");
    assert!(lines[2].starts_with(&format!("{}   base:1    ", &first[..12])));
    assert!(lines[2].ends_with("   Created             one"), "{out}");
    // Without -a, only running containers, as Docker's ps.
    assert_eq!(fx.ok(&["ps", "-q"]), "");
    assert_eq!(
        fx.ok(&["ps", "-aq"]),
        format!("{}\n{}\n", &second[..12], &first[..12])
    );
    assert_eq!(
        fx.ok(&[
            "container",
            "ls",
            "-a",
            "--no-trunc",
            "--format",
            "{{.ID}} {{.Names}} {{.State}}"
        ]),
        format!("{second} {generated} created\n{first} one created\n")
    );
    let json: Value = serde_json::from_str(
        fx.ok(&["ps", "-a", "--format", "json"])
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(json["Names"], "one");
    assert_eq!(json["Command"], "\"sh\"");
    // Once its name means another image, the image shows by ID.
    fx.ok(&["tag", "base:1", "base:keep"]);
    fx.ok(&["rmi", "base:1"]);
    let image_id = inspect(&fx, "base:keep")["Id"].as_str().unwrap()[7..19].to_string();
    assert_eq!(
        fx.ok(&["ps", "-a", "--format", "{{.Image}}"]),
        format!("{image_id}\n{image_id}\n")
    );
}

#[test]
fn names_are_unique_and_checked() {
    let fx = Fixture::new();
    let image = base_image(&fx);
    let id = fx.ok(&["create", "--name", "web", &image]);
    let run = fx.run(&["create", "--name", "web", &image]);
    // 125, as Docker's create and run exit on any error of their own.
    assert_eq!(run.code, 125);
    assert_eq!(
        run.stderr,
        format!(
            "Error: Conflict. The container name \"/web\" is already in use by container \"{}\". \
             You have to remove (or rename) that container to be able to reuse that name.\n",
            id.trim_end()
        )
    );
    let run = fx.run(&["create", "--name", "_bad", &image]);
    assert!(
        run.stderr.contains("Invalid container name (_bad)"),
        "{run:?}"
    );
    let run = fx.run(&["create", "--pull", "never", "nope:1"]);
    assert_eq!(run.stderr, "Error: No such image: nope:1\n");
    let run = fx.run(&["diff", "missing"]);
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (1, "Error: No such container: missing\n")
    );
    assert_eq!(fx.ok(&["ps", "-aq"]).lines().count(), 1);
}

#[test]
fn rm_removes_containers_and_force_forgives_missing_ones() {
    let fx = Fixture::new();
    let image = base_image(&fx);
    let id = fx.ok(&["create", "--name", "web", &image]);
    let root = mount(&fx, "web");
    // Even a read-only directory inside goes.
    fs::set_permissions(root.join("srv"), fs::Permissions::from_mode(0o500)).unwrap();
    assert_eq!(fx.ok(&["rm", "web"]), "web\n");
    assert!(!root.exists());
    assert_eq!(fx.ok(&["ps", "-aq"]), "");
    let run = fx.run(&["rm", "web"]);
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (1, "Error: No such container: web\n")
    );
    assert_eq!(fx.ok(&["rm", "-f", "web"]), "");
    let _ = id;
    let other = fx.ok(&["create", &image]);
    assert_eq!(
        fx.ok(&["container", "rm", &other[..12]]),
        format!("{}\n", &other[..12])
    );
    assert_eq!(
        fs::read_dir(fx.root().join("containers")).unwrap().count(),
        0
    );
}

/// Adds, changes and deletes files the way a user would.
fn change_things(root: &std::path::Path) {
    fs::write(root.join("etc/added"), b"new file\n").unwrap();
    fs::create_dir_all(root.join("var/lib/app")).unwrap();
    fs::write(root.join("var/lib/app/state"), b"1\n").unwrap();
    // A file of the lower layer, changed in place.
    fs::write(root.join("etc/passwd"), b"root:x:0:0\napp:x:1000:1000\n").unwrap();
    // A whole directory.
    fs::remove_dir_all(root.join("srv/www")).unwrap();
    // A file of the lower layer.
    fs::remove_file(root.join("usr/bin/tool-again")).unwrap();
    // A directory emptied and made again.
    fs::remove_dir_all(root.join("opaque")).unwrap();
    fs::create_dir(root.join("opaque")).unwrap();
    fs::write(root.join("opaque/fresh"), b"fresh\n").unwrap();
    // Metadata only.
    fs::set_permissions(
        root.join("etc/hostname.default"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
}

/// The copy driver also reports `usr/bin/tool`, whose link count and
/// ctime moved when its other name went; overlay, like Docker's overlay2,
/// leaves the lower file untouched and does not.
fn without_linked_tool(listing: String) -> String {
    listing.replace("C /usr/bin/tool\n", "")
}

fn without_linked_tool_names(mut names: Vec<String>) -> Vec<String> {
    names.retain(|n| n != "usr/bin/tool");
    names
}

#[test]
fn diff_reports_changes_like_docker() {
    let fx = Fixture::new();
    let image = base_image(&fx);
    fx.ok(&["create", "--name", "web", &image]);
    change_things(&mount(&fx, "web"));
    assert_eq!(
        without_linked_tool(fx.ok(&["diff", "web"])),
        "C /etc\n\
         A /etc/added\n\
         C /etc/hostname.default\n\
         C /etc/passwd\n\
         C /opaque\n\
         A /opaque/fresh\n\
         D /opaque/new\n\
         C /srv\n\
         D /srv/www\n\
         C /usr\n\
         C /usr/bin\n\
         D /usr/bin/tool-again\n\
         A /var\n\
         A /var/lib\n\
         A /var/lib/app\n\
         A /var/lib/app/state\n"
    );
}

#[test]
fn commit_writes_exactly_the_changes_and_a_child_config() {
    let fx = Fixture::new();
    let image = base_image(&fx);
    let container = fx.ok(&["create", "--name", "web", &image]);
    change_things(&mount(&fx, "web"));
    let out = fx.ok(&[
        "commit",
        "-a",
        "Ann <ann@example.com>",
        "-m",
        "add the app",
        "-c",
        "CMD [\"/app\", \"--serve\"]",
        "-c",
        "ENV MODE=prod",
        "-c",
        "EXPOSE 8080",
        "web",
        "app:2",
    ]);
    let id = out.trim_end();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{out}");
    let blobs = layer_blobs(&fx, "app:2");
    assert_eq!(blobs.len(), 3);
    assert_eq!(
        &blobs[2][..2],
        &[0x1f, 0x8b],
        "the layer is gzip-compressed"
    );
    assert_eq!(
        without_linked_tool_names(tar_names(&blobs[2])),
        vec![
            "etc/",
            "etc/added",
            "etc/hostname.default",
            "etc/passwd",
            "opaque/",
            "opaque/.wh..wh..opq",
            "opaque/fresh",
            "srv/",
            "srv/.wh.www",
            "usr/",
            "usr/bin/",
            "usr/bin/.wh.tool-again",
            "var/",
            "var/lib/",
            "var/lib/app/",
            "var/lib/app/state",
        ]
    );
    let entries = read_tar(&blobs[2]);
    assert_eq!(
        entries["etc/passwd"].content,
        b"root:x:0:0\napp:x:1000:1000\n"
    );
    assert_eq!(entries["etc/hostname.default"].mode, 0o600);
    if let Some(tool) = entries.get("usr/bin/tool") {
        // fuse-overlayfs (1.10) copies the file up when its other name
        // goes, and chowns it after its chmod, which clears set-user-ID
        // (compatibility.md).
        let mode = if fuse_overlayfs() { 0o755 } else { 0o4755 };
        assert_eq!(tool.mode, mode);
    }
    assert_eq!(entries["srv/.wh.www"].size, 0);

    let info = inspect(&fx, "app:2");
    assert_eq!(info["Id"], id);
    assert_eq!(info["Author"], "Ann <ann@example.com>");
    assert_eq!(info["Comment"], "add the app");
    assert_eq!(info["Config"]["Cmd"], json!(["/app", "--serve"]));
    assert_eq!(
        info["Config"]["Env"],
        json!(["PATH=/usr/bin:/bin", "MODE=prod"])
    );
    assert_eq!(info["Config"]["ExposedPorts"], json!({"8080/tcp": {}}));
    assert_eq!(info["RootFS"]["Layers"].as_array().unwrap().len(), 3);
    let store = fx.store();
    let config: Value = store
        .read_json(&rimg::digest::Digest::parse(id).unwrap())
        .unwrap();
    let last = config["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["author"], "Ann <ann@example.com>");
    assert_eq!(last["comment"], "add the app");
    assert_eq!(last["created_by"], "sh");
    assert_eq!(config["container"], container.trim_end());
    assert_eq!(
        fx.ok(&[
            "history",
            "--format",
            "{{.CreatedBy}}|{{.Comment}}",
            "app:2"
        ]),
        "sh|add the app\nlayer 1|\nlayer 0|\n"
    );

    // The container stays usable: nothing left to diff, and a fresh
    // container of the new image has the changes.
    assert_eq!(fx.ok(&["diff", "web"]), "");
    fx.ok(&["create", "--name", "check", "app:2"]);
    let check = mount(&fx, "check");
    assert_eq!(fs::read(check.join("etc/added")).unwrap(), b"new file\n");
    assert!(!check.join("srv/www").exists());
    assert!(!check.join("opaque/new").exists());
    assert!(!check.join("usr/bin/tool-again").exists());
    assert_eq!(fs::read(check.join("opaque/fresh")).unwrap(), b"fresh\n");
    assert_eq!(
        fs::read(check.join("etc/passwd")).unwrap(),
        b"root:x:0:0\napp:x:1000:1000\n"
    );
}

#[test]
fn a_second_commit_holds_only_the_changes_since_the_first() {
    let fx = Fixture::new();
    let image = base_image(&fx);
    fx.ok(&["create", "--name", "web", &image]);
    let root = mount(&fx, "web");
    fs::write(root.join("etc/one"), b"1").unwrap();
    fx.ok(&["commit", "web", "app:1"]);
    fs::write(root.join("etc/two"), b"2").unwrap();
    fs::remove_file(root.join("etc/one")).unwrap();
    let second = fx.ok(&["commit", "web"]);
    // Untagged without a repository.
    assert_eq!(
        fx.ok(&[
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}} {{.ID}}",
            "--filter",
            "dangling=true"
        ]),
        format!("<none>:<none> {}\n", &second.trim_end()[7..19])
    );
    let blobs = layer_blobs(&fx, second.trim_end());
    assert_eq!(blobs.len(), 4);
    assert_eq!(tar_names(&blobs[2]), vec!["etc/", "etc/one"]);
    assert_eq!(tar_names(&blobs[3]), vec!["etc/", "etc/.wh.one", "etc/two"]);
    // Nothing changed: an empty layer in history only, like Docker.
    let third = fx.ok(&["commit", "-m", "nothing", "web", "app:3"]);
    assert_eq!(layer_blobs(&fx, "app:3").len(), 4);
    let store = fx.store();
    let config: Value = store
        .read_json(&rimg::digest::Digest::parse(third.trim_end()).unwrap())
        .unwrap();
    assert_eq!(
        config["history"].as_array().unwrap().last().unwrap()["empty_layer"],
        true
    );
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 4);
}

#[test]
fn commit_does_not_read_unchanged_files() {
    if fuse_overlayfs() {
        // Reads through fuse-overlayfs move no atime: nothing to tell by.
        return;
    }
    let fx = Fixture::new();
    let big = vec![7u8; 1 << 20];
    let layer = Layer::new()
        .file("data/big", &big, 0o644)
        .file("data/other", b"x", 0o644)
        .file("data/changed", b"before", 0o644)
        .finish();
    add_image(&fx, &["big:1"], &[layer], json!({}));
    fx.ok(&["create", "--name", "cc", "big:1"]);
    let root = mount(&fx, "cc");
    let atime = |p: &str| {
        let m = fs::metadata(root.join(p)).unwrap();
        (m.atime(), m.atime_nsec())
    };
    let before = (atime("data/big"), atime("data/other"));
    fs::write(root.join("data/changed"), b"after!").unwrap();
    // Reading a file moves its atime on this (relatime) filesystem: the
    // unpacked files' atimes are older than their ctimes.
    let changed_atime = atime("data/changed");
    fx.ok(&["commit", "cc", "big:2"]);
    assert_ne!(
        atime("data/changed"),
        changed_atime,
        "the filesystem does not record reads (noatime?), so this test cannot tell"
    );
    assert_eq!((atime("data/big"), atime("data/other")), before);
}

#[test]
fn commit_refuses_bad_instructions_and_reserved_names() {
    let fx = Fixture::new();
    let image = base_image(&fx);
    fx.ok(&["create", "--name", "web", &image]);
    let run = fx.run(&["commit", "-c", "RUN make", "web"]);
    assert_eq!(run.stderr, "Error: run is not a valid change command\n");
    let sneaky = fs::write(mount(&fx, "web").join("etc/.wh.sneaky"), b"");
    if fuse_overlayfs() {
        // fuse-overlayfs refuses the name itself.
        assert_eq!(sneaky.unwrap_err().raw_os_error(), Some(libc::EINVAL));
    } else {
        sneaky.unwrap();
        let run = fx.run(&["commit", "web"]);
        assert!(
            run.stderr.contains("names starting with .wh. are reserved"),
            "{run:?}"
        );
    }
    let run = fx.run(&["commit", "web", "bad@@name"]);
    assert_eq!(run.code, 1);
}

#[test]
fn export_dash_o_writes_a_file_of_0666_less_the_umask() {
    let fx = Fixture::new();
    let image = base_image(&fx);
    fx.ok(&["create", "--name", "web", &image]);
    let path = fx.dir.path().join("out.tar");
    fx.ok_with_umask_022(&["export", "-o", path.to_str().unwrap(), "web"]);
    let mode = fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o644);
}

#[test]
fn export_is_the_flattened_rootfs() {
    let fx = Fixture::new();
    let image = base_image(&fx);
    fx.ok(&["create", "--name", "web", &image]);
    let path = fx.dir.path().join("out.tar");
    assert_eq!(fx.ok(&["export", "-o", path.to_str().unwrap(), "web"]), "");
    let entries = read_tar(&fs::read(&path).unwrap());
    let names: Vec<&str> = entries.keys().map(String::as_str).collect();
    // With the empty mount points a runtime needs (dev, proc, sys and the
    // etc files), as Docker's export has them.
    assert_eq!(
        names,
        vec![
            "bin",
            "dev",
            "etc",
            "etc/hostname",
            "etc/hostname.default",
            "etc/hosts",
            "etc/passwd",
            "etc/resolv.conf",
            "opaque",
            "opaque/new",
            "proc",
            "replaced",
            "replaced/inner",
            "srv",
            "srv/www",
            "srv/www/index.html",
            "srv/www/style.css",
            "sys",
            "tmp",
            "usr",
            "usr/bin",
            "usr/bin/tool",
            "usr/bin/tool-again",
        ]
    );
    assert_eq!(entries["bin"].kind, '2');
    assert_eq!(entries["bin"].link, "usr/bin");
    assert_eq!(entries["tmp"].mode, 0o1777);
    assert_eq!(entries["usr/bin/tool"].kind, '0');
    assert_eq!(entries["usr/bin/tool-again"].kind, '1');
    assert_eq!(entries["usr/bin/tool-again"].link, "usr/bin/tool");
    assert_eq!(entries["opaque/new"].content, b"visible\n");
    // To stdout, through the `container` group too.
    let run = fx.run_with_stdin(&["container", "export", "web"], "");
    assert_eq!(run.code, 0);
}

fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut layer = Layer::new().dir("etc", 0o755);
    for (path, content) in files {
        layer = layer.file(path, content, 0o644);
    }
    layer.finish()
}

#[test]
fn import_makes_a_one_layer_image_from_plain_or_compressed_tarballs() {
    let fx = Fixture::new();
    let tar = tar_of(&[("etc/release", b"imported\n")]);
    let dir = fx.dir.path();
    fs::write(dir.join("plain.tar"), &tar).unwrap();
    fs::write(dir.join("gz.tgz"), common::gzip(&tar)).unwrap();
    fs::write(
        dir.join("z.tar.zst"),
        zstd::encode_all(&tar[..], 3).unwrap(),
    )
    .unwrap();
    let mut ids = Vec::new();
    for (file, name) in [
        ("plain.tar", "imp:plain"),
        ("gz.tgz", "imp:gz"),
        ("z.tar.zst", "imp:zst"),
    ] {
        let id = fx.ok(&["import", dir.join(file).to_str().unwrap(), name]);
        let info = inspect(&fx, name);
        assert_eq!(info["Id"], id.trim_end());
        assert_eq!(info["Comment"], "Imported from -");
        // Named by the import: Docker records when.
        assert_ne!(info["Metadata"]["LastTagTime"], "0001-01-01T00:00:00Z");
        assert_eq!(
            info["RootFS"]["Layers"],
            json!([rimg::digest::Digest::of(&tar).to_string()])
        );
        ids.push(info["RootFS"]["Layers"].clone());
    }
    // The layer is the tarball itself, byte for byte once decompressed.
    let blobs = layer_blobs(&fx, "imp:zst");
    let mut plain = Vec::new();
    std::io::Read::read_to_end(
        &mut rimg::layer::decompress(&blobs[0][..], None).unwrap(),
        &mut plain,
    )
    .unwrap();
    assert_eq!(plain, tar);
    assert_eq!(
        fx.ok(&[
            "history",
            "--format",
            "{{.CreatedBy}}|{{.Comment}}",
            "imp:gz"
        ]),
        "|Imported from -\n"
    );
    // From stdin, with changes and a message, through `image import`.
    let mut child = common::rimg_command(&fx.root())
        .args([
            "image",
            "import",
            "-c",
            "CMD [\"/bin/sh\"]",
            "-c",
            "WORKDIR /srv",
            "-m",
            "hello",
            "-",
            "imp:stdin",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &tar).unwrap();
    drop(child.stdin.take());
    assert!(child.wait_with_output().unwrap().status.success());
    let info = inspect(&fx, "imp:stdin");
    assert_eq!(info["Comment"], "hello");
    assert_eq!(info["Config"]["Cmd"], json!(["/bin/sh"]));
    assert_eq!(info["Config"]["WorkingDir"], "/srv");
    assert_eq!(info["Os"], "linux");
    // And a container of it holds the files.
    fx.ok(&["create", "--name", "ii", "imp:gz"]);
    assert_eq!(
        fs::read(mount(&fx, "ii").join("etc/release")).unwrap(),
        b"imported\n"
    );
}

/// Docker 20.10 (overlay2) imports this layer as 343 bytes: the files'
/// 22 + 100 + 3 bytes, the symlinks' targets (18 + 200), the hard link,
/// whiteout, directory and FIFO nothing. Its tar stream is 6 KiB.
#[test]
fn sizes_are_the_extracted_layers_as_docker_measures_them() {
    let fx = Fixture::new();
    let tar = Layer::new()
        .dir("d", 0o755)
        .file("d/a", &[b'x'; 22], 0o644)
        .hardlink("d/b", "d/a")
        .symlink("d/s", "a/very/long/target")
        .file("d/c", &[b'y'; 100], 0o644)
        .file("d/.wh.gone", b"", 0o644)
        .file(&"x".repeat(150), b"qqq", 0o644)
        .symlink("l", &"t".repeat(200))
        .fifo("f")
        .finish();
    let path = fx.dir.path().join("sized.tar");
    fs::write(&path, &tar).unwrap();
    fx.ok(&["import", path.to_str().unwrap(), "sized:1"]);
    let shown = |fx: &Fixture| {
        (
            fx.ok(&["images", "--format", "{{.Size}} {{.VirtualSize}}", "sized"]),
            fx.ok(&["history", "-H=false", "--format", "{{.Size}}", "sized:1"]),
            fx.ok(&["inspect", "-f", "{{.Size}} {{.VirtualSize}}", "sized:1"]),
            fx.ok(&["system", "df", "--format", "{{.Size}}"]),
        )
    };
    let docker = (
        "343B 343B\n".to_string(),
        "343\n".to_string(),
        "343 343\n".to_string(),
        "343B\n0B\n0B\n0B\n".to_string(),
    );
    assert_eq!(shown(&fx), docker);
    // A cache entry from before extracted sizes were kept (its `size` the
    // tar stream's length) is measured again, once.
    let layer = &layer_digests(&fx, "sized:1")[0];
    let entry = fx.root().join(".rimg/layers").join(layer.hex());
    let diff_id = rimg::digest::Digest::of(&tar);
    fs::write(
        &entry,
        json!({"diffID": diff_id, "size": tar.len()}).to_string(),
    )
    .unwrap();
    assert_eq!(shown(&fx), docker);
    let cached: Value = serde_json::from_slice(&fs::read(&entry).unwrap()).unwrap();
    assert_eq!(cached["version"], 2);
    assert_eq!(cached["tarSize"], tar.len());
}

#[test]
fn import_from_a_url_names_it_in_the_comment() {
    use std::io::{BufRead, BufReader, Write};
    let fx = Fixture::new();
    let body = common::gzip(&tar_of(&[("etc/url", b"from the web\n")]));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 2 {
            line.clear();
        }
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .unwrap();
        stream.write_all(&body).unwrap();
    });
    let url = format!("http://127.0.0.1:{port}/rootfs.tgz");
    fx.ok(&["import", &url, "web:1"]);
    server.join().unwrap();
    assert_eq!(
        inspect(&fx, "web:1")["Comment"],
        format!("Imported from {url}")
    );
}

#[test]
fn import_refuses_what_is_not_a_tarball() {
    let fx = Fixture::new();
    let path = fx.dir.path().join("junk");
    fs::write(&path, vec![0x42u8; 2000]).unwrap();
    let run = fx.run(&["import", path.to_str().unwrap(), "junk:1"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("not a tar archive"), "{run:?}");
    let run = fx.run(&["import", "/nonexistent/file.tar"]);
    assert!(
        run.stderr
            .starts_with("Error: opening /nonexistent/file.tar"),
        "{run:?}"
    );
    assert_eq!(fx.ok(&["images", "-q"]), "");
}

#[test]
fn rmi_refuses_images_containers_use_unless_forced() {
    let fx = Fixture::new();
    let image = base_image(&fx);
    let container = fx.ok(&["create", &image]);
    let short = &container[..12];
    let image_id = inspect(&fx, &image)["Id"].as_str().unwrap().to_string();
    let image_short = &image_id[7..19];
    let run = fx.run(&["rmi", "base:1"]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        format!("Error: conflict: unable to remove repository reference \"base:1\" (must force) - container {short} is using its referenced image {image_short}\n")
    );
    let run = fx.run(&["rmi", image_short]);
    assert_eq!(
        run.stderr,
        format!("Error: conflict: unable to delete {image_short} (must be forced) - image is being used by stopped container {short}\n")
    );
    // A second tag can go: the image keeps a name.
    fx.ok(&["tag", "base:1", "base:2"]);
    assert_eq!(fx.ok(&["rmi", "base:2"]), "Untagged: base:2\n");
    // Pruning never takes an image a container uses.
    fx.ok(&["image", "prune", "-a", "-f"]);
    assert_eq!(fx.ok(&["images", "-q"]), format!("{image_short}\n"));
    // system df counts the container and its image as active.
    let df = fx.ok(&[
        "system",
        "df",
        "--format",
        "{{.Type}} {{.TotalCount}} {{.Active}}",
    ]);
    assert_eq!(
        df,
        "Images 1 1\nContainers 1 0\nLocal Volumes 0 0\nBuild Cache 0 0\n"
    );
    // Forced, the image goes and the container's files stay.
    let out = fx.ok(&["rmi", "-f", "base:1"]);
    assert!(
        out.starts_with(&format!("Untagged: base:1\nDeleted: {image_id}")),
        "{out}"
    );
    assert!(mount(&fx, short).join("etc/passwd").exists());
    // Committing on top of a removed image says what is missing.
    let run = fx.run(&["commit", short]);
    assert!(run.stderr.contains("is no longer in the store"), "{run:?}");
}

#[test]
fn rmi_works_again_once_the_container_is_gone() {
    let fx = Fixture::new();
    let image = base_image(&fx);
    fx.ok(&["create", "--name", "cc", &image]);
    fx.ok(&["commit", "cc", "child:1"]);
    // The committed image is the container's head now: also protected.
    let run = fx.run(&["rmi", "child:1"]);
    assert!(
        run.stderr.contains("is using its referenced image"),
        "{run:?}"
    );
    fx.ok(&["rm", "cc"]);
    fx.ok(&["rmi", "child:1", "base:1"]);
    assert_eq!(fx.ok(&["images", "-q"]), "");
}

#[test]
fn system_df_counts_container_changes() {
    let fx = Fixture::new();
    let image = base_image(&fx);
    fx.ok(&["create", "--name", "cc", &image]);
    fs::write(mount(&fx, "cc").join("etc/blob"), vec![1u8; 3000]).unwrap();
    assert_eq!(
        fx.ok(&[
            "system",
            "df",
            "--format",
            "{{.Type}} {{.Size}} {{.Reclaimable}}"
        ])
        .lines()
        .nth(1)
        .unwrap(),
        "Containers 3kB 3kB (100%)"
    );
}

#[test]
fn xattrs_survive_create_commit_and_export() {
    let fx = Fixture::new();
    let layer = Layer::new()
        .file_with_xattr("etc/tagged", b"x", "user.rimg.test", b"kept")
        .finish();
    add_image(&fx, &["xattr:1"], &[layer], json!({}));
    fx.ok(&["create", "--name", "xa", "xattr:1"]);
    let root = mount(&fx, "xa");
    let value = xattr::get(root.join("etc/tagged"), "user.rimg.test").unwrap();
    assert_eq!(value.as_deref(), Some(&b"kept"[..]));
    xattr::set(root.join("etc/tagged"), "user.rimg.more", b"added").unwrap();
    fx.ok(&["commit", "xa", "xattr:2"]);
    let pax = |tar: &[u8]| -> Vec<(String, Vec<u8>)> {
        let mut archive = tar::Archive::new(rimg::layer::decompress(tar, None).unwrap());
        let mut out = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            if let Some(exts) = entry.pax_extensions().unwrap() {
                for ext in exts {
                    let ext = ext.unwrap();
                    out.push((ext.key().unwrap().to_string(), ext.value_bytes().to_vec()));
                }
            }
        }
        out
    };
    let expected = vec![
        ("SCHILY.xattr.user.rimg.more".to_string(), b"added".to_vec()),
        ("SCHILY.xattr.user.rimg.test".to_string(), b"kept".to_vec()),
    ];
    // The xattr change alone (ctime moved) puts the file in the layer.
    assert_eq!(pax(&layer_blobs(&fx, "xattr:2")[1]), expected);
    let out = fx.dir.path().join("x.tar");
    fx.ok(&["export", "-o", out.to_str().unwrap(), "xa"]);
    assert_eq!(pax(&fs::read(out).unwrap()), expected);
}

/// Whether the user `nobody` can read `path` (runuser, as root).
fn nobody_can_read(path: &std::path::Path) -> bool {
    std::process::Command::new("runuser")
        .args(["-u", "nobody", "--", "cat"])
        .arg(path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("running runuser (util-linux)")
        .success()
}

#[test]
fn the_store_and_its_containers_are_private_to_their_owner() {
    let fx = Fixture::new();
    // Temporary directories are 0700; open this one to everybody, as a
    // home or /var/lib is, so only rimg's own modes keep others out.
    fs::set_permissions(fx.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let image = base_image(&fx);
    let id = fx.ok(&["create", &image]);
    let rootfs = mount(&fx, id.trim_end());
    let mode = |p: &std::path::Path| fs::metadata(p).unwrap().mode() & 0o777;
    assert_eq!(mode(&fx.root()), 0o700);
    assert_eq!(mode(&fx.root().join("containers")), 0o700);
    // The rootfs itself keeps the image's modes: its files are for the
    // container's users.
    assert_eq!(mode(&rootfs.join("etc/hostname.default")), 0o644);
    assert!(!nobody_can_read(&rootfs.join("etc/hostname.default")));

    // A store an older rimg left open to all is closed on the next open.
    fs::set_permissions(fx.root(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(
        fx.root().join("containers"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    fx.ok(&["images"]);
    assert_eq!(mode(&fx.root()), 0o700);
    assert!(!nobody_can_read(&rootfs.join("etc/hostname.default")));
}

/// Runs rimg with the storage driver `driver`; returns stdout.
fn with_driver(fx: &Fixture, driver: &str, args: &[&str]) -> String {
    let mut cmd = common::rimg_command(&fx.root());
    cmd.env("RIMG_STORAGE_DRIVER", driver).args(args);
    String::from_utf8(common::checked(cmd, &format!("rimg {args:?}"))).unwrap()
}

/// Whether the tests run on fuse-overlayfs (scripts/test.sh's pass with
/// `RIMG_STORAGE_DRIVER=fuse-overlayfs`).
fn fuse_overlayfs() -> bool {
    rimg::container::overlay::Driver::current() == rimg::container::overlay::Driver::FuseOverlay
}

/// Kernel overlayfs needs root: the machine's, or of rimg's user namespace
/// (where scripts/test.sh runs these tests as a user).
fn can_mount_overlays() -> bool {
    common::is_root()
}

/// A store with [`base_image`], where overlays can be mounted.
fn overlay_fixture() -> Option<(Fixture, String)> {
    if !can_mount_overlays() {
        return None;
    }
    let fx = Fixture::new();
    let image = base_image(&fx);
    Some((fx, image))
}

/// Changes on top of [`change_things`]: files committed before, changed
/// and removed; a directory turned into a file.
fn change_more_things(root: &std::path::Path) {
    fs::write(root.join("etc/added"), b"changed again\n").unwrap();
    fs::remove_file(root.join("var/lib/app/state")).unwrap();
    fs::set_permissions(root.join("etc/passwd"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::create_dir(root.join("opaque/sub")).unwrap();
    fs::write(root.join("opaque/sub/f"), b"f").unwrap();
    fs::remove_dir_all(root.join("replaced")).unwrap();
    fs::write(root.join("replaced"), b"a file again\n").unwrap();
}

#[test]
fn overlay_and_copy_containers_give_the_same_diffs_and_commits() {
    let Some((fx, image)) = overlay_fixture() else {
        return;
    };
    with_driver(&fx, "overlay", &["create", "--name", "ov", &image]);
    with_driver(&fx, "copy", &["create", "--name", "cp", &image]);
    let change: [fn(&std::path::Path); 2] = [change_things, change_more_things];
    for change in change {
        change(&mount(&fx, "ov"));
        change(&mount(&fx, "cp"));
        let overlay = fx.ok(&["diff", "ov"]);
        assert!(!overlay.is_empty());
        assert_eq!(overlay, without_linked_tool(fx.ok(&["diff", "cp"])));
        let overlay = fx.ok(&["commit", "ov"]);
        let copy = fx.ok(&["commit", "cp"]);
        let layer = |image: &str| read_tar(layer_blobs(&fx, image.trim_end()).last().unwrap());
        let mut copied = layer(&copy);
        copied.remove("usr/bin/tool");
        assert_eq!(layer(&overlay), copied);
        assert_eq!(fx.ok(&["diff", "ov"]), "");
    }
}

fn snapshot_dirs(fx: &Fixture) -> Vec<String> {
    fs::read_dir(fx.root().join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.len() == 64)
        .collect()
}

fn is_mounted(path: &std::path::Path) -> bool {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .contains(path.to_str().unwrap())
}

#[test]
fn overlay_containers_share_snapshots_and_rm_and_rmi_clean_up() {
    let Some((fx, image)) = overlay_fixture() else {
        return;
    };
    with_driver(&fx, "overlay", &["create", "--name", "aa", &image]);
    with_driver(&fx, "overlay", &["create", "--name", "bb", &image]);
    assert_eq!(snapshot_dirs(&fx).len(), 2, "one snapshot per layer");
    let a = mount(&fx, "aa");
    assert_eq!(fs::read(a.join("opaque/new")).unwrap(), b"visible\n");
    assert!(!a.join("etc/gone").exists());
    assert!(!a.join("opaque/old").exists());
    assert!(a.join("replaced/inner").is_file());
    fs::write(a.join("etc/mine"), b"a").unwrap();
    assert!(!mount(&fx, "bb").join("etc/mine").exists());
    // Gone after a reboot: `mount` mounts it again.
    let c = std::ffi::CString::new(a.to_str().unwrap()).unwrap();
    // SAFETY: `c` is NUL-terminated and alive for the call.
    assert_eq!(unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) }, 0);
    assert!(!a.join("etc/passwd").exists());
    assert_eq!(fs::read(mount(&fx, "aa").join("etc/mine")).unwrap(), b"a");
    fx.ok(&["rm", "aa"]);
    assert!(!is_mounted(&a));
    assert_eq!(snapshot_dirs(&fx).len(), 2, "b still uses them");
    let b = mount(&fx, "bb");
    fx.ok(&["rm", "bb"]);
    assert!(!is_mounted(&b));
    fx.ok(&["rmi", &image]);
    assert!(snapshot_dirs(&fx).is_empty());
}

#[test]
fn info_reports_the_storage_driver_and_counts() {
    let fx = Fixture::new();
    let image = base_image(&fx);
    fx.ok(&["create", "--name", "one", &image]);
    let format =
        "{{.Driver}} {{.Images}} {{.Containers}} {{.ContainersStopped}} {{.DockerRootDir}}";
    let root = fx.root().display().to_string();
    assert_eq!(
        with_driver(&fx, "copy", &["info", "--format", format]),
        format!("vfs 1 1 1 {root}\n")
    );
    let default = fx.ok(&["info"]);
    // What rimg picks here (root, or `RIMG_STORAGE_DRIVER` inherited).
    let driver = rimg::container::overlay::Driver::current().name();
    assert!(
        default.contains(&format!(
            " Storage Driver: {driver}\n  Backing Filesystem: "
        )),
        "{default}"
    );
}

#[test]
fn rm_unmounts_what_a_killed_diff_left_mounted() {
    let Some((fx, image)) = overlay_fixture() else {
        return;
    };
    let id = with_driver(&fx, "overlay", &["create", "--name", "left", &image]);
    // A `diff` killed while it read the lower layers leaves their view
    // mounted in the container's directory.
    let view = fx
        .root()
        .join("containers")
        .join(id.trim_end())
        .join("lower-killed");
    fs::create_dir(&view).unwrap();
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "tmpfs"])
        .arg(&view)
        .status()
        .unwrap();
    assert!(status.success());
    fx.ok(&["rm", "left"]);
    assert!(!is_mounted(&view));
    assert!(!fx.root().join("containers").join(id.trim_end()).exists());
}

#[test]
fn builds_on_overlay_and_copy_make_the_same_layers_and_leave_no_mount() {
    let Some((fx, image)) = overlay_fixture() else {
        return;
    };
    let context = fx.dir.path().join("context");
    fs::create_dir(&context).unwrap();
    fs::write(context.join("f"), b"f\n").unwrap();
    fs::write(
        context.join("Dockerfile"),
        format!("FROM {image}\nCOPY f /etc/f\nCOPY f /opaque/g\n"),
    )
    .unwrap();
    let context = context.to_str().unwrap();
    with_driver(&fx, "overlay", &["build", "-q", "-t", "ov:1", context]);
    assert_eq!(
        snapshot_dirs(&fx).len(),
        4,
        "the base image's layers and the two steps'"
    );
    assert!(!is_mounted(&fx.root()), "the build's tree is unmounted");
    with_driver(
        &fx,
        "copy",
        &["build", "-q", "--no-cache", "-t", "cp:1", context],
    );
    let (overlay, copy) = (layer_blobs(&fx, "ov:1"), layer_blobs(&fx, "cp:1"));
    assert_eq!(overlay.len(), 4);
    for (o, c) in overlay.iter().zip(&copy).skip(2) {
        assert_eq!(read_tar(o), read_tar(c));
    }
}

#[test]
fn snapshots_of_a_force_removed_image_go_with_its_last_container() {
    let Some((fx, image)) = overlay_fixture() else {
        return;
    };
    with_driver(&fx, "overlay", &["create", "--name", "last", &image]);
    fx.ok(&["rmi", "-f", &image]);
    assert_eq!(snapshot_dirs(&fx).len(), 2, "the container still uses them");
    fs::create_dir(fx.root().join("snapshots/.tmp-killed")).unwrap();
    fx.ok(&["rm", "last"]);
    assert!(snapshot_dirs(&fx).is_empty());
    // A fresh unpack may be another rimg's, running: `check --repair`
    // leaves it until it is old.
    let check = fx.ok(&["system", "check", "--repair"]);
    assert!(!check.contains("snapshot"), "{check}");
    assert!(fx.root().join("snapshots/.tmp-killed").exists());
}

#[test]
fn mounted_snapshots_stay_even_when_nothing_records_them() {
    let Some((fx, image)) = overlay_fixture() else {
        return;
    };
    // A build's working tree: mounted, in no container record, on layers
    // no image may name yet.
    let id = with_driver(&fx, "overlay", &["create", "--name", "tree", &image]);
    let dir = fx.root().join("containers").join(id.trim_end());
    fs::remove_file(dir.join("config.json")).unwrap();
    fx.ok(&["rmi", &image]);
    assert_eq!(snapshot_dirs(&fx).len(), 2);
    // In use for `system df -v` and `system check` too.
    let (title, rows) = df_snapshots(&fx).unwrap();
    assert!(title.ends_with(", reclaimable 0B (0%)"), "{title}");
    assert_eq!(rows.len(), 2);
    for row in rows {
        assert_eq!(row[2..], ["0", "0", "false"], "{row:?}");
    }
    let check = fx.ok(&["system", "check"]);
    assert!(!check.contains("snapshot"), "{check}");
    rimg::container::overlay::unmount(&dir.join("rootfs")).unwrap();
    let (title, _) = df_snapshots(&fx).unwrap();
    assert!(title.ends_with(" (100%)"), "{title}");
    fx.ok(&["system", "check", "--repair"]);
    assert!(snapshot_dirs(&fx).is_empty());
}

/// Runs a system tool on `path`, failing the test unless it succeeds;
/// what it printed.
fn tool(program: &str, args: &[&str], path: &std::path::Path) -> String {
    let out = std::process::Command::new(program)
        .args(args)
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{program} {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// What `du -sxB1` says `path` takes: blocks, each inode once, as rimg
/// counts a snapshot.
fn du(path: &std::path::Path) -> u64 {
    let text = tool("du", &["-sxB1"], path);
    text.split_whitespace().next().unwrap().parse().unwrap()
}

/// Copies a snapshot under a new chain ID, as if an image that is gone
/// had left it.
fn copy_snapshot(fx: &Fixture, from: &str, to: &str) {
    let snapshots = fx.root().join("snapshots");
    let to = snapshots.join(to);
    tool("cp", &["-a", snapshots.join(from).to_str().unwrap()], &to);
}

/// `system df -v`'s layer snapshots section: its title after `Layer
/// snapshots usage: ` and its rows' columns, sorted; `None` if it has none.
fn df_snapshots(fx: &Fixture) -> Option<(String, Vec<Vec<String>>)> {
    let out = fx.ok(&["system", "df", "-v"]);
    let (docker_part, section) = out.split_once("\nLayer snapshots usage: ")?;
    assert!(
        docker_part.ends_with(
            "\n\nCACHE ID   CACHE TYPE   SIZE      CREATED   LAST USED   USAGE     SHARED\n"
        ),
        "{out}"
    );
    let mut lines = section.lines();
    let title = lines.next().unwrap().to_string();
    assert_eq!(lines.next(), Some(""), "{out}");
    assert_eq!(
        lines.next().unwrap().split_whitespace().collect::<Vec<_>>(),
        ["CHAIN", "ID", "SIZE", "IMAGES", "CONTAINERS", "RECLAIMABLE"]
    );
    let mut rows: Vec<Vec<String>> = lines
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect();
    rows.sort();
    Some((title, rows))
}

#[test]
fn system_df_v_counts_layer_snapshots_until_rm_and_rmi() {
    let Some((fx, image)) = overlay_fixture() else {
        return;
    };
    let size = rimg::format::human_size4;
    assert_eq!(df_snapshots(&fx), None, "none before a container");
    with_driver(&fx, "overlay", &["create", "--name", "cc", &image]);
    let mut chains = snapshot_dirs(&fx);
    chains.sort();
    let snapshots = fx.root().join("snapshots");
    let rows = |containers: &str, reclaimable: &str| -> (u64, Vec<Vec<String>>) {
        let sizes: Vec<u64> = chains.iter().map(|c| du(&snapshots.join(c))).collect();
        let rows = chains
            .iter()
            .zip(&sizes)
            .map(|(chain, bytes)| {
                let row = [&chain[..12], &size(*bytes), "1", containers, reclaimable];
                row.map(str::to_string).to_vec()
            })
            .collect();
        (sizes.iter().sum(), rows)
    };
    // Measured the first time (before anything records the sizes), read
    // back the second: the same bytes `du` counts.
    let (total, expected) = rows("1", "false");
    let in_use = format!("{}, reclaimable 0B (0%)", size(total));
    assert_eq!(df_snapshots(&fx), Some((in_use.clone(), expected)));
    let (total, expected) = rows("1", "false");
    let in_use = format!("{}, reclaimable 0B (0%)", size(total));
    assert_eq!(df_snapshots(&fx), Some((in_use, expected)));
    // Once no container uses the image, they go with it.
    fx.ok(&["rm", "cc"]);
    let (total, expected) = rows("0", "true");
    let unused = format!("{}, reclaimable {} (100%)", size(total), size(total));
    assert_eq!(df_snapshots(&fx), Some((unused, expected)));
    fx.ok(&["rmi", &image]);
    assert_eq!(df_snapshots(&fx), None);
}

#[test]
fn system_check_reports_unused_snapshots_and_repair_removes_exactly_those() {
    let Some((fx, image)) = overlay_fixture() else {
        return;
    };
    let id = with_driver(&fx, "overlay", &["create", "--name", "user", &image]);
    // Only the container's record keeps its snapshots: no image names
    // them, nothing is mounted on them.
    fx.ok(&["rmi", "-f", &image]);
    let rootfs = fx
        .root()
        .join("containers")
        .join(id.trim_end())
        .join("rootfs");
    rimg::container::overlay::unmount(&rootfs).unwrap();
    let mut used = snapshot_dirs(&fx);
    used.sort();
    let snapshots = fx.root().join("snapshots");
    // What a killed `rmi` leaves: a snapshot no one names.
    let unused = "ab".repeat(32);
    copy_snapshot(&fx, &used[0], &unused);
    // An unpack killed two hours ago, and one that may still be running.
    let killed = snapshots.join(".tmp-killed");
    fs::create_dir_all(killed.join("fs/etc")).unwrap();
    fs::write(killed.join("fs/etc/half"), vec![7u8; 10_000]).unwrap();
    tool("touch", &["-d", "2 hours ago"], &killed);
    let young = snapshots.join(".tmp-young");
    fs::create_dir(&young).unwrap();
    let (unused_bytes, killed_bytes) = (du(&snapshots.join(&unused)), du(&killed));
    let expected = [
        format!("unused layer snapshot sha256:{unused} ({unused_bytes} bytes), named by no image, container or mount"),
        format!(
            "unfinished layer snapshot {} ({killed_bytes} bytes), left by a stopped unpack or removal",
            killed.display()
        ),
    ];
    let about_snapshots = |out: &str| -> Vec<String> {
        out.lines()
            .filter(|l| l.contains("snapshot"))
            .map(str::to_string)
            .collect()
    };

    let run = fx.run(&["system", "check"]);
    assert_eq!(run.code, 0, "leftovers are not damage: {run:?}");
    assert_eq!(about_snapshots(&run.stdout), expected);
    let leftovers = format!(
        "2 leftover(s) of stopped commands ({}), not damage\n",
        rimg::format::human_size(unused_bytes + killed_bytes)
    );
    assert!(run.stdout.ends_with(&leftovers), "{}", run.stdout);

    let repaired = fx.ok(&["system", "check", "--repair"]);
    assert_eq!(
        about_snapshots(&repaired),
        expected.map(|line| format!("repaired: {line}"))
    );
    let mut left = snapshot_dirs(&fx);
    left.sort();
    assert_eq!(left, used, "what a container uses stays");
    assert!(!killed.exists() && young.exists());
    assert!(fx
        .ok(&["system", "check"])
        .ends_with(": the store is consistent\n"));
    assert_eq!(
        fs::read(mount(&fx, "user").join("opaque/new")).unwrap(),
        b"visible\n"
    );
}

#[test]
fn a_snapshot_whose_removal_stops_halfway_is_not_left_under_its_chain_id() {
    let Some((fx, image)) = overlay_fixture() else {
        return;
    };
    if !common::is_machine_root() {
        // `chattr +i` needs the machine's root (CAP_LINUX_IMMUTABLE).
        return;
    }
    with_driver(&fx, "overlay", &["create", "--name", "cc", &image]);
    let snapshots = fx.root().join("snapshots");
    // An unused snapshot with a file that cannot be removed: the next
    // `create` of its layer must unpack it again, not use what is left.
    let unused = "cd".repeat(32);
    copy_snapshot(&fx, &snapshot_dirs(&fx)[0], &unused);
    let stuck = snapshots.join(&unused).join("fs/stuck");
    fs::write(&stuck, b"immutable").unwrap();
    // As root, `chattr +i` makes a file impossible to remove.
    tool("chattr", &["+i"], &stuck);

    let run = fx.run(&["system", "check", "--repair"]);
    let leftovers: Vec<PathBuf> = fs::read_dir(&snapshots)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with(".tmp-")
        })
        .collect();
    // Removable again, wherever it is now, so the test's directory goes.
    let moved = leftovers.iter().map(|dir| dir.join("fs/stuck"));
    for path in moved.chain([stuck]).filter(|p| p.exists()) {
        tool("chattr", &["-i"], &path);
    }
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with(&format!("unused layer snapshot sha256:{unused} ("))),
        "reported, not repaired: {}",
        run.stdout
    );
    assert!(!snapshots.join(&unused).exists());
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    // What is left is an unfinished snapshot, swept once it is old.
    tool("touch", &["-d", "2 hours ago"], &leftovers[0]);
    let repaired = fx.ok(&["system", "check", "--repair"]);
    assert!(
        repaired.contains(&format!(
            "repaired: unfinished layer snapshot {} (",
            leftovers[0].display()
        )),
        "{repaired}"
    );
    assert!(!leftovers[0].exists());
}
