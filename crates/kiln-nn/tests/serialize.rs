//! safetensors save/load, strict module loading, atomic writes, checkpoints
//! and PyTorch interop.

use half::{bf16, f16};
use kiln_core::ops::creation::randn;
use kiln_core::random::{self, Key};
use kiln_core::{DType, Tensor};
use kiln_nn::layers::Linear;
use kiln_nn::loss::{mse_loss, Reduction};
use kiln_nn::optim::{Adam, Optimizer};
use kiln_nn::serialize::{self, Checkpoint};
use kiln_nn::{state_dict, Module};
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

struct Mlp {
    fc1: Linear,
    fc2: Linear,
}
kiln_nn::module!(Mlp { fc1, fc2 }, |this, x| {
    this.fc2.forward(&this.fc1.forward(x).relu())
});

fn mlp(i: usize, h: usize, o: usize, seed: u64) -> Mlp {
    let k = Key::new(seed).split(2);
    Mlp {
        fc1: Linear::new(i, h, true, k[0]),
        fc2: Linear::new(h, o, true, k[1]),
    }
}

/// A fresh, empty directory unique to `name` and this process.
fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kiln-ser-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn temp_files(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect()
}

fn bits(t: &Tensor) -> Vec<u32> {
    t.to_vec::<f32>()
        .unwrap()
        .iter()
        .map(|v| v.to_bits())
        .collect()
}

fn err_msg<T: std::fmt::Debug>(r: kiln_core::Result<T>) -> String {
    match r {
        Ok(v) => panic!("expected an error, got Ok({v:?})"),
        Err(e) => e.to_string(),
    }
}

// ---------------------------------------------------------------------------
// round trips
// ---------------------------------------------------------------------------

