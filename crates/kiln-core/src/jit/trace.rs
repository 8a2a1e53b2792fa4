//! The trace context: what `jit` records while the user's function runs on
//! placeholder tensors.
//!
//! While a trace is active on a thread, the tensor layer calls the hooks
//! here: reading `.grad()` or drawing a global random key gives a
//! placeholder input, `assign` and `set_grad` on tensors from before the
//! trace are recorded as effects (and later reads see the new values),
//! `eval()` of traced values does nothing, and asking for a concrete value
//! is an error that explains what to do instead.

use crate::dtype::DType;
use crate::error::Error;
use crate::tensor::Tensor;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The shape and dtype of a tensor.
pub type Signature = (Vec<usize>, DType);

/// What a placeholder stands for.
#[derive(Clone)]
pub enum PlaceholderKind {
    /// Leaf `i` of the flattened arguments.
    Arg(usize),
    /// The gradient of a tensor from before the trace.
    GradOf(Tensor),
    /// The `i`-th global random key drawn in the trace.
    Key(usize),
}

/// The identity of a placeholder tensor (stored in its node).
pub struct Placeholder {
    /// The trace it belongs to.
    pub trace: u64,
    /// What it stands for.
    pub kind: PlaceholderKind,
    /// The traced function, for messages.
    pub function: Arc<str>,
}

/// A grad slot of a tensor from before the trace that the trace touched.
struct GradSlot {
    target: Tensor,
    /// The slot's value when the trace first touched it (restored after).
    original: Option<Tensor>,
    /// Set once the trace wrote the slot.
    written: bool,
    /// The placeholder standing for the original gradient, once read.
    placeholder: Option<Tensor>,
}

/// The state of one trace in progress.
pub struct TraceCtx {
    /// Unique id of this trace.
    pub id: u64,
    /// Nodes with ids at or above this were created during the trace.
    pub first_node: u64,
    /// The traced function's name and where `jit` was called, for messages.
    pub function: Arc<str>,
    /// Placeholders for the argument leaves.
    pub args: Vec<Tensor>,
    /// Placeholders for the random keys drawn.
    pub keys: Vec<Tensor>,
    grads: Vec<GradSlot>,
    /// Guards: each grad slot read from before the trace, with what it held
    /// (`None`, or the shape and dtype of the gradient).
    pub grad_guards: Vec<(Tensor, Option<Signature>)>,
    /// `(target, value)` of every `assign` in the trace, in order; a later
    /// assign to the same target replaces the earlier one.
    pub assigns: Vec<(Tensor, Tensor)>,
    assign_index: HashMap<u64, usize>,
    /// Debug-print nodes created in the trace (kept even if unused).
    pub prints: Vec<Tensor>,
}

/// A grad slot written by the trace: its final value in the trace.
pub struct GradWrite {
    /// The tensor whose `.grad()` the call sets.
    pub target: Tensor,
    /// The value written (None: cleared).
    pub value: Option<Tensor>,
}

static NEXT_TRACE: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// Id of the active trace on this thread (0: none), for the fast check.
    static ACTIVE: Cell<u64> = const { Cell::new(0) };
    static STACK: RefCell<Vec<TraceCtx>> = const { RefCell::new(Vec::new()) };
}

/// True while a trace is active on this thread.
#[inline]
pub fn active() -> bool {
    ACTIVE.with(|a| a.get() != 0)
}

/// Id of the active trace (0: none).
pub fn active_id() -> u64 {
    ACTIVE.with(|a| a.get())
}

fn with_ctx<R>(f: impl FnOnce(&mut TraceCtx) -> R) -> Option<R> {
    STACK.with(|s| s.borrow_mut().last_mut().map(f))
}

