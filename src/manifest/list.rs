//! Local manifest lists, kept between `manifest create` and `manifest
//! push` as Docker keeps them in `~/.docker/manifests`, but in the store.
//!
//! A list is one `index.json` entry carrying the `io.rimg.manifest-list`
//! annotation (the list's full reference) and pointing at an OCI index
//! blob. Each entry of that index is an element: its manifest's
//! descriptor, its platform (from the image config, then `annotate`) and
//! the reference it was added as (`io.rimg.manifest.ref`). The element
//! manifests are stored too, so `push` knows which blobs to mount and
//! `inspect -v` can show them; their configs and layers stay in the
//! registry. The catalog skips list entries, so `images` never shows one.

use super::ManifestError;
use crate::digest::Digest;
use crate::image::Catalog;
use crate::oci::{annotation, media_type, Descriptor, ImageConfig, Index, Manifest, Platform};
use crate::platform;
use crate::reference::Reference;
use crate::registry::{code, Client, FetchedManifest, RegistryError, Repository};
use crate::store::{Lease, Store, StoreError};
use serde::Serialize;
use std::collections::BTreeSet;

/// How often a change is recomputed when another rimg changed the same
/// list between reading it and writing it back.
const MAX_RETRIES: usize = 16;

/// A local manifest list.
#[derive(Clone, Debug)]
pub struct LocalList {
    pub reference: Reference,
    /// Its `index.json` entry.
    entry: Descriptor,
    /// The elements, in the order Docker lists them.
    pub elements: Vec<Descriptor>,
}

/// The reference an element was added as.
pub fn element_ref(element: &Descriptor) -> &str {
    element.annotation(annotation::MANIFEST_REF).unwrap_or("")
}

/// Whether an element is an image of this store rather than a registry's.
pub fn is_local(element: &Descriptor) -> bool {
    element.annotation(annotation::MANIFEST_LOCAL).is_some()
}

/// The list stored as `list`, if any.
pub fn load(store: &Store, list: &Reference) -> Result<Option<LocalList>, ManifestError> {
    find(store, &store.read_index()?, list)
}

fn find(
    store: &Store,
    index: &Index,
    list: &Reference,
) -> Result<Option<LocalList>, ManifestError> {
    let key = list.to_string();
    let Some(entry) = index
        .manifests
        .iter()
        .find(|d| d.annotation(annotation::MANIFEST_LIST) == Some(key.as_str()))
    else {
        return Ok(None);
    };
    let stored: Index = store.read_json(&entry.digest)?;
    Ok(Some(LocalList {
        reference: list.clone(),
        entry: entry.clone(),
        elements: stored.manifests,
    }))
}

/// Changes the list `list`: `change` gets the stored list (if any) and
/// returns its new elements, or `None` to remove it. The new list blob is
/// written before the store lock is taken (storing a blob may need the
/// lock); if another rimg changed the list meanwhile, `change` runs again
/// on what it wrote. Returns the blobs of the list it replaced.
fn update(
    store: &Store,
    list: &Reference,
    lease: &Lease,
    change: impl Fn(Option<&LocalList>) -> Result<Option<Vec<Descriptor>>, ManifestError>,
) -> Result<BTreeSet<Digest>, ManifestError> {
    for _ in 0..MAX_RETRIES {
        let before = match load(store, list) {
            Ok(before) => before,
            // Another rimg replaced the list, and removed its blob, between
            // our reading the index and the list: read both again.
            Err(ManifestError::Store(StoreError::BlobMissing(_))) => continue,
            Err(e) => return Err(e),
        };
        let entry = match change(before.as_ref())? {
            Some(elements) => Some(store_list(lease, list, elements)?),
            None => None,
        };
        let lock = store.lock()?;
        let mut index = store.read_index()?;
        let now = find(store, &index, list)?;
        if now.as_ref().map(|l| &l.entry.digest) != before.as_ref().map(|l| &l.entry.digest) {
            continue;
        }
        let key = list.to_string();
        index
            .manifests
            .retain(|d| d.annotation(annotation::MANIFEST_LIST) != Some(key.as_str()));
        index.manifests.extend(entry);
        store.write_index(&lock, &index)?;
        return Ok(now.map_or_else(BTreeSet::new, |old| {
            std::iter::once(old.entry.digest)
                .chain(old.elements.into_iter().map(|e| e.digest))
                .collect()
        }));
    }
    Err(ManifestError::Busy(list.to_string()))
}

