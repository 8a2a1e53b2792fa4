//! The executable plan: units of execution in order, each an equation or
//! a compiled fused kernel, with the memory plan (when each value is
//! released, and which dying input a kernel may overwrite).

use super::partition::{Group, Unit};
use crate::array::Array;
use crate::cpu::fused::reduce::{split, ReduceKernel};
use crate::cpu::fused::{self, FusedGraph, FusedOp, Operand, TileProgram};
use crate::ir::{type_name, var_name, Eqn, Ir, Var, VarInfo};
use crate::primitive::Primitive;
use crate::shape::numel;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// One step of a plan.
#[derive(Clone, Debug)]
pub enum Step {
    /// One primitive, run by its CPU kernel.
    Eqn(Eqn),
    /// A fused elementwise kernel over `shape`.
    Fused(FusedStep),
    /// A fused reduction (prologue, reduction, epilogue).
    Reduce(ReduceStep),
}

/// A fused elementwise kernel and the variables it reads and writes.
#[derive(Clone, Debug)]
pub struct FusedStep {
    /// The subgraph (also the kernel cache key).
    pub graph: FusedGraph,
    /// Its compiled program.
    pub program: Arc<TileProgram>,
    /// The iteration shape.
    pub shape: Vec<usize>,
    /// Variables read, in kernel input order.
    pub inputs: Vec<Var>,
    /// Variables written, in kernel output order.
    pub outputs: Vec<Var>,
    /// The fused equations (for printing).
    pub eqns: Vec<Eqn>,
    /// `(input, output)`: a dying input whose buffer the output may take.
    pub donate: Option<(usize, usize)>,
}

/// A fused reduction and the variables it reads and writes.
#[derive(Clone, Debug)]
pub struct ReduceStep {
    /// The kernel.
    pub kernel: ReduceKernel,
    /// The prologue's iteration shape (the reduction's input shape).
    pub shape: Vec<usize>,
    /// Its `[outer, reduced, inner]` split.
    pub layout: (usize, usize, usize),
    /// The reduced shape.
    pub out_shape: Vec<usize>,
    /// Variables the prologue reads.
    pub inputs: Vec<Var>,
    /// Variables the epilogue reads (after the reduced value).
    pub epilogue_inputs: Vec<Var>,
    /// Variables written: prologue stores, the reduced value, epilogue
    /// outputs.
    pub outputs: Vec<Var>,
    /// The fused equations (for printing).
    pub eqns: Vec<Eqn>,
}

impl Step {
    /// Variables the step reads.
    pub fn reads(&self) -> Vec<Var> {
        match self {
            Step::Eqn(e) => e.inputs.clone(),
            Step::Fused(f) => f.inputs.clone(),
            Step::Reduce(r) => {
                let mut v = r.inputs.clone();
                v.extend(&r.epilogue_inputs);
                v
            }
        }
    }

    /// Variables the step writes.
    pub fn writes(&self) -> Vec<Var> {
        match self {
            Step::Eqn(e) => vec![e.out],
            Step::Fused(f) => f.outputs.clone(),
            Step::Reduce(r) => r.outputs.clone(),
        }
    }
}

/// An executable plan.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The type of every variable.
    pub vars: Vec<VarInfo>,
    /// Variables filled from the call's input arrays, in order.
    pub inputs: Vec<Var>,
    /// Constant variables.
    pub consts: Vec<(Var, Array)>,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Variables returned, in order.
    pub outputs: Vec<Var>,
    /// After step `i`, the values of `release[i]` are dropped.
    pub release: Vec<Vec<Var>>,
}

/// Compiles the kernels of `units` (in the order they run) and plans
/// memory. `needed` marks variables that must be materialized
/// beyond the outputs (eager evaluation: tensors someone else holds).
pub fn build(ir: &Ir, units: Vec<Unit>, needed: &[bool]) -> Plan {
    let mut unit_of_eqn = vec![0usize; ir.eqns.len()];
    for (u, unit) in units.iter().enumerate() {
        for m in unit.members() {
            unit_of_eqn[m] = u;
        }
    }
    // Readers of every variable (equation indices), to know which group
    // members are read outside their group.
    let mut readers: Vec<Vec<usize>> = vec![vec![]; ir.vars.len()];
    for (i, e) in ir.eqns.iter().enumerate() {
        for &v in &e.inputs {
            readers[v].push(i);
        }
    }
    let mut needed = needed.to_vec();
    for &v in &ir.outputs {
        needed[v] = true;
    }
    let needed = &needed[..];
    let mut steps = vec![];
    for (u, unit) in units.iter().enumerate() {
        let used_outside = |v: Var| needed[v] || readers[v].iter().any(|&r| unit_of_eqn[r] != u);
        steps.push(match unit {
            Unit::Single(i) => Step::Eqn(ir.eqns[*i].clone()),
            Unit::Fused(g) if g.reduce.is_none() => {
                Step::Fused(fused_step(ir, &g.prologue, &used_outside))
            }
            Unit::Fused(g) => Step::Reduce(reduce_step(ir, g, &used_outside)),
        });
    }
    let mut plan = Plan {
        vars: ir.vars.clone(),
        inputs: ir.inputs.iter().map(|(v, _)| *v).collect(),
        consts: ir.consts.clone(),
        steps,
        outputs: ir.outputs.clone(),
        release: vec![],
    };
    plan_memory(&mut plan, needed);
    plan
}

