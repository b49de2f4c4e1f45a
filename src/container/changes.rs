//! Change detection: what differs between a snapshot of the rootfs and a
//! fresh walk of it, by metadata alone, and the layer entries (files,
//! whiteouts, opaque markers) that carry those changes.
//!
//! A non-directory changed if its type, mode, owner, size, mtime, ctime,
//! inode or device number changed. A directory changed if its mode or
//! owner did (Docker ignores a directory's size and mtime, which move
//! whenever an entry is added), and was *replaced* — removed and made
//! again — if its inode or birth time changed: the layer then marks it opaque and holds
//! everything under it. As in `docker diff`, a change's parent directories
//! are reported as changed too (the root excepted), a deleted directory is
//! reported once, not file by file, and output is in walk order.

use super::snapshot::{walk_order, Entry, Meta};
use std::cmp::Ordering;
use std::collections::BTreeSet;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Added,
    Modified,
    Deleted,
}

impl Kind {
    /// Docker's one-letter code: `A`, `C` or `D`.
    pub fn letter(self) -> char {
        match self {
            Kind::Added => 'A',
            Kind::Modified => 'C',
            Kind::Deleted => 'D',
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Relative to the rootfs, without a leading `/`.
    pub path: Vec<u8>,
    pub kind: Kind,
    /// The current metadata (none for a deletion).
    pub meta: Option<Meta>,
    /// A directory that was removed and made again: the layer hides
    /// everything the layers below had in it.
    pub opaque: bool,
}

impl Change {
    /// `A /path` as `docker diff` prints it.
    pub fn line(&self) -> String {
        format!(
            "{} /{}",
            self.kind.letter(),
            String::from_utf8_lossy(&self.path)
        )
    }
}

/// Whether `path` is `prefix` itself or below it.
fn under(path: &[u8], prefix: &[u8]) -> bool {
    path.len() > prefix.len() && path.starts_with(prefix) && path[prefix.len()] == b'/'
}

fn differs(old: &Meta, new: &Meta) -> bool {
    if old.file_type() != new.file_type() || old.uid != new.uid || old.gid != new.gid {
        return true;
    }
    if new.is_dir() {
        return old.mode != new.mode;
    }
    old.mode != new.mode
        || old.size != new.size
        || (old.mtime, old.mtime_nsec) != (new.mtime, new.mtime_nsec)
        || (old.ctime, old.ctime_nsec) != (new.ctime, new.ctime_nsec)
        || old.ino != new.ino
        || (old.btime, old.btime_nsec) != (new.btime, new.btime_nsec)
        || old.rdev != new.rdev
}

/// The changes from `old` to `new`, both in walk order, in walk order.
pub fn changes(old: &[Entry], new: &[Entry]) -> Vec<Change> {
    let mut out: Vec<Change> = Vec::new();
    // Old entries below this path are gone with it (a deleted directory,
    // or one now replaced by a file or a mount).
    let mut gone: Option<&[u8]> = None;
    // Everything below a replaced directory is part of the layer.
    let mut opaque: Option<&[u8]> = None;
    let (mut i, mut j) = (0, 0);
    loop {
        let order = match (old.get(i), new.get(j)) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(o), Some(n)) => walk_order(&o.path, &n.path),
        };
        match order {
            Ordering::Less => {
                let o = &old[i];
                i += 1;
                if gone.is_some_and(|g| under(&o.path, g)) {
                    continue;
                }
                out.push(Change {
                    path: o.path.clone(),
                    kind: Kind::Deleted,
                    meta: None,
                    opaque: false,
                });
                gone = Some(&o.path);
            }
            Ordering::Greater => {
                let n = &new[j];
                j += 1;
                out.push(Change {
                    path: n.path.clone(),
                    kind: Kind::Added,
                    meta: Some(n.meta),
                    opaque: false,
                });
            }
            Ordering::Equal => {
                let (o, n) = (&old[i], &new[j]);
                i += 1;
                j += 1;
                if opaque.is_some_and(|p| !under(&n.path, p)) {
                    opaque = None;
                }
                if n.mount {
                    gone = Some(&n.path);
                    continue;
                }
                let replaced = o.meta.is_dir()
                    && n.meta.is_dir()
                    && (o.meta.ino != n.meta.ino
                        || (o.meta.btime, o.meta.btime_nsec) != (n.meta.btime, n.meta.btime_nsec));
                if o.meta.is_dir() && !n.meta.is_dir() {
                    gone = Some(&n.path);
                }
                if replaced || differs(&o.meta, &n.meta) || opaque.is_some() {
                    out.push(Change {
                        path: n.path.clone(),
                        kind: Kind::Modified,
                        meta: Some(n.meta),
                        opaque: replaced,
                    });
                }
                if replaced && opaque.is_none() {
                    opaque = Some(&n.path);
                }
            }
        }
    }
    mark_parents(out, new)
}

