//! `jit`: trace a function into an [`Ir`], optimize it, fuse it, and cache
//! the compiled plan.
//!
//! `jit(f)` returns a [`Jit`]. Its first call with a new argument
//! structure (shapes, dtypes, [`Static`](crate::autodiff::Static) values,
//! `Vec` lengths...) runs `f` once on placeholder tensors, which records
//! every op into an [`Ir`] (like a jaxpr); the passes
//! ([`crate::passes`]) optimize it and the fusion lowering
//! ([`crate::fusion`]) turns it into a plan of fused kernels. Later calls
//! with the same key run the plan directly: no Rust code of `f`, no
//! per-op dispatch, no intermediates in memory.
//!
//! What the function reads and writes outside its arguments is handled
//! too: tensors created before the trace (model parameters, optimizer
//! state) are read at every call, `assign` and `.grad()` writes to them
//! happen at every call, and global random keys are drawn fresh at every
//! call, so a whole training step can be jitted. Asking a traced tensor
//! for a value (`item`, `to_vec`, `to_bool` for an `if`) is an error that
//! names the line and the fix.
//!
//! Environment: `KILN_JIT_DUMP=1` prints the program after each pass and
//! the plan, `KILN_JIT_EXPLAIN=1` explains every retrace, and
//! `KILN_DISABLE_JIT=1` (or [`set_disabled`]) runs functions eagerly.

pub mod cache;
pub mod trace;

pub use crate::passes::Passes;
pub use cache::{CacheKey, JitStats};

use crate::array::Array;
use crate::autodiff::{jit_walk, Tree};
use crate::error::{Error, Result};
use crate::fusion::Plan;
use crate::ir::{self, Effect, Ir, Source, TraceRoots};
use crate::primitive::Primitive;
use crate::tensor::{is_grad_enabled, Tensor};
use cache::{Cache, Entry};
use std::marker::PhantomData;
use std::panic::Location;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use trace::{Placeholder, PlaceholderKind};

/// After this many traces of one function, a warning suggests fixing the
/// shapes or using `Static` (once per `Jit`).
pub const RETRACE_WARNING: u64 = 10;

/// 0: not read yet, 1: jit on, 2: disabled.
static DISABLED: AtomicU8 = AtomicU8::new(0);

/// True if jit is disabled (`KILN_DISABLE_JIT=1` or [`set_disabled`]):
/// jitted functions then run eagerly on every call, for debugging.
pub fn disabled() -> bool {
    match DISABLED.load(Ordering::Relaxed) {
        0 => {
            let off = std::env::var("KILN_DISABLE_JIT").is_ok_and(|v| v.trim() == "1");
            DISABLED.store(1 + off as u8, Ordering::Relaxed);
            off
        }
        v => v == 2,
    }
}

/// Disables (or re-enables) jit for the whole process.
pub fn set_disabled(off: bool) {
    DISABLED.store(1 + off as u8, Ordering::Relaxed);
}

fn explain_enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("KILN_JIT_EXPLAIN").is_ok_and(|v| v.trim() == "1"))
}

/// What a jitted function may return: a tree of tensors, or a `Result` of
/// one (so `?` works inside).
pub trait TraceOutput {
    /// The tree returned.
    type Out: Tree;
    /// The tree, or the function's error.
    fn into_result(self) -> Result<Self::Out>;
}

impl<T: Tree> TraceOutput for T {
    type Out = T;
    fn into_result(self) -> Result<T> {
        Ok(self)
    }
}

impl<T: Tree> TraceOutput for Result<T> {
    type Out = T;
    fn into_result(self) -> Result<T> {
        self
    }
}

/// A jitted function: traces `F` once per cache key and runs the compiled
/// plan on every call. Dropping it frees its cache.
pub struct Jit<A, O, F> {
    f: Mutex<F>,
    cache: Mutex<Cache<O>>,
    name: Arc<str>,
    passes: Passes,
    _args: PhantomData<fn(&A)>,
}

/// Jit-compiles `f`, a function of a tree of tensors returning a tree of
/// tensors (or a `Result` of one).
///
/// ```
/// use kiln_core::jit::jit;
/// use kiln_core::Tensor;
/// let f = jit(|x: &Tensor| (x * 2.0).exp().sum(.., false));
/// let x = Tensor::from_vec(vec![0.0f32, 0.5], &[2]).unwrap();
/// let y: f32 = f.call(&x).unwrap().item().unwrap();
/// assert!((y - (1.0 + 1f32.exp())).abs() < 1e-5);
/// assert_eq!(f.stats().traces, 1);
/// ```
#[track_caller]
pub fn jit<A, R, F>(f: F) -> Jit<A, R::Out, F>
where
    A: Tree,
    R: TraceOutput,
    F: FnMut(&A) -> R,
{
    let name = format!(
        "jit({}) created at {}",
        short_name(std::any::type_name::<F>()),
        Location::caller()
    );
    Jit {
        f: Mutex::new(f),
        cache: Mutex::new(Cache::default()),
        name: Arc::from(name),
        passes: Passes::all(),
        _args: PhantomData,
    }
}

