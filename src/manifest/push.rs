//! `manifest push`: sends a local list to the list's repository. As
//! Docker does, an element living in another repository of the same
//! registry is first made available in the list's repository: its blobs
//! mounted (or, where the registry refuses the mount, copied through a
//! temporary file) and its manifest put by digest. An element that is a
//! local image (podman's extension) is pushed there by digest first.

use super::list::{self, LocalList};
use super::{parse_as, ManifestError};
use crate::digest::{Digest, Hasher};
use crate::image::push::push_by_digest;
use crate::oci::{Descriptor, Manifest};
use crate::progress::Progress;
use crate::reference::Reference;
use crate::registry::upload::{Mount, Upload};
use crate::registry::{Client, Repository};
use crate::store::{io_context, Store};
use bytes::Bytes;
use tokio::io::AsyncWriteExt;

/// Pushes the local list `list` and returns the list's digest; with
/// `purge`, forgets the local list once it is pushed.
pub async fn push(
    store: &Store,
    client: &Client,
    list: &Reference,
    purge: bool,
    progress: &Progress,
) -> Result<Digest, ManifestError> {
    let local =
        list::load(store, list)?.ok_or_else(|| ManifestError::NoSuchList(list.to_string()))?;
    let named = check(&local)?;
    let repo = client.push_repository(list.domain(), list.path()).await?;
    let mut elements = Vec::new();
    for (element, from) in local.elements.iter().zip(&named) {
        let mut element = element.clone();
        if list::is_local(&element) {
            let pushed = push_by_digest(store, client, from, &list.name_only(), progress).await?;
            element.digest = pushed.digest;
            element.size = pushed.size;
            element.media_type = pushed.media_type;
        } else if from.path() == list.path() {
            // Already in the list's repository.
            elements.push(element);
            continue;
        } else {
            copy_element(store, client, &repo, from, &element).await?;
        }
        progress.line(&format!(
            "Pushed ref {}@{} with digest: {}",
            list.name(),
            element.digest,
            element.digest
        ));
        elements.push(element);
    }
    let (kind, bytes) = list::document(&elements)?;
    let digest = Digest::of(&bytes);
    let put_as = list.tag().or(list.digest()).unwrap_or("latest");
    client
        .put_manifest(&repo, put_as, kind, Bytes::from(bytes))
        .await?;
    if purge {
        list::remove(store, list)?;
    }
    Ok(digest)
}

/// Docker's checks before anything is sent: every element has an OS and
/// an architecture, and lives on the list's registry. Returns each
/// element's reference.
fn check(local: &LocalList) -> Result<Vec<Reference>, ManifestError> {
    let list = &local.reference;
    local
        .elements
        .iter()
        .map(|element| {
            let named = Reference::parse(list::element_ref(element))?;
            let platform = element.platform.as_ref();
            if platform.is_none_or(|p| p.os.is_empty() || p.architecture.is_empty()) {
                return Err(ManifestError::NoPlatform(named.to_string()));
            }
            if named.domain() != list.domain() {
                return Err(ManifestError::OtherRegistry(
                    named.domain().to_string(),
                    list.domain().to_string(),
                ));
            }
            Ok(named)
        })
        .collect()
}

/// Makes the element `from` (another repository of the same registry)
/// available in `repo`: config and layers mounted or copied, then its
/// manifest put by digest.
async fn copy_element(
    store: &Store,
    client: &Client,
    repo: &Repository,
    from: &Reference,
    element: &Descriptor,
) -> Result<(), ManifestError> {
    let bytes = store.read_blob(&element.digest)?;
    let manifest: Manifest = parse_as(from, "manifest", &bytes)?;
    let source = list::element_repository(client, from).await?;
    // Foreign layers (`urls`) live outside the registry.
    let blobs = std::iter::once(&manifest.config)
        .chain(manifest.layers.iter().filter(|l| l.urls.is_none()));
    for blob in blobs {
        if client.blob_exists(repo, &blob.digest).await? {
            continue;
        }
        if let Mount::Upload(upload) = client.mount_blob(repo, &blob.digest, from.path()).await? {
            copy_blob(store, client, (from, &source), repo, upload, blob).await?;
        }
    }
    client
        .put_manifest(
            repo,
            element.digest.as_str(),
            &element.media_type,
            Bytes::from(bytes),
        )
        .await?;
    Ok(())
}

/// Copies a blob the registry would not mount: downloaded into a
/// temporary file in the store (verified), then uploaded through the
/// session the refused mount opened.
async fn copy_blob(
    store: &Store,
    client: &Client,
    (from, source): (&Reference, &Repository),
    target: &Repository,
    upload: Upload,
    blob: &Descriptor,
) -> Result<(), ManifestError> {
    let context = || format!("copying blob {}", blob.digest);
    let temp = store.temp_file("copy-")?;
    let mut file =
        tokio::fs::File::from_std(temp.as_file().try_clone().map_err(io_context(context()))?);
    let mut hasher = Hasher::new();
    let mut stream = client.blob(source, &blob.digest, blob.size);
    while let Some(chunk) = stream.next_chunk().await? {
        hasher.update(&chunk);
        file.write_all(&chunk)
            .await
            .map_err(io_context(context()))?;
    }
    file.flush().await.map_err(io_context(context()))?;
    let size = hasher.len();
    let actual = hasher.finish();
    if actual != blob.digest || size != blob.size {
        return Err(ManifestError::Invalid {
            reference: format!("{}@{}", from.name(), blob.digest),
            what: "blob",
            reason: format!("got {actual} ({size} bytes)"),
        });
    }
    client
        .upload_blob(
            target,
            upload,
            temp.path(),
            &blob.digest,
            blob.size,
            &|_| {},
        )
        .await?;
    Ok(())
}
