//! Layer blobs: recognising their compression and measuring the
//! uncompressed tar stream (its digest is the layer's diff ID).

use crate::digest::{Digest, Hasher};
use crate::tar_guard::TarFollower;
use isal_sys::igzip_lib as isal;
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::io::{self, BufRead, Read};
use std::rc::Rc;
use std::sync::mpsc;

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("decompressing")]
    Io(#[from] io::Error),
}

/// How many times its compressed size a stream may expand to. Deflate
/// cannot exceed 1032:1 (a 258-byte match in two bits), so no gzip layer
/// — what Docker, BuildKit and Podman write by default — ever comes near
/// it; twice that leaves a margin, as libhtp's bomb limit does. zstd
/// (RLE blocks: 32768:1), xz and bzip2 go far beyond on runs of one byte.
pub const MAX_EXPANSION_RATIO: u64 = 2048;

/// Whatever its ratio, a stream may always expand this far: a layer
/// holding little but a big file of zeros (a preallocated database or
/// swap file) is legitimate, and zstd packs 1 GiB of zeros into 33 KB.
pub const MIN_EXPANSION_LIMIT: u64 = 1 << 30;

/// The most bytes `compressed` bytes may decompress to before rimg calls
/// the stream a decompression bomb and stops. Every decompression rimg
/// does (`pull`, `load`, `create`, `save`, `import`, image sizes) is
/// bounded by it, so the disk and CPU a hostile image or archive costs
/// stay proportional to what its sender declared or sent.
pub fn expansion_limit(compressed: u64) -> u64 {
    compressed
        .saturating_mul(MAX_EXPANSION_RATIO)
        .max(MIN_EXPANSION_LIMIT)
}

/// A stream refused for expanding beyond [`expansion_limit`].
#[derive(Debug, thiserror::Error)]
#[error(
    "decompressed data exceeds {limit} bytes, the most {compressed} compressed bytes may \
     expand to ({MAX_EXPANSION_RATIO} times as many, and at least {MIN_EXPANSION_LIMIT}): \
     refused as a decompression bomb"
)]
pub struct Expanded {
    pub limit: u64,
    pub compressed: u64,
}

impl Expanded {
    /// Refuses `produced` bytes from `compressed` if they are beyond the
    /// limit.
    pub fn check(produced: u64, compressed: u64) -> Result<(), Expanded> {
        let limit = expansion_limit(compressed);
        if produced > limit {
            return Err(Expanded { limit, compressed });
        }
        Ok(())
    }
}

/// What a layer is once decompressed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerInfo {
    #[serde(rename = "diffID")]
    pub diff_id: Digest,
    /// The uncompressed tar stream's length.
    #[serde(rename = "tarSize")]
    pub tar_size: u64,
    /// The layer's size once extracted, as Docker measures it: what
    /// `images`, `history`, `inspect` and `system df` add up.
    pub size: u64,
}

/// A layer's size once extracted, measured from its tar stream as it goes
/// by: what Docker's overlay2 driver measures on the extracted directory
/// (`directory.Size`), the sum of `st_size` over every entry that is not a
/// directory. A file counts its length (a sparse one its full length), a
/// symlink its target's, a hard link nothing (its inode is counted once,
/// at its first name), a whiteout, device or FIFO nothing. Docker refuses
/// a layer naming a path twice, so no entry replaces another.
#[derive(Default)]
pub struct ExtractedSize {
    follower: TarFollower,
    size: u64,
    /// The stream stopped making sense as a tar: what was counted stays.
    broken: bool,
}

impl ExtractedSize {
    /// Follows the tar stream's next bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        if self.broken {
            return;
        }
        let size = &mut self.size;
        let followed = self.follower.follow(bytes, &mut |entry| {
            let is_whiteout = entry
                .path
                .rsplit(|&b| b == b'/')
                .find(|name| !name.is_empty())
                .is_some_and(|name| name.starts_with(b".wh."));
            let counted = match entry.kind {
                _ if is_whiteout => 0,
                b'0' | 0 | b'7' | b'S' => entry.size,
                b'2' => entry.link.len() as u64,
                _ => 0,
            };
            *size = size.saturating_add(counted);
        });
        self.broken = followed.is_err();
    }

    pub fn size(&self) -> u64 {
        self.size
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
    /// Not a layer format any OCI media type names, but `docker save`
    /// archives piped through `bzip2` or `xz` are loaded, and Docker's own
    /// loader accepts them for legacy layers too.
    Bzip2,
    Xz,
}

