//! `-u USER[:GROUP]` resolved against the image's own `/etc/passwd` and
//! `/etc/group`, as runc's `user.GetExecUser` does for Docker: names are
//! looked up, numbers need not exist, and a user's supplementary groups
//! are the groups that list it as a member.

use super::RuntimeError;
use std::path::Path;

/// Who the container's process runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    /// The user's home from `/etc/passwd`, `/` when there is none.
    pub home: String,
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

fn passwd_entries(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    text.lines().filter_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() < 6 || line.starts_with('#') {
            return None;
        }
        Some(PasswdEntry {
            name: fields[0],
            uid: fields[2].parse().ok()?,
            gid: fields[3].parse().ok()?,
            home: fields[5],
        })
    })
}

fn group_entries(text: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    text.lines().filter_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() < 4 || line.starts_with('#') {
            return None;
        }
        Some(GroupEntry {
            name: fields[0],
            gid: fields[2].parse().ok()?,
            members: fields[3].split(',').filter(|m| !m.is_empty()).collect(),
        })
    })
}

/// Resolves `spec` (`""`, `name`, `uid`, `name:group`, `uid:gid`, …)
/// against the text of the image's passwd and group files (empty when the
/// image has none).
pub fn resolve(spec: &str, passwd: &str, group: &str) -> Result<ExecUser, RuntimeError> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    let numeric_uid = user_part.parse::<u32>().ok();
    let entry = passwd_entries(passwd)
        .find(|e| e.name == user_part || Some(e.uid) == numeric_uid && numeric_uid.is_some());
    let (uid, mut gid, home, name) = match (&entry, numeric_uid) {
        (Some(e), _) => (e.uid, e.gid, e.home.to_string(), Some(e.name)),
        (None, Some(uid)) => (uid, 0, "/".to_string(), None),
        (None, None) => {
            return Err(RuntimeError::User(format!(
                "unable to find user {user_part}: no matching entries in passwd file"
            )))
        }
    };
    let mut additional_gids = Vec::new();
    match group_part {
        Some(g) if !g.is_empty() => {
            let numeric = g.parse::<u32>().ok();
            gid = match group_entries(group).find(|e| e.name == g) {
                Some(e) => e.gid,
                None => numeric.ok_or_else(|| {
                    RuntimeError::User(format!(
                        "unable to find group {g}: no matching entries in group file"
                    ))
                })?,
            };
        }
        // Only a user named without a group gets its supplementary groups.
        _ => {
            if let Some(name) = name {
                additional_gids = group_entries(group)
                    .filter(|e| e.members.contains(&name) && e.gid != gid)
                    .map(|e| e.gid)
                    .collect();
                additional_gids.dedup();
            }
        }
    }
    Ok(ExecUser {
        uid,
        gid,
        additional_gids,
        home: if home.is_empty() { "/".into() } else { home },
    })
}

/// [`resolve`] against the files in `rootfs`, read as the container would
/// see them (symlinks stay inside the rootfs).
pub fn resolve_in(rootfs: &Path, spec: &str) -> Result<ExecUser, RuntimeError> {
    let read = |name: &str| super::mounts::read_file_in(rootfs, name).unwrap_or_default();
    resolve(spec, &read("etc/passwd"), &read("etc/group"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
        app:x:1000:1000::/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nadm:x:4:app,daemon\napp:x:1000:\nstaff:x:50:app\n";

    #[test]
    fn names_numbers_and_groups() {
        let root = resolve("", PASSWD, GROUP).unwrap();
        assert_eq!((root.uid, root.gid, root.home.as_str()), (0, 0, "/root"));
        let app = resolve("app", PASSWD, GROUP).unwrap();
        assert_eq!((app.uid, app.gid), (1000, 1000));
        assert_eq!(app.additional_gids, vec![4, 50]);
        assert_eq!(app.home, "/home/app");
        let by_uid = resolve("1000", PASSWD, GROUP).unwrap();
        assert_eq!(by_uid.home, "/home/app");
        let unknown = resolve("4242", PASSWD, GROUP).unwrap();
        assert_eq!(
            (unknown.uid, unknown.gid, unknown.home.as_str()),
            (4242, 0, "/")
        );
        let pair = resolve("app:staff", PASSWD, GROUP).unwrap();
        assert_eq!((pair.uid, pair.gid), (1000, 50));
        assert!(pair.additional_gids.is_empty());
        let numbers = resolve("7:8", "", "").unwrap();
        assert_eq!((numbers.uid, numbers.gid), (7, 8));
    }

    #[test]
    fn unknown_names_are_errors_in_runc_words() {
        let e = resolve("nobody", PASSWD, GROUP).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unable to find user nobody: no matching entries in passwd file"
        );
        assert!(resolve("app:nogroup", PASSWD, GROUP).is_err());
    }
}
