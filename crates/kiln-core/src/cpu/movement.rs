//! Data-movement kernels: pad, concat, gather, scatter-add and the adjoint of
//! sliding windows. Views (reshape, permute, broadcast, slice, windows) need
//! no kernel: see `Array`.

use super::scalar::Num;
use crate::array::{for_each_row, Array};
use crate::buffer::BufferElement;
use crate::dtype::Element;
use crate::shape::{contiguous_strides, numel};

/// Copies `src` (any layout) into `dst` at the positions of a strided layout.
fn copy_into<T: BufferElement>(
    src: &Array,
    dst: &mut [T],
    dst_strides: &[isize],
    dst_offset: usize,
) {
    let s = src.buffer().as_slice::<T>();
    for_each_row(
        src.shape(),
        [src.strides(), dst_strides],
        [src.offset(), dst_offset],
        |[p, q], n, [sp, sq]| {
            let (mut p, mut q) = (p as isize, q as isize);
            for _ in 0..n {
                dst[q as usize] = s[p as usize];
                p += sp;
                q += sq;
            }
        },
    );
}

/// Constant padding (`Primitive::Pad`).
pub fn pad(a: &Array, lo: &[usize], out_shape: &[usize], value: f64) -> Array {
    crate::with_dtype!(a.dtype(), T, {
        let mut out = vec![T::from_f64(value); numel(out_shape)];
        let strides = contiguous_strides(out_shape);
        let offset: isize = lo.iter().zip(&strides).map(|(&l, &s)| l as isize * s).sum();
        copy_into::<T>(a, &mut out, &strides, offset as usize);
        Array::from_vec(out, out_shape.to_vec())
    })
}

/// Joins arrays along `axis` (`Primitive::Concat`).
pub fn concat(inputs: &[Array], axis: usize, out_shape: &[usize]) -> Array {
    crate::with_dtype!(inputs[0].dtype(), T, {
        let mut out = vec![T::default(); numel(out_shape)];
        let strides = contiguous_strides(out_shape);
        let mut at = 0usize;
        for a in inputs {
            copy_into::<T>(a, &mut out, &strides, at * strides[axis] as usize);
            at += a.shape()[axis];
        }
        Array::from_vec(out, out_shape.to_vec())
    })
}

#[allow(clippy::unnecessary_cast)]
/// Index values as i64, row-major.
fn indices(idx: &Array) -> Vec<i64> {
    crate::with_int_dtype!(
        idx.dtype(),
        I,
        { idx.to_vec::<I>().into_iter().map(|v| v as i64).collect() },
        unreachable!("infer admits integer indices only")
    )
}

/// Resolves a possibly negative index against `n`.
fn resolve(i: i64, n: usize) -> Result<usize, String> {
    let j = if i < 0 { i + n as i64 } else { i };
    if j < 0 || j >= n as i64 {
        Err(format!("index {i} is out of range for an axis of size {n}"))
    } else {
        Ok(j as usize)
    }
}

/// `take_along_axis` (`Primitive::Gather`).
pub fn gather(x: &Array, idx: &Array, axis: usize) -> Result<Array, String> {
    let ids = indices(idx);
    let n = x.shape()[axis];
    let mut rest = x.strides().to_vec();
    let axis_stride = rest[axis];
    rest[axis] = 0;
    let shape = idx.shape().to_vec();
    crate::with_dtype!(x.dtype(), T, {
        let src = x.buffer().as_slice::<T>();
        let mut out = Vec::with_capacity(ids.len());
        let mut k = 0usize;
        let mut err = None;
        for_each_row(&shape, [&rest], [x.offset()], |[p], len, [s]| {
            let mut p = p as isize;
            for _ in 0..len {
                match resolve(ids[k], n) {
                    Ok(j) => out.push(src[(p + j as isize * axis_stride) as usize]),
                    Err(e) => {
                        err.get_or_insert(e);
                        out.push(T::default());
                    }
                }
                k += 1;
                p += s;
            }
        });
        match err {
            Some(e) => Err(e),
            None => Ok(Array::from_vec(out, shape)),
        }
    })
}

