//! Elementwise kernels: unary, binary, compare, select, cast, random.
//!
//! Each reads inputs of any layout (contiguous fast path, strided rows
//! otherwise) and writes a fresh contiguous buffer; large contiguous inputs
//! are split over threads (the kernel workers of [`super::workers`], which
//! start at once; rayon's sleeping threads cost tens of microseconds to
//! wake, more than the whole op at 64K elements).

use super::scalar::{FloatCompute, Num, Ordered, Real};
use super::{simd, workers};
use crate::array::{for_each_row, Array};
use crate::buffer::BufferElement;
use crate::dtype::{DType, Element};
use crate::primitive::{BinaryOp, CompareOp, Distribution, UnaryOp};
use crate::random::{element_bits, normal_from_bits, uniform_from_bits};
use rayon::prelude::*;

/// Inputs with at least this many elements are split over threads.
pub const PARALLEL_THRESHOLD: usize = 1 << 16;
const CHUNK: usize = 1 << 14;

/// `f` applied to every element of `a`, row-major.
pub fn map1<T: BufferElement, U: BufferElement>(a: &Array, f: impl Fn(T) -> U + Sync) -> Vec<U> {
    if let Some(s) = a.contiguous_slice::<T>() {
        let mut out = crate::pool::take::<U>(s.len());
        if s.len() >= PARALLEL_THRESHOLD {
            workers::for_each_chunk(&mut out, CHUNK, &|at, o| {
                simd::map_slice(&s[at..at + o.len()], o, &f)
            });
        } else {
            simd::map_slice(s, &mut out, &f);
        }
        return out;
    }
    let src = a.buffer().as_slice::<T>();
    strided_map(
        a.shape(),
        [a.strides()],
        [a.offset()],
        |[o], [s], dst: &mut [U]| {
            let mut p = o as isize;
            for d in dst {
                *d = f(src[p as usize]);
                p += s;
            }
        },
    )
}

/// The output of a row-major walk over `shape` of `N` strided operands:
/// `row(offsets, strides, dst)` fills each innermost row (`offsets` the
/// operands' buffer positions of its first element, `strides` theirs along
/// the row). Large walks are split over the kernel workers along the
/// leading dims; each task runs at the same SIMD level as the contiguous
/// loops (so the same float results).
pub(crate) fn strided_map<const N: usize, U: BufferElement>(
    shape: &[usize],
    strides: [&[isize]; N],
    offsets: [usize; N],
    row: impl Fn([usize; N], [isize; N], &mut [U]) + Sync,
) -> Vec<U> {
    let n = crate::shape::numel(shape);
    let mut out = crate::pool::take::<U>(n);
    if n == 0 {
        return out;
    }
    // Leading dims whose product gives enough tasks for the threads.
    let (mut lead, mut tasks) = (0, 1);
    while n >= PARALLEL_THRESHOLD && lead + 1 < shape.len() && tasks < 64 {
        tasks *= shape[lead];
        lead += 1;
    }
    let inner: [&[isize]; N] = std::array::from_fn(|j| &strides[j][lead..]);
    let task = |t: usize, dst: &mut [U]| {
        let mut base: [isize; N] = offsets.map(|o| o as isize);
        let mut rest = t;
        for d in (0..lead).rev() {
            let i = (rest % shape[d]) as isize;
            rest /= shape[d];
            for j in 0..N {
                base[j] += i * strides[j][d];
            }
        }
        simd::run_dispatched(&mut || {
            let mut k = 0;
            for_each_row(
                &shape[lead..],
                inner,
                base.map(|b| b as usize),
                |o, len, st| {
                    row(o, st, &mut dst[k..k + len]);
                    k += len;
                },
            );
        });
    };
    if tasks >= 2 {
        let chunk = n / tasks;
        workers::for_each_chunk(&mut out, chunk, &|at, dst| task(at / chunk, dst));
    } else {
        task(0, &mut out);
    }
    out
}

/// `f` applied to pairs of elements of equally shaped `a` and `b`.
pub fn map2<T: BufferElement, V: BufferElement, U: BufferElement>(
    a: &Array,
    b: &Array,
    f: impl Fn(T, V) -> U + Sync,
) -> Vec<U> {
    if let (Some(x), Some(y)) = (a.contiguous_slice::<T>(), b.contiguous_slice::<V>()) {
        let mut out = crate::pool::take::<U>(x.len());
        if x.len() >= PARALLEL_THRESHOLD {
            workers::for_each_chunk(&mut out, CHUNK, &|at, o| {
                let n = o.len();
                simd::zip_slice(&x[at..at + n], &y[at..at + n], o, &f)
            });
        } else {
            simd::zip_slice(x, y, &mut out, &f);
        }
        return out;
    }
    // A contiguous operand against a broadcast scalar (`x * 0.5`): one value
    // for the whole loop instead of the strided walk.
    if let (true, Some(q)) = (a.is_contiguous(), broadcast_scalar::<V>(b)) {
        return map1::<T, U>(a, |p| f(p, q));
    }
    if let (Some(p), true) = (broadcast_scalar::<T>(a), b.is_contiguous()) {
        return map1::<V, U>(b, |q| f(p, q));
    }
    let (sa, sb) = (a.buffer().as_slice::<T>(), b.buffer().as_slice::<V>());
    strided_map(
        a.shape(),
        [a.strides(), b.strides()],
        [a.offset(), b.offset()],
        |[oa, ob], [ta, tb], dst: &mut [U]| {
            let (mut p, mut q) = (oa as isize, ob as isize);
            for d in dst {
                *d = f(sa[p as usize], sb[q as usize]);
                p += ta;
                q += tb;
            }
        },
    )
}