/// Ends a change made under `lease`: removes the blobs it stored that
/// nothing references (all of them when it failed, else those of
/// attempts another rimg overtook) and those only the replaced list held.
/// A failure's own error wins over one cleaning up after it, whose
/// leftovers `system check` would report.
fn finish(
    lease: &Lease,
    outcome: Result<BTreeSet<Digest>, ManifestError>,
) -> Result<(), ManifestError> {
    let stored = lease.blobs();
    match outcome {
        Ok(mut replaced) => {
            replaced.extend(stored?);
            Ok(lease.remove_unreferenced(&replaced)?)
        }
        Err(e) => {
            if let Ok(stored) = stored {
                let _ = lease.remove_unreferenced(&stored);
            }
            Err(e)
        }
    }
}

/// Stores the list document and returns its `index.json` entry. Elements
/// are sorted as Docker's store lists its files, by the element's
/// reference with `:` as `-` and `/` as `_`.
fn store_list(
    lease: &Lease,
    list: &Reference,
    mut elements: Vec<Descriptor>,
) -> Result<Descriptor, ManifestError> {
    let file_name = |d: &Descriptor| element_ref(d).replace(':', "-").replace('/', "_");
    elements.sort_by_key(file_name);
    let document = Index {
        manifests: elements,
        ..Index::default()
    };
    let bytes =
        serde_json::to_vec(&document).map_err(|e| ManifestError::Internal(e.to_string()))?;
    let digest = lease.put_blob(&bytes)?;
    let mut entry = Descriptor::new(media_type::OCI_INDEX, digest, bytes.len() as u64);
    entry
        .annotations
        .insert(annotation::MANIFEST_LIST.to_string(), list.to_string());
    Ok(entry)
}

/// `manifest create [--amend] LIST MANIFEST…`: looks up each element in
/// its registry (an index contributes its entries), or failing that in
/// the store, and records the list. Returns nothing: the caller prints
/// Docker's "Created manifest list".
pub async fn create(
    store: &Store,
    client: &Client,
    list: &Reference,
    elements: &[Reference],
    amend: bool,
) -> Result<(), ManifestError> {
    if !amend && load(store, list)?.is_some() {
        return Err(ManifestError::Exists);
    }
    let lease = store.lease()?;
    let outcome = async {
        let mut added = Vec::new();
        for element in elements {
            added.extend(resolve(store, client, element, &lease).await?);
        }
        update(store, list, &lease, |old| {
            let mut elements = match old {
                Some(_) if !amend => return Err(ManifestError::Exists),
                Some(old) => old.elements.clone(),
                None => Vec::new(),
            };
            for new in &added {
                elements.retain(|e| element_ref(e) != element_ref(new) && e.digest != new.digest);
                elements.push(new.clone());
            }
            Ok(Some(elements))
        })
    }
    .await;
    finish(&lease, outcome)
}

/// The list elements `element` stands for, their manifests stored under
/// `lease`: one for an image manifest, one per platform for an index.
async fn resolve(
    store: &Store,
    client: &Client,
    element: &Reference,
    lease: &Lease,
) -> Result<Vec<Descriptor>, ManifestError> {
    let repo = element_repository(client, element).await?;
    let wanted = element.digest().or(element.tag()).unwrap_or("latest");
    let fetched = match client.manifest(&repo, wanted).await {
        Ok(fetched) => fetched,
        Err(e) => return local_element(store, element, e),
    };
    let kind = super::kind_of(&fetched);
    if media_type::is_index(&kind) {
        let index: Index = super::parse_as(element, "index", &fetched.bytes)?;
        let mut found = Vec::new();
        // BuildKit's attestations (unknown/unknown) are no platform's image.
        let images = index.manifests.iter().filter(|d| {
            media_type::is_manifest(&d.media_type)
                && d.platform.as_ref().is_none_or(|p| p.os != "unknown")
        });
        for child in images {
            let named = element.name_only().with_digest(child.digest.as_str())?;
            let bytes = client.manifest(&repo, child.digest.as_str()).await?.bytes;
            found.push(store_element(lease, &named, child.clone(), &bytes)?);
        }
        return Ok(found);
    }
    if !media_type::is_manifest(&kind) {
        return Err(ManifestError::Invalid {
            reference: element.to_string(),
            what: "manifest",
            reason: format!("unsupported media type {kind:?}"),
        });
    }
    let descriptor = described(client, &repo, element, &kind, &fetched).await?;
    Ok(vec![store_element(
        lease,
        element,
        descriptor,
        &fetched.bytes,
    )?])
}

