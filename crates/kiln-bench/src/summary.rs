//! The `summary` block: the references (copy and read bandwidth, matmul
//! peak) and the checks as ratios, each with its target and
//! PASS/MISS. A check whose rows were not measured (suite not selected)
//! reads `n/a`. Misses never change the exit status.

use serde_json::json;

use crate::harness::{Rate, Report};
use crate::reference::References;
use crate::suites::{elementwise, jit, matmul, reduce};

/// Suite name of the summary's JSON lines.
pub const NAME: &str = "summary";

/// Which way a ratio must go.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Target {
    /// `value >= bound`.
    AtLeast(f64),
    /// `value < bound`.
    Below(f64),
}

impl Target {
    /// Whether `value` meets the target.
    pub fn met(self, value: f64) -> bool {
        match self {
            Target::AtLeast(b) => value >= b,
            Target::Below(b) => value < b,
        }
    }

    fn label(self) -> String {
        match self {
            Target::AtLeast(b) => format!(">= {b:.2}"),
            Target::Below(b) => format!("< {b:.2}"),
        }
    }
}

/// One of the checks.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    /// Stable identifier (JSON `name`).
    pub name: &'static str,
    /// What is divided by what.
    pub about: &'static str,
    /// The ratio, if its rows were measured.
    pub value: Option<f64>,
    /// Its target.
    pub target: Target,
}

/// Rate of a row, if measured.
fn rate(report: &Report, suite: &str, name: &str, dtype: &str, shape: &[usize]) -> Option<f64> {
    report
        .find(suite, name, dtype, shape)
        .map(|r| r.rate.value())
}

/// The checks, from the rows in `report`.
pub fn checks(report: &Report, refs: &References) -> Vec<Check> {
    let big = [16usize << 20];
    let ew =
        |op| rate(report, elementwise::SUITE.name, op, "f32", &big).map(|g| g / refs.copy_gbps);
    let mm = |dtype| {
        let s = [2048, 2048];
        let f32_rate = rate(report, matmul::SUITE.name, "matmul", "f32", &s)?;
        Some(rate(report, matmul::SUITE.name, "matmul", dtype, &s)? / f32_rate)
    };
    let side = [reduce::SIDE, reduce::SIDE];
    let softmax = report
        .find(reduce::SUITE.name, "softmax_rows", "f32", &side)
        .map(|r| r.stats.median_s / refs.copy.median_s);
    let sum = rate(
        report,
        reduce::SUITE.name,
        "sum_all",
        "f32",
        &[reduce::FLAT],
    )
    .map(|g| g / refs.read_gbps);
    let check = |name, about, value, target| Check {
        name,
        about,
        value,
        target,
    };
    vec![
        check(
            "add_16M_vs_copy",
            "add 16M GB/s / copy GB/s",
            ew("add"),
            Target::AtLeast(0.70),
        ),
        check(
            "exp_16M_vs_copy",
            "exp 16M GB/s / copy GB/s",
            ew("exp"),
            Target::AtLeast(0.60),
        ),
        check(
            "tanh_16M_vs_copy",
            "tanh 16M GB/s / copy GB/s",
            ew("tanh"),
            Target::AtLeast(0.60),
        ),
        check(
            "sum_16M_vs_read",
            "sum 16M GB/s / read GB/s",
            sum,
            Target::AtLeast(0.80),
        ),
        check(
            "softmax_4096_vs_copy",
            "softmax 4096x4096 time / copy-64MiB time",
            softmax,
            Target::Below(3.0),
        ),
        check(
            "bf16_vs_f32_2048",
            "bf16 / f32 matmul 2048 GFLOP/s",
            mm("bf16"),
            Target::AtLeast(1.5),
        ),
        check(
            "f16_vs_f32_2048",
            "f16 / f32 matmul 2048 GFLOP/s",
            mm("f16"),
            Target::AtLeast(0.75),
        ),
        check(
            "jit_selu_1M_vs_unfused",
            "jitted SELU 1M speed-up over op by op",
            ratio(report, "selu_jit", &[jit::SIZES[0]], "vs_unfused"),
            Target::AtLeast(4.0),
        ),
        check(
            "jit_selu_1M_gbps",
            "jitted SELU 1M GB/s",
            rate(report, jit::SUITE.name, "selu_jit", "f32", &[jit::SIZES[0]]),
            Target::AtLeast(30.0),
        ),
        check(
            "jit_selu_16M_vs_copy",
            "jitted SELU 16M GB/s / copy GB/s",
            ratio(report, "selu_jit", &[jit::SIZES[1]], "ratio_copy"),
            Target::AtLeast(0.60),
        ),
        check(
            "jit_first_call_ms",
            "first jitted SELU call (ms)",
            ms(report, "selu_first_call", &[jit::SIZES[0]]),
            Target::Below(5.0),
        ),
        check(
            "jit_tiny_hit_us",
            "cache hit, tiny function (us)",
            ms(report, "tiny_hit", &jit::TINY).map(|m| m * 1e3),
            Target::Below(10.0),
        ),
        check(
            "jit_mlp_step_64_ms",
            "jitted MLP Adam step, batch 64 (ms)",
            ms(report, "mlp_step_jit", &[jit::BATCHES[0], 784]),
            Target::Below(0.6),
        ),
        check(
            "jit_mlp_step_512_ms",
            "jitted MLP Adam step, batch 512 (ms)",
            ms(report, "mlp_step_jit", &[jit::BATCHES[1], 784]),
            Target::Below(3.0),
        ),
    ]
}

