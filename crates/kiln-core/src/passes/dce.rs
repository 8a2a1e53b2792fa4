//! Dead-code elimination: equations whose value no output needs (and
//! constants nothing reads) are removed; side-effecting equations (debug
//! prints) stay. Inputs are kept: their positions are the call's.

use crate::ir::Ir;

/// `ir` without dead equations and constants.
pub fn dce(mut ir: Ir) -> Ir {
    let mut live = vec![false; ir.vars.len()];
    for &v in &ir.outputs {
        live[v] = true;
    }
    let mut keep = vec![false; ir.eqns.len()];
    for (i, e) in ir.eqns.iter().enumerate().rev() {
        if live[e.out] || Ir::is_effectful(&e.prim) {
            keep[i] = true;
            for &v in &e.inputs {
                live[v] = true;
            }
        }
    }
    let mut k = keep.into_iter();
    ir.eqns.retain(|_| k.next().unwrap_or(false));
    ir.consts.retain(|(v, _)| live[*v]);
    ir
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Eqn;
    use crate::primitive::{Primitive, UnaryOp};
    use crate::DType;

    #[test]
    fn removes_what_no_output_needs() {
        let mut ir = Ir::default();
        let a = ir.new_var(vec![2], DType::F32);
        let b = ir.new_var(vec![2], DType::F32);
        let c = ir.new_var(vec![2], DType::F32);
        ir.inputs.push((a, crate::ir::Source::Arg(0)));
        let loc = std::panic::Location::caller();
        for (out, prim) in [(b, UnaryOp::Exp), (c, UnaryOp::Log)] {
            ir.eqns.push(Eqn {
                prim: Primitive::Unary(prim),
                inputs: vec![a],
                out,
                location: loc,
            });
        }
        ir.outputs = vec![c];
        ir.n_results = 1;
        let ir = dce(ir);
        assert_eq!(ir.eqns.len(), 1);
        assert_eq!(ir.eqns[0].out, c);
    }
}
