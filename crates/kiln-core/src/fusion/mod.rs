//! Fusion as a lowering: an [`Ir`] becomes an executable [`Plan`] whose
//! steps are single primitives or fused kernels.
//!
//! [`partition`] groups elementwise chains (and an elementwise prologue and
//! epilogue around a reduction) that can run as one pass over memory;
//! [`plan`] schedules the groups, compiles each to a tile program (through
//! the kernel cache shared by eager and jitted code) and plans memory:
//! values are released after their last reader and a kernel may write
//! into the buffer of an input that dies there.

pub mod partition;
pub mod plan;

pub use plan::{FusedStep, Plan, ReduceStep, Step};

use crate::ir::Ir;
use partition::Unit;

/// Lowers `ir` to a plan. With `fuse` off every equation is its own step.
/// `needed[v]` marks variables that must be materialized besides the
/// outputs.
pub fn lower(ir: &Ir, needed: &[bool], fuse: bool) -> Plan {
    let units = if fuse {
        partition::partition(ir)
    } else {
        (0..ir.eqns.len()).map(Unit::Single).collect()
    };
    plan::build(ir, units, needed)
}
