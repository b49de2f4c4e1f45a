//! `info`: the fields of Docker's `docker info` that apply to rimg (no
//! daemon, no swarm, no plugins), with Docker's JSON names.

use super::overlay::{Driver, Snapshots};
use super::{run, Containers, Result};
use crate::image::Catalog;
use crate::store::Store;
use serde_json::{json, Value};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The default layout, itself a template over [`info`]'s fields.
pub const TEMPLATE: &str = "Server:
 Containers: {{.Containers}}
  Running: {{.ContainersRunning}}
  Paused: {{.ContainersPaused}}
  Stopped: {{.ContainersStopped}}
 Images: {{.Images}}
 Server Version: {{.ServerVersion}}
 Storage Driver: {{.Driver}}
{{range .DriverStatus}}  {{index . 0}}: {{index . 1}}
{{end}} Default Runtime: {{.DefaultRuntime}}
 Kernel Version: {{.KernelVersion}}
 OSType: {{.OSType}}
 Architecture: {{.Architecture}}
 CPUs: {{.NCPU}}
 Docker Root Dir: {{.DockerRootDir}}";

/// What `info` reports about `store`.
pub fn info(store: &Store) -> Result<Value> {
    let engine = run::Engine::new(store, None);
    let (mut running, mut stopped) = (0, 0);
    let containers = Containers::new(store).list()?;
    for container in &containers {
        if engine.state(container)?.is_running() {
            running += 1;
        } else {
            stopped += 1;
        }
    }
    let images = Catalog::load(store)?.images().len();
    let driver = Driver::current();
    let mut status = vec![json!([
        "Backing Filesystem",
        backing_filesystem(store.root())
    ])];
    if driver.uses_snapshots() {
        let snapshots = Snapshots::new(store).list()?.len();
        status.push(json!(["Supports d_type", "true"]));
        status.push(json!(["Layer Snapshots", snapshots.to_string()]));
    }
    let runtime = crate::runtime::Runtime::find(None, &crate::runtime::state_dir(store.root()))
        .map(|r| r.name().to_string())
        .unwrap_or_default();
    // SAFETY: `uname` fills the zeroed struct it is given.
    let kernel = unsafe {
        let mut name: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut name) == 0 {
            std::ffi::CStr::from_ptr(name.release.as_ptr())
                .to_string_lossy()
                .into_owned()
        } else {
            String::new()
        }
    };
    let host = crate::platform::host();
    Ok(json!({
        "Containers": containers.len(),
        "ContainersRunning": running,
        "ContainersPaused": 0,
        "ContainersStopped": stopped,
        "Images": images,
        "Driver": driver.name(),
        "DriverStatus": status,
        "DockerRootDir": store.root().display().to_string(),
        "DefaultRuntime": runtime,
        "KernelVersion": kernel,
        "OSType": host.os,
        "Architecture": std::env::consts::ARCH,
        "NCPU": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "ServerVersion": env!("CARGO_PKG_VERSION"),
    }))
}

/// Docker's name for the filesystem holding `path` (`extfs`, `xfs`, …).
fn backing_filesystem(path: &Path) -> String {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return "unknown".into();
    };
    // SAFETY: `c` is NUL-terminated and `stat` a zeroed statfs to fill.
    let magic = unsafe {
        let mut stat: libc::statfs = std::mem::zeroed();
        if libc::statfs(c.as_ptr(), &mut stat) != 0 {
            return "unknown".into();
        }
        stat.f_type as i64
    };
    match magic {
        0xEF53 => "extfs",
        0x5846_5342 => "xfs",
        0x9123_683E => "btrfs",
        0x0102_1994 => "tmpfs",
        0x794C_7630 => "overlayfs",
        0x2FC1_2FC1 => "zfs",
        _ => "unknown",
    }
    .into()
}
