//! `ps --filter`: Docker's keys for containers. Several values of one key
//! are alternatives; different keys must all hold. As Docker's daemon,
//! `id` and `name` are regular expressions matched anywhere in the full ID
//! and in the name with its leading `/` (so `name=web` matches `webserver`
//! and `name=^/web$` only `web`).

use super::state::State;
use super::Container;
use crate::digest::Digest;
use crate::image::{Image, LabelFilter};
use crate::runtime::Network;
use regex::Regex;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FilterError {
    #[error("bad format of filter (expected name=value)")]
    BadFormat,
    /// Docker's words: `Invalid filter 'KEY'`, or with the value for a
    /// value it cannot take.
    #[error("Invalid filter '{0}'")]
    Invalid(String),
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    #[error("No such image: {0}")]
    NoSuchImage(String),
}

/// Parsed `--filter` values.
#[derive(Debug, Default)]
pub struct ContainerFilter {
    ids: Vec<Regex>,
    names: Vec<Regex>,
    labels: LabelFilter,
    exited: Vec<i32>,
    statuses: Vec<String>,
    /// Images (ID and diff IDs): a container of one, or of an image built
    /// on one, matches.
    ancestors: Vec<(Digest, Vec<Digest>)>,
    /// Creation times (RFC 3339) of the containers named.
    before: Option<String>,
    since: Option<String>,
    networks: Vec<String>,
    volumes: Vec<String>,
}

impl ContainerFilter {
    /// Parses `key=value` filters; `before`/`since` name containers among
    /// `containers`, `ancestor` an image that `find_image` finds (its ID
    /// and diff IDs).
    pub fn parse(
        filters: &[String],
        containers: &[Container],
        find_image: impl Fn(&str) -> Option<(Digest, Vec<Digest>)>,
    ) -> Result<ContainerFilter, FilterError> {
        let mut filter = ContainerFilter::default();
        for raw in filters {
            let (key, value) = raw.split_once('=').ok_or(FilterError::BadFormat)?;
            let invalid = || FilterError::Invalid(format!("{key}={value}"));
            match key {
                "id" => filter.ids.push(Regex::new(value).map_err(|_| invalid())?),
                "name" => filter.names.push(Regex::new(value).map_err(|_| invalid())?),
                "label" => filter.labels.push(value),
                "exited" => filter.exited.push(value.parse().map_err(|_| invalid())?),
                "status" => match value {
                    "created" | "restarting" | "running" | "removing" | "paused" | "exited"
                    | "dead" => filter.statuses.push(value.to_string()),
                    _ => return Err(invalid()),
                },
                "ancestor" => filter.ancestors.push(
                    find_image(value).ok_or_else(|| FilterError::NoSuchImage(value.to_string()))?,
                ),
                "before" | "since" => {
                    let named = containers
                        .iter()
                        .find(|c| c.name == value || c.id.starts_with(value))
                        .filter(|_| !value.is_empty())
                        .ok_or_else(|| FilterError::NoSuchContainer(value.to_string()))?;
                    let created = Some(named.created.clone());
                    if key == "before" {
                        filter.before = created;
                    } else {
                        filter.since = created;
                    }
                }
                "network" => filter.networks.push(value.to_string()),
                "volume" => filter.volumes.push(value.to_string()),
                _ => return Err(FilterError::Invalid(key.to_string())),
            }
        }
        Ok(filter)
    }

    /// Whether a status filter is given: then stopped containers are
    /// listed without `-a`, as Docker lists them (`exited` alone needs
    /// `-a`, as in Docker).
    pub fn has_status(&self) -> bool {
        !self.statuses.is_empty()
    }

    /// Whether `container` (in `state`, made from `image` if it is still
    /// there, whose ID and its parents' are `lineage`) passes.
    pub fn matches(
        &self,
        container: &Container,
        state: &State,
        image: Option<&Image>,
        lineage: &[&Digest],
    ) -> bool {
        let any =
            |list: &[Regex], text: &str| list.is_empty() || list.iter().any(|r| r.is_match(text));
        let spec = container.spec.as_ref();
        let network = match spec.map(|s| s.network) {
            Some(Network::None) => "none",
            _ => "host",
        };
        let diff_ids = image.map(|i| &i.config.rootfs.diff_ids[..]).unwrap_or(&[]);
        any(&self.ids, &container.id)
            && any(&self.names, &format!("/{}", container.name))
            && self.labels.matches(image)
            && (self.exited.is_empty()
                || (!state.is_running()
                    && state.started_at.is_some()
                    && self.exited.contains(&state.exit_code)))
            && (self.statuses.is_empty() || self.statuses.iter().any(|s| s == state.name()))
            && (self.ancestors.is_empty()
                || self.ancestors.iter().any(|(id, layers)| {
                    // Docker's: the image or one whose parent chain leads
                    // to it (commit records its parent); a build's image
                    // instead stands on more layers, its base's first.
                    lineage.contains(&id)
                        || (diff_ids.len() > layers.len() && diff_ids.starts_with(layers))
                }))
            && self.before.as_ref().is_none_or(|t| container.created < *t)
            && self.since.as_ref().is_none_or(|t| container.created > *t)
            && (self.networks.is_empty() || self.networks.iter().any(|n| n == network))
            && (self.volumes.is_empty()
                || spec.is_some_and(|s| {
                    s.binds.iter().any(|b| {
                        self.volumes
                            .iter()
                            .any(|v| *v == b.source || *v == b.destination)
                    })
                }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(filters: &[&str]) -> Result<ContainerFilter, FilterError> {
        let filters: Vec<String> = filters.iter().map(|s| s.to_string()).collect();
        ContainerFilter::parse(&filters, &[], |_| None)
    }

    #[test]
    fn docker_errors_for_bad_filters() {
        assert_eq!(parse(&["name"]).unwrap_err(), FilterError::BadFormat);
        for (filter, message) in [
            ("colour=red", "Invalid filter 'colour'"),
            ("status=sleeping", "Invalid filter 'status=sleeping'"),
            ("exited=x", "Invalid filter 'exited=x'"),
            ("before=nosuch", "No such container: nosuch"),
            ("ancestor=nosuch", "No such image: nosuch"),
        ] {
            assert_eq!(parse(&[filter]).unwrap_err().to_string(), message);
        }
        assert!(parse(&["status=exited"]).unwrap().has_status());
        assert!(!parse(&["exited=0"]).unwrap().has_status());
    }
}
