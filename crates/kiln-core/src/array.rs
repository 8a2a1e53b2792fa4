//! Evaluated data: a shared [`Buffer`] seen through a strided layout.
//!
//! View primitives (permute, broadcast, slice, windows, reshape of contiguous
//! data) produce a new `Array` over the same buffer without copying. Kernels
//! read any layout and write fresh contiguous buffers.

use crate::buffer::{Buffer, BufferElement};
use crate::dtype::DType;
use crate::shape::{contiguous_strides, numel};
use std::sync::Arc;

/// A strided view of a shared buffer.
#[derive(Clone, Debug)]
pub struct Array {
    buf: Arc<Buffer>,
    shape: Vec<usize>,
    strides: Vec<isize>,
    offset: usize,
}

impl Array {
    /// A contiguous array owning `buf`, which must hold `numel(shape)` elements.
    pub fn new(buf: Buffer, shape: Vec<usize>) -> Array {
        debug_assert_eq!(buf.len(), numel(&shape), "buffer/shape mismatch");
        let strides = contiguous_strides(&shape);
        Array {
            buf: Arc::new(buf),
            shape,
            strides,
            offset: 0,
        }
    }

    /// A contiguous array from a typed vector.
    pub fn from_vec<T: BufferElement>(v: Vec<T>, shape: Vec<usize>) -> Array {
        Array::new(T::into_buffer(v), shape)
    }