/// The single value of an array whose every stride is 0 (a broadcast scalar).
fn broadcast_scalar<T: BufferElement>(a: &Array) -> Option<T> {
    if a.numel() > 0 && a.strides().iter().all(|&s| s == 0) {
        Some(a.buffer().as_slice::<T>()[a.offset()])
    } else {
        None
    }
}

/// The unary primitive `op` on `a`.
pub fn unary(op: UnaryOp, a: &Array) -> Array {
    use UnaryOp::*;
    let shape = a.shape().to_vec();
    let d = a.dtype();
    match op {
        LogicalNot => Array::from_vec(map1::<bool, bool>(a, |x| !x), shape),
        IsNan => crate::with_float_dtype!(
            d,
            T,
            { Array::from_vec(map1::<T, bool>(a, |x| x.is_nan()), shape) },
            unreachable!("infer admits floats only")
        ),
        IsInf => crate::with_float_dtype!(
            d,
            T,
            { Array::from_vec(map1::<T, bool>(a, |x| x.to_f64().is_infinite()), shape) },
            unreachable!("infer admits floats only")
        ),
        Neg | Abs | Sign if !d.is_float() => crate::with_int_dtype!(
            d,
            T,
            {
                let f: fn(T) -> T = match op {
                    Neg => <T as Num>::neg,
                    Abs => <T as Num>::abs,
                    _ => <T as Num>::sign,
                };
                Array::from_vec(map1::<T, T>(a, f), shape)
            },
            unreachable!("infer rejects bool")
        ),
        _ => crate::with_float_dtype!(
            d,
            T,
            {
                // Match on the op outside the loop so each loop is its own
                // monomorphised, inlined body.
                macro_rules! per_op {
                    ($($o:ident),*) => {
                        match op {
                            $($o => map1::<T, T>(a, |x| T::down(<T as FloatCompute>::C::apply($o, x.up()))),)*
                            _ => map1::<T, T>(a, |x| T::down(<T as FloatCompute>::C::apply(op, x.up()))),
                        }
                    };
                }
                Array::from_vec(
                    per_op!(
                        Exp, Expm1, Log, Sqrt, Rsqrt, Tanh, Sigmoid, Recip, Neg, Abs, Sin, Cos, Erf
                    ),
                    shape,
                )
            },
            unreachable!("infer admits floats only")
        ),
    }
}

/// The binary primitive `op` on equally shaped `a` and `b`.
pub fn binary(op: BinaryOp, a: &Array, b: &Array) -> Array {
    use BinaryOp::*;
    let shape = a.shape().to_vec();
    match op {
        LogicalAnd => Array::from_vec(map2::<bool, bool, bool>(a, b, |x, y| x & y), shape),
        LogicalOr => Array::from_vec(map2::<bool, bool, bool>(a, b, |x, y| x | y), shape),
        // One closure per op (not a function pointer), so each loop is
        // monomorphised and inlined.
        Maximum => crate::with_dtype!(a.dtype(), T, {
            Array::from_vec(map2::<T, T, T>(a, b, <T as Ordered>::max_nan), shape)
        }),
        Minimum => crate::with_dtype!(a.dtype(), T, {
            Array::from_vec(map2::<T, T, T>(a, b, <T as Ordered>::min_nan), shape)
        }),
        _ => crate::with_num_dtype!(
            a.dtype(),
            T,
            {
                let out = match op {
                    Add => map2::<T, T, T>(a, b, <T as Num>::add),
                    Sub => map2::<T, T, T>(a, b, <T as Num>::sub),
                    Mul => map2::<T, T, T>(a, b, <T as Num>::mul),
                    Div => map2::<T, T, T>(a, b, <T as Num>::div),
                    Rem => map2::<T, T, T>(a, b, <T as Num>::rem),
                    FloorDiv => map2::<T, T, T>(a, b, <T as Num>::floor_div),
                    _ => map2::<T, T, T>(a, b, <T as Num>::pow),
                };
                Array::from_vec(out, shape)
            },
            unreachable!("infer rejects bool arithmetic")
        ),
    }
}