/// The last two path segments of a type name (`main::{{closure}}`).
fn short_name(full: &str) -> &str {
    let mut idx = full.len();
    for _ in 0..2 {
        match full[..idx].rfind("::") {
            Some(i) => idx = i,
            None => return full,
        }
    }
    &full[idx + 2..]
}

/// Traces `f` on the arguments of every call and returns the program as
/// recorded, before any optimization (`jax.make_jaxpr`).
///
/// ```
/// use kiln_core::jit::make_ir;
/// use kiln_core::Tensor;
/// let x = Tensor::from_vec(vec![1.0f32, 2.0], &[2]).unwrap();
/// let ir = make_ir(|x: &Tensor| x.exp() * 2.0)(&x).unwrap();
/// assert!(ir.to_string().contains("exp a"));
/// ```
#[track_caller]
pub fn make_ir<A, R, F>(f: F) -> impl Fn(&A) -> Result<Ir>
where
    A: Tree,
    R: TraceOutput,
    F: FnMut(&A) -> R,
{
    let j = jit(f);
    move |args: &A| j.traced(args).map(|(ir, _, _)| ir)
}

/// Prints `x` with `fmt`'s `{}` replaced by its value, and returns `x`
/// (`jax.debug.print`). Inside `jit` the print happens at every call (at
/// run time), not once per trace; outside it prints now.
#[track_caller]
pub fn debug_print(fmt: &str, x: &Tensor) -> Tensor {
    if trace::active() {
        let t = Tensor::from_op(Primitive::DebugPrint(Arc::from(fmt)), vec![x.clone()]);
        trace::add_print(&t);
        return t;
    }
    match x.array() {
        Ok(a) => crate::display::debug_print(fmt, &a),
        Err(e) => println!("{fmt} <error: {e}>"),
    }
    x.clone()
}

/// What one trace gives: the recorded program, the result tree, and the
/// grad-slot guards.
type Traced<O> = (Ir, O, Vec<(Tensor, Option<trace::Signature>)>);

/// Ends a trace if the traced function unwinds.
struct TraceGuard(bool);

impl Drop for TraceGuard {
    fn drop(&mut self) {
        if !self.0 {
            trace::finish();
        }
    }
}

