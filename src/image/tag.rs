//! `tag`, and the rule for every name given to an image.

use super::{edit, Catalog, ImageError};
use crate::oci::annotation;
use crate::reference::Reference;
use crate::store::Store;

/// `tag SOURCE TARGET`: points TARGET (with `latest` implied) at the image
/// SOURCE names; an image that loses its last name this way stays, as
/// `<none>`.
pub fn tag(store: &Store, source: &str, target: &str) -> Result<(), ImageError> {
    let name = parse_target(target)?;
    let lock = store.lock()?;
    let mut catalog = Catalog::load(store)?;
    let found = catalog.find(source)?;
    let descriptor = catalog.image(&found).descriptor.clone();
    edit::set_name(&mut catalog.index, &name, &descriptor);
    edit::annotate(
        &mut catalog.index,
        &descriptor.digest,
        annotation::LAST_TAGGED,
        &super::now(),
    );
    store.write_index(&lock, &catalog.index)?;
    Ok(())
}

/// A name to give an image (`tag`, `commit`, `import`): `latest` implied,
/// digests refused.
pub fn parse_target(target: &str) -> Result<Reference, ImageError> {
    let name =
        Reference::parse_with_default_tag(target).map_err(|source| ImageError::BadTarget {
            input: target.to_string(),
            source,
        })?;
    if name.digest().is_some() {
        return Err(ImageError::TagWithDigest);
    }
    Ok(name)
}
