//! Evaluation: topologically order the pending part of a graph and run each
//! primitive's CPU kernel, freeing intermediates as soon as nothing needs them.

use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::collections::HashMap;

/// Computes the data of every tensor in `targets` (and what they depend on).
pub fn evaluate(targets: &[Tensor]) -> Result<()> {
    let order = pending_in_order(targets);
    if order.is_empty() {
        return Ok(());
    }
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

/// Pending (not yet evaluated) nodes reachable from `targets`, inputs first.
fn pending_in_order(targets: &[Tensor]) -> Vec<Tensor> {
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
    order
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
