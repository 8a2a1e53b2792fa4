//! Shared helpers for kiln-nn's integration tests.
#![allow(dead_code)]

use kiln_core::Tensor;

/// A float tensor from values.
pub fn t(values: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_vec(values.to_vec(), shape).unwrap()
}

/// A parameter (leaf requiring grad) from values.
pub fn param(values: &[f32], shape: &[usize]) -> Tensor {
    t(values, shape).requires_grad(true)
}

/// The values of a tensor as f64.
pub fn vals(x: &Tensor) -> Vec<f64> {
    x.to_f64_vec().unwrap()
}

/// Asserts elementwise closeness with a relative-plus-absolute tolerance.
#[track_caller]
pub fn assert_close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "lengths differ: {got:?} vs {want:?}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "element {i}: got {g}, want {w} (all: {got:?} vs {want:?})"
        );
    }
}
