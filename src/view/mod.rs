//! How images look to Docker users: the per-row contexts that `--format`
//! templates see (with Docker's field names) and `inspect`'s JSON shape.

mod inspect;
pub use inspect::{inspect, Metadata, INSPECT_TYPES};

use crate::container::state::State;
use crate::container::{Container, ContainerUsage, SnapshotUsage};
use crate::format::units::{go_zero_time, history_created_since, image_created_since};
use crate::format::{ellipsis, human_size, human_size4, time_ago};
use crate::image::{Catalog, DiskUsage, Image, ImageUsage, ListRow};
use crate::registry::search::SearchResult;
use crate::store::CacheUsage;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

/// Docker's default `images` table, and with `--digests`.
pub const IMAGES_TABLE: &str = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}";
pub const IMAGES_TABLE_DIGESTS: &str = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}";
pub const HISTORY_TABLE: &str =
    "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";
/// `history -H=false`'s default table.
pub const HISTORY_TABLE_RAW: &str =
    "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";

pub const DF_TABLE: &str =
    "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}";

/// Docker's `search` table, and podman's `search --list-tags`.
pub const SEARCH_TABLE: &str =
    "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}\t{{.IsAutomated}}";
pub const TAGS_TABLE: &str = "table {{.Name}}\t{{.Tag}}";
/// `system df -v`'s sections, as the docker CLI formats them.
pub const DF_IMAGES_TABLE: &str = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.VirtualSize}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}";
pub const DF_CONTAINERS_TABLE: &str = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}";
pub const DF_VOLUMES_TABLE: &str = "table {{.Name}}\t{{.Links}}\t{{.Size}}";
pub const DF_BUILD_CACHE_TABLE: &str = "table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}";
/// rimg's own section of `system df -v`: the overlay driver's layer
/// snapshots.
pub const DF_SNAPSHOTS_TABLE: &str =
    "table {{.ID}}\t{{.Size}}\t{{.Images}}\t{{.Containers}}\t{{.Reclaimable}}";

/// Column titles for the fields a `table` format may use.
pub fn images_header() -> Value {
    json!({
        "Containers": "CONTAINERS", "CreatedAt": "CREATED AT", "CreatedSince": "CREATED",
        "Digest": "DIGEST", "ID": "IMAGE ID", "Repository": "REPOSITORY",
        "SharedSize": "SHARED SIZE", "Size": "SIZE", "Tag": "TAG",
        "UniqueSize": "UNIQUE SIZE", "VirtualSize": "SIZE",
    })
}

pub fn history_header() -> Value {
    json!({
        "ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
        "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT",
    })
}

pub fn search_header() -> Value {
    json!({
        "Name": "NAME", "Description": "DESCRIPTION", "StarCount": "STARS",
        "IsOfficial": "OFFICIAL", "IsAutomated": "AUTOMATED",
    })
}

pub fn tags_header() -> Value {
    json!({"Name": "NAME", "Tag": "TAG"})
}

/// The context of one `search` row, keys in the order Docker's `{{json .}}`
/// prints them. The description is on one line, and cut to 45 columns
/// when `trunc`.
pub fn search_row(result: &SearchResult, trunc: bool) -> Value {
    let description = result.description.replace(['\n', '\r'], " ");
    let ok = |set: bool| if set { "[OK]" } else { "" };
    json!({
        "Description": if trunc { ellipsis(&description, 45) } else { description },
        "IsAutomated": ok(result.is_automated),
        "IsOfficial": ok(result.is_official),
        "Name": result.name,
        "StarCount": result.star_count.to_string(),
    })
}

/// One `search --list-tags` row.
pub fn tag_row(name: &str, tag: &str) -> Value {
    json!({"Name": name, "Tag": tag})
}

/// An image ID as Docker prints it: 12 hex digits, or `sha256:<64 hex>`
/// with `--no-trunc`.
pub fn image_id(image: &Image, trunc: bool) -> String {
    if trunc {
        image.id.short().to_string()
    } else {
        image.id.to_string()
    }
}

/// Go's `time.Time.String()` at second precision, in UTC, as Docker's
/// `CreatedAt` shows it.
fn go_time_string(t: Option<DateTime<Utc>>) -> String {
    t.unwrap_or_else(go_zero_time)
        .format("%Y-%m-%d %H:%M:%S +0000 UTC")
        .to_string()
}

/// The context of one `images` row. Keys are Docker's, in the alphabetical
/// order its `{{json .}}` prints them. `size` is the image's, from
/// [`crate::image::Sizes`].
pub fn image_row(row: &ListRow, size: u64, trunc: bool, now: DateTime<Utc>) -> Value {
    let created = row.image.created();
    json!({
        "Containers": "N/A",
        "CreatedAt": go_time_string(created),
        "CreatedSince": image_created_since(created, now),
        "Digest": row.digest,
        "ID": image_id(row.image, trunc),
        "Repository": row.repository,
        "SharedSize": "N/A",
        "Size": human_size(size),
        "Tag": row.tag,
        "UniqueSize": "N/A",
        "VirtualSize": human_size4(size),
    })
}

