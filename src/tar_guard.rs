//! A check of tar headers as the bytes stream past, before the `tar` crate
//! reads them. The crate reads a GNU long name, long link name or PAX
//! header whole into memory, whatever size its header declares, and
//! expands a GNU sparse entry to the size it claims; a few KB of
//! compressed layer can so ask for gigabytes. [`TarGuard`] passes the
//! stream through unchanged and fails it, with a short error, as soon as a
//! header asks for more than is sane.

use crate::layer;
use std::io::{self, Read};

/// The longest GNU long name or long link name: Linux's `PATH_MAX` is
/// 4096, with room to spare.
pub const MAX_LONG_NAME: u64 = 16 << 10;
/// The largest PAX header: room for long paths and many xattrs (Linux
/// caps one xattr value at 64 KiB).
pub const MAX_PAX_HEADER: u64 = 1 << 20;

const BLOCK: usize = 512;

#[derive(Debug, thiserror::Error)]
pub enum TarHeaderError {
    #[error("tar entry's {what} is {size} bytes, more than the {limit} allowed")]
    TooLong {
        what: &'static str,
        size: u64,
        limit: u64,
    },
    #[error("tar entry {name:?} is sparse with {size} bytes, more than the {limit} bytes a stream of {stored} bytes may expand to")]
    SparseTooLarge {
        name: String,
        size: u64,
        stored: u64,
        limit: u64,
    },
}

/// Where the stream is: inside a header block, entry data, GNU sparse
/// extension blocks (with the padded data that follows them), or a PAX
/// header or GNU long name being collected.
enum State {
    Header,
    /// A header the tar crate will refuse itself (a field that is not a
    /// number): nothing more to follow.
    Unreadable,
    Data(u64),
    SparseExtension(u64),
    Collect {
        what: Collected,
        remaining: u64,
        padding: u64,
    },
}

/// The entry data [`State::Collect`] gathers: what it sets for the next
/// entry.
#[derive(Clone, Copy)]
enum Collected {
    Pax,
    LongName,
    LongLink,
}

/// An entry's header as [`TarFollower`] passes it on, with what a PAX
/// header or GNU long name before it set.
pub struct EntryHeader<'a> {
    /// The typeflag byte (`b'0'` a file, `b'2'` a symlink, …).
    pub kind: u8,
    /// Bytes of data: a sparse file's full size, not what the archive stores.
    pub size: u64,
    pub path: &'a [u8],
    pub link: &'a [u8],
}

/// What the PAX headers and GNU long names before an entry set for it.
#[derive(Default)]
struct Pending {
    size: Option<u64>,
    path: Option<Vec<u8>>,
    link: Option<Vec<u8>>,
}

/// Follows a tar stream pushed to it in pieces of any length, checks its
/// headers as [`TarGuard`] does, and shows each entry's header to the
/// caller: the guard and a layer's extracted size
/// ([`crate::layer::LayerInfo`]) read the headers the same way.
pub struct TarFollower {
    state: State,
    block: Vec<u8>,
    /// The PAX header or long name being collected.
    collected: Vec<u8>,
    pending: Pending,
    /// Bytes of tar stream passed so far, and what the entries in them
    /// expand to (sparse entries at their full size).
    stored: u64,
    expanded: u64,
}

impl Default for TarFollower {
    fn default() -> TarFollower {
        TarFollower {
            state: State::Header,
            block: Vec::with_capacity(BLOCK),
            collected: Vec::new(),
            pending: Pending::default(),
            stored: 0,
            expanded: 0,
        }
    }
}

