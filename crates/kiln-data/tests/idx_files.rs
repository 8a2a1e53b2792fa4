//! IDX files on disk: round trips (plain and gzipped) and every corrupt
//! case returning an error with a useful message.

use kiln_core::Error;
use kiln_data::idx::{encode_idx, read_idx, write_idx, IdxArray};
use std::path::PathBuf;

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kiln-data-idx-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn sample() -> IdxArray {
    IdxArray {
        shape: vec![5, 3, 2],
        data: (0..30u8).map(|v| v.wrapping_mul(37)).collect(),
    }
}

#[test]
fn round_trip_plain_and_gzipped() {
    let dir = temp_dir("round-trip");
    let a = sample();
    for gzip in [false, true] {
        let path = dir.join(format!("a-{gzip}.idx"));
        write_idx(&path, &a.shape, &a.data, gzip).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.starts_with(&[0x1f, 0x8b]), gzip);
        assert_eq!(read_idx(&path).unwrap(), a);
    }
    // 1-D (labels-like) too.
    let path = dir.join("labels.idx.gz");
    write_idx(&path, &[4], &[9, 8, 7, 6], true).unwrap();
    let l = read_idx(&path).unwrap();
    assert_eq!((l.shape, l.data), (vec![4], vec![9, 8, 7, 6]));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Writes `bytes` (gzipped if asked) and returns the error message of
/// reading it back.
fn read_err(dir: &std::path::Path, name: &str, bytes: &[u8], gzip: bool) -> String {
    let path = dir.join(name);
    let bytes = if gzip {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    } else {
        bytes.to_vec()
    };
    std::fs::write(&path, bytes).unwrap();
    let e = read_idx(&path).unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains(name), "message should name the file: {msg}");
    msg
}

#[test]
fn corrupt_files_are_errors() {
    let dir = temp_dir("corrupt");
    let a = sample();
    let good = encode_idx(&a.shape, &a.data).unwrap();
    for gzip in [false, true] {
        let mut bad = good.clone();
        bad[1] = 7;
        let e = read_err(&dir, "magic.idx", &bad, gzip);
        assert!(e.contains("bad magic number 00 07 08 03"), "{e}");

        let mut bad = good.clone();
        bad[2] = 0x0C;
        let e = read_err(&dir, "type.idx", &bad, gzip);
        assert!(e.contains("unsupported type code 0x0c (i32)"), "{e}");

        let e = read_err(&dir, "truncated.idx", &good[..good.len() - 5], gzip);
        assert!(
            e.contains("truncated data") && e.contains("needs 46 bytes") && e.contains("has 41"),
            "{e}"
        );

        // The header says 6 items, the payload holds 5: wrong count.
        let mut bad = good.clone();
        bad[7] = 6;
        let e = read_err(&dir, "count.idx", &bad, gzip);
        assert!(
            e.contains("needs 52 bytes (16 header + 36 data), the file has 46"),
            "{e}"
        );

        let e = read_err(&dir, "header.idx", &good[..9], gzip);
        assert!(e.contains("truncated header"), "{e}");
    }
    // A gzip stream cut short.
    let path = dir.join("ok.idx.gz");
    write_idx(&path, &a.shape, &a.data, true).unwrap();
    let gz = std::fs::read(&path).unwrap();
    let e = read_err(&dir, "cut.idx.gz", &gz[..gz.len() - 6], false);
    assert!(e.contains("corrupt gzip stream"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_file_is_an_io_error() {
    let path = temp_dir("missing").join("nope.idx");
    let e = read_idx(&path).unwrap_err();
    match &e {
        Error::Io { path: p, source } => {
            assert!(p.ends_with("nope.idx"));
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected Error::Io, got {other:?}"),
    }
    assert!(e.to_string().contains("nope.idx"));
}