/// Adds each change's parent directories (but not the root) as modified,
/// then orders everything as the walk does.
fn mark_parents(mut out: Vec<Change>, new: &[Entry]) -> Vec<Change> {
    let listed: BTreeSet<Vec<u8>> = out.iter().map(|c| c.path.clone()).collect();
    let mut parents: BTreeSet<Vec<u8>> = BTreeSet::new();
    for change in &out {
        let mut path = &change.path[..];
        while let Some(slash) = path.iter().rposition(|&b| b == b'/') {
            path = &path[..slash];
            if listed.contains(path) || !parents.insert(path.to_vec()) {
                break;
            }
        }
    }
    for parent in parents {
        let meta = new
            .binary_search_by(|e| walk_order(&e.path, &parent))
            .ok()
            .map(|k| new[k].meta);
        out.push(Change {
            path: parent,
            kind: Kind::Modified,
            meta,
            opaque: false,
        });
    }
    out.sort_by(|a, b| walk_order(&a.path, &b.path));
    out
}

/// One entry of the layer that carries a set of changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayerEntry {
    /// The file, directory, link or node at this path, as it is now.
    Path(Vec<u8>, Meta),
    /// `dir/.wh.name`: `name` is deleted.
    Whiteout(Vec<u8>),
    /// `dir/.wh..wh..opq`: the layers below contribute nothing to `dir`.
    Opaque(Vec<u8>),
}

impl LayerEntry {
    /// The entry's name in the tar.
    pub fn tar_path(&self) -> Vec<u8> {
        match self {
            LayerEntry::Path(path, _) => path.clone(),
            LayerEntry::Whiteout(path) => {
                let (dir, name) = match path.iter().rposition(|&b| b == b'/') {
                    Some(slash) => (&path[..=slash], &path[slash + 1..]),
                    None => (&path[..0], &path[..]),
                };
                [dir, b".wh.", name].concat()
            }
            LayerEntry::Opaque(dir) => [&dir[..], b"/.wh..wh..opq"].concat(),
        }
    }
}

