//! Reverse-mode autodiff from one set of VJP rules ([`vjp`]), offered two
//! ways: PyTorch's `loss.backward()` / `param.grad()` ([`backward`]) and
//! JAX's composable `grad` / `value_and_grad` / `vjp` ([`functional`]).
//! Both run the same engine ([`backprop`]) over the graph that tensors
//! record while some input requires grad.

pub mod backprop;
pub mod backward;
pub mod custom;
pub mod functional;
pub mod tree;
pub mod vjp;

pub use custom::{checkpoint, custom_vjp};
pub use functional::{grad, value_and_grad, value_and_grad_with_aux, vjp, VjpFn};
pub use tree::{jit_walk, Const, KeyPart, Static, Tree};
