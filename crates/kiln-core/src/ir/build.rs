//! Building an [`Ir`] from a tensor graph: the pending part of a graph for
//! the eager evaluator, or everything a trace recorded for `jit`.

use super::{Effect, Eqn, Ir, Source, Var};
use crate::array::Array;
use crate::error::{Error, Result};
use crate::jit::trace::{self, GradWrite, PlaceholderKind, TraceCtx};
use crate::tensor::Tensor;
use std::collections::HashMap;

/// The Ir of pending nodes `order` (inputs first): every input that is not
/// in `order` is an evaluated leaf and becomes an input of the program.
/// Returns the Ir (without outputs: the caller chooses them), the leaves'
/// arrays in input order, and the node of each equation's variable.
pub fn from_pending(order: &[Tensor]) -> Result<(Ir, Vec<Array>, Vec<Option<Tensor>>)> {
    let mut ir = Ir {
        name: "eval".into(),
        ..Ir::default()
    };
    let mut leaves = vec![];
    let mut nodes: Vec<Option<Tensor>> = vec![];
    let mut var_of: HashMap<u64, Var> = HashMap::with_capacity(order.len() * 2);
    for t in order {
        let op = t
            .op()
            .ok_or_else(|| Error::Invalid("kiln internal error: pending node without op".into()))?;
        let mut inputs = Vec::with_capacity(op.inputs.len());
        for i in &op.inputs {
            let v = match var_of.get(&i.id()) {
                Some(&v) => v,
                None => {
                    let a = i.lock_state().data.clone().ok_or_else(|| {
                        Error::Invalid("kiln internal error: input not evaluated".into())
                    })?;
                    let v = ir.new_var(i.shape().to_vec(), i.dtype());
                    nodes.push(None);
                    ir.inputs.push((v, Source::Captured(i.clone())));
                    leaves.push(a);
                    var_of.insert(i.id(), v);
                    v
                }
            };
            inputs.push(v);
        }
        let out = ir.new_var(t.shape().to_vec(), t.dtype());
        nodes.push(Some(t.clone()));
        var_of.insert(t.id(), out);
        ir.eqns.push(Eqn {
            prim: op.prim,
            inputs,
            out,
            location: t.location(),
        });
    }
    Ok((ir, leaves, nodes))
}

/// What a finished trace produced: the function's results and the values
/// of its effects.
pub struct TraceRoots {
    /// The result leaves, in order.
    pub results: Vec<Tensor>,
    /// Grad slots written by the trace.
    pub grads: Vec<GradWrite>,
}

/// The Ir of a finished trace: inputs are the argument placeholders (all,
/// in order), then tensors from before the trace and gradients and random
/// keys, as the walk meets them; data made during the trace are constants.
pub fn from_trace(ctx: &TraceCtx, roots: TraceRoots) -> Result<Ir> {
    let mut b = TraceBuilder {
        ctx,
        ir: Ir {
            name: ctx.function.to_string(),
            ..Ir::default()
        },
        var_of: HashMap::new(),
    };
    for (i, a) in ctx.args.iter().enumerate() {
        let v = b.ir.new_var(a.shape().to_vec(), a.dtype());
        b.ir.inputs.push((v, Source::Arg(i)));
        b.var_of.insert(a.id(), v);
    }
    for (i, k) in ctx.keys.iter().enumerate() {
        let v = b.ir.new_var(k.shape().to_vec(), k.dtype());
        b.ir.inputs.push((v, Source::Key(i)));
        b.var_of.insert(k.id(), v);
    }
    let mut outputs = vec![];
    for r in &roots.results {
        outputs.push(b.var(r)?);
    }
    b.ir.n_results = outputs.len();
    for (target, value) in &ctx.assigns {
        if target.id() < ctx.first_node {
            let v = b.var(value)?;
            b.ir.effects.push(Effect::Assign {
                target: target.clone(),
                output: outputs.len(),
            });
            outputs.push(v);
        }
    }
    for w in &roots.grads {
        let output = match &w.value {
            Some(g) => {
                outputs.push(b.var(g)?);
                Some(outputs.len() - 1)
            }
            None => None,
        };
        b.ir.effects.push(Effect::SetGrad {
            target: w.target.clone(),
            output,
        });
    }
    for p in &ctx.prints {
        b.var(p)?;
    }
    b.ir.outputs = outputs;
    Ok(b.ir)
}

struct TraceBuilder<'c> {
    ctx: &'c TraceCtx,
    ir: Ir,
    var_of: HashMap<u64, Var>,
}

impl TraceBuilder<'_> {
    /// The variable of `root`, adding it and everything it depends on.
    fn var(&mut self, root: &Tensor) -> Result<Var> {
        if let Some(&v) = self.var_of.get(&root.id()) {
            return Ok(v);
        }
        // Iterative post-order walk: long chains must not overflow the stack.
        let mut stack: Vec<(Tensor, bool)> = vec![(root.clone(), false)];
        while let Some((t, expanded)) = stack.pop() {
            if self.var_of.contains_key(&t.id()) {
                continue;
            }
            if expanded {
                self.add_eqn(&t)?;
                continue;
            }
            if let Some(leaf) = self.leaf(&t)? {
                self.var_of.insert(t.id(), leaf);
                continue;
            }
            let op = t.op().expect("a node that is not a leaf has an op");
            stack.push((t, true));
            for i in op.inputs.iter().rev() {
                if !self.var_of.contains_key(&i.id()) {
                    stack.push((i.clone(), false));
                }
            }
        }
        Ok(self.var_of[&root.id()])
    }

    /// The input or constant variable of a leaf, or `None` for an op node
    /// of the trace.
    fn leaf(&mut self, t: &Tensor) -> Result<Option<Var>> {
        if let Some(p) = t.placeholder_info() {
            if p.trace != self.ctx.id {
                return Err(trace::leaked_error(t, &p));
            }
            let source = match &p.kind {
                PlaceholderKind::GradOf(target) => Source::GradOf(target.clone()),
                PlaceholderKind::Arg(i) => Source::Arg(*i),
                PlaceholderKind::Key(i) => Source::Key(*i),
            };
            let v = self.ir.new_var(t.shape().to_vec(), t.dtype());
            self.ir.inputs.push((v, source));
            return Ok(Some(v));
        }
        if t.id() < self.ctx.first_node {
            // From before the trace: read at call time (evaluated once now
            // if it was still lazy, so its value is fixed).
            t.eval()?;
            let v = self.ir.new_var(t.shape().to_vec(), t.dtype());
            self.ir.inputs.push((v, Source::Captured(t.clone())));
            return Ok(Some(v));
        }
        let data = t.lock_state().data.clone();
        if let Some(a) = data {
            let v = self.ir.new_var(t.shape().to_vec(), t.dtype());
            self.ir.consts.push((v, a));
            return Ok(Some(v));
        }
        Ok(None)
    }

    fn add_eqn(&mut self, t: &Tensor) -> Result<()> {
        let op = t.op().expect("expanded nodes have ops");
        let inputs = op.inputs.iter().map(|i| self.var_of[&i.id()]).collect();
        let out = self.ir.new_var(t.shape().to_vec(), t.dtype());
        self.ir.eqns.push(Eqn {
            prim: op.prim,
            inputs,
            out,
            location: t.location(),
        });
        self.var_of.insert(t.id(), out);
        Ok(())
    }
}
