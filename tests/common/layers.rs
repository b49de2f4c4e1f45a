//! Crafted layers for container tests: any tar entry (including names a
//! well-behaved tar writer refuses, such as `../x` or `/abs`), images
//! built from such layers, and reading tar streams back.
#![allow(dead_code)] // each test binary uses its own part of this module

use crate::common::{gzip, Fixture};
use rimg::digest::Digest;
use rimg::oci::{media_type, Descriptor};
use rimg::reference::Reference;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::Read;

/// Builds a layer tar entry by entry.
pub struct Layer {
    builder: tar::Builder<Vec<u8>>,
}

impl Default for Layer {
    fn default() -> Self {
        Layer::new()
    }
}

fn header(kind: tar::EntryType, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_mtime(1_600_000_000);
    h.set_size(0);
    h
}

impl Layer {
    pub fn new() -> Layer {
        Layer {
            builder: tar::Builder::new(Vec::new()),
        }
    }

    pub fn dir(mut self, path: &str, mode: u32) -> Layer {
        let mut h = header(tar::EntryType::Directory, mode);
        self.builder
            .append_data(&mut h, format!("{}/", path.trim_end_matches('/')), &[][..])
            .unwrap();
        self
    }

    pub fn file(self, path: &str, content: &[u8], mode: u32) -> Layer {
        self.owned_file(path, content, mode, 0, 0)
    }

    pub fn owned_file(
        mut self,
        path: &str,
        content: &[u8],
        mode: u32,
        uid: u64,
        gid: u64,
    ) -> Layer {
        let mut h = header(tar::EntryType::Regular, mode);
        h.set_size(content.len() as u64);
        h.set_uid(uid);
        h.set_gid(gid);
        self.builder.append_data(&mut h, path, content).unwrap();
        self
    }

    pub fn symlink(mut self, path: &str, target: &str) -> Layer {
        let mut h = header(tar::EntryType::Symlink, 0o777);
        self.builder.append_link(&mut h, path, target).unwrap();
        self
    }

    /// A hardlink whose header says mode 0644, owner root (Docker applies
    /// a link header's metadata to the linked file).
    pub fn hardlink(self, path: &str, target: &str) -> Layer {
        self.owned_hardlink(path, target, 0o644, 0, 0)
    }

    /// A hardlink with the metadata a tar writer records for it: the
    /// target's.
    pub fn owned_hardlink(
        mut self,
        path: &str,
        target: &str,
        mode: u32,
        uid: u64,
        gid: u64,
    ) -> Layer {
        let mut h = header(tar::EntryType::Link, mode);
        h.set_uid(uid);
        h.set_gid(gid);
        self.builder.append_link(&mut h, path, target).unwrap();
        self
    }

    pub fn fifo(mut self, path: &str) -> Layer {
        let mut h = header(tar::EntryType::Fifo, 0o644);
        self.builder.append_data(&mut h, path, &[][..]).unwrap();
        self
    }

    pub fn char_device(mut self, path: &str, major: u32, minor: u32) -> Layer {
        let mut h = header(tar::EntryType::Char, 0o666);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        self.builder.append_data(&mut h, path, &[][..]).unwrap();
        self
    }

    /// A file carrying extended attributes in PAX records.
    pub fn file_with_xattr(
        mut self,
        path: &str,
        content: &[u8],
        name: &str,
        value: &[u8],
    ) -> Layer {
        let key = format!("SCHILY.xattr.{name}");
        self.builder
            .append_pax_extensions([(key.as_str(), value)])
            .unwrap();
        self.file(path, content, 0o644)
    }

    /// An entry whose name (and link name) bytes go into the header as
    /// they are, unchecked: `../escape`, `/abs/path`.
    pub fn raw(mut self, kind: tar::EntryType, name: &[u8], link: &[u8], content: &[u8]) -> Layer {
        let mut h = header(kind, 0o644);
        h.set_size(content.len() as u64);
        {
            let old = h.as_old_mut();
            old.name = [0; 100];
            old.name[..name.len()].copy_from_slice(name);
            old.linkname = [0; 100];
            old.linkname[..link.len()].copy_from_slice(link);
        }
        h.set_cksum();
        self.builder.append(&h, content).unwrap();
        self
    }

