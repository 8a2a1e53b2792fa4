//! Exact algebraic simplification: rewrites that give bitwise the same
//! values (and the same gradients) for every input, NaN and signed zeros
//! included. `x * 1`, `x / 1`, `x - (+0)` and `x + (-0)` are `x` (but not
//! `x + 0`: `-0 + 0` is `+0`); `neg(neg(x))`, `select(c, x, x)` and
//! widening round trips (`f32 -> f64 -> f32`) are `x`; reshapes, permutes
//! and broadcasts that change nothing disappear and chains of them become
//! one. Last, transposed f32 products `permute(matmul(a, b))` become
//! `matmul(permute(b), permute(a))` ([`super::transpose`]).

use super::substitute;
use crate::dtype::DType;
use crate::ir::{Eqn, Ir, Var};
use crate::primitive::{BinaryOp, Primitive, UnaryOp};

/// `ir` with the rewrites applied (replaced equations become dead;
/// [`super::dce`] removes them).
pub fn simplify(mut ir: Ir) -> Ir {
    let n = ir.vars.len();
    let mut alias: Vec<Option<Var>> = vec![None; n];
    let mut producer: Vec<Option<usize>> = vec![None; n];
    let mut constant: Vec<Option<f64>> = vec![None; n];
    for (v, a) in &ir.consts {
        if a.is_splat() {
            constant[*v] = a.first_f64();
        }
    }
    let resolve = |alias: &[Option<Var>], mut v: Var| {
        while let Some(a) = alias[v] {
            v = a;
        }
        v
    };
    for i in 0..ir.eqns.len() {
        let inputs: Vec<Var> = ir.eqns[i]
            .inputs
            .iter()
            .map(|&v| resolve(&alias, v))
            .collect();
        ir.eqns[i].inputs = inputs.clone();
        let out = ir.eqns[i].out;
        // A scalar repeated by views is still that scalar.
        if matches!(
            ir.eqns[i].prim,
            Primitive::Broadcast(_) | Primitive::Reshape(_)
        ) {
            constant[out] = constant[inputs[0]];
        }
        let rewrite = rewrite(&ir, &producer, &constant, &ir.eqns[i], &inputs);
        match rewrite {
            Some(Rewrite::Alias(v)) => alias[out] = Some(v),
            Some(Rewrite::Replace(prim, ins)) => {
                ir.eqns[i].prim = prim;
                ir.eqns[i].inputs = ins;
            }
            None => {}
        }
        producer[out] = Some(i);
    }
    substitute(&mut ir, &alias);
    super::transpose::transpose_products(ir)
}

enum Rewrite {
    /// The equation's value is this variable.
    Alias(Var),
    /// The equation becomes this primitive on these inputs.
    Replace(Primitive, Vec<Var>),
}

fn is(c: Option<f64>, want: f64) -> bool {
    c.is_some_and(|c| c == want && c.is_sign_negative() == want.is_sign_negative())
}

fn rewrite(
    ir: &Ir,
    producer: &[Option<usize>],
    constant: &[Option<f64>],
    e: &Eqn,
    ins: &[Var],
) -> Option<Rewrite> {
    let info = |v: Var| &ir.vars[v];
    let made_by = |v: Var| producer[v].map(|p| &ir.eqns[p]);
    let float = info(e.out).dtype.is_float();
    use Rewrite::*;
    match &e.prim {
        Primitive::Binary(op) => {
            let (a, b) = (ins[0], ins[1]);
            let (ca, cb) = (constant[a], constant[b]);
            let zero_add = if float { -0.0 } else { 0.0 };
            match op {
                BinaryOp::Mul if is(cb, 1.0) => Some(Alias(a)),
                BinaryOp::Mul if is(ca, 1.0) => Some(Alias(b)),
                BinaryOp::Div if is(cb, 1.0) => Some(Alias(a)),
                BinaryOp::Add if is(cb, zero_add) => Some(Alias(a)),
                BinaryOp::Add if is(ca, zero_add) => Some(Alias(b)),
                BinaryOp::Sub if is(cb, 0.0) => Some(Alias(a)),
                _ => None,
            }
        }
        Primitive::Unary(UnaryOp::Neg) => match made_by(ins[0]) {
            Some(p) if p.prim == Primitive::Unary(UnaryOp::Neg) => Some(Alias(p.inputs[0])),
            _ => None,
        },
        Primitive::Select if ins[1] == ins[2] => Some(Alias(ins[1])),
        Primitive::Cast(d) => {
            if info(ins[0]).dtype == *d {
                return Some(Alias(ins[0]));
            }
            match made_by(ins[0]) {
                Some(p) if matches!(p.prim, Primitive::Cast(_)) => {
                    let x = p.inputs[0];
                    let mid = info(ins[0]).dtype;
                    (info(x).dtype == *d && widens_exactly(*d, mid)).then_some(Alias(x))
                }
                _ => None,
            }
        }
        Primitive::Reshape(s) | Primitive::Broadcast(s) if info(ins[0]).shape == *s => {
            Some(Alias(ins[0]))
        }
        Primitive::Reshape(s) => match made_by(ins[0]) {
            Some(p) if matches!(p.prim, Primitive::Reshape(_)) => {
                Some(Replace(Primitive::Reshape(s.clone()), vec![p.inputs[0]]))
            }
            _ => None,
        },
        Primitive::Broadcast(s) => match made_by(ins[0]) {
            Some(p) if matches!(p.prim, Primitive::Broadcast(_)) => {
                Some(Replace(Primitive::Broadcast(s.clone()), vec![p.inputs[0]]))
            }
            _ => None,
        },
        Primitive::Permute(perm) => {
            if perm.iter().enumerate().all(|(i, &p)| i == p) {
                return Some(Alias(ins[0]));
            }
            match made_by(ins[0]) {
                Some(p) => match &p.prim {
                    Primitive::Permute(inner) => {
                        let composed: Vec<usize> = perm.iter().map(|&q| inner[q]).collect();
                        if composed.iter().enumerate().all(|(i, &c)| i == c) {
                            Some(Alias(p.inputs[0]))
                        } else {
                            Some(Replace(Primitive::Permute(composed), vec![p.inputs[0]]))
                        }
                    }
                    _ => None,
                },
                None => None,
            }
        }
        Primitive::Slice { start, step, shape }
            if start.iter().all(|&s| s == 0)
                && step.iter().all(|&s| s == 1)
                && *shape == info(ins[0]).shape =>
        {
            Some(Alias(ins[0]))
        }
        _ => None,
    }
}

/// True if every value of `narrow` converts to `wide` and back exactly.
fn widens_exactly(narrow: DType, wide: DType) -> bool {
    use DType::*;
    matches!(
        (narrow, wide),
        (F32, F64)
            | (F16, F32)
            | (F16, F64)
            | (BF16, F32)
            | (BF16, F64)
            | (I8, I16)
            | (I8, I32)
            | (I8, I64)
            | (I16, I32)
            | (I16, I64)
            | (I32, I64)
            | (U8, I16)
            | (U8, I32)
            | (U8, I64)
            | (U32, I64)
            | (I8, F32)
            | (I16, F32)
            | (U8, F32)
            | (I8, F64)
            | (I16, F64)
            | (I32, F64)
            | (U8, F64)
            | (U32, F64)
            | (Bool, U8)
            | (Bool, I32)
            | (Bool, I64)
            | (Bool, F32)
            | (Bool, F64)
    )
}
