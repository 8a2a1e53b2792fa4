//! The traced program: a typed SSA list of primitive equations, printed
//! like a jaxpr.
//!
//! An [`Ir`] is what `jit` records from a function (and what the eager
//! evaluator builds from a pending graph): typed variables, where each
//! input comes from at call time ([`Source`]), constants, equations in
//! dependency order, outputs, and the side effects a call performs
//! ([`Effect`]: assignments to tensors and gradients from outside the
//! trace). The optimization passes ([`crate::passes`]) rewrite it, the
//! fusion lowering ([`crate::fusion`]) turns it into an executable plan.

mod build;
mod replay;

pub use build::{from_pending, from_trace, TraceRoots};
pub use replay::replay;

use crate::array::Array;
use crate::dtype::DType;
use crate::primitive::Primitive;
use crate::tensor::Tensor;
use std::fmt;
use std::panic::Location;

/// A variable of an [`Ir`]: an index into [`Ir::vars`].
pub type Var = usize;

/// The type of a variable.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VarInfo {
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its dtype.
    pub dtype: DType,
}

/// Where an input of the program comes from when it runs.
#[derive(Clone)]
pub enum Source {
    /// Leaf `i` of the flattened arguments.
    Arg(usize),
    /// A tensor that existed before the trace: its data at call time
    /// (model parameters, optimizer state, data captured by the closure).
    Captured(Tensor),
    /// The gradient (`.grad()`) of a tensor from before the trace, at
    /// call time.
    GradOf(Tensor),
    /// The `i`-th key drawn from the global random generator by the call.
    Key(usize),
}

/// One equation: `out = prim(inputs)`.
#[derive(Clone, Debug)]
pub struct Eqn {
    /// The primitive with its parameters.
    pub prim: Primitive,
    /// Input variables, in the primitive's order.
    pub inputs: Vec<Var>,
    /// The variable it defines.
    pub out: Var,
    /// The user's source line that created it.
    pub location: &'static Location<'static>,
}

/// A side effect of running the program, applied after it ran.
#[derive(Clone)]
pub enum Effect {
    /// `target.assign(outputs[output])`.
    Assign { target: Tensor, output: usize },
    /// `target.set_grad(outputs[output])` (or `None`: cleared).
    SetGrad {
        target: Tensor,
        output: Option<usize>,
    },
}

/// A traced program.
#[derive(Clone, Default)]
pub struct Ir {
    /// The type of every variable.
    pub vars: Vec<VarInfo>,
    /// Input variables and where their values come from.
    pub inputs: Vec<(Var, Source)>,
    /// Constant variables (data created while tracing).
    pub consts: Vec<(Var, Array)>,
    /// Equations in dependency order.
    pub eqns: Vec<Eqn>,
    /// Output variables: the function's results first
    /// ([`Ir::n_results`] of them), then the values effects use.
    pub outputs: Vec<Var>,
    /// How many of `outputs` are the function's results.
    pub n_results: usize,
    /// Side effects, applied in order after a run.
    pub effects: Vec<Effect>,
    /// Name of the traced function, for printing and messages.
    pub name: String,
}

impl Ir {
    /// Adds a variable of `shape` and `dtype`.
    pub fn new_var(&mut self, shape: Vec<usize>, dtype: DType) -> Var {
        self.vars.push(VarInfo { shape, dtype });
        self.vars.len() - 1
    }

    /// True for equations whose side effect (printing) keeps them alive
    /// even when nothing reads their value.
    pub fn is_effectful(prim: &Primitive) -> bool {
        matches!(prim, Primitive::DebugPrint(_))
    }
}

/// `a, b, ..., z, ba, bb, ...`: jaxpr-style variable names.
pub fn var_name(v: Var) -> String {
    let mut n = v;
    let mut s = vec![];
    loop {
        s.push(b'a' + (n % 26) as u8);
        n /= 26;
        if n == 0 {
            break;
        }
    }
    s.reverse();
    String::from_utf8(s).expect("ascii")
}

/// `f32[64,784]`.
pub fn type_name(info: &VarInfo) -> String {
    let dims: Vec<String> = info.shape.iter().map(|d| d.to_string()).collect();
    format!("{}[{}]", info.dtype, dims.join(","))
}

fn typed(ir: &Ir, v: Var) -> String {
    format!("{}:{}", var_name(v), type_name(&ir.vars[v]))
}

/// A short rendering of a constant's value (scalars in full).
pub fn const_text(a: &Array) -> String {
    if a.is_splat() {
        let v = a.first_f64().unwrap_or(0.0);
        match a.dtype() {
            DType::Bool => (v != 0.0).to_string(),
            DType::F64 => format!("{v:?}"),
            d if d.is_float() => format!("{:?}", v as f32),
            _ => format!("{}", v as i64),
        }
    } else {
        "...".to_string()
    }
}

impl fmt::Display for Ir {
    /// Prints like `jax.make_jaxpr`:
    ///
    /// ```text
    /// { lambda ; a:f32[3]. let
    ///     b:f32[] = const 2.0
    ///     c:f32[3] = broadcast[shape=[3]] b        # src/main.rs:5:13
    ///     d:f32[3] = mul a c                        # src/main.rs:5:13
    ///   in (d) }
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let args: Vec<String> = self
            .inputs
            .iter()
            .map(|(v, src)| {
                let note = match src {
                    Source::Arg(_) => String::new(),
                    Source::Captured(t) => format!("{{captured from {}}}", t.location()),
                    Source::GradOf(t) => format!("{{grad of tensor from {}}}", t.location()),
                    Source::Key(i) => format!("{{random key {i}}}"),
                };
                format!("{}{note}", typed(self, *v))
            })
            .collect();
        writeln!(f, "{{ lambda ; {}. let", args.join(" "))?;
        let mut lines: Vec<(String, String)> = vec![];
        for (v, a) in &self.consts {
            lines.push((
                format!("{} = const {}", typed(self, *v), const_text(a)),
                String::new(),
            ));
        }
        for e in &self.eqns {
            let ins: Vec<String> = e.inputs.iter().map(|&v| var_name(v)).collect();
            lines.push((
                format!("{} = {} {}", typed(self, e.out), e.prim, ins.join(" ")),
                format!("# {}", e.location),
            ));
        }
        let width = lines
            .iter()
            .map(|(l, _)| l.len())
            .max()
            .unwrap_or(0)
            .min(72);
        for (l, note) in lines {
            if note.is_empty() {
                writeln!(f, "    {l}")?;
            } else {
                writeln!(f, "    {l:width$}  {note}")?;
            }
        }
        let outs: Vec<String> = self.outputs[..self.n_results]
            .iter()
            .map(|&v| var_name(v))
            .collect();
        write!(f, "  in ({})", outs.join(", "))?;
        if !self.effects.is_empty() {
            let effs: Vec<String> = self
                .effects
                .iter()
                .map(|e| match e {
                    Effect::Assign { target, output } => format!(
                        "assign tensor from {} := {}",
                        target.location(),
                        var_name(self.outputs[*output])
                    ),
                    Effect::SetGrad { target, output } => format!(
                        "grad of tensor from {} := {}",
                        target.location(),
                        output.map_or("none".to_string(), |o| var_name(self.outputs[o]))
                    ),
                })
                .collect();
            write!(f, "\n  effects [{}]", effs.join(", "))?;
        }
        write!(f, " }}")
    }
}

impl fmt::Debug for Ir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
