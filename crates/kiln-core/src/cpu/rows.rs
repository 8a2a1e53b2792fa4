//! `Primitive::LastAxis`: single-pass row kernels (softmax, log-softmax,
//! logsumexp, layer norm, RMS norm) along the last axis.
//!
//! The input is made contiguous, so each row is a slice. A row is read from
//! memory once: the first pass over it (a max, a mean) brings it into cache
//! and the later passes (the exp-sum, the squared deviations, the writes)
//! reuse it there. Rows are split over rayon threads in groups of about
//! [`GROUP_ELEMS`] elements when the tensor is large. The inner loops keep
//! [`LANES`] independent accumulators so LLVM can vectorize them (and the
//! sums are more accurate than one running sum).
//!
//! f32 and f64 rows are processed in place in their own type; f16 and bf16
//! rows are widened to f32 in a per-task scratch row, processed, and
//! rounded back once.

use super::scalar::FloatCompute;
use crate::array::Array;
use crate::buffer::BufferElement;
use crate::dtype::Element;
use crate::primitive::LastAxisOp;
use rayon::prelude::*;
use std::ops::{Add, Div, Mul, Sub};

use super::simd::{self, LANES};

/// About how many input elements one parallel task processes.
const GROUP_ELEMS: usize = 1 << 14;

/// `exp` of an f32 for the row kernels ([`super::vmath::exp`]).
#[inline(always)]
fn fast_exp(x: f32) -> f32 {
    // Branch-free and inlined, so the row loops vectorize.
    super::vmath::exp(x)
}

/// The compute types of the row kernels: `f32` and `f64`.
trait RowFloat:
    Copy
    + Send
    + Sync
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
{
    const ZERO: Self;
    const ONE: Self;
    const NEG_INF: Self;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn sqrt(self) -> Self;
    fn is_finite(self) -> bool;
    fn from_f64(v: f64) -> Self;
}

impl RowFloat for f32 {
    const ZERO: f32 = 0.0;
    const ONE: f32 = 1.0;
    const NEG_INF: f32 = f32::NEG_INFINITY;
    #[inline(always)]
    fn exp(self) -> f32 {
        fast_exp(self)
    }
    #[inline(always)]
    fn ln(self) -> f32 {
        f32::ln(self)
    }
    #[inline(always)]
    fn sqrt(self) -> f32 {
        f32::sqrt(self)
    }
    #[inline(always)]
    fn is_finite(self) -> bool {
        f32::is_finite(self)
    }
    #[inline(always)]
    fn from_f64(v: f64) -> f32 {
        v as f32
    }
}

impl RowFloat for f64 {
    const ZERO: f64 = 0.0;
    const ONE: f64 = 1.0;
    const NEG_INF: f64 = f64::NEG_INFINITY;
    #[inline(always)]
    fn exp(self) -> f64 {
        f64::exp(self)
    }
    #[inline(always)]
    fn ln(self) -> f64 {
        f64::ln(self)
    }
    #[inline(always)]
    fn sqrt(self) -> f64 {
        f64::sqrt(self)
    }
    #[inline(always)]
    fn is_finite(self) -> bool {
        f64::is_finite(self)
    }
    #[inline(always)]
    fn from_f64(v: f64) -> f64 {
        v
    }
}

/// `a > b ? a : b`: maps to one vector max instruction. A NaN in `a` is
/// skipped; rows with a NaN become NaN through their exp-sum anyway.
#[inline(always)]
fn max2<C: RowFloat>(a: C, b: C) -> C {
    if a > b {
        a
    } else {
        b
    }
}

/// Maximum of a row (NaN skipped; -inf for an empty row).
#[inline(always)]
fn row_max<C: RowFloat>(x: &[C]) -> C {
    let acc = simd::lanes(x, C::NEG_INF, |m, v| max2(v, m));
    acc.into_iter().fold(C::NEG_INF, |m, v| max2(v, m))
}

