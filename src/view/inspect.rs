//! `docker image inspect`'s document: Docker 20.10's `types.ImageInspect`,
//! its fields in its order, and the runtime configs as Docker re-encodes
//! them (its whole `container.Config`, unknown keys dropped).

use crate::format::{GoFields, GoType};
use crate::image::Image;
use crate::oci::{Field, RuntimeConfig};
use serde::Serialize;
use serde_json::{json, Map, Value};

/// What Go's `time.Time{}` encodes as: Docker's `LastTagTime` for an image
/// never tagged since it arrived (a pull, a load).
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// `container.Config`'s fields, for templates: their Go types where JSON
/// does not tell them or leaves them out when empty (a missing
/// `Entrypoint` prints `[]`, a missing `StopSignal` nothing), and their
/// order (`{{.Config}}` prints `{   false …}`), as Docker's.
const CONTAINER_CONFIG_TYPES: GoFields = &[
    ("Hostname", GoType::Plain),
    ("Domainname", GoType::Plain),
    ("User", GoType::Plain),
    ("AttachStdin", GoType::Plain),
    ("AttachStdout", GoType::Plain),
    ("AttachStderr", GoType::Plain),
    ("ExposedPorts", GoType::Set),
    ("Tty", GoType::Plain),
    ("OpenStdin", GoType::Plain),
    ("StdinOnce", GoType::Plain),
    ("Env", GoType::Slice),
    ("Cmd", GoType::Slice),
    ("Healthcheck", GoType::Pointer),
    ("ArgsEscaped", GoType::Bool),
    ("Image", GoType::Plain),
    ("Volumes", GoType::Set),
    ("WorkingDir", GoType::Plain),
    ("Entrypoint", GoType::Slice),
    ("NetworkDisabled", GoType::Bool),
    ("MacAddress", GoType::String),
    ("OnBuild", GoType::Slice),
    ("Labels", GoType::Map),
    ("StopSignal", GoType::String),
    ("StopTimeout", GoType::Pointer),
    ("Shell", GoType::Slice),
];

/// The same for `types.ImageInspect`, the document [`inspect`] makes.
pub const INSPECT_TYPES: GoFields = &[
    ("Id", GoType::Plain),
    ("RepoTags", GoType::Slice),
    ("RepoDigests", GoType::Slice),
    ("Parent", GoType::Plain),
    ("Comment", GoType::Plain),
    ("Created", GoType::Plain),
    ("Container", GoType::Plain),
    ("ContainerConfig", GoType::Struct(CONTAINER_CONFIG_TYPES)),
    ("DockerVersion", GoType::Plain),
    ("Author", GoType::Plain),
    ("Config", GoType::Struct(CONTAINER_CONFIG_TYPES)),
    ("Architecture", GoType::Plain),
    ("Variant", GoType::String),
    ("Os", GoType::Plain),
    ("OsVersion", GoType::String),
    ("Size", GoType::Plain),
    ("VirtualSize", GoType::Plain),
    (
        "GraphDriver",
        GoType::Struct(&[("Data", GoType::Map), ("Name", GoType::Plain)]),
    ),
    (
        "RootFS",
        GoType::Struct(&[
            ("Type", GoType::Plain),
            ("Layers", GoType::Slice),
            ("BaseLayer", GoType::String),
        ]),
    ),
    ("Metadata", GoType::Struct(&[("LastTagTime", GoType::Time)])),
];

/// What Docker keeps about an image beside its config: when it was last
/// tagged, and the image `commit` built it on.
pub struct Metadata<'a> {
    pub last_tagged: Option<&'a str>,
    pub parent: Option<&'a str>,
}