/// Starts a trace of `function`; returns its id. Must be paired with
/// [`finish`] (also on unwinding; see `jit`).
pub fn begin(function: Arc<str>) -> u64 {
    let id = NEXT_TRACE.fetch_add(1, Ordering::Relaxed);
    let ctx = TraceCtx {
        id,
        first_node: crate::tensor::next_node_id(),
        function,
        args: vec![],
        keys: vec![],
        grads: vec![],
        grad_guards: vec![],
        assigns: vec![],
        assign_index: HashMap::new(),
        prints: vec![],
    };
    STACK.with(|s| s.borrow_mut().push(ctx));
    ACTIVE.with(|a| a.set(id));
    id
}

/// Ends the innermost trace: restores the grad slots it wrote and returns
/// its record, with the grad writes as effects.
pub fn finish() -> (TraceCtx, Vec<GradWrite>) {
    let mut ctx = STACK
        .with(|s| s.borrow_mut().pop())
        .expect("kiln internal error: trace finished twice");
    let outer = STACK.with(|s| s.borrow().last().map_or(0, |c| c.id));
    ACTIVE.with(|a| a.set(outer));
    let mut writes = vec![];
    for slot in ctx.grads.drain(..) {
        if slot.written {
            let value = slot.target.raw_grad();
            slot.target.raw_set_grad(slot.original.clone());
            writes.push(GradWrite {
                target: slot.target,
                value,
            });
        }
    }
    (ctx, writes)
}

/// Registers the placeholder of argument leaf `i` (in order).
pub fn add_arg(t: &Tensor) {
    with_ctx(|c| c.args.push(t.clone()));
}

/// True if `t` was created before the active trace began.
fn from_before(c: &TraceCtx, t: &Tensor) -> bool {
    t.id() < c.first_node
}

/// The function being traced, for placeholder records.
fn function_name() -> Arc<str> {
    with_ctx(|c| c.function.clone()).unwrap_or_else(|| Arc::from("?"))
}

/// Hook of `Tensor::grad()`: inside a trace, the gradient of a tensor from
/// before the trace reads as a placeholder input (guarded on whether it
/// was set), and a slot the trace wrote reads its new value. `None` means
/// "not tracing or not concerned: read the slot as usual".
pub fn on_grad_read(t: &Tensor) -> Option<Option<Tensor>> {
    let function = function_name();
    with_ctx(|c| {
        if !from_before(c, t) {
            return None;
        }
        let i = match c.grads.iter().position(|s| s.target.id() == t.id()) {
            Some(i) => i,
            None => {
                c.grads.push(GradSlot {
                    target: t.clone(),
                    original: t.raw_grad(),
                    written: false,
                    placeholder: None,
                });
                c.grads.len() - 1
            }
        };
        let slot = &mut c.grads[i];
        if slot.written {
            return Some(t.raw_grad());
        }
        let original = slot.original.clone();
        if !c.grad_guards.iter().any(|(g, _)| g.id() == t.id()) {
            let sig = original.as_ref().map(|g| (g.shape().to_vec(), g.dtype()));
            c.grad_guards.push((t.clone(), sig));
        }
        let slot = &mut c.grads[i];
        Some(original.map(|g| {
            slot.placeholder
                .get_or_insert_with(|| {
                    Tensor::placeholder(
                        g.shape(),
                        g.dtype(),
                        Placeholder {
                            trace: c.id,
                            kind: PlaceholderKind::GradOf(t.clone()),
                            function: function.clone(),
                        },
                    )
                })
                .clone()
        }))
    })
    .flatten()
}

/// Hook of `Tensor::set_grad()`: records a write to the grad slot of a
/// tensor from before the trace (the slot is written now, so later reads
/// in the trace see it, and restored when the trace ends).
pub fn on_grad_write(t: &Tensor) {
    with_ctx(|c| {
        if !from_before(c, t) {
            return;
        }
        match c.grads.iter_mut().find(|s| s.target.id() == t.id()) {
            Some(s) => s.written = true,
            None => c.grads.push(GradSlot {
                target: t.clone(),
                original: t.raw_grad(),
                written: true,
                placeholder: None,
            }),
        }
    });
}

