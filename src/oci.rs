//! The OCI image-spec and Docker schema 2 document types rimg reads and
//! writes: descriptors, manifests, indexes and image configs.
//!
//! Each type keeps the fields it does not model in `extra`, so a document
//! that rimg rewrites (an index entry, a config) loses nothing another tool
//! put there. Stored blobs themselves are never re-serialised: they stay
//! byte-for-byte as received, so their digests hold.

use crate::digest::Digest;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

pub mod media_type {
    pub const OCI_LAYOUT_VERSION: &str = "1.0.0";
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    pub const DOCKER_MANIFEST_LIST: &str =
        "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_MANIFEST_V1: &str = "application/vnd.docker.distribution.manifest.v1+json";
    pub const DOCKER_MANIFEST_V1_SIGNED: &str =
        "application/vnd.docker.distribution.manifest.v1+prettyjws";
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";

    pub fn is_index(media_type: &str) -> bool {
        media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
    }

    pub fn is_manifest(media_type: &str) -> bool {
        media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST
    }
}

/// Annotation keys rimg reads or writes on index entries.
pub mod annotation {
    /// The OCI layout's tag annotation; rimg stores the full normalized
    /// reference (`docker.io/library/ubuntu:18.04`) here.
    pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
    /// containerd's and Docker 25+'s full image name annotation.
    pub const CONTAINERD_IMAGE_NAME: &str = "io.containerd.image.name";
    pub const CREATED: &str = "org.opencontainers.image.created";
    /// Marks an index entry as a local manifest list (`manifest create`),
    /// not an image: its value is the list's full reference. The catalog
    /// leaves such entries out, as Docker keeps lists apart from images.
    pub const MANIFEST_LIST: &str = "io.rimg.manifest-list";
    /// On an entry of a local manifest list: the reference the element was
    /// added as, by which `annotate` finds it and `--amend` replaces it.
    pub const MANIFEST_REF: &str = "io.rimg.manifest.ref";
    /// On an entry of a local manifest list: the element is an image of
    /// this store, pushed into the list's repository by `manifest push`.
    pub const MANIFEST_LOCAL: &str = "io.rimg.manifest.local";
    /// rimg's: when the image was last given a name by `tag`, `import` or
    /// `commit`, Docker's `Metadata.LastTagTime` (a pull or load sets none).
    pub const LAST_TAGGED: &str = "io.github.rimg.image.last-tagged";
    /// rimg's: the image `commit` built on, Docker's `Parent`.
    pub const PARENT: &str = "io.github.rimg.image.parent";
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Descriptor {
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest,
            size,
            urls: None,
            annotations: BTreeMap::new(),
            platform: None,
            extra: Map::new(),
        }
    }

    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.get(key).map(String::as_str)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    #[serde(
        rename = "os.features",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_features: Option<Vec<String>>,
}

/// An OCI image manifest or a Docker schema 2 manifest: the same shape.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An OCI image index or a Docker manifest list; also the layout's
/// `index.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for Index {
    fn default() -> Index {
        Index {
            schema_version: 2,
            media_type: Some(media_type::OCI_INDEX.to_string()),
            manifests: Vec::new(),
            annotations: BTreeMap::new(),
            extra: Map::new(),
        }
    }
}

/// The image configuration (OCI and Docker share it).
#[derive(Clone, Debug, Serialize, Deserialize, Default)]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// `inspect` prints it as stored, so it keeps its keys' order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<KeepOrder<RuntimeConfig>>,
    #[serde(default)]
    pub rootfs: RootFs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ImageConfig {
    /// A label from the image's runtime config.
    pub fn labels(&self) -> Option<&Map<String, Value>> {
        self.config.as_ref()?.labels.get()
    }

    /// The creation time, if present and valid RFC 3339.
    pub fn created_time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let created = self.created.as_deref()?;
        chrono::DateTime::parse_from_rfc3339(created)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
    }
}

