//! The `reduce` suite over f32: `sum_all` of 16M elements, `sum_rows`
//! (axis 1) and `sum_cols` (axis 0) of 4096 x 4096, and `softmax_rows` and
//! `logsumexp_rows` (last axis) of 4096 x 4096.
//!
//! GB/s counts bytes read plus bytes written. `sum_all` carries
//! `ratio_read` (its GB/s over the `ref` read pass's); `softmax_rows`
//! carries `vs_copy`, its time over the time of one copy of the array (the
//! `ref` copy of 64 MiB, which is exactly 4096 x 4096 f32).

use kiln::prelude::*;

use super::{bytes, force, input, Context, Suite};
use crate::harness::{measure, Budget, Rate, Report, Stats};

/// The suite's registry entry.
pub const SUITE: Suite = Suite {
    name: "reduce",
    about: "sum of 16M, row/col sums, softmax, logsumexp of 4096x4096 (GB/s)",
    run,
};

/// Side of the square matrices.
pub const SIDE: usize = 4096;

/// Elements of the flat sum.
pub const FLAT: usize = 16 << 20;

fn run(ctx: &Context, report: &mut Report) -> kiln::Result<()> {
    let dtype = DType::F32;
    let emit = |report: &mut Report, name: &str, shape: &[usize], stats: Stats, moved: f64| {
        let rate = Rate::gbps(moved, stats.median_s);
        let row = ctx.row(SUITE.name, name, dtype, shape, stats, rate);
        report.emit(row);
    };

    let x = input(&[FLAT], dtype)?;
    let stats = measure(Budget::FAST, || force(x.sum(.., false)))?;
    let rate = Rate::gbps(bytes(FLAT, dtype), stats.median_s);
    let row = ctx
        .row(SUITE.name, "sum_all", dtype, &[FLAT], stats, rate)
        .with_ratio("ratio_read", rate.value() / ctx.refs.read_gbps);
    report.emit(row);
    drop(x);

    let shape = [SIDE, SIDE];
    let m = input(&shape, dtype)?;
    let whole = bytes(SIDE * SIDE, dtype);
    let line = bytes(SIDE, dtype);

    let stats = measure(Budget::FAST, || force(m.sum(1, false)))?;
    emit(report, "sum_rows", &shape, stats, whole + line);
    let stats = measure(Budget::FAST, || force(m.sum(0, false)))?;
    emit(report, "sum_cols", &shape, stats, whole + line);

    let stats = measure(Budget::FAST, || force(softmax(&m, -1)))?;
    let rate = Rate::gbps(2.0 * whole, stats.median_s);
    let row = ctx
        .row(SUITE.name, "softmax_rows", dtype, &shape, stats, rate)
        .with_ratio("vs_copy", stats.median_s / ctx.refs.copy.median_s);
    report.emit(row);

    let stats = measure(Budget::FAST, || force(m.logsumexp(-1, false)))?;
    emit(report, "logsumexp_rows", &shape, stats, whole + line);
    Ok(())
}
