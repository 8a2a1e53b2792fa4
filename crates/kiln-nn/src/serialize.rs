//! Saving and loading tensors, modules and training checkpoints in the
//! [safetensors](https://huggingface.co/docs/safetensors) format.
//!
//! Files hold little-endian tensors under their hierarchical names
//! (`fc1.weight`), so PyTorch (`safetensors.torch.load_file`) and MLX
//! (`mx.load`) read them, and Kiln reads theirs.
//!
//! Every write is atomic: the bytes go to a temporary file in the target's
//! directory (`.<name>.tmp-<pid>-<n>`), which is flushed, `sync_all`ed and
//! then renamed over the target. A failure at any point removes the
//! temporary file and leaves an existing file at the target untouched.
//!
//! Loading never panics on bad input: a missing file is an
//! [`Error::Io`] with the path; a truncated or corrupt file, a dtype Kiln
//! lacks, or (for [`load_module`]) missing, unexpected, wrongly shaped or
//! wrongly typed tensors are an [`Error::Invalid`] naming the tensors.
//!
//! ```
//! use kiln_core::random::Key;
//! use kiln_nn::{layers::Linear, serialize, Module};
//!
//! # fn main() -> kiln_core::Result<()> {
//! let dir = std::env::temp_dir().join(format!("kiln-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("linear.safetensors");
//! let a = Linear::new(3, 2, true, Key::new(0));
//! serialize::save_module(&a, &path)?;
//! let b = Linear::new(3, 2, true, Key::new(1));
//! serialize::load_module(&b, &path)?;
//! assert_eq!(a.weight.to_vec::<f32>()?, b.weight.to_vec::<f32>()?);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok(())
//! # }
//! ```

use crate::module::{state_dict, Module};
use crate::optim::{Optimizer, OptimizerState};
use kiln_core::random::Key;
use kiln_core::{DType, Error, Result, Tensor};
use safetensors::{Dtype, SafeTensors};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

// ---------------------------------------------------------------------------
// dtype and byte conversion
// ---------------------------------------------------------------------------

/// The safetensors dtype for a Kiln dtype.
pub fn to_safetensors_dtype(dtype: DType) -> Dtype {
    match dtype {
        DType::Bool => Dtype::BOOL,
        DType::U8 => Dtype::U8,
        DType::U32 => Dtype::U32,
        DType::I8 => Dtype::I8,
        DType::I16 => Dtype::I16,
        DType::I32 => Dtype::I32,
        DType::I64 => Dtype::I64,
        DType::F16 => Dtype::F16,
        DType::BF16 => Dtype::BF16,
        DType::F32 => Dtype::F32,
        DType::F64 => Dtype::F64,
    }
}

/// The Kiln dtype for a safetensors dtype, if Kiln has one.
pub fn from_safetensors_dtype(dtype: Dtype) -> Option<DType> {
    Some(match dtype {
        Dtype::BOOL => DType::Bool,
        Dtype::U8 => DType::U8,
        Dtype::U32 => DType::U32,
        Dtype::I8 => DType::I8,
        Dtype::I16 => DType::I16,
        Dtype::I32 => DType::I32,
        Dtype::I64 => DType::I64,
        Dtype::F16 => DType::F16,
        Dtype::BF16 => DType::BF16,
        Dtype::F32 => DType::F32,
        Dtype::F64 => DType::F64,
        _ => return None,
    })
}

/// The little-endian bytes of a tensor's elements, row-major.
fn tensor_bytes(name: &str, t: &Tensor) -> Result<Vec<u8>> {
    macro_rules! le {
        ($T:ty) => {
            t.to_vec::<$T>()
                .map_err(|e| Error::Invalid(format!("save: tensor {name}: {e}")))?
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect()
        };
    }
    Ok(match t.dtype() {
        DType::Bool => t
            .to_vec::<bool>()
            .map_err(|e| Error::Invalid(format!("save: tensor {name}: {e}")))?
            .iter()
            .map(|&b| b as u8)
            .collect(),
        DType::U8 => le!(u8),
        DType::U32 => le!(u32),
        DType::I8 => le!(i8),
        DType::I16 => le!(i16),
        DType::I32 => le!(i32),
        DType::I64 => le!(i64),
        DType::F16 => le!(half::f16),
        DType::BF16 => le!(half::bf16),
        DType::F32 => le!(f32),
        DType::F64 => le!(f64),
    })
}