/// The descriptor of an image manifest fetched for `element` (checked
/// against the digest it was named by, if any), with the platform its
/// config states, as Docker describes an image it fetched.
pub(super) async fn described(
    client: &Client,
    repo: &Repository,
    element: &Reference,
    kind: &str,
    fetched: &FetchedManifest,
) -> Result<Descriptor, ManifestError> {
    let digest = Digest::of(&fetched.bytes);
    if let Some(wanted) = element.digest() {
        if wanted != digest.as_str() {
            return Err(ManifestError::Invalid {
                reference: element.to_string(),
                what: "manifest",
                reason: format!("the registry served {digest}"),
            });
        }
    }
    let manifest: Manifest = super::parse_as(element, "manifest", &fetched.bytes)?;
    let config_bytes = client.small_blob(repo, &manifest.config.digest).await?;
    let config: ImageConfig = super::parse_as(element, "config", &config_bytes)?;
    let mut descriptor = Descriptor::new(kind, digest, fetched.bytes.len() as u64);
    descriptor.platform = Some(config_platform(&config));
    Ok(descriptor)
}

/// Stores an element's manifest, once it is checked to be what its
/// descriptor names, and returns its list entry.
fn store_element(
    lease: &Lease,
    named: &Reference,
    mut descriptor: Descriptor,
    bytes: &[u8],
) -> Result<Descriptor, ManifestError> {
    let actual = Digest::of(bytes);
    if actual != descriptor.digest {
        return Err(ManifestError::Invalid {
            reference: named.to_string(),
            what: "manifest",
            reason: format!("{actual} where its descriptor says {}", descriptor.digest),
        });
    }
    lease.put_blob(bytes)?;
    descriptor.annotations.clear();
    descriptor
        .annotations
        .insert(annotation::MANIFEST_REF.to_string(), named.to_string());
    Ok(descriptor)
}

/// An element the registry does not have: an image of this store, to be
/// pushed with the list. Anything else is the registry's error.
fn local_element(
    store: &Store,
    element: &Reference,
    error: RegistryError,
) -> Result<Vec<Descriptor>, ManifestError> {
    let unknown = matches!(
        error.code(),
        Some(code::MANIFEST_UNKNOWN | code::NAME_UNKNOWN)
    );
    let catalog = Catalog::load(store)?;
    let Some(image) = catalog
        .images()
        .iter()
        .find(|image| image.refs.contains(element))
    else {
        return Err(if unknown {
            ManifestError::Unknown(element.to_string())
        } else {
            error.into()
        });
    };
    let mut descriptor = Descriptor::new(
        &image.descriptor.media_type,
        image.descriptor.digest.clone(),
        image.descriptor.size,
    );
    descriptor.platform = Some(config_platform(&image.config));
    descriptor
        .annotations
        .insert(annotation::MANIFEST_REF.to_string(), element.to_string());
    descriptor
        .annotations
        .insert(annotation::MANIFEST_LOCAL.to_string(), "true".to_string());
    Ok(vec![descriptor])
}

/// The platform an image config states, as Docker reads it: `os`,
/// `architecture`, `variant`, `os.version` and `os.features`.
fn config_platform(config: &ImageConfig) -> Platform {
    let mut platform = platform::of_config(config);
    platform.os_version = config
        .extra
        .get("os.version")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    platform.os_features = config
        .extra
        .get("os.features")
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    platform
}

/// What `manifest annotate` sets; empty fields are left as they are.
#[derive(Clone, Debug, Default)]
pub struct Annotation {
    pub os: String,
    pub arch: String,
    pub variant: String,
    pub os_features: Vec<String>,
    pub os_version: String,
}

