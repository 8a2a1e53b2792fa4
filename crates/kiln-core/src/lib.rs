//! Kiln's core: lazy tensors over one closed enum of primitives, a
//! reference evaluator that is the test oracle, and the CPU runtime.
//!
//! Read top to bottom in data-flow order: [`dtype`] and [`shape`] describe
//! values; [`primitive`] is the IR and [`infer`] its shape/dtype rules;
//! [`reference`] is the simple evaluator every kernel is tested against.

pub mod dtype;
pub mod infer;
pub mod primitive;
pub mod random;
pub mod reference;
pub mod shape;
