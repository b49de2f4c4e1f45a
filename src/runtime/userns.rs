//! Rootless rimg's user namespace: without root, rimg does its work as
//! root of a user namespace that maps the caller to root and its
//! subordinate IDs (`/etc/subuid`, `/etc/subgid`) from 1 on, with a mount
//! namespace of its own: there it may keep files' owners, mount overlayfs
//! (Linux 5.11 and later) and run the runtime as root, as rootless podman
//! does.
//!
//! Every rimg command on a store joins the same namespaces, held by a
//! small process rimg starts the first time (its PID and start time in
//! `<state dir>/userns.pid`): a container started by one command must be
//! reachable by the next (`exec`, `stop`), and its overlay mount stays in
//! the holder's mount namespace. The holder ends when the store is
//! removed, or when killed; a store's mounts go with it.

use super::{io_context, process_start, state_dir, RuntimeError};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// Whether this process joined rimg's namespaces (its caller is outside).
static JOINED: AtomicBool = AtomicBool::new(false);

/// How often the holder checks that its store still exists.
const STORE_CHECK: Duration = Duration::from_secs(2);

/// Whether this process runs in a user namespace other than the
/// machine's: it started in one (its UID map is not the identity over
/// every ID), or joined rimg's since, the only change it makes. Read once:
/// unpacking and walks ask for each directory.
pub fn in_user_namespace() -> bool {
    static STARTED_IN: OnceLock<bool> = OnceLock::new();
    joined()
        || *STARTED_IN.get_or_init(|| {
            fs::read_to_string("/proc/self/uid_map").is_ok_and(|map| {
                map.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"]
            })
        })
}

/// The caller's user ID on the machine: in rimg's user namespace, root
/// there is the user who started rimg.
pub fn host_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    if !in_user_namespace() {
        return uid;
    }
    let map = fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
    map.lines()
        .find_map(|line| {
            let mut fields = line.split_whitespace().map(|f| f.parse::<u32>().ok());
            let (inside, host, count) = (fields.next()??, fields.next()??, fields.next()??);
            let offset = uid.checked_sub(inside)?;
            (offset < count).then_some(host + offset)
        })
        .unwrap_or(uid)
}

/// Whether this process should work in rimg's user namespace: it runs
/// without root, outside one, and nothing forbids user namespaces (else it
/// works as the caller, and cannot run containers).
pub fn wanted() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    !root && !in_user_namespace() && super::check_rootless().is_ok()
}

/// Linux 5.11 and later mount overlayfs in a user namespace.
pub fn kernel_mounts_overlay_unprivileged() -> bool {
    let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut numbers = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let version = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
    version >= (5, 11)
}

/// Joins the user and mount namespaces of `store_root`'s holder, starting
/// the holder first if there is none. Must run before the process starts
/// a thread: the kernel lets only a single-threaded process change its
/// user namespace.
pub fn enter(store_root: &Path) -> Result<(), RuntimeError> {
    let dir = state_dir(store_root);
    fs::create_dir_all(&dir).map_err(io_context(format!("creating {}", dir.display())))?;
    // Without XDG_RUNTIME_DIR the state directory is under /tmp, where
    // another user could have made it first and named a process of theirs.
    let owner = fs::metadata(&dir)
        .map_err(io_context(format!("reading {}", dir.display())))?
        .uid();
    // SAFETY: geteuid has no preconditions and cannot fail.
    if owner != unsafe { libc::geteuid() } {
        return Err(RuntimeError::User(format!(
            "{} belongs to another user (uid {owner}): set XDG_RUNTIME_DIR to a directory of yours",
            dir.display()
        )));
    }
    let lock_path = dir.join("userns.lock");
    // Held until this process has joined (dropped at the end).
    let lock = File::create(&lock_path)
        .map_err(io_context(format!("creating {}", lock_path.display())))?;
    lock.lock()
        .map_err(io_context(format!("locking {}", lock_path.display())))?;
    let pid_file = dir.join("userns.pid");
    let pid = match running_holder(&pid_file) {
        Some(pid) => pid,
        None => {
            let pid = start_holder(store_root)?;
            let record = format!("{pid} {}\n", process_start(pid).unwrap_or_default());
            crate::durable::replace(&pid_file, crate::durable::Mode::Private, record.as_bytes())
                .map_err(io_context(format!("writing {}", pid_file.display())))?;
            pid
        }
    };
    join(pid)
}

