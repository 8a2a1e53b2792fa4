//! The `matmul` suite: `C = A @ B` for square `n x n` operands in f32, bf16
//! and f16, a fresh output per call. GFLOP/s = 2 n^3 / time. The bf16 and
//! f16 rows carry `ratio_f32`, their GFLOP/s over the f32 row of the same n.

use kiln::prelude::*;

use super::{force, input, Context, Suite};
use crate::harness::{measure, Budget, Rate, Report};

/// The suite's registry entry.
pub const SUITE: Suite = Suite {
    name: "matmul",
    about: "C = A @ B, n = 256/1024/2048, f32/bf16/f16 (GFLOP/s)",
    run,
};

/// Sizes measured.
pub const SIZES: [usize; 3] = [256, 1024, 2048];

/// Dtypes measured; f32 first, so the others can be compared to it.
pub const DTYPES: [DType; 3] = [DType::F32, DType::BF16, DType::F16];

fn run(ctx: &Context, report: &mut Report) -> kiln::Result<()> {
    for n in SIZES {
        let budget = if n >= 1024 {
            Budget::SLOW
        } else {
            Budget::FAST
        };
        for dtype in DTYPES {
            let a = input(&[n, n], dtype)?;
            let b = input(&[n, n], dtype)?;
            let stats = measure(budget, || force(a.matmul(&b)))?;
            let flops = 2.0 * (n as f64).powi(3);
            let mut row = ctx.row(
                SUITE.name,
                "matmul",
                dtype,
                &[n, n],
                stats,
                Rate::gflops(flops, stats.median_s),
            );
            if dtype != DType::F32 {
                if let Some(f32_row) = report.find(SUITE.name, "matmul", "f32", &[n, n]) {
                    let ratio = row.rate.value() / f32_row.rate.value();
                    row = row.with_ratio("ratio_f32", ratio);
                }
            }
            report.emit(row);
        }
    }
    Ok(())
}
