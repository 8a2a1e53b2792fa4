//! Common-subexpression elimination by hash-consing: an equation whose
//! primitive, parameters and inputs equal an earlier one's reads that
//! one's value instead; equal one-element constants are merged too.
//! Debug prints and custom rules are never merged.

use super::substitute;
use crate::ir::{Ir, Var};
use crate::primitive::Primitive;
use std::collections::HashMap;

/// `ir` with repeated computations merged (the duplicates become dead;
/// [`super::dce`] removes them).
pub fn cse(mut ir: Ir) -> Ir {
    let mut alias: Vec<Option<Var>> = vec![None; ir.vars.len()];
    let mut consts: HashMap<(crate::DType, Vec<usize>, u64), Var> = HashMap::new();
    for (v, a) in &ir.consts {
        if a.is_splat() {
            let bits = a.first_f64().unwrap_or(0.0).to_bits();
            let key = (a.dtype(), a.shape().to_vec(), bits);
            match consts.get(&key) {
                Some(&w) => alias[*v] = Some(w),
                None => {
                    consts.insert(key, *v);
                }
            }
        }
    }
    let resolve = |alias: &[Option<Var>], mut v: Var| {
        while let Some(a) = alias[v] {
            v = a;
        }
        v
    };
    let mut seen: HashMap<(String, Vec<Var>), Var> = HashMap::new();
    for e in &ir.eqns {
        if Ir::is_effectful(&e.prim) || matches!(e.prim, Primitive::Custom(_)) {
            continue;
        }
        let inputs: Vec<Var> = e.inputs.iter().map(|&v| resolve(&alias, v)).collect();
        // Debug prints every parameter of a primitive.
        let key = (format!("{:?}", e.prim), inputs);
        match seen.get(&key) {
            Some(&w) => alias[e.out] = Some(w),
            None => {
                seen.insert(key, e.out);
            }
        }
    }
    substitute(&mut ir, &alias);
    ir
}