/// `docker image inspect`'s object for one image of `size` bytes. A
/// `last_tagged` of `None` is Go's zero time (a pull, a load).
pub fn inspect(image: &Image, size: u64, metadata: &Metadata) -> Value {
    let config = &image.config;
    let extra_str = |key: &str| config.extra.get(key).and_then(Value::as_str).unwrap_or("");
    // Docker-built images keep the build step's container config; others
    // have none, which Docker prints as an empty one.
    let container_config = config
        .extra
        .get("container_config")
        .and_then(|c| serde_json::from_value::<RuntimeConfig>(c.clone()).ok());
    let mut out = Map::new();
    out.insert("Id".into(), json!(image.id));
    let familiar = |refs: &mut dyn Iterator<Item = &crate::reference::Reference>| {
        refs.map(|r| r.familiar_string()).collect::<Vec<_>>()
    };
    out.insert("RepoTags".into(), json!(familiar(&mut image.tags())));
    out.insert("RepoDigests".into(), json!(familiar(&mut image.digests())));
    out.insert("Parent".into(), json!(metadata.parent.unwrap_or("")));
    // As Docker's LookupImage: a commit keeps its message only in the
    // last history entry.
    let comment = match extra_str("comment") {
        "" => config
            .history
            .last()
            .and_then(|h| h.comment.as_deref())
            .unwrap_or(""),
        comment => comment,
    };
    out.insert("Comment".into(), json!(comment));
    out.insert(
        "Created".into(),
        json!(config.created.as_deref().unwrap_or("")),
    );
    out.insert("Container".into(), json!(extra_str("container")));
    out.insert(
        "ContainerConfig".into(),
        container_config_json(container_config.as_ref()),
    );
    out.insert("DockerVersion".into(), json!(extra_str("docker_version")));
    out.insert(
        "Author".into(),
        json!(config.author.as_deref().unwrap_or("")),
    );
    out.insert(
        "Config".into(),
        container_config_json(config.config.as_deref()),
    );
    out.insert("Architecture".into(), json!(config.architecture));
    if let Some(variant) = &config.variant {
        out.insert("Variant".into(), json!(variant));
    }
    out.insert("Os".into(), json!(config.os));
    if let Some(version) = config.extra.get("os.version").and_then(Value::as_str) {
        out.insert("OsVersion".into(), json!(version));
    }
    out.insert("Size".into(), json!(size));
    // Docker 20.10 still prints the deprecated field, equal to Size.
    out.insert("VirtualSize".into(), json!(size));
    // rimg keeps layers as blobs, under no graph driver: the field is
    // there for scripts that read it, empty.
    out.insert("GraphDriver".into(), json!({"Data": null, "Name": ""}));
    out.insert(
        "RootFS".into(),
        json!({"Type": config.rootfs.kind, "Layers": config.rootfs.diff_ids}),
    );
    out.insert(
        "Metadata".into(),
        json!({ "LastTagTime": metadata.last_tagged.unwrap_or(ZERO_TIME) }),
    );
    Value::Object(out)
}

/// A runtime config as Docker prints one: decoded into its
/// `container.Config` and encoded again, so every field is there, in
/// Go's order, with Go's zero value when the image leaves it out, and the
/// `omitempty` ones only when set. A value of the wrong type (which
/// Docker would refuse the image for) is printed as stored.
pub fn container_config_json(config: Option<&RuntimeConfig>) -> Value {
    let empty = RuntimeConfig::default();
    let c = config.unwrap_or(&empty);
    let string = |f: &Field<String>| Some(or_zero(f, json!("")));
    let boolean = |f: &Field<bool>| Some(or_zero(f, json!(false)));
    let nullable = |f: &dyn Nullable| Some(f.or_null());
    let extra = |key: &str| c.extra.get(key);
    let fields = [
        ("Hostname", string(&c.hostname)),
        ("Domainname", string(&c.domainname)),
        ("User", string(&c.user)),
        ("AttachStdin", boolean(&c.attach_stdin)),
        ("AttachStdout", boolean(&c.attach_stdout)),
        ("AttachStderr", boolean(&c.attach_stderr)),
        (
            "ExposedPorts",
            omit_empty(&c.exposed_ports, json!({})).map(go_map),
        ),
        ("Tty", boolean(&c.tty)),
        ("OpenStdin", boolean(&c.open_stdin)),
        ("StdinOnce", boolean(&c.stdin_once)),
        ("Env", nullable(&c.env)),
        ("Cmd", str_slice(&c.cmd)),
        ("Healthcheck", omit_null(&c.healthcheck)),
        (
            "ArgsEscaped",
            (c.args_escaped.get() == Some(&true)).then_some(json!(true)),
        ),
        ("Image", string(&c.image)),
        ("Volumes", Some(go_map(c.volumes.or_null()))),
        ("WorkingDir", string(&c.working_dir)),
        ("Entrypoint", str_slice(&c.entrypoint)),
        (
            "NetworkDisabled",
            (extra("NetworkDisabled") == Some(&json!(true))).then_some(json!(true)),
        ),
        (
            "MacAddress",
            extra("MacAddress")
                .filter(|m| m.as_str().is_some_and(|m| !m.is_empty()))
                .cloned(),
        ),
        ("OnBuild", nullable(&c.on_build)),
        ("Labels", Some(go_map(c.labels.or_null()))),
        ("StopSignal", omit_empty(&c.stop_signal, json!(""))),
        (
            "StopTimeout",
            extra("StopTimeout").filter(|t| t.is_number()).cloned(),
        ),
        ("Shell", omit_empty(&c.shell, json!([]))),
    ];
    Value::Object(
        fields
            .into_iter()
            .filter_map(|(key, value)| Some((key.to_string(), value?)))
            .collect(),
    )
}