#[test]
fn roundtrip_every_dtype() {
    let dir = tmpdir("dtypes");
    let path = dir.join("all.safetensors");
    let s = &[2, 3];
    let named: Vec<(String, Tensor)> = vec![
        (
            "bool".into(),
            Tensor::from_vec(vec![true, false, true, true, false, false], s).unwrap(),
        ),
        (
            "u8".into(),
            Tensor::from_vec(vec![0u8, 1, 2, 127, 128, 255], s).unwrap(),
        ),
        (
            "u32".into(),
            Tensor::from_vec(vec![0u32, 1, 65536, u32::MAX, 7, 9], s).unwrap(),
        ),
        (
            "i8".into(),
            Tensor::from_vec(vec![i8::MIN, -1, 0, 1, 5, i8::MAX], s).unwrap(),
        ),
        (
            "i16".into(),
            Tensor::from_vec(vec![i16::MIN, -300, 0, 1, 300, i16::MAX], s).unwrap(),
        ),
        (
            "i32".into(),
            Tensor::from_vec(vec![i32::MIN, -70000, 0, 1, 70000, i32::MAX], s).unwrap(),
        ),
        (
            "i64".into(),
            Tensor::from_vec(vec![i64::MIN, -(1 << 40), 0, 1, 1 << 40, i64::MAX], s).unwrap(),
        ),
        (
            "f16".into(),
            Tensor::from_vec(
                [0.0f32, -1.5, 65504.0, 1e-4, -0.0, 3.140625]
                    .iter()
                    .map(|&v| f16::from_f32(v))
                    .collect::<Vec<_>>(),
                s,
            )
            .unwrap(),
        ),
        (
            "bf16".into(),
            Tensor::from_vec(
                [0.0f32, -1.5, 3.0e38, 1e-30, -0.0, 3.140625]
                    .iter()
                    .map(|&v| bf16::from_f32(v))
                    .collect::<Vec<_>>(),
                s,
            )
            .unwrap(),
        ),
        (
            "f32".into(),
            Tensor::from_vec(
                vec![0.0f32, -1.5, f32::MAX, f32::MIN_POSITIVE, -0.0, 1e-45],
                s,
            )
            .unwrap(),
        ),
        (
            "f64".into(),
            Tensor::from_vec(vec![0.0f64, -1.5, f64::MAX, 1e-300, -0.0, 5e-324], s).unwrap(),
        ),
        ("scalar".into(), Tensor::scalar(42.5f32)),
        (
            "empty".into(),
            Tensor::from_vec(Vec::<f32>::new(), &[0, 4]).unwrap(),
        ),
        (
            "inf_nan".into(),
            Tensor::from_vec(vec![f32::INFINITY, f32::NEG_INFINITY, f32::NAN], &[3]).unwrap(),
        ),
    ];
    let mut meta = BTreeMap::new();
    meta.insert("format".to_string(), "pt".to_string());
    meta.insert("note".to_string(), "ünïcode ok".to_string());
    serialize::save_safetensors(&named, &path, Some(&meta)).unwrap();

    let (loaded, got_meta) = serialize::load_safetensors_with_metadata(&path).unwrap();
    assert_eq!(got_meta, meta);
    assert_eq!(loaded.len(), named.len());
    for (name, want) in &named {
        let (_, got) = loaded
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name} not loaded"));
        assert_eq!(got.dtype(), want.dtype(), "{name}");
        assert_eq!(got.shape(), want.shape(), "{name}");
        // Compare bit patterns through f64 (exact for every dtype here,
        // -0.0 and NaN included).
        let g: Vec<u64> = got
            .to_f64_vec()
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect();
        let w: Vec<u64> = want
            .to_f64_vec()
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect();
        assert_eq!(g, w, "{name}");
    }
    // The dtypes in the file are the safetensors names PyTorch expects.
    let bytes = fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.tensor("bf16").unwrap().dtype(), safetensors::Dtype::BF16);
    assert_eq!(st.tensor("bool").unwrap().dtype(), safetensors::Dtype::BOOL);
    assert_eq!(
        st.tensor("f32").unwrap().data()[..8],
        [0, 0, 0, 0, 0, 0, 0xc0, 0xbf],
        "little-endian f32"
    );
    assert!(temp_files(&dir).is_empty());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn module_roundtrip_gives_identical_outputs() {
    let dir = tmpdir("module");
    let path = dir.join("mlp.safetensors");
    let a = mlp(5, 7, 3, 1);
    serialize::save_module(&a, &path).unwrap();
    let names: Vec<String> = serialize::load_safetensors(&path)
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, ["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"]);

    let b = mlp(5, 7, 3, 2);
    let x = Tensor::from_vec((0..10).map(|i| i as f32 * 0.3 - 1.0).collect(), &[2, 5]).unwrap();
    assert_ne!(bits(&a.forward(&x)), bits(&b.forward(&x)));
    // Handles held elsewhere (e.g. by an optimizer) see the loaded values.
    let held = b.parameters();
    serialize::load_module(&b, &path).unwrap();
    assert_eq!(bits(&a.forward(&x)), bits(&b.forward(&x)));
    for (h, (_, p)) in held.iter().zip(a.named_parameters()) {
        assert_eq!(bits(h), bits(&p));
        assert!(h.tracks_grad(), "loaded parameters still require grad");
    }
    fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------
// bad input
// ---------------------------------------------------------------------------

#[test]
fn missing_file_is_io_error_with_path() {
    let path = std::env::temp_dir().join("kiln-ser-definitely-missing/none.safetensors");
    let e = serialize::load_safetensors(&path).unwrap_err();
    assert!(matches!(e, kiln_core::Error::Io { .. }), "{e:?}");
    assert!(e.to_string().contains("none.safetensors"), "{e}");
    let m = mlp(2, 2, 2, 0);
    let e = serialize::load_module(&m, &path).unwrap_err();
    assert!(
        matches!(e, kiln_core::Error::Io { ref path, .. } if path.contains("none.safetensors"))
    );
    assert!(matches!(
        serialize::load_checkpoint(&path).unwrap_err(),
        kiln_core::Error::Io { .. }
    ));
}

