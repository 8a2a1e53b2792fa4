//! Kernels that work along axes: reductions, arg-reductions, scans, argsort.
//!
//! Each moves the axes it works on to the end (a view), so the work is a loop
//! over contiguous rows; rows are split over threads when there are many.

use super::scalar::{FloatCompute, Num, Ordered};
use super::simd;
use super::workers;
use crate::array::Array;
use crate::buffer::BufferElement;
use crate::dtype::{DType, Element};
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

/// `a` seen as `[outer, reduced, inner]` (its element counts) when it is
/// contiguous and `axes` are consecutive, so reductions need no copy.
fn split3(a: &Array, axes: &[usize]) -> Option<(usize, usize, usize)> {
    let (&first, &last) = (axes.iter().min()?, axes.iter().max()?);
    if !a.is_contiguous() || last - first + 1 != axes.len() {
        return None;
    }
    let sh = a.shape();
    let outer = sh[..first].iter().product();
    let red = sh[first..=last].iter().product();
    let inner = sh[last + 1..].iter().product();
    Some((outer, red, inner))
}

/// Elements per parallel task in the reductions.
const TASK: usize = 1 << 15;
/// The widest column block of a column reduction (8 KiB of f32
/// accumulators, which stay in L1).
const COLS: usize = 2048;
/// The narrowest column block of a column reduction.
const MIN_COLS: usize = 256;

/// Reduces contiguous `x` laid out as `[outer, red, inner]` over `red`:
/// `step` folds an element into an accumulator, `merge` joins two
/// accumulators, `finish` makes the output element. Rows (`inner == 1`) use
/// lane-wise accumulators; columns (`inner > 1`) accumulate whole rows into
/// a vector of accumulators. Work is split over threads above
/// [`PARALLEL_THRESHOLD`](super::elementwise::PARALLEL_THRESHOLD) elements.
fn fold_reduce<T, A, U>(
    x: &[T],
    (outer, red, inner): (usize, usize, usize),
    init: A,
    step: impl Fn(A, T) -> A + Sync,
    merge: impl Fn(A, A) -> A + Sync,
    finish: impl Fn(A) -> U + Sync,
) -> Vec<U>
where
    T: BufferElement,
    A: Copy + Send + Sync,
    U: BufferElement,
{
    let mut out = crate::pool::take::<U>(outer * inner);
    let parallel = x.len() >= super::elementwise::PARALLEL_THRESHOLD;
    let fold_row = |row: &[T]| -> A {
        let lanes = simd::fold_lanes(row, init, &step);
        lanes.into_iter().reduce(&merge).unwrap_or(init)
    };
    if out.is_empty() {
        return out;
    }
    if red == 0 {
        out.iter_mut().for_each(|o| *o = finish(init));
    } else if inner == 1 && parallel && outer < 2 * rayon::current_num_threads() {
        // Few long rows: split each row over threads.
        for (row, o) in x.chunks(red).zip(out.iter_mut()) {
            let parts: Vec<A> = row.par_chunks(TASK).map(fold_row).collect();
            *o = finish(parts.into_iter().reduce(&merge).unwrap_or(init));
        }
    } else if inner == 1 {
        let per_task = (TASK / red).max(1);
        let run = |(rows, o): (&[T], &mut [U])| {
            for (row, o) in rows.chunks(red).zip(o.iter_mut()) {
                *o = finish(fold_row(row));
            }
        };
        if parallel {
            x.par_chunks(red * per_task)
                .zip(out.par_chunks_mut(per_task))
                .for_each(run);
        } else {
            run((x, &mut out[..]));
        }
    } else {
        column_fold(
            x,
            (outer, red, inner),
            &mut out,
            init,
            &step,
            &finish,
            parallel,
        );
    }
    out
}

