//! Running a [`Plan`]: each step's kernel on the values it reads, values
//! dropped as soon as their last reader ran (so their buffers go back to
//! the pool for the next step), and dying inputs handed to kernels that
//! can write over them.

use crate::array::Array;
use crate::cpu::fused::{reduce::run_reduce, run_elementwise};
use crate::error::{Error, Result};
use crate::fusion::{Plan, Step};
use crate::ir::Var;

/// What [`run`] reports as it goes.
pub enum Event<'a> {
    /// Variable `v` was computed.
    Made(Var, &'a Array),
    /// Variable `v` is no longer needed by the rest of the plan.
    Released(Var),
}

/// Runs `plan` on `inputs` (one array per [`Plan::inputs`]) and returns
/// the outputs. `sink` sees every value as it is made and when the plan no
/// longer needs it (the eager evaluator stores values in their tensors).
pub fn run(plan: &Plan, inputs: Vec<Array>, sink: &mut dyn FnMut(Event)) -> Result<Vec<Array>> {
    debug_assert_eq!(inputs.len(), plan.inputs.len());
    let mut values: Vec<Option<Array>> = vec![None; plan.vars.len()];
    for (&v, a) in plan.inputs.iter().zip(inputs) {
        values[v] = Some(a);
    }
    for (v, a) in &plan.consts {
        values[*v] = Some(a.clone());
    }
    let get = |values: &[Option<Array>], v: Var| -> Result<Array> {
        values[v].clone().ok_or_else(|| missing(plan, v))
    };
    for (i, step) in plan.steps.iter().enumerate() {
        let outs: Vec<Array> = match step {
            Step::Eqn(e) => {
                let ins = e
                    .inputs
                    .iter()
                    .map(|&v| get(&values, v))
                    .collect::<Result<Vec<_>>>()?;
                let info = &plan.vars[e.out];
                let out = crate::cpu::execute(&e.prim, &ins, &info.shape, info.dtype).map_err(
                    |message| Error::Eval {
                        op: e.prim.name(),
                        message,
                        location: e.location.to_string(),
                    },
                )?;
                vec![out]
            }
            Step::Fused(f) => {
                let mut ins = Vec::with_capacity(f.inputs.len());
                for (k, &v) in f.inputs.iter().enumerate() {
                    // A donated input is moved, so the kernel may own it.
                    let donated = f.donate.is_some_and(|(d, _)| d == k);
                    ins.push(match donated {
                        true => values[v].take().ok_or_else(|| missing(plan, v))?,
                        false => get(&values, v)?,
                    });
                }
                run_elementwise(&f.program, &f.shape, ins, f.donate)
            }
            Step::Reduce(r) => {
                let ins = r
                    .inputs
                    .iter()
                    .map(|&v| get(&values, v))
                    .collect::<Result<Vec<_>>>()?;
                let epi = r
                    .epilogue_inputs
                    .iter()
                    .map(|&v| get(&values, v))
                    .collect::<Result<Vec<_>>>()?;
                let ins: Vec<&Array> = ins.iter().collect();
                let epi: Vec<&Array> = epi.iter().collect();
                run_reduce(&r.kernel, &r.shape, r.layout, &r.out_shape, &ins, &epi)
            }
        };
        for (v, a) in step.writes().into_iter().zip(outs) {
            sink(Event::Made(v, &a));
            values[v] = Some(a);
        }
        for &v in &plan.release[i] {
            values[v] = None;
            sink(Event::Released(v));
        }
    }
    plan.outputs.iter().map(|&v| get(&values, v)).collect()
}

fn missing(plan: &Plan, v: Var) -> Error {
    Error::Invalid(format!(
        "kiln internal error: value {} is missing in\n{plan}",
        crate::ir::var_name(v)
    ))
}
