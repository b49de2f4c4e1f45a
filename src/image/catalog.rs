//! Reading the store's index as a list of images, and finding one image by
//! name, ID or ID prefix the way Docker does.

use super::ImageError;
use crate::digest::Digest;
use crate::oci::{annotation, media_type, Descriptor, ImageConfig, Index, Manifest};
use crate::platform;
use crate::reference::{is_full_image_id, Reference};
use crate::store::{Store, StoreError};
use std::collections::{BTreeSet, HashMap};

/// One image: everything the index holds under one config digest.
#[derive(Clone, Debug)]
pub struct Image {
    /// The config digest, Docker's image ID.
    pub id: Digest,
    /// The index entry's descriptor this image was read through; a new tag
    /// for the image gets a copy of it.
    pub descriptor: Descriptor,
    pub manifest: Manifest,
    pub config: ImageConfig,
    /// Tag and digest references, sorted like Docker's reference store.
    pub refs: Vec<Reference>,
    /// The digests of every index entry that stands for this image.
    pub entries: BTreeSet<Digest>,
}

impl Image {
    pub fn tags(&self) -> impl Iterator<Item = &Reference> {
        self.refs.iter().filter(|r| r.digest().is_none())
    }

    pub fn digests(&self) -> impl Iterator<Item = &Reference> {
        self.refs.iter().filter(|r| r.digest().is_some())
    }

    pub fn created(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.config.created_time()
    }

    /// Every blob the image needs: manifest, config and layers.
    pub fn blobs(&self) -> impl Iterator<Item = &Digest> {
        std::iter::once(&self.descriptor.digest)
            .chain(std::iter::once(&self.manifest.config.digest))
            .chain(self.manifest.layers.iter().map(|l| &l.digest))
    }
}

/// Uncompressed sizes, as Docker reports them. Only the commands that
/// show a size measure one: a layer the `.rimg/layers` cache lacks (one
/// another tool copied into the store) is decompressed whole to measure
/// it, which `tag` or `rmi` should never pay for. Each layer is looked up
/// once however many images share it.
pub struct Sizes<'a> {
    store: &'a Store,
    layers: HashMap<Digest, u64>,
}