/// A tensor from little-endian bytes (length already validated by
/// safetensors; checked again here so bad input can never panic).
fn tensor_from_bytes(name: &str, dtype: DType, shape: &[usize], data: &[u8]) -> Result<Tensor> {
    let numel: usize = shape.iter().product();
    let size = dtype_size(dtype);
    if numel.checked_mul(size) != Some(data.len()) {
        return Err(Error::Invalid(format!(
            "tensor {name}: {} data bytes, but {dtype}{shape:?} needs {}",
            data.len(),
            numel.saturating_mul(size)
        )));
    }
    macro_rules! le {
        ($T:ty, $n:expr) => {{
            let v: Vec<$T> = data
                .chunks_exact($n)
                .map(|c| {
                    let mut a = [0u8; $n];
                    a.copy_from_slice(c);
                    <$T>::from_le_bytes(a)
                })
                .collect();
            Tensor::from_vec(v, shape)
        }};
    }
    let t = match dtype {
        DType::Bool => {
            if let Some(pos) = data.iter().position(|&b| b > 1) {
                return Err(Error::Invalid(format!(
                    "tensor {name}: bool element {pos} has byte value {}, expected 0 or 1",
                    data[pos]
                )));
            }
            Tensor::from_vec(data.iter().map(|&b| b != 0).collect::<Vec<bool>>(), shape)
        }
        DType::U8 => Tensor::from_vec(data.to_vec(), shape),
        DType::U32 => le!(u32, 4),
        DType::I8 => le!(i8, 1),
        DType::I16 => le!(i16, 2),
        DType::I32 => le!(i32, 4),
        DType::I64 => le!(i64, 8),
        DType::F16 => le!(half::f16, 2),
        DType::BF16 => le!(half::bf16, 2),
        DType::F32 => le!(f32, 4),
        DType::F64 => le!(f64, 8),
    };
    t.map_err(|e| Error::Invalid(format!("tensor {name}: {e}")))
}

fn dtype_size(dtype: DType) -> usize {
    match dtype {
        DType::Bool | DType::U8 | DType::I8 => 1,
        DType::I16 | DType::F16 | DType::BF16 => 2,
        DType::U32 | DType::I32 | DType::F32 => 4,
        DType::I64 | DType::F64 => 8,
    }
}

/// Owned bytes of one tensor, as a safetensors [`safetensors::View`].
struct Raw {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl safetensors::View for &Raw {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

// ---------------------------------------------------------------------------
// atomic writes
// ---------------------------------------------------------------------------

/// Named tensors, in order.
pub type NamedTensors = Vec<(String, Tensor)>;
/// A safetensors file's string metadata.
pub type Metadata = BTreeMap<String, String>;

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

fn io_err(path: &Path, source: io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The temporary file an atomic write to `path` uses:
/// `.<name>.tmp-<pid>-<n>` in the same directory (`n` keeps concurrent
/// writers in one process apart).
fn temp_path(path: &Path) -> Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| Error::Invalid(format!("save: {} does not name a file", path.display())))?;
    let tmp = format!(
        ".{}.tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        TMP_SEQ.fetch_add(1, Ordering::Relaxed)
    );
    Ok(match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(tmp),
        _ => PathBuf::from(tmp),
    })
}

/// Writes a file atomically: `write` fills a temporary file in the same
/// directory, which is flushed, synced to disk and renamed over `path`. On
/// any error the temporary file is removed and an existing `path` is left
/// as it was. Public (but hidden) so tests can inject failing writers.
#[doc(hidden)]
pub fn atomic_write_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<()> {
    let tmp = temp_path(path)?;
    let result = (|| -> io::Result<()> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        write(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        // Make the rename itself durable (best effort: not every platform
        // can open or sync a directory).
        if let Some(dir) = path.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io_err(path, e)
    })
}

// ---------------------------------------------------------------------------
// tensors <-> safetensors bytes
// ---------------------------------------------------------------------------