    pub fn finish(self) -> Vec<u8> {
        self.builder.into_inner().unwrap()
    }
}

/// Writes an image of `layers` (tar streams, stored gzip-compressed) with
/// the runtime config `config`, names it, and returns its ID.
pub fn add_image(
    fx: &Fixture,
    names: &[&str],
    layers: &[Vec<u8>],
    config: serde_json::Value,
) -> Digest {
    let store = fx.store();
    let mut descriptors = Vec::new();
    let mut diff_ids = Vec::new();
    let mut history = Vec::new();
    for (i, tar) in layers.iter().enumerate() {
        diff_ids.push(Digest::of(tar));
        let blob = gzip(tar);
        let digest = store.put_blob(&blob).unwrap();
        descriptors.push(Descriptor::new(
            media_type::OCI_LAYER_GZIP,
            digest,
            blob.len() as u64,
        ));
        history
            .push(json!({"created": "2020-01-01T00:00:00Z", "created_by": format!("layer {i}")}));
    }
    let config = json!({
        "created": "2020-01-01T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    });
    let config_bytes = serde_json::to_vec(&config).unwrap();
    let config_digest = store.put_blob(&config_bytes).unwrap();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_MANIFEST,
        "config": {"mediaType": media_type::OCI_CONFIG, "digest": config_digest, "size": config_bytes.len()},
        "layers": descriptors,
    });
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    let manifest_digest = store.put_blob(&manifest_bytes).unwrap();
    let descriptor = Descriptor::new(
        media_type::OCI_MANIFEST,
        manifest_digest,
        manifest_bytes.len() as u64,
    );
    let names: Vec<Reference> = names
        .iter()
        .map(|n| Reference::parse_with_default_tag(n).unwrap())
        .collect();
    rimg::image::register(&store, &descriptor, &names).unwrap();
    config_digest
}

/// One tar entry as tests compare them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TarEntry {
    pub kind: char,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    pub content: Vec<u8>,
    pub link: String,
}

/// Reads a (possibly compressed) tar stream into path → entry, paths
/// without `./` or a trailing `/`.
pub fn read_tar(bytes: &[u8]) -> BTreeMap<String, TarEntry> {
    let plain = rimg::layer::decompress(bytes, None).unwrap();
    let mut archive = tar::Archive::new(plain);
    let mut out = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let path = path
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string();
        let h = entry.header().clone();
        let link = entry
            .link_name_bytes()
            .map(|l| String::from_utf8_lossy(&l).into_owned())
            .unwrap_or_default();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        out.insert(
            path,
            TarEntry {
                kind: h.entry_type().as_byte() as char,
                mode: h.mode().unwrap() & 0o7777,
                uid: h.uid().unwrap(),
                gid: h.gid().unwrap(),
                size: h.size().unwrap(),
                content,
                link,
            },
        );
    }
    out
}

/// The entry names of a tar stream, in order.
pub fn tar_names(bytes: &[u8]) -> Vec<String> {
    let plain = rimg::layer::decompress(bytes, None).unwrap();
    let mut archive = tar::Archive::new(plain);
    archive
        .entries()
        .unwrap()
        .map(|e| String::from_utf8_lossy(&e.unwrap().path_bytes()).into_owned())
        .collect()
}

/// A layer with this machine's `sh` (dash) and `cat`, the dynamic loader
/// and libc they need: enough for `docker run IMAGE sh -c '…'`.
pub fn runnable_layer() -> Layer {
    let mut layer = Layer::new()
        .dir("bin", 0o755)
        .dir("lib", 0o755)
        .dir("lib/x86_64-linux-gnu", 0o755)
        .dir("lib64", 0o755);
    for (path, source) in [
        ("bin/sh", "/bin/sh"),
        ("bin/cat", "/bin/cat"),
        ("lib64/ld-linux-x86-64.so.2", "/lib64/ld-linux-x86-64.so.2"),
        (
            "lib/x86_64-linux-gnu/libc.so.6",
            "/lib/x86_64-linux-gnu/libc.so.6",
        ),
    ] {
        let content = std::fs::read(source).unwrap_or_else(|e| panic!("reading {source}: {e}"));
        layer = layer.file(path, &content, 0o755);
    }
    layer
}
