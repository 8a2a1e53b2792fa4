//! The `elementwise` suite: `add` and `mul` (two inputs), `exp`, `tanh`
//! and `selu` (Kiln's `selu`, itself composed of elementwise ops) over 1M
//! and 16M f32, a fresh output per call. GB/s counts the bytes of all
//! inputs plus the output; rows carry `ratio_copy`, their GB/s over the
//! `ref` copy's.

use kiln::prelude::*;

use super::{bytes, force, input, Context, Suite};
use crate::harness::{measure, Budget, Rate, Report};

/// The suite's registry entry.
pub const SUITE: Suite = Suite {
    name: "elementwise",
    about: "add, mul, exp, tanh, selu over 1M/16M f32 (GB/s)",
    run,
};

/// Element counts measured.
pub const SIZES: [usize; 2] = [1 << 20, 16 << 20];

/// An op under test: its name, its input count and how a user writes it.
struct Op {
    name: &'static str,
    inputs: usize,
    apply: fn(&Tensor, &Tensor) -> Tensor,
}

const OPS: [Op; 5] = [
    Op {
        name: "add",
        inputs: 2,
        apply: |a, b| a + b,
    },
    Op {
        name: "mul",
        inputs: 2,
        apply: |a, b| a * b,
    },
    Op {
        name: "exp",
        inputs: 1,
        apply: |a, _| a.exp(),
    },
    Op {
        name: "tanh",
        inputs: 1,
        apply: |a, _| a.tanh(),
    },
    Op {
        name: "selu",
        inputs: 1,
        apply: |a, _| selu(a),
    },
];

fn run(ctx: &Context, report: &mut Report) -> kiln::Result<()> {
    let dtype = DType::F32;
    for n in SIZES {
        let a = input(&[n], dtype)?;
        let b = input(&[n], dtype)?;
        for op in &OPS {
            let stats = measure(Budget::FAST, || force((op.apply)(&a, &b)))?;
            let moved = bytes(n, dtype) * (op.inputs + 1) as f64;
            let rate = Rate::gbps(moved, stats.median_s);
            let row = ctx
                .row(SUITE.name, op.name, dtype, &[n], stats, rate)
                .with_ratio("ratio_copy", rate.value() / ctx.refs.copy_gbps);
            report.emit(row);
        }
    }
    Ok(())
}