/// Hook of `Tensor::assign()` inside a trace: records `target := value`;
/// ops created afterwards read `value` wherever they read `target`.
pub fn on_assign(target: &Tensor, value: &Tensor) {
    with_ctx(|c| {
        let value = redirect_one(c, value);
        match c.assign_index.get(&target.id()) {
            Some(&i) => c.assigns[i].1 = value,
            None => {
                c.assign_index.insert(target.id(), c.assigns.len());
                c.assigns.push((target.clone(), value));
            }
        }
    });
}

fn redirect_one(c: &TraceCtx, t: &Tensor) -> Tensor {
    match c.assign_index.get(&t.id()) {
        Some(&i) => c.assigns[i].1.clone(),
        None => t.clone(),
    }
}

/// Replaces tensors the trace assigned to by their assigned values (called
/// on the inputs of every op created during a trace).
pub fn redirect(inputs: &mut [Tensor]) {
    with_ctx(|c| {
        if c.assign_index.is_empty() {
            return;
        }
        for t in inputs.iter_mut() {
            if let Some(&i) = c.assign_index.get(&t.id()) {
                *t = c.assigns[i].1.clone();
            }
        }
    });
}

/// The tensor `t` reads as in the active trace (its assigned value, if
/// the trace assigned to it).
pub fn current_value(t: &Tensor) -> Tensor {
    with_ctx(|c| redirect_one(c, t)).unwrap_or_else(|| t.clone())
}

/// A global random key inside a trace: a placeholder input, so every call
/// draws a fresh key (`None` when not tracing).
pub fn global_key() -> Option<Tensor> {
    let function = function_name();
    with_ctx(|c| {
        let t = Tensor::placeholder(
            &[2],
            DType::U32,
            Placeholder {
                trace: c.id,
                kind: PlaceholderKind::Key(c.keys.len()),
                function,
            },
        );
        c.keys.push(t.clone());
        t
    })
}

/// Keeps a debug-print node of the trace alive as an effect.
pub fn add_print(t: &Tensor) {
    with_ctx(|c| c.prints.push(t.clone()));
}

/// What a placeholder is, in words.
fn describe(p: &Placeholder) -> String {
    match &p.kind {
        PlaceholderKind::Arg(i) => format!("argument leaf {i}"),
        PlaceholderKind::GradOf(t) => {
            format!("the gradient of the tensor created at {}", t.location())
        }
        PlaceholderKind::Key(i) => format!("random key {i}"),
    }
}

/// The error for asking a traced tensor for its value at `at`.
pub fn concrete_value_error(t: &Tensor, p: &Placeholder, at: &Location<'_>) -> Error {
    Error::Trace(format!(
        "a concrete value was requested at {at} from a traced tensor ({}{:?}, created at {}) \
         while tracing {}. Inside jit, tensors that depend on the arguments ({} here) are \
         placeholders: the function's Rust code runs once to record the computation, so \
         their values do not exist yet. Instead: select elementwise with where_(cond, a, b) \
         rather than branching with `if`; move the value-dependent decision out of the jitted \
         function; or pass the value as a Static(..) argument so each value gets its own \
         trace. To print a value at run time use kiln::jit::debug_print.",
        t.dtype(),
        t.shape(),
        t.location(),
        p.function,
        describe(p),
    ))
}

/// The error for evaluating a tensor that depends on a placeholder of a
/// trace that has ended (a tracer that leaked out of its trace).
pub fn leaked_error(t: &Tensor, p: &Placeholder) -> Error {
    Error::Trace(format!(
        "the tensor {}{:?} created at {} was created while tracing {} and depends on its \
         {}; it has no value outside that trace (a leaked tracer). Return it from the \
         jitted function instead of storing it elsewhere.",
        t.dtype(),
        t.shape(),
        t.location(),
        p.function,
        describe(p),
    ))
}