/// The image config's `config`: what a container of the image runs with,
/// under Docker's names (`container.Config`). The maps are kept as JSON so
/// they keep their stored order; unknown keys are kept in `extra`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RuntimeConfig {
    #[serde(skip_serializing_if = "Field::is_absent")]
    pub hostname: Field<String>,
    #[serde(skip_serializing_if = "Field::is_absent")]
    pub domainname: Field<String>,
    #[serde(skip_serializing_if = "Field::is_absent")]
    pub user: Field<String>,
    #[serde(skip_serializing_if = "Field::is_absent")]
    pub attach_stdin: Field<bool>,
    #[serde(skip_serializing_if = "Field::is_absent")]
    pub attach_stdout: Field<bool>,
    #[serde(skip_serializing_if = "Field::is_absent")]
    pub attach_stderr: Field<bool>,
    /// `"80/tcp": {}` for each port.
    #[serde(skip_serializing_if = "Field::is_absent")]
    pub exposed_ports: Field<Map<String, Value>>,
    #[serde(skip_serializing_if = "Field::is_absent")]
    pub tty: Field<bool>,
    #[serde(skip_serializing_if = "Field::is_absent")]
    pub open_stdin: Field<bool>,
    #[serde(skip_serializing_if = "Field::is_absent")]
    pub stdin_once: Field<bool>,
    /// `KEY=value` entries.
    #[serde(skip_serializing_if = "Field::is_absent")]
    pub env: Field<Vec<String>>,
    #[serde(skip_serializing_if = "Field::is_absent")]
    pub cmd: Field<Vec<String>>,
    /// `Test`, and the durations in nanoseconds and `Retries` that are set.
    #[serde(skip_serializing_if = "Field::is_absent")]
    pub healthcheck: Field<Map<String, Value>>,
    #[serde(skip_serializing_if = "Field::is_absent")]
    pub args_escaped: Field<bool>,
    #[serde(skip_serializing_if = "Field::is_absent")]
    pub image: Field<String>,
    /// `"/path": {}` for each volume.
    #[serde(skip_serializing_if = "Field::is_absent")]
    pub volumes: Field<Map<String, Value>>,
    #[serde(skip_serializing_if = "Field::is_absent")]
    pub working_dir: Field<String>,
    #[serde(skip_serializing_if = "Field::is_absent")]
    pub entrypoint: Field<Vec<String>>,
    #[serde(skip_serializing_if = "Field::is_absent")]
    pub on_build: Field<Vec<String>>,
    /// Label names to their (string) values.
    #[serde(skip_serializing_if = "Field::is_absent")]
    pub labels: Field<Map<String, Value>>,
    #[serde(skip_serializing_if = "Field::is_absent")]
    pub stop_signal: Field<String>,
    #[serde(skip_serializing_if = "Field::is_absent")]
    pub shell: Field<Vec<String>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One runtime config field, keeping apart what Docker keeps apart: a key
/// that is absent, one that is `null` (Docker writes `"Cmd": null`) and a
/// value. Each is written back as it was read.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Field<T> {
    #[default]
    Absent,
    Null,
    Set(T),
    /// A value not of Docker's type, kept as it came rather than refusing
    /// the whole image over it.
    Other(Value),
}

impl<T> Field<T> {
    pub fn is_absent(&self) -> bool {
        matches!(self, Field::Absent)
    }

    /// The value, if one of Docker's type is set.
    pub fn get(&self) -> Option<&T> {
        match self {
            Field::Set(value) => Some(value),
            _ => None,
        }
    }

    /// The value to change, made `T`'s empty one first unless one is set.
    pub fn get_or_default(&mut self) -> &mut T
    where
        T: Default,
    {
        if !matches!(self, Field::Set(_)) {
            *self = Field::Set(T::default());
        }
        match self {
            Field::Set(value) => value,
            _ => unreachable!("set just above"),
        }
    }
}

impl<T: Serialize> Serialize for Field<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Absent | Field::Null => serializer.serialize_none(),
            Field::Set(value) => value.serialize(serializer),
            Field::Other(value) => value.serialize(serializer),
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Field<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(deserializer)? {
            Value::Null => Field::Null,
            value => match T::deserialize(&value) {
                Ok(typed) => Field::Set(typed),
                Err(_) => Field::Other(value),
            },
        })
    }
}

/// A JSON object `T` that is written back with its keys in the order they
/// were read; keys added since follow, in `T`'s order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KeepOrder<T> {
    value: T,
    order: Vec<String>,
}

impl<T> From<T> for KeepOrder<T> {
    fn from(value: T) -> KeepOrder<T> {
        KeepOrder {
            value,
            order: Vec::new(),
        }
    }
}