/// The safetensors encoding of named tensors with optional string metadata.
/// Errors on duplicate or reserved names.
pub fn to_safetensors_bytes(
    named: &[(String, Tensor)],
    metadata: Option<&BTreeMap<String, String>>,
) -> Result<Vec<u8>> {
    let mut seen = HashSet::new();
    let mut raws = Vec::with_capacity(named.len());
    for (name, t) in named {
        if name == "__metadata__" {
            return Err(Error::Invalid(
                "save: the tensor name __metadata__ is reserved by safetensors".into(),
            ));
        }
        if !seen.insert(name.as_str()) {
            return Err(Error::Invalid(format!(
                "save: duplicate tensor name {name}"
            )));
        }
        raws.push((
            name.as_str(),
            Raw {
                dtype: to_safetensors_dtype(t.dtype()),
                shape: t.shape().to_vec(),
                data: tensor_bytes(name, t)?,
            },
        ));
    }
    let meta: Option<HashMap<String, String>> =
        metadata.map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
    safetensors::serialize(raws.iter().map(|(n, r)| (*n, r)), meta)
        .map_err(|e| Error::Invalid(format!("save: safetensors encoding failed: {e}")))
}

/// Decodes safetensors bytes into named tensors (in file order) and the
/// metadata. `origin` names the source in error messages.
pub fn from_safetensors_bytes(bytes: &[u8], origin: &str) -> Result<(NamedTensors, Metadata)> {
    let corrupt = |e: safetensors::SafeTensorError| {
        Error::Invalid(format!(
            "{origin}: not a valid safetensors file (truncated or corrupt): {e} ({e:?})"
        ))
    };
    let (_, meta) = SafeTensors::read_metadata(bytes).map_err(corrupt)?;
    let st = SafeTensors::deserialize(bytes).map_err(corrupt)?;
    let mut out = Vec::with_capacity(st.len());
    for name in meta.offset_keys() {
        let view = st.tensor(&name).map_err(corrupt)?;
        let dtype = from_safetensors_dtype(view.dtype()).ok_or_else(|| {
            Error::Invalid(format!(
                "{origin}: tensor {name} has safetensors dtype {:?}, which Kiln does not support",
                view.dtype()
            ))
        })?;
        let t = tensor_from_bytes(&name, dtype, view.shape(), view.data())
            .map_err(|e| Error::Invalid(format!("{origin}: {e}")))?;
        out.push((name, t));
    }
    let metadata = meta
        .metadata()
        .as_ref()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    Ok((out, metadata))
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| io_err(path, e))
}

// ---------------------------------------------------------------------------
// public save / load
// ---------------------------------------------------------------------------

/// Saves named tensors (names as given, e.g. `fc1.weight`) and optional
/// string metadata to a safetensors file, atomically.
pub fn save_safetensors(
    named: &[(String, Tensor)],
    path: impl AsRef<Path>,
    metadata: Option<&BTreeMap<String, String>>,
) -> Result<()> {
    let bytes = to_safetensors_bytes(named, metadata)?;
    atomic_write_with(path.as_ref(), |w| w.write_all(&bytes))
}

/// Loads every tensor of a safetensors file, in file order.
pub fn load_safetensors(path: impl AsRef<Path>) -> Result<Vec<(String, Tensor)>> {
    Ok(load_safetensors_with_metadata(path)?.0)
}

/// Loads every tensor of a safetensors file and its string metadata.
pub fn load_safetensors_with_metadata(path: impl AsRef<Path>) -> Result<(NamedTensors, Metadata)> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    from_safetensors_bytes(&bytes, &path.display().to_string())
}

/// Saves a module's [`state_dict`] (parameters and buffers) atomically.
pub fn save_module(module: &dyn Module, path: impl AsRef<Path>) -> Result<()> {
    save_safetensors(&state_dict(module), path, None)
}

/// Loads a file saved by [`save_module`] (or PyTorch / MLX with the same
/// names) into `module`, assigning into its existing tensors so handles
/// held elsewhere (optimizers) stay valid. Strict: every missing,
/// unexpected, wrongly shaped or wrongly typed tensor is reported, and
/// nothing is assigned unless all of them match.
pub fn load_module(module: &dyn Module, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let values = load_safetensors(path)?;
    assign_strict(module, &values, &path.display().to_string())
}

