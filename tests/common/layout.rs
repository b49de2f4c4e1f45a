//! Builds small OCI image layouts for tests to push into a registry with
//! skopeo: tar layers with deterministic content, compressed as asked,
//! single-platform manifests and multi-platform indexes.

use super::{gzip, layer_tar, Compression};
use rimg::digest::Digest;
use rimg::oci::{annotation, media_type, Descriptor, Index, Platform};
use serde_json::json;
use std::path::{Path, PathBuf};

/// An OCI layout being written in a directory.
pub struct Layout {
    pub dir: PathBuf,
    index: Index,
}

/// Deterministic bytes that compress somewhat, like real files do.
pub fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let words: [&[u8]; 8] = [
        b"lorem ", b"ipsum ", b"dolor ", b"\n", b"sit ", b"amet ", b"0x", b"{}",
    ];
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let r = (state >> 33) as u32;
        if r.is_multiple_of(3) {
            out.extend_from_slice(&r.to_le_bytes());
        } else {
            out.extend_from_slice(words[(r % 8) as usize]);
        }
    }
    out.truncate(len);
    out
}

/// A one-file layer tar.
pub fn tar(path: &str, bytes: Vec<u8>) -> Vec<u8> {
    layer_tar(&[(path.to_string(), bytes)])
}

fn compress(data: &[u8], compression: Compression) -> Vec<u8> {
    match compression {
        Compression::None => data.to_vec(),
        Compression::Gzip => gzip(data),
        Compression::Zstd => zstd::encode_all(data, 3).unwrap(),
    }
}

fn layer_media_type(compression: Compression) -> &'static str {
    match compression {
        Compression::None => media_type::OCI_LAYER,
        Compression::Gzip => media_type::OCI_LAYER_GZIP,
        Compression::Zstd => media_type::OCI_LAYER_ZSTD,
    }
}

/// What one platform's image is made of.
pub struct ImageSpec {
    /// Uncompressed layer tars, bottom first.
    pub layers: Vec<Vec<u8>>,
    pub compression: Compression,
    pub architecture: &'static str,
    pub variant: Option<&'static str>,
}

impl ImageSpec {
    /// `count` layers of `size` bytes each, unique to `seed`.
    pub fn new(seed: u64, count: usize, size: usize) -> ImageSpec {
        let layers = (0..count)
            .map(|i| {
                let name = format!("layer{i}/data.bin");
                tar(&name, content(seed * 1000 + i as u64, size))
            })
            .collect();
        ImageSpec {
            layers,
            compression: Compression::Gzip,
            architecture: "amd64",
            variant: None,
        }
    }

    pub fn compression(mut self, c: Compression) -> ImageSpec {
        self.compression = c;
        self
    }

    pub fn platform(mut self, arch: &'static str, variant: Option<&'static str>) -> ImageSpec {
        self.architecture = arch;
        self.variant = variant;
        self
    }
}

/// What a test needs to know about an image it built.
#[derive(Clone, Debug)]
pub struct BuiltImage {
    pub manifest: Descriptor,
    pub config: Digest,
    pub layers: Vec<Descriptor>,
    pub diff_ids: Vec<Digest>,
}

impl Layout {
    pub fn new(dir: &Path) -> Layout {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        Layout {
            dir: dir.to_path_buf(),
            index: Index::default(),
        }
    }

    pub fn blob(&self, bytes: &[u8]) -> Digest {
        let digest = Digest::of(bytes);
        std::fs::write(self.dir.join("blobs/sha256").join(digest.hex()), bytes).unwrap();
        digest
    }

    /// Writes an image's layers, config and manifest.
    pub fn image(&self, spec: &ImageSpec) -> BuiltImage {
        let mut layers = Vec::new();
        let mut diff_ids = Vec::new();
        for tar in &spec.layers {
            diff_ids.push(Digest::of(tar));
            let blob = compress(tar, spec.compression);
            let digest = self.blob(&blob);
            layers.push(Descriptor::new(
                layer_media_type(spec.compression),
                digest,
                blob.len() as u64,
            ));
        }
        let mut config = json!({
            "created": "2024-01-02T03:04:05Z",
            "architecture": spec.architecture,
            "os": "linux",
            "config": {"Env": ["PATH=/usr/bin"], "Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": spec.layers.iter().map(|_| json!({"created_by": "test"})).collect::<Vec<_>>(),
        });
        if let Some(v) = spec.variant {
            config["variant"] = json!(v);
        }
        let config_bytes = serde_json::to_vec(&config).unwrap();
        let config_digest = self.blob(&config_bytes);
        let mut descriptor = self.manifest_with(&config_digest, &layers);
        descriptor.platform = Some(Platform {
            architecture: spec.architecture.into(),
            os: "linux".into(),
            variant: spec.variant.map(str::to_string),
            ..Platform::default()
        });
        BuiltImage {
            manifest: descriptor,
            config: config_digest,
            layers,
            diff_ids,
        }
    }

    /// Writes a manifest for a config already in the layout and `layers`.
    pub fn manifest_with(&self, config: &Digest, layers: &[Descriptor]) -> Descriptor {
        let config_size = std::fs::metadata(self.dir.join("blobs/sha256").join(config.hex()))
            .unwrap()
            .len();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": media_type::OCI_MANIFEST,
            "config": Descriptor::new(media_type::OCI_CONFIG, config.clone(), config_size),
            "layers": layers,
        });
        let bytes = serde_json::to_vec(&manifest).unwrap();
        Descriptor::new(
            media_type::OCI_MANIFEST,
            self.blob(&bytes),
            bytes.len() as u64,
        )
    }

    /// Tags one image, or an index of several, as `tag` in index.json.
    /// Returns the tagged descriptor.
    pub fn tag(&mut self, tag: &str, images: &[&BuiltImage]) -> Descriptor {
        let mut target = if let [image] = images {
            image.manifest.clone()
        } else {
            let index = Index {
                manifests: images.iter().map(|i| i.manifest.clone()).collect(),
                ..Index::default()
            };
            let bytes = serde_json::to_vec(&index).unwrap();
            Descriptor::new(media_type::OCI_INDEX, self.blob(&bytes), bytes.len() as u64)
        };
        target.platform = None;
        let mut entry = target.clone();
        entry
            .annotations
            .insert(annotation::REF_NAME.into(), tag.into());
        self.index.manifests.push(entry);
        std::fs::write(
            self.dir.join("index.json"),
            serde_json::to_vec(&self.index).unwrap(),
        )
        .unwrap();
        target
    }
}