/// Sums the lanes, then the tail.
#[inline(always)]
fn finish_sum<C: RowFloat>(acc: [C; LANES], tail: impl Iterator<Item = C>) -> C {
    let mut s = C::ZERO;
    for v in acc {
        s = s + v;
    }
    tail.fold(s, |s, v| s + v)
}

/// `sum(f(x))` over a row with lane-wise accumulators.
#[inline(always)]
fn row_sum_map<C: RowFloat>(x: &[C], f: impl Fn(C) -> C) -> C {
    let acc = simd::lanes(x, C::ZERO, |s, v| s + f(v));
    finish_sum(acc, std::iter::empty())
}

/// Writes `out[i] = exp(x[i] - m)` and returns their sum.
#[inline(always)]
fn exp_store_sum<C: RowFloat>(x: &[C], m: C, out: &mut [C]) -> C {
    let mut acc = [C::ZERO; LANES];
    let xc = x.chunks_exact(LANES);
    let xt = xc.remainder();
    let mut oc = out.chunks_exact_mut(LANES);
    for (c, o) in xc.zip(&mut oc) {
        for i in 0..LANES {
            let e = (c[i] - m).exp();
            o[i] = e;
            acc[i] = acc[i] + e;
        }
    }
    let ot = oc.into_remainder();
    for (o, &v) in ot.iter_mut().zip(xt) {
        *o = (v - m).exp();
    }
    finish_sum(acc, ot.iter().copied())
}

/// `out[i] = f(x[i])`.
#[inline(always)]
fn map_row<C: RowFloat>(x: &[C], out: &mut [C], f: impl Fn(C) -> C) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = f(v);
    }
}

/// Applies `op` to one row `x`; `out` has `x.len()` elements (one for
/// `LogSumExp`).
#[inline(always)]
fn row<C: RowFloat>(op: LastAxisOp, x: &[C], out: &mut [C]) {
    let n = C::from_f64(x.len() as f64);
    match op {
        LastAxisOp::Softmax => {
            let m = row_max(x);
            let s = exp_store_sum(x, m, out);
            let inv = C::ONE / s;
            for o in out.iter_mut() {
                *o = *o * inv;
            }
        }
        LastAxisOp::LogSoftmax => {
            let m = row_max(x);
            let s = row_sum_map(x, |v| (v - m).exp());
            let ls = s.ln();
            map_row(x, out, |v| (v - m) - ls);
        }
        LastAxisOp::LogSumExp => {
            let m = row_max(x);
            // A non-finite max (all -inf, +inf, empty) shifts by 0, so an
            // all -inf row gives log(0) = -inf rather than NaN.
            let shift = if m.is_finite() { m } else { C::ZERO };
            let s = row_sum_map(x, |v| (v - shift).exp());
            out[0] = s.ln() + shift;
        }
        LastAxisOp::LayerNorm { eps } => {
            let mean = row_sum_map(x, |v| v) / n;
            let var = row_sum_map(x, |v| {
                let d = v - mean;
                d * d
            }) / n;
            let r = C::ONE / (var + C::from_f64(eps)).sqrt();
            map_row(x, out, |v| (v - mean) * r);
        }
        LastAxisOp::RmsNorm { eps } => {
            let ms = row_sum_map(x, |v| v * v) / n;
            let r = C::ONE / (ms + C::from_f64(eps)).sqrt();
            map_row(x, out, |v| v * r);
        }
    }
}

/// Calls `f(src_rows, dst_rows)` on groups of whole rows (`n` input and
/// `out_n` output elements per row), in parallel for large inputs.
fn for_row_groups<T: Sync, U: Send>(
    src: &[T],
    dst: &mut [U],
    n: usize,
    out_n: usize,
    f: impl Fn(&[T], &mut [U]) + Sync,
) {
    let per_group = (GROUP_ELEMS / n).max(1);
    if src.len() >= super::elementwise::PARALLEL_THRESHOLD && src.len() > n {
        src.par_chunks(per_group * n)
            .zip(dst.par_chunks_mut(per_group * out_n))
            .for_each(|(s, d)| f(s, d));
    } else {
        f(src, dst);
    }
}

