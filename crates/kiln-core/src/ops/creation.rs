//! Creating tensors: constants, ranges, identity matrices and random numbers.

use super::misuse;
use crate::array::Array;
use crate::buffer::Buffer;
use crate::dtype::DType;
use crate::primitive::{Distribution, Primitive};
use crate::random::{next_key, Key};
use crate::shape::numel;
use crate::tensor::Tensor;

/// A tensor of `shape` filled with `value` (cast to `dtype`). Stored as one
/// element broadcast to the shape, so it costs no memory until used.
#[track_caller]
pub fn full(shape: &[usize], value: f64, dtype: DType) -> Tensor {
    Tensor::scalar_of(value, dtype).broadcast_to(shape)
}

/// Zeros of `shape` and `dtype`.
#[track_caller]
pub fn zeros(shape: &[usize], dtype: DType) -> Tensor {
    full(shape, 0.0, dtype)
}

/// Ones of `shape` and `dtype`.
#[track_caller]
pub fn ones(shape: &[usize], dtype: DType) -> Tensor {
    full(shape, 1.0, dtype)
}

/// Zeros with the shape and dtype of `t`.
#[track_caller]
pub fn zeros_like(t: &Tensor) -> Tensor {
    zeros(t.shape(), t.dtype())
}

/// Ones with the shape and dtype of `t`.
#[track_caller]
pub fn ones_like(t: &Tensor) -> Tensor {
    ones(t.shape(), t.dtype())
}

/// `value` with the shape and dtype of `t`.
#[track_caller]
pub fn full_like(t: &Tensor, value: f64) -> Tensor {
    full(t.shape(), value, t.dtype())
}

/// `start, start + step, ...` up to (not including) `stop`, as NumPy's
/// `arange`. Panics if `step` is zero.
#[track_caller]
pub fn arange(start: f64, stop: f64, step: f64, dtype: DType) -> Tensor {
    if step == 0.0 || !step.is_finite() {
        misuse(
            "arange",
            format!("step must be finite and non-zero, got {step}"),
        );
    }
    let n = ((stop - start) / step).ceil().max(0.0) as usize;
    let values: Vec<f64> = (0..n).map(|i| start + i as f64 * step).collect();
    Tensor::from_array(Array::new(Buffer::from_f64_slice(dtype, &values), vec![n]))
}

/// `num` evenly spaced values from `start` to `stop` inclusive.
#[track_caller]
pub fn linspace(start: f64, stop: f64, num: usize, dtype: DType) -> Tensor {
    let values: Vec<f64> = match num {
        0 => vec![],
        1 => vec![start],
        _ => {
            let step = (stop - start) / (num - 1) as f64;
            (0..num)
                .map(|i| {
                    if i == num - 1 {
                        stop
                    } else {
                        start + i as f64 * step
                    }
                })
                .collect()
        }
    };
    Tensor::from_array(Array::new(
        Buffer::from_f64_slice(dtype, &values),
        vec![num],
    ))
}

/// The `n x m` matrix with ones on diagonal `k` (0: main, >0: above).
#[track_caller]
pub fn eye(n: usize, m: usize, k: i64, dtype: DType) -> Tensor {
    let mut values = vec![0.0; n * m];
    for i in 0..n {
        let j = i as i64 + k;
        if (0..m as i64).contains(&j) {
            values[i * m + j as usize] = 1.0;
        }
    }
    Tensor::from_array(Array::new(
        Buffer::from_f64_slice(dtype, &values),
        vec![n, m],
    ))
}

/// A random key tensor (u32[2]) from `key`, or from the global generator.
#[track_caller]
fn key_tensor(key: Option<Key>) -> Tensor {
    if key.is_none() {
        // Under jit, a key drawn from the global generator is an input of
        // the traced program, so every call draws a fresh one.
        if let Some(t) = crate::jit::trace::global_key() {
            return t;
        }
    }
    let k = key.unwrap_or_else(next_key);
    Tensor::from_array(Array::from_vec(k.0.to_vec(), vec![2]))
}

#[track_caller]
fn random(dist: Distribution, shape: &[usize], dtype: DType, key: Option<Key>) -> Tensor {
    if !dtype.is_float() {
        misuse(
            "random",
            format!("random floats need a float dtype, got {dtype}"),
        );
    }
    Tensor::from_op(
        Primitive::Random {
            dist,
            shape: shape.to_vec(),
            dtype,
        },
        vec![key_tensor(key)],
    )
}

/// Uniform samples in `[low, high)`. `key: None` draws from the global
/// generator (see [`crate::random::seed`]).
#[track_caller]
pub fn uniform(shape: &[usize], low: f64, high: f64, dtype: DType, key: Option<Key>) -> Tensor {
    let u = random(Distribution::Uniform, shape, dtype, key);
    if low == 0.0 && high == 1.0 {
        u
    } else {
        u * (high - low) + low
    }
}

/// Uniform samples in `[0, 1)` (`torch.rand`).
#[track_caller]
pub fn rand(shape: &[usize], dtype: DType) -> Tensor {
    uniform(shape, 0.0, 1.0, dtype, None)
}

/// Normal samples with mean `mean` and standard deviation `std`.
#[track_caller]
pub fn normal(shape: &[usize], mean: f64, std: f64, dtype: DType, key: Option<Key>) -> Tensor {
    let z = random(Distribution::Normal, shape, dtype, key);
    if mean == 0.0 && std == 1.0 {
        z
    } else {
        z * std + mean
    }
}

/// Standard normal samples (`torch.randn`).
#[track_caller]
pub fn randn(shape: &[usize], dtype: DType) -> Tensor {
    normal(shape, 0.0, 1.0, dtype, None)
}

/// Random integers in `[low, high)` of an integer `dtype`.
#[track_caller]
pub fn randint(shape: &[usize], low: i64, high: i64, dtype: DType, key: Option<Key>) -> Tensor {
    if high <= low {
        misuse("randint", format!("empty range [{low}, {high})"));
    }
    let u = random(Distribution::Uniform, shape, DType::F64, key);
    (u * (high - low) as f64)
        .floor()
        .add(low as f64)
        .astype(dtype)
}

/// Bernoulli samples: true with probability `p`.
#[track_caller]
pub fn bernoulli(shape: &[usize], p: f64, key: Option<Key>) -> Tensor {
    random(Distribution::Uniform, shape, DType::F32, key).lt(p)
}

/// A random permutation of `0..n` (i64).
#[track_caller]
pub fn permutation(n: usize, key: Option<Key>) -> Tensor {
    random(Distribution::Uniform, &[n], DType::F64, key).argsort(0, false)
}

/// A tensor from f64 values cast to `dtype`; errors when the length does
/// not match the shape.
#[track_caller]
pub fn from_f64(values: &[f64], shape: &[usize], dtype: DType) -> crate::Result<Tensor> {
    if values.len() != numel(shape) {
        return Err(crate::Error::DataLength {
            shape: shape.to_vec(),
            expected: numel(shape),
            got: values.len(),
        });
    }
    Ok(Tensor::from_array(Array::new(
        Buffer::from_f64_slice(dtype, values),
        shape.to_vec(),
    )))
}
