//! Batched matrix multiply: Kiln's own GEMM ([`super::blas`]: packing,
//! AVX2/AVX-512 microkernels, threads) for f32, for bf16 through
//! AVX512-BF16 dot products where the CPU has them, and widened to f32
//! for f16 (and bf16 elsewhere); the `gemm` crate for f64 (strided
//! operands, no copies, multi-threaded); and a plain i-k-j loop for
//! integers.

use super::blas::Operand;
use super::scalar::Num;
use crate::array::Array;
use crate::buffer::BufferElement;
use crate::dtype::{DType, Element};
use crate::shape::numel;
use gemm::Parallelism;

/// Buffer offsets of every batch matrix of `a` (all dims but the last two).
fn batch_offsets(a: &Array) -> Vec<usize> {
    let r = a.shape().len();
    let batch = &a.shape()[..r - 2];
    let strides = &a.strides()[..r - 2];
    let mut out = Vec::with_capacity(numel(batch));
    let mut idx = vec![0usize; batch.len()];
    for _ in 0..numel(batch) {
        let off: isize = a.offset() as isize
            + idx
                .iter()
                .zip(strides)
                .map(|(&i, &s)| i as isize * s)
                .sum::<isize>();
        out.push(off as usize);
        for d in (0..batch.len()).rev() {
            idx[d] += 1;
            if idx[d] < batch[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out
}

/// `Primitive::Matmul` on `a: [..., m, k]` and `b: [..., k, n]`.
pub fn matmul(a: &Array, b: &Array, out_shape: &[usize]) -> Array {
    match a.dtype() {
        DType::F32 => sgemm_batched(a, b, out_shape),
        DType::F64 => gemm_batched::<f64>(a, b, out_shape),
        DType::BF16 if super::blas::has_native_bf16() => {
            let c = bf16gemm_batched(a, b, out_shape);
            super::elementwise::cast(&c, DType::BF16)
        }
        // Half types otherwise: widened to f32 (O(n^2) conversions),
        // multiplied by the f32 kernel with f32 accumulation, rounded once.
        // Measured faster than gemm's native f16 kernel on AVX2 machines.
        DType::F16 | DType::BF16 => {
            let up = |x: &Array| super::elementwise::cast(x, DType::F32);
            let c = sgemm_batched(&up(a), &up(b), out_shape);
            super::elementwise::cast(&c, a.dtype())
        }
        d => crate::with_int_dtype!(
            d,
            T,
            { int_matmul::<T>(a, b, out_shape) },
            unreachable!("infer rejects bool")
        ),
    }
}

/// bf16 matmul of every batch matrix into f32 through
/// [`super::blas::bf16gemm_with`] (AVX512-BF16; the caller checked).
fn bf16gemm_batched(a: &Array, b: &Array, out_shape: &[usize]) -> Array {
    blas_batched::<half::bf16>(a, b, out_shape, |m, n, k, x, y, dst| {
        let done = super::blas::bf16gemm_with(&Default::default(), m, n, k, x, y, dst);
        assert!(done, "bf16gemm_batched: the CPU has no AVX512-BF16");
    })
}

/// f32 matmul of every batch matrix through [`super::blas::sgemm`].
fn sgemm_batched(a: &Array, b: &Array, out_shape: &[usize]) -> Array {
    blas_batched::<f32>(a, b, out_shape, super::blas::sgemm)
}

/// Runs `gemm(m, n, k, A_i, B_i, C_i)` for every batch matrix of `a` and
/// `b` (elements `T`) into a new f32 array of `out_shape`.
fn blas_batched<T: BufferElement>(
    a: &Array,
    b: &Array,
    out_shape: &[usize],
    gemm: impl Fn(usize, usize, usize, Operand<T>, Operand<T>, &mut [f32]),
) -> Array {
    let r = a.shape().len();
    let (m, k, n) = (a.shape()[r - 2], a.shape()[r - 1], b.shape()[r - 1]);
    let mut out = crate::pool::take::<f32>(numel(out_shape));
    if out.is_empty() {
        return Array::from_vec(out, out_shape.to_vec());
    }
    let (ars, acs) = (a.strides()[r - 2], a.strides()[r - 1]);
    let (brs, bcs) = (b.strides()[r - 2], b.strides()[r - 1]);
    let (ab, bb) = (a.buffer().as_slice::<T>(), b.buffer().as_slice::<T>());
    for ((ao, bo), dst) in batch_offsets(a)
        .into_iter()
        .zip(batch_offsets(b))
        .zip(out.chunks_mut(m * n))
    {
        gemm(
            m,
            n,
            k,
            Operand::new(ab, ao, ars, acs),
            Operand::new(bb, bo, brs, bcs),
            dst,
        );
    }
    Array::from_vec(out, out_shape.to_vec())
}

fn gemm_batched<T: BufferElement + Element>(a: &Array, b: &Array, out_shape: &[usize]) -> Array {
    let r = a.shape().len();
    let (m, k, n) = (a.shape()[r - 2], a.shape()[r - 1], b.shape()[r - 1]);
    let mut out = crate::pool::take::<T>(numel(out_shape));
    if k == 0 {
        out.iter_mut().for_each(|v| *v = T::zero());
    }
    if k == 0 || out.is_empty() {
        return Array::from_vec(out, out_shape.to_vec());
    }
    let (ars, acs) = (a.strides()[r - 2], a.strides()[r - 1]);
    let (brs, bcs) = (b.strides()[r - 2], b.strides()[r - 1]);
    let threads = if m * n * k >= 1 << 18 {
        Parallelism::Rayon(rayon::current_num_threads())
    } else {
        Parallelism::None
    };
    let (ab, bb) = (a.buffer().as_slice::<T>(), b.buffer().as_slice::<T>());
    for ((ao, bo), dst) in batch_offsets(a)
        .into_iter()
        .zip(batch_offsets(b))
        .zip(out.chunks_mut(m * n))
    {
        // SAFETY: the pointers address `m x k`, `k x n` and `m x n` matrices
        // inside their buffers: the layouts were validated by `infer` and
        // built by `Array`'s view constructors, and `dst` is exactly m*n long.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst.as_mut_ptr(),
                1,
                n as isize,
                false,
                ab.as_ptr().add(ao),
                acs,
                ars,
                bb.as_ptr().add(bo),
                bcs,
                brs,
                T::zero(),
                T::one(),
                false,
                false,
                false,
                threads,
            );
        }
    }
    Array::from_vec(out, out_shape.to_vec())
}

fn int_matmul<T: Num>(a: &Array, b: &Array, out_shape: &[usize]) -> Array {
    let r = a.shape().len();
    let (m, k, n) = (a.shape()[r - 2], a.shape()[r - 1], b.shape()[r - 1]);
    let (ars, acs) = (a.strides()[r - 2], a.strides()[r - 1]);
    let (brs, bcs) = (b.strides()[r - 2], b.strides()[r - 1]);
    let (ab, bb) = (a.buffer().as_slice::<T>(), b.buffer().as_slice::<T>());
    let mut out = vec![T::zero(); numel(out_shape)];
    if m * n > 0 {
        for ((ao, bo), dst) in batch_offsets(a)
            .into_iter()
            .zip(batch_offsets(b))
            .zip(out.chunks_mut(m * n))
        {
            for i in 0..m {
                for p in 0..k {
                    let x = ab[(ao as isize + i as isize * ars + p as isize * acs) as usize];
                    for j in 0..n {
                        let y = bb[(bo as isize + p as isize * brs + j as isize * bcs) as usize];
                        dst[i * n + j] = T::add(dst[i * n + j], T::mul(x, y));
                    }
                }
            }
        }
    }
    Array::from_vec(out, out_shape.to_vec())
}