/// Checks `values` against `module`'s state dict exactly (names, shapes,
/// dtypes), then assigns them. `origin` prefixes the error.
pub fn assign_strict(module: &dyn Module, values: &[(String, Tensor)], origin: &str) -> Result<()> {
    let targets = state_dict(module);
    let given: HashMap<&str, &Tensor> = values.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let wanted: HashSet<&str> = targets.iter().map(|(n, _)| n.as_str()).collect();
    let mut problems = vec![];
    let missing: Vec<&str> = targets
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| !given.contains_key(n))
        .collect();
    if !missing.is_empty() {
        problems.push(format!("missing keys: {}", missing.join(", ")));
    }
    let unexpected: Vec<&str> = values
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| !wanted.contains(n))
        .collect();
    if !unexpected.is_empty() {
        problems.push(format!("unexpected keys: {}", unexpected.join(", ")));
    }
    for (name, target) in &targets {
        if let Some(v) = given.get(name.as_str()) {
            if v.shape() != target.shape() {
                problems.push(format!(
                    "shape mismatch for {name}: expected {:?}, found {:?}",
                    target.shape(),
                    v.shape()
                ));
            }
            if v.dtype() != target.dtype() {
                problems.push(format!(
                    "dtype mismatch for {name}: expected {}, found {}",
                    target.dtype(),
                    v.dtype()
                ));
            }
        }
    }
    if !problems.is_empty() {
        return Err(Error::Invalid(format!(
            "{origin}: cannot load into module: {}",
            problems.join("; ")
        )));
    }
    for (name, target) in &targets {
        target
            .assign(given[name.as_str()])
            .map_err(|e| Error::Invalid(format!("{origin}: assigning {name}: {e}")))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// checkpoints
// ---------------------------------------------------------------------------

/// Everything needed to resume training: model weights, optimizer state,
/// progress counters, the global RNG state and free-form extras (e.g.
/// schedule settings).
#[derive(Clone, Debug)]
pub struct Checkpoint {
    /// The model's state dict.
    pub model: Vec<(String, Tensor)>,
    /// The optimizer's state.
    pub optimizer: OptimizerState,
    /// Completed epochs.
    pub epoch: u64,
    /// Completed optimizer steps.
    pub step: u64,
    /// The global RNG state ([`kiln_core::random::global_state`]).
    pub rng: (Key, u64),
    /// Anything else, as strings (schedule parameters, config, notes).
    pub extra: BTreeMap<String, String>,
}

impl Checkpoint {
    /// A checkpoint of `model` and `optimizer` now, with the current global
    /// RNG state and no extras.
    pub fn capture(
        model: &dyn Module,
        optimizer: &dyn Optimizer,
        epoch: u64,
        step: u64,
    ) -> Checkpoint {
        Checkpoint {
            model: state_dict(model),
            optimizer: optimizer.state(),
            epoch,
            step,
            rng: kiln_core::random::global_state(),
            extra: BTreeMap::new(),
        }
    }
}

const FORMAT_KEY: &str = "kiln.format";
const FORMAT: &str = "kiln-checkpoint-v1";

/// Saves a checkpoint as one safetensors file, atomically: tensors are
/// named `model.<name>` and `optim.<name>`; counters, RNG state, optimizer
/// scalars and extras go in the string metadata.
pub fn save_checkpoint(path: impl AsRef<Path>, ckpt: &Checkpoint) -> Result<()> {
    let mut named = Vec::with_capacity(ckpt.model.len() + ckpt.optimizer.tensors.len());
    for (n, t) in &ckpt.model {
        named.push((format!("model.{n}"), t.clone()));
    }
    for (n, t) in &ckpt.optimizer.tensors {
        named.push((format!("optim.{n}"), t.clone()));
    }
    let json = |v: serde_json::Value| v.to_string();
    let mut meta = BTreeMap::new();
    meta.insert(FORMAT_KEY.to_string(), FORMAT.to_string());
    meta.insert("epoch".into(), ckpt.epoch.to_string());
    meta.insert("step".into(), ckpt.step.to_string());
    meta.insert(
        "rng".into(),
        json(serde_json::json!([
            ckpt.rng.0 .0[0],
            ckpt.rng.0 .0[1],
            ckpt.rng.1
        ])),
    );
    meta.insert(
        "model.names".into(),
        json(serde_json::json!(ckpt
            .model
            .iter()
            .map(|(n, _)| n)
            .collect::<Vec<_>>())),
    );
    meta.insert(
        "optim.names".into(),
        json(serde_json::json!(ckpt
            .optimizer
            .tensors
            .iter()
            .map(|(n, _)| n)
            .collect::<Vec<_>>())),
    );
    // f64 Display is the shortest exact round-trip form (and handles NaN/inf).
    meta.insert(
        "optim.scalars".into(),
        json(serde_json::json!(ckpt
            .optimizer
            .scalars
            .iter()
            .map(|(n, v)| [n.clone(), v.to_string()])
            .collect::<Vec<_>>())),
    );
    meta.insert("extra".into(), json(serde_json::json!(ckpt.extra)));
    save_safetensors(&named, path, Some(&meta))
}

/// Loads a checkpoint written by [`save_checkpoint`].
pub fn load_checkpoint(path: impl AsRef<Path>) -> Result<Checkpoint> {
    let path = path.as_ref();
    let origin = path.display().to_string();
    let (tensors, meta) = load_safetensors_with_metadata(path)?;
    let bad = |what: String| Error::Invalid(format!("{origin}: invalid checkpoint: {what}"));
    match meta.get(FORMAT_KEY) {
        Some(f) if f == FORMAT => {}
        Some(f) => return Err(bad(format!("unknown format {f:?}, expected {FORMAT:?}"))),
        None => {
            return Err(bad(format!(
                "no {FORMAT_KEY} metadata (not a Kiln checkpoint)"
            )))
        }
    }
    let get = |k: &str| {
        meta.get(k)
            .ok_or_else(|| bad(format!("metadata key {k} is missing")))
    };
    let get_json = |k: &str| -> Result<serde_json::Value> {
        serde_json::from_str(get(k)?).map_err(|e| bad(format!("metadata key {k}: {e}")))
    };
    let parse_u64 = |k: &str| -> Result<u64> {
        get(k)?
            .parse::<u64>()
            .map_err(|e| bad(format!("metadata key {k}: {e}")))
    };
    let epoch = parse_u64("epoch")?;
    let step = parse_u64("step")?;
    let rng: (u32, u32, u64) = serde_json::from_value(get_json("rng")?)
        .map_err(|e| bad(format!("metadata key rng: {e}")))?;
    let names = |k: &str| -> Result<Vec<String>> {
        serde_json::from_value(get_json(k)?).map_err(|e| bad(format!("metadata key {k}: {e}")))
    };
    let model_names = names("model.names")?;
    let optim_names = names("optim.names")?;
    let scalars: Vec<(String, String)> = serde_json::from_value(get_json("optim.scalars")?)
        .map_err(|e| bad(format!("metadata key optim.scalars: {e}")))?;
    let scalars = scalars
        .into_iter()
        .map(|(n, v)| {
            v.parse::<f64>()
                .map(|x| (n.clone(), x))
                .map_err(|e| bad(format!("optimizer scalar {n} = {v:?}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let extra: BTreeMap<String, String> = serde_json::from_value(get_json("extra")?)
        .map_err(|e| bad(format!("metadata key extra: {e}")))?;

    let mut by_name: HashMap<String, Tensor> = tensors.into_iter().collect();
    let mut take = |prefix: &str, names: &[String]| -> Result<Vec<(String, Tensor)>> {
        names
            .iter()
            .map(|n| {
                let key = format!("{prefix}.{n}");
                by_name
                    .remove(&key)
                    .map(|t| (n.clone(), t))
                    .ok_or_else(|| bad(format!("tensor {key} is missing")))
            })
            .collect()
    };
    let model = take("model", &model_names)?;
    let optim_tensors = take("optim", &optim_names)?;
    if !by_name.is_empty() {
        let mut extra_keys: Vec<_> = by_name.keys().cloned().collect();
        extra_keys.sort();
        return Err(bad(format!(
            "unexpected tensors: {}",
            extra_keys.join(", ")
        )));
    }
    Ok(Checkpoint {
        model,
        optimizer: OptimizerState {
            tensors: optim_tensors,
            scalars,
        },
        epoch,
        step,
        rng: (Key([rng.0, rng.1]), rng.2),
        extra,
    })
}

/// Restores a checkpoint into existing objects: the model's tensors (strict,
/// as [`load_module`]), the optimizer's state, and the global RNG state.
pub fn restore(model: &dyn Module, optimizer: &mut dyn Optimizer, ckpt: &Checkpoint) -> Result<()> {
    assign_strict(model, &ckpt.model, "checkpoint")?;
    optimizer.load_state(&ckpt.optimizer)?;
    kiln_core::random::set_global_state(ckpt.rng);
    Ok(())
}
