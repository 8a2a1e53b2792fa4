//! Evaluation: topologically order the pending part of a graph and run it,
//! freeing intermediates as soon as nothing needs them.
//!
//! When the pending graph holds a chain of fusible elementwise ops (or one
//! feeding a reduction), it is lowered through the same fusion pass and
//! kernel cache as `jit` ([`crate::fusion`]), so ordinary eager code runs
//! fused kernels too. Nodes inside a fused kernel get no data of their own
//! unless someone else holds them, autodiff needs them, or they are
//! targets; otherwise they stay lazy (and would be recomputed if read).
//! Set `KILN_FUSION=0` (or call [`set_fusion`]) to run op by op.

use crate::error::{Error, Result};
use crate::exec::Event;
use crate::jit::trace;
use crate::tensor::Tensor;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

/// 0: not read yet, 1: off, 2: on.
static FUSION: AtomicU8 = AtomicU8::new(0);

thread_local! {
    /// A per-thread override of the fusion switch (see [`with_fusion`]).
    static FUSION_HERE: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` with eager fusion on or off on this thread only (tests and
/// benchmarks compare fused and op-by-op evaluation this way).
pub fn with_fusion<R>(on: bool, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<bool>);
    impl Drop for Restore {
        fn drop(&mut self) {
            FUSION_HERE.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(FUSION_HERE.with(|c| c.replace(Some(on))));
    f()
}

/// True if eager evaluation fuses (default; `KILN_FUSION=0` turns it off).
pub fn fusion_enabled() -> bool {
    if let Some(on) = FUSION_HERE.with(|c| c.get()) {
        return on;
    }
    match FUSION.load(Ordering::Relaxed) {
        0 => {
            let on = std::env::var("KILN_FUSION").map_or(true, |v| v.trim() != "0");
            FUSION.store(1 + on as u8, Ordering::Relaxed);
            on
        }
        v => v == 2,
    }
}

/// Turns eager fusion on or off for the whole process (benchmarks compare
/// fused and op-by-op evaluation this way).
pub fn set_fusion(on: bool) {
    FUSION.store(1 + on as u8, Ordering::Relaxed);
}

/// True if `KILN_FUSION_DUMP=1`: every fused eager evaluation prints its
/// graph and plan to stderr.
fn dump_plans() -> bool {
    static DUMP: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DUMP.get_or_init(|| std::env::var("KILN_FUSION_DUMP").is_ok_and(|v| v.trim() == "1"))
}

/// Computes the data of every tensor in `targets` (and what they depend on).
///
/// Inside a `jit` trace, tensors that depend on the trace's placeholders
/// have no values yet: evaluating them does nothing (reading them is an
/// error, see `Tensor::array`). Outside their trace they are an error.
pub fn evaluate(targets: &[Tensor]) -> Result<()> {
    let (order, placeholder) = pending_in_order(targets);
    if let Some((node, p)) = placeholder {
        if trace::active() && p.trace == trace::active_id() {
            return Ok(());
        }
        return Err(trace::leaked_error(&node, &p));
    }
    if order.is_empty() {
        return Ok(());
    }
    if fusion_enabled() && has_fusible_pair(&order) {
        return evaluate_fused(targets, order);
    }
    evaluate_op_by_op(targets, order)
}

/// True if some pending fusible op reads another pending fusible op, so
/// the fusion pass has something to do.
fn has_fusible_pair(order: &[Tensor]) -> bool {
    let fusible = |t: &Tensor| {
        t.op().is_some_and(|op| {
            op.prim.is_elementwise()
                && crate::cpu::fused::is_fusible(
                    &op.prim,
                    &op.inputs.iter().map(Tensor::dtype).collect::<Vec<_>>(),
                    t.dtype(),
                )
        })
    };
    let pending: std::collections::HashSet<u64> = order.iter().map(Tensor::id).collect();
    order.iter().any(|t| {
        let Some(op) = t.op() else { return false };
        let reads_fusible = |op: &crate::tensor::Op| {
            op.inputs
                .iter()
                .any(|i| pending.contains(&i.id()) && i.shape() == t.shape() && fusible(i))
        };
        match &op.prim {
            crate::primitive::Primitive::Reduce { .. } => op
                .inputs
                .iter()
                .any(|i| pending.contains(&i.id()) && fusible(i)),
            _ => fusible(t) && reads_fusible(&op),
        }
    })
}

/// The pending graph lowered through the fusion pass and run as a plan.
fn evaluate_fused(targets: &[Tensor], order: Vec<Tensor>) -> Result<()> {
    // Who holds each node besides this graph (counted before anything
    // here clones a handle): such nodes must get their data.
    let position: HashMap<u64, usize> =
        order.iter().enumerate().map(|(i, t)| (t.id(), i)).collect();
    let mut edges = vec![0usize; order.len()];
    for t in &order {
        if let Some(op) = &t.lock_state().op {
            for i in &op.inputs {
                if let Some(&j) = position.get(&i.id()) {
                    edges[j] += 1;
                }
            }
        }
    }
    let held: Vec<bool> = order
        .iter()
        .zip(&edges)
        .map(|(t, &e)| Arc::strong_count(&t.0) > 1 + e)
        .collect();
    let target_ids: std::collections::HashSet<u64> = targets.iter().map(Tensor::id).collect();
    let (mut ir, leaves, mut nodes) = crate::ir::from_pending(&order)?;
    drop(order);
    let mut needed = vec![false; ir.vars.len()];
    let mut k = 0;
    for (v, node) in nodes.iter().enumerate() {
        if let Some(t) = node {
            needed[v] = held[k] || t.tracks_grad() || target_ids.contains(&t.id());
            k += 1;
        }
    }
    drop(held);
    ir.outputs = vec![];
    let plan = crate::fusion::lower(&ir, &needed, true);
    if dump_plans() {
        eprintln!("kiln eager evaluation:\n{ir}\n{plan}");
    }
    let mut sink = |ev: Event| match ev {
        Event::Made(v, a) => {
            if let Some(t) = &nodes[v] {
                let mut st = t.lock_state();
                st.data = Some(a.clone());
                if !t.tracks_grad() {
                    st.op = None;
                }
            }
        }
        Event::Released(v) => {
            if nodes[v]
                .as_ref()
                .is_some_and(|t| !target_ids.contains(&t.id()))
            {
                nodes[v] = None;
            }
        }
    };
    crate::exec::run(&plan, leaves, &mut sink)?;
    Ok(())
}

/// The pending graph run one node at a time.
fn evaluate_op_by_op(targets: &[Tensor], order: Vec<Tensor>) -> Result<()> {
    // How many not-yet-run nodes of this evaluation read each node, so the
    // evaluator drops its own handle as soon as the last reader has run.
    let position: HashMap<u64, usize> =
        order.iter().enumerate().map(|(i, t)| (t.id(), i)).collect();
    let mut readers = vec![0usize; order.len()];
    let mut inputs_of: Vec<Vec<usize>> = Vec::with_capacity(order.len());
    for t in &order {
        let op = t.lock_state().op.clone().expect("pending node has an op");
        let ins: Vec<usize> = op
            .inputs
            .iter()
            .filter_map(|i| position.get(&i.id()).copied())
            .collect();
        for &i in &ins {
            readers[i] += 1;
        }
        inputs_of.push(ins);
    }
    let target_ids: Vec<u64> = targets.iter().map(Tensor::id).collect();
    let mut slots: Vec<Option<Tensor>> = order.into_iter().map(Some).collect();
    for i in 0..slots.len() {
        let t = slots[i].clone().expect("node released before it ran");
        run_node(&t)?;
        for &j in &inputs_of[i] {
            readers[j] -= 1;
            if readers[j] == 0 && !target_ids.contains(&slots[j].as_ref().map_or(0, Tensor::id)) {
                slots[j] = None;
            }
        }
    }
    Ok(())
}

/// A placeholder reached by a graph walk, with its record.
type Reached = Option<(Tensor, Arc<trace::Placeholder>)>;

/// Pending (not yet evaluated) nodes reachable from `targets`, inputs
/// first, and a placeholder among them if there is one (then the order is
/// not usable).
fn pending_in_order(targets: &[Tensor]) -> (Vec<Tensor>, Reached) {
    let mut order = Vec::new();
    let mut visited = std::collections::HashSet::new();
    let mut stack: Vec<(Tensor, bool)> = targets.iter().rev().map(|t| (t.clone(), false)).collect();
    while let Some((t, expanded)) = stack.pop() {
        if expanded {
            order.push(t);
            continue;
        }
        if !visited.insert(t.id()) {
            continue;
        }
        let st = t.lock_state();
        if st.data.is_some() {
            continue;
        }
        if let Some(p) = &st.placeholder {
            let p = p.clone();
            drop(st);
            return (vec![], Some((t, p)));
        }
        let inputs = st
            .op
            .as_ref()
            .map(|op| op.inputs.clone())
            .unwrap_or_default();
        drop(st);
        stack.push((t, true));
        for inp in inputs.into_iter().rev() {
            if !visited.contains(&inp.id()) {
                stack.push((inp, false));
            }
        }
    }
    (order, None)
}

/// Runs one node's kernel on its (already evaluated) inputs and stores the
/// result, dropping the inputs unless autodiff needs them.
fn run_node(t: &Tensor) -> Result<()> {
    let op = {
        let st = t.lock_state();
        if st.data.is_some() {
            return Ok(());
        }
        st.op.clone().expect("pending node has an op")
    };
    let arrays =
        op.inputs
            .iter()
            .map(|i| {
                i.lock_state().data.clone().ok_or_else(|| {
                    Error::Invalid("kiln internal error: input not evaluated".into())
                })
            })
            .collect::<Result<Vec<_>>>()?;
    let out = crate::cpu::execute(&op.prim, &arrays, t.shape(), t.dtype()).map_err(|message| {
        Error::Eval {
            op: op.prim.name(),
            message,
            location: t.location().to_string(),
        }
    })?;
    debug_assert_eq!(
        out.shape(),
        t.shape(),
        "{} kernel returned a wrong shape",
        op.prim.name()
    );
    debug_assert_eq!(
        out.dtype(),
        t.dtype(),
        "{} kernel returned a wrong dtype",
        op.prim.name()
    );
    let mut st = t.lock_state();
    st.data = Some(out);
    if !t.tracks_grad() {
        st.op = None;
    }
    Ok(())
}

/// A placeholder input of a trace that `t` depends on (with its record),
/// if any: why `t` has no value.
pub(crate) fn find_placeholder(t: &Tensor) -> Reached {
    let mut stack = vec![t.clone()];
    let mut seen = std::collections::HashSet::new();
    while let Some(n) = stack.pop() {
        if !seen.insert(n.id()) {
            continue;
        }
        let st = n.lock_state();
        if st.data.is_some() {
            continue;
        }
        if let Some(p) = &st.placeholder {
            let p = p.clone();
            drop(st);
            return Some((n, p));
        }
        if let Some(op) = &st.op {
            stack.extend(op.inputs.iter().cloned());
        }
    }
    None
}
