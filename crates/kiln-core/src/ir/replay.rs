//! Replaying an [`Ir`] as lazy tensor ops: how a jitted function is
//! differentiated (`grad(jit(f))`) and how it runs with jit disabled.

use super::Ir;
use crate::tensor::Tensor;

/// Builds the program's computation as lazy tensor ops over `inputs` (one
/// tensor per entry of [`Ir::inputs`], in order) and returns its outputs.
/// Each op records the source line of its equation.
pub fn replay(ir: &Ir, inputs: &[Tensor]) -> Vec<Tensor> {
    assert_eq!(
        inputs.len(),
        ir.inputs.len(),
        "kiln internal error: replay with the wrong number of inputs"
    );
    let mut vals: Vec<Option<Tensor>> = vec![None; ir.vars.len()];
    for ((v, _), t) in ir.inputs.iter().zip(inputs) {
        vals[*v] = Some(t.clone());
    }
    for (v, a) in &ir.consts {
        vals[*v] = Some(Tensor::from_array(a.clone()));
    }
    for e in &ir.eqns {
        let ins: Vec<Tensor> = e
            .inputs
            .iter()
            .map(|&v| vals[v].clone().expect("replayed in dependency order"))
            .collect();
        vals[e.out] = Some(Tensor::from_op_at(e.prim.clone(), ins, e.location));
    }
    ir.outputs
        .iter()
        .map(|&v| vals[v].clone().expect("outputs are defined"))
        .collect()
}
