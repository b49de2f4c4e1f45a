//! Test support for `save` and `load`: running rimg with binary input and
//! output, writing tar archives by hand (hostile ones too), reading them
//! back, and snapshotting a store to prove a failed load changed nothing.

use super::{layer_tar, Fixture, RawRun};
use rimg::digest::Digest;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

/// `rimg save ARGS…` to stdout; panics unless it succeeds.
pub fn save(fx: &Fixture, args: &[&str]) -> Vec<u8> {
    let mut all = vec!["save"];
    all.extend_from_slice(args);
    let run = fx.run_raw(&all, b"");
    assert_eq!(run.code, 0, "rimg save {args:?} failed: {}", run.stderr);
    run.stdout
}

/// `rimg load` from stdin.
pub fn load(fx: &Fixture, archive: &[u8]) -> RawRun {
    fx.run_raw(&["load"], archive)
}

/// A tar archive written entry by entry, with no checks on the paths, so
/// tests can write what a hostile archive holds.
pub struct TarWriter {
    builder: tar::Builder<Vec<u8>>,
}

impl Default for TarWriter {
    fn default() -> Self {
        TarWriter {
            builder: tar::Builder::new(Vec::new()),
        }
    }
}

impl TarWriter {
    pub fn new() -> TarWriter {
        TarWriter::default()
    }

    fn entry(&mut self, path: &str, kind: tar::EntryType, link: Option<&str>, data: &[u8]) {
        let mut header = tar::Header::new_old();
        let name = path.as_bytes();
        assert!(name.len() < 100, "test paths fit the old header");
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        if let Some(link) = link {
            let link = link.as_bytes();
            header.as_old_mut().linkname[..link.len()].copy_from_slice(link);
        }
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        self.builder.append(&header, data).expect("tar entry");
    }

    pub fn file(mut self, path: &str, data: &[u8]) -> TarWriter {
        self.entry(path, tar::EntryType::Regular, None, data);
        self
    }

    pub fn dir(mut self, path: &str) -> TarWriter {
        self.entry(path, tar::EntryType::Directory, None, b"");
        self
    }

    pub fn symlink(mut self, path: &str, target: &str) -> TarWriter {
        self.entry(path, tar::EntryType::Symlink, Some(target), b"");
        self
    }

    pub fn hardlink(mut self, path: &str, target: &str) -> TarWriter {
        self.entry(path, tar::EntryType::Link, Some(target), b"");
        self
    }

    pub fn fifo(mut self, path: &str) -> TarWriter {
        self.entry(path, tar::EntryType::Fifo, None, b"");
        self
    }

    pub fn finish(self) -> Vec<u8> {
        self.builder.into_inner().expect("tar")
    }
}

/// The entries of a tar archive: path to content, in archive order.
pub fn read_tar(bytes: &[u8]) -> Vec<(String, tar::EntryType, Vec<u8>)> {
    let mut archive = tar::Archive::new(bytes);
    let mut entries = Vec::new();
    for entry in archive.entries().expect("tar entries") {
        let mut entry = entry.expect("tar entry");
        let path = entry.path().expect("entry path").display().to_string();
        let kind = entry.header().entry_type();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).expect("entry data");
        entries.push((path, kind, data));
    }
    entries
}

/// One image of a hand-made legacy (Docker ≤ 24) archive.
pub struct LegacyImage {
    pub config: Vec<u8>,
    pub layers: Vec<Vec<u8>>,
    pub tags: Vec<String>,
}

impl LegacyImage {
    /// An image of `layers` (each a list of files) with a minimal config.
    pub fn new(layers: &[&[(&str, &[u8])]], tags: &[&str]) -> LegacyImage {
        let layers: Vec<Vec<u8>> = layers
            .iter()
            .map(|files| {
                let files: Vec<(String, Vec<u8>)> = files
                    .iter()
                    .map(|(p, c)| (p.to_string(), c.to_vec()))
                    .collect();
                layer_tar(&files)
            })
            .collect();
        LegacyImage::from_layers(layers, tags)
    }

