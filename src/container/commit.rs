//! `commit`: the container's changes since its last snapshot become one
//! new layer on top of its head image, with a config that records it.
//!
//! Only the changed paths are read; everything else is known unchanged
//! from its metadata. Afterwards the container's head is the new image and
//! its snapshot the state just committed, so the next commit holds only
//! what changed since.

use super::changes::{self, Kind, LayerEntry};
use super::{
    io_context, tarball, write_snapshot, Container, ContainerError, Containers, Head, Result,
};
use crate::digest::Digest;
use crate::image::writer::{self, LayerWriter};
use crate::image::{self, instruction};
use crate::oci::{Descriptor, Field, History, ImageConfig, KeepOrder, RuntimeConfig};
use crate::store::{Store, StoreError};
use chrono::{SecondsFormat, Utc};
use serde_json::json;
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

#[derive(Clone, Debug, Default)]
pub struct CommitOptions {
    pub author: Option<String>,
    pub message: Option<String>,
    /// Dockerfile instructions (`-c`).
    pub changes: Vec<String>,
    /// `REPO[:TAG]`; without one the image is untagged.
    pub reference: Option<String>,
    /// Freeze a running container's processes while its files are read,
    /// so the layer is one moment's state (Docker's default).
    pub pause: bool,
}

/// Whether a commit of `arg` that asks to pause it cannot: it is running,
/// and was started without root, so the runtime put it in no cgroup and
/// has no freezer to pause it with. It is then committed running.
pub fn cannot_pause(store: &Store, arg: &str) -> Result<bool> {
    if crate::runtime::userns::host_uid() == 0 {
        return Ok(false);
    }
    let engine = super::run::Engine::new(store, None);
    let container = engine.containers().find(arg)?;
    Ok(engine.state(&container)?.is_running())
}

/// Commits the container `arg`; returns the new image's ID.
pub fn commit(store: &Store, arg: &str, options: &CommitOptions) -> Result<Digest> {
    if !options.pause {
        return commit_files(store, arg, options);
    }
    let engine = super::run::Engine::new(store, None);
    let container = engine.containers().find(arg)?;
    engine.paused(&container, || commit_files(store, &container.id, options))
}

fn commit_files(store: &Store, arg: &str, options: &CommitOptions) -> Result<Digest> {
    let names = match &options.reference {
        Some(target) => vec![image::parse_target(target)?],
        None => Vec::new(),
    };
    let containers = Containers::new(store);
    let container = containers.find(arg)?;
    let _lock = containers.lock(&container)?;
    // Re-read under the lock: a commit that just finished moved the head.
    let mut container = containers.find(&container.id)?;
    let base: ImageConfig = match store.read_json(&container.head.config) {
        Ok(config) => config,
        Err(StoreError::BlobMissing(_)) => {
            return Err(ContainerError::BaseMissing(container.head.config.clone()))
        }
        Err(e) => return Err(e.into()),
    };
    let container_config = container_config(&base, &container);
    let mut runtime = container_config.clone();
    instruction::apply_changes(&mut runtime, &options.changes)?;

    let super::Current {
        walk: mut new,
        changes,
        source: rootfs,
    } = containers.current(&container)?;
    if let Some(reserved) = changes.iter().find(|c| {
        c.kind != Kind::Deleted && base_name(&c.path).starts_with(super::unpack::WHITEOUT_PREFIX)
    }) {
        return Err(ContainerError::ReservedName(
            String::from_utf8_lossy(&reserved.path).into_owned(),
        ));
    }

    // Held until the image is named, so no blob sweep takes its blobs.
    let lease = store.lease()?;
    let now = Utc::now();
    let mut layers = container.head.layers.clone();
    let mut diff_id = None;
    if !changes.is_empty() {
        let out = LayerWriter::new(&lease)?;
        let layer = write_layer(out, &rootfs, &changes, now.timestamp(), None)?;
        // A file that changed while it was read is marked so the next
        // commit takes it again.
        for entry in new.iter_mut().filter(|e| layer.raced.contains(&e.path)) {
            entry.meta.ctime = -1;
        }
        diff_id = Some(layer.diff_id);
        layers.push(layer.descriptor);
    }

    let created = now.to_rfc3339_opts(SecondsFormat::Nanos, true);
    let runtime = Runtime {
        container: container_config,
        committed: runtime,
    };
    let config = child_config(&base, runtime, &container, options, &created, diff_id);
    let image = writer::store_image(&lease, &config, layers.clone())?;

    let dir = containers.dir(&container.id);
    let old_snapshot = container.snapshot.clone();
    let snapshot = write_snapshot(&dir, &new)?;
    {
        let lock = store.lock()?;
        writer::name_image(store, &lock, &image, &names, Some(&container.head.config)).map_err(
            |e| match e {
                StoreError::BlobMissing(_) => {
                    ContainerError::BaseMissing(container.head.config.clone())
                }
                e => e.into(),
            },
        )?;
        container.head = Head {
            config: image.id.clone(),
            layers,
        };
        container.snapshot = snapshot;
        containers.write_record(&container)?;
    }
    let _ = fs::remove_file(dir.join(old_snapshot));
    Ok(image.id)
}

