//! Kernels that work along axes: reductions, arg-reductions, scans, argsort.
//!
//! Each moves the axes it works on to the end (a view), so the work is a loop
//! over contiguous rows; rows are split over threads when there are many.

use super::scalar::{FloatCompute, Num, Ordered};
use crate::array::Array;
use crate::buffer::BufferElement;
use crate::dtype::Element;
use crate::primitive::{ArgReduceOp, ReduceOp, ScanOp};
use rayon::prelude::*;
use std::cmp::Ordering;

/// `a` with `axes` moved to the end, as contiguous data, plus the row length.
fn rows_last<T: BufferElement>(a: &Array, axes: &[usize]) -> (Vec<T>, usize) {
    let mut perm: Vec<usize> = (0..a.shape().len()).filter(|i| !axes.contains(i)).collect();
    perm.extend_from_slice(axes);
    let row: usize = axes.iter().map(|&i| a.shape()[i]).product();
    (a.permute(&perm).to_vec::<T>(), row)
}

/// Applies `f` to each row of length `row` producing one value per row.
fn per_row<T: Sync, U: Send + Default + Clone>(
    data: &[T],
    row: usize,
    rows: usize,
    f: impl Fn(&[T]) -> U + Sync,
) -> Vec<U> {
    if row == 0 {
        return vec![f(&[]); rows];
    }
    if data.len() >= super::elementwise::PARALLEL_THRESHOLD && rows > 1 {
        data.par_chunks(row).map(&f).collect()
    } else {
        data.chunks(row).map(&f).collect()
    }
}

/// Sum of a float row in its compute type, with 8 partial sums for accuracy
/// and speed.
fn float_sum<T: FloatCompute>(row: &[T]) -> T
where
    T::C: std::ops::Add<Output = T::C> + Default,
{
    let mut acc = [T::C::default(); 8];
    let chunks = row.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for i in 0..8 {
            acc[i] = acc[i] + c[i].up();
        }
    }
    let mut s = T::C::default();
    for v in acc {
        s = s + v;
    }
    for &v in tail {
        s = s + v.up();
    }
    T::down(s)
}

/// `Primitive::Reduce`: the output keeps reduced axes with size 1.
pub fn reduce(a: &Array, op: ReduceOp, axes: &[usize], out_shape: &[usize]) -> Array {
    let rows = crate::shape::numel(out_shape);
    let d = a.dtype();
    match op {
        ReduceOp::Max | ReduceOp::Min => crate::with_dtype!(d, T, {
            let (data, row) = rows_last::<T>(a, axes);
            let f = |r: &[T]| {
                if op == ReduceOp::Max {
                    r.iter().fold(T::lowest(), |m, &v| T::max_nan(m, v))
                } else {
                    r.iter().fold(T::highest(), |m, &v| T::min_nan(m, v))
                }
            };
            Array::from_vec(per_row(&data, row, rows, f), out_shape.to_vec())
        }),
        ReduceOp::Sum if d.is_float() => crate::with_float_dtype!(
            d,
            T,
            {
                let (data, row) = rows_last::<T>(a, axes);
                Array::from_vec(
                    per_row(&data, row, rows, float_sum::<T>),
                    out_shape.to_vec(),
                )
            },
            unreachable!()
        ),
        _ => crate::with_num_dtype!(
            d,
            T,
            {
                let (data, row) = rows_last::<T>(a, axes);
                let f = |r: &[T]| {
                    if op == ReduceOp::Sum {
                        r.iter().fold(T::zero(), |s, &v| <T as Num>::add(s, v))
                    } else {
                        r.iter().fold(T::one(), |s, &v| <T as Num>::mul(s, v))
                    }
                };
                Array::from_vec(per_row(&data, row, rows, f), out_shape.to_vec())
            },
            unreachable!("infer rejects bool sums")
        ),
    }
}

/// Total order used by argmax/argmin/argsort: NaN above everything.
fn nan_last<T: Ordered>(a: &T, b: &T) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => a.partial_cmp(b).unwrap_or(Ordering::Equal),
    }
}

#[allow(clippy::bool_comparison)]
/// `Primitive::ArgReduce`: index of the first extreme (NaN counts as one).
pub fn arg_reduce(a: &Array, op: ArgReduceOp, axis: usize, out_shape: &[usize]) -> Array {
    let rows = crate::shape::numel(out_shape);
    crate::with_dtype!(a.dtype(), T, {
        let (data, row) = rows_last::<T>(a, &[axis]);
        let f = |r: &[T]| {
            let mut best = 0usize;
            for i in 1..r.len() {
                if r[best].is_nan() {
                    break;
                }
                let better = match op {
                    ArgReduceOp::ArgMax => r[i].is_nan() || r[i] > r[best],
                    ArgReduceOp::ArgMin => r[i].is_nan() || r[i] < r[best],
                };
                if better {
                    best = i;
                }
            }
            best as i64
        };
        Array::from_vec(per_row(&data, row, rows, f), out_shape.to_vec())
    })
}

/// Moves the last axis of contiguous `data` (in the layout of `a` with `axis`
/// moved last) back to `axis`.
fn restore_axis<U: BufferElement>(data: Vec<U>, a: &Array, axis: usize) -> Array {
    let rank = a.shape().len();
    let mut moved: Vec<usize> = (0..rank)
        .filter(|&i| i != axis)
        .map(|i| a.shape()[i])
        .collect();
    moved.push(a.shape()[axis]);
    let mut inverse: Vec<usize> = (0..rank - 1).collect();
    inverse.insert(axis, rank - 1);
    Array::from_vec(data, moved).permute(&inverse).contiguous()
}

/// `Primitive::Scan`: inclusive cumulative sum or product along `axis`.
pub fn scan(a: &Array, op: ScanOp, axis: usize, reverse: bool) -> Array {
    crate::with_num_dtype!(
        a.dtype(),
        T,
        {
            let (mut data, row) = rows_last::<T>(a, &[axis]);
            if row > 0 {
                for r in data.chunks_mut(row) {
                    let mut acc = if op == ScanOp::Sum {
                        T::zero()
                    } else {
                        T::one()
                    };
                    let mut step = |v: &mut T| {
                        acc = if op == ScanOp::Sum {
                            <T as Num>::add(acc, *v)
                        } else {
                            <T as Num>::mul(acc, *v)
                        };
                        *v = acc;
                    };
                    if reverse {
                        r.iter_mut().rev().for_each(&mut step);
                    } else {
                        r.iter_mut().for_each(&mut step);
                    }
                }
            }
            restore_axis(data, a, axis)
        },
        unreachable!("infer rejects bool scans")
    )
}

/// `Primitive::Argsort`: stable; NaN last ascending, first descending.
pub fn argsort(a: &Array, axis: usize, descending: bool) -> Array {
    crate::with_dtype!(a.dtype(), T, {
        let (data, row) = rows_last::<T>(a, &[axis]);
        let mut out = vec![0i64; data.len()];
        if row > 0 {
            let mut idx: Vec<usize> = Vec::with_capacity(row);
            for (r, o) in data.chunks(row).zip(out.chunks_mut(row)) {
                idx.clear();
                idx.extend(0..row);
                if descending {
                    idx.sort_by(|&i, &j| nan_last(&r[j], &r[i]));
                } else {
                    idx.sort_by(|&i, &j| nan_last(&r[i], &r[j]));
                }
                for (o, &i) in o.iter_mut().zip(&idx) {
                    *o = i as i64;
                }
            }
        }
        restore_axis(out, a, axis)
    })
}
