//! `Primitive::LastAxis` in the reference evaluator: each row (the last
//! axis) computed with plain f64 loops, straight from the formulas.

use super::RefArray;
use crate::primitive::LastAxisOp;

/// `max` that propagates NaN (-inf for an empty row).
fn max_nan(row: &[f64]) -> f64 {
    row.iter().fold(f64::NEG_INFINITY, |m, &v| {
        if m.is_nan() || v.is_nan() {
            f64::NAN
        } else {
            m.max(v)
        }
    })
}

/// One row of `op`; the output has the row's length (1 for `LogSumExp`).
fn row(op: LastAxisOp, x: &[f64]) -> Vec<f64> {
    let n = x.len() as f64;
    match op {
        LastAxisOp::Softmax => {
            let m = max_nan(x);
            let e: Vec<f64> = x.iter().map(|&v| (v - m).exp()).collect();
            let s: f64 = e.iter().sum();
            e.iter().map(|&v| v / s).collect()
        }
        LastAxisOp::LogSoftmax => {
            let m = max_nan(x);
            let s: f64 = x.iter().map(|&v| (v - m).exp()).sum();
            x.iter().map(|&v| (v - m) - s.ln()).collect()
        }
        LastAxisOp::LogSumExp => {
            let m = max_nan(x);
            let shift = if m.is_finite() { m } else { 0.0 };
            let s: f64 = x.iter().map(|&v| (v - shift).exp()).sum();
            vec![s.ln() + shift]
        }
        LastAxisOp::LayerNorm { eps } => {
            let mean = x.iter().sum::<f64>() / n;
            let var = x.iter().map(|&v| (v - mean) * (v - mean)).sum::<f64>() / n;
            let r = 1.0 / (var + eps).sqrt();
            x.iter().map(|&v| (v - mean) * r).collect()
        }
        LastAxisOp::RmsNorm { eps } => {
            let ms = x.iter().map(|&v| v * v).sum::<f64>() / n;
            let r = 1.0 / (ms + eps).sqrt();
            x.iter().map(|&v| v * r).collect()
        }
    }
}

/// Applies `op` to every row of `x` (rank >= 1).
pub(super) fn last_axis(x: &RefArray, op: LastAxisOp, out_shape: &[usize]) -> Vec<f64> {
    let n = *x.shape.last().expect("rank >= 1");
    if n == 0 {
        // Empty rows: nothing, or the logsumexp of nothing (-inf) per row.
        return vec![f64::NEG_INFINITY; crate::shape::numel(out_shape)];
    }
    x.data.chunks(n).flat_map(|r| row(op, r)).collect()
}