/// The fused graph of elementwise equations `members`: outside inputs in
/// order of first use, outputs the members read outside.
fn fused_graph(
    ir: &Ir,
    members: &[usize],
    first_inputs: &[Var],
    used_outside: &dyn Fn(Var) -> bool,
) -> (FusedGraph, Vec<Var>, Vec<Var>) {
    let mut inputs: Vec<Var> = first_inputs.to_vec();
    let mut index: HashMap<Var, usize> = HashMap::new();
    let mut g = FusedGraph {
        inputs: first_inputs.iter().map(|&v| ir.vars[v].dtype).collect(),
        ops: vec![],
        outputs: vec![],
    };
    let mut outputs = vec![];
    for (k, &m) in members.iter().enumerate() {
        let e = &ir.eqns[m];
        let args = e
            .inputs
            .iter()
            .map(|&v| match index.get(&v) {
                Some(&j) => Operand::Op(j),
                None => {
                    let k = match inputs.iter().position(|&w| w == v) {
                        Some(k) => k,
                        None => {
                            inputs.push(v);
                            g.inputs.push(ir.vars[v].dtype);
                            inputs.len() - 1
                        }
                    };
                    Operand::Input(k)
                }
            })
            .collect();
        g.ops.push(FusedOp {
            prim: e.prim.clone(),
            args,
            dtype: ir.vars[e.out].dtype,
        });
        index.insert(e.out, k);
        if used_outside(e.out) {
            g.outputs.push(Operand::Op(k));
            outputs.push(e.out);
        }
    }
    (g, inputs, outputs)
}

fn fused_step(ir: &Ir, members: &[usize], used_outside: &dyn Fn(Var) -> bool) -> FusedStep {
    let (graph, inputs, outputs) = fused_graph(ir, members, &[], used_outside);
    let last = *members.last().expect("groups are not empty");
    FusedStep {
        program: fused::cached(&graph),
        graph,
        shape: ir.vars[ir.eqns[last].out].shape.clone(),
        inputs,
        outputs,
        eqns: members.iter().map(|&m| ir.eqns[m].clone()).collect(),
        donate: None,
    }
}

fn reduce_step(ir: &Ir, g: &Group, used_outside: &dyn Fn(Var) -> bool) -> ReduceStep {
    let r = g.reduce.expect("a reduction group");
    let re = &ir.eqns[r];
    let (op, axes) = match &re.prim {
        Primitive::Reduce { op, axes } => (*op, axes.clone()),
        _ => unreachable!("the group's reduction is a Reduce"),
    };
    let x = re.inputs[0];
    let shape = ir.vars[x].shape.clone();
    // Prologue: the value reduced is output 0, stores after it.
    let (pg, inputs, stores) = if g.prologue.is_empty() {
        let pg = FusedGraph {
            inputs: vec![ir.vars[x].dtype],
            ops: vec![],
            outputs: vec![Operand::Input(0)],
        };
        (pg, vec![x], vec![])
    } else {
        let (mut pg, inputs, stores) = fused_graph(ir, &g.prologue, &[], used_outside);
        let k = g
            .prologue
            .iter()
            .position(|&m| ir.eqns[m].out == x)
            .expect("the prologue produces the reduced value");
        pg.outputs.insert(0, Operand::Op(k));
        (pg, inputs, stores)
    };
    // Epilogue: input 0 is the reduced value.
    let (epilogue, epilogue_inputs, epi_outputs) = if g.epilogue.is_empty() {
        (None, vec![], vec![])
    } else {
        let (eg, ins, outs) = fused_graph(ir, &g.epilogue, &[re.out], used_outside);
        (Some(fused::cached(&eg)), ins[1..].to_vec(), outs)
    };
    let mut outputs = stores;
    outputs.push(re.out);
    outputs.extend(epi_outputs);
    ReduceStep {
        kernel: ReduceKernel {
            prologue: fused::cached(&pg),
            op,
            epilogue,
        },
        layout: split(&shape, &axes).expect("partition checked the layout"),
        shape,
        out_shape: ir.vars[re.out].shape.clone(),
        inputs,
        epilogue_inputs,
        outputs,
        eqns: g
            .members()
            .into_iter()
            .map(|m| ir.eqns[m].clone())
            .collect(),
    }
}

