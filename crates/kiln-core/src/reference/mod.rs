//! The reference evaluator: Kiln's test oracle.
//!
//! Every fast kernel is checked against [`evaluate`], so this module is
//! written to be obviously correct rather than fast: every array is a dense
//! row-major `Vec<f64>` ([`RefArray`]), every primitive is a naive loop over
//! output (or input) positions, and arithmetic is done in `f64` (floats) or
//! exact `i128` (ints) and rounded to the output dtype once, at the end.
//!
//! Layout of the module:
//! - this file: [`RefArray`], dtype rounding ([`round_to_dtype`],
//!   [`cast_value`]), index helpers and the dispatch in [`evaluate`];
//! - `scalar`: per-element math (unary, binary, compare, integer helpers, erf);
//! - `layout`: data movement (reshape, permute, broadcast, slice, windows,
//!   pad, concat, gather, scatter);
//! - `reduce`: reductions, scans, argsort, matmul;
//! - `rows`: the row functions of `LastAxis` (softmax, norms, logsumexp).

mod layout;
mod reduce;
mod rows;
mod scalar;
#[cfg(test)]
mod tests;

use crate::dtype::{DType, Kind};
use crate::infer::infer;
use crate::primitive::{Distribution, Primitive};
use crate::random::{element_bits, normal_from_bits, uniform_from_bits};
use crate::shape::numel;

/// Dense row-major array with every element held as f64: the oracle's data.
///
/// `data.len()` must equal the product of `shape` (1 for a scalar, shape
/// `[]`). Elements are the exact values of `dtype` written as `f64`: bools
/// are 0.0 or 1.0, ints are integers in the dtype's range. `i64` values are
/// held as their nearest `f64` (exact up to 2^53; `i64::MAX` is held as 2^63).
#[derive(Clone, Debug, PartialEq)]
pub struct RefArray {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Element type the values are rounded to.
    pub dtype: DType,
    /// Elements in row-major (C) order.
    pub data: Vec<f64>,
}

impl RefArray {
    /// An array of `shape` and `dtype`; every value of `data` is rounded to
    /// what `dtype` holds with [`round_to_dtype`].
    ///
    /// # Panics
    /// If `data.len()` is not the number of elements of `shape`.
    pub fn new(shape: Vec<usize>, dtype: DType, data: Vec<f64>) -> RefArray {
        assert_eq!(
            data.len(),
            numel(&shape),
            "RefArray::new: {} values for shape {shape:?}",
            data.len()
        );
        let data = data.into_iter().map(|v| round_to_dtype(v, dtype)).collect();
        RefArray { shape, dtype, data }
    }

    /// The element at multi-index `index` (one entry per axis, in range).
    fn at(&self, index: &[usize]) -> f64 {
        self.data[ravel(index, &self.shape)]
    }
}

/// 2^63 as an `f64`: the nearest `f64` to `i64::MAX`, which stands for it.
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
/// 2^127: every `f64` at least this large is a multiple of 2^64.
const TWO_POW_127: f64 = 170_141_183_460_469_231_731_687_303_715_884_105_728.0;

/// Rounds or wraps `v` to the nearest value representable in `dtype`.
///
/// - `f64`: unchanged. `f32`, `f16`, `bf16`: round to nearest, ties to even
///   (correctly rounded from the `f64`, no double rounding); too large
///   values become ±inf, NaN stays NaN.
/// - Ints: truncate toward zero, then wrap modulo 2^bits into the dtype's
///   range, like NumPy integer overflow. NaN and ±inf give 0. For `i64`,
///   exactly 2^63 is kept: it is how `i64::MAX` is held (see [`RefArray`]).
/// - Bool: 1.0 if `v != 0` (NaN included), else 0.0.
///
/// Use [`cast_value`] for the saturating float-to-int semantics of
/// [`Primitive::Cast`].
pub fn round_to_dtype(v: f64, dtype: DType) -> f64 {
    match dtype {
        DType::F64 => v,
        // Rust's `as` from f64 to f32 rounds to nearest, ties to even.
        DType::F32 => v as f32 as f64,
        DType::F16 => scalar::round_to_format(v, 11, -14, half::f16::MAX.to_f64()),
        DType::BF16 => scalar::round_to_format(v, 8, -126, half::bf16::MAX.to_f64()),
        DType::Bool => scalar::bool_f64(v != 0.0),
        DType::U8 | DType::U32 | DType::I8 | DType::I16 | DType::I32 | DType::I64 => {
            let t = v.trunc();
            if dtype == DType::I64 && t == TWO_POW_63 {
                return TWO_POW_63;
            }
            if !t.is_finite() || t.abs() >= TWO_POW_127 {
                // NaN and ±inf have no integer value; finite values this large
                // are multiples of 2^64, so they wrap to 0 in every int dtype.
                return 0.0;
            }
            // `t` is an integer below 2^127 in magnitude: the cast is exact.
            scalar::wrap_int(t as i128, dtype)
        }
    }
}

/// The value `v` of dtype `from` converted to dtype `to`, with the semantics
/// of [`Primitive::Cast`]:
/// - to a float dtype: round to nearest (as [`round_to_dtype`]);
/// - float to int: truncate toward zero and saturate at the int's range;
///   NaN gives 0;
/// - int or bool to int: wrap modulo 2^bits (like NumPy's `astype`);
/// - anything to bool: `v != 0` (so NaN is true).
pub fn cast_value(v: f64, from: DType, to: DType) -> f64 {
    match to.kind() {
        Kind::Bool => scalar::bool_f64(v != 0.0),
        Kind::Float => round_to_dtype(v, to),
        Kind::Int if from.is_float() => {
            // Rust's float-to-int `as` truncates toward zero, saturates, and
            // maps NaN to 0: exactly the contract.
            match to {
                DType::U8 => v as u8 as f64,
                DType::U32 => v as u32 as f64,
                DType::I8 => v as i8 as f64,
                DType::I16 => v as i16 as f64,
                DType::I32 => v as i32 as f64,
                _ => v as i64 as f64,
            }
        }
        Kind::Int => round_to_dtype(v, to),
    }
}