    /// An image of ready-made layer tars with a minimal config.
    pub fn from_layers(layers: Vec<Vec<u8>>, tags: &[&str]) -> LegacyImage {
        let diff_ids: Vec<Digest> = layers.iter().map(|l| Digest::of(l)).collect();
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "created": "2021-01-01T00:00:00Z",
            "config": {"Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .expect("config JSON");
        LegacyImage {
            config,
            layers,
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    pub fn id(&self) -> Digest {
        Digest::of(&self.config)
    }
}

/// A layer that makes an image runnable: this machine's `cat` with the
/// loader and libc it needs, executable, plus `/hello.txt` holding
/// `greeting`.
pub fn runnable_layer(greeting: &str) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut add = |path: &str, content: &[u8], mode: u32| {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(mode);
        header.set_mtime(0);
        header.set_cksum();
        builder
            .append_data(&mut header, path, content)
            .expect("tar entry");
    };
    for (path, source) in [
        ("bin/cat", "/bin/cat"),
        ("lib64/ld-linux-x86-64.so.2", "/lib64/ld-linux-x86-64.so.2"),
        (
            "lib/x86_64-linux-gnu/libc.so.6",
            "/lib/x86_64-linux-gnu/libc.so.6",
        ),
    ] {
        let content = std::fs::read(source).unwrap_or_else(|e| panic!("reading {source}: {e}"));
        add(path, &content, 0o755);
    }
    add("hello.txt", greeting.as_bytes(), 0o644);
    builder.into_inner().expect("tar")
}

/// A legacy Docker archive as `docker save` wrote it before 25.0: one
/// directory per layer with `layer.tar`, `json` and `VERSION`, a
/// `<config hex>.json`, `manifest.json` and `repositories`. A layer seen
/// before is a symlink to its first copy, as Docker writes it.
pub fn legacy_archive(images: &[LegacyImage]) -> Vec<u8> {
    let mut tar = TarWriter::new();
    let mut manifest = Vec::new();
    let mut first_copy: BTreeMap<Digest, String> = BTreeMap::new();
    for (n, image) in images.iter().enumerate() {
        let mut layer_paths = Vec::new();
        for (i, layer) in image.layers.iter().enumerate() {
            let dir = Digest::of(format!("v1 {n} {i}").as_bytes())
                .hex()
                .to_string();
            let path = format!("{dir}/layer.tar");
            tar = tar
                .dir(&format!("{dir}/"))
                .file(&format!("{dir}/VERSION"), b"1.0");
            tar = tar.file(&format!("{dir}/json"), br#"{"id":"x"}"#);
            tar = match first_copy.get(&Digest::of(layer)) {
                Some(first) => tar.symlink(&path, &format!("../{first}")),
                None => {
                    first_copy.insert(Digest::of(layer), path.clone());
                    tar.file(&path, layer)
                }
            };
            layer_paths.push(path);
        }
        let config_path = format!("{}.json", image.id().hex());
        tar = tar.file(&config_path, &image.config);
        manifest.push(serde_json::json!({
            "Config": config_path,
            "RepoTags": image.tags,
            "Layers": layer_paths,
        }));
    }
    tar.file(
        "manifest.json",
        &serde_json::to_vec(&manifest).expect("manifest JSON"),
    )
    .finish()
}

/// Everything about a store that a load could change: `index.json` and
/// the list of blobs and cached layer infos.
pub fn store_state(root: &Path) -> (Vec<u8>, Vec<String>) {
    let index = std::fs::read(root.join("index.json")).expect("index.json");
    let mut files = Vec::new();
    for dir in ["blobs/sha256", ".rimg/layers", ".rimg/tmp"] {
        if let Ok(entries) = std::fs::read_dir(root.join(dir)) {
            for entry in entries {
                files.push(format!(
                    "{dir}/{}",
                    entry.expect("dir entry").file_name().to_string_lossy()
                ));
            }
        }
    }
    files.sort();
    (index, files)
}

pub fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::encode_all(bytes, 3).expect("zstd")
}

pub fn bzip2(bytes: &[u8]) -> Vec<u8> {
    let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    enc.write_all(bytes).expect("bzip2");
    enc.finish().expect("bzip2")
}

pub fn xz(bytes: &[u8]) -> Vec<u8> {
    let mut enc = liblzma::write::XzEncoder::new(Vec::new(), 1);
    enc.write_all(bytes).expect("xz");
    enc.finish().expect("xz")
}
