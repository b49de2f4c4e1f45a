//! What a container's rootfs looked like when it was created or last
//! committed: every path with the metadata `lstat` returns, and no file
//! contents. Comparing a fresh walk with it finds the changes without
//! reading a single unchanged file (see [`changes`](super::changes)).
//!
//! The walk visits each directory's entries sorted by name, parents before
//! their children, and does not descend into other filesystems (a `proc`
//! or bind mount the user put in the rootfs is not part of the container).
//!
//! On disk a snapshot is a small binary file: a magic line, then one record
//! per entry in walk order (little-endian: path length and bytes, mode,
//! uid, gid, size, mtime, ctime, inode, birth time, rdev, link count, and a
//! flags byte: 1 a mount point, 2 an opaque overlay directory).

use std::cmp::Ordering;
use std::ffi::OsStr;
use std::fs;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

const MAGIC: &[u8] = b"rimg snapshot 2\n";

/// The `lstat` fields change detection compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Meta {
    /// `st_mode`: file type and permission bits.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime: i64,
    pub mtime_nsec: u32,
    /// The inode change time: the kernel moves it on every write, chmod,
    /// chown, xattr change, link or rename, and no tool can set it back, so
    /// it catches what a `cp -p` or `touch -r` hides from mtime and size.
    pub ctime: i64,
    pub ctime_nsec: u32,
    pub ino: u64,
    /// Birth time, where the filesystem records one (else 0): tells a
    /// directory made again from the one it replaced when the filesystem
    /// reuses the inode number.
    pub btime: i64,
    pub btime_nsec: u32,
    pub rdev: u64,
    pub nlink: u64,
}

impl Meta {
    pub fn from_metadata(m: &fs::Metadata) -> Meta {
        let born = m
            .created()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .unwrap_or_default();
        Meta {
            mode: m.mode(),
            uid: m.uid(),
            gid: m.gid(),
            size: m.size(),
            mtime: m.mtime(),
            mtime_nsec: m.mtime_nsec() as u32,
            ctime: m.ctime(),
            ctime_nsec: m.ctime_nsec() as u32,
            ino: m.ino(),
            btime: born.as_secs() as i64,
            btime_nsec: born.subsec_nanos(),
            rdev: m.rdev(),
            nlink: m.nlink(),
        }
    }

    pub fn file_type(&self) -> u32 {
        self.mode & libc::S_IFMT
    }

    pub fn is_dir(&self) -> bool {
        self.file_type() == libc::S_IFDIR
    }

    pub fn is_regular(&self) -> bool {
        self.file_type() == libc::S_IFREG
    }

    pub fn is_symlink(&self) -> bool {
        self.file_type() == libc::S_IFLNK
    }

    /// The permission bits, with set-user-ID, set-group-ID and sticky.
    pub fn permissions(&self) -> u32 {
        self.mode & 0o7777
    }
}

/// One path of the rootfs, relative to it (`etc/passwd`, no leading `/`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub path: Vec<u8>,
    pub meta: Meta,
    /// The root of another filesystem mounted in the rootfs: recorded, but
    /// not descended into.
    pub mount: bool,
    /// An overlay upper directory marked opaque (only upper walks set it).
    pub opaque: bool,
}

impl Entry {
    pub fn host_path(&self, root: &Path) -> PathBuf {
        root.join(OsStr::from_bytes(&self.path))
    }
}

/// Orders paths as the walk visits them: component by component, so
/// `a/b` comes right after `a` and before `a-b`.
pub fn walk_order(a: &[u8], b: &[u8]) -> Ordering {
    let key = |c: &u8| if *c == b'/' { 0 } else { *c };
    a.iter().map(key).cmp(b.iter().map(key))
}

/// Lists everything under `root` (not `root` itself) in walk order.
pub fn walk(root: &Path) -> io::Result<Vec<Entry>> {
    let root_dev = fs::symlink_metadata(root)?.dev();
    let mut entries = Vec::new();
    walk_dir(root, &[], root_dev, &mut entries)?;
    Ok(entries)
}

fn walk_dir(dir: &Path, prefix: &[u8], dev: u64, out: &mut Vec<Entry>) -> io::Result<()> {
    let mut children: Vec<(Vec<u8>, fs::DirEntry)> = Vec::new();
    for child in fs::read_dir(dir)? {
        let child = child?;
        children.push((child.file_name().as_bytes().to_vec(), child));
    }
    children.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, child) in children {
        // `fstatat` on the open directory: no path lookup from the root,
        // and a symlink is not followed.
        let metadata = match child.metadata() {
            Ok(m) => m,
            // Removed while we walked: it is not there.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let host = child.path();
        let mut path = prefix.to_vec();
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(&name);
        let mount = metadata.dev() != dev;
        let descend = metadata.is_dir() && !mount;
        out.push(Entry {
            path: path.clone(),
            meta: Meta::from_metadata(&metadata),
            mount,
            opaque: false,
        });
        if descend {
            match walk_dir(&host, &path, dev, out) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                other => other?,
            }
        }
    }
    Ok(())
}