/// `history` rows, newest first. As Docker's, the top one carries the
/// image's ID and each next one the ID of the next image of `lineage`
/// (the image and its parents, from `commit`), the rest `<missing>`.
pub fn history_rows(
    lineage: &[&Image],
    layer_sizes: &[u64],
    human: bool,
    trunc: bool,
    now: DateTime<Utc>,
) -> Vec<Value> {
    let mut sizes = layer_sizes.iter();
    let Some(image) = lineage.first() else {
        return Vec::new();
    };
    let mut rows: Vec<Value> = image
        .config
        .history
        .iter()
        .map(|h| {
            let size = if h.empty_layer {
                0
            } else {
                sizes.next().copied().unwrap_or(0)
            };
            let created = h
                .created
                .as_deref()
                .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
                .map(|t| t.with_timezone(&Utc));
            let created_at = created
                .unwrap_or_else(go_zero_time)
                .to_rfc3339_opts(SecondsFormat::Secs, true);
            let created_by = h.created_by.as_deref().unwrap_or("").replace('\t', " ");
            json!({
                "ID": "<missing>",
                "CreatedSince": if human { history_created_since(created, now) } else { created_at.clone() },
                "CreatedAt": created_at,
                "CreatedBy": if trunc { ellipsis(&created_by, 45) } else { created_by },
                "Size": if human { human_size(size) } else { size.to_string() },
                "Comment": h.comment.as_deref().unwrap_or(""),
            })
        })
        .collect();
    rows.reverse();
    for (row, image) in rows.iter_mut().zip(lineage) {
        row["ID"] = Value::String(image_id(image, trunc));
    }
    rows
}

pub fn df_header() -> Value {
    json!({
        "Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE",
        "Reclaimable": "RECLAIMABLE",
    })
}

/// `system df` rows: images, containers, the volumes rimg does not have,
/// and the build cache (none of it in use once a build ends).
pub fn df_rows(usage: &DiskUsage, cache: &CacheUsage) -> Vec<Value> {
    let none = |kind: &str| {
        json!({
            "Type": kind, "TotalCount": "0", "Active": "0", "Size": "0B", "Reclaimable": "0B",
        })
    };
    vec![
        json!({
            "Type": "Images",
            "TotalCount": usage.images.to_string(),
            "Active": usage.active_images.to_string(),
            "Size": human_size4(usage.size),
            "Reclaimable": reclaimable(usage.reclaimable, usage.size),
        }),
        json!({
            "Type": "Containers",
            "TotalCount": usage.containers.to_string(),
            "Active": usage.active_containers.to_string(),
            "Size": human_size4(usage.containers_size),
            "Reclaimable": reclaimable(usage.containers_reclaimable, usage.containers_size),
        }),
        none("Local Volumes"),
        json!({
            "Type": "Build Cache",
            "TotalCount": cache.records.len().to_string(),
            "Active": "0",
            "Size": human_size4(cache.size),
            "Reclaimable": human_size4(cache.size),
        }),
    ]
}

/// `system df -v`'s build cache: each step kept, newest use first.
pub fn df_build_cache_rows(cache: &CacheUsage, now: DateTime<Utc>) -> Vec<Value> {
    let mut records: Vec<&(crate::digest::Digest, String, u64)> = cache.records.iter().collect();
    records.sort_by(|a, b| b.1.cmp(&a.1));
    records
        .into_iter()
        .map(|(key, used, size)| {
            let since = crate::format::units::parse_rfc3339(used)
                .map(|t| time_ago(t, now))
                .unwrap_or_default();
            json!({
                "ID": &key.hex()[..25], "CacheType": "regular", "Size": human_size4(*size),
                "CreatedSince": since, "LastUsedSince": since, "UsageCount": "1",
                "Shared": "false",
            })
        })
        .collect()
}

/// `system df -v`'s images, newest first, each once under its first tag,
/// with the shared and unique sizes and the containers using it.
pub fn df_image_rows(
    catalog: &Catalog,
    usage: &DiskUsage,
    containers: &[ContainerUsage],
    now: DateTime<Utc>,
) -> Vec<Value> {
    let mut images: Vec<(&Image, &ImageUsage)> =
        catalog.images().iter().zip(&usage.per_image).collect();
    images.sort_by_key(|(image, _)| std::cmp::Reverse(image.created()));
    images
        .into_iter()
        .map(|(image, figures)| {
            let (repository, tag) = match image.tags().next() {
                Some(tag) => (
                    tag.familiar_name(),
                    tag.tag().unwrap_or("<none>").to_string(),
                ),
                None => ("<none>".to_string(), "<none>".to_string()),
            };
            let row = ListRow {
                image,
                repository,
                tag,
                digest: "<none>".to_string(),
            };
            let mut value = image_row(&row, figures.size, true, now);
            let used_by = containers
                .iter()
                .filter(|c| c.container.image_id == image.id)
                .count();
            // The CLI's units.HumanSize: four significant digits.
            value["SharedSize"] = json!(human_size4(figures.shared));
            value["UniqueSize"] = json!(human_size4(figures.size - figures.shared));
            value["Containers"] = json!(used_by.to_string());
            value
        })
        .collect()
}