impl TarFollower {
    /// Follows `bytes`, the stream's next ones, through the tar structure;
    /// `on_entry` sees every entry's header.
    pub fn follow(
        &mut self,
        mut bytes: &[u8],
        on_entry: &mut dyn FnMut(&EntryHeader),
    ) -> Result<(), TarHeaderError> {
        self.stored += bytes.len() as u64;
        while !bytes.is_empty() {
            match &mut self.state {
                State::Unreadable => return Ok(()),
                State::Data(remaining) => {
                    let n = (*remaining).min(bytes.len() as u64);
                    *remaining -= n;
                    bytes = &bytes[n as usize..];
                    if *remaining == 0 {
                        self.state = State::Header;
                    }
                }
                State::Collect {
                    what,
                    remaining,
                    padding,
                } => {
                    let n = (*remaining).min(bytes.len() as u64) as usize;
                    self.collected.extend_from_slice(&bytes[..n]);
                    *remaining -= n as u64;
                    bytes = &bytes[n..];
                    if *remaining == 0 {
                        let (what, padding) = (*what, *padding);
                        self.collected_whole(what);
                        self.state = data_or_header(padding);
                    }
                }
                State::Header | State::SparseExtension(_) => {
                    let n = (BLOCK - self.block.len()).min(bytes.len());
                    self.block.extend_from_slice(&bytes[..n]);
                    bytes = &bytes[n..];
                    if self.block.len() == BLOCK {
                        let mut block = std::mem::take(&mut self.block);
                        self.state = match self.state {
                            // The last extension block says so in its
                            // `isextended` byte; the entry's data follows.
                            State::SparseExtension(data) if block[504] == 0 => data_or_header(data),
                            State::SparseExtension(data) => State::SparseExtension(data),
                            _ => self.after_header(&block, on_entry)?,
                        };
                        block.clear();
                        self.block = block;
                    }
                }
            }
        }
        Ok(())
    }

    /// Keeps what a whole PAX header or long name sets for the next entry.
    fn collected_whole(&mut self, what: Collected) {
        let collected = std::mem::take(&mut self.collected);
        match what {
            Collected::Pax => {
                for (key, value) in pax_records(&collected) {
                    match key {
                        b"size" => {
                            self.pending.size =
                                std::str::from_utf8(value).ok().and_then(|v| v.parse().ok())
                        }
                        b"path" => self.pending.path = Some(value.to_vec()),
                        b"linkpath" => self.pending.link = Some(value.to_vec()),
                        _ => {}
                    }
                }
            }
            // GNU pads the name with NULs.
            Collected::LongName => self.pending.path = Some(until_nul(&collected).to_vec()),
            Collected::LongLink => self.pending.link = Some(until_nul(&collected).to_vec()),
        }
    }

    fn after_header(
        &mut self,
        header: &[u8],
        on_entry: &mut dyn FnMut(&EntryHeader),
    ) -> Result<State, TarHeaderError> {
        if header.iter().all(|&b| b == 0) {
            return Ok(State::Header);
        }
        let Some(mut size) = number(&header[124..136]) else {
            return Ok(State::Unreadable);
        };
        let kind = header[156];
        // Saturating: a base-256 size field can claim nearly 2^64 bytes.
        let padded = |size: u64| size.div_ceil(BLOCK as u64).saturating_mul(BLOCK as u64);
        let collect = |what, size: u64| {
            if size == 0 {
                State::Header
            } else {
                State::Collect {
                    what,
                    remaining: size,
                    padding: padded(size) - size,
                }
            }
        };
        match kind {
            b'L' => {
                check_len("long name", size, MAX_LONG_NAME)?;
                return Ok(collect(Collected::LongName, size));
            }
            b'K' => {
                check_len("long link name", size, MAX_LONG_NAME)?;
                return Ok(collect(Collected::LongLink, size));
            }
            b'x' | b'g' => {
                check_len("PAX header", size, MAX_PAX_HEADER)?;
                return Ok(collect(Collected::Pax, size));
            }
            _ => {}
        }
        let pending = std::mem::take(&mut self.pending);
        if let Some(pax) = pending.size {
            size = pax;
        }
        let mut full = size;
        if kind == b'S' {
            let Some(real) = number(&header[483..495]) else {
                return Ok(State::Unreadable);
            };
            self.expand(header, real)?;
            full = real;
        } else {
            self.expanded = self.expanded.saturating_add(size);
        }
        // The ustar prefix (345..500) goes before the name when set.
        let joined;
        let path = match &pending.path {
            Some(path) => path.as_slice(),
            None if header[257..262] == *b"ustar" && header[345] != 0 => {
                joined = [
                    until_nul(&header[345..500]),
                    b"/",
                    until_nul(&header[..100]),
                ]
                .concat();
                &joined
            }
            None => until_nul(&header[..100]),
        };
        let link = pending
            .link
            .as_deref()
            .unwrap_or_else(|| until_nul(&header[157..257]));
        on_entry(&EntryHeader {
            kind,
            size: full,
            path,
            link,
        });
        if kind == b'S' && header[482] != 0 {
            return Ok(State::SparseExtension(padded(size)));
        }
        Ok(data_or_header(padded(size)))
    }