/// Scatter-add along `axis` (`Primitive::ScatterAdd`).
pub fn scatter_add(base: &Array, idx: &Array, src: &Array, axis: usize) -> Result<Array, String> {
    let ids = indices(idx);
    let shape = base.shape().to_vec();
    let n = shape[axis];
    let strides = contiguous_strides(&shape);
    let mut rest = strides.clone();
    rest[axis] = 0;
    crate::with_num_dtype!(
        base.dtype(),
        T,
        {
            let mut out = base.to_vec::<T>();
            let vals = src.to_vec::<T>();
            let mut k = 0usize;
            let mut err = None;
            for_each_row(idx.shape(), [&rest], [0], |[p], len, [s]| {
                let mut p = p as isize;
                for _ in 0..len {
                    match resolve(ids[k], n) {
                        Ok(j) => {
                            let q = (p + j as isize * strides[axis]) as usize;
                            out[q] = <T as Num>::add(out[q], vals[k]);
                        }
                        Err(e) => {
                            err.get_or_insert(e);
                        }
                    }
                    k += 1;
                    p += s;
                }
            });
            match err {
                Some(e) => Err(e),
                None => Ok(Array::from_vec(out, shape)),
            }
        },
        unreachable!("infer rejects bool")
    )
}

/// The adjoint of sliding windows: sums every window element back into the
/// position it came from (`Primitive::WindowsAdjoint`).
pub fn windows_adjoint(
    y: &Array,
    window: &[usize],
    stride: &[usize],
    dilation: &[usize],
    out_shape: &[usize],
) -> Array {
    let k = window.len();
    let lead = out_shape.len() - k;
    let ostr = contiguous_strides(out_shape);
    // The strides that `Windows` would give a contiguous output array.
    let mut wstr = ostr[..lead].to_vec();
    wstr.extend((0..k).map(|i| ostr[lead + i] * stride[i] as isize));
    wstr.extend((0..k).map(|i| ostr[lead + i] * dilation[i] as isize));
    let n = numel(out_shape);
    crate::with_num_dtype!(
        y.dtype(),
        T,
        { accumulate_windows::<T>(y, &wstr, n, out_shape, <T as Num>::add) },
        // Bool windows: logical-or accumulation.
        accumulate_windows::<bool>(y, &wstr, n, out_shape, |a, b| a | b)
    )
}

/// Adds (with `add`) every element of `y` into a zeroed output at the
/// positions given by the window strides `wstr`. The dims before the
/// window dims (batch, channels) map one to one between `y` and the
/// output, so blocks of them are split over threads, each writing its own
/// part of the output; within a block elements are added in `y`'s
/// row-major order, so results do not depend on the split.
fn accumulate_windows<T: BufferElement>(
    y: &Array,
    wstr: &[isize],
    n: usize,
    out_shape: &[usize],
    add: impl Fn(T, T) -> T + Sync,
) -> Array {
    let lead = out_shape.len() - (y.shape().len() - out_shape.len());
    let outer: usize = out_shape[..lead].iter().product();
    let mut out = crate::pool::take::<T>(n);
    if n == 0 {
        return Array::from_vec(out, out_shape.to_vec());
    }
    let per = n / outer;
    let src = y.buffer().as_slice::<T>();
    let (ystr, yshape) = (y.strides(), y.shape());
    let block = |first: usize, dst: &mut [T]| {
        dst.fill(T::default());
        for l in 0..dst.len() / per {
            // Unravel lead index `first + l` into y's offset.
            let (mut rest, mut base) = (first + l, y.offset() as isize);
            for d in (0..lead).rev() {
                base += (rest % yshape[d]) as isize * ystr[d];
                rest /= yshape[d];
            }
            let dst = &mut dst[l * per..(l + 1) * per];
            for_each_row(
                &yshape[lead..],
                [&ystr[lead..], &wstr[lead..]],
                [base as usize, 0],
                |[p, q], len, [sp, sq]| {
                    let (mut p, mut q) = (p as isize, q as isize);
                    for _ in 0..len {
                        let o = &mut dst[q as usize];
                        *o = add(*o, src[p as usize]);
                        p += sp;
                        q += sq;
                    }
                },
            );
        }
    };
    if n >= super::elementwise::PARALLEL_THRESHOLD && outer > 1 {
        let per_task = outer.div_ceil(4 * super::workers::threads()).max(1);
        super::workers::for_each_chunk(&mut out, per_task * per, &|start, dst| {
            block(start / per, dst)
        });
    } else {
        block(0, &mut out);
    }
    Array::from_vec(out, out_shape.to_vec())
}