fn base_name(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(slash) => &path[slash + 1..],
        None => path,
    }
}

/// A layer written from a rootfs's changes.
pub(crate) struct NewLayer {
    pub descriptor: Descriptor,
    pub diff_id: Digest,
    /// Paths whose size changed while they were read.
    pub raced: BTreeSet<Vec<u8>>,
}

/// Writes the layer holding `changes` of `rootfs` into `out`, whiteouts
/// dated `now`; with `clamp`, no entry is dated later (`SOURCE_DATE_EPOCH`).
pub(crate) fn write_layer(
    out: LayerWriter,
    rootfs: &Path,
    changes: &[changes::Change],
    now: i64,
    clamp: Option<u64>,
) -> Result<NewLayer> {
    let context = || format!("writing a layer from {}", rootfs.display());
    let mut tar = tarball::TarWriter::new(out, rootfs);
    if let Some(epoch) = clamp {
        tar = tar.clamp_mtimes(epoch);
    }
    let mut raced = BTreeSet::new();
    for entry in changes::layer_entries(changes) {
        match &entry {
            LayerEntry::Path(path, meta) => {
                let appended = tar.append(path, meta).map_err(io_context(context()))?;
                if appended.raced {
                    raced.insert(path.clone());
                }
            }
            LayerEntry::Whiteout(_) | LayerEntry::Opaque(_) => tar
                .append_marker(&entry.tar_path(), now.max(0) as u64)
                .map_err(io_context(context()))?,
        }
    }
    let writer = tar.finish().map_err(io_context(context()))?;
    let (descriptor, info) = writer.finish()?;
    Ok(NewLayer {
        descriptor,
        diff_id: info.diff_id,
        raced,
    })
}

/// The container's own runtime config, as Docker's `create` makes it from
/// its image's: the short ID as hostname, stdout and stderr attached, the
/// image as it was named, labels at least an empty set (the CLI always
/// sends one), and no ONBUILD triggers (they are the image's children's).
/// Docker commits it, with the `-c` changes over it.
fn container_config(base: &ImageConfig, container: &Container) -> KeepOrder<RuntimeConfig> {
    let mut config = base.config.clone().unwrap_or_default();
    config.hostname = Field::Set(container.short_id().to_string());
    config.attach_stdout = Field::Set(true);
    config.attach_stderr = Field::Set(true);
    config.image = Field::Set(container.image.clone());
    config.on_build = Field::Null;
    config.labels.get_or_default();
    config
}

/// A commit's runtime configs: the container's, and the image's (the
/// container's with the changes).
struct Runtime {
    container: KeepOrder<RuntimeConfig>,
    committed: KeepOrder<RuntimeConfig>,
}

/// The committed image's config: the head's, with the new runtime config
/// (and the container's as `container_config`), the layer's diff ID and a
/// history entry, as Docker's `NewChildImage`.
fn child_config(
    base: &ImageConfig,
    runtime: Runtime,
    container: &Container,
    options: &CommitOptions,
    created: &str,
    diff_id: Option<Digest>,
) -> ImageConfig {
    let mut config = base.clone();
    // Docker records the command the container ran; a working container
    // ran none, so this is the command its image would run.
    let created_by = base
        .config
        .as_ref()
        .and_then(|c| c.cmd.get())
        .map(|cmd| cmd.join(" "))
        .filter(|s| !s.is_empty());
    let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
    config.created = Some(created.to_string());
    config.author = nonempty(&options.author);
    config.config = Some(runtime.committed);
    for stale in ["docker_version", "comment"] {
        config.extra.remove(stale);
    }
    config
        .extra
        .insert("container_config".into(), json!(runtime.container));
    config.extra.insert("container".into(), json!(container.id));
    if let Some(message) = nonempty(&options.message) {
        config.extra.insert("comment".into(), json!(message));
    }
    config.history.push(History {
        created: Some(created.to_string()),
        created_by,
        author: nonempty(&options.author),
        comment: nonempty(&options.message),
        empty_layer: diff_id.is_none(),
    });
    if let Some(diff_id) = diff_id {
        config.rootfs.diff_ids.push(diff_id);
    }
    if config.rootfs.kind.is_empty() {
        config.rootfs.kind = "layers".into();
    }
    config
}