impl<'a> Sizes<'a> {
    pub fn new(store: &'a Store) -> Sizes<'a> {
        Sizes {
            store,
            layers: HashMap::new(),
        }
    }

    pub fn layer(&mut self, layer: &Descriptor) -> Result<u64, StoreError> {
        if let Some(&size) = self.layers.get(&layer.digest) {
            return Ok(size);
        }
        let size = self.store.layer_size(layer)?;
        self.layers.insert(layer.digest.clone(), size);
        Ok(size)
    }

    /// The image's size: all its layers, uncompressed.
    pub fn image(&mut self, image: &Image) -> Result<u64, StoreError> {
        image.manifest.layers.iter().map(|l| self.layer(l)).sum()
    }
}

/// How an argument named an image: through one of its references, or by ID.
#[derive(Clone, Debug)]
pub struct ImageRef {
    pub image: usize,
    pub by: Option<Reference>,
}

/// How often [`Catalog::load`] reads an index again that changed under it.
const MAX_RELOADS: usize = 16;

/// The images in a store at one moment.
pub struct Catalog {
    pub index: Index,
    images: Vec<Image>,
}

impl Catalog {
    /// Reads the index and the images it names. Readers take no lock, so
    /// a concurrent `rmi` may remove an image's blobs between the index
    /// and them: a missing blob while the index has changed is read again
    /// (as Docker lists what exists); one the index still names is damage.
    pub fn load(store: &Store) -> Result<Catalog, StoreError> {
        let mut index = store.read_index()?;
        let mut reloads = 0;
        loop {
            match read_images(store, &index) {
                Ok(images) => return Ok(Catalog { index, images }),
                Err(StoreError::BlobMissing(digest)) if reloads < MAX_RELOADS => {
                    let now = store.read_index()?;
                    if now.manifests == index.manifests {
                        return Err(StoreError::BlobMissing(digest));
                    }
                    index = now;
                    reloads += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    pub fn images(&self) -> &[Image] {
        &self.images
    }

    /// When `image` was last named by `tag`, `import` or `commit`: the
    /// latest time its entries record (all written alike, so they sort as
    /// text).
    pub fn last_tagged(&self, image: &Image) -> Option<&str> {
        self.metadata(image, annotation::LAST_TAGGED)
    }

    /// The ID of the image `commit` built `image` on, Docker's `Parent`.
    pub fn parent_id(&self, image: &Image) -> Option<&str> {
        self.metadata(image, annotation::PARENT)
    }

    /// That parent, if the store still has it.
    fn parent(&self, image: &Image) -> Option<&Image> {
        let id = self.parent_id(image)?;
        self.images.iter().find(|i| i.id.as_str() == id)
    }

    /// `image` and its parents, newest first: whose IDs `history` shows.
    pub fn lineage<'a>(&'a self, image: &'a Image) -> Vec<&'a Image> {
        let mut lineage = vec![image];
        while let Some(parent) = lineage.last().and_then(|i| self.parent(i)) {
            // A cycle only a hand-edited index could make.
            if lineage.iter().any(|i| i.id == parent.id) {
                break;
            }
            lineage.push(parent);
        }
        lineage
    }

    /// An annotation rimg keeps on every entry of an image (see
    /// [`super::edit::annotate`]); the greatest if they differ.
    fn metadata(&self, image: &Image, key: &str) -> Option<&str> {
        self.index
            .manifests
            .iter()
            .filter(|d| image.entries.contains(&d.digest))
            .filter_map(|d| d.annotation(key))
            .max()
    }

    pub fn image(&self, found: &ImageRef) -> &Image {
        &self.images[found.image]
    }

    /// Finds an image as Docker's daemon does: a 64-hex string or
    /// `sha256:<64 hex>` is an ID; anything else is first a reference (with
    /// `latest` implied) and then, failing that, an ID prefix.
    pub fn find(&self, arg: &str) -> Result<ImageRef, ImageError> {
        let hex = arg.strip_prefix("sha256:").unwrap_or(arg);
        if is_full_image_id(hex) {
            return self
                .images
                .iter()
                .position(|i| i.id.hex() == hex)
                .map(|image| ImageRef { image, by: None })
                .ok_or_else(|| ImageError::NotFound(arg.to_string()));
        }
        let parsed = Reference::parse_with_default_tag(arg);
        if let Ok(wanted) = &parsed {
            if let Some(image) = self.position_of_ref(wanted) {
                return Ok(ImageRef {
                    image,
                    by: Some(wanted.clone()),
                });
            }
        }
        if !hex.is_empty() && hex.len() < 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let matches: Vec<usize> = (0..self.images.len())
                .filter(|&i| self.images[i].id.hex().starts_with(hex))
                .collect();
            match matches.len() {
                0 => {}
                1 => {
                    return Ok(ImageRef {
                        image: matches[0],
                        by: None,
                    })
                }
                count => {
                    return Err(ImageError::Ambiguous {
                        prefix: arg.to_string(),
                        count,
                    })
                }
            }
        }
        match parsed {
            Ok(wanted) => Err(ImageError::NotFound(wanted.familiar_string())),
            Err(e) => Err(e.into()),
        }
    }

    fn position_of_ref(&self, wanted: &Reference) -> Option<usize> {
        self.images
            .iter()
            .position(|image| image.refs.iter().any(|r| r == wanted))
    }
}

/// The reference an index entry names, if any. A bare tag such as `v1`
/// (which some tools write as `ref.name`) names no repository, so only
/// references with an explicit tag or digest count; containerd's full-name
/// annotation is the fallback.
pub fn entry_ref(desc: &Descriptor) -> Option<Reference> {
    [annotation::REF_NAME, annotation::CONTAINERD_IMAGE_NAME]
        .iter()
        .filter_map(|key| desc.annotation(key))
        .filter_map(|name| Reference::parse(name).ok())
        .find(|r| r.tag().is_some() || r.digest().is_some())
}

/// The image manifest an index entry stands for: itself, or for a nested
/// index, the stored child that matches this machine.
fn manifest_of(store: &Store, desc: &Descriptor) -> Result<Option<Manifest>, StoreError> {
    if media_type::is_index(&desc.media_type) {
        let index: Index = store.read_json(&desc.digest)?;
        let child = platform::choose(&index, &platform::host(), |m| store.has_blob(&m.digest));
        return match child {
            Some(child) => store.read_json(&child.digest).map(Some),
            None => Ok(None),
        };
    }
    store.read_json(&desc.digest).map(Some)
}

fn read_images(store: &Store, index: &Index) -> Result<Vec<Image>, StoreError> {
    let mut images: Vec<Image> = Vec::new();
    let mut by_id: HashMap<Digest, usize> = HashMap::new();
    // Local manifest lists are not images (Docker lists them nowhere).
    let images_only = index
        .manifests
        .iter()
        .filter(|d| d.annotation(annotation::MANIFEST_LIST).is_none());
    for desc in images_only {
        let Some(manifest) = manifest_of(store, desc)? else {
            continue;
        };
        let id = manifest.config.digest.clone();
        let slot = match by_id.get(&id) {
            Some(&slot) => slot,
            None => {
                let config: ImageConfig = store.read_json(&id)?;
                images.push(Image {
                    id: id.clone(),
                    descriptor: desc.clone(),
                    manifest,
                    config,
                    refs: Vec::new(),
                    entries: BTreeSet::new(),
                });
                by_id.insert(id, images.len() - 1);
                images.len() - 1
            }
        };
        images[slot].entries.insert(desc.digest.clone());
        if let Some(name) = entry_ref(desc) {
            images[slot].refs.push(name);
        }
    }
    for image in &mut images {
        image.refs.sort_by_key(|r| r.to_string());
        image.refs.dedup();
    }
    Ok(images)
}