// Generic over every dtype (bool included), so some comparisons and casts
// are trivial for one of the types.
#[allow(clippy::bool_comparison)]
/// The comparison `op` on equally shaped `a` and `b` (bool result).
pub fn compare(op: CompareOp, a: &Array, b: &Array) -> Array {
    use CompareOp::*;
    let shape = a.shape().to_vec();
    crate::with_dtype!(a.dtype(), T, {
        // One closure per op so each loop is monomorphised and vectorized.
        let out = match op {
            Eq => map2::<T, T, bool>(a, b, |x, y| x == y),
            Ne => map2::<T, T, bool>(a, b, |x, y| x != y),
            Lt => map2::<T, T, bool>(a, b, |x, y| x < y),
            Le => map2::<T, T, bool>(a, b, |x, y| x <= y),
            Gt => map2::<T, T, bool>(a, b, |x, y| x > y),
            Ge => map2::<T, T, bool>(a, b, |x, y| x >= y),
        };
        Array::from_vec(out, shape)
    })
}

/// An operand of [`select`]: contiguous data or one broadcast value.
#[derive(Clone, Copy)]
enum Operand<'a, T> {
    Slice(&'a [T]),
    Scalar(T),
}

impl<'a, T: BufferElement> Operand<'a, T> {
    fn of(a: &'a Array) -> Option<Self> {
        broadcast_scalar::<T>(a)
            .map(Operand::Scalar)
            .or_else(|| a.contiguous_slice::<T>().map(Operand::Slice))
    }

    /// Elements `start..start + len`.
    fn part(self, start: usize, len: usize) -> Self {
        match self {
            Operand::Slice(s) => Operand::Slice(&s[start..start + len]),
            scalar => scalar,
        }
    }
}

/// `dst[i] = if c[i] { a[i] } else { b[i] }` for contiguous or scalar operands.
fn select_part<T: BufferElement>(c: &[bool], a: Operand<T>, b: Operand<T>, dst: &mut [T]) {
    use Operand::*;
    match (a, b) {
        (Slice(x), Slice(y)) => {
            simd::zip3_slice(c, x, y, dst, &|c: bool, p: T, q: T| if c { p } else { q })
        }
        (Slice(x), Scalar(q)) => simd::zip_slice(c, x, dst, &|c: bool, p: T| if c { p } else { q }),
        (Scalar(p), Slice(y)) => simd::zip_slice(c, y, dst, &|c: bool, q: T| if c { p } else { q }),
        (Scalar(p), Scalar(q)) => simd::map_slice(c, dst, &|c: bool| if c { p } else { q }),
    }
}

/// `a` where `cond` else `b`.
pub fn select(cond: &Array, a: &Array, b: &Array) -> Array {
    let shape = a.shape().to_vec();
    crate::with_dtype!(a.dtype(), T, {
        if let (Some(c), Some(x), Some(y)) = (
            cond.contiguous_slice::<bool>(),
            Operand::<T>::of(a),
            Operand::<T>::of(b),
        ) {
            let mut out = crate::pool::take::<T>(c.len());
            if c.len() >= PARALLEL_THRESHOLD {
                workers::for_each_chunk(&mut out, CHUNK, &|at, o| {
                    let n = o.len();
                    select_part(&c[at..at + n], x.part(at, n), y.part(at, n), o)
                });
            } else {
                select_part(c, x, y, &mut out);
            }
            return Array::from_vec(out, shape);
        }
        let c = cond.to_vec::<bool>();
        let (x, y) = (a.to_vec::<T>(), b.to_vec::<T>());
        let out: Vec<T> = c
            .iter()
            .zip(x.iter().zip(&y))
            .map(|(&c, (&p, &q))| if c { p } else { q })
            .collect();
        Array::from_vec(out, shape)
    })
}

#[allow(clippy::unnecessary_cast)]
/// `a` converted to `to` (see `Primitive::Cast`).
pub fn cast(a: &Array, to: DType) -> Array {
    let from = a.dtype();
    if from == to {
        return a.contiguous();
    }
    let shape = a.shape().to_vec();
    if from.is_int() && to.is_int() {
        // Through i64 with `as`: two's-complement wrapping, like NumPy.
        return crate::with_int_dtype!(
            from,
            S,
            {
                crate::with_int_dtype!(
                    to,
                    D,
                    { Array::from_vec(map1::<S, D>(a, |x| x as i64 as D), shape) },
                    unreachable!()
                )
            },
            unreachable!()
        );
    }
    crate::with_dtype!(from, S, {
        crate::with_dtype!(to, D, {
            Array::from_vec(map1::<S, D>(a, |x| D::from_f64(x.to_f64())), shape)
        })
    })
}

/// Counter-based random numbers for `Primitive::Random`.
pub fn random(key: &Array, dist: Distribution, shape: &[usize], dtype: DType) -> Array {
    let k = key.to_vec::<u32>();
    let key = [k[0], k[1]];
    let n = crate::shape::numel(shape);
    crate::with_float_dtype!(
        dtype,
        T,
        {
            let sample = |i: usize| {
                let bits = element_bits(key, i as u64);
                T::from_f64(match dist {
                    Distribution::Uniform => uniform_from_bits(bits, dtype),
                    Distribution::Normal => normal_from_bits(bits),
                })
            };
            let out: Vec<T> = if n >= PARALLEL_THRESHOLD {
                (0..n).into_par_iter().map(sample).collect()
            } else {
                (0..n).map(sample).collect()
            };
            Array::from_vec(out, shape.to_vec())
        },
        unreachable!("infer admits floats only")
    )
}