/// The longest magic number [`Compression::sniff`] looks at (xz's).
const MAGIC_LEN: usize = 6;

impl Compression {
    /// Recognises the compression from the first bytes. The media type is
    /// not trusted for this: registries and tools mislabel layers often
    /// enough (Docker's `tar.gzip` type on plain tars, for one).
    pub fn sniff(head: &[u8]) -> Compression {
        match head {
            [0x1f, 0x8b, ..] => Compression::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
            [b'B', b'Z', b'h', ..] => Compression::Bzip2,
            [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Compression::Xz,
            _ => Compression::None,
        }
    }
}

/// Wraps `input` in the decompressor its first bytes call for, bounded by
/// [`expansion_limit`] of `compressed_size` — the input's whole size when
/// it is known (a blob, a file), else of the bytes read so far (a pipe).
/// Past the limit, reads fail with an [`Expanded`] error.
pub fn decompress<'a, R: BufRead + 'a>(
    mut input: R,
    compressed_size: Option<u64>,
) -> io::Result<Box<dyn Read + 'a>> {
    // The magic is read whole rather than taken from the first buffer: a
    // network chunk or a pipe's first write may be shorter than it.
    let mut magic = Vec::with_capacity(MAGIC_LEN);
    input
        .by_ref()
        .take(MAGIC_LEN as u64)
        .read_to_end(&mut magic)?;
    let compression = Compression::sniff(&magic);
    let input = io::Cursor::new(magic).chain(input);
    let consumed = Rc::new(Cell::new(0));
    let counted = Counted {
        inner: input,
        consumed: consumed.clone(),
    };
    let decoder: Box<dyn Read + 'a> = match compression {
        // A plain stream yields what it is given: nothing to bound.
        Compression::None => return Ok(Box::new(counted.inner)),
        Compression::Gzip => Box::new(Gunzip::new(counted)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(counted)?),
        // The multi-stream variants, for the same reason as gzip: `cat a.xz
        // b.xz` is a valid xz stream to the command-line tools.
        Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(counted)),
        Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(counted)),
    };
    Ok(Box::new(Bounded {
        inner: decoder,
        produced: 0,
        compressed_size,
        consumed,
    }))
}

/// Counts the compressed bytes a decoder consumes.
struct Counted<R> {
    inner: R,
    consumed: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed.set(self.consumed.get() + n as u64);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counted<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        self.consumed.set(self.consumed.get() + n as u64);
        self.inner.consume(n);
    }
}

/// A decoder's output, cut off with an error past the expansion limit.
struct Bounded<'a> {
    inner: Box<dyn Read + 'a>,
    produced: u64,
    compressed_size: Option<u64>,
    consumed: Rc<Cell<u64>>,
}

impl Read for Bounded<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.produced += n as u64;
        let compressed = self.compressed_size.unwrap_or(self.consumed.get());
        Expanded::check(self.produced, compressed)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(n)
    }
}

/// Decompresses a whole layer of `compressed_size` bytes to compute its
/// diff ID and size; see [`Compression::sniff`] for why no media type.
pub fn measure<R: BufRead>(input: R, compressed_size: u64) -> Result<LayerInfo, LayerError> {
    let mut reader = decompress(input, Some(compressed_size))?;
    // The hash runs on a thread of its own, fed whole buffers: a large
    // layer's decompression and diff ID then use two cores, which shortens
    // the layer that bounds a pull. Four buffers go round, so memory stays
    // at 1 MiB whatever the layer's size.
    let (full, to_hash) = mpsc::sync_channel::<(Vec<u8>, usize)>(BUFFERS);
    let (hashed, empty) = mpsc::channel::<Vec<u8>>();
    for _ in 0..BUFFERS {
        // Cannot fail: `empty` is alive.
        let _ = hashed.send(vec![0; BUFFER]);
    }
    std::thread::scope(|scope| {
        let hashing = scope.spawn(move || {
            let mut hasher = Hasher::new();
            let mut extracted = ExtractedSize::default();
            for (buf, n) in to_hash {
                hasher.update(&buf[..n]);
                extracted.update(&buf[..n]);
                // The reader may have stopped already: then nobody waits.
                let _ = hashed.send(buf);
            }
            (hasher, extracted)
        });
        let read: io::Result<()> = (|| loop {
            // The hashing thread hands every buffer back until it ends.
            let Ok(mut buf) = empty.recv() else {
                return Ok(());
            };
            let n = loop {
                match reader.read(&mut buf) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    other => break other?,
                }
            };
            if n == 0 || full.send((buf, n)).is_err() {
                return Ok(());
            }
        })();
        drop(full);
        let (hasher, extracted) = hashing
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        read.map_err(LayerError::Io)?;
        Ok(LayerInfo {
            tar_size: hasher.len(),
            diff_id: hasher.finish(),
            size: extracted.size(),
        })
    })
}

