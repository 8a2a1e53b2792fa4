//! Kiln's benchmark harness.
//!
//! ```text
//! cargo run --release -p kiln-bench -- [SUITE...] [--json] [--threads N]
//! ```
//!
//! Runs the `ref` suite (memory copy and read bandwidth) first, then the
//! selected suites (all when none are named), then prints a summary of the
//! issue's checks. Without `--json` a human table goes to stdout; with it,
//! stdout carries one JSON object per row and per summary entry, and the
//! table goes to stderr. Exits 0 whether the checks pass or miss.

mod harness;
mod reference;
mod suites;
mod summary;

use std::process::ExitCode;

use harness::Report;
use suites::{Context, Suite, SUITES};

/// Parsed command line.
#[derive(Debug, PartialEq)]
struct Args {
    /// Suites to run, in registry order; all when none were named.
    suites: Vec<&'static Suite>,
    /// JSON lines on stdout.
    json: bool,
    /// Rayon threads.
    threads: usize,
}

impl PartialEq for Suite {
    fn eq(&self, other: &Suite) -> bool {
        self.name == other.name
    }
}

impl std::fmt::Debug for Suite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// What the command line asks for.
#[derive(Debug, PartialEq)]
enum Command {
    Run(Args),
    Help,
}

fn usage() -> String {
    let mut s = String::from(
        "usage: kiln-bench [SUITE...] [--json] [--threads N]\n\n\
         Runs the `ref` suite (copy/read bandwidth) first, then the named suites\n\
         (all when none), then a summary of the checks.\n\n\
         options:\n  \
         --json        one JSON object per line on stdout (table on stderr)\n  \
         --threads N   rayon threads (default: available parallelism)\n  \
         -h, --help    this text\n\nsuites:\n",
    );
    s.push_str(&format!(
        "  {:<12} copy and read bandwidth references (always run)\n",
        reference::NAME
    ));
    for suite in SUITES {
        s.push_str(&format!("  {:<12} {}\n", suite.name, suite.about));
    }
    s
}

/// Parses the arguments after the program name. `default_threads` is used
/// without `--threads`.
fn parse_args<I, S>(args: I, default_threads: usize) -> Result<Command, String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut names = Vec::new();
    let mut json = false;
    let mut threads = default_threads;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let arg = arg.as_ref();
        let threads_value = if arg == "--threads" {
            Some(
                args.next()
                    .ok_or("--threads needs a value")?
                    .as_ref()
                    .to_string(),
            )
        } else {
            arg.strip_prefix("--threads=").map(str::to_string)
        };
        if let Some(v) = threads_value {
            threads = match v.parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => return Err(format!("--threads: expected a positive integer, got {v:?}")),
            };
        } else if arg == "--json" {
            json = true;
        } else if arg == "-h" || arg == "--help" {
            return Ok(Command::Help);
        } else if arg.starts_with('-') {
            return Err(format!("unknown option {arg:?}"));
        } else if arg == reference::NAME {
            // Always run; naming it alone runs only the references.
            names.push(arg.to_string());
        } else if suites::find(arg).is_some() {
            names.push(arg.to_string());
        } else {
            return Err(format!("unknown suite {arg:?}"));
        }
    }
    let suites = if names.is_empty() {
        SUITES.iter().collect()
    } else {
        SUITES
            .iter()
            .filter(|s| names.iter().any(|n| n == s.name))
            .collect()
    };
    Ok(Command::Run(Args {
        suites,
        json,
        threads,
    }))
}

fn main() -> ExitCode {
    let default_threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let args = match parse_args(std::env::args().skip(1), default_threads) {
        Ok(Command::Run(args)) => args,
        Ok(Command::Help) => {
            print!("{}", usage());
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("kiln-bench: {e}\n\n{}", usage());
            return ExitCode::from(2);
        }
    };
    // Before anything touches rayon (Kiln's kernels use the global pool).
    if let Err(e) = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build_global()
    {
        eprintln!("kiln-bench: cannot build the rayon pool: {e}");
        return ExitCode::FAILURE;
    }
    kiln::prelude::seed(0);

    let mut report = Report::new(args.json);
    let refs = reference::run(args.threads, &mut report);
    let ctx = Context {
        threads: args.threads,
        refs,
    };
    let mut failed = false;
    for suite in &args.suites {
        if let Err(e) = (suite.run)(&ctx, &mut report) {
            eprintln!("kiln-bench: suite {} failed: {e}", suite.name);
            failed = true;
        }
    }
    summary::print(&report, &ctx.refs);
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_args(args: &[&str]) -> Args {
        match parse_args(args, 4) {
            Ok(Command::Run(a)) => a,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn names(a: &Args) -> Vec<&str> {
        a.suites.iter().map(|s| s.name).collect()
    }

    #[test]
    fn defaults_run_everything() {
        let a = run_args(&[]);
        assert_eq!(
            names(&a),
            ["matmul", "elementwise", "reduce", "conv", "jit"]
        );
        assert!(!a.json);
        assert_eq!(a.threads, 4);
    }

    #[test]
    fn suites_and_options() {
        let a = run_args(&["reduce", "--json", "matmul", "--threads", "2"]);
        assert_eq!(names(&a), ["matmul", "reduce"]);
        assert!(a.json);
        assert_eq!(a.threads, 2);
        assert_eq!(run_args(&["--threads=3"]).threads, 3);
        assert!(names(&run_args(&["ref"])).is_empty());
    }

    #[test]
    fn errors_and_help() {
        assert!(parse_args(["nope"], 1).is_err());
        assert!(parse_args(["--threads"], 1).is_err());
        assert!(parse_args(["--threads", "0"], 1).is_err());
        assert!(parse_args(["--bogus"], 1).is_err());
        assert_eq!(parse_args(["-h"], 1), Ok(Command::Help));
    }
}
