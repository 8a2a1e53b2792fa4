//! Optimization passes over an [`Ir`], each simple and linear: dead-code
//! elimination ([`dce`]), common-subexpression elimination by hash-consing
//! ([`cse`]), size-capped constant folding ([`fold`]) and exact algebraic
//! simplification ([`simplify`], which includes rewriting transposed
//! products, [`transpose`]). [`optimize`] runs them in order as the
//! [`Passes`] switches say; with `KILN_JIT_DUMP=1` the program is printed
//! after every pass.

pub mod cse;
pub mod dce;
pub mod fold;
pub mod simplify;
pub mod transpose;

use crate::ir::{Ir, Var};

/// Which passes run (all by default). Turning one off never changes
/// results, only speed: the differential tests check that.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Passes {
    /// Remove equations nothing needs.
    pub dce: bool,
    /// Merge equations that compute the same thing.
    pub cse: bool,
    /// Evaluate equations on constants at compile time (small results).
    pub fold: bool,
    /// Exact rewrites (`x * 1 -> x`, `reshape(reshape(x)) -> reshape(x)`,
    /// `permute(matmul(a, b)) -> matmul(permute(b), permute(a))`, ...).
    pub simplify: bool,
    /// Fuse elementwise chains and reductions into kernels.
    pub fuse: bool,
    /// Let fused kernels write over dying inputs.
    pub in_place: bool,
}

impl Default for Passes {
    fn default() -> Self {
        Passes::all()
    }
}

impl Passes {
    /// Every pass on.
    pub fn all() -> Passes {
        Passes {
            dce: true,
            cse: true,
            fold: true,
            simplify: true,
            fuse: true,
            in_place: true,
        }
    }

    /// Every pass off: the program runs as traced, one primitive at a time.
    pub fn none() -> Passes {
        Passes {
            dce: false,
            cse: false,
            fold: false,
            simplify: false,
            fuse: false,
            in_place: false,
        }
    }
}

/// True if `KILN_JIT_DUMP=1`: programs are printed after every pass.
pub fn dump_enabled() -> bool {
    static DUMP: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DUMP.get_or_init(|| std::env::var("KILN_JIT_DUMP").is_ok_and(|v| v.trim() == "1"))
}

/// Runs the passes `p` selects over `ir`, in order: fold, simplify, cse,
/// then dce (so what the others make dead is removed).
pub fn optimize(mut ir: Ir, p: Passes) -> Ir {
    let dump = dump_enabled();
    if dump {
        eprintln!("kiln jit: {} as traced:\n{ir}", ir.name);
    }
    let run = |name: &str, on: bool, f: fn(Ir) -> Ir, ir: Ir| -> Ir {
        if !on {
            return ir;
        }
        let ir = f(ir);
        if dump {
            eprintln!("kiln jit: {} after {name}:\n{ir}", ir.name);
        }
        ir
    };
    ir = run("fold", p.fold, fold::fold, ir);
    ir = run("simplify", p.simplify, simplify::simplify, ir);
    ir = run("cse", p.cse, cse::cse, ir);
    ir = run("dce", p.dce, dce::dce, ir);
    ir
}

/// Replaces variables by their aliases in every equation input and in the
/// outputs (`alias[v]` is `v`'s replacement, following chains).
pub(crate) fn substitute(ir: &mut Ir, alias: &[Option<Var>]) {
    let resolve = |mut v: Var| {
        while let Some(a) = alias[v] {
            v = a;
        }
        v
    };
    for e in &mut ir.eqns {
        for v in &mut e.inputs {
            *v = resolve(*v);
        }
    }
    for v in &mut ir.outputs {
        *v = resolve(*v);
    }
}