/// Fills `plan.release` (each value dropped after its last reader, values
/// nobody reads right after they are made; outputs and `needed` values
/// are kept) and marks kernels that may overwrite a dying input.
fn plan_memory(plan: &mut Plan, needed: &[bool]) {
    let nv = plan.vars.len();
    let mut keep = vec![false; nv];
    for &v in &plan.outputs {
        keep[v] = true;
    }
    let mut last = vec![None; nv];
    let mut made_by = vec![None; nv];
    for (i, s) in plan.steps.iter().enumerate() {
        for v in s.reads() {
            last[v] = Some(i);
        }
        for v in s.writes() {
            made_by[v] = Some(i);
        }
    }
    let mut release = vec![vec![]; plan.steps.len()];
    for v in 0..nv {
        if keep[v] {
            continue;
        }
        if let Some(i) = last[v].or(made_by[v]) {
            release[i].push(v);
        }
    }
    // Values computed inside a fused kernel and never written out are
    // released with it (they never exist outside it).
    for (i, s) in plan.steps.iter().enumerate() {
        let eqns = match s {
            Step::Fused(f) => &f.eqns,
            Step::Reduce(r) => &r.eqns,
            Step::Eqn(_) => continue,
        };
        for e in eqns {
            if made_by[e.out].is_none() && !keep[e.out] {
                release[i].push(e.out);
            }
        }
    }
    // In place: a fused kernel may take the buffer of an intermediate
    // input that dies at it (same dtype and size as an output).
    for (i, s) in plan.steps.iter_mut().enumerate() {
        if let Step::Fused(f) = s {
            let n = numel(&f.shape);
            f.donate = f.inputs.iter().enumerate().find_map(|(k, &v)| {
                let dies = last[v] == Some(i) && !keep[v] && !needed[v] && made_by[v].is_some();
                let out = f.outputs.iter().position(|&o| {
                    plan.vars[o].dtype == plan.vars[v].dtype && numel(&plan.vars[v].shape) == n
                })?;
                dies.then_some((k, out))
            });
        }
    }
    plan.release = release;
}

impl fmt::Display for Plan {
    /// One line per step; fused kernels list their equations.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = |vs: &[Var]| {
            vs.iter()
                .map(|&v| var_name(v))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let eqn_line = |e: &Eqn| {
            let ins: Vec<String> = e.inputs.iter().map(|&v| var_name(v)).collect();
            format!(
                "{}:{} = {} {}",
                var_name(e.out),
                type_name(&self.vars[e.out]),
                e.prim,
                ins.join(" ")
            )
        };
        writeln!(f, "plan ({} steps) {{", self.steps.len())?;
        for (i, s) in self.steps.iter().enumerate() {
            match s {
                Step::Eqn(e) => writeln!(f, "  {i:>3}: {}", eqn_line(e))?,
                Step::Fused(k) => {
                    writeln!(
                        f,
                        "  {i:>3}: fused elementwise over {:?}: ({}) -> ({}){}{}",
                        k.shape,
                        names(&k.inputs),
                        names(&k.outputs),
                        k.donate.map_or(String::new(), |(a, b)| format!(
                            "  [out{b} may reuse in{a}]"
                        )),
                        if crate::cpu::fused::native::supports(&k.program) {
                            "  [native code on AVX-512]"
                        } else {
                            ""
                        }
                    )?;
                    for e in &k.eqns {
                        writeln!(f, "         {}", eqn_line(e))?;
                    }
                    // The tile program these equations compiled to.
                    for instr in &k.program.code {
                        writeln!(f, "       | {instr}")?;
                    }
                }
                Step::Reduce(r) => {
                    writeln!(
                        f,
                        "  {i:>3}: fused reduction over {:?} -> {:?}: ({} ; {}) -> ({})",
                        r.shape,
                        r.out_shape,
                        names(&r.inputs),
                        names(&r.epilogue_inputs),
                        names(&r.outputs)
                    )?;
                    for e in &r.eqns {
                        writeln!(f, "         {}", eqn_line(e))?;
                    }
                }
            }
        }
        write!(f, "}} -> ({})", names(&self.outputs))
    }
}