/// A field's value, or Go's zero value for its type when absent or null.
fn or_zero<T: Serialize>(field: &Field<T>, zero: Value) -> Value {
    match field {
        Field::Absent | Field::Null => zero,
        set => json!(set),
    }
}

/// A slice or map field: Go's zero value for those is `null`.
trait Nullable {
    fn or_null(&self) -> Value;
}

impl<T: Serialize> Nullable for Field<T> {
    fn or_null(&self) -> Value {
        or_zero(self, Value::Null)
    }
}

/// Docker's `strslice.StrSlice` (`Cmd`, `Entrypoint`) also reads a lone
/// string, as a one-element list.
fn str_slice(field: &Field<Vec<String>>) -> Option<Value> {
    Some(match field {
        Field::Other(Value::String(s)) => json!([s]),
        other => other.or_null(),
    })
}

/// A map field as Go encodes one: its keys sorted.
fn go_map(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().collect())
        }
        other => other,
    }
}

/// A field Docker leaves out when it is null (a pointer).
fn omit_null<T: Serialize>(field: &Field<T>) -> Option<Value> {
    match field {
        Field::Absent | Field::Null => None,
        set => Some(json!(set)),
    }
}

/// An `omitempty` field: left out when null or `empty`.
fn omit_empty<T: Serialize>(field: &Field<T>, empty: Value) -> Option<Value> {
    omit_null(field).filter(|value| *value != empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docker_json(stored: Value) -> String {
        let config: RuntimeConfig = serde_json::from_value(stored).unwrap();
        serde_json::to_string(&container_config_json(Some(&config))).unwrap()
    }

    #[test]
    fn templates_see_docker_go_types() {
        // An imported image: Docker 20.10 prints this line for it.
        let doc = json!({
            "RepoDigests": [],
            "Config": container_config_json(None),
            "Metadata": {"LastTagTime": ZERO_TIME},
        });
        let mut out = Vec::new();
        crate::format::render_inspect(
            "{{.Config.Entrypoint}}|{{.Config.Cmd}}|{{.Config.Env}}|{{.Config.OnBuild}}|\
             {{.Config.Volumes}}|{{.Config.ExposedPorts}}|{{.Config.Labels}}|{{.Config.Shell}}|\
             {{.Config.Healthcheck}}|{{.RepoDigests}}|{{.Metadata.LastTagTime}}|\
             {{json .Metadata.LastTagTime}}|{{json .Config.Shell}}|{{.Config.StopSignal}}|\
             {{.Config.ArgsEscaped}}|{{.Variant}}|{{json .Config}}\n{{.Config}}|{{.Metadata}}",
            &[doc],
            INSPECT_TYPES,
            &mut out,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(
                "[]|[]|[]|[]|map[]|map[]|map[]|[]|<nil>|[]|0001-01-01 00:00:00 +0000 UTC|\
                 \"0001-01-01T00:00:00Z\"|null||false||{}\n\
                 {{   false false false map[] false false false [] [] <nil> false  map[]  [] false  \
                 [] map[]  <nil> []}}|{{0001-01-01 00:00:00 +0000 UTC}}\n",
                serde_json::to_string(&container_config_json(None)).unwrap()
            )
        );
    }

    #[test]
    fn missing_fields_get_go_zero_values_in_go_order() {
        // What Docker 20.10 prints for an imported image's empty config.
        assert_eq!(
            serde_json::to_string(&container_config_json(None)).unwrap(),
            r#"{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":null,"Image":"","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":null}"#
        );
    }

    #[test]
    fn omitempty_fields_appear_only_when_set_and_unknown_keys_go() {
        let out = docker_json(json!({
            "Labels": {"z": "1", "a": "2"}, "Shell": ["/bin/bash", "-c"], "ExposedPorts": {},
            "StopSignal": "SIGKILL", "Healthcheck": {"Test": ["NONE"]},
            "Cmd": "echo hi", "ArgsEscaped": true, "Unknown": 1, "User": "nobody"
        }));
        assert_eq!(
            out,
            r#"{"Hostname":"","Domainname":"","User":"nobody","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":["echo hi"],"Healthcheck":{"Test":["NONE"]},"ArgsEscaped":true,"Image":"","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{"a":"2","z":"1"},"StopSignal":"SIGKILL","Shell":["/bin/bash","-c"]}"#
        );
    }
}
