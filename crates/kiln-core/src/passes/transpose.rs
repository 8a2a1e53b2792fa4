//! Transposed products: `permute(matmul(a, b))` that swaps the last two
//! axes becomes `matmul(permute(b), permute(a))` (`(AB)ᵀ = BᵀAᵀ`), with
//! permutes that undo one another dropped.
//!
//! Backward passes make this shape everywhere: a `Linear` layer multiplies
//! by `permute(w)`, so its weight gradient is `permute(matmul(permute(x),
//! g))`. Left alone, that gradient is a transposed view, and every fused
//! kernel that reads it (the optimizer update) gathers it one element per
//! cache line. Rewritten, the product is `matmul(permute(g), x)`: the GEMM
//! reads the transposed operand while packing (at no cost) and writes a
//! contiguous result.
//!
//! Exact for f32 only, and only because of how Kiln's GEMM
//! ([`crate::cpu::blas`]) sums: every element is the same sequence of
//! fused multiply-adds over k (split into blocks by k alone, whatever m
//! and n are), so swapping the operands swaps the factors of each product
//! and nothing else. The test below checks that on edge tiles, several k
//! blocks and threaded sizes. Other dtypes run through other kernels
//! (f64 through the `gemm` crate) and are left alone.

use crate::dtype::DType;
use crate::ir::{Eqn, Ir, Var};
use crate::primitive::Primitive;

/// `ir` with transposed f32 products rewritten (the old products become
/// dead; [`super::dce`] removes them). A product is rewritten only when
/// the transpose is its one reader and it is not an output.
pub fn transpose_products(mut ir: Ir) -> Ir {
    let mut readers = vec![0usize; ir.vars.len()];
    for e in &ir.eqns {
        for &v in &e.inputs {
            readers[v] += 1;
        }
    }
    for &v in &ir.outputs {
        readers[v] += 1;
    }
    let mut producer: Vec<Option<usize>> = vec![None; ir.vars.len()];
    let old = std::mem::take(&mut ir.eqns);
    let mut eqns: Vec<Eqn> = Vec::with_capacity(old.len());
    for e in old {
        let product = match &e.prim {
            Primitive::Permute(perm) if swaps_last_two(perm) => {
                let m = e.inputs[0];
                producer[m]
                    .map(|p| &eqns[p])
                    .filter(|p| {
                        p.prim == Primitive::Matmul
                            && readers[m] == 1
                            && ir.vars[m].dtype == DType::F32
                    })
                    .map(|p| (p.inputs[0], p.inputs[1]))
            }
            _ => None,
        };
        let e = match product {
            Some((a, b)) => {
                let bt = transposed(&mut ir, &mut eqns, &producer, b, &e);
                let at = transposed(&mut ir, &mut eqns, &producer, a, &e);
                Eqn {
                    prim: Primitive::Matmul,
                    inputs: vec![bt, at],
                    ..e
                }
            }
            None => e,
        };
        producer[e.out] = Some(eqns.len());
        eqns.push(e);
    }
    ir.eqns = eqns;
    ir
}

/// True if `perm` swaps the last two axes and keeps the others.
fn swaps_last_two(perm: &[usize]) -> bool {
    let r = perm.len();
    r >= 2
        && perm[r - 2] == r - 1
        && perm[r - 1] == r - 2
        && perm[..r - 2].iter().enumerate().all(|(i, &p)| i == p)
}

