//! Reductions, scans, argsort and matmul of the reference evaluator.
//! Float accumulations run in unrounded `f64`; int ones wrap at every step
//! (the same result as wrapping once at the end).

use super::{positions, ravel, scalar, RefArray};
use crate::primitive::{ArgReduceOp, ReduceOp, ScanOp};
use crate::shape::numel;

/// Folds every element of `x` into the output position with the reduced
/// `axes` set to 0, starting from the op's identity (so reducing zero
/// elements gives the identity).
pub(super) fn reduce(x: &RefArray, op: ReduceOp, axes: &[usize], out_shape: &[usize]) -> Vec<f64> {
    let dtype = x.dtype;
    let identity = match op {
        ReduceOp::Sum => 0.0,
        ReduceOp::Prod => 1.0,
        ReduceOp::Max => scalar::dtype_lowest(dtype),
        ReduceOp::Min => scalar::dtype_highest(dtype),
    };
    let mut out = vec![identity; numel(out_shape)];
    for (flat, i) in positions(&x.shape).enumerate() {
        let mut j = i;
        for &a in axes {
            j[a] = 0;
        }
        let o = ravel(&j, out_shape);
        let v = x.data[flat];
        out[o] = match op {
            ReduceOp::Sum => scalar::add(out[o], v, dtype),
            ReduceOp::Prod => scalar::mul(out[o], v, dtype),
            ReduceOp::Max => scalar::max_nan(out[o], v),
            ReduceOp::Min => scalar::min_nan(out[o], v),
        };
    }
    out
}

/// Flat offsets, in order, of the elements of `x` along `axis` through
/// `line` (a multi-index whose `axis` entry is ignored).
fn line_offsets(x: &RefArray, line: &[usize], axis: usize) -> Vec<usize> {
    (0..x.shape[axis])
        .map(|k| {
            let mut j = line.to_vec();
            j[axis] = k;
            ravel(&j, &x.shape)
        })
        .collect()
}

/// The shape of the lines along `axis`: `x`'s shape with `axis` set to 1.
fn lines_shape(x: &RefArray, axis: usize) -> Vec<usize> {
    let mut s = x.shape.clone();
    s[axis] = 1;
    s
}

/// Index of the first extreme along `axis` (a NaN, the first one, beats
/// every number). `out_shape` is `x`'s shape with `axis` of size 1.
pub(super) fn arg_reduce(
    x: &RefArray,
    op: ArgReduceOp,
    axis: usize,
    out_shape: &[usize],
) -> Vec<f64> {
    positions(out_shape)
        .map(|line| {
            let offsets = line_offsets(x, &line, axis);
            let mut best = 0;
            for k in 1..offsets.len() {
                let (b, v) = (x.data[offsets[best]], x.data[offsets[k]]);
                if b.is_nan() {
                    break;
                }
                let better = v.is_nan()
                    || match op {
                        ArgReduceOp::ArgMax => v > b,
                        ArgReduceOp::ArgMin => v < b,
                    };
                if better {
                    best = k;
                }
            }
            best as f64
        })
        .collect()
}

/// Inclusive scan along `axis`, from the end when `reverse`.
pub(super) fn scan(x: &RefArray, op: ScanOp, axis: usize, reverse: bool) -> Vec<f64> {
    let mut out = vec![0.0; x.data.len()];
    for line in positions(&lines_shape(x, axis)) {
        let mut offsets = line_offsets(x, &line, axis);
        if reverse {
            offsets.reverse();
        }
        let mut acc = match op {
            ScanOp::Sum => 0.0,
            ScanOp::Prod => 1.0,
        };
        for o in offsets {
            acc = match op {
                ScanOp::Sum => scalar::add(acc, x.data[o], x.dtype),
                ScanOp::Prod => scalar::mul(acc, x.data[o], x.dtype),
            };
            out[o] = acc;
        }
    }
    out
}

/// Indices that sort each line along `axis`, by a stable sort: ascending
/// with NaN last, or descending with NaN first (ties keep their original
/// order in both directions).
pub(super) fn argsort(x: &RefArray, axis: usize, descending: bool) -> Vec<f64> {
    let mut out = vec![0.0; x.data.len()];
    for line in positions(&lines_shape(x, axis)) {
        let offsets = line_offsets(x, &line, axis);
        let mut order: Vec<usize> = (0..offsets.len()).collect();
        // `sort_by` is stable.
        order.sort_by(|&p, &q| {
            let (a, b) = (x.data[offsets[p]], x.data[offsets[q]]);
            if descending {
                scalar::cmp_nan_last(b, a)
            } else {
                scalar::cmp_nan_last(a, b)
            }
        });
        for (k, &o) in offsets.iter().enumerate() {
            out[o] = order[k] as f64;
        }
    }
    out
}

/// `y[.., i, j] = sum_k a[.., i, k] * b[.., k, j]`.
pub(super) fn matmul(a: &RefArray, b: &RefArray, out_shape: &[usize]) -> Vec<f64> {
    let r = a.shape.len();
    let inner = a.shape[r - 1];
    let dtype = a.dtype;
    positions(out_shape)
        .map(|o| {
            let mut ai = o.clone();
            let mut bi = o.clone();
            let mut acc = 0.0;
            for k in 0..inner {
                ai[r - 1] = k;
                bi[r - 2] = k;
                acc = scalar::add(acc, scalar::mul(a.at(&ai), b.at(&bi), dtype), dtype);
            }
            acc
        })
        .collect()
}