/// The layer entries for `changes`, in order: deletions become whiteouts
/// (none inside an opaque directory, which hides the lower entries
/// already), replaced directories get an opaque marker right after them.
pub fn layer_entries(changes: &[Change]) -> Vec<LayerEntry> {
    let mut out = Vec::new();
    let mut opaque: Option<&[u8]> = None;
    for change in changes {
        if opaque.is_some_and(|p| !under(&change.path, p)) {
            opaque = None;
        }
        match (change.kind, change.meta) {
            (Kind::Deleted, _) => {
                if opaque.is_none() {
                    out.push(LayerEntry::Whiteout(change.path.clone()));
                }
            }
            (_, Some(meta)) => {
                out.push(LayerEntry::Path(change.path.clone(), meta));
                if change.opaque {
                    out.push(LayerEntry::Opaque(change.path.clone()));
                    if opaque.is_none() {
                        opaque = Some(&change.path);
                    }
                }
            }
            (_, None) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, ino: u64, size: u64) -> Entry {
        Entry {
            path: path.as_bytes().to_vec(),
            meta: Meta {
                mode: libc::S_IFREG | 0o644,
                size,
                ino,
                mtime: 1,
                ctime: 1,
                nlink: 1,
                ..Meta::default()
            },
            mount: false,
            opaque: false,
        }
    }

    fn dir(path: &str, ino: u64) -> Entry {
        Entry {
            path: path.as_bytes().to_vec(),
            meta: Meta {
                mode: libc::S_IFDIR | 0o755,
                size: 4096,
                ino,
                nlink: 2,
                ..Meta::default()
            },
            mount: false,
            opaque: false,
        }
    }

    fn tar_paths(changes: &[Change]) -> Vec<String> {
        layer_entries(changes)
            .iter()
            .map(|e| String::from_utf8(e.tar_path()).unwrap())
            .collect()
    }

    fn lines(changes: &[Change]) -> Vec<String> {
        changes.iter().map(Change::line).collect()
    }

    fn sorted(mut entries: Vec<Entry>) -> Vec<Entry> {
        entries.sort_by(|a, b| walk_order(&a.path, &b.path));
        entries
    }

    fn base() -> Vec<Entry> {
        sorted(vec![
            dir("etc", 1),
            file("etc/passwd", 2, 10),
            file("etc/group", 3, 5),
            dir("usr", 4),
            dir("usr/lib", 5),
            file("usr/lib/a.so", 6, 100),
            file("usr/lib/b.so", 7, 100),
            dir("var", 8),
        ])
    }

    #[test]
    fn nothing_changed_means_no_changes() {
        assert!(changes(&base(), &base()).is_empty());
    }

    #[test]
    fn added_changed_and_deleted_files_mark_their_parents() {
        let old = base();
        let mut new = base();
        new.retain(|e| e.path != b"etc/group");
        new.iter_mut()
            .find(|e| e.path == b"etc/passwd")
            .unwrap()
            .meta
            .size = 11;
        new.push(dir("var/cache", 20));
        new.push(file("var/cache/x", 21, 1));
        let got = changes(&old, &sorted(new));
        assert_eq!(
            lines(&got),
            vec![
                "C /etc",
                "D /etc/group",
                "C /etc/passwd",
                "C /var",
                "A /var/cache",
                "A /var/cache/x"
            ]
        );
        let names = tar_paths(&got);
        assert_eq!(
            names,
            vec![
                "etc",
                "etc/.wh.group",
                "etc/passwd",
                "var",
                "var/cache",
                "var/cache/x"
            ]
        );
    }

    #[test]
    fn a_deleted_directory_is_one_whiteout() {
        let old = base();
        let new: Vec<Entry> = base()
            .into_iter()
            .filter(|e| !e.path.starts_with(b"usr/lib"))
            .collect();
        let got = changes(&old, &new);
        assert_eq!(lines(&got), vec!["C /usr", "D /usr/lib"]);
        assert_eq!(layer_entries(&got)[1].tar_path(), b"usr/.wh.lib".to_vec());
        // A deletion at the top level needs no parent and no slash.
        let new: Vec<Entry> = base().into_iter().filter(|e| e.path != b"var").collect();
        let got = changes(&old, &new);
        assert_eq!(lines(&got), vec!["D /var"]);
        assert_eq!(layer_entries(&got)[0].tar_path(), b".wh.var".to_vec());
    }

    #[test]
    fn a_replaced_directory_is_opaque_and_carries_all_its_content() {
        let old = base();
        // rm -rf usr/lib; mkdir usr/lib; keep b.so's copy, add c.so.
        let mut new: Vec<Entry> = base()
            .into_iter()
            .filter(|e| !e.path.starts_with(b"usr/lib"))
            .collect();
        new.push(dir("usr/lib", 30));
        new.push(file("usr/lib/b.so", 7, 100)); // same inode: moved back
        new.push(file("usr/lib/c.so", 31, 1));
        let got = changes(&old, &sorted(new));
        assert_eq!(
            lines(&got),
            vec![
                "C /usr",
                "C /usr/lib",
                "D /usr/lib/a.so",
                "C /usr/lib/b.so",
                "A /usr/lib/c.so"
            ]
        );
        assert!(got[1].opaque);
        let names = tar_paths(&got);
        // No whiteout for a.so: the opaque marker hides it already.
        assert_eq!(
            names,
            vec![
                "usr",
                "usr/lib",
                "usr/lib/.wh..wh..opq",
                "usr/lib/b.so",
                "usr/lib/c.so"
            ]
        );
    }

    #[test]
    fn a_directory_made_again_on_a_reused_inode_is_still_replaced() {
        let old = base();
        let mut new: Vec<Entry> = base()
            .into_iter()
            .filter(|e| !e.path.starts_with(b"usr/lib"))
            .collect();
        let mut again = dir("usr/lib", 5);
        again.meta.btime = 7;
        new.push(again);
        let got = changes(&old, &sorted(new));
        assert_eq!(
            lines(&got),
            vec!["C /usr", "C /usr/lib", "D /usr/lib/a.so", "D /usr/lib/b.so"]
        );
        assert!(got[1].opaque);
        assert_eq!(layer_entries(&got).len(), 3);
    }

    #[test]
    fn metadata_only_changes_count_and_directory_times_do_not() {
        let old = base();
        let mut new = base();
        for e in &mut new {
            match &e.path[..] {
                b"etc/group" => e.meta.ctime = 2, // e.g. `touch -r` or same-size rewrite
                b"usr/lib/a.so" => e.meta.uid = 1000,
                b"var" => {
                    e.meta.mtime = 99;
                    e.meta.size = 8192;
                }
                b"usr" => e.meta.mode = libc::S_IFDIR | 0o700,
                _ => {}
            }
        }
        assert_eq!(
            lines(&changes(&old, &new)),
            vec![
                "C /etc",
                "C /etc/group",
                "C /usr",
                "C /usr/lib",
                "C /usr/lib/a.so"
            ]
        );
    }

    #[test]
    fn type_changes_replace_whole_trees() {
        let old = base();
        // usr/lib becomes a symlink; etc/passwd becomes a directory.
        let mut new: Vec<Entry> = base()
            .into_iter()
            .filter(|e| !e.path.starts_with(b"usr/lib") && e.path != b"etc/passwd")
            .collect();
        let mut link = file("usr/lib", 40, 3);
        link.meta.mode = libc::S_IFLNK | 0o777;
        new.push(link);
        new.push(dir("etc/passwd", 41));
        new.push(file("etc/passwd/x", 42, 1));
        let got = changes(&old, &sorted(new));
        assert_eq!(
            lines(&got),
            vec![
                "C /etc",
                "C /etc/passwd",
                "A /etc/passwd/x",
                "C /usr",
                "C /usr/lib"
            ]
        );
        assert!(layer_entries(&got)
            .iter()
            .all(|e| matches!(e, LayerEntry::Path(..))));
    }

    #[test]
    fn mount_points_are_left_out() {
        let mut old = base();
        old.push(dir("proc", 50));
        old.push(file("proc/x", 51, 1));
        let old = sorted(old);
        let mut new = base();
        let mut proc_ = dir("proc", 1);
        proc_.mount = true;
        new.push(proc_);
        assert!(changes(&old, &sorted(new)).is_empty());
    }
}
