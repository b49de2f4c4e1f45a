//! Layer blobs: recognising their compression and measuring the
//! uncompressed tar stream (its digest is the layer's diff ID).

use crate::digest::{Digest, Hasher};
use serde::{Deserialize, Serialize};
use std::io::{self, BufRead, Read};

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("decompressing")]
    Io(#[from] io::Error),
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

/// Wraps `input` in the decompressor its first bytes call for.
pub fn decompress<'a, R: BufRead + 'a>(mut input: R) -> io::Result<Box<dyn Read + 'a>> {
    let compression = Compression::sniff(input.fill_buf()?);
    Ok(match compression {
        Compression::None => Box::new(input),
        // MultiGzDecoder: some tools write a layer as concatenated gzip members.
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(input)?),
        // The multi-stream variants, for the same reason as gzip: `cat a.xz
        // b.xz` is a valid xz stream to the command-line tools.
        Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(input)),
        Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(input)),
    })
}

/// Decompresses a whole layer to compute its diff ID and size. The media
/// type is only informational; see [`Compression::sniff`].
pub fn measure<R: BufRead>(_media_type: &str, input: R) -> Result<LayerInfo, LayerError> {
    let mut reader = decompress(input)?;
    let mut hasher = Hasher::new();
    io::copy(&mut reader, &mut hasher)?;
    let size = hasher.len();
    Ok(LayerInfo {
        diff_id: hasher.finish(),
        size,
    })
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
            assert_eq!(measure("", blob).unwrap(), want);
        }
    }

    #[test]
    fn corrupt_gzip_is_an_error() {
        let mut bad = vec![0x1f, 0x8b, 8, 0];
        bad.extend_from_slice(&[0xff; 32]);
        assert!(measure("", &bad[..]).is_err());
    }
}
