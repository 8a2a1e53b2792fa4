//! Kiln: an MLX/JAX-style array framework for Rust with PyTorch-familiar
//! ergonomics.
//!
//! Tensors are lazy handles to nodes of one small IR; data is computed when
//! read. Start with [`prelude`]:
//!
//! ```
//! use kiln::prelude::*;
//! let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
//! let y = (&x * 2.0).sum(.., false);
//! assert_eq!(y.item::<f32>().unwrap(), 20.0);
//! ```

pub use kiln_core::*;

/// Everything a typical program needs, in one import.
pub mod prelude {
    pub use kiln_core::autodiff::{
        checkpoint, custom_vjp, grad, value_and_grad, value_and_grad_with_aux, vjp, Const, Static,
        Tree,
    };
    pub use kiln_core::jit::{debug_print, jit, make_ir, Jit, Passes};
    pub use kiln_core::ops::creation::{
        arange, bernoulli, eye, from_f64, full, full_like, linspace, normal, ones, ones_like,
        permutation, rand, randint, randn, uniform, zeros, zeros_like,
    };
    pub use kiln_core::ops::elementwise::where_;
    pub use kiln_core::ops::index::take_along_axis;
    pub use kiln_core::ops::linalg::{dot, einsum, matmul, outer};
    pub use kiln_core::ops::nn::{
        avg_pool2d, conv1d, conv2d, elu, gelu, layer_norm, leaky_relu, log_softmax, max_pool2d,
        relu, rms_norm, selu, silu, softmax,
    };
    pub use kiln_core::ops::shape::{concat, stack, NewAxis, SliceArg};
    pub use kiln_core::ops::Axes;
    pub use kiln_core::random::{seed, Key};
    pub use kiln_core::{enable_grad, no_grad, s, DType, Error, Result, Tensor};
}

/// Neural-network modules, losses, optimizers and serialization.
pub use kiln_nn as nn;

/// Datasets and data loaders.
pub use kiln_data as data;

/// The README's Rust examples, compiled and run as doc tests.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
