//! Kiln's core: lazy tensors over one closed enum of primitives, a
//! reference evaluator that is the test oracle, and the CPU runtime.
//!
//! Read in data-flow order: [`dtype`] and [`shape`] describe values;
//! [`primitive`] is the IR and [`infer`] its shape/dtype rules; [`tensor`] is
//! the lazy handle users hold and [`ops`] the API that builds graphs;
//! [`eval`] orders a graph and runs [`cpu`] kernels over [`array::Array`]s;
//! [`reference`] is the simple evaluator every kernel is tested against.

pub mod array;
pub mod autodiff;
pub mod buffer;
pub mod cpu;
pub mod display;
pub mod dtype;
pub mod error;
pub mod eval;
pub mod exec;
pub mod fusion;
pub mod infer;
pub mod ir;
pub mod jit;
pub mod ops;
pub mod passes;
pub mod pool;
pub mod primitive;
pub mod random;
pub mod reference;
pub mod shape;
pub mod tensor;

pub use dtype::DType;
pub use error::{Error, Result};
pub use tensor::{enable_grad, no_grad, Tensor};