/// The column case of [`fold_reduce`] (`inner > 1`): each task folds all
/// `red` rows of a block of columns, row after row, into a vector of
/// accumulators (so each column sums in index order, whatever the block
/// width or thread count). Blocks are as wide as [`COLS`] allows while
/// still giving every thread one: each task then reads long contiguous
/// runs of every row.
fn column_fold<T, A, U>(
    x: &[T],
    (outer, red, inner): (usize, usize, usize),
    out: &mut [U],
    init: A,
    step: &(impl Fn(A, T) -> A + Sync),
    finish: &(impl Fn(A) -> U + Sync),
    parallel: bool,
) where
    T: BufferElement,
    A: Copy + Send + Sync,
    U: BufferElement,
{
    let threads = if parallel { workers::threads() } else { 1 };
    let blocks_per_row = threads.div_ceil(outer);
    let width = inner
        .div_ceil(blocks_per_row)
        .next_multiple_of(64)
        .clamp(MIN_COLS, COLS);
    let column_block = |o: usize, j0: usize, dst: &mut [U]| {
        let mut acc = vec![init; dst.len()];
        let start = o * red * inner + j0;
        let end = start + (red - 1) * inner + dst.len();
        simd::update_rows(&mut acc, &x[start..end], inner, red, step);
        for (d, a) in dst.iter_mut().zip(acc) {
            *d = finish(a);
        }
    };
    let blocks: Vec<(usize, usize, &mut [U])> = out
        .chunks_mut(inner)
        .enumerate()
        .flat_map(|(o, row)| {
            row.chunks_mut(width)
                .enumerate()
                .map(move |(c, dst)| (o, c * width, dst))
        })
        .collect();
    if parallel {
        workers::par_items(blocks, |_, (o, j0, dst)| column_block(o, j0, dst));
    } else {
        blocks
            .into_iter()
            .for_each(|(o, j0, dst)| column_block(o, j0, dst));
    }
}

/// Reductions over at most this many elements per output (pooling
/// windows) of a strided input run as [`window_reduce`].
const SMALL_WINDOW: usize = 64;

/// Max, min or (f32/f64) sum over few elements per output of a strided
/// input: one strided pass that folds every window position into each
/// output element, in window order.
/// Each pass walks long output rows, where moving the axes last and folding
/// rows of a few elements would pay per-row overhead.
fn window_reduce(a: &Array, op: ReduceOp, axes: &[usize], out_shape: &[usize]) -> Option<Array> {
    let count: usize = axes.iter().map(|&i| a.shape()[i]).product();
    let out_n = crate::shape::numel(out_shape);
    let float_sum = op == ReduceOp::Sum && matches!(a.dtype(), DType::F32 | DType::F64);
    if a.is_contiguous()
        || count == 0
        || count > SMALL_WINDOW
        || out_n < super::elementwise::PARALLEL_THRESHOLD
        || !(matches!(op, ReduceOp::Max | ReduceOp::Min) || float_sum)
    {
        return None;
    }
    let steps = vec![1isize; a.shape().len()];
    let view_at = |r: usize| {
        let mut start = vec![0usize; a.shape().len()];
        let mut rest = r;
        for &ax in axes.iter().rev() {
            start[ax] = rest % a.shape()[ax];
            rest /= a.shape()[ax];
        }
        a.slice(&start, &steps, out_shape)
    };
    // Window position r is the first position's view shifted in the buffer.
    let first = view_at(0);
    let shifts: Vec<isize> = (1..count)
        .map(|r| view_at(r).offset() as isize - first.offset() as isize)
        .collect();
    let shape = out_shape.to_vec();
    Some(match op {
        ReduceOp::Max => crate::with_dtype!(a.dtype(), T, {
            Array::from_vec(first.gather_fold::<T>(&shifts, T::max_nan), shape)
        }),
        ReduceOp::Min => crate::with_dtype!(a.dtype(), T, {
            Array::from_vec(first.gather_fold::<T>(&shifts, T::min_nan), shape)
        }),
        _ => crate::with_float_dtype!(
            a.dtype(),
            T,
            { Array::from_vec(first.gather_fold::<T>(&shifts, <T as Num>::add), shape) },
            unreachable!("checked above: f32 or f64")
        ),
    })
}