/// `manifest annotate LIST MANIFEST`: changes the platform of the
/// element added as `element`. `list_arg` and `element_arg` are the
/// arguments as given, for Docker's messages.
pub fn annotate(
    store: &Store,
    list: &Reference,
    element: &Reference,
    set: &Annotation,
    (list_arg, element_arg): (&str, &str),
) -> Result<(), ManifestError> {
    let missing = || ManifestError::NotInList {
        image: element_arg.to_string(),
        list: list_arg.to_string(),
    };
    let wanted = element.to_string();
    let lease = store.lease()?;
    let outcome = update(store, list, &lease, |old| {
        let mut elements = old.ok_or_else(missing)?.elements.clone();
        let mut found = false;
        for e in elements.iter_mut().filter(|e| element_ref(e) == wanted) {
            found = true;
            let platform = e.platform.get_or_insert_with(Platform::default);
            apply(platform, set)?;
        }
        if !found {
            return Err(missing());
        }
        Ok(Some(elements))
    });
    finish(&lease, outcome)
}

/// Docker's annotate on one platform, with the architecture normalised
/// (`x86_64` is `amd64`, `aarch64` `arm64`) before the os/arch check.
fn apply(platform: &mut Platform, set: &Annotation) -> Result<(), ManifestError> {
    if !set.os.is_empty() {
        platform.os = set.os.clone();
    }
    if !set.arch.is_empty() {
        platform.architecture = normal_arch(&set.arch);
    }
    for feature in &set.os_features {
        let features = platform.os_features.get_or_insert_with(Vec::new);
        if !features.contains(feature) {
            features.push(feature.clone());
        }
    }
    if !set.variant.is_empty() {
        platform.variant = Some(set.variant.clone());
    }
    if !set.os_version.is_empty() {
        platform.os_version = Some(set.os_version.clone());
    }
    if !valid_os_arch(&platform.os, &platform.architecture) {
        return Err(ManifestError::UnsupportedPlatform {
            os: set.os.clone(),
            arch: set.arch.clone(),
        });
    }
    Ok(())
}

fn normal_arch(arch: &str) -> String {
    platform::parse(&format!("linux/{arch}"))
        .map(|p| p.architecture)
        .unwrap_or_else(|_| arch.to_string())
}

/// The os/arch pairs Docker's `manifest annotate` accepts (its
/// `validOSArches`).
fn valid_os_arch(os: &str, arch: &str) -> bool {
    const VALID: &[(&str, &[&str])] = &[
        ("darwin", &["386", "amd64", "arm", "arm64"]),
        ("dragonfly", &["amd64"]),
        ("freebsd", &["386", "amd64", "arm"]),
        (
            "linux",
            &[
                "386", "amd64", "arm", "arm64", "ppc64le", "mips64", "mips64le", "riscv64", "s390x",
            ],
        ),
        ("netbsd", &["386", "amd64", "arm"]),
        ("openbsd", &["386", "amd64", "arm"]),
        ("plan9", &["386", "amd64"]),
        ("solaris", &["amd64"]),
        ("windows", &["386", "amd64"]),
    ];
    VALID
        .iter()
        .any(|(o, arches)| *o == os && arches.contains(&arch))
}

/// `manifest rm LIST`: forgets a local list (Docker's "No such manifest"
/// when there is none).
pub fn remove(store: &Store, list: &Reference) -> Result<(), ManifestError> {
    let lease = store.lease()?;
    let outcome = update(store, list, &lease, |old| match old {
        Some(_) => Ok(None),
        None => Err(ManifestError::NoSuchList(list.to_string())),
    });
    finish(&lease, outcome)
}

/// A list as it goes to a registry, and as `manifest inspect` shows a
/// local one: Docker's manifest list when every element is a Docker
/// schema 2 manifest, else an OCI index. Field order and the 3-space
/// indent are those of Docker's `manifestlist.FromDescriptors`, so the
/// same elements give the same digest.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Document<'a> {
    schema_version: u32,
    media_type: &'a str,
    manifests: Vec<Entry<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry<'a> {
    media_type: &'a str,
    size: u64,
    digest: &'a Digest,
    platform: EntryPlatform<'a>,
}

#[derive(Serialize)]
struct EntryPlatform<'a> {
    architecture: &'a str,
    os: &'a str,
    #[serde(rename = "os.version", skip_serializing_if = "Option::is_none")]
    os_version: Option<&'a str>,
    #[serde(rename = "os.features", skip_serializing_if = "Option::is_none")]
    os_features: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<&'a str>,
}

