//! Timing, statistics and output: how a case is measured ([`Budget`],
//! [`measure`]), what a result is ([`Row`], [`Rate`]) and where it goes
//! ([`Report`]: a human table and, with `--json`, one JSON object per line).

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

/// How many times a case runs: `warmup` untimed calls, then timed calls
/// until at least `min_samples` samples *and* `min_time` spent, but never
/// more than `max_samples` samples, and stopping early (after at least
/// [`Budget::FLOOR_SAMPLES`]) once `max_time` is spent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Budget {
    /// Untimed calls before the first sample.
    pub warmup: usize,
    /// Samples always taken (unless `max_time` runs out first).
    pub min_samples: usize,
    /// Samples never exceeded.
    pub max_samples: usize,
    /// Time spent sampling before a fast case may stop.
    pub min_time: Duration,
    /// Time after which a slow case stops, once it has a few samples.
    pub max_time: Duration,
}

impl Budget {
    /// Samples a case keeps even when it is over `max_time`.
    pub const FLOOR_SAMPLES: usize = 3;

    /// Fast cases (milliseconds a call): many samples over ~0.3 s.
    pub const FAST: Budget = Budget {
        warmup: 2,
        min_samples: 5,
        max_samples: 200,
        min_time: Duration::from_millis(300),
        max_time: Duration::from_secs(3),
    };

    /// Slow cases (n = 2048 matmul, the conv): one warm-up and ~5 samples.
    pub const SLOW: Budget = Budget {
        warmup: 1,
        min_samples: 5,
        max_samples: 5,
        min_time: Duration::ZERO,
        max_time: Duration::from_secs(4),
    };

    /// Whether sampling is over after `samples` samples and `spent` time.
    pub fn done(&self, samples: usize, spent: Duration) -> bool {
        samples >= self.max_samples
            || (samples >= self.min_samples && spent >= self.min_time)
            || (samples >= Self::FLOOR_SAMPLES.min(self.min_samples) && spent >= self.max_time)
    }
}

/// Median and minimum of a case's samples, in seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    /// Median sample (mean of the middle two for an even count).
    pub median_s: f64,
    /// Fastest sample.
    pub min_s: f64,
    /// Number of samples.
    pub samples: usize,
}

impl Stats {
    /// Statistics of `samples` (seconds); `None` when there are none or one
    /// is NaN.
    pub fn from_samples(samples: &[f64]) -> Option<Stats> {
        if samples.is_empty() || samples.iter().any(|s| s.is_nan()) {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let mid = sorted.len() / 2;
        let median_s = if sorted.len() % 2 == 1 {
            sorted[mid]
        } else {
            (sorted[mid - 1] + sorted[mid]) / 2.0
        };
        Some(Stats {
            median_s,
            min_s: sorted[0],
            samples: sorted.len(),
        })
    }
}

/// Times `f` under `budget`. Every call must do the complete work (for a
/// lazy tensor: build the graph *and* force its evaluation); the first
/// error stops the measurement.
pub fn measure<E>(budget: Budget, mut f: impl FnMut() -> Result<(), E>) -> Result<Stats, E> {
    for _ in 0..budget.warmup {
        f()?;
    }
    let mut samples = Vec::new();
    let start = Instant::now();
    while !budget.done(samples.len(), start.elapsed()) {
        let t = Instant::now();
        f()?;
        samples.push(t.elapsed().as_secs_f64());
    }
    Ok(Stats::from_samples(&samples).expect("a budget takes at least one sample"))
}

/// The derived throughput of a row, from its median time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rate {
    /// Floating-point operations per second, in 1e9.
    Gflops(f64),
    /// Bytes moved per second, in 1e9 (inputs read + output written).
    Gbps(f64),
    /// Calls per second (for cases measured by latency: the median time
    /// in the table is the figure).
    Calls(f64),
}

impl Rate {
    /// `flops` operations in `seconds`.
    pub fn gflops(flops: f64, seconds: f64) -> Rate {
        Rate::Gflops(flops / seconds / 1e9)
    }

    /// `bytes` moved in `seconds`.
    pub fn gbps(bytes: f64, seconds: f64) -> Rate {
        Rate::Gbps(bytes / seconds / 1e9)
    }

    /// Calls per second of a case taking `seconds` a call.
    pub fn calls(seconds: f64) -> Rate {
        Rate::Calls(1.0 / seconds)
    }

    /// The number, whatever the unit.
    pub fn value(self) -> f64 {
        match self {
            Rate::Gflops(v) | Rate::Gbps(v) | Rate::Calls(v) => v,
        }
    }

    /// The JSON key and table unit of this rate.
    pub fn key(self) -> &'static str {
        match self {
            Rate::Gflops(_) => "gflops",
            Rate::Gbps(_) => "gbps",
            Rate::Calls(_) => "calls_per_s",
        }
    }
}

/// One measured case.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The suite that measured it (`ref`, `matmul`, ...).
    pub suite: &'static str,
    /// The workload within the suite (`add`, `softmax_rows`, ...).
    pub name: String,
    /// Element type, as Kiln names it (`f32`, `bf16`, ...).
    pub dtype: String,
    /// Shape of the (main) input.
    pub shape: Vec<usize>,
    /// Rayon threads the run used.
    pub threads: usize,
    /// Timing statistics.
    pub stats: Stats,
    /// Throughput from the median time.
    pub rate: Rate,
    /// Comparisons to a reference, e.g. `("vs_copy", 2.1)`.
    pub ratios: Vec<(&'static str, f64)>,
}

