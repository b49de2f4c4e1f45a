//! Running containers through a real OCI runtime (`runc` or `crun`): the
//! bundle's `config.json` ([`spec`]), the user a process runs as
//! ([`user`]), the paths the runtime mounts onto ([`mounts`]), and this
//! driver, which finds the runtime binary and calls it. rimg implements no
//! runtime of its own, as buildah and podman do not.

pub mod mounts;
pub mod spec;
pub mod user;
pub mod userns;

use serde::{Deserialize, Serialize};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::{fs, io};

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(
        "no OCI runtime found: install runc or crun, or name one with --runtime or RIMG_RUNTIME"
    )]
    NotFound,
    #[error("OCI runtime {0:?} not found")]
    Missing(String),
    #[error("{runtime}: {message}")]
    Failed { runtime: String, message: String },
    #[error("starting {runtime}")]
    Spawn {
        runtime: String,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    User(String),
    #[error("running a container without root needs a user namespace, and this system allows none to unprivileged users ({0}): run rimg as root, or allow them")]
    NoUserNamespaces(String),
    #[error("crun cannot run containers without root on this system: its cgroup v2 hierarchy ({}) has controllers enabled, which crun refuses on a hybrid cgroup host; use runc (--runtime runc), or run rimg as root", UNIFIED.to_string_lossy())]
    CrunRootlessHybrid,
    #[error("running a container without root needs rimg's user namespace, which it could not enter (see the warning above)")]
    NoNamespace,
    #[error("preparing {path} in the container's filesystem")]
    Rootfs {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("building the runtime spec: {0}")]
    Spec(String),
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

fn io_context(context: impl Into<String>) -> impl FnOnce(io::Error) -> RuntimeError {
    let context = context.into();
    move |source| RuntimeError::Io { context, source }
}

/// What a container's process is, fixed when the container is created
/// from its image config and the `run`/`create` flags.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessConfig {
    pub args: Vec<String>,
    /// `KEY=value`, the image's then the user's.
    pub env: Vec<String>,
    /// Empty for `/`.
    pub cwd: String,
    /// `-u` or the image's `User`, resolved when the process starts.
    pub user: String,
    pub tty: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// The host's network: a daemonless tool has no bridge of its own.
    #[default]
    Host,
    /// A network namespace of its own with only `lo`.
    None,
}

/// A `-v HOST:CONTAINER[:ro]` bind mount.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bind {
    pub source: String,
    pub destination: String,
    pub read_only: bool,
}

/// Everything the runtime needs to know of a container besides its rootfs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerSpec {
    pub process: ProcessConfig,
    pub hostname: String,
    pub network: Network,
    pub binds: Vec<Bind>,
    pub read_only: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavor {
    Runc,
    Crun,
}

/// An OCI runtime binary and the state directory rimg keeps its
/// containers in.
#[derive(Clone, Debug)]
pub struct Runtime {
    name: String,
    path: PathBuf,
    flavor: Flavor,
    state_root: PathBuf,
}

/// A container as the runtime reports it (`runc state`).
#[derive(Debug, Deserialize)]
pub struct RuntimeState {
    pub status: String,
    #[serde(default)]
    pub pid: i32,
}

