//! `rimg manifest inspect`: a local manifest list, else a registry's
//! manifest or index, as JSON as `docker manifest inspect` prints it
//! (tab-indented; with `--verbose`, per-platform entries holding the
//! reference, descriptor, raw bytes and parsed manifest).

use super::list::{self, LocalList};
use super::{parse_as, ManifestError};
use crate::digest::Digest;
use crate::oci::{media_type, Descriptor, Index, Manifest};
use crate::reference::Reference;
use crate::registry::{Client, FetchedManifest};
use crate::store::Store;
use serde_json::{json, Value};

/// The JSON `docker manifest inspect` prints for `reference`: the local
/// list of that name if there is one, else what the registry serves.
pub async fn inspect(
    store: &Store,
    client: &Client,
    reference: &Reference,
    verbose: bool,
) -> Result<String, ManifestError> {
    if let Some(local) = list::load(store, reference)? {
        return local_list(store, &local, verbose);
    }
    let repo = list::element_repository(client, reference).await?;
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
    let value = if media_type::is_index(&kind) && !verbose {
        // Docker rebuilds the list from its entries and prints that as
        // it would push it.
        let index: Index = parse_as(reference, "index", &fetched.bytes)?;
        return printed(&index.manifests);
    } else if !verbose {
        parse_as::<Value>(reference, "manifest", &fetched.bytes)?
    } else if media_type::is_index(&kind) {
        let index: Index = parse_as(reference, "index", &fetched.bytes)?;
        let mut entries = Vec::new();
        for entry in &index.manifests {
            let child = client.manifest(&repo, entry.digest.as_str()).await?;
            let named = by_digest(reference, &entry.digest);
            entries.push(verbose_entry(
                reference,
                named,
                entry.clone(),
                &child.bytes,
            )?);
        }
        Value::Array(entries)
    } else {
        let descriptor = list::described(client, &repo, reference, &kind, &fetched).await?;
        verbose_entry(reference, reference.to_string(), descriptor, &fetched.bytes)?
    };
    Ok(go_indent(&value))
}

/// `manifest inspect LIST MANIFEST`: one element of a local list, as it
/// was added (Docker's "No such manifest" names the element).
pub fn inspect_element(
    store: &Store,
    list: &Reference,
    element: &Reference,
    verbose: bool,
) -> Result<String, ManifestError> {
    let wanted = element.to_string();
    let found = list::load(store, list)?.and_then(|local| {
        local
            .elements
            .into_iter()
            .find(|e| list::element_ref(e) == wanted)
    });
    let descriptor = found.ok_or(ManifestError::NoSuchList(wanted))?;
    let bytes = store.read_blob(&descriptor.digest)?;
    let value = if verbose {
        verbose_entry(element, element.to_string(), public(&descriptor), &bytes)?
    } else {
        parse_as(element, "manifest", &bytes)?
    };
    Ok(go_indent(&value))
}

/// A local list: the document `manifest push` would send, or verbosely
/// each element as Docker's store keeps it.
fn local_list(store: &Store, local: &LocalList, verbose: bool) -> Result<String, ManifestError> {
    if !verbose {
        return printed(&local.elements);
    }
    let mut entries = Vec::new();
    for element in &local.elements {
        let bytes = store.read_blob(&element.digest)?;
        let named = Reference::parse(list::element_ref(element))?;
        entries.push(verbose_entry(
            &named,
            named.to_string(),
            public(element),
            &bytes,
        )?);
    }
    Ok(go_indent(&Value::Array(entries)))
}

/// A list as Docker prints one: the document it would push, as it is.
fn printed(elements: &[Descriptor]) -> Result<String, ManifestError> {
    let (_, bytes) = list::document(elements)?;
    String::from_utf8(bytes).map_err(|e| ManifestError::Internal(e.to_string()))
}

/// An element's descriptor without rimg's own annotations.
fn public(element: &Descriptor) -> Descriptor {
    let mut descriptor = element.clone();
    descriptor.annotations.clear();
    descriptor
}

/// `reference` pinned to `digest`, as Docker names each entry it
/// fetched: the tag stays (`name:tag@sha256:…`).
fn by_digest(reference: &Reference, digest: &Digest) -> String {
    match reference.digest() {
        Some(_) => reference.to_string(),
        None => format!("{reference}@{digest}"),
    }
}

/// One platform's entry of the verbose form, as Docker 20.10 prints it:
/// `Ref` (`named`), the descriptor and the manifest with its keys as
/// stored (Docker shows no `Raw` bytes).
fn verbose_entry(
    reference: &Reference,
    named: String,
    descriptor: Descriptor,
    bytes: &[u8],
) -> Result<Value, ManifestError> {
    let key = if descriptor.media_type == media_type::DOCKER_MANIFEST {
        "SchemaV2Manifest"
    } else {
        "OCIManifest"
    };
    parse_as::<Manifest>(reference, "manifest", bytes)?;
    let manifest: Value = parse_as(reference, "manifest", bytes)?;
    Ok(json!({"Ref": named, "Descriptor": descriptor, key: manifest}))
}

/// The media type a registry served a manifest as: its `Content-Type`,
/// else the document's own `mediaType`.
pub(super) fn kind_of(fetched: &FetchedManifest) -> String {
    if !fetched.media_type.is_empty() {
        return fetched.media_type.clone();
    }
    serde_json::from_slice::<Value>(&fetched.bytes)
        .ok()
        .and_then(|v| v.get("mediaType")?.as_str().map(str::to_string))
        .unwrap_or_default()
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