impl<A, O, F, R> Jit<A, O, F>
where
    A: Tree,
    O: Tree,
    F: FnMut(&A) -> R,
    R: TraceOutput<Out = O>,
{
    /// Names the function in messages and printed programs.
    pub fn named(mut self, name: &str) -> Self {
        self.name = Arc::from(format!("jit({name})"));
        self
    }

    /// Chooses the passes (all on by default).
    pub fn with_passes(mut self, passes: Passes) -> Self {
        self.passes = passes;
        self
    }

    /// The counters: hits, misses, traces, entries, compile time.
    pub fn stats(&self) -> JitStats {
        let c = self.lock_cache();
        JitStats {
            entries: c.map.values().map(Vec::len).sum(),
            ..c.stats
        }
    }

    /// Drops every compiled entry (the next call traces again).
    pub fn clear(&self) {
        self.lock_cache().map.clear();
    }

    /// Calls the function: runs the compiled plan for this argument key,
    /// tracing and compiling first on a miss.
    ///
    /// When an argument requires grad (`grad(jit(f))`), the cached program
    /// is replayed as lazy tensor ops instead, so gradients flow through.
    /// Called while another function is being traced, `f` runs inline and
    /// becomes part of that trace.
    pub fn call(&self, args: &A) -> Result<O> {
        if disabled() || trace::active() {
            let mut f = self.lock_f()?;
            return f(args).into_result();
        }
        let (leaves, key) = self.key(args);
        let entry = self.lookup(&key);
        let entry = match entry {
            Some(e) => e,
            None => self.compile(args, &leaves, key)?,
        };
        let differentiate = is_grad_enabled() && leaves.iter().any(Tensor::tracks_grad);
        let results = if differentiate {
            replay_entry(&entry, &leaves)?
        } else {
            run_entry(&entry, &leaves)?
        };
        Ok(jit_walk(|| entry.template.rebuild(&mut results.into_iter())).0)
    }

    /// Why calling with `args` would trace again (`None`: it would hit).
    /// `KILN_JIT_EXPLAIN=1` prints this at every retrace.
    pub fn why_retrace(&self, args: &A) -> Option<String> {
        let key = self.key(args).1;
        let c = self.lock_cache();
        match c.map.get(&key) {
            Some(es) if es.iter().any(|e| e.failed_guard().is_none()) => None,
            Some(es) => es.iter().find_map(|e| e.failed_guard()),
            None => Some(c.explain(&key)),
        }
    }

    /// The flattened arguments and their cache key.
    fn key(&self, args: &A) -> (Vec<Tensor>, CacheKey) {
        let (leaves, parts) = jit_walk(|| args.flatten());
        let key = CacheKey {
            parts,
            leaves: leaves
                .iter()
                .map(|t| (t.dtype(), t.shape().to_vec()))
                .collect(),
            grad_enabled: is_grad_enabled(),
        };
        (leaves, key)
    }

    /// The optimized program for these arguments (tracing if needed).
    pub fn ir(&self, args: &A) -> Result<Ir> {
        Ok((*self.entry_for(args)?.ir).clone())
    }

    /// The lowered plan for these arguments (tracing if needed).
    pub fn plan(&self, args: &A) -> Result<Plan> {
        Ok((*self.entry_for(args)?.plan).clone())
    }

    fn entry_for(&self, args: &A) -> Result<Arc<Entry<O>>> {
        let (leaves, key) = self.key(args);
        match self.lookup(&key) {
            Some(e) => Ok(e),
            None => self.compile(args, &leaves, key),
        }
    }

    fn lock_f(&self) -> Result<MutexGuard<'_, F>> {
        self.f.try_lock().map_err(|_| {
            Error::Trace(format!(
                "{} was called while it is already running (a recursive call, or a call \
                 from another thread during its trace)",
                self.name
            ))
        })
    }

    fn lock_cache(&self) -> MutexGuard<'_, Cache<O>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A usable entry for `key`, counting the hit.
    fn lookup(&self, key: &CacheKey) -> Option<Arc<Entry<O>>> {
        let mut c = self.lock_cache();
        let found = c
            .map
            .get(key)
            .and_then(|es| es.iter().find(|e| e.failed_guard().is_none()).cloned());
        if found.is_some() {
            c.stats.hits += 1;
        }
        found
    }

    /// Traces, optimizes and lowers for `key`, and caches the entry.
    fn compile(&self, args: &A, leaves: &[Tensor], key: CacheKey) -> Result<Arc<Entry<O>>> {
        let why = {
            let c = self.lock_cache();
            let guard = c
                .map
                .get(&key)
                .and_then(|es| es.iter().find_map(|e| e.failed_guard()));
            guard.unwrap_or_else(|| c.explain(&key))
        };
        let start = Instant::now();
        let (ir, out, guards) = self.traced_with(args, leaves)?;
        let ir = crate::passes::optimize(ir, self.passes);
        let mut plan = crate::fusion::lower(&ir, &vec![false; ir.vars.len()], self.passes.fuse);
        if !self.passes.in_place {
            for s in &mut plan.steps {
                if let crate::fusion::Step::Fused(f) = s {
                    f.donate = None;
                }
            }
        }
        if crate::passes::dump_enabled() {
            eprintln!("kiln jit: {} lowered:\n{plan}", self.name);
        }
        let dummy = Tensor::scalar(0u8);
        let template = jit_walk(|| out.rebuild(&mut std::iter::repeat(dummy))).0;
        let entry = Arc::new(Entry {
            ir: Arc::new(ir),
            plan: Arc::new(plan),
            template,
            guards,
        });
        let elapsed = start.elapsed();
        let mut c = self.lock_cache();
        c.stats.misses += 1;
        c.stats.compile_time += elapsed;
        if explain_enabled() {
            eprintln!(
                "kiln jit: {} traced (trace {}, {:.2} ms): {why}",
                self.name,
                c.stats.traces,
                elapsed.as_secs_f64() * 1e3
            );
        }
        if c.stats.traces >= RETRACE_WARNING && !c.stats.warned {
            c.stats.warned = true;
            eprintln!(
                "kiln jit: warning: {} has been traced {} times (latest: {why}); \
                 vary shapes less, mark non-tensor arguments Static(..), or set \
                 KILN_JIT_EXPLAIN=1 to see every retrace",
                self.name, c.stats.traces
            );
        }
        let list = c.map.entry(key).or_default();
        list.retain(|e| e.failed_guard().is_none());
        list.push(entry.clone());
        Ok(entry)
    }

    /// Runs `f` once on placeholders: the recorded program (unoptimized),
    /// the result tree, and the grad-slot guards.
    fn traced(&self, args: &A) -> Result<Traced<O>> {
        let leaves = jit_walk(|| args.flatten()).0;
        self.traced_with(args, &leaves)
    }

    fn traced_with(&self, args: &A, leaves: &[Tensor]) -> Result<Traced<O>> {
        if trace::active() {
            return Err(Error::Trace(format!(
                "{} cannot be traced while another function is being traced",
                self.name
            )));
        }
        let mut f = self.lock_f()?;
        // Evaluate lazy arguments first: their graphs are not part of the
        // trace.
        crate::eval::evaluate(leaves)?;
        let id = trace::begin(self.name.clone());
        let mut guard = TraceGuard(false);
        let placeholders: Vec<Tensor> = leaves
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let p = Tensor::placeholder(
                    t.shape(),
                    t.dtype(),
                    Placeholder {
                        trace: id,
                        kind: PlaceholderKind::Arg(i),
                        function: self.name.clone(),
                    },
                );
                trace::add_arg(&p);
                p
            })
            .collect();
        let traced_args = jit_walk(|| args.rebuild(&mut placeholders.into_iter())).0;
        let out = f(&traced_args).into_result();
        drop(traced_args);
        let out = out?;
        let results: Vec<Tensor> = jit_walk(|| out.flatten())
            .0
            .iter()
            .map(trace::current_value)
            .collect();
        guard.0 = true;
        let (ctx, grads) = trace::finish();
        {
            let mut c = self.lock_cache();
            c.stats.traces += 1;
        }
        let ir = ir::from_trace(&ctx, TraceRoots { results, grads })?;
        Ok((ir, out, ctx.grad_guards))
    }
}