/// Evaluates one primitive on its inputs.
///
/// The inputs are checked with [`crate::infer::infer`] first and its error
/// is returned unchanged. Other errors: an input whose `data` length does
/// not match its shape, and gather/scatter indices outside `[-n, n)` (the
/// message names the bad index). The result is rounded to the output dtype
/// with [`round_to_dtype`].
pub fn evaluate(prim: &Primitive, inputs: &[RefArray]) -> Result<RefArray, String> {
    for (i, x) in inputs.iter().enumerate() {
        if x.data.len() != numel(&x.shape) {
            return Err(format!(
                "input {i} has {} values for shape {:?}",
                x.data.len(),
                x.shape
            ));
        }
    }
    let sigs: Vec<(&[usize], DType)> = inputs
        .iter()
        .map(|x| (x.shape.as_slice(), x.dtype))
        .collect();
    let (shape, dtype) = infer(prim, &sigs)?;

    use Primitive::*;
    let data: Vec<f64> = match prim {
        Unary(op) => {
            let x = &inputs[0];
            x.data
                .iter()
                .map(|&v| scalar::unary(*op, v, x.dtype))
                .collect()
        }
        Binary(op) => {
            let (a, b) = (&inputs[0], &inputs[1]);
            (0..a.data.len())
                .map(|i| scalar::binary(*op, a.data[i], b.data[i], a.dtype))
                .collect()
        }
        Compare(op) => {
            let (a, b) = (&inputs[0], &inputs[1]);
            (0..a.data.len())
                .map(|i| scalar::bool_f64(scalar::compare(*op, a.data[i], b.data[i])))
                .collect()
        }
        Select => {
            let (c, a, b) = (&inputs[0], &inputs[1], &inputs[2]);
            (0..c.data.len())
                .map(|i| {
                    if c.data[i] != 0.0 {
                        a.data[i]
                    } else {
                        b.data[i]
                    }
                })
                .collect()
        }
        Cast(to) => {
            let x = &inputs[0];
            x.data
                .iter()
                .map(|&v| cast_value(v, x.dtype, *to))
                .collect()
        }
        Reshape(_) | StopGradient | DebugPrint(_) => inputs[0].data.clone(),
        Custom(_) => inputs[inputs.len() - 1].data.clone(),
        Permute(perm) => layout::permute(&inputs[0], perm, &shape),
        Broadcast(_) => layout::broadcast(&inputs[0], &shape),
        Slice { start, step, .. } => layout::slice(&inputs[0], start, step, &shape),
        Windows {
            window,
            stride,
            dilation,
        } => layout::windows(&inputs[0], window.len(), stride, dilation, &shape),
        WindowsAdjoint {
            window,
            stride,
            dilation,
            ..
        } => layout::windows_adjoint(&inputs[0], window.len(), stride, dilation, &shape),
        Pad { lo, value, .. } => layout::pad(&inputs[0], lo, *value, &shape),
        Concat(axis) => layout::concat(inputs, *axis, &shape),
        Gather(axis) => layout::gather(&inputs[0], &inputs[1], *axis)?,
        ScatterAdd(axis) => layout::scatter_add(&inputs[0], &inputs[1], &inputs[2], *axis)?,
        Reduce { op, axes } => reduce::reduce(&inputs[0], *op, axes, &shape),
        ArgReduce { op, axis } => reduce::arg_reduce(&inputs[0], *op, *axis, &shape),
        Scan { op, axis, reverse } => reduce::scan(&inputs[0], *op, *axis, *reverse),
        Argsort { axis, descending } => reduce::argsort(&inputs[0], *axis, *descending),
        LastAxis(op) => rows::last_axis(&inputs[0], *op, &shape),
        Matmul => reduce::matmul(&inputs[0], &inputs[1], &shape),
        Random { dist, .. } => {
            let key = [inputs[0].data[0] as u32, inputs[0].data[1] as u32];
            (0..numel(&shape))
                .map(|i| {
                    let bits = element_bits(key, i as u64);
                    match dist {
                        Distribution::Uniform => uniform_from_bits(bits, dtype),
                        Distribution::Normal => normal_from_bits(bits),
                    }
                })
                .collect()
        }
    };
    Ok(RefArray::new(shape, dtype, data))
}

/// Row-major flat position of multi-index `index` in `shape`.
fn ravel(index: &[usize], shape: &[usize]) -> usize {
    debug_assert_eq!(index.len(), shape.len());
    let mut flat = 0;
    for (&i, &d) in index.iter().zip(shape) {
        debug_assert!(i < d, "index {index:?} out of range for {shape:?}");
        flat = flat * d + i;
    }
    flat
}

/// Multi-index of row-major flat position `flat` in `shape`.
fn unravel(flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    crate::shape::unravel(flat, shape, &mut index);
    index
}

/// Every multi-index of `shape`, in row-major order (none if a dim is 0;
/// one, `[]`, for a scalar).
fn positions(shape: &[usize]) -> impl Iterator<Item = Vec<usize>> + '_ {
    (0..numel(shape)).map(move |flat| unravel(flat, shape))
}
