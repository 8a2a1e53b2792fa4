//! The `conv` suite: a ResNet-style 3x3 conv2d (batch 32, 64 -> 64
//! channels, 56 x 56, stride 1, padding 1, f32; GFLOP/s =
//! 2 N Cout Cin 9 H W / time) and a 2x2 stride-2 max_pool2d of the same
//! input (GB/s = input + output bytes / time).

use kiln::prelude::*;

use super::{bytes, force, input, Context, Suite};
use crate::harness::{measure, Budget, Rate, Report};

/// The suite's registry entry.
pub const SUITE: Suite = Suite {
    name: "conv",
    about: "3x3 conv2d 32x64x56x56 -> 64 channels (GFLOP/s), 2x2 max_pool2d (GB/s)",
    run,
};

const N: usize = 32;
const C: usize = 64;
const HW: usize = 56;

fn run(ctx: &Context, report: &mut Report) -> kiln::Result<()> {
    let dtype = DType::F32;
    let shape = [N, C, HW, HW];
    let x = input(&shape, dtype)?;
    let w = input(&[C, C, 3, 3], dtype)?;

    let stats = measure(Budget::SLOW, || {
        force(conv2d(&x, &w, None, (1, 1), (1, 1), (1, 1), 1))
    })?;
    let flops = 2.0 * (N * C * C * 9 * HW * HW) as f64;
    let rate = Rate::gflops(flops, stats.median_s);
    report.emit(ctx.row(SUITE.name, "conv2d_3x3", dtype, &shape, stats, rate));

    let stats = measure(Budget::FAST, || {
        force(max_pool2d(&x, (2, 2), (2, 2), (0, 0)))
    })?;
    let out = N * C * (HW / 2) * (HW / 2);
    let moved = bytes(N * C * HW * HW, dtype) + bytes(out, dtype);
    let rate = Rate::gbps(moved, stats.median_s);
    report.emit(ctx.row(SUITE.name, "max_pool2d_2x2", dtype, &shape, stats, rate));
    Ok(())
}