/// Buffers between decompression and hashing, and their size: large
/// reads, as the decompressors' per-call cost shows at io::copy's 8 KiB.
const BUFFERS: usize = 4;
const BUFFER: usize = 256 << 10;

/// A gzip stream of one or more members (some tools concatenate them),
/// inflated by ISA-L's igzip: a quarter less CPU than zlib-rs on real
/// layers, which is most of what a pull spends. igzip checks each member's
/// CRC-32 and size as it goes, at no measurable cost. The member headers
/// are parsed here: igzip loses a header's flags when it arrives split
/// across calls, as network chunks may split it.
struct Gunzip<R> {
    input: R,
    /// 85 KiB of history and tables: boxed, and reused across members.
    state: Box<isal::inflate_state>,
    in_member: bool,
}

impl<R: BufRead> Gunzip<R> {
    fn new(input: R) -> Gunzip<R> {
        // SAFETY: `inflate_state` is plain C data (integers, arrays, raw
        // pointers) for which all-zero bytes are a valid value, and
        // `isal_inflate_init` only writes into the state it is given.
        let mut state = unsafe {
            let mut zeroed = Box::<isal::inflate_state>::new_uninit();
            zeroed.as_mut_ptr().write_bytes(0, 1);
            let mut state = zeroed.assume_init();
            isal::isal_inflate_init(&mut *state);
            state
        };
        // Raw deflate, then the trailer checked against what came out.
        state.crc_flag = isal::ISAL_GZIP_NO_HDR_VER;
        Gunzip {
            input,
            state,
            in_member: false,
        }
    }

    /// Skips a member header (RFC 1952 section 2.3).
    fn skip_header(&mut self) -> io::Result<()> {
        let mut fixed = [0u8; 10];
        self.input.read_exact(&mut fixed)?;
        if fixed[..3] != [0x1f, 0x8b, 8] {
            return Err(invalid("invalid gzip header"));
        }
        let flags = fixed[3];
        if flags & 0x04 != 0 {
            let mut len = [0u8; 2];
            self.input.read_exact(&mut len)?;
            self.skip(u16::from_le_bytes(len).into())?;
        }
        for flag in [0x08, 0x10] {
            // File name, comment: zero-terminated.
            if flags & flag != 0 {
                self.input.skip_until(0)?;
            }
        }
        if flags & 0x02 != 0 {
            self.skip(2)?;
        }
        Ok(())
    }

    fn skip(&mut self, n: u64) -> io::Result<()> {
        if io::copy(&mut (&mut self.input).take(n), &mut io::sink())? != n {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }
}

impl<R: BufRead> Read for Gunzip<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.in_member {
                if self.input.fill_buf()?.is_empty() {
                    return Ok(0);
                }
                self.skip_header()?;
                // SAFETY: the state was set up by `isal_inflate_init`.
                unsafe { isal::isal_inflate_reset(&mut *self.state) };
                self.in_member = true;
            }
            let input = self.input.fill_buf()?;
            let at_eof = input.is_empty();
            // Both lengths are counters of at most u32::MAX: longer buffers
            // are simply used in part.
            let avail_in = input.len().min(u32::MAX as usize) as u32;
            let avail_out = out.len().min(u32::MAX as usize) as u32;
            let state = &mut *self.state;
            state.next_in = input.as_ptr().cast_mut();
            state.avail_in = avail_in;
            state.next_out = out.as_mut_ptr();
            state.avail_out = avail_out;
            // SAFETY: `next_in`/`avail_in` and `next_out`/`avail_out`
            // describe live buffers for the length of the call; igzip reads
            // only the first and writes only the second, and keeps no
            // pointer into either once it returns (its history is copied
            // into the state).
            let status = unsafe { isal::isal_inflate(state) };
            let (left_in, left_out) = (state.avail_in, state.avail_out);
            state.next_in = std::ptr::null_mut();
            state.next_out = std::ptr::null_mut();
            if status < 0 {
                return Err(invalid(inflate_error(status)));
            }
            // On some corrupt streams igzip hands back more input than it
            // was given (bits it had buffered from earlier calls).
            let (Some(consumed), Some(produced)) = (
                avail_in.checked_sub(left_in),
                avail_out.checked_sub(left_out),
            ) else {
                return Err(invalid(inflate_error(isal::ISAL_INVALID_BLOCK)));
            };
            let (consumed, produced) = (consumed as usize, produced as usize);
            self.input.consume(consumed);
            // Finished means the trailer is read and checked too; the
            // input is left exactly at the next member, if any.
            self.in_member = state.block_state != isal::isal_block_state_ISAL_BLOCK_FINISH;
            if produced > 0 {
                return Ok(produced);
            }
            if self.in_member && (at_eof || consumed == 0) {
                // Out of input mid-member, or stuck: a truncated or corrupt
                // stream either way.
                return Err(invalid("gzip stream ends early or is corrupt"));
            }
        }
    }
}

