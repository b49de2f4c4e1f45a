//! Layer blobs: recognising their compression and measuring the
//! uncompressed tar stream (its digest is the layer's diff ID).

use crate::digest::{Digest, Hasher};
use flate2::{Decompress, FlushDecompress, Status};
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::io::{self, BufRead, Read};
use std::rc::Rc;

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
    /// Uncompressed size in bytes: what Docker adds up as an image's size.
    pub size: u64,
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
    let compression = Compression::sniff(input.fill_buf()?);
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
    let mut hasher = Hasher::new();
    // Large reads: the decompressors' per-call cost shows at io::copy's 8 KiB.
    let mut buf = vec![0; 256 << 10];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let size = hasher.len();
    Ok(LayerInfo {
        diff_id: hasher.finish(),
        size,
    })
}

/// A gzip stream of one or more members (some tools concatenate them),
/// inflated without checking each member's CRC-32: a layer's sha256
/// digest already vouches for every byte, and the CRC costs a sixth of
/// the decompression time.
struct Gunzip<R> {
    input: R,
    inflate: Decompress,
    in_member: bool,
}

impl<R: BufRead> Gunzip<R> {
    fn new(input: R) -> Gunzip<R> {
        Gunzip {
            input,
            inflate: Decompress::new(false),
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
                self.inflate.reset(false);
                self.in_member = true;
            }
            let input = self.input.fill_buf()?;
            let at_eof = input.is_empty();
            let (in_before, out_before) = (self.inflate.total_in(), self.inflate.total_out());
            let status = self
                .inflate
                .decompress(input, out, FlushDecompress::None)
                .map_err(|e| invalid(&e.to_string()))?;
            let consumed = (self.inflate.total_in() - in_before) as usize;
            let produced = (self.inflate.total_out() - out_before) as usize;
            self.input.consume(consumed);
            if status == Status::StreamEnd {
                // CRC-32 and size: not checked, see above.
                self.skip(8)?;
                self.in_member = false;
            } else if produced == 0 && (at_eof || consumed == 0) {
                // Out of input mid-stream, or stuck: a truncated or
                // corrupt stream either way.
                return Err(invalid("gzip stream ends early or is corrupt"));
            }
            if produced > 0 {
                return Ok(produced);
            }
        }
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
        let data = b"not really a tar, but bytes all the same".repeat(100);
        let want = LayerInfo {
            diff_id: Digest::of(&data),
            size: data.len() as u64,
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
    fn corrupt_gzip_is_an_error() {
        let mut bad = vec![0x1f, 0x8b, 8, 0];
        bad.extend_from_slice(&[0xff; 32]);
        assert!(measure(&bad[..], bad.len() as u64).is_err());
    }
}