/// The holder `pid_file` names, if that process still runs (the same
/// process: its start time is recorded beside its PID).
fn running_holder(pid_file: &Path) -> Option<i32> {
    let record = fs::read_to_string(pid_file).ok()?;
    let mut fields = record.split_whitespace();
    let pid: i32 = fields.next()?.parse().ok()?;
    let started: u64 = fields.next()?.parse().ok()?;
    (process_start(pid) == Some(started)).then_some(pid)
}

fn join(pid: i32) -> Result<(), RuntimeError> {
    // Joining a mount namespace moves the working directory to its root:
    // go back to the same path there (it holds the same files).
    let cwd = std::env::current_dir().ok();
    let mut namespaces = Vec::new();
    for (kind, flag) in [("user", libc::CLONE_NEWUSER), ("mnt", libc::CLONE_NEWNS)] {
        let path = format!("/proc/{pid}/ns/{kind}");
        let ns = File::open(&path).map_err(io_context(format!("opening {path}")))?;
        namespaces.push((path, ns, flag));
    }
    for (path, ns, flag) in namespaces {
        // SAFETY: setns on an open namespace descriptor.
        if unsafe { libc::setns(ns.as_raw_fd(), flag) } != 0 {
            return Err(io_context(format!(
                "joining rimg's user namespace ({path})"
            ))(io::Error::last_os_error()));
        }
    }
    if let Some(cwd) = cwd {
        let _ = std::env::set_current_dir(cwd);
    }
    JOINED.store(true, Ordering::Relaxed);
    Ok(())
}

/// Whether this rimg joined its namespaces on the way in: the command
/// that ran it is outside them, and sees none of their mounts.
pub fn joined() -> bool {
    JOINED.load(Ordering::Relaxed)
}

/// Starts the holder: a child in new user and mount namespaces, mapped by
/// this process (with `newuidmap`/`newgidmap` for a subordinate range),
/// then detached to wait until its store is gone. Returns its PID.
fn start_holder(store_root: &Path) -> Result<i32, RuntimeError> {
    let (unshared_read, unshared_write) = pipe()?;
    let (mapped_read, mapped_write) = pipe()?;
    let store = std::ffi::CString::new(store_root.as_os_str().as_bytes())
        .map_err(|_| RuntimeError::User("the store's path holds a NUL byte".into()))?;
    // SAFETY: the caller is single-threaded (see `enter`), so the child
    // may run ordinary code until it exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io_context("starting rimg's user namespace")(
            io::Error::last_os_error(),
        ));
    }
    if pid == 0 {
        drop(unshared_read);
        drop(mapped_write);
        hold(&store, unshared_write, mapped_read);
    }
    drop(unshared_write);
    drop(mapped_read);
    let mut unshared = File::from(unshared_read);
    let mut byte = [1u8];
    if unshared.read_exact(&mut byte).is_err() || byte[0] != 0 {
        return Err(RuntimeError::User(
            "could not create a user namespace for rimg".into(),
        ));
    }
    let mut mapped = File::from(mapped_write);
    match write_maps(pid) {
        Ok(()) => {
            let _ = mapped.write_all(&[0]);
            Ok(pid)
        }
        Err(e) => {
            // SAFETY: kill and waitpid on the child just forked.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
            Err(e)
        }
    }
}

/// The holder's life, in the forked child: never returns.
fn hold(store: &std::ffi::CStr, unshared: OwnedFd, mapped: OwnedFd) -> ! {
    let mut unshared = File::from(unshared);
    let mut mapped = File::from(mapped);
    // SAFETY: plain syscalls in the single-threaded child.
    unsafe {
        if libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS) != 0 {
            let _ = unshared.write_all(&[1]);
            libc::_exit(1);
        }
        let _ = unshared.write_all(&[0]);
        let mut byte = [1u8];
        if mapped.read_exact(&mut byte).is_err() || byte[0] != 0 {
            libc::_exit(1);
        }
        // Mounts made here stay here.
        libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        );
        libc::setsid();
        // Its command line is the rimg command's that forked it; `ps -o
        // comm` and `top` show this.
        libc::prctl(libc::PR_SET_NAME, c"rimg-userns".as_ptr());
        libc::chdir(c"/".as_ptr());
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        for fd in 0..3 {
            libc::dup2(null, fd);
        }
        libc::close_range(3, u32::MAX, 0);
        // The command that started it makes the store if it is new.
        let mut stat: libc::stat = std::mem::zeroed();
        loop {
            std::thread::sleep(STORE_CHECK);
            if libc::stat(store.as_ptr(), &mut stat) != 0 {
                libc::_exit(0);
            }
        }
    }
}

