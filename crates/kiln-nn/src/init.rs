//! Parameter initialisers (PyTorch's defaults), all seeded by an explicit
//! [`Key`] so two runs with one seed build identical models.

use kiln_core::ops::creation::{normal, uniform};
use kiln_core::random::Key;
use kiln_core::{DType, Tensor};

/// Makes `t` a parameter: evaluated now, a fresh leaf that requires grad.
pub fn parameter(t: Tensor) -> Tensor {
    let data = t
        .array()
        .expect("kiln-nn: evaluating a parameter initialiser failed");
    Tensor::from_array(data).requires_grad(true)
}

/// A non-trainable buffer: evaluated now, a fresh leaf without grad.
pub fn buffer(t: Tensor) -> Tensor {
    let data = t
        .array()
        .expect("kiln-nn: evaluating a buffer initialiser failed");
    Tensor::from_array(data)
}

/// A parameter drawn from `U(-bound, bound)`.
pub fn uniform_param(shape: &[usize], bound: f64, dtype: DType, key: Key) -> Tensor {
    parameter(uniform(shape, -bound, bound, dtype, Some(key)))
}

/// A parameter drawn from `N(mean, std^2)`.
pub fn normal_param(shape: &[usize], mean: f64, std: f64, dtype: DType, key: Key) -> Tensor {
    parameter(normal(shape, mean, std, dtype, Some(key)))
}

/// PyTorch's default weight init for Linear/Conv: kaiming uniform with
/// `a = sqrt(5)`, which is `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`. The same
/// bound is PyTorch's default for their biases.
pub fn default_bound(fan_in: usize) -> f64 {
    if fan_in == 0 {
        0.0
    } else {
        1.0 / (fan_in as f64).sqrt()
    }
}

/// `p` converted to `dtype` as a fresh parameter (float parameters only;
/// others are returned unchanged). Used by `Module::cast`.
pub fn cast_param(p: &Tensor, dtype: DType) -> Tensor {
    if p.dtype().is_float() && p.dtype() != dtype {
        parameter(p.astype(dtype))
    } else {
        p.clone()
    }
}

/// `b` converted to `dtype` as a fresh buffer (float buffers only).
pub fn cast_buffer(b: &Tensor, dtype: DType) -> Tensor {
    if b.dtype().is_float() && b.dtype() != dtype {
        buffer(b.astype(dtype))
    } else {
        b.clone()
    }
}
