//! `rimg manifest inspect`: a registry's manifest or index as JSON, as
//! `docker manifest inspect` prints it (tab-indented; with `--verbose`,
//! per-platform entries holding the reference, descriptor, raw bytes and
//! parsed manifest).

use crate::digest::Digest;
use crate::oci::{media_type, Descriptor, Index, Manifest};
use crate::reference::Reference;
use crate::registry::{Client, FetchedManifest, RegistryError};
use base64::Engine as _;
use serde_json::{json, Value};

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{reference}: invalid {what}: {reason}")]
    Invalid {
        reference: String,
        what: &'static str,
        reason: String,
    },
    #[error("no such manifest: {0}")]
    Unknown(String),
}

/// The JSON `docker manifest inspect` prints for `reference`.
pub async fn inspect(
    client: &Client,
    reference: &Reference,
    verbose: bool,
) -> Result<String, ManifestError> {
    // Like Docker, this asks the registry itself, not a mirror.
    let repo = client
        .repositories(reference.domain(), reference.path())
        .await?
        .pop()
        .ok_or_else(|| ManifestError::Unknown(reference.to_string()))?;
    let wanted = reference
        .digest()
        .or(reference.tag())
        .unwrap_or("latest")
        .to_string();
    let fetched = client.manifest(&repo, &wanted).await.map_err(|e| {
        if e.code() == Some(crate::registry::code::MANIFEST_UNKNOWN) {
            ManifestError::Unknown(reference.to_string())
        } else {
            e.into()
        }
    })?;
    let kind = kind_of(&fetched);
    let value = if !verbose {
        parse(reference, "manifest", &fetched.bytes)?
    } else if media_type::is_index(&kind) {
        let index: Index =
            serde_json::from_slice(&fetched.bytes).map_err(|e| invalid(reference, "index", e))?;
        let mut entries = Vec::new();
        for entry in &index.manifests {
            let child = client.manifest(&repo, entry.digest.as_str()).await?;
            entries.push(verbose_entry(reference, entry.clone(), &child)?);
        }
        Value::Array(entries)
    } else {
        let descriptor = Descriptor::new(
            &kind,
            Digest::of(&fetched.bytes),
            fetched.bytes.len() as u64,
        );
        verbose_entry(reference, descriptor, &fetched)?
    };
    Ok(go_indent(&value))
}

/// One platform's entry of the verbose form.
fn verbose_entry(
    reference: &Reference,
    descriptor: Descriptor,
    fetched: &FetchedManifest,
) -> Result<Value, ManifestError> {
    let named = reference
        .name_only()
        .with_digest(descriptor.digest.as_str())
        .map(|r| r.to_string())
        .unwrap_or_else(|_| reference.to_string());
    let key = if descriptor.media_type == media_type::DOCKER_MANIFEST {
        "SchemaV2Manifest"
    } else {
        "OCIManifest"
    };
    let manifest: Manifest =
        serde_json::from_slice(&fetched.bytes).map_err(|e| invalid(reference, "manifest", e))?;
    Ok(json!({
        "Ref": named,
        "Descriptor": descriptor,
        "Raw": base64::engine::general_purpose::STANDARD.encode(&fetched.bytes),
        key: manifest,
    }))
}

fn kind_of(fetched: &FetchedManifest) -> String {
    if !fetched.media_type.is_empty() {
        return fetched.media_type.clone();
    }
    serde_json::from_slice::<Value>(&fetched.bytes)
        .ok()
        .and_then(|v| v.get("mediaType")?.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn parse(reference: &Reference, what: &'static str, bytes: &[u8]) -> Result<Value, ManifestError> {
    serde_json::from_slice(bytes).map_err(|e| invalid(reference, what, e))
}

fn invalid(reference: &Reference, what: &'static str, e: serde_json::Error) -> ManifestError {
    ManifestError::Invalid {
        reference: reference.to_string(),
        what,
        reason: e.to_string(),
    }
}

/// JSON indented with tabs, as Go's `json.MarshalIndent(v, "", "\t")`.
fn go_indent(value: &Value) -> String {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    // Serializing a Value into a Vec cannot fail.
    let _ = serde::Serialize::serialize(value, &mut serializer);
    String::from_utf8_lossy(&out).into_owned()
}
