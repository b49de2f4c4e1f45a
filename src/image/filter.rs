//! `images` listing: Docker's `--filter` keys and the rows it shows per
//! image (one per tag, `<none>` for digest-only and dangling images).

use super::catalog::{Catalog, Image};
use super::ImageError;
use crate::reference::{familiar_match, Reference};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// `label=KEY` and `label=KEY=VALUE` filters, of images and (by their
/// image's labels) of containers: every one must hold.
#[derive(Debug, Default)]
pub struct LabelFilter(Vec<(String, Option<String>)>);

impl LabelFilter {
    pub fn push(&mut self, value: &str) {
        self.0.push(match value.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (value.to_string(), None),
        });
    }

    /// Whether `image`'s labels pass; with no filter, any image (or none).
    pub fn matches(&self, image: Option<&Image>) -> bool {
        let labels = image.and_then(|i| i.config.labels());
        self.0.iter().all(
            |(key, want)| match (labels.and_then(|l| l.get(key)), want) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(v), Some(want)) => v.as_str() == Some(want.as_str()),
            },
        )
    }
}

/// Parsed `--filter` values; several values of one key are alternatives,
/// different keys must all hold.
#[derive(Debug, Default)]
pub struct ImageFilter {
    dangling: Option<bool>,
    labels: LabelFilter,
    before: Option<Option<DateTime<Utc>>>,
    since: Option<Option<DateTime<Utc>>>,
    references: Vec<String>,
}

#[derive(Debug, Default)]
pub struct ListOptions {
    pub filter: ImageFilter,
    /// Show one row per repo digest (`--digests`, or a format using it).
    pub digests: bool,
}

impl ImageFilter {
    /// Parses `key=value` filters. `before`/`since` name images, looked up
    /// in `catalog`.
    pub fn parse(filters: &[String], catalog: &Catalog) -> Result<ImageFilter, ImageError> {
        let mut filter = ImageFilter::default();
        for raw in filters {
            let (key, value) = raw.split_once('=').ok_or(ImageError::BadFilterFormat)?;
            match key {
                "dangling" => {
                    // Go's strconv.ParseBool, and Docker's message, which
                    // prints the filter's values as a Go slice.
                    filter.dangling = Some(match value {
                        "1" | "t" | "T" | "TRUE" | "true" | "True" => true,
                        "0" | "f" | "F" | "FALSE" | "false" | "False" => false,
                        _ => return Err(ImageError::InvalidFilter(format!("{key}=[{value}]"))),
                    })
                }
                "label" => filter.labels.push(value),
                "before" | "since" => {
                    let found = catalog.find(value)?;
                    let created = catalog.image(&found).created();
                    if key == "before" {
                        filter.before = Some(created);
                    } else {
                        filter.since = Some(created);
                    }
                }
                "reference" => filter.references.push(value.to_string()),
                _ => return Err(ImageError::InvalidFilter(key.to_string())),
            }
        }
        Ok(filter)
    }

    /// Adds the `images REPOSITORY[:TAG]` argument, which Docker treats as
    /// a `reference` filter.
    pub fn add_reference(&mut self, pattern: &str) {
        self.references.push(pattern.to_string());
    }

    fn keeps_image(&self, image: &Image) -> bool {
        let created = image.created();
        if let Some(Some(limit)) = self.before {
            if created.is_none_or(|c| c >= limit) {
                return false;
            }
        }
        if let Some(Some(limit)) = self.since {
            if created.is_none_or(|c| c <= limit) {
                return false;
            }
        }
        self.labels.matches(Some(image))
    }

    fn keeps_ref(&self, r: &Reference) -> bool {
        self.references.is_empty() || self.references.iter().any(|p| familiar_match(p, r))
    }
}

/// One row of `images` output.
#[derive(Debug)]
pub struct ListRow<'a> {
    pub image: &'a Image,
    pub repository: String,
    pub tag: String,
    pub digest: String,
}

const NONE: &str = "<none>";

/// The rows `images` prints, newest image first, as Docker forms them.
pub fn list<'a>(catalog: &'a Catalog, options: &ListOptions) -> Vec<ListRow<'a>> {
    let filter = &options.filter;
    let mut images: Vec<&Image> = catalog.images().iter().collect();
    images.sort_by_key(|image| std::cmp::Reverse(image.created()));
    let mut rows = Vec::new();
    for image in images {
        if !filter.keeps_image(image) {
            continue;
        }
        let refs: Vec<&Reference> = image.refs.iter().filter(|r| filter.keeps_ref(r)).collect();
        let has_tag = refs.iter().any(|r| r.digest().is_none());
        if refs.is_empty() {
            // A dangling image: shown unless filtered by name or dangling=false.
            if !image.refs.is_empty()
                || !filter.references.is_empty()
                || filter.dangling == Some(false)
            {
                continue;
            }
        } else if filter.dangling == Some(true) && has_tag {
            continue;
        }
        let mut tags: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        let mut digests: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for r in &refs {
            match (r.tag(), r.digest()) {
                (_, Some(d)) => digests.entry(r.familiar_name()).or_default().push(d),
                (Some(t), None) => tags.entry(r.familiar_name()).or_default().push(t),
                (None, None) => {}
            }
        }
        let mut row = |repository: &str, tag: &str, digest: &str| {
            rows.push(ListRow {
                image,
                repository: repository.to_string(),
                tag: tag.to_string(),
                digest: digest.to_string(),
            })
        };
        for (repo, repo_tags) in &tags {
            let repo_digests = digests.remove(repo).filter(|_| options.digests);
            for tag in repo_tags {
                match &repo_digests {
                    Some(ds) => ds.iter().for_each(|d| row(repo, tag, d)),
                    None => row(repo, tag, NONE),
                }
            }
        }
        for (repo, repo_digests) in &digests {
            if options.digests {
                repo_digests.iter().for_each(|d| row(repo, NONE, d));
            } else {
                row(repo, NONE, NONE);
            }
        }
        if refs.is_empty() {
            row(NONE, NONE, NONE);
        }
    }
    rows
}