/// Maps the caller to root in `pid`'s user namespace, and its
/// subordinate range from 1 on where it has one.
fn write_maps(pid: i32) -> Result<(), RuntimeError> {
    let Some(maps) = id_maps() else {
        return Err(RuntimeError::User("rimg runs as root".into()));
    };
    if maps.uid.len() > 1 || maps.gid.len() > 1 {
        for (tool, map) in [("newuidmap", &maps.uid), ("newgidmap", &maps.gid)] {
            let mut cmd = Command::new(tool);
            cmd.arg(pid.to_string());
            for &(inside, host, count) in map {
                cmd.args([inside.to_string(), host.to_string(), count.to_string()]);
            }
            let out = cmd.output().map_err(|source| RuntimeError::Spawn {
                runtime: tool.into(),
                source,
            })?;
            if !out.status.success() {
                return Err(RuntimeError::Failed {
                    runtime: tool.into(),
                    message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
                });
            }
        }
        return Ok(());
    }
    // Without a range, the caller alone, which it may map itself once
    // setgroups is denied.
    let proc = format!("/proc/{pid}");
    for (file, text) in [
        ("setgroups", "deny".to_string()),
        ("uid_map", format!("0 {} 1", maps.uid[0].1)),
        ("gid_map", format!("0 {} 1", maps.gid[0].1)),
    ] {
        let path = format!("{proc}/{file}");
        fs::write(&path, text).map_err(io_context(format!("writing {path}")))?;
    }
    Ok(())
}

fn pipe() -> Result<(OwnedFd, OwnedFd), RuntimeError> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills `fds` with two new descriptors on success.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io_context("making a pipe")(io::Error::last_os_error()));
    }
    // SAFETY: both descriptors are new and owned by nobody else.
    unsafe { Ok((OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))) }
}

struct IdMaps {
    uid: Vec<(u32, u32, u32)>,
    gid: Vec<(u32, u32, u32)>,
}

/// rimg's user namespace's ID maps, each `(inside, host, count)`: the
/// caller as root and, when `/etc/subuid` and `/etc/subgid` grant it a
/// range (mapped with newuidmap/newgidmap), that range from 1 on, so a
/// package manager inside can switch users and files keep their owners.
/// `None` for root.
fn id_maps() -> Option<IdMaps> {
    // SAFETY: geteuid/getegid have no preconditions and cannot fail.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    if uid == 0 {
        return None;
    }
    let name = user_name(uid).unwrap_or_default();
    let range = |file: &str, id: u32| {
        let text = fs::read_to_string(file).unwrap_or_default();
        text.lines().find_map(|line| {
            let mut fields = line.split(':');
            let owner = fields.next()?;
            if owner != name && owner.parse() != Ok(id) {
                return None;
            }
            Some((
                1,
                fields.next()?.parse().ok()?,
                fields.next()?.parse().ok()?,
            ))
        })
    };
    let uid_maps = std::iter::once((0, uid, 1))
        .chain(range("/etc/subuid", uid))
        .collect();
    let gid_maps = std::iter::once((0, gid, 1))
        .chain(range("/etc/subgid", gid))
        .collect();
    Some(IdMaps {
        uid: uid_maps,
        gid: gid_maps,
    })
}

/// The login name of `uid` (subordinate ranges are listed by name).
fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0u8; 16 << 10];
    // SAFETY: getpwuid_r fills `entry` with pointers into `buf`, which
    // outlives their use here; a zeroed passwd is a valid value.
    unsafe {
        let mut entry: libc::passwd = std::mem::zeroed();
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        let ret = libc::getpwuid_r(
            uid,
            &mut entry,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut found,
        );
        if ret != 0 || found.is_null() || entry.pw_name.is_null() {
            return None;
        }
        Some(
            std::ffi::CStr::from_ptr(entry.pw_name)
                .to_string_lossy()
                .into_owned(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_is_known_by_its_pid_and_process_start() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("userns.pid");
        let me = std::process::id() as i32;
        let started = process_start(me).unwrap();
        fs::write(&pid_file, format!("{me} {started}\n")).unwrap();
        assert_eq!(running_holder(&pid_file), Some(me));
        // The PID reused by another process: not the holder.
        fs::write(&pid_file, format!("{me} {}\n", started + 1)).unwrap();
        assert_eq!(running_holder(&pid_file), None);
        fs::write(&pid_file, "garbage").unwrap();
        assert_eq!(running_holder(&pid_file), None);
    }
}