/// `v` with its last two axes swapped: the input of the permute that made
/// `v` when that permute swapped them, else a new permute equation
/// (appended to `eqns`, at `at`'s source line).
fn transposed(
    ir: &mut Ir,
    eqns: &mut Vec<Eqn>,
    producer: &[Option<usize>],
    v: Var,
    at: &Eqn,
) -> Var {
    if let Some(p) = producer[v].map(|p| &eqns[p]) {
        if matches!(&p.prim, Primitive::Permute(q) if swaps_last_two(q)) {
            return p.inputs[0];
        }
    }
    let info = &ir.vars[v];
    let r = info.shape.len();
    let mut shape = info.shape.clone();
    shape.swap(r - 2, r - 1);
    let mut perm: Vec<usize> = (0..r).collect();
    perm.swap(r - 2, r - 1);
    let out = ir.new_var(shape, info.dtype);
    eqns.push(Eqn {
        prim: Primitive::Permute(perm),
        inputs: vec![v],
        out,
        location: at.location,
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::array::Array;
    use crate::cpu::matmul::matmul;
    use crate::ir::Source;

    fn eqn(prim: Primitive, inputs: Vec<Var>, out: Var) -> Eqn {
        Eqn {
            prim,
            inputs,
            out,
            location: std::panic::Location::caller(),
        }
    }

    /// `out = permute(matmul(permute(x), g))`, the weight gradient's shape.
    fn weight_gradient(dtype: DType, extra_reader: bool) -> Ir {
        let mut ir = Ir::default();
        let x = ir.new_var(vec![5, 3], dtype);
        let g = ir.new_var(vec![5, 4], dtype);
        let xt = ir.new_var(vec![3, 5], dtype);
        let m = ir.new_var(vec![3, 4], dtype);
        let out = ir.new_var(vec![4, 3], dtype);
        ir.inputs = vec![(x, Source::Arg(0)), (g, Source::Arg(1))];
        ir.eqns = vec![
            eqn(Primitive::Permute(vec![1, 0]), vec![x], xt),
            eqn(Primitive::Matmul, vec![xt, g], m),
            eqn(Primitive::Permute(vec![1, 0]), vec![m], out),
        ];
        ir.outputs = vec![out];
        if extra_reader {
            ir.outputs.push(m);
        }
        ir.n_results = ir.outputs.len();
        ir
    }

    #[test]
    fn the_weight_gradient_becomes_one_contiguous_product() {
        let ir = super::super::dce::dce(transpose_products(weight_gradient(DType::F32, false)));
        let text = ir.to_string();
        // g is b, x is a: matmul(permute(g), x), the permute of x cancelled.
        assert_eq!(ir.eqns.len(), 2, "{text}");
        assert_eq!(ir.eqns[0].prim, Primitive::Permute(vec![1, 0]), "{text}");
        assert_eq!(ir.eqns[0].inputs, vec![1], "{text}");
        assert_eq!(ir.eqns[1].prim, Primitive::Matmul, "{text}");
        assert_eq!(ir.eqns[1].inputs, vec![ir.eqns[0].out, 0], "{text}");
        assert_eq!(ir.eqns[1].out, ir.outputs[0], "{text}");
        assert_eq!(ir.vars[ir.eqns[0].out].shape, vec![4, 5]);
    }

    #[test]
    fn products_read_twice_and_other_dtypes_are_left_alone() {
        for ir in [
            weight_gradient(DType::F32, true),
            weight_gradient(DType::F64, false),
        ] {
            let before = ir.to_string();
            assert_eq!(transpose_products(ir).to_string(), before);
        }
    }

    #[test]
    fn batched_transposes_only_swap_the_last_two_axes() {
        assert!(swaps_last_two(&[1, 0]));
        assert!(swaps_last_two(&[0, 1, 3, 2]));
        assert!(!swaps_last_two(&[1, 0, 2]));
        assert!(!swaps_last_two(&[0, 1]));
        assert!(!swaps_last_two(&[0]));
    }

    /// The exactness the rewrite rests on: Kiln's f32 GEMM gives `(AB)ᵀ`
    /// and `BᵀAᵀ` bit for bit, over edge tiles, several k blocks (k > 256)
    /// and sizes that run threaded.
    #[test]
    fn f32_products_transpose_exactly() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        };
        for (m, k, n) in [
            (1, 1, 1),
            (7, 5, 33),
            (64, 784, 256),
            (13, 600, 70),
            (256, 64, 10),
            (301, 784, 256),
        ] {
            let a = Array::from_vec((0..m * k).map(|_| next()).collect(), vec![m, k]);
            let b = Array::from_vec((0..k * n).map(|_| next()).collect(), vec![k, n]);
            let ab = matmul(&a, &b, &[m, n]).permute(&[1, 0]);
            let btat = matmul(&b.permute(&[1, 0]), &a.permute(&[1, 0]), &[n, m]);
            let bits =
                |x: &Array| -> Vec<u32> { x.to_vec::<f32>().iter().map(|v| v.to_bits()).collect() };
            assert_eq!(bits(&ab), bits(&btat), "{m}x{k}x{n}");
        }
    }
}
