//! `jit`: trace a function into an [`Ir`](crate::ir::Ir), optimize it,
//! fuse it, and cache the compiled plan.

pub mod trace;