/// Waits until the filesystem's clock has moved past every ctime in
/// `entries`, so that any later change to a walked file gets a ctime the
/// snapshot does not hold. With coarse timestamps (kernels before 6.13's
/// multigrain timestamps) a write within the same clock tick as the walk
/// would otherwise keep the recorded ctime. Probes with a file in `dir`,
/// which must be on the rootfs's filesystem; gives up after a second.
pub fn settle(dir: &Path, entries: &[Entry]) -> io::Result<()> {
    let newest = entries
        .iter()
        .map(|e| (e.meta.ctime, e.meta.ctime_nsec))
        .max()
        .unwrap_or_default();
    let probe = dir.join(".clock-probe");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    let result = loop {
        fs::write(&probe, b"")?;
        let m = fs::symlink_metadata(&probe)?;
        if (m.ctime(), m.ctime_nsec() as u32) > newest || std::time::Instant::now() > deadline {
            break Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    };
    let _ = fs::remove_file(&probe);
    result
}

/// Writes `entries` to `out` in the snapshot format.
pub fn write<W: Write>(entries: &[Entry], out: W) -> io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 16, out);
    out.write_all(MAGIC)?;
    for e in entries {
        let m = &e.meta;
        out.write_all(&(e.path.len() as u32).to_le_bytes())?;
        out.write_all(&e.path)?;
        out.write_all(&m.mode.to_le_bytes())?;
        out.write_all(&m.uid.to_le_bytes())?;
        out.write_all(&m.gid.to_le_bytes())?;
        out.write_all(&m.size.to_le_bytes())?;
        out.write_all(&m.mtime.to_le_bytes())?;
        out.write_all(&m.mtime_nsec.to_le_bytes())?;
        out.write_all(&m.ctime.to_le_bytes())?;
        out.write_all(&m.ctime_nsec.to_le_bytes())?;
        out.write_all(&m.ino.to_le_bytes())?;
        out.write_all(&m.btime.to_le_bytes())?;
        out.write_all(&m.btime_nsec.to_le_bytes())?;
        out.write_all(&m.rdev.to_le_bytes())?;
        out.write_all(&m.nlink.to_le_bytes())?;
        out.write_all(&[e.mount as u8 | (e.opaque as u8) << 1])?;
    }
    out.flush()
}

/// Reads a snapshot written by [`write`].
pub fn read<R: Read>(input: R) -> io::Result<Vec<Entry>> {
    let mut input = BufReader::with_capacity(1 << 16, input);
    let mut magic = [0u8; MAGIC.len()];
    input.read_exact(&mut magic)?;
    if magic != MAGIC {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a rimg snapshot file",
        ));
    }
    let mut entries = Vec::new();
    loop {
        let mut len = [0u8; 4];
        match input.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
        let mut path = vec![0u8; u32::from_le_bytes(len) as usize];
        input.read_exact(&mut path)?;
        let mut r = Fields(&mut input);
        let meta = Meta {
            mode: r.u32()?,
            uid: r.u32()?,
            gid: r.u32()?,
            size: r.u64()?,
            mtime: r.u64()? as i64,
            mtime_nsec: r.u32()?,
            ctime: r.u64()? as i64,
            ctime_nsec: r.u32()?,
            ino: r.u64()?,
            btime: r.u64()? as i64,
            btime_nsec: r.u32()?,
            rdev: r.u64()?,
            nlink: r.u64()?,
        };
        let mut mount = [0u8; 1];
        input.read_exact(&mut mount)?;
        entries.push(Entry {
            path,
            meta,
            mount: mount[0] & 1 != 0,
            opaque: mount[0] & 2 != 0,
        });
    }
    Ok(entries)
}

struct Fields<'a, R>(&'a mut R);

impl<R: Read> Fields<'_, R> {
    fn u32(&mut self) -> io::Result<u32> {
        let mut b = [0u8; 4];
        self.0.read_exact(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self) -> io::Result<u64> {
        let mut b = [0u8; 8];
        self.0.read_exact(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_order_puts_children_right_after_their_parent() {
        let mut paths: Vec<&[u8]> = vec![b"a-b", b"a/z", b"a", b"ab", b"a/b/c", b"a/b"];
        paths.sort_by(|a, b| walk_order(a, b));
        assert_eq!(
            paths,
            vec![&b"a"[..], b"a/b", b"a/b/c", b"a/z", b"a-b", b"ab"]
        );
    }

    #[test]
    fn walk_round_trips_through_the_file_format() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("a/b")).unwrap();
        fs::write(root.join("a/b/f"), b"x").unwrap();
        fs::write(root.join("a-b"), b"yy").unwrap();
        std::os::unix::fs::symlink("a", root.join("link")).unwrap();
        let entries = walk(root).unwrap();
        let paths: Vec<&[u8]> = entries.iter().map(|e| &e.path[..]).collect();
        assert_eq!(paths, vec![&b"a"[..], b"a/b", b"a/b/f", b"a-b", b"link"]);
        assert!(entries[4].meta.is_symlink());
        assert_eq!(entries[3].meta.size, 2);
        let mut bytes = Vec::new();
        write(&entries, &mut bytes).unwrap();
        assert_eq!(read(&bytes[..]).unwrap(), entries);
        assert!(read(&b"garbage"[..]).is_err());
    }
}