#[test]
fn truncated_files_are_errors() {
    let dir = tmpdir("truncated");
    let path = dir.join("m.safetensors");
    let m = mlp(6, 5, 4, 3);
    serialize::save_module(&m, &path).unwrap();
    let full = fs::read(&path).unwrap();
    let header_len = u64::from_le_bytes(full[..8].try_into().unwrap()) as usize;
    let cut = dir.join("cut.safetensors");
    let mut lengths = vec![0, 1, 4, 7, 8, 9, 20, 8 + header_len / 2, 8 + header_len - 1];
    lengths.extend([
        8 + header_len,
        8 + header_len + 1,
        full.len() - 4,
        full.len() - 1,
    ]);
    for len in lengths {
        fs::write(&cut, &full[..len]).unwrap();
        let msg = err_msg(serialize::load_safetensors(&cut));
        assert!(
            msg.contains("cut.safetensors") && msg.contains("truncated or corrupt"),
            "len {len}: {msg}"
        );
        assert!(serialize::load_module(&m, &cut).is_err(), "len {len}");
    }
    // Trailing garbage (data length wrong the other way) is refused too.
    let mut long = full.clone();
    long.extend([0u8; 4]);
    fs::write(&cut, &long).unwrap();
    let msg = err_msg(serialize::load_safetensors(&cut));
    assert!(msg.contains("truncated or corrupt"), "{msg}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn flipped_header_bytes_are_errors_never_panics() {
    let dir = tmpdir("flipped");
    let path = dir.join("m.safetensors");
    let m = mlp(3, 4, 2, 4);
    serialize::save_module(&m, &path).unwrap();
    let full = fs::read(&path).unwrap();
    let header_len = u64::from_le_bytes(full[..8].try_into().unwrap()) as usize;
    let bad = dir.join("bad.safetensors");
    for i in 0..8 + header_len {
        for mask in [0xffu8, 0x01, 0x20] {
            let mut b = full.clone();
            b[i] ^= mask;
            fs::write(&bad, &b).unwrap();
            // Plain loading must never panic; some flips (e.g. a letter of
            // a name with mask 0x20) still give a valid file.
            let _ = serialize::load_safetensors(&bad);
            if mask == 0xff {
                // Non-ASCII in the JSON header or a wild length: always an error.
                let msg = err_msg(serialize::load_module(&m, &bad));
                assert!(msg.contains("bad.safetensors"), "byte {i}: {msg}");
            }
        }
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn garbage_headers_are_errors() {
    let dir = tmpdir("garbage");
    let bad = dir.join("g.safetensors");
    let with_header = |h: &str, data: &[u8]| {
        let mut b = (h.len() as u64).to_le_bytes().to_vec();
        b.extend(h.as_bytes());
        b.extend(data);
        b
    };
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (with_header("this is not json", &[]), "Deserialization"),
        (with_header("{\"a\": 1}", &[]), "Deserialization"),
        (
            with_header(
                r#"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}"#,
                &[0; 12],
            ),
            "",
        ),
        (
            with_header(
                r#"{"w":{"dtype":"XYZ","shape":[1],"data_offsets":[0,4]}}"#,
                &[0; 4],
            ),
            "",
        ),
        (
            with_header(
                r#"{"w":{"dtype":"F32","shape":[18446744073709551615,2],"data_offsets":[0,4]}}"#,
                &[0; 4],
            ),
            "",
        ),
        (
            with_header(
                r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                &[0; 8],
            ),
            "w",
        ),
        (u64::MAX.to_le_bytes().to_vec(), "HeaderTooLarge"),
        (
            {
                let mut b = 1000u64.to_le_bytes().to_vec();
                b.extend(b"{}");
                b
            },
            "InvalidHeaderLength",
        ),
    ];
    for (i, (bytes, needle)) in cases.iter().enumerate() {
        fs::write(&bad, bytes).unwrap();
        let msg = err_msg(serialize::load_safetensors(&bad));
        assert!(
            msg.contains("g.safetensors") && msg.contains(needle),
            "case {i}: {msg}"
        );
    }
    // A dtype Kiln lacks names the tensor.
    let h = r#"{"odd":{"dtype":"U16","shape":[2],"data_offsets":[0,4]}}"#;
    fs::write(&bad, with_header(h, &[1, 0, 2, 0])).unwrap();
    let msg = err_msg(serialize::load_safetensors(&bad));
    assert!(
        msg.contains("odd") && msg.contains("U16") && msg.contains("not support"),
        "{msg}"
    );
    // Bool bytes other than 0/1 are corrupt.
    let h = r#"{"flags":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}}"#;
    fs::write(&bad, with_header(h, &[1, 7])).unwrap();
    let msg = err_msg(serialize::load_safetensors(&bad));
    assert!(msg.contains("flags"), "{msg}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn wrong_shape_dtype_missing_and_extra_keys_are_named() {
    let dir = tmpdir("mismatch");
    let path = dir.join("m.safetensors");
    let m = mlp(3, 4, 2, 5);
    let before: Vec<Vec<u32>> = m.parameters().iter().map(bits).collect();
    let unchanged = |m: &Mlp| {
        let now: Vec<Vec<u32>> = m.parameters().iter().map(bits).collect();
        assert_eq!(now, before, "a failed load must not modify the module");
    };

    // Wrong shape.
    serialize::save_module(&mlp(3, 5, 2, 6), &path).unwrap();
    let msg = err_msg(serialize::load_module(&m, &path));
    assert!(
        msg.contains("shape mismatch for fc1.weight: expected [4, 3], found [5, 3]"),
        "{msg}"
    );
    assert!(
        msg.contains("fc1.bias") && msg.contains("fc2.weight"),
        "{msg}"
    );
    unchanged(&m);

    // Wrong dtype.
    let k = Key::new(7).split(2);
    let m64 = Mlp {
        fc1: Linear::with_dtype(3, 4, true, DType::F64, k[0]),
        fc2: Linear::new(4, 2, true, k[1]),
    };
    serialize::save_module(&m64, &path).unwrap();
    let msg = err_msg(serialize::load_module(&m, &path));
    assert!(
        msg.contains("dtype mismatch for fc1.weight: expected f32, found f64"),
        "{msg}"
    );
    assert!(!msg.contains("fc2"), "{msg}");
    unchanged(&m);

    // Missing keys (all listed).
    let sd: Vec<(String, Tensor)> = state_dict(&mlp(3, 4, 2, 8))
        .into_iter()
        .filter(|(n, _)| !n.ends_with("bias"))
        .collect();
    serialize::save_safetensors(&sd, &path, None).unwrap();
    let msg = err_msg(serialize::load_module(&m, &path));
    assert!(msg.contains("missing keys: fc1.bias, fc2.bias"), "{msg}");
    unchanged(&m);

    // Unexpected key.
    let mut sd = state_dict(&mlp(3, 4, 2, 8));
    sd.push(("fc3.weight".into(), Tensor::scalar(1.0f32)));
    serialize::save_safetensors(&sd, &path, None).unwrap();
    let msg = err_msg(serialize::load_module(&m, &path));
    assert!(msg.contains("unexpected keys: fc3.weight"), "{msg}");
    assert!(!msg.contains("missing"), "{msg}");
    unchanged(&m);

    // Checkpoint loader refuses a plain weights file.
    let msg = err_msg(serialize::load_checkpoint(&path));
    assert!(msg.contains("not a Kiln checkpoint"), "{msg}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn invalid_names_are_refused_before_writing() {
    let dir = tmpdir("names");
    let path = dir.join("x.safetensors");
    let t = Tensor::scalar(1.0f32);
    let dup = vec![("a".to_string(), t.clone()), ("a".to_string(), t.clone())];
    let msg = err_msg(serialize::save_safetensors(&dup, &path, None));
    assert!(msg.contains("duplicate tensor name a"), "{msg}");
    let reserved = vec![("__metadata__".to_string(), t)];
    assert!(serialize::save_safetensors(&reserved, &path, None).is_err());
    assert!(!path.exists());
    assert!(temp_files(&dir).is_empty());
    fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------
// atomicity
// ---------------------------------------------------------------------------

#[test]
fn save_into_missing_directory_fails_cleanly() {
    let dir = tmpdir("nodir");
    let path = dir.join("no/such/dir/m.safetensors");
    let e = serialize::save_module(&mlp(2, 2, 2, 0), &path).unwrap_err();
    assert!(matches!(e, kiln_core::Error::Io { .. }), "{e:?}");
    assert!(e.to_string().contains("m.safetensors"), "{e}");
    assert!(!path.exists());
    assert!(temp_files(&dir).is_empty());
    fs::remove_dir_all(&dir).unwrap();
}

/// A writer that accepts `left` bytes and then fails.
struct FailAfter<'a> {
    inner: &'a mut dyn Write,
    left: usize,
}

impl Write for FailAfter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Err(io::Error::other("simulated disk failure"));
        }
        let n = buf.len().min(self.left);
        self.left -= n;
        self.inner.write(&buf[..n])
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[test]
fn failure_mid_write_keeps_old_file_and_leaves_no_temp() {
    let dir = tmpdir("midwrite");
    let path = dir.join("m.safetensors");
    let old = mlp(20, 30, 5, 1);
    serialize::save_module(&old, &path).unwrap();
    let old_bytes = fs::read(&path).unwrap();

    let new = serialize::to_safetensors_bytes(&state_dict(&mlp(20, 30, 5, 2)), None).unwrap();
    for n in [0, 1, 8, 100, new.len() / 2, new.len() - 1] {
        let r = serialize::atomic_write_with(&path, |w| {
            let mut f = FailAfter { inner: w, left: n };
            f.write_all(&new)?;
            f.flush()
        });
        let msg = err_msg(r);
        assert!(msg.contains("simulated disk failure") && msg.contains("m.safetensors"));
        assert_eq!(fs::read(&path).unwrap(), old_bytes, "n = {n}");
        assert!(
            temp_files(&dir).is_empty(),
            "n = {n}: {:?}",
            temp_files(&dir)
        );
    }
    let fresh = mlp(20, 30, 5, 3);
    serialize::load_module(&fresh, &path).unwrap();
    for (a, b) in old.parameters().iter().zip(fresh.parameters()) {
        assert_eq!(bits(a), bits(&b));
    }
    // A successful write replaces the file.
    serialize::atomic_write_with(&path, |w| w.write_all(&new)).unwrap();
    assert_eq!(fs::read(&path).unwrap(), new);
    assert!(temp_files(&dir).is_empty());
    fs::remove_dir_all(&dir).unwrap();
}

const CRASH_ENV: &str = "KILN_SER_CRASH_CHILD_PATH";

/// Not a test on its own: when run as a child with `CRASH_ENV` set, starts a
/// large atomic save to that path, writes half of it and hangs until
/// killed.
#[test]
fn crash_child_helper() {
    let Ok(path) = std::env::var(CRASH_ENV) else {
        return;
    };
    let big = Tensor::from_vec(vec![0.25f32; 4 << 20], &[4, 1 << 20]).unwrap();
    let bytes = serialize::to_safetensors_bytes(&[("big".to_string(), big)], None).unwrap();
    let _ = serialize::atomic_write_with(Path::new(&path), |w| {
        w.write_all(&bytes[..bytes.len() / 2])?;
        w.flush()?;
        loop {
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    unreachable!("the parent kills this process");
}

#[test]
fn killed_process_mid_save_keeps_old_file() {
    let dir = tmpdir("killed");
    let path = dir.join("m.safetensors");
    let old = mlp(8, 8, 2, 11);
    serialize::save_module(&old, &path).unwrap();
    let old_bytes = fs::read(&path).unwrap();

    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child_helper",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_ENV, &path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the child has written part of its temporary file.
    let start = Instant::now();
    loop {
        let partial = temp_files(&dir).iter().any(|n| {
            fs::metadata(dir.join(n))
                .map(|m| m.len() > 1 << 20)
                .unwrap_or(false)
        });
        if partial {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("child exited early: {status}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "child never started writing"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    assert_eq!(fs::read(&path).unwrap(), old_bytes);
    let fresh = mlp(8, 8, 2, 12);
    serialize::load_module(&fresh, &path).unwrap();
    for (a, b) in old.parameters().iter().zip(fresh.parameters()) {
        assert_eq!(bits(a), bits(&b));
    }
    // The crashed process's temp file is left behind (nothing can remove it),
    // but it never replaces the target, and a later save still works.
    assert_eq!(temp_files(&dir).len(), 1);
    serialize::save_module(&fresh, &path).unwrap();
    assert_eq!(temp_files(&dir).len(), 1);
    fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------
// checkpoints
// ---------------------------------------------------------------------------

fn train_step(model: &Mlp, opt: &mut Adam) {
    // Data from the global generator, so the RNG state matters on resume.
    let x = randn(&[8, 4], DType::F32);
    let y = randn(&[8, 2], DType::F32);
    opt.zero_grad();
    let loss = mse_loss(&model.forward(&x), &y, Reduction::Mean);
    loss.backward().unwrap();
    opt.step().unwrap();
}

#[test]
fn checkpoint_resume_is_bitwise_identical() {
    let dir = tmpdir("resume");
    let path = dir.join("ckpt.safetensors");
    let (k, n) = (3u64, 7u64);

    random::seed(2024);
    let a = mlp(4, 6, 2, 1);
    let mut opt_a = Adam::new(a.parameters(), 0.01);
    for _ in 0..k {
        train_step(&a, &mut opt_a);
    }
    let mut ckpt = Checkpoint::capture(&a, &opt_a, 1, k);
    ckpt.extra
        .insert("schedule".into(), "cosine(t_max=100)".into());
    serialize::save_checkpoint(&path, &ckpt).unwrap();
    for _ in k..n {
        train_step(&a, &mut opt_a);
    }
    let want: Vec<Vec<u32>> = a.parameters().iter().map(bits).collect();

    // Fresh objects with a different init, learning rate and RNG state.
    random::seed(999);
    let b = mlp(4, 6, 2, 77);
    let mut opt_b = Adam::new(b.parameters(), 0.5);
    let loaded = serialize::load_checkpoint(&path).unwrap();
    assert_eq!((loaded.epoch, loaded.step), (1, k));
    assert_eq!(loaded.rng, ckpt.rng);
    assert_eq!(loaded.extra, ckpt.extra);
    assert_eq!(loaded.optimizer.scalars, ckpt.optimizer.scalars);
    let names = |v: &[(String, Tensor)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&loaded.model), names(&ckpt.model));
    assert_eq!(
        names(&loaded.optimizer.tensors),
        names(&ckpt.optimizer.tensors)
    );
    assert!(!loaded.optimizer.tensors.is_empty());
    serialize::restore(&b, &mut opt_b, &loaded).unwrap();
    assert_eq!(opt_b.lr(), 0.01);
    for _ in loaded.step..n {
        train_step(&b, &mut opt_b);
    }
    let got: Vec<Vec<u32>> = b.parameters().iter().map(bits).collect();
    assert_eq!(got, want);
    assert!(temp_files(&dir).is_empty());

    // Restoring into the wrong architecture is refused with names.
    let c = mlp(4, 5, 2, 1);
    let mut opt_c = Adam::new(c.parameters(), 0.01);
    let msg = err_msg(serialize::restore(&c, &mut opt_c, &loaded));
    assert!(msg.contains("fc1.weight"), "{msg}");
    fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------
// PyTorch interop
// ---------------------------------------------------------------------------

#[test]
fn loads_pytorch_mlp_fixture() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let m = mlp(784, 256, 10, 0);
    serialize::load_module(&m, fixtures.join("torch_mlp.safetensors")).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(fixtures.join("torch_mlp.json")).unwrap())
            .unwrap();
    let floats = |k: &str| -> Vec<f32> {
        json[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect()
    };
    let shape = |k: &str| -> Vec<usize> {
        json[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect()
    };
    assert_eq!(shape("input_shape"), [4, 784]);
    assert_eq!(shape("output_shape"), [4, 10]);
    let x = Tensor::from_vec(floats("input"), &[4, 784]).unwrap();
    let want = floats("output");
    let got = m.forward(&x).to_vec::<f32>().unwrap();
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!((g - w).abs() <= 1e-5, "output {i}: kiln {g}, torch {w}");
    }
}