    /// The element dtype.
    pub fn dtype(&self) -> DType {
        self.buf.dtype()
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Strides in elements (may be 0 for broadcast dims, negative for flips).
    pub fn strides(&self) -> &[isize] {
        &self.strides
    }

    /// Offset of element `[0, 0, ...]` in the buffer.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The underlying buffer.
    pub fn buffer(&self) -> &Arc<Buffer> {
        &self.buf
    }

    /// The buffer itself when no other array shares it (for kernels that
    /// write in place); otherwise the array back.
    pub fn into_buffer(self) -> Result<Buffer, Array> {
        let Array {
            buf,
            shape,
            strides,
            offset,
        } = self;
        Arc::try_unwrap(buf).map_err(|buf| Array {
            buf,
            shape,
            strides,
            offset,
        })
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        numel(&self.shape)
    }

    /// True if the elements are the buffer range `offset..offset+numel` in
    /// row-major order (always true for an empty array).
    pub fn is_contiguous(&self) -> bool {
        if self.shape.contains(&0) {
            return true;
        }
        let mut expect = 1isize;
        for (&d, &s) in self.shape.iter().zip(&self.strides).rev() {
            if d != 1 && s != expect {
                return false;
            }
            expect *= d as isize;
        }
        true
    }

    /// The elements as a slice when the layout is contiguous.
    pub fn contiguous_slice<T: BufferElement>(&self) -> Option<&[T]> {
        if self.numel() == 0 {
            // A view may start past its buffer's end when it is empty.
            Some(&self.buf.as_slice::<T>()[..0])
        } else if self.is_contiguous() {
            Some(&self.buf.as_slice::<T>()[self.offset..self.offset + self.numel()])
        } else {
            None
        }
    }

    /// The elements in row-major order, copied into a new vector. Large
    /// strided copies are split over threads along the leading dims.
    pub fn to_vec<T: BufferElement>(&self) -> Vec<T> {
        if let Some(s) = self.contiguous_slice::<T>() {
            let mut out = crate::pool::take::<T>(s.len());
            out.copy_from_slice(s);
            return out;
        }
        self.gather_fold(&[], |x: T, _| x)
    }

    /// The elements in row-major order, each folded with the elements at
    /// the same position of this view shifted by `shifts` (buffer offsets):
    /// `out[i] = combine(..combine(x[i], x[i + shifts[0]]).., x[i +
    /// shifts[k - 1]])` with `x[i + d]` the element `d` buffer positions
    /// after the view's element `i`. Pooling reduces its window positions
    /// this way in one pass, without a copy per position. Large outputs are
    /// split over threads along the leading dims. Panics if a shifted
    /// view leaves the buffer.
    pub fn gather_fold<T: BufferElement>(
        &self,
        shifts: &[isize],
        combine: impl Fn(T, T) -> T + Sync,
    ) -> Vec<T> {
        let data = self.buf.as_slice::<T>();
        crate::cpu::elementwise::strided_map(
            &self.shape,
            [&self.strides],
            [self.offset],
            |[o], [s], dst: &mut [T]| {
                if s == 1 && shifts.is_empty() {
                    dst.copy_from_slice(&data[o..o + dst.len()]);
                    return;
                }
                let mut p = o as isize;
                for v in dst {
                    let mut x = data[p as usize];
                    for &d in shifts {
                        x = combine(x, data[(p + d) as usize]);
                    }
                    *v = x;
                    p += s;
                }
            },
        )
    }

    /// The first element (at the view's offset) widened to f64; `None` for
    /// an empty array.
    pub fn first_f64(&self) -> Option<f64> {
        if self.numel() == 0 {
            return None;
        }
        Some(crate::with_dtype!(self.dtype(), T, {
            crate::dtype::Element::to_f64(self.buf.as_slice::<T>()[self.offset])
        }))
    }

    /// True if every element is the same stored value (all strides 0).
    pub fn is_splat(&self) -> bool {
        self.numel() >= 1
            && self
                .strides
                .iter()
                .zip(&self.shape)
                .all(|(&s, &d)| s == 0 || d == 1)
    }

    /// The elements widened to f64, row-major.
    pub fn to_f64_vec(&self) -> Vec<f64> {
        crate::with_dtype!(self.dtype(), T, {
            self.to_vec::<T>()
                .into_iter()
                .map(crate::dtype::Element::to_f64)
                .collect()
        })
    }

    /// This array with a contiguous layout (no copy if it already is one).
    pub fn contiguous(&self) -> Array {
        if self.is_contiguous() {
            return self.clone();
        }
        crate::with_dtype!(self.dtype(), T, {
            Array::from_vec(self.to_vec::<T>(), self.shape.clone())
        })
    }

    /// A view with axes reordered.
    pub fn permute(&self, perm: &[usize]) -> Array {
        Array {
            buf: self.buf.clone(),
            shape: perm.iter().map(|&p| self.shape[p]).collect(),
            strides: perm.iter().map(|&p| self.strides[p]).collect(),
            offset: self.offset,
        }
    }

    /// A view broadcast to `shape` (stride 0 on repeated dims).
    pub fn broadcast_to(&self, shape: &[usize]) -> Array {
        let lead = shape.len() - self.shape.len();
        let strides = (0..shape.len())
            .map(|i| {
                if i < lead || self.shape[i - lead] == 1 && shape[i] != 1 {
                    0
                } else {
                    self.strides[i - lead]
                }
            })
            .collect();
        Array {
            buf: self.buf.clone(),
            shape: shape.to_vec(),
            strides,
            offset: self.offset,
        }
    }

    /// A strided sub-view (see `Primitive::Slice`).
    pub fn slice(&self, start: &[usize], step: &[isize], shape: &[usize]) -> Array {
        let mut offset = self.offset as isize;
        for i in 0..start.len() {
            if shape[i] > 0 {
                offset += start[i] as isize * self.strides[i];
            }
        }
        Array {
            buf: self.buf.clone(),
            shape: shape.to_vec(),
            strides: (0..step.len()).map(|i| self.strides[i] * step[i]).collect(),
            offset: offset.max(0) as usize,
        }
    }

    /// A view of sliding windows over the last axes (see `Primitive::Windows`).
    pub fn windows(
        &self,
        out_shape: &[usize],
        window: &[usize],
        stride: &[usize],
        dilation: &[usize],
    ) -> Array {
        let k = window.len();
        let lead = self.shape.len() - k;
        let mut strides = self.strides[..lead].to_vec();
        let spatial = &self.strides[lead..];
        strides.extend(spatial.iter().zip(stride).map(|(&s, &st)| s * st as isize));
        strides.extend(spatial.iter().zip(dilation).map(|(&s, &d)| s * d as isize));
        Array {
            buf: self.buf.clone(),
            shape: out_shape.to_vec(),
            strides,
            offset: self.offset,
        }
    }

    /// A view with a new shape of the same element count; copies first when
    /// the layout is not contiguous.
    pub fn reshape(&self, shape: &[usize]) -> Array {
        let base = self.contiguous();
        Array {
            buf: base.buf,
            shape: shape.to_vec(),
            strides: contiguous_strides(shape),
            offset: base.offset,
        }
    }
}

/// Calls `f(offsets, len, inner_strides)` once per innermost row of `shape`
/// for `N` arrays walked in lockstep: `offsets[j]` is the buffer position of
/// the row's first element in array `j`, `inner_strides[j]` its stride along
/// the last axis. Rank-0 shapes give one row of length 1; empty shapes none.
pub fn for_each_row<const N: usize>(
    shape: &[usize],
    strides: [&[isize]; N],
    base: [usize; N],
    mut f: impl FnMut([usize; N], usize, [isize; N]),
) {
    if shape.contains(&0) {
        return;
    }
    let rank = shape.len();
    if rank == 0 {
        f(base, 1, [0; N]);
        return;
    }
    let inner = shape[rank - 1];
    let inner_strides: [isize; N] = std::array::from_fn(|j| strides[j][rank - 1]);
    let outer = &shape[..rank - 1];
    let mut idx = vec![0usize; outer.len()];
    let mut pos: [isize; N] = std::array::from_fn(|j| base[j] as isize);
    loop {
        f(pos.map(|p| p as usize), inner, inner_strides);
        // Odometer increment over the outer dims.
        let mut d = outer.len();
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            idx[d] += 1;
            for j in 0..N {
                pos[j] += strides[j][d];
            }
            if idx[d] < outer[d] {
                break;
            }
            for j in 0..N {
                pos[j] -= strides[j][d] * outer[d] as isize;
            }
            idx[d] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_share_data() {
        let a = Array::from_vec((0..6).map(|v| v as f32).collect(), vec![2, 3]);
        let t = a.permute(&[1, 0]);
        assert!(!t.is_contiguous());
        assert_eq!(t.to_vec::<f32>(), vec![0., 3., 1., 4., 2., 5.]);
        let b = Array::from_vec(vec![1.0f32, 2.0], vec![2, 1]).broadcast_to(&[3, 2, 2]);
        assert_eq!(
            b.to_vec::<f32>(),
            vec![1., 1., 2., 2., 1., 1., 2., 2., 1., 1., 2., 2.]
        );
        let r = a.slice(&[1, 2], &[-1, -2], &[2, 2]);
        assert_eq!(r.to_vec::<f32>(), vec![5., 3., 2., 0.]);
        assert_eq!(
            t.reshape(&[6]).to_vec::<f32>(),
            vec![0., 3., 1., 4., 2., 5.]
        );
    }

    #[test]
    fn rows_of_scalars_and_empties() {
        let mut n = 0;
        for_each_row(&[], [&[]], [0], |_, len, _| n += len);
        assert_eq!(n, 1);
        for_each_row(&[2, 0, 3], [&[0, 3, 1]], [0], |_, len, _| n += len);
        assert_eq!(n, 1);
    }
}
