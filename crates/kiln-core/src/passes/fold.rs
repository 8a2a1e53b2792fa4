//! Constant folding: an equation whose inputs are all constants is
//! evaluated at compile time by its CPU kernel, if its result is small
//! ([`FOLD_LIMIT`] elements; views of constants cost nothing and are
//! always folded). Errors (an index out of range) are left for run time.

use crate::ir::Ir;

/// Largest result (in elements) a non-view equation is folded into.
pub const FOLD_LIMIT: usize = 1 << 12;

/// `ir` with constant equations replaced by constants.
pub fn fold(mut ir: Ir) -> Ir {
    let mut value: Vec<Option<crate::array::Array>> = vec![None; ir.vars.len()];
    for (v, a) in &ir.consts {
        value[*v] = Some(a.clone());
    }
    let mut kept = vec![];
    for e in std::mem::take(&mut ir.eqns) {
        let info = &ir.vars[e.out];
        let small = e.prim.is_view() || crate::shape::numel(&info.shape) <= FOLD_LIMIT;
        let inputs: Option<Vec<_>> = e.inputs.iter().map(|&v| value[v].clone()).collect();
        let foldable = small && !Ir::is_effectful(&e.prim) && !e.inputs.is_empty();
        if let (true, Some(ins)) = (foldable, inputs) {
            if let Ok(a) = crate::cpu::execute(&e.prim, &ins, &info.shape, info.dtype) {
                value[e.out] = Some(a.clone());
                ir.consts.push((e.out, a));
                continue;
            }
        }
        kept.push(e);
    }
    ir.eqns = kept;
    ir
}
