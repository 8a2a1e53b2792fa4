//! Reverse accumulation over the recorded graph: the one engine behind both
//! `loss.backward()` and the functional `grad`/`vjp`.

use super::vjp::{differentiable, vjp};
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::collections::{HashMap, HashSet};

/// Which nodes the walk computes cotangents for and does not go past.
pub(crate) enum Targets<'a> {
    /// These nodes (by id): the functional transforms' inputs.
    Ids(&'a HashSet<u64>),
    /// Every leaf marked `requires_grad(true)`: `backward()`.
    GradLeaves,
}

impl Targets<'_> {
    fn contains(&self, t: &Tensor) -> bool {
        match self {
            Targets::Ids(ids) => ids.contains(&t.id()),
            Targets::GradLeaves => t.is_grad_leaf(),
        }
    }
}

/// The result of a walk: cotangents of the targets, and the nodes visited.
pub(crate) struct Backprop {
    /// Cotangent of each target reached, by id.
    pub grads: HashMap<u64, Tensor>,
    /// The targets reached, in a stable order.
    pub targets: Vec<Tensor>,
    /// Every non-target node the walk went through (for releasing the graph).
    pub interior: Vec<Tensor>,
}

/// Accumulates cotangents from `roots` (tensor, cotangent) back to `targets`.
pub(crate) fn backprop(roots: &[(Tensor, Tensor)], targets: Targets) -> Result<Backprop> {
    // Post-order (inputs first) over nodes that record the graph.
    let mut order: Vec<Tensor> = vec![];
    let mut seen = HashSet::new();
    let mut stack: Vec<(Tensor, bool)> = roots.iter().map(|(t, _)| (t.clone(), false)).collect();
    while let Some((t, done)) = stack.pop() {
        if done {
            order.push(t);
            continue;
        }
        if !t.tracks_grad() || !seen.insert(t.id()) {
            continue;
        }
        let inputs = if targets.contains(&t) {
            vec![]
        } else {
            t.op().map(|op| op.inputs).unwrap_or_default()
        };
        if inputs.is_empty() && !targets.contains(&t) && t.is_released() {
            return Err(Error::Invalid(format!(
                "backward through a graph that was already freed (tensor created at {}); \
                 call backward_with(.., retain_graph = true) the first time to backward twice",
                t.location()
            )));
        }
        stack.push((t, true));
        for i in inputs {
            if !seen.contains(&i.id()) {
                stack.push((i, false));
            }
        }
    }
    // A node matters if it is a target or one of its inputs matters.
    let mut relevant: HashSet<u64> = HashSet::new();
    for t in &order {
        let rel = targets.contains(t)
            || t.op()
                .is_some_and(|op| op.inputs.iter().any(|i| relevant.contains(&i.id())));
        if rel {
            relevant.insert(t.id());
        }
    }
    let mut cts: HashMap<u64, Tensor> = HashMap::new();
    for (t, g) in roots {
        accumulate(&mut cts, t, g.clone());
    }
    let mut out = Backprop {
        grads: HashMap::new(),
        targets: vec![],
        interior: vec![],
    };
    for t in order.iter().rev() {
        if !relevant.contains(&t.id()) {
            continue;
        }
        if targets.contains(t) {
            out.targets.push(t.clone());
            if let Some(g) = cts.remove(&t.id()) {
                out.grads.insert(t.id(), g);
            }
            continue;
        }
        out.interior.push(t.clone());
        let (Some(op), Some(g)) = (t.op(), cts.remove(&t.id())) else {
            continue;
        };
        let rules = vjp(&op.prim, &op.inputs, t, &g);
        for (input, gi) in op.inputs.iter().zip(rules) {
            if let Some(gi) = gi {
                if relevant.contains(&input.id()) && differentiable(input.dtype()) {
                    accumulate(&mut cts, input, gi);
                }
            }
        }
    }
    Ok(out)
}

fn accumulate(cts: &mut HashMap<u64, Tensor>, t: &Tensor, g: Tensor) {
    debug_assert_eq!(g.shape(), t.shape(), "cotangent shape of {:?}", t);
    let g = g.astype(t.dtype());
    let sum = match cts.remove(&t.id()) {
        Some(prev) => &prev + &g,
        None => g,
    };
    cts.insert(t.id(), sum);
}
