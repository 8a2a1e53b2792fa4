//! The IDX format of MNIST and Fashion-MNIST, plain or gzipped.
//!
//! An IDX file is a 4-byte magic number `0x00 0x00 TYPE NDIM`, then `NDIM`
//! big-endian `u32` dimensions, then the elements row-major. Only the `u8`
//! type (`0x08`) is read, which is what MNIST-style datasets use. A file
//! starting with the gzip magic bytes `1f 8b` is decompressed first.

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use kiln_core::{Error, Result};
use std::io::{Read, Write};
use std::path::Path;

/// The type code of `u8` elements.
pub const TYPE_U8: u8 = 0x08;

/// The contents of an IDX file of `u8` elements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    /// The dimensions, outermost first (e.g. `[60000, 28, 28]`).
    pub shape: Vec<usize>,
    /// The elements, row-major; `data.len()` is the product of `shape`.
    pub data: Vec<u8>,
}

/// Reads an IDX file, gzipped or not. Errors: [`Error::Io`] when the file
/// cannot be read, [`Error::Invalid`] (naming the file) for a corrupt gzip
/// stream, a bad magic number, a type other than `u8`, or a payload whose
/// size does not match the header.
pub fn read_idx(path: impl AsRef<Path>) -> Result<IdxArray> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse_idx(&bytes, &path.display().to_string())
}

/// Whether `bytes` start with the gzip magic bytes `1f 8b`.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// Parses the bytes of an IDX file (gzipped or not); `name` (a path or
/// other label) is used in error messages.
pub fn parse_idx(bytes: &[u8], name: &str) -> Result<IdxArray> {
    if is_gzip(bytes) {
        let mut raw = Vec::new();
        MultiGzDecoder::new(bytes)
            .read_to_end(&mut raw)
            .map_err(|e| Error::Invalid(format!("{name}: corrupt gzip stream: {e}")))?;
        parse_raw(&raw, name)
    } else {
        parse_raw(bytes, name)
    }
}

fn invalid(name: &str, msg: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("{name}: not a valid IDX file: {msg}"))
}

fn type_name(code: u8) -> &'static str {
    match code {
        0x08 => "u8",
        0x09 => "i8",
        0x0B => "i16",
        0x0C => "i32",
        0x0D => "f32",
        0x0E => "f64",
        _ => "unknown",
    }
}

/// Parses uncompressed IDX bytes.
fn parse_raw(bytes: &[u8], name: &str) -> Result<IdxArray> {
    if bytes.len() < 4 {
        return Err(invalid(
            name,
            format!(
                "truncated header: {} bytes, the magic number alone needs 4",
                bytes.len()
            ),
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(invalid(
            name,
            format!(
                "bad magic number {:02x} {:02x} {:02x} {:02x} (expected 00 00 <type> <ndim>)",
                bytes[0], bytes[1], bytes[2], bytes[3]
            ),
        ));
    }
    let (code, ndim) = (bytes[2], bytes[3] as usize);
    if code != TYPE_U8 {
        return Err(invalid(
            name,
            format!(
                "unsupported type code 0x{code:02x} ({}); only 0x08 (u8) is supported",
                type_name(code)
            ),
        ));
    }
    if ndim == 0 {
        return Err(invalid(name, "0 dimensions"));
    }
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(invalid(
            name,
            format!(
                "truncated header: {} bytes, {ndim} dimensions need {header}",
                bytes.len()
            ),
        ));
    }
    let shape: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| invalid(name, format!("shape {shape:?} is too large")))?;
    let expected = count
        .checked_add(header)
        .ok_or_else(|| invalid(name, format!("shape {shape:?} is too large")))?;
    if bytes.len() != expected {
        let what = if bytes.len() < expected {
            "truncated data"
        } else {
            "trailing bytes"
        };
        return Err(invalid(
            name,
            format!(
                "{what}: shape {shape:?} needs {expected} bytes ({header} header + {count} data), the file has {}",
                bytes.len()
            ),
        ));
    }
    Ok(IdxArray {
        shape,
        data: bytes[header..].to_vec(),
    })
}