    /// Counts a sparse entry's full size against what the stream so far
    /// may expand to, as [`layer::expansion_limit`] bounds decompression.
    fn expand(&mut self, header: &[u8], real: u64) -> Result<(), TarHeaderError> {
        self.expanded = self.expanded.saturating_add(real);
        let limit = layer::expansion_limit(self.stored);
        if self.expanded > limit {
            return Err(TarHeaderError::SparseTooLarge {
                name: String::from_utf8_lossy(until_nul(&header[..100])).into_owned(),
                size: real,
                stored: self.stored,
                limit,
            });
        }
        Ok(())
    }
}

pub struct TarGuard<R> {
    inner: R,
    follower: TarFollower,
    failed: Option<TarHeaderError>,
}

impl<R: Read> TarGuard<R> {
    pub fn new(inner: R) -> TarGuard<R> {
        TarGuard {
            inner,
            follower: TarFollower::default(),
            failed: None,
        }
    }

    /// The stream, for reading what follows the archive.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for TarGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = &self.failed {
            return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string()));
        }
        let n = self.inner.read(buf)?;
        if let Err(e) = self.follower.follow(&buf[..n], &mut |_| {}) {
            let error = io::Error::new(io::ErrorKind::InvalidData, e.to_string());
            self.failed = Some(e);
            return Err(error);
        }
        Ok(n)
    }
}

/// A NUL-terminated field's text.
fn until_nul(field: &[u8]) -> &[u8] {
    &field[..field.iter().position(|&b| b == 0).unwrap_or(field.len())]
}

/// Entry data of `size` padded bytes, or the next header when there is none.
fn data_or_header(size: u64) -> State {
    if size == 0 {
        State::Header
    } else {
        State::Data(size)
    }
}

fn check_len(what: &'static str, size: u64, limit: u64) -> Result<(), TarHeaderError> {
    if size > limit {
        return Err(TarHeaderError::TooLong { what, size, limit });
    }
    Ok(())
}

/// A tar number field: octal text, or GNU's base-256 with the high bit
/// set. `None` when it is neither.
fn number(field: &[u8]) -> Option<u64> {
    if field[0] & 0x80 != 0 {
        // Base-256: big-endian after the marker bit; more than 8 bytes of
        // value would not fit a u64.
        let (head, tail) = field.split_at(field.len() - 8);
        if head.iter().skip(1).any(|&b| b != 0) || head[0] & 0x7f != 0 {
            return None;
        }
        return Some(tail.iter().fold(0, |n, &b| n << 8 | u64::from(b)));
    }
    let text: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|&b| b == b' ')
        .take_while(|&b| b != 0 && b != b' ')
        .collect();
    if text.is_empty() {
        return Some(0);
    }
    std::str::from_utf8(&text)
        .ok()
        .and_then(|t| u64::from_str_radix(t, 8).ok())
}