fn on_path(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let path = PathBuf::from(name);
        return path.is_file().then_some(path);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

impl Runtime {
    /// The runtime named (`runc`, `crun` or a path), else `runc`, else
    /// `crun`. Its state lives under `state_dir`.
    pub fn find(name: Option<&str>, state_dir: &Path) -> Result<Runtime, RuntimeError> {
        let (name, path) = match name.filter(|n| !n.is_empty()) {
            Some(name) => (
                name.to_string(),
                on_path(name).ok_or_else(|| RuntimeError::Missing(name.to_string()))?,
            ),
            None => ["runc", "crun"]
                .into_iter()
                .find_map(|n| Some((n.to_string(), on_path(n)?)))
                .ok_or(RuntimeError::NotFound)?,
        };
        let base = path.file_name().map(|f| f.to_string_lossy().into_owned());
        let flavor = if base.as_deref() == Some("crun") {
            Flavor::Crun
        } else {
            Flavor::Runc
        };
        let state_root = state_dir.join(name.replace('/', "_"));
        Ok(Runtime {
            name: base.unwrap_or(name),
            path,
            flavor,
            state_root,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether containers get `/sys/fs/cgroup` mounted: crun 1.8 fails on
    /// a hybrid cgroup hierarchy ("cgroups in hybrid mode not supported")
    /// when it has to mount one, even with its cgroup manager disabled.
    pub fn mounts_cgroups(&self) -> bool {
        self.flavor == Flavor::Runc
    }

    /// The runtime with its global options: rimg's own state directory, its
    /// errors as JSON in `log` (so they can be told from the container's
    /// output), and for crun no cgroup setup (crun 1.8 refuses hybrid
    /// cgroup hierarchies, and rimg sets no resource limits).
    pub fn command(&self, log: Option<&Path>) -> Command {
        let mut cmd = Command::new(&self.path);
        cmd.arg("--root").arg(&self.state_root);
        if let Some(log) = log {
            cmd.arg("--log").arg(log).arg("--log-format").arg("json");
        }
        if self.flavor == Flavor::Crun {
            cmd.arg("--cgroup-manager=disabled");
            if hybrid_with_v2_controllers() {
                hide_unified_cgroup(&mut cmd);
            }
        }
        cmd
    }

    /// Writes what a start of `spec` in `rootfs` needs under `dir`: the
    /// generated `/etc` files in `etc/` and the runtime spec in
    /// `bundle/config.json`, as root, or as root of rimg's user namespace
    /// (see [`userns`]). Returns the bundle directory.
    pub fn write_bundle(
        &self,
        spec: &ContainerSpec,
        rootfs: &Path,
        dir: &Path,
    ) -> Result<PathBuf, RuntimeError> {
        let etc = dir.join("etc");
        write_etc_files(&etc, spec)?;
        let user = user::resolve_in(rootfs, &spec.process.user)?;
        if userns::host_uid() != 0 && !userns::in_user_namespace() {
            // A user's containers run in rimg's user namespace, which this
            // rimg could not enter: say why, if the system forbids it.
            check_rootless()?;
            return Err(RuntimeError::NoNamespace);
        }
        if userns::host_uid() != 0 && self.flavor == Flavor::Crun && hybrid_with_v2_controllers() {
            // Root hides that hierarchy from crun (hide_unified_cgroup); a
            // user may not, not even in a user namespace (the mount is
            // locked there), and crun's own error does not say why.
            return Err(RuntimeError::CrunRootlessHybrid);
        }
        let config = spec::build(spec, rootfs, &etc, &user, self.mounts_cgroups())?;
        let bundle = dir.join("bundle");
        fs::create_dir_all(&bundle)
            .map_err(io_context(format!("creating {}", bundle.display())))?;
        let json = serde_json::to_vec_pretty(&config).expect("a spec serializes");
        let path = bundle.join("config.json");
        fs::write(&path, json).map_err(io_context(format!("writing {}", path.display())))?;
        Ok(bundle)
    }

    /// `run` in the foreground: the caller spawns it with the stdio it
    /// wants the container to have, and its exit status is the process's.
    /// The runtime writes the process's PID to `pid_file` once it started.
    pub fn run(&self, id: &str, bundle: &Path, log: &Path, pid_file: &Path) -> Command {
        let mut cmd = self.command(Some(log));
        cmd.arg("run")
            .arg("--bundle")
            .arg(bundle)
            .arg("--pid-file")
            .arg(pid_file)
            .arg(id);
        cmd
    }

    /// `exec` of the process described in `process_json`.
    pub fn exec(&self, id: &str, process_json: &Path, log: &Path, detach: bool) -> Command {
        let mut cmd = self.command(Some(log));
        cmd.arg("exec").arg("--process").arg(process_json);
        if detach {
            cmd.arg("--detach");
        }
        cmd.arg(id);
        cmd
    }

    fn checked(&self, mut cmd: Command) -> Result<String, RuntimeError> {
        let output = cmd
            .stdin(Stdio::null())
            .output()
            .map_err(|source| RuntimeError::Spawn {
                runtime: self.name.clone(),
                source,
            })?;
        if !output.status.success() {
            return Err(RuntimeError::Failed {
                runtime: self.name.clone(),
                message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Sends `signal` (a name or number, as `kill -s` takes it) to the
    /// container's process.
    pub fn kill(&self, id: &str, signal: &str) -> Result<(), RuntimeError> {
        let mut cmd = self.command(None);
        cmd.arg("kill").arg(id).arg(signal);
        self.checked(cmd).map(drop)
    }

    /// Freezes the container's processes.
    pub fn pause(&self, id: &str) -> Result<(), RuntimeError> {
        let mut cmd = self.command(None);
        cmd.arg("pause").arg(id);
        self.checked(cmd).map(drop)
    }

    pub fn resume(&self, id: &str) -> Result<(), RuntimeError> {
        let mut cmd = self.command(None);
        cmd.arg("resume").arg(id);
        self.checked(cmd).map(drop)
    }

    /// Forgets the container, killing its processes if any are left.
    pub fn delete(&self, id: &str) -> Result<(), RuntimeError> {
        // runc and crun keep a container's state in `<root>/<id>/`, and a
        // foreground `run` removes it when the process exits: most calls
        // (a start clearing leftovers, the end of a run) have nothing to
        // delete, and spawning the runtime to learn that costs 15 ms.
        if !self.state_root.join(id).exists() {
            return Ok(());
        }
        let mut cmd = self.command(None);
        cmd.arg("delete").arg("--force").arg(id);
        match self.checked(cmd) {
            Err(RuntimeError::Failed { message, .. })
                if message.contains("does not exist") || message.contains("not found") =>
            {
                Ok(())
            }
            other => other.map(drop),
        }
    }

    /// The container's state, `None` when the runtime does not know it.
    pub fn state(&self, id: &str) -> Result<Option<RuntimeState>, RuntimeError> {
        let mut cmd = self.command(None);
        cmd.arg("state").arg(id);
        match self.checked(cmd) {
            Ok(json) => serde_json::from_str(&json)
                .map(Some)
                .map_err(|e| RuntimeError::Failed {
                    runtime: self.name.clone(),
                    message: format!("unreadable state: {e}"),
                }),
            Err(RuntimeError::Failed { message, .. })
                if message.contains("does not exist") || message.contains("not found") =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// Where a hybrid cgroup host mounts its cgroup v2 hierarchy.
const UNIFIED: &std::ffi::CStr = c"/sys/fs/cgroup/unified";

/// A hybrid cgroup host whose v2 hierarchy has controllers enabled: crun
/// 1.8 refuses to start any container there ("cgroups in hybrid mode not
/// supported, drop all controllers from cgroupv2"), whatever the spec and
/// its cgroup manager say, because it checks before it looks at either.
fn hybrid_with_v2_controllers() -> bool {
    let unified = Path::new(std::ffi::OsStr::from_bytes(UNIFIED.to_bytes()));
    fs::read_to_string(unified.join("cgroup.controllers"))
        .is_ok_and(|controllers| !controllers.trim().is_empty())
}

/// Runs crun in a mount namespace of its own without the v2 hierarchy, so
/// it sees a legacy cgroup host, which it supports; with its cgroup
/// manager disabled it creates no cgroup either way. Only root may do so
/// (for a user, `write_bundle` refuses crun on such a host).
fn hide_unified_cgroup(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: unshare, mount and umount2 are async-signal-safe syscalls on
    // the child alone; the strings are made before the fork.
    let root = c"/";
    unsafe {
        cmd.pre_exec(move || {
            if libc::geteuid() != 0 {
                return Ok(());
            }
            if libc::unshare(libc::CLONE_NEWNS) != 0
                || libc::mount(
                    std::ptr::null(),
                    root.as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) != 0
                || libc::umount2(UNIFIED.as_ptr(), libc::MNT_DETACH) != 0
            {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// The last error the runtime logged in its JSON log (`{"level":"error",
/// "msg":…}` lines), if any.
pub fn logged_error(log: &Path) -> Option<String> {
    let text = fs::read_to_string(log).ok()?;
    text.lines().rev().find_map(|line| {
        let entry: serde_json::Value = serde_json::from_str(line).ok()?;
        (entry["level"] == "error").then(|| entry["msg"].as_str().map(str::to_string))?
    })
}

/// Writes the container's `/etc/hosts`, `/etc/hostname` and
/// `/etc/resolv.conf` into `dir`: the host's own with the host network, as
/// Docker's `--network host`; a loopback-only hosts file otherwise.
pub fn write_etc_files(dir: &Path, spec: &ContainerSpec) -> Result<(), RuntimeError> {
    fs::create_dir_all(dir).map_err(io_context(format!("creating {}", dir.display())))?;
    let hosts = match spec.network {
        Network::Host => fs::read_to_string("/etc/hosts").unwrap_or_default(),
        Network::None => format!(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
             fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n\
             ff02::2\tip6-allrouters\n127.0.1.1\t{}\n",
            spec.hostname
        ),
    };
    let resolv = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    for (name, text) in [
        ("hosts", hosts),
        ("hostname", format!("{}\n", spec.hostname)),
        ("resolv.conf", resolv),
    ] {
        let path = dir.join(name);
        fs::write(&path, text).map_err(io_context(format!("writing {}", path.display())))?;
    }
    Ok(())
}

/// The machine's hostname, which containers on the host network take.
pub fn host_name() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// The process the signal handlers forward to (0: none yet).
static FORWARD_TO: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// The last SIGINT or SIGTERM rimg received while it watched a runtime or
/// recorded interrupts; 0 for none.
static INTERRUPTED: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

fn note_interrupt(signal: libc::c_int) {
    if signal == libc::SIGINT || signal == libc::SIGTERM {
        INTERRUPTED.store(signal, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The SIGINT or SIGTERM received since [`record_interrupts`] (or while a
/// runtime was watched), if any.
pub fn interrupted() -> Option<i32> {
    Some(INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst)).filter(|&s| s != 0)
}

/// Whether a SIGINT is passed on to the watched runtime too (see
/// [`record_interrupts`]).
static FORWARD_INTERRUPTS: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// From now on SIGINT and SIGTERM do not end rimg but are recorded, for
/// work that stops between its steps ([`interrupted`]) and cleans up; a
/// runtime being watched is killed (a build's RUN must stop even when
/// only rimg was signalled).
pub fn record_interrupts() {
    FORWARD_INTERRUPTS.store(true, std::sync::atomic::Ordering::SeqCst);
    for signal in [libc::SIGINT, libc::SIGTERM] {
        install(signal, forward_signal);
    }
}

extern "C" fn forward_signal(signal: libc::c_int) {
    note_interrupt(signal);
    let pid = FORWARD_TO.load(std::sync::atomic::Ordering::SeqCst);
    // Recording interrupts (a build), the runtime is killed outright: a
    // container's PID 1 ignores what it has no handler for, and the
    // caller deletes the container, killing it too.
    let forwarded = if FORWARD_INTERRUPTS.load(std::sync::atomic::Ordering::SeqCst)
        && (signal == libc::SIGINT || signal == libc::SIGTERM)
    {
        libc::SIGKILL
    } else {
        signal
    };
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(pid, forwarded) };
    }
}

extern "C" fn ignore_signal(signal: libc::c_int) {
    if FORWARD_INTERRUPTS.load(std::sync::atomic::Ordering::SeqCst) {
        forward_signal(signal);
    } else {
        note_interrupt(signal);
    }
}

/// Waits for a foreground runtime process, forwarding the signals sent to
/// rimg itself (`kill`, a service manager) to it, which passes them on to
/// the container. Terminal signals (Ctrl-C, Ctrl-\) already reach the
/// runtime, which shares rimg's process group, so rimg only survives them
/// instead of dying before it records the exit. Handlers, unlike ignored
/// dispositions, are not inherited across `exec`, so the container gets
/// every signal's default.
pub fn wait_forwarding(child: &mut std::process::Child) -> io::Result<std::process::ExitStatus> {
    FORWARD_TO.store(child.id() as i32, std::sync::atomic::Ordering::SeqCst);
    let handlers: [(libc::c_int, extern "C" fn(libc::c_int)); 6] = [
        (libc::SIGTERM, forward_signal),
        (libc::SIGHUP, forward_signal),
        (libc::SIGUSR1, forward_signal),
        (libc::SIGUSR2, forward_signal),
        (libc::SIGINT, ignore_signal),
        (libc::SIGQUIT, ignore_signal),
    ];
    for (signal, handler) in handlers {
        install(signal, handler);
    }
    let status = child.wait();
    // A signal that comes later must not reach whatever reuses the PID.
    FORWARD_TO.store(0, std::sync::atomic::Ordering::SeqCst);
    status
}

/// Installs one of this module's handlers, which only touch atomics and
/// call kill, both async-signal-safe.
fn install(signal: libc::c_int, handler: extern "C" fn(libc::c_int)) {
    // SAFETY: see above; a zeroed sigaction is a valid value.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler as usize;
        action.sa_flags = libc::SA_RESTART;
        libc::sigaction(signal, &action, std::ptr::null_mut());
    }
}

/// A process's start time (clock ticks after boot): field 22 of
/// `/proc/PID/stat`, after the parenthesised command name (which may
/// itself hold spaces and parentheses); `None` for a process that is gone
/// or a zombie (dead, only not yet reaped by its parent). With the PID it
/// names one process, whatever reuses the PID later.
pub(crate) fn process_start(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat[stat.rfind(')')? + 2..].split(' ');
    // State is field 3, so start time (22) is the 19th after it.
    if matches!(fields.next()?, "Z" | "X") {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// A process's exit status as a shell reports it: its code, or 128 plus
/// the signal that killed it.
pub fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(125)
}

/// Why an unprivileged user may not create a user namespace here, from
/// the sysctls that forbid it (`max_user_namespaces`, and Debian's and
/// Ubuntu's `unprivileged_userns_clone` and AppArmor restriction); `None`
/// when nothing forbids it.
fn user_namespaces_forbidden(read: impl Fn(&str) -> Option<String>) -> Option<String> {
    let forbids = |path: &str, forbidden: &str| {
        read(path)
            .filter(|value| value.trim() == forbidden)
            .map(|value| format!("{path} is {}", value.trim()))
    };
    forbids("/proc/sys/user/max_user_namespaces", "0")
        .or_else(|| forbids("/proc/sys/kernel/unprivileged_userns_clone", "0"))
        .or_else(|| {
            forbids(
                "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
                "1",
            )
        })
}

/// Refuses, in plain words, to run a container without root where the
/// system allows no user namespace (the runtime's own error would not say).
pub fn check_rootless() -> Result<(), RuntimeError> {
    match user_namespaces_forbidden(|path| fs::read_to_string(path).ok()) {
        Some(why) => Err(RuntimeError::NoUserNamespaces(why)),
        None => Ok(()),
    }
}

/// Where rimg keeps a store's runtime state: a short path on tmpfs, since
/// the runtime's state (and its sockets) must not outlive a reboot.
pub fn state_dir(store_root: &Path) -> PathBuf {
    // In rimg's user namespace, still the caller's own directory.
    state_dir_of(store_root, userns::host_uid())
}

/// [`state_dir`] for user `uid` (in this process's environment).
pub fn state_dir_of(store_root: &Path, uid: u32) -> PathBuf {
    let key = crate::digest::Digest::of(store_root.as_os_str().as_encoded_bytes());
    let base = if uid == 0 {
        PathBuf::from("/run/rimg")
    } else {
        std::env::var_os("XDG_RUNTIME_DIR")
            .map(|d| PathBuf::from(d).join("rimg"))
            .unwrap_or_else(|| std::env::temp_dir().join(format!("rimg-{uid}")))
    };
    base.join(&key.hex()[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_user_namespaces_are_named() {
        let sysctls = |values: &'static [(&'static str, &'static str)]| {
            move |path: &str| {
                values
                    .iter()
                    .find(|(p, _)| *p == path)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(user_namespaces_forbidden(sysctls(&[])), None);
        assert_eq!(
            user_namespaces_forbidden(sysctls(&[(
                "/proc/sys/user/max_user_namespaces",
                "15000\n"
            )])),
            None
        );
        assert_eq!(
            user_namespaces_forbidden(sysctls(&[(
                "/proc/sys/kernel/unprivileged_userns_clone",
                "0\n"
            )])),
            Some("/proc/sys/kernel/unprivileged_userns_clone is 0".into())
        );
        let e = RuntimeError::NoUserNamespaces("/proc/sys/user/max_user_namespaces is 0".into());
        assert!(e.to_string().contains("run rimg as root, or allow them"));
    }
}