/// The value of every program input at call time.
fn input_arrays(ir: &Ir, leaves: &[Tensor]) -> Result<Vec<Array>> {
    crate::eval::evaluate(leaves)?;
    ir.inputs
        .iter()
        .map(|(_, src)| match src {
            Source::Arg(i) => leaves[*i].array(),
            Source::Captured(t) => t.array(),
            Source::GradOf(t) => match t.raw_grad() {
                Some(g) => g.array(),
                None => Err(Error::Invalid(
                    "kiln internal error: a guarded gradient is missing".into(),
                )),
            },
            Source::Key(_) => {
                let k = crate::random::next_key();
                Ok(Array::from_vec(k.0.to_vec(), vec![2]))
            }
        })
        .collect()
}

/// Runs an entry's compiled plan and applies its effects.
fn run_entry<O>(e: &Entry<O>, leaves: &[Tensor]) -> Result<Vec<Tensor>> {
    let inputs = input_arrays(&e.ir, leaves)?;
    let outs = crate::exec::run(&e.plan, inputs, &mut |_| {})?;
    for eff in &e.ir.effects {
        match eff {
            Effect::Assign { target, output } => target.set_data(outs[*output].clone()),
            Effect::SetGrad { target, output } => {
                target.raw_set_grad(output.map(|o| Tensor::from_array(outs[o].clone())))
            }
        }
    }
    Ok(outs[..e.ir.n_results]
        .iter()
        .map(|a| Tensor::from_array(a.clone()))
        .collect())
}

/// Replays an entry's program as lazy tensor ops (differentiable) and
/// applies its effects.
fn replay_entry<O>(e: &Entry<O>, leaves: &[Tensor]) -> Result<Vec<Tensor>> {
    let inputs: Vec<Tensor> =
        e.ir.inputs
            .iter()
            .map(|(_, src)| match src {
                Source::Arg(i) => Ok(leaves[*i].clone()),
                Source::Captured(t) => Ok(t.clone()),
                Source::GradOf(t) => t.raw_grad().ok_or_else(|| {
                    Error::Invalid("kiln internal error: a guarded gradient is missing".into())
                }),
                Source::Key(_) => {
                    let k = crate::random::next_key();
                    Tensor::from_vec(k.0.to_vec(), &[2])
                }
            })
            .collect::<Result<_>>()?;
    let outs = ir::replay(&e.ir, &inputs);
    for eff in &e.ir.effects {
        match eff {
            Effect::Assign { target, output } => target.assign(&outs[*output])?,
            Effect::SetGrad { target, output } => target.set_grad(output.map(|o| outs[o].clone())),
        }
    }
    Ok(outs[..e.ir.n_results].to_vec())
}
