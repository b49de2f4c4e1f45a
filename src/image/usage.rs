//! `system df` figures and `image prune --filter`.

use super::catalog::{Catalog, Image};
use super::{ImageError, ImageUsers};
use crate::digest::Digest;
use crate::oci::chain_ids;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeMap, BTreeSet};

/// Disk usage as `system df` reports it: uncompressed layer sizes, each
/// shared layer counted once, and the containers' changes.
#[derive(Debug, Default)]
pub struct DiskUsage {
    pub images: usize,
    /// Images a container uses.
    pub active_images: usize,
    pub size: u64,
    pub reclaimable: u64,
    pub containers: usize,
    /// Running containers.
    pub active_containers: usize,
    /// What the containers' changes add up to (their `SizeRw`), and that
    /// of the ones not running.
    pub containers_size: u64,
    pub containers_reclaimable: u64,
    /// Each image's figures, in the catalog's order, for `system df -v`.
    pub per_image: Vec<ImageUsage>,
}

/// One image's share of the disk, as `system df -v` shows it.
#[derive(Debug)]
pub struct ImageUsage {
    pub id: Digest,
    pub size: u64,
    /// What its layers that other images also use add up to.
    pub shared: u64,
}

/// Image figures; `users` are the images containers use. As the docker
/// CLI computes it, what is not reclaimable is each in-use image's unique
/// size (its layers no other image shares).
pub fn disk_usage(
    store: &Store,
    catalog: &Catalog,
    users: &ImageUsers,
) -> Result<DiskUsage, StoreError> {
    // Layers are told apart as Docker's layer store tells them: by chain
    // ID, so one layer stored under two compressions counts once.
    let mut sizes: BTreeMap<Digest, u64> = BTreeMap::new();
    let mut own: Vec<BTreeSet<Digest>> = Vec::new();
    for image in catalog.images() {
        let diff_ids = &image.config.rootfs.diff_ids;
        let keys = if diff_ids.len() == image.manifest.layers.len() {
            chain_ids(diff_ids)
        } else {
            // A config that does not match its manifest: by blob.
            image
                .manifest
                .layers
                .iter()
                .map(|l| l.digest.clone())
                .collect()
        };
        for (key, layer) in keys.iter().zip(&image.manifest.layers) {
            if !sizes.contains_key(key) {
                sizes.insert(key.clone(), store.layer_size(layer)?);
            }
        }
        own.push(keys.into_iter().collect());
    }
    let mut sharing: BTreeMap<&Digest, usize> = BTreeMap::new();
    for key in own.iter().flatten() {
        *sharing.entry(key).or_default() += 1;
    }
    let size = sizes.values().sum();
    // What `keys` add up to, of the layers `shared` by other images or not.
    let sum = |keys: &BTreeSet<Digest>, shared: bool| -> u64 {
        keys.iter()
            .filter(|k| (sharing.get(k) > Some(&1)) == shared)
            .map(|k| sizes[k])
            .sum()
    };
    let per_image = catalog
        .images()
        .iter()
        .zip(&own)
        .map(|(image, keys)| {
            let shared = sum(keys, true);
            ImageUsage {
                id: image.id.clone(),
                size: shared + sum(keys, false),
                shared,
            }
        })
        .collect();
    let active: Vec<&BTreeSet<Digest>> = catalog
        .images()
        .iter()
        .zip(&own)
        .filter(|(i, _)| users.contains_key(&i.id))
        .map(|(_, keys)| keys)
        .collect();
    let used: u64 = active.iter().map(|keys| sum(keys, false)).sum();
    Ok(DiskUsage {
        images: catalog.images().len(),
        active_images: active.len(),
        size,
        reclaimable: size.saturating_sub(used),
        per_image,
        ..DiskUsage::default()
    })
}

/// `image prune --filter`: `until=TIME`, `label=K[=V]`, `label!=K[=V]`.
#[derive(Debug, Default)]
pub struct PruneFilter {
    until: Option<DateTime<Utc>>,
    labels: Vec<(bool, String, Option<String>)>,
}

impl PruneFilter {
    pub fn parse(filters: &[String]) -> Result<PruneFilter, ImageError> {
        let mut filter = PruneFilter::default();
        for raw in filters {
            let (key, value) = raw.split_once('=').ok_or(ImageError::BadFilterFormat)?;
            match key {
                "until" => {
                    filter.until = Some(
                        parse_until(value, Utc::now())
                            .ok_or_else(|| ImageError::BadTime(value.to_string()))?,
                    )
                }
                "label" | "label!" => {
                    let (k, v) = match value.split_once('=') {
                        Some((k, v)) => (k.to_string(), Some(v.to_string())),
                        None => (value.to_string(), None),
                    };
                    filter.labels.push((key == "label", k, v));
                }
                _ => return Err(ImageError::InvalidFilter(key.to_string())),
            }
        }
        Ok(filter)
    }

    /// Whether the filter selects `image` for pruning.
    pub fn matches(&self, image: &Image) -> bool {
        if let Some(until) = self.until {
            if image.created().is_some_and(|c| c >= until) {
                return false;
            }
        }
        self.labels.iter().all(|(wanted, key, value)| {
            let actual = image.config.labels().and_then(|l| l.get(key));
            let present = match (actual, value) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(a), Some(v)) => a.as_str() == Some(v.as_str()),
            };
            present == *wanted
        })
    }
}

/// Docker's `until` values: an RFC 3339 time, Unix seconds, or a Go
/// duration (`24h`, `90m`, `1h30m`) before now.
fn parse_until(value: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(secs) = value.parse::<i64>() {
        return DateTime::from_timestamp(secs, 0);
    }
    let mut total = Duration::zero();
    let mut number = String::new();
    for c in value.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: i64 = number.parse().ok()?;
        number.clear();
        total += match c {
            'h' => Duration::hours(n),
            'm' => Duration::minutes(n),
            's' => Duration::seconds(n),
            _ => return None,
        };
    }
    (number.is_empty() && !value.is_empty()).then(|| now - total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_accepts_docker_forms() {
        let now = DateTime::from_timestamp(10_000, 0).unwrap();
        assert_eq!(
            parse_until("1h30m", now).unwrap().timestamp(),
            10_000 - 5400
        );
        assert_eq!(parse_until("60", now).unwrap().timestamp(), 60);
        assert_eq!(
            parse_until("1970-01-01T00:01:00Z", now)
                .unwrap()
                .timestamp(),
            60
        );
        assert!(parse_until("1x", now).is_none());
        assert!(parse_until("", now).is_none());
        assert!(parse_until("5h3", now).is_none());
    }
}