impl Row {
    /// A row with no ratios.
    pub fn new(
        suite: &'static str,
        name: impl Into<String>,
        dtype: impl ToString,
        shape: &[usize],
        threads: usize,
        stats: Stats,
        rate: Rate,
    ) -> Row {
        Row {
            suite,
            name: name.into(),
            dtype: dtype.to_string(),
            shape: shape.to_vec(),
            threads,
            stats,
            rate,
            ratios: Vec::new(),
        }
    }

    /// Adds a comparison field.
    pub fn with_ratio(mut self, key: &'static str, value: f64) -> Row {
        self.ratios.push((key, value));
        self
    }

    /// The row as one JSON object.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("suite".into(), json!(self.suite));
        m.insert("name".into(), json!(self.name));
        m.insert("dtype".into(), json!(self.dtype));
        m.insert("shape".into(), json!(self.shape));
        m.insert("threads".into(), json!(self.threads));
        m.insert("median_s".into(), json!(self.stats.median_s));
        m.insert("min_s".into(), json!(self.stats.min_s));
        m.insert("samples".into(), json!(self.stats.samples));
        m.insert(self.rate.key().into(), json!(self.rate.value()));
        for (k, v) in &self.ratios {
            m.insert((*k).into(), json!(v));
        }
        Value::Object(m)
    }

    /// The row as a line of the human table.
    fn to_table_line(&self) -> String {
        let shape = self
            .shape
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join("x");
        let ratios = self
            .ratios
            .iter()
            .map(|(k, v)| format!("{k}={v:.2}"))
            .collect::<Vec<_>>()
            .join(" ");
        format!(
            "{:<11} {:<15} {:<5} {:<14} {:>10.3} {:>10.3} {:>9.2} {:<6} {}",
            self.suite,
            self.name,
            self.dtype,
            shape,
            self.stats.median_s * 1e3,
            self.stats.min_s * 1e3,
            self.rate.value(),
            self.rate.key(),
            ratios
        )
    }
}

/// Header of the human table.
const TABLE_HEADER: &str = "suite       name            dtype shape          median(ms)    min(ms)      rate unit   ratios";

/// Where rows go: printed as they arrive and kept for later look-ups (the
/// summary, and suites comparing to their own earlier rows).
///
/// Without `--json` the human table goes to stdout. With `--json` stdout
/// carries only JSON lines (one object per row, then the summary) and the
/// human table goes to stderr, so `--json | jq` and a watching user both
/// work.
pub struct Report {
    json: bool,
    rows: Vec<Row>,
    header_printed: bool,
}

impl Report {
    /// An empty report; `json` selects JSON lines on stdout.
    pub fn new(json: bool) -> Report {
        Report {
            json,
            rows: Vec::new(),
            header_printed: false,
        }
    }

    /// Prints `row` (table, and JSON line with `--json`) and keeps it.
    pub fn emit(&mut self, row: Row) {
        if !self.header_printed {
            self.human(TABLE_HEADER);
            self.header_printed = true;
        }
        self.human(&row.to_table_line());
        if self.json {
            println!("{}", row.to_json());
        }
        self.rows.push(row);
    }

    /// Writes a line of the human output (stdout, or stderr with `--json`).
    pub fn human(&self, line: &str) {
        if self.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
        // Rows stream as they are measured even when piped.
        let _ = std::io::stdout().flush();
    }

    /// Writes a machine-readable object (only with `--json`).
    pub fn json_line(&self, value: &Value) {
        if self.json {
            println!("{value}");
        }
    }

    /// All rows so far.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// The row of `suite`/`name`/`dtype` with input shape `shape`, if
    /// measured.
    pub fn find(&self, suite: &str, name: &str, dtype: &str, shape: &[usize]) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.suite == suite && r.name == name && r.dtype == dtype && r.shape == shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_min() {
        let s = Stats::from_samples(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median_s, s.min_s, s.samples), (2.0, 1.0, 3));
        let s = Stats::from_samples(&[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!((s.median_s, s.min_s), (2.5, 1.0));
        assert_eq!(Stats::from_samples(&[]), None);
        assert_eq!(Stats::from_samples(&[1.0, f64::NAN]), None);
    }

    #[test]
    fn budget_stops() {
        let b = Budget::FAST;
        assert!(!b.done(4, Duration::from_secs(1)));
        assert!(!b.done(5, Duration::from_millis(100)));
        assert!(b.done(5, Duration::from_millis(300)));
        assert!(b.done(200, Duration::ZERO));
        assert!(b.done(3, Duration::from_secs(10)));
        assert!(!b.done(2, Duration::from_secs(10)));
        assert!(Budget::SLOW.done(5, Duration::ZERO));
    }

    #[test]
    fn measure_counts_calls() {
        let mut calls = 0;
        let stats = measure::<()>(Budget::SLOW, || {
            calls += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!((calls, stats.samples), (6, 5));
        assert_eq!(measure(Budget::SLOW, || Err("boom")), Err("boom"));
    }

    #[test]
    fn row_json_has_the_spec_fields() {
        let stats = Stats::from_samples(&[0.5]).unwrap();
        let row = Row::new(
            "reduce",
            "sum_all",
            "f32",
            &[4],
            2,
            stats,
            Rate::gbps(1e9, 0.5),
        )
        .with_ratio("ratio_read", 0.9);
        let v = row.to_json();
        for key in [
            "suite", "name", "dtype", "shape", "threads", "median_s", "min_s",
        ] {
            assert!(v.get(key).is_some(), "{key}");
        }
        assert_eq!(v["gbps"], json!(2.0));
        assert_eq!(v["ratio_read"], json!(0.9));
        assert_eq!(v["shape"], json!([4]));
    }
}