/// Rows of a type that is its own compute type (f32, f64).
fn rows_native<C: RowFloat + BufferElement + Default>(
    op: LastAxisOp,
    src: &[C],
    n: usize,
    out_n: usize,
) -> Vec<C> {
    let mut out = crate::pool::take::<C>(src.len() / n * out_n);
    for_row_groups(src, &mut out, n, out_n, |s, d| {
        rows_simd(op, s, d, n, out_n)
    });
    out
}

super::simd::dispatched! {
    /// [`row`] over consecutive rows, compiled for the best SIMD level.
    fn rows_simd<C>(op: LastAxisOp, s: &[C], d: &mut [C], n: usize, out_n: usize)
    where [C: RowFloat]
    {
        for (x, y) in s.chunks_exact(n).zip(d.chunks_exact_mut(out_n)) {
            row(op, x, y);
        }
    }
}

/// Rows of a half type, widened to f32 row by row.
fn rows_widened<T: FloatCompute<C = f32> + BufferElement + Default + Send + Sync>(
    op: LastAxisOp,
    src: &[T],
    n: usize,
    out_n: usize,
) -> Vec<T> {
    let mut out = crate::pool::take::<T>(src.len() / n * out_n);
    for_row_groups(src, &mut out, n, out_n, |s, d| {
        let mut xs = vec![0f32; n];
        let mut ys = vec![0f32; out_n];
        for (x, y) in s.chunks_exact(n).zip(d.chunks_exact_mut(out_n)) {
            for (w, &v) in xs.iter_mut().zip(x) {
                *w = v.up();
            }
            rows_simd(op, &xs, &mut ys, n, out_n);
            for (o, &v) in y.iter_mut().zip(&ys) {
                *o = T::down(v);
            }
        }
    });
    out
}

/// `Primitive::LastAxis`: `out_shape` is `a`'s shape (last dim 1 for
/// `LogSumExp`).
pub fn last_axis(a: &Array, op: LastAxisOp, out_shape: &[usize]) -> Array {
    let a = a.contiguous();
    let n = *a.shape().last().expect("infer requires rank >= 1");
    let out_n = *out_shape.last().expect("infer requires rank >= 1");
    crate::with_float_dtype!(
        a.dtype(),
        T,
        {
            if n == 0 || a.numel() == 0 {
                // Nothing to read: an empty output, or -inf per row for
                // the logsumexp of empty rows.
                let fill = <T as Element>::from_f64(f64::NEG_INFINITY);
                let out = vec![fill; crate::shape::numel(out_shape)];
                return Array::from_vec(out, out_shape.to_vec());
            }
            let src = a.contiguous_slice::<T>().expect("made contiguous above");
            Array::from_vec(
                <T as RowDispatch>::run(op, src, n, out_n),
                out_shape.to_vec(),
            )
        },
        unreachable!("infer accepts float dtypes only")
    )
}

/// Picks the native or widened path for a float element type.
trait RowDispatch: Sized {
    fn run(op: LastAxisOp, src: &[Self], n: usize, out_n: usize) -> Vec<Self>;
}

impl RowDispatch for f32 {
    fn run(op: LastAxisOp, src: &[f32], n: usize, out_n: usize) -> Vec<f32> {
        rows_native(op, src, n, out_n)
    }
}

impl RowDispatch for f64 {
    fn run(op: LastAxisOp, src: &[f64], n: usize, out_n: usize) -> Vec<f64> {
        rows_native(op, src, n, out_n)
    }
}

impl RowDispatch for half::f16 {
    fn run(op: LastAxisOp, src: &[half::f16], n: usize, out_n: usize) -> Vec<half::f16> {
        rows_widened(op, src, n, out_n)
    }
}

impl RowDispatch for half::bf16 {
    fn run(op: LastAxisOp, src: &[half::bf16], n: usize, out_n: usize) -> Vec<half::bf16> {
        rows_widened(op, src, n, out_n)
    }
}