/// `Primitive::Reduce`: the output keeps reduced axes with size 1.
pub fn reduce(a: &Array, op: ReduceOp, axes: &[usize], out_shape: &[usize]) -> Array {
    if let Some(out) = window_reduce(a, op, axes, out_shape) {
        return out;
    }
    let rows = crate::shape::numel(out_shape);
    let d = a.dtype();
    // Contiguous input, consecutive axes: fold in place. Otherwise move the
    // axes last (a copy) and fold rows.
    let (copy, layout);
    let view = match split3(a, axes) {
        Some(l) => {
            layout = l;
            a
        }
        None => {
            let mut perm: Vec<usize> = (0..a.shape().len()).filter(|i| !axes.contains(i)).collect();
            perm.extend_from_slice(axes);
            let row: usize = axes.iter().map(|&i| a.shape()[i]).product();
            copy = a.permute(&perm).contiguous();
            layout = (rows, row, 1);
            &copy
        }
    };
    macro_rules! fold {
        ($T:ty, $init:expr, $step:expr, $merge:expr, $finish:expr) => {{
            let x = view.contiguous_slice::<$T>().expect("contiguous");
            Array::from_vec(
                fold_reduce(x, layout, $init, $step, $merge, $finish),
                out_shape.to_vec(),
            )
        }};
    }
    match op {
        ReduceOp::Max => crate::with_dtype!(d, T, {
            fold!(T, T::lowest(), T::max_nan, T::max_nan, |v| v)
        }),
        ReduceOp::Min => crate::with_dtype!(d, T, {
            fold!(T, T::highest(), T::min_nan, T::min_nan, |v| v)
        }),
        ReduceOp::Sum if d.is_float() => crate::with_float_dtype!(
            d,
            T,
            {
                type C = <T as FloatCompute>::C;
                fold!(
                    T,
                    C::from(0.0f32),
                    |s: C, v: T| s + v.up(),
                    |p: C, q: C| p + q,
                    T::down
                )
            },
            unreachable!()
        ),
        ReduceOp::Sum => crate::with_num_dtype!(
            d,
            T,
            { fold!(T, T::zero(), <T as Num>::add, <T as Num>::add, |v| v) },
            unreachable!("infer rejects bool sums")
        ),
        ReduceOp::Prod => crate::with_num_dtype!(
            d,
            T,
            // Products round to the element type at each step, like the
            // reference evaluator.
            { fold!(T, T::one(), <T as Num>::mul, <T as Num>::mul, |v| v) },
            unreachable!("infer rejects bool products")
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Column reductions split over threads (in blocks of every width, and
    /// outer blocks) sum each column in row order, bitwise, and keep NaN.
    #[test]
    fn column_sums_fold_each_column_in_row_order() {
        for (outer, red, inner) in [(1, 70, 4100), (3, 33, 1000), (2, 600, 130), (5, 2, 9000)] {
            let n = outer * red * inner;
            assert!(n >= super::super::elementwise::PARALLEL_THRESHOLD);
            let mut data: Vec<f32> = (0..n)
                .map(|i| ((i * 7919) % 2003) as f32 * 1.37e-3 - 1.1 + (i % 7) as f32 * 3e5)
                .collect();
            data[inner + 5] = f32::NAN;
            let a = Array::from_vec(data.clone(), vec![outer, red, inner]);
            let got = reduce(&a, ReduceOp::Sum, &[1], &[outer, 1, inner]).to_vec::<f32>();
            let max = reduce(&a, ReduceOp::Max, &[1], &[outer, 1, inner]).to_vec::<f32>();
            for o in 0..outer {
                for j in 0..inner {
                    let column = (0..red).map(|r| data[(o * red + r) * inner + j]);
                    let want = column.clone().fold(0.0f32, |s, x| s + x);
                    let at = o * inner + j;
                    assert_eq!(
                        got[at].to_bits(),
                        want.to_bits(),
                        "[{outer}, {red}, {inner}] at ({o}, {j})"
                    );
                    let want_max = column.fold(f32::NEG_INFINITY, |m, x| {
                        if !m.is_nan() && (x > m || x.is_nan()) {
                            x
                        } else {
                            m
                        }
                    });
                    assert_eq!(max[at].to_bits(), want_max.to_bits(), "max at ({o}, {j})");
                }
            }
            assert!(got[5].is_nan() && max[5].is_nan());
        }
    }

    /// The strided small-window path agrees with the contiguous fold.
    #[test]
    fn window_reduce_matches_contiguous_fold() {
        let n: usize = 2 * 250 * 2 * 300;
        let data: Vec<f32> = (0..n)
            .map(|i| ((i * 7919) % 1000) as f32 * 0.01 - 5.0)
            .collect();
        let base = Array::from_vec(data, vec![2, 250, 2, 300]);
        // [250, 2, 300, 2] -> window axes 1 and 3 of a strided view.
        let a = base.permute(&[1, 0, 3, 2]);
        assert!(!a.is_contiguous());
        let out_shape = [250, 1, 300, 1];
        for op in [ReduceOp::Max, ReduceOp::Min, ReduceOp::Sum] {
            assert!(window_reduce(&a, op, &[1, 3], &out_shape).is_some());
            let fast = reduce(&a, op, &[1, 3], &out_shape).to_vec::<f32>();
            let slow = reduce(&a.contiguous(), op, &[1, 3], &out_shape).to_vec::<f32>();
            for (x, y) in fast.iter().zip(&slow) {
                assert!(
                    (x - y).abs() <= 1e-5 * y.abs().max(1.0),
                    "{op:?}: {x} vs {y}"
                );
            }
        }
    }
}