/// `system df -v`'s containers: `ps` rows with their changes' size.
pub fn df_container_rows(
    catalog: &Catalog,
    containers: &[ContainerUsage],
    now: DateTime<Utc>,
) -> Vec<Value> {
    containers
        .iter()
        .map(|c| {
            let mut row = container_row(&c.container, &c.state, catalog, true, now);
            row["Size"] = json!(container_size(c.size_rw, 0));
            row
        })
        .collect()
}

pub fn df_volumes_header() -> Value {
    json!({"Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"})
}

pub fn df_build_cache_header() -> Value {
    json!({
        "ID": "CACHE ID", "CacheType": "CACHE TYPE", "Size": "SIZE", "CreatedSince": "CREATED",
        "LastUsedSince": "LAST USED", "UsageCount": "USAGE", "Shared": "SHARED",
    })
}

pub fn df_snapshots_header() -> Value {
    json!({
        "ID": "CHAIN ID", "Size": "SIZE", "Images": "IMAGES", "Containers": "CONTAINERS",
        "Reclaimable": "RECLAIMABLE",
    })
}

/// `system df -v`'s layer snapshots' title: their total and what of it
/// removing unused images would free.
pub fn df_snapshots_title(snapshots: &[SnapshotUsage]) -> String {
    let total = snapshots.iter().map(|s| s.size).sum();
    let free = snapshots
        .iter()
        .filter(|s| s.reclaimable())
        .map(|s| s.size)
        .sum();
    format!(
        "Layer snapshots usage: {}, reclaimable {}",
        human_size4(total),
        reclaimable(free, total)
    )
}

/// `system df -v`'s layer snapshots, by chain ID, short as image IDs.
pub fn df_snapshot_rows(snapshots: &[SnapshotUsage]) -> Vec<Value> {
    snapshots
        .iter()
        .map(|s| {
            json!({
                "ID": &s.chain.hex()[..12], "Size": human_size4(s.size),
                "Images": s.users.images.to_string(),
                "Containers": s.users.containers.to_string(),
                "Reclaimable": s.reclaimable().to_string(),
            })
        })
        .collect()
}

/// `SIZE (PERCENT%)`, or just the size when there is nothing at all.
fn reclaimable(reclaimable: u64, total: u64) -> String {
    match (reclaimable * 100).checked_div(total) {
        Some(percent) => format!("{} ({percent}%)", human_size4(reclaimable)),
        None => human_size4(reclaimable),
    }
}

/// Docker's `ps` table: a created container shows its command, `Created`
/// and no ports there too.
pub const PS_TABLE: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";
/// `ps -s`: the same with the sizes.
pub const PS_TABLE_SIZE: &str = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}\t{{.Size}}";

/// A container's `Size` as the docker CLI prints it: its changes, and the
/// whole root filesystem when known (`0B (virtual 3kB)`).
pub fn container_size(rw: u64, root_fs: u64) -> String {
    match root_fs {
        0 => human_size(rw),
        _ => format!("{} (virtual {})", human_size(rw), human_size(root_fs)),
    }
}

pub fn ps_header() -> Value {
    json!({
        "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
        "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS",
        "Size": "SIZE", "Names": "NAMES", "Labels": "LABELS", "Mounts": "MOUNTS",
        "Networks": "NETWORKS", "LocalVolumes": "LOCAL VOLUMES",
    })
}

/// The context of one `ps` row. The image shows as it was named at
/// `create` while that name still means the same image, else by short ID,
/// as Docker shows it.
pub fn container_row(
    container: &Container,
    state: &State,
    catalog: &Catalog,
    trunc: bool,
    now: DateTime<Utc>,
) -> Value {
    let image = catalog.images().iter().find(|i| i.id == container.image_id);
    let named = catalog
        .find(&container.image)
        .ok()
        .is_some_and(|found| catalog.image(&found).id == container.image_id);
    let image_name = if named {
        container.image.clone()
    } else {
        container.image_id.short().to_string()
    };
    // What it runs; for containers of older rimg, the image's command.
    let runtime = image.and_then(|i| i.config.config.as_ref());
    let command: Vec<&str> = match &container.spec {
        Some(spec) => spec.process.args.iter().map(String::as_str).collect(),
        None => runtime
            .into_iter()
            .flat_map(|r| [r.entrypoint.get(), r.cmd.get()])
            .flatten()
            .flatten()
            .map(String::as_str)
            .collect(),
    };
    let command = command.join(" ");
    let command = if trunc {
        ellipsis(&command, 20)
    } else {
        command
    };
    let created = container.created_time();
    json!({
        "Command": serde_json::to_string(&command).unwrap_or_default(),
        "CreatedAt": go_time_string(created),
        "ID": if trunc { container.short_id().to_string() } else { container.id.clone() },
        "Image": image_name,
        "Labels": "",
        "LocalVolumes": "0",
        "Mounts": "",
        "Names": container.name,
        "Networks": "",
        "Ports": "",
        "RunningFor": created.map(|c| time_ago(c, now)).unwrap_or_default(),
        "Size": "0B",
        "State": state.name(),
        "Status": state.status_line(now),
    })
}