/// igzip's error codes in words.
fn inflate_error(status: i32) -> &'static str {
    match status {
        isal::ISAL_UNSUPPORTED_METHOD => "gzip member is not deflate-compressed",
        isal::ISAL_INCORRECT_CHECKSUM => "gzip checksum mismatch",
        _ => "corrupt deflate data in gzip stream",
    }
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn measures_every_compression_alike() {
        let data = docker_sized_tar();
        let want = LayerInfo {
            diff_id: Digest::of(&data),
            tar_size: data.len() as u64,
            size: DOCKER_SIZE,
        };
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&data[..], 3).unwrap();
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        bz.write_all(&data).unwrap();
        let bz = bz.finish().unwrap();
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(&data).unwrap();
        let xz = xz.finish().unwrap();
        for blob in [&data[..], &gz[..], &zst[..], &bz[..], &xz[..]] {
            assert_eq!(measure(blob, blob.len() as u64).unwrap(), want);
        }
    }

    /// What Docker 20.10 (overlay2) reports for [`docker_sized_tar`]
    /// imported: `images` 343B, `inspect -f {{.Size}}` 343.
    const DOCKER_SIZE: u64 = 343;

    /// A layer with every kind of entry Docker counts differently: files
    /// (22 + 100 bytes), a hard link to one (counted once), a symlink (its
    /// target's 18 bytes), a whiteout, a directory, a FIFO, a file with a
    /// GNU long name (3 bytes) and a symlink with a GNU long target (200).
    fn docker_sized_tar() -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        let mut add = |path: &str, kind: tar::EntryType, data: &[u8], link: &str| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            if link.is_empty() {
                tar.append_data(&mut h, path, data).unwrap();
            } else {
                tar.append_link(&mut h, path, link).unwrap();
            }
        };
        add("d", tar::EntryType::Directory, b"", "");
        add("d/a", tar::EntryType::Regular, &[b'x'; 22], "");
        add("d/b", tar::EntryType::Link, b"", "d/a");
        add("d/s", tar::EntryType::Symlink, b"", "a/very/long/target");
        add("d/c", tar::EntryType::Regular, &[b'y'; 100], "");
        add("d/.wh.gone", tar::EntryType::Regular, b"", "");
        add(&"x".repeat(150), tar::EntryType::Regular, b"qqq", "");
        add("l", tar::EntryType::Symlink, b"", &"t".repeat(200));
        add("f", tar::EntryType::Fifo, b"", "");
        tar.into_inner().unwrap()
    }

    #[test]
    fn extracted_size_is_dockers_in_pieces_of_any_length() {
        let data = docker_sized_tar();
        for piece in [1, 7, 512, 4096] {
            let mut extracted = ExtractedSize::default();
            for chunk in data.chunks(piece) {
                extracted.update(chunk);
            }
            assert_eq!(extracted.size(), DOCKER_SIZE, "in pieces of {piece}");
        }
    }

    #[test]
    fn extracted_size_reads_pax_paths_and_link_paths() {
        // Docker 20.10: 150, a symlink with a PAX `linkpath` and a hard
        // link to it.
        let mut tar = tar::Builder::new(Vec::new());
        let long = "p".repeat(120);
        tar.append_pax_extensions([("path", long.as_bytes()), ("linkpath", &[b'u'; 150][..])])
            .unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_path("p").unwrap();
        h.set_size(0);
        h.set_cksum();
        tar.append(&h, &b""[..]).unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Link);
        h.set_size(0);
        tar.append_link(&mut h, "h", &long).unwrap();
        let data = tar.into_inner().unwrap();
        let mut extracted = ExtractedSize::default();
        extracted.update(&data);
        assert_eq!(extracted.size(), 150);
    }

    #[test]
    fn gzip_members_with_header_fields_concatenate() {
        let gz = |data: &[u8], builder: flate2::GzBuilder| {
            let mut enc = builder.write(Vec::new(), flate2::Compression::default());
            enc.write_all(data).unwrap();
            enc.finish().unwrap()
        };
        let mut blob = gz(b"first ", flate2::GzBuilder::new());
        blob.extend(gz(
            b"second",
            flate2::GzBuilder::new()
                .filename("f.tar")
                .comment("c")
                .extra(vec![1, 2, 3]),
        ));
        let mut out = Vec::new();
        decompress(&blob[..], None)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"first second");
        // Cut short anywhere inside the last member: an error, never a
        // silently short layer.
        for cut in [blob.len() - 12, blob.len() - 4] {
            let mut out = Vec::new();
            let result = decompress(&blob[..cut], None)
                .unwrap()
                .read_to_end(&mut out);
            assert!(result.is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn the_expansion_limit_is_a_ratio_over_a_floor() {
        assert_eq!(expansion_limit(0), MIN_EXPANSION_LIMIT);
        assert_eq!(expansion_limit(1 << 20), 2 << 30);
        assert_eq!(expansion_limit(u64::MAX), u64::MAX);
        assert!(Expanded::check(MIN_EXPANSION_LIMIT, 1).is_ok());
        assert!(Expanded::check(MIN_EXPANSION_LIMIT + 1, 1).is_err());
    }

    #[test]
    fn compression_is_recognised_from_a_magic_split_across_reads() {
        // One byte per read, as a slow pipe or a small first network chunk
        // hands it over: the zstd magic must still be seen as one.
        let data = b"layer bytes ".repeat(1000);
        let blob = zstd::encode_all(&data[..], 3).unwrap();
        let mut out = Vec::new();
        decompress(io::BufReader::with_capacity(1, &blob[..]), None)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert!(out == data, "{} bytes, not the layer", out.len());
    }

    #[test]
    fn gzip_split_into_single_bytes_inflates_alike() {
        // Headers, blocks and trailers cut anywhere: network chunks do.
        let data = b"bytes and more bytes ".repeat(5000);
        let mut blob = Vec::new();
        for builder in [
            flate2::GzBuilder::new().filename("f"),
            flate2::GzBuilder::new().comment("c").extra(vec![1, 2, 3]),
        ] {
            let mut gz = builder.write(Vec::new(), flate2::Compression::default());
            gz.write_all(&data).unwrap();
            blob.extend(gz.finish().unwrap());
        }
        let mut reader = Gunzip::new(io::BufReader::with_capacity(1, &blob[..]));
        let mut out = Vec::new();
        let mut byte = [0u8; 1];
        while reader.read(&mut byte).unwrap() == 1 {
            out.push(byte[0]);
        }
        assert!(out == data.repeat(2), "{} bytes differ", out.len());
    }

    #[test]
    fn gzip_checksum_mismatch_is_an_error() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"some layer").unwrap();
        let mut blob = gz.finish().unwrap();
        let crc = blob.len() - 8;
        blob[crc] ^= 1;
        let err = measure(&blob[..], blob.len() as u64).unwrap_err();
        assert!(err.to_string().contains("decompressing"), "{err}");
    }

    #[test]
    fn corrupt_gzip_that_igzip_rewinds_on_is_an_error() {
        // Found by the `gunzip` fuzz target: igzip handed back more input
        // than it was given, and the subtraction overflowed.
        let bad = [
            0x1f, 0x8b, 8, 0, 0, 0xff, 0xff, 0x2e, 0xfa, 0xfa, 0xfa, 0x74, 0x2d, 0xcb, 0xca, 0xa3,
            0x23, 0x1b, 0xff, 0x66, 0x2e, 0, 0xeb, 0x87, 0x0b, 0x4b, 0xc9, 0x78, 0, 0, 0, 0, 0,
        ];
        assert!(measure(&bad[..], bad.len() as u64).is_err());
    }

    #[test]
    fn corrupt_gzip_is_an_error() {
        let mut bad = vec![0x1f, 0x8b, 8, 0];
        bad.extend_from_slice(&[0xff; 32]);
        assert!(measure(&bad[..], bad.len() as u64).is_err());
    }
}
