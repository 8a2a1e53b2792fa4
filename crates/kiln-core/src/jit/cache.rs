//! The cache of a `Jit`: keys, entries, guards, statistics, and the
//! explanation of a miss.

use crate::autodiff::KeyPart;
use crate::dtype::DType;
use crate::fusion::Plan;
use crate::ir::Ir;
use crate::jit::trace::Signature;
use crate::tensor::Tensor;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// What a trace depends on besides the program text: the argument
/// structure and static values, every leaf's dtype and shape, and the
/// global context that changes what the Rust code records.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// Structure and static values met walking the arguments.
    pub parts: Vec<KeyPart>,
    /// dtype and shape of every argument leaf.
    pub leaves: Vec<(DType, Vec<usize>)>,
    /// Whether gradient recording was on.
    pub grad_enabled: bool,
}

/// One compiled trace.
pub struct Entry<O> {
    /// The optimized program (replayed when differentiating).
    pub ir: Arc<Ir>,
    /// The lowered plan.
    pub plan: Arc<Plan>,
    /// The result structure, with placeholder leaves.
    pub template: O,
    /// Gradient slots the trace read, with what they held then.
    pub guards: Vec<(Tensor, Option<Signature>)>,
}

impl<O> Entry<O> {
    /// The first guard that fails now, described.
    pub fn failed_guard(&self) -> Option<String> {
        self.guards.iter().find_map(|(t, was)| {
            let now = t.raw_grad().map(|g| (g.shape().to_vec(), g.dtype()));
            (now != *was).then(|| {
                format!(
                    "the gradient of the tensor created at {} was {} when traced and is {} now",
                    t.location(),
                    sig_text(was),
                    sig_text(&now)
                )
            })
        })
    }
}

fn sig_text(s: &Option<Signature>) -> String {
    match s {
        None => "None".into(),
        Some((shape, d)) => format!("{d}{shape:?}"),
    }
}

/// Counters of a `Jit`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JitStats {
    /// Calls served by a compiled entry.
    pub hits: u64,
    /// Calls that found no usable entry.
    pub misses: u64,
    /// Times the function ran to record a trace.
    pub traces: u64,
    /// Entries held.
    pub entries: usize,
    /// Total time spent tracing, optimizing and lowering.
    pub compile_time: Duration,
    /// Whether the retrace warning was printed (after
    /// [`RETRACE_WARNING`](super::RETRACE_WARNING) traces).
    pub warned: bool,
}

impl fmt::Display for JitStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} hits, {} misses, {} traces, {} entries, {:.3} ms compiling",
            self.hits,
            self.misses,
            self.traces,
            self.entries,
            self.compile_time.as_secs_f64() * 1e3
        )
    }
}

/// The entries of a `Jit`, by key.
pub struct Cache<O> {
    /// Entries per key (several when guards differ).
    pub map: HashMap<CacheKey, Vec<Arc<Entry<O>>>>,
    /// Counters.
    pub stats: JitStats,
}

impl<O> Default for Cache<O> {
    fn default() -> Self {
        Cache {
            map: HashMap::new(),
            stats: JitStats::default(),
        }
    }
}

impl<O> Cache<O> {
    /// Why `key` missed: the difference from the nearest cached key (the
    /// one with the fewest differing parts), or that nothing is cached.
    pub fn explain(&self, key: &CacheKey) -> String {
        let nearest = self
            .map
            .keys()
            .min_by_key(|k| distance(k, key))
            .filter(|k| distance(k, key) < usize::MAX);
        match nearest {
            None if self.map.is_empty() => "first call: nothing cached yet".into(),
            None => "no cached trace has arguments of this structure".into(),
            Some(k) if k == key => "a gradient slot changed since the trace (see guards)".into(),
            Some(k) => describe_difference(k, key),
        }
    }
}

/// How many parts two keys differ in (`usize::MAX` if their structures
/// cannot be compared).
fn distance(a: &CacheKey, b: &CacheKey) -> usize {
    if a.leaves.len() != b.leaves.len() || a.parts.len() != b.parts.len() {
        return usize::MAX / 2 + a.leaves.len().abs_diff(b.leaves.len());
    }
    let parts = a.parts.iter().zip(&b.parts).filter(|(x, y)| x != y).count();
    let leaves = a
        .leaves
        .iter()
        .zip(&b.leaves)
        .filter(|(x, y)| x != y)
        .count();
    parts + leaves + (a.grad_enabled != b.grad_enabled) as usize
}

/// The differences between a cached key `old` and the new key `new`.
pub fn describe_difference(old: &CacheKey, new: &CacheKey) -> String {
    let mut why = vec![];
    if old.grad_enabled != new.grad_enabled {
        why.push(format!(
            "gradient recording was {} when traced and is {} now",
            on_off(old.grad_enabled),
            on_off(new.grad_enabled)
        ));
    }
    if old.leaves.len() != new.leaves.len() {
        why.push(format!(
            "the arguments hold {} tensors, the cached trace had {}",
            new.leaves.len(),
            old.leaves.len()
        ));
    } else {
        for (i, ((od, os), (nd, ns))) in old.leaves.iter().zip(&new.leaves).enumerate() {
            if od != nd {
                why.push(format!("argument leaf {i} has dtype {nd}, was {od}"));
            }
            if os.len() != ns.len() {
                why.push(format!(
                    "argument leaf {i} has rank {} (shape {ns:?}), was rank {} ({os:?})",
                    ns.len(),
                    os.len()
                ));
            } else {
                for (d, (o, n)) in os.iter().zip(ns).enumerate() {
                    if o != n {
                        why.push(format!(
                            "argument leaf {i} has shape {ns:?}, was {os:?}: dim {d} is {n}, was {o}"
                        ));
                    }
                }
            }
        }
    }
    if old.parts.len() != new.parts.len() {
        why.push("the argument structure changed".into());
    } else {
        for (o, n) in old.parts.iter().zip(&new.parts) {
            if o != n {
                why.push(match (o, n) {
                    (KeyPart::Static(a), KeyPart::Static(b)) => {
                        format!("a static argument is {b}, was {a}")
                    }
                    (KeyPart::Len(a), KeyPart::Len(b)) => {
                        format!("a Vec or map argument has length {b}, was {a}")
                    }
                    (KeyPart::Some(a), KeyPart::Some(b)) => format!(
                        "an Option argument is {}, was {}",
                        if *b { "Some" } else { "None" },
                        if *a { "Some" } else { "None" }
                    ),
                    _ => "the keys of a map argument changed".into(),
                });
            }
        }
    }
    why.join("; ")
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}