/// A ratio field of a `jit` row, if measured.
fn ratio(report: &Report, name: &str, shape: &[usize], key: &str) -> Option<f64> {
    let row = report.find(jit::SUITE.name, name, "f32", shape)?;
    row.ratios.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// The median time of a `jit` row in milliseconds, if measured.
fn ms(report: &Report, name: &str, shape: &[usize]) -> Option<f64> {
    report
        .find(jit::SUITE.name, name, "f32", shape)
        .map(|r| r.stats.median_s * 1e3)
}

/// Prints the summary block (and its JSON lines with `--json`).
pub fn print(report: &Report, refs: &References) {
    report.human("");
    report.human("summary");
    report.human(&format!(
        "  copy 64 MiB: {:.2} GB/s ({:.3} ms)   read 64 MiB: {:.2} GB/s",
        refs.copy_gbps,
        refs.copy.median_s * 1e3,
        refs.read_gbps
    ));
    report.json_line(&json!({"suite": NAME, "name": "copy_gbps", "value": refs.copy_gbps}));
    report.json_line(&json!({"suite": NAME, "name": "read_gbps", "value": refs.read_gbps}));

    let peak = report
        .rows()
        .iter()
        .filter(|r| r.suite == matmul::SUITE.name)
        .filter_map(|r| match r.rate {
            Rate::Gflops(g) => Some((g, r)),
            Rate::Gbps(_) | Rate::Calls(_) => None,
        })
        .max_by(|a, b| a.0.total_cmp(&b.0));
    if let Some((g, r)) = peak {
        report.human(&format!(
            "  matmul peak: {g:.1} GFLOP/s ({} n={})",
            r.dtype, r.shape[0]
        ));
        report.json_line(&json!({
            "suite": NAME, "name": "matmul_peak_gflops", "value": g,
            "dtype": r.dtype, "shape": r.shape,
        }));
    }

    for c in checks(report, refs) {
        let (value, verdict) = match c.value {
            Some(v) => (
                format!("{v:.3}"),
                if c.target.met(v) { "PASS" } else { "MISS" },
            ),
            None => ("n/a".to_string(), "n/a"),
        };
        report.human(&format!(
            "  {:<42} {:>8}  target {:<7} {}",
            c.about,
            value,
            c.target.label(),
            verdict
        ));
        report.json_line(&json!({
            "suite": NAME, "name": c.name, "about": c.about, "value": c.value,
            "target": c.target.label(), "pass": c.value.map(|v| c.target.met(v)),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert!(Target::AtLeast(0.7).met(0.7));
        assert!(!Target::AtLeast(0.7).met(0.69));
        assert!(Target::Below(3.0).met(2.9));
        assert!(!Target::Below(3.0).met(3.0));
    }
}