impl<T> std::ops::Deref for KeepOrder<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> std::ops::DerefMut for KeepOrder<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T: Serialize> Serialize for KeepOrder<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let Value::Object(fields) = serde_json::to_value(&self.value).map_err(S::Error::custom)?
        else {
            return Err(S::Error::custom("expected a JSON object"));
        };
        let mut entries: Vec<(String, Value)> = fields.into_iter().collect();
        // Stable, so new keys keep `T`'s order among themselves.
        entries.sort_by_key(|(key, _)| {
            self.order
                .iter()
                .position(|known| known == key)
                .unwrap_or(usize::MAX)
        });
        serializer.collect_map(entries)
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for KeepOrder<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let fields = Map::<String, Value>::deserialize(deserializer)?;
        let order = fields.keys().cloned().collect();
        let value = T::deserialize(Value::Object(fields)).map_err(D::Error::custom)?;
        Ok(KeepOrder { value, order })
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, Default)]
pub struct RootFs {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

#[derive(Clone, Debug, Serialize, Deserialize, Default)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// Docker's layer chain IDs: the first is the first diff ID, each next one is
/// `sha256(previous + " " + diff_id)`. Docker names layers by these in
/// `rmi` output.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut chain: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for diff_id in diff_ids {
        chain.push(chain_id(chain.last(), diff_id));
    }
    chain
}

/// The chain ID of `diff_id` on the stack whose top is `parent`.
pub fn chain_id(parent: Option<&Digest>, diff_id: &Digest) -> Digest {
    match parent {
        None => diff_id.clone(),
        Some(parent) => Digest::of(format!("{parent} {diff_id}").as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_keeps_unknown_fields() {
        let json = r#"{"mediaType":"a","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0,"data":"e30="}"#;
        let d: Descriptor = serde_json::from_str(json).unwrap();
        assert_eq!(d.extra.get("data").and_then(Value::as_str), Some("e30="));
        assert!(serde_json::to_string(&d)
            .unwrap()
            .contains(r#""data":"e30=""#));
    }

    #[test]
    fn a_runtime_config_is_written_back_as_it_was_read() {
        // BuildKit's order, Docker's nulls, a key rimg does not know and a
        // value of the wrong type.
        let json = r#"{"User":"app","Env":["A=1"],"Entrypoint":null,"Cmd":["sh"],"WorkingDir":"/","Labels":{"z":"1","a":"2"},"OnBuild":null,"ArgsEscaped":true,"Memory":0,"Tty":"yes"}"#;
        let config: KeepOrder<RuntimeConfig> = serde_json::from_str(json).unwrap();
        assert_eq!(config.cmd.get(), Some(&vec!["sh".to_string()]));
        assert_eq!(config.entrypoint, Field::Null);
        assert_eq!(config.hostname, Field::Absent);
        assert_eq!(config.tty, Field::Other(Value::from("yes")));
        assert_eq!(config.extra.get("Memory"), Some(&Value::from(0)));
        assert_eq!(serde_json::to_string(&config).unwrap(), json);
    }

    #[test]
    fn keys_added_to_a_runtime_config_follow_the_stored_ones() {
        let mut config: KeepOrder<RuntimeConfig> =
            serde_json::from_str(r#"{"WorkingDir":"/srv","Cmd":["sh"]}"#).unwrap();
        config.cmd = Field::Null;
        config.user = Field::Set("app".into());
        config.env = Field::Set(vec!["A=1".into()]);
        assert_eq!(
            serde_json::to_string(&config).unwrap(),
            r#"{"WorkingDir":"/srv","Cmd":null,"User":"app","Env":["A=1"]}"#
        );
        let fresh = KeepOrder::from(RuntimeConfig::default());
        assert_eq!(serde_json::to_string(&fresh).unwrap(), "{}");
    }

    #[test]
    fn an_image_config_without_a_runtime_config_has_none() {
        for json in [r#"{"config":null}"#, "{}"] {
            let config: ImageConfig = serde_json::from_str(json).unwrap();
            assert!(config.config.is_none());
        }
    }

    #[test]
    fn chain_ids_follow_docker() {
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        let ids = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(ids[0], a);
        assert_eq!(ids[1], Digest::of(format!("{a} {b}").as_bytes()));
    }
}