/// The list document for `elements`: its media type and bytes.
pub fn document(elements: &[Descriptor]) -> Result<(&'static str, Vec<u8>), ManifestError> {
    let kind = if elements
        .iter()
        .all(|e| e.media_type == media_type::DOCKER_MANIFEST)
    {
        media_type::DOCKER_MANIFEST_LIST
    } else {
        media_type::OCI_INDEX
    };
    let none = Platform::default();
    let manifests = elements
        .iter()
        .map(|e| {
            let p = e.platform.as_ref().unwrap_or(&none);
            Entry {
                media_type: &e.media_type,
                size: e.size,
                digest: &e.digest,
                platform: EntryPlatform {
                    architecture: &p.architecture,
                    os: &p.os,
                    os_version: p.os_version.as_deref(),
                    os_features: p.os_features.as_deref(),
                    variant: p.variant.as_deref(),
                },
            }
        })
        .collect();
    let document = Document {
        schema_version: 2,
        media_type: kind,
        manifests,
    };
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"   ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    document
        .serialize(&mut serializer)
        .map_err(|e| ManifestError::Internal(e.to_string()))?;
    Ok((kind, out))
}

/// Where `element` is read from: its registry itself, never a mirror, as
/// Docker's manifest commands do.
pub(super) async fn element_repository(
    client: &Client,
    element: &Reference,
) -> Result<Repository, ManifestError> {
    client
        .repositories(element.domain(), element.path())
        .await?
        .pop()
        .ok_or_else(|| ManifestError::Unknown(element.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::tests::platform;

    fn annotation(os: &str, arch: &str, variant: &str) -> Annotation {
        Annotation {
            os: os.into(),
            arch: arch.into(),
            variant: variant.into(),
            ..Annotation::default()
        }
    }

    #[test]
    fn annotate_normalises_the_architecture() {
        let mut p = platform("linux", "amd64", None);
        apply(&mut p, &annotation("linux", "aarch64", "v8")).unwrap();
        assert_eq!(p, platform("linux", "arm64", Some("v8")));
        apply(&mut p, &annotation("", "x86_64", "")).unwrap();
        assert_eq!(p.architecture, "amd64");
    }

    #[test]
    fn annotate_refuses_unknown_combinations_as_docker_says() {
        let mut p = platform("linux", "amd64", None);
        let e = apply(&mut p, &annotation("plan9", "s390x", "")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "manifest entry for image has unsupported os/arch combination: plan9/s390x"
        );
    }

    #[test]
    fn os_features_are_added_once() {
        let mut p = platform("windows", "amd64", None);
        let set = Annotation {
            os_features: vec!["win32k".into(), "win32k".into()],
            ..Annotation::default()
        };
        apply(&mut p, &set).unwrap();
        apply(&mut p, &set).unwrap();
        assert_eq!(p.os_features, Some(vec!["win32k".to_string()]));
    }

    #[test]
    fn document_is_docker_list_only_for_schema2_elements() {
        let mut docker = Descriptor::new(media_type::DOCKER_MANIFEST, Digest::of(b"a"), 7);
        docker.platform = Some(platform("linux", "arm64", Some("v8")));
        let (kind, bytes) = document(std::slice::from_ref(&docker)).unwrap();
        assert_eq!(kind, media_type::DOCKER_MANIFEST_LIST);
        let expected = format!(
            "{{\n   \"schemaVersion\": 2,\n   \"mediaType\": \"{}\",\n   \"manifests\": [\n      {{\n         \"mediaType\": \"{}\",\n         \"size\": 7,\n         \"digest\": \"{}\",\n         \"platform\": {{\n            \"architecture\": \"arm64\",\n            \"os\": \"linux\",\n            \"variant\": \"v8\"\n         }}\n      }}\n   ]\n}}",
            media_type::DOCKER_MANIFEST_LIST,
            media_type::DOCKER_MANIFEST,
            Digest::of(b"a")
        );
        assert_eq!(String::from_utf8(bytes).unwrap(), expected);
        let oci = Descriptor::new(media_type::OCI_MANIFEST, Digest::of(b"b"), 7);
        let (kind, _) = document(&[docker, oci]).unwrap();
        assert_eq!(kind, media_type::OCI_INDEX);
    }
}
