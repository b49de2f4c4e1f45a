//! Changes to the index's entries: naming, un-naming and dropping images.
//! Callers hold the store lock and write the index back afterwards.

use super::catalog::entry_ref;
use crate::digest::Digest;
use crate::oci::{annotation, Descriptor, Index};
use crate::reference::Reference;
use std::collections::BTreeSet;

/// Removes `name` from whatever entry holds it. The entry stays, unnamed,
/// so the image it pointed at is kept as a dangling image (`<none>`), as
/// Docker keeps an image whose tag moved away.
pub fn strip_name(index: &mut Index, name: &Reference) {
    for desc in &mut index.manifests {
        if entry_ref(desc).as_ref() == Some(name) {
            desc.annotations.remove(annotation::REF_NAME);
            desc.annotations.remove(annotation::CONTAINERD_IMAGE_NAME);
        }
    }
    normalize(index);
}

/// Points `name` at the image `target` describes, taking it from any
/// image that had it.
pub fn set_name(index: &mut Index, name: &Reference, target: &Descriptor) {
    strip_name(index, name);
    let mut entry = entry_for(target);
    entry
        .annotations
        .insert(annotation::REF_NAME.to_string(), name.to_string());
    index.manifests.push(entry);
    normalize(index);
}

/// Records `key` = `value` on every entry of the image of `manifest`: what
/// Docker keeps as an image's metadata (when it was last tagged, its
/// parent) outlives any one name.
pub fn annotate(index: &mut Index, manifest: &Digest, key: &str, value: &str) {
    for desc in &mut index.manifests {
        if desc.digest == *manifest {
            desc.annotations.insert(key.to_string(), value.to_string());
        }
    }
}

/// Adds an unnamed entry for `target` unless the index already holds it.
pub fn keep_unnamed(index: &mut Index, target: &Descriptor) {
    if !index.manifests.iter().any(|d| d.digest == target.digest) {
        index.manifests.push(entry_for(target));
    }
}

/// A fresh index entry for the manifest `target` describes, without its
/// annotations.
fn entry_for(target: &Descriptor) -> Descriptor {
    let mut entry = Descriptor::new(&target.media_type, target.digest.clone(), target.size);
    entry.platform = target.platform.clone();
    entry
}

/// Drops every entry of the given manifests.
pub fn drop_manifests(index: &mut Index, manifests: &BTreeSet<Digest>) {
    index
        .manifests
        .retain(|desc| !manifests.contains(&desc.digest));
}

/// Keeps one unnamed entry for an image that has no name, and none for an
/// image that has one: an unnamed entry only exists to keep a dangling
/// image alive.
fn normalize(index: &mut Index) {
    let named: BTreeSet<Digest> = index
        .manifests
        .iter()
        .filter(|d| entry_ref(d).is_some())
        .map(|d| d.digest.clone())
        .collect();
    let mut unnamed_seen = BTreeSet::new();
    index.manifests.retain(|desc| {
        entry_ref(desc).is_some()
            || (!named.contains(&desc.digest) && unnamed_seen.insert(desc.digest.clone()))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(byte: u8) -> Descriptor {
        Descriptor::new(crate::oci::media_type::OCI_MANIFEST, Digest::of(&[byte]), 1)
    }

    fn names(index: &Index) -> Vec<Option<String>> {
        index
            .manifests
            .iter()
            .map(|d| entry_ref(d).map(|r| r.familiar_string()))
            .collect()
    }

    #[test]
    fn moving_a_tag_leaves_the_old_image_dangling() {
        let mut index = Index::default();
        let app = Reference::parse_with_default_tag("app:1").unwrap();
        set_name(&mut index, &app, &desc(1));
        set_name(&mut index, &app, &desc(2));
        assert_eq!(names(&index), vec![None, Some("app:1".to_string())]);
        assert_eq!(index.manifests[0].digest, desc(1).digest);
        // Naming the dangling image again removes its unnamed entry.
        let other = Reference::parse_with_default_tag("other").unwrap();
        set_name(&mut index, &other, &desc(1));
        assert_eq!(
            names(&index),
            vec![Some("app:1".to_string()), Some("other:latest".to_string())]
        );
    }

    #[test]
    fn stripping_one_of_two_names_keeps_no_unnamed_entry() {
        let mut index = Index::default();
        let a = Reference::parse_with_default_tag("a").unwrap();
        let b = Reference::parse_with_default_tag("b").unwrap();
        set_name(&mut index, &a, &desc(1));
        set_name(&mut index, &b, &desc(1));
        strip_name(&mut index, &a);
        assert_eq!(names(&index), vec![Some("b:latest".to_string())]);
    }
}