/// A PAX header's records (`LEN key=value\n`), up to the first that is
/// malformed: the tar crate judges those.
fn pax_records(records: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut rest = records;
    std::iter::from_fn(move || {
        let space = rest.iter().position(|&b| b == b' ')?;
        let len = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|l| l.parse::<usize>().ok())
            .filter(|&l| l > space && l <= rest.len())?;
        let record = &rest[space + 1..len];
        rest = &rest[len..];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        let equals = record.iter().position(|&b| b == b'=')?;
        Some((&record[..equals], &record[equals + 1..]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `tar` through the guard and the tar crate; the entries' paths.
    fn read_all(tar: &[u8]) -> io::Result<Vec<String>> {
        let mut archive = tar::Archive::new(TarGuard::new(tar));
        let mut paths = Vec::new();
        for entry in archive.entries()? {
            let mut entry = entry?;
            paths.push(entry.path()?.to_string_lossy().into_owned());
            io::copy(&mut entry, &mut io::sink())?;
        }
        Ok(paths)
    }

    fn header(name: &str, kind: u8, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_path(name).unwrap();
        h.set_size(size);
        h.set_entry_type(tar::EntryType::new(kind));
        h.set_mode(0o644);
        h.set_cksum();
        h
    }

    /// One raw entry: header and padded data.
    fn entry(h: &tar::Header, data: &[u8]) -> Vec<u8> {
        let mut out = h.as_bytes().to_vec();
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
        out
    }

    fn end() -> Vec<u8> {
        vec![0; 2 * BLOCK]
    }

    #[test]
    fn ordinary_archives_pass_unchanged() {
        let mut builder = tar::Builder::new(Vec::new());
        let long = format!("{}/file", "d".repeat(300));
        let mut h = tar::Header::new_gnu();
        h.set_size(5);
        h.set_mode(0o644);
        builder.append_data(&mut h, &long, &b"hello"[..]).unwrap();
        let mut pax = tar::Builder::new(Vec::new());
        pax.append_pax_extensions([("path", "p/x".as_bytes()), ("size", b"3")])
            .unwrap();
        let mut data = pax.into_inner().unwrap();
        // `x` then the file whose size the PAX header gives: 3, not 0.
        data.truncate(data.len() - 2 * BLOCK);
        data.extend(entry(&header("short", b'0', 0), b"abc"));
        let mut archive = builder.into_inner().unwrap();
        archive.truncate(archive.len() - 2 * BLOCK);
        archive.extend(data);
        archive.extend(end());
        assert_eq!(read_all(&archive).unwrap(), [long, "p/x".to_string()]);
    }

    #[test]
    fn a_huge_long_name_is_refused_from_its_header() {
        let mut tar = header("././@LongLink", b'L', 900 << 20).as_bytes().to_vec();
        tar.extend(vec![b'a'; 64 << 10]);
        let e = read_all(&tar).unwrap_err();
        assert_eq!(
            e.to_string(),
            "tar entry's long name is 943718400 bytes, more than the 16384 allowed"
        );
    }

    #[test]
    fn a_huge_pax_header_is_refused() {
        let tar = header("pax", b'x', 2 << 20).as_bytes().to_vec();
        let e = read_all(&tar).unwrap_err();
        assert!(e.to_string().contains("PAX header is 2097152 bytes"), "{e}");
    }

    /// A GNU sparse entry that stores nothing and claims `real` bytes.
    fn sparse(real: u64) -> Vec<u8> {
        let mut h = header("holes", b'S', 0);
        let bytes = h.as_mut_bytes();
        let field = format!("{real:011o}\0");
        bytes[483..495].copy_from_slice(field.as_bytes());
        h.set_cksum();
        let mut tar = entry(&h, b"");
        tar.extend(end());
        tar
    }

    #[test]
    fn a_sparse_entry_counts_at_its_full_size() {
        let e = TarGuard::new(&sparse(3 << 30)[..])
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("tar entry \"holes\" is sparse with 3221225472 bytes"),
            "{e}"
        );
        TarGuard::new(&sparse(1 << 20)[..])
            .read_to_end(&mut Vec::new())
            .unwrap();
    }

    #[test]
    fn a_base256_size_near_the_u64_limit_is_passed_through() {
        // A file claiming 2^64 - 1 bytes in GNU's base-256 form: padding it
        // to whole blocks used to overflow (a fuzzer's find).
        let mut h = header("huge", b'0', 0);
        let bytes = h.as_mut_bytes();
        bytes[124] = 0x80;
        bytes[125..128].fill(0);
        bytes[128..136].fill(0xff);
        h.set_cksum();
        let tar = h.as_bytes().to_vec();
        let mut passed = Vec::new();
        TarGuard::new(&tar[..]).read_to_end(&mut passed).unwrap();
        assert_eq!(passed, tar);
    }

    #[test]
    fn entries_after_a_pax_size_are_found_where_they_are() {
        // The PAX size (1024) says where the next header is; the file
        // header's own size field (0) would put it 1024 bytes too early.
        let mut tar = entry(&header("pax", b'x', 12), b"12 size=1024");
        tar.extend(entry(&header("f", b'0', 0), &[b'L'; 1024]));
        tar.extend(header("././@LongLink", b'L', 1 << 20).as_bytes());
        let e = TarGuard::new(&tar[..])
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(e.to_string().contains("long name is 1048576 bytes"), "{e}");
    }
}
