//! Writing files from a rootfs into a tar stream, as Docker's tar appender
//! does for `commit` layers and `export`: relative names (directories end
//! in `/`), numeric owners, mtimes to the second, a second path of a
//! multiply-linked inode as a hardlink to the first, device numbers for
//! nodes, extended attributes as PAX `SCHILY.xattr.*` records. Sockets are
//! skipped, as Go's tar writer cannot store them.

use super::snapshot::Meta;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Extended attributes that describe the host rather than the file.
const HOST_XATTRS: &[&[u8]] = &[b"security.selinux"];

pub struct TarWriter<W: Write> {
    builder: tar::Builder<W>,
    root: PathBuf,
    /// First path written for each multiply-linked inode.
    links: HashMap<u64, Vec<u8>>,
    /// No entry's mtime is later than this (`SOURCE_DATE_EPOCH`).
    latest_mtime: u64,
}

/// What appending one path found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Appended {
    /// The file's size no longer matched its metadata while it was read
    /// (someone is writing to it); the entry holds what could be read,
    /// padded or cut to the recorded size.
    pub raced: bool,
    /// The path is gone or is a socket, and nothing was written.
    pub skipped: bool,
}

impl<W: Write> TarWriter<W> {
    pub fn new(out: W, root: &Path) -> TarWriter<W> {
        let mut builder = tar::Builder::new(out);
        builder.follow_symlinks(false);
        TarWriter {
            builder,
            root: root.to_path_buf(),
            links: HashMap::new(),
            latest_mtime: u64::MAX,
        }
    }

    /// Clamps every entry's mtime to `epoch`, for reproducible layers.
    pub fn clamp_mtimes(mut self, epoch: u64) -> TarWriter<W> {
        self.latest_mtime = epoch;
        self
    }

    /// Appends the rootfs path `rel` (no leading `/`), whose `lstat` said
    /// `meta`.
    pub fn append(&mut self, rel: &[u8], meta: &Meta) -> io::Result<Appended> {
        let host = self.root.join(OsStr::from_bytes(rel));
        let mut header = tar::Header::new_gnu();
        header.set_mode(meta.permissions());
        header.set_uid(meta.uid.into());
        header.set_gid(meta.gid.into());
        header.set_mtime((meta.mtime.max(0) as u64).min(self.latest_mtime));
        header.set_size(0);
        if !meta.is_dir() && meta.nlink > 1 {
            if let Some(first) = self.links.get(&meta.ino) {
                header.set_entry_type(tar::EntryType::Link);
                let first = first.clone();
                self.builder
                    .append_link(&mut header, path(rel), path(&first))?;
                return Ok(Appended::default());
            }
            self.links.insert(meta.ino, rel.to_vec());
        }
        let gone = Appended {
            raced: true,
            skipped: true,
        };
        let xattrs = xattr_records(&host);
        match meta.file_type() {
            libc::S_IFDIR => {
                header.set_entry_type(tar::EntryType::Directory);
                let name = [rel, b"/"].concat();
                self.append_pax(&xattrs)?;
                self.builder
                    .append_data(&mut header, path(&name), io::empty())?;
            }
            libc::S_IFREG => {
                let opened = OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                    .open(&host);
                let Some(file) = unless_missing(opened)? else {
                    return Ok(gone);
                };
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(meta.size);
                let mut data = Exact::new(file, meta.size);
                self.append_pax(&xattrs)?;
                self.builder
                    .append_data(&mut header, path(rel), &mut data)?;
                return Ok(Appended {
                    raced: data.raced(),
                    skipped: false,
                });
            }
            libc::S_IFLNK => {
                let Some(target) = unless_missing(fs::read_link(&host))? else {
                    return Ok(gone);
                };
                header.set_entry_type(tar::EntryType::Symlink);
                self.append_pax(&xattrs)?;
                self.builder.append_link(&mut header, path(rel), &target)?;
            }
            kind @ (libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO) => {
                header.set_entry_type(match kind {
                    libc::S_IFCHR => tar::EntryType::Char,
                    libc::S_IFBLK => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                });
                let dev = meta.rdev as libc::dev_t;
                header.set_device_major(libc::major(dev))?;
                header.set_device_minor(libc::minor(dev))?;
                self.append_pax(&xattrs)?;
                self.builder
                    .append_data(&mut header, path(rel), io::empty())?;
            }
            _ => {
                return Ok(Appended {
                    raced: false,
                    skipped: true,
                })
            }
        }
        Ok(Appended::default())
    }

    /// Appends an empty regular file with mode 0: a whiteout or an opaque
    /// marker, as Docker writes them.
    pub fn append_marker(&mut self, name: &[u8], mtime: u64) -> io::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_size(0);
        header.set_mtime(mtime.min(self.latest_mtime));
        self.builder
            .append_data(&mut header, path(name), io::empty())
    }

    /// A PAX header carrying the next entry's extended attributes.
    fn append_pax(&mut self, records: &[(String, Vec<u8>)]) -> io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        self.builder
            .append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), &v[..])))
    }

    /// Writes the end-of-archive blocks and returns the output.
    pub fn finish(self) -> io::Result<W> {
        self.builder.into_inner()
    }
}

/// The path's extended attributes as PAX records, sorted; none if they
/// cannot be read.
fn xattr_records(host: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(names) = xattr::list(host) else {
        return Vec::new();
    };
    let mut records: Vec<(String, Vec<u8>)> = names
        .filter(|name| !HOST_XATTRS.contains(&name.as_bytes()))
        // An overlay upper directory's bookkeeping, not the file's.
        .filter(|name| !super::unpack::is_overlay_xattr(name.as_bytes()))
        .filter_map(|name| {
            let value = xattr::get(host, &name).ok()??;
            Some((format!("SCHILY.xattr.{}", name.to_str()?), value))
        })
        .collect();
    records.sort();
    records
}

/// `None` for a path that vanished since it was walked.
fn unless_missing<T>(result: io::Result<T>) -> io::Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn path(bytes: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(bytes))
}

/// Exactly `size` bytes of a file: what it holds, cut or padded with zeros
/// if it changed size since it was measured.
struct Exact<R> {
    inner: R,
    remaining: u64,
    raced: bool,
    padding: bool,
}

impl<R: Read> Exact<R> {
    fn new(inner: R, size: u64) -> Exact<R> {
        Exact {
            inner,
            remaining: size,
            raced: false,
            padding: false,
        }
    }

    /// Whether the file was shorter or longer than expected.
    fn raced(&mut self) -> bool {
        if !self.raced {
            let mut probe = [0u8; 1];
            self.raced = matches!(self.inner.read(&mut probe), Ok(n) if n > 0);
        }
        self.raced
    }
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf.len().min(self.remaining as usize);
        let n = if self.padding {
            buf[..want].fill(0);
            want
        } else {
            match self.inner.read(&mut buf[..want])? {
                0 => {
                    self.raced = true;
                    self.padding = true;
                    buf[..want].fill(0);
                    want
                }
                n => n,
            }
        };
        self.remaining -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_pads_and_cuts() {
        let mut short = Exact::new(&b"ab"[..], 4);
        let mut out = Vec::new();
        short.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"ab\0\0");
        assert!(short.raced());
        let mut long = Exact::new(&b"abcdef"[..], 3);
        let mut out = Vec::new();
        long.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abc");
        assert!(long.raced());
        let mut same = Exact::new(&b"abc"[..], 3);
        let mut out = Vec::new();
        same.read_to_end(&mut out).unwrap();
        assert!(!same.raced());
    }
}
