//! Data movement of the reference evaluator: each output element is read
//! from (or each input element added to) one position computed from the
//! contract's index formula. Shapes were validated by `infer`.

use super::{positions, ravel, scalar, RefArray};
use crate::dtype::DType;
use crate::shape::numel;

/// `y[i0, i1, ..] = x[j]` with `j[perm[a]] = i[a]`.
pub(super) fn permute(x: &RefArray, perm: &[usize], out_shape: &[usize]) -> Vec<f64> {
    positions(out_shape)
        .map(|i| {
            let mut j = vec![0; x.shape.len()];
            for (a, &p) in perm.iter().enumerate() {
                j[p] = i[a];
            }
            x.at(&j)
        })
        .collect()
}

/// NumPy broadcasting: `x`'s axes line up with the last axes of the output;
/// along a size-1 axis of `x` every output index reads index 0.
pub(super) fn broadcast(x: &RefArray, out_shape: &[usize]) -> Vec<f64> {
    let offset = out_shape.len() - x.shape.len();
    positions(out_shape)
        .map(|i| {
            let j: Vec<usize> = (0..x.shape.len())
                .map(|a| if x.shape[a] == 1 { 0 } else { i[offset + a] })
                .collect();
            x.at(&j)
        })
        .collect()
}

/// `y[i] = x[start + i * step]` along every axis.
pub(super) fn slice(
    x: &RefArray,
    start: &[usize],
    step: &[isize],
    out_shape: &[usize],
) -> Vec<f64> {
    positions(out_shape)
        .map(|i| {
            let j: Vec<usize> = (0..i.len())
                .map(|a| (start[a] as isize + i[a] as isize * step[a]) as usize)
                .collect();
            x.at(&j)
        })
        .collect()
}

/// The position of `x` that windows element `y_index` reads: with `lead`
/// leading axes and `k` window axes, `y[l.., o.., w..] = x[l.., o*stride +
/// w*dilation]`.
fn window_source(y_index: &[usize], k: usize, stride: &[usize], dilation: &[usize]) -> Vec<usize> {
    let lead = y_index.len() - 2 * k;
    let mut j = y_index[..lead].to_vec();
    for a in 0..k {
        j.push(y_index[lead + a] * stride[a] + y_index[lead + k + a] * dilation[a]);
    }
    j
}

/// Sliding windows over the last `k` axes (`out_shape` is `[.., O.., W..]`).
pub(super) fn windows(
    x: &RefArray,
    k: usize,
    stride: &[usize],
    dilation: &[usize],
    out_shape: &[usize],
) -> Vec<f64> {
    positions(out_shape)
        .map(|i| x.at(&window_source(&i, k, stride, dilation)))
        .collect()
}

/// The adjoint of [`windows`]: starts from zeros of `out_shape` (`[.., S..]`)
/// and adds every element of `y` (`[.., O.., W..]`) at the position it was
/// read from.
pub(super) fn windows_adjoint(
    y: &RefArray,
    k: usize,
    stride: &[usize],
    dilation: &[usize],
    out_shape: &[usize],
) -> Vec<f64> {
    let mut out = vec![0.0; numel(out_shape)];
    for (flat, i) in positions(&y.shape).enumerate() {
        let o = ravel(&window_source(&i, k, stride, dilation), out_shape);
        out[o] = scalar::add(out[o], y.data[flat], y.dtype);
    }
    out
}

/// Constant padding: `value` (cast to the dtype) everywhere, then `x` copied
/// to offset `lo`.
pub(super) fn pad(x: &RefArray, lo: &[usize], value: f64, out_shape: &[usize]) -> Vec<f64> {
    let fill = super::cast_value(value, DType::F64, x.dtype);
    let mut out = vec![fill; numel(out_shape)];
    for (flat, i) in positions(&x.shape).enumerate() {
        let j: Vec<usize> = (0..i.len()).map(|a| i[a] + lo[a]).collect();
        out[ravel(&j, out_shape)] = x.data[flat];
    }
    out
}

/// The inputs joined along `axis`: output index `i` along `axis` falls in
/// the first input whose running extent passes it.
pub(super) fn concat(xs: &[RefArray], axis: usize, out_shape: &[usize]) -> Vec<f64> {
    positions(out_shape)
        .map(|i| {
            let mut j = i.clone();
            for x in xs {
                if j[axis] < x.shape[axis] {
                    return x.at(&j);
                }
                j[axis] -= x.shape[axis];
            }
            unreachable!("output index {i:?} beyond every input")
        })
        .collect()
}

/// Resolves index value `raw` against an axis of size `n`: `[-n, n)` is
/// allowed, negatives count from the end; anything else is an error.
fn resolve_index(raw: f64, n: usize, name: &str, axis: usize) -> Result<usize, String> {
    let i = scalar::to_int(raw);
    let n_i = n as i128;
    if i < -n_i || i >= n_i {
        return Err(format!(
            "{name}: index {i} is out of range for axis {axis} of size {n}"
        ));
    }
    Ok(if i < 0 {
        (i + n_i) as usize
    } else {
        i as usize
    })
}

/// `take_along_axis`: `y[p] = x[p with axis replaced by idx[p]]`.
pub(super) fn gather(x: &RefArray, idx: &RefArray, axis: usize) -> Result<Vec<f64>, String> {
    let mut out = Vec::with_capacity(idx.data.len());
    for (flat, p) in positions(&idx.shape).enumerate() {
        let mut j = p;
        j[axis] = resolve_index(idx.data[flat], x.shape[axis], "gather", axis)?;
        out.push(x.at(&j));
    }
    Ok(out)
}

/// `y = base`, then `y[p with axis replaced by idx[p]] += src[p]` for every
/// position `p` of `src`.
pub(super) fn scatter_add(
    base: &RefArray,
    idx: &RefArray,
    src: &RefArray,
    axis: usize,
) -> Result<Vec<f64>, String> {
    let mut out = base.data.clone();
    for (flat, p) in positions(&src.shape).enumerate() {
        let mut j = p;
        j[axis] = resolve_index(idx.data[flat], base.shape[axis], "scatter_add", axis)?;
        let o = ravel(&j, &base.shape);
        out[o] = scalar::add(out[o], src.data[flat], base.dtype);
    }
    Ok(out)
}
