//! The benchmark suites and their registry.
//!
//! A suite is a [`Suite`] value: a name, a one-line description and a `run`
//! function that measures its cases and [`Report::emit`]s one [`Row`] per
//! case. Adding a suite (say `jit`) is one more module here with a
//! `pub const SUITE: Suite` and one more entry in [`SUITES`].

use kiln::prelude::*;

use crate::harness::{Rate, Report, Row, Stats};
use crate::reference::References;

pub mod conv;
pub mod elementwise;
pub mod jit;
pub mod matmul;
pub mod reduce;

/// A named group of benchmark cases.
pub struct Suite {
    /// Name used on the command line and in the `suite` field.
    pub name: &'static str,
    /// One line for `--help`.
    pub about: &'static str,
    /// Measures every case, emitting a row per case.
    pub run: fn(&Context, &mut Report) -> kiln::Result<()>,
}

/// Every suite, in the order they run (after the `ref` suite).
pub const SUITES: &[Suite] = &[
    matmul::SUITE,
    elementwise::SUITE,
    reduce::SUITE,
    conv::SUITE,
    jit::SUITE,
];

/// The suite called `name`.
pub fn find(name: &str) -> Option<&'static Suite> {
    SUITES.iter().find(|s| s.name == name)
}

/// What every suite gets: the run's settings and the reference results.
pub struct Context {
    /// Rayon threads of the global pool.
    pub threads: usize,
    /// The `ref` suite's results, measured first in the same run.
    pub refs: References,
}

impl Context {
    /// A row of `suite` with this run's thread count.
    pub fn row(
        &self,
        suite: &'static str,
        name: impl Into<String>,
        dtype: DType,
        shape: &[usize],
        stats: Stats,
        rate: Rate,
    ) -> Row {
        Row::new(suite, name, dtype, shape, self.threads, stats, rate)
    }
}

/// A standard-normal input of `shape` and `dtype`, evaluated (so its
/// creation is never timed). Seeded: every run sees the same data.
pub fn input(shape: &[usize], dtype: DType) -> kiln::Result<Tensor> {
    let x = randn(shape, DType::F32);
    let x = if dtype == DType::F32 {
        x
    } else {
        x.astype(dtype)
    };
    x.eval()?;
    Ok(x)
}

/// Forces the evaluation of a freshly built result; the tensor (and its
/// output buffer) is dropped afterwards, so every timed call allocates a
/// fresh output, as user code does.
pub fn force(t: Tensor) -> kiln::Result<()> {
    t.eval()?;
    Ok(())
}

/// Bytes of `numel` elements of `dtype`.
pub fn bytes(numel: usize, dtype: DType) -> f64 {
    (numel * dtype.size_in_bytes()) as f64
}