/// Encodes `u8` elements of `shape` as IDX bytes (uncompressed). Errors
/// when `data.len()` is not the product of `shape`, a dimension does not
/// fit in `u32`, or there are more than 255 dimensions.
pub fn encode_idx(shape: &[usize], data: &[u8]) -> Result<Vec<u8>> {
    let count: usize = shape.iter().product();
    if data.len() != count || shape.is_empty() || shape.len() > 255 {
        return Err(Error::Invalid(format!(
            "encode_idx: {} elements cannot have shape {shape:?} (1 to 255 dims, product = length)",
            data.len()
        )));
    }
    let mut out = Vec::with_capacity(4 + 4 * shape.len() + count);
    out.extend_from_slice(&[0, 0, TYPE_U8, shape.len() as u8]);
    for &d in shape {
        let d = u32::try_from(d)
            .map_err(|_| Error::Invalid(format!("encode_idx: dimension {d} exceeds u32")))?;
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    Ok(out)
}

/// Writes an IDX file of `u8` elements, gzipped when `gzip` is true.
pub fn write_idx(path: impl AsRef<Path>, shape: &[usize], data: &[u8], gzip: bool) -> Result<()> {
    let path = path.as_ref();
    let io = |source| Error::Io {
        path: path.display().to_string(),
        source,
    };
    let mut bytes = encode_idx(shape, data)?;
    if gzip {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(&bytes).map_err(io)?;
        bytes = enc.finish().map_err(io)?;
    }
    std::fs::write(path, bytes).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (Vec<usize>, Vec<u8>) {
        (vec![3, 2, 4], (0..24u8).map(|v| v * 10).collect())
    }

    fn err(bytes: &[u8]) -> String {
        parse_idx(bytes, "x.idx").unwrap_err().to_string()
    }

    #[test]
    fn encode_parse_round_trip() {
        let (shape, data) = sample();
        let bytes = encode_idx(&shape, &data).unwrap();
        assert_eq!(&bytes[..8], &[0, 0, 8, 3, 0, 0, 0, 3]);
        assert_eq!(bytes.len(), 16 + 24);
        let a = parse_idx(&bytes, "x").unwrap();
        assert_eq!(a, IdxArray { shape, data });
    }

    #[test]
    fn format_errors_name_the_problem() {
        let (shape, data) = sample();
        let good = encode_idx(&shape, &data).unwrap();

        let mut bad = good.clone();
        bad[0] = 0x42;
        let e = err(&bad);
        assert!(
            e.contains("x.idx") && e.contains("bad magic number 42 00 08 03"),
            "{e}"
        );

        let mut bad = good.clone();
        bad[2] = 0x0D;
        let e = err(&bad);
        assert!(e.contains("unsupported type code 0x0d (f32)"), "{e}");

        let e = err(&good[..good.len() - 1]);
        assert!(
            e.contains("truncated data") && e.contains("needs 40 bytes") && e.contains("has 39"),
            "{e}"
        );

        let mut long = good.clone();
        long.push(0);
        let e = err(&long);
        assert!(e.contains("trailing bytes") && e.contains("has 41"), "{e}");

        let e = err(&good[..10]);
        assert!(
            e.contains("truncated header") && e.contains("need 16"),
            "{e}"
        );
        let e = err(&good[..2]);
        assert!(e.contains("truncated header"), "{e}");
        let e = err(&[]);
        assert!(e.contains("truncated header: 0 bytes"), "{e}");
        let e = err(&[0, 0, 8, 0]);
        assert!(e.contains("0 dimensions"), "{e}");

        // A header whose element count overflows is an error, not a panic
        // or a huge allocation.
        let huge = [
            0, 0, 8, 3, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
        ];
        assert!(parse_idx(&huge, "x").is_err());
    }

    #[test]
    fn corrupt_gzip_is_an_error() {
        let (shape, data) = sample();
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(&encode_idx(&shape, &data).unwrap()).unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(parse_idx(&gz, "x").unwrap().data, data);
        let e = err(&gz[..gz.len() / 2]);
        assert!(e.contains("x.idx: corrupt gzip stream"), "{e}");
        let e = err(&[0x1f, 0x8b]);
        assert!(e.contains("corrupt gzip stream"), "{e}");
    }

    #[test]
    fn encode_rejects_mismatched_shape() {
        assert!(encode_idx(&[2, 2], &[0; 3]).is_err());
        assert!(encode_idx(&[], &[]).is_err());
    }
}
