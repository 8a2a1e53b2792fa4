//! Fused kernels against op-by-op execution of the same primitives: random
//! graphs of f32/f64/bool ops over random shapes and layouts (transposed,
//! strided, flipped, broadcast, repeated scalars), bitwise equal for
//! elementwise kernels, within rounding for reductions.

use super::program::{Affine, Clamp, FusedGraph, FusedOp, Instr, Operand};
use super::reduce::{run_reduce, split, ReduceKernel};
use super::{compile, run_elementwise};
use crate::array::Array;
use crate::buffer::Buffer;
use crate::cpu::execute;
use crate::dtype::DType;
use crate::infer::infer;
use crate::primitive::{BinaryOp, CompareOp, Primitive, ReduceOp, UnaryOp};
use crate::shape::numel;
use std::sync::Arc;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn value(&mut self) -> f64 {
        let v = (self.next() % 2001) as f64 / 400.0 - 2.5;
        match self.below(40) {
            0 => f64::NAN,
            1 => f64::INFINITY,
            2 => -0.0,
            3 => 0.0,
            _ => v,
        }
    }
}

fn shape(rng: &mut Rng) -> Vec<usize> {
    match rng.below(10) {
        0 => vec![],
        1 => vec![70, 1030],
        2 => vec![3, 1500],
        _ => (0..1 + rng.below(3))
            .map(|_| [1, 2, 3, 5, 7, 0][rng.below(6)])
            .collect(),
    }
}

/// An array of `shape` and `dtype` in a random layout.
fn input(rng: &mut Rng, shape: &[usize], dtype: DType) -> Array {
    input_of(rng, shape, dtype, Rng::value)
}

/// [`input`] with float values drawn by `value`.
fn input_of(rng: &mut Rng, shape: &[usize], dtype: DType, value: fn(&mut Rng) -> f64) -> Array {
    let data = |n: usize, rng: &mut Rng| -> Vec<f64> {
        (0..n)
            .map(|_| match dtype {
                DType::Bool => (rng.below(2)) as f64,
                _ => value(rng),
            })
            .collect()
    };
    let make = |s: Vec<usize>, rng: &mut Rng| {
        let n = numel(&s);
        Array::new(Buffer::from_f64_slice(dtype, &data(n, rng)), s)
    };
    let r = shape.len();
    match rng.below(6) {
        // Transposed: data laid out with the axes reversed.
        0 if r >= 2 => {
            let rev: Vec<usize> = shape.iter().rev().copied().collect();
            let perm: Vec<usize> = (0..r).rev().collect();
            make(rev, rng).permute(&perm)
        }
        // Every other element of a twice longer last axis.
        1 if r >= 1 => {
            let mut big = shape.to_vec();
            big[r - 1] = big[r - 1] * 2 + 1;
            let a = make(big, rng);
            let mut step = vec![1isize; r];
            step[r - 1] = 2;
            a.slice(&vec![0; r], &step, shape)
        }
        // Flipped along the first axis.
        2 if r >= 1 && shape[0] > 0 => {
            let a = make(shape.to_vec(), rng);
            let mut start = vec![0; r];
            start[0] = shape[0] - 1;
            let mut step = vec![1isize; r];
            step[0] = -1;
            a.slice(&start, &step, shape)
        }
        // Broadcast from a shape with some dims set to 1.
        3 => {
            let small: Vec<usize> = shape
                .iter()
                .map(|&d| if rng.below(2) == 0 { 1 } else { d })
                .collect();
            make(small, rng).broadcast_to(shape)
        }
        // One value repeated.
        4 => make(vec![], rng).broadcast_to(shape),
        _ => make(shape.to_vec(), rng),
    }
}

const UNARY: [UnaryOp; 19] = [
    UnaryOp::Neg,
    UnaryOp::Abs,
    UnaryOp::Sign,
    UnaryOp::Exp,
    UnaryOp::Log,
    UnaryOp::Log1p,
    UnaryOp::Expm1,
    UnaryOp::Sqrt,
    UnaryOp::Rsqrt,
    UnaryOp::Sin,
    UnaryOp::Cos,
    UnaryOp::Tan,
    UnaryOp::Tanh,
    UnaryOp::Sigmoid,
    UnaryOp::Erf,
    UnaryOp::Recip,
    UnaryOp::Floor,
    UnaryOp::Ceil,
    UnaryOp::Round,
];

const BINARY: [BinaryOp; 9] = [
    BinaryOp::Add,
    BinaryOp::Sub,
    BinaryOp::Mul,
    BinaryOp::Div,
    BinaryOp::Rem,
    BinaryOp::FloorDiv,
    BinaryOp::Pow,
    BinaryOp::Maximum,
    BinaryOp::Minimum,
];

const COMPARE: [CompareOp; 6] = [
    CompareOp::Eq,
    CompareOp::Ne,
    CompareOp::Lt,
    CompareOp::Le,
    CompareOp::Gt,
    CompareOp::Ge,
];

/// A random fused graph over `n_inputs` inputs of the given dtypes.
fn graph(rng: &mut Rng, inputs: &[DType], n_ops: usize) -> FusedGraph {
    let mut g = FusedGraph {
        inputs: inputs.to_vec(),
        ops: vec![],
        outputs: vec![],
    };
    let mut values: Vec<(Operand, DType)> = inputs
        .iter()
        .enumerate()
        .map(|(k, &d)| (Operand::Input(k), d))
        .collect();
    for _ in 0..n_ops {
        let pick = |rng: &mut Rng, want: &dyn Fn(DType) -> bool| {
            let c: Vec<_> = values.iter().filter(|(_, d)| want(*d)).collect();
            (!c.is_empty()).then(|| *c[rng.below(c.len())])
        };
        let float = |d: DType| d.is_float();
        let (prim, args, dtype) = match rng.below(7) {
            0 | 1 => match pick(rng, &float) {
                Some((x, d)) => (Primitive::Unary(UNARY[rng.below(UNARY.len())]), vec![x], d),
                None => continue,
            },
            2 | 3 => match pick(rng, &float) {
                Some((a, d)) => {
                    let (b, _) = pick(rng, &|e| e == d).expect("a itself");
                    (
                        Primitive::Binary(BINARY[rng.below(BINARY.len())]),
                        vec![a, b],
                        d,
                    )
                }
                None => continue,
            },
            4 => {
                let (a, d) = *values.get(rng.below(values.len())).expect("inputs exist");
                let (b, _) = pick(rng, &|e| e == d).expect("a itself");
                (
                    Primitive::Compare(COMPARE[rng.below(6)]),
                    vec![a, b],
                    DType::Bool,
                )
            }
            5 => {
                let Some((c, _)) = pick(rng, &|d| d == DType::Bool) else {
                    continue;
                };
                let (a, d) = *values.get(rng.below(values.len())).expect("inputs exist");
                let (b, _) = pick(rng, &|e| e == d).expect("a itself");
                (Primitive::Select, vec![c, a, b], d)
            }
            _ => {
                let (x, _) = *values.get(rng.below(values.len())).expect("inputs exist");
                let to = [DType::F32, DType::F64, DType::Bool][rng.below(3)];
                (Primitive::Cast(to), vec![x], to)
            }
        };
        g.ops.push(FusedOp { prim, args, dtype });
        values.push((Operand::Op(g.ops.len() - 1), dtype));
    }
    let n_out = 1 + rng.below(3);
    for _ in 0..n_out {
        let (v, _) = values[values.len() - 1 - rng.below(values.len().min(4))];
        g.outputs.push(v);
    }
    g
}

/// The graph's outputs computed one primitive at a time.
fn op_by_op(g: &FusedGraph, shape: &[usize], inputs: &[Array]) -> Vec<Array> {
    let mut vals: Vec<Array> = vec![];
    let get = |o: &Operand, vals: &[Array]| match *o {
        Operand::Input(k) => inputs[k].clone(),
        Operand::Op(i) => vals[i].clone(),
    };
    for op in &g.ops {
        let ins: Vec<Array> = op.args.iter().map(|a| get(a, &vals)).collect();
        let sigs: Vec<(&[usize], DType)> = ins.iter().map(|a| (a.shape(), a.dtype())).collect();
        let (s, d) = infer(&op.prim, &sigs).expect("generated graphs are valid");
        assert_eq!(s, shape);
        vals.push(execute(&op.prim, &ins, &s, d).expect("elementwise ops do not fail"));
    }
    g.outputs.iter().map(|o| get(o, &vals)).collect()
}

fn same(a: f64, b: f64, tol: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= tol * a.abs().max(b.abs()).max(1.0)
}

fn compare(what: &str, got: &Array, want: &Array, tol: f64) -> Result<(), String> {
    if got.shape() != want.shape() || got.dtype() != want.dtype() {
        return Err(format!(
            "{what}: got {}{:?}, want {}{:?}",
            got.dtype(),
            got.shape(),
            want.dtype(),
            want.shape()
        ));
    }
    let (g, w) = (got.to_f64_vec(), want.to_f64_vec());
    for (i, (x, y)) in g.iter().zip(&w).enumerate() {
        if !same(*x, *y, tol) || (tol == 0.0 && x.to_bits() != y.to_bits() && !x.is_nan()) {
            return Err(format!("{what}: element {i} is {x}, want {y}"));
        }
    }
    Ok(())
}

/// Fails with the count and the first three messages, if any.
fn assert_no_failures(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures[..failures.len().min(3)].join("\n")
    );
}

#[test]
fn fused_elementwise_matches_op_by_op_bitwise() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut failures = vec![];
    let cases = 400;
    let mut folded = 0;
    let mut staged = 0;
    for case in 0..cases {
        let s = shape(&mut rng);
        let n_in = 1 + rng.below(4);
        let dtypes: Vec<DType> = (0..n_in)
            .map(|_| [DType::F32, DType::F64, DType::Bool][rng.below(3)])
            .collect();
        let n_ops = 1 + rng.below(12);
        let g = graph(&mut rng, &dtypes, n_ops);
        let inputs: Vec<Array> = dtypes.iter().map(|&d| input(&mut rng, &s, d)).collect();
        let want = op_by_op(&g, &s, &inputs);
        let prog = compile(&g);
        folded += prog
            .code
            .iter()
            .filter(|i| matches!(i, Instr::CmpSelect { .. }))
            .count();
        staged += prog
            .code
            .iter()
            .filter(|i| match i {
                Instr::Unary { pre, post, .. } => !pre.is_none() || !post.is_none(),
                Instr::CmpSelect { post, .. } => !post.is_none(),
                _ => false,
            })
            .count();
        let donate = (rng.below(3) == 0).then_some((0, 0));
        let got = run_elementwise(&prog, &s, inputs.clone(), donate);
        for (k, (a, b)) in got.iter().zip(&want).enumerate() {
            if let Err(e) = compare(&format!("case {case} output {k} over {s:?}"), a, b, 0.0) {
                failures.push(format!("{e}\n{prog}"));
            }
        }
    }
    println!("fused elementwise: {cases} cases, {folded} compare-selects, {staged} staged");
    assert!(
        folded >= 10,
        "only {folded} compare-select instructions exercised"
    );
    assert!(
        staged >= 10,
        "only {staged} instructions with folded clamps or affine maps exercised"
    );
    assert_no_failures(&failures);
}

#[test]
fn donated_buffers_are_overwritten_in_place() {
    // out = exp(x) * 2 written into x's own buffer.
    let n = 100_000;
    let x = Array::from_vec(
        (0..n).map(|i| i as f32 * 1e-5).collect::<Vec<f32>>(),
        vec![n],
    );
    let ptr = x.buffer().as_slice::<f32>().as_ptr();
    let g = FusedGraph {
        inputs: vec![DType::F32, DType::F32],
        ops: vec![
            FusedOp {
                prim: Primitive::Unary(UnaryOp::Exp),
                args: vec![Operand::Input(0)],
                dtype: DType::F32,
            },
            FusedOp {
                prim: Primitive::Binary(BinaryOp::Mul),
                args: vec![Operand::Op(0), Operand::Input(1)],
                dtype: DType::F32,
            },
        ],
        outputs: vec![Operand::Op(1)],
    };
    let two = Array::from_vec(vec![2.0f32], vec![]).broadcast_to(&[n]);
    let want = op_by_op(&g, &[n], &[x.clone(), two.clone()]);
    let out = run_elementwise(&compile(&g), &[n], vec![x, two], Some((0, 0)));
    assert_eq!(
        out[0].buffer().as_slice::<f32>().as_ptr(),
        ptr,
        "written in place"
    );
    compare("in place", &out[0], &want[0], 0.0).unwrap();
}

#[test]
fn fused_reductions_match_op_by_op() {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let mut failures = vec![];
    let cases = 300;
    let ops = [ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min, ReduceOp::Prod];
    for case in 0..cases {
        let s = shape(&mut rng);
        let dt = [DType::F32, DType::F64][rng.below(2)];
        let n_in = 1 + rng.below(3);
        let dtypes = vec![dt; n_in];
        let n_ops = rng.below(6);
        let mut g = graph(&mut rng, &dtypes, n_ops);
        // The reduced value: the last float value (or input 0).
        let last = (0..g.ops.len()).rev().find(|&i| g.ops[i].dtype == dt);
        let reduced = last.map_or(Operand::Input(0), Operand::Op);
        g.outputs.insert(0, reduced);
        g.outputs.truncate(1 + rng.below(2));
        let rank = s.len();
        let axes: Vec<usize> = match rank {
            0 => vec![],
            _ => {
                let a = rng.below(rank);
                let b = a + rng.below(rank - a);
                (a..=b).collect()
            }
        };
        let Some(layout) = split(&s, &axes) else {
            continue;
        };
        let op = ops[rng.below(ops.len())];
        let out_shape: Vec<usize> = s
            .iter()
            .enumerate()
            .map(|(d, &n)| if axes.contains(&d) { 1 } else { n })
            .collect();
        let inputs: Vec<Array> = dtypes.iter().map(|&d| input(&mut rng, &s, d)).collect();
        let vals = op_by_op(&g, &s, &inputs);
        let prim = Primitive::Reduce {
            op,
            axes: axes.clone(),
        };
        let want = execute(&prim, &vals[..1], &out_shape, dt).expect("reductions do not fail");
        // Epilogue: y = reduced * 0.5 + 1.
        let epi = FusedGraph {
            inputs: vec![dt, dt],
            ops: vec![
                FusedOp {
                    prim: Primitive::Binary(BinaryOp::Mul),
                    args: vec![Operand::Input(0), Operand::Input(1)],
                    dtype: dt,
                },
                FusedOp {
                    prim: Primitive::Unary(UnaryOp::Exp),
                    args: vec![Operand::Op(0)],
                    dtype: dt,
                },
            ],
            outputs: vec![Operand::Op(1)],
        };
        let half = Array::new(Buffer::filled(dt, 1, 0.5), vec![]).broadcast_to(&out_shape);
        let want_epi = {
            let m = execute(
                &epi.ops[0].prim,
                &[want.clone(), half.clone()],
                &out_shape,
                dt,
            )
            .unwrap();
            execute(&epi.ops[1].prim, &[m], &out_shape, dt).unwrap()
        };
        let k = ReduceKernel {
            prologue: Arc::new(compile(&g)),
            op,
            epilogue: Some(Arc::new(compile(&epi))),
        };
        let refs: Vec<&Array> = inputs.iter().collect();
        let got = run_reduce(&k, &s, layout, &out_shape, &refs, &[&half]);
        let tol = if dt == DType::F32 { 2e-5 } else { 1e-12 };
        let what = format!("case {case}: {op:?} over {axes:?} of {s:?}");
        let n_stores = g.outputs.len() - 1;
        let checks = [
            compare(&format!("{what} (value)"), &got[n_stores], &want, tol),
            compare(
                &format!("{what} (epilogue)"),
                &got[n_stores + 1],
                &want_epi,
                tol * 4.0,
            ),
        ];
        for (j, store) in got[..n_stores].iter().enumerate() {
            if let Err(e) = compare(&format!("{what} (store {j})"), store, &vals[1 + j], 0.0) {
                failures.push(e);
            }
        }
        for c in checks {
            if let Err(e) = c {
                failures.push(e);
            }
        }
    }
    println!("fused reductions: {cases} cases");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures[..failures.len().min(5)].join("\n")
    );
}

#[test]
fn comparisons_fold_into_their_select_only_when_read_once() {
    // where_(x > 0, x, 2x) (folded), then the same with the mask also
    // written out (kept as a bool register).
    let op = |prim, args: Vec<Operand>, dtype| FusedOp { prim, args, dtype };
    let mut g = FusedGraph {
        inputs: vec![DType::F32, DType::F32],
        ops: vec![
            op(
                Primitive::Compare(CompareOp::Gt),
                vec![Operand::Input(0), Operand::Input(1)],
                DType::Bool,
            ),
            op(
                Primitive::Binary(BinaryOp::Add),
                vec![Operand::Input(0), Operand::Input(0)],
                DType::F32,
            ),
            op(
                Primitive::Select,
                vec![Operand::Op(0), Operand::Input(0), Operand::Op(1)],
                DType::F32,
            ),
        ],
        outputs: vec![Operand::Op(2)],
    };
    let n = 3000;
    let x = Array::from_vec(
        (0..n).map(|i| (i as f32 - 1500.0) * 0.01).collect(),
        vec![n],
    );
    let zero = Array::from_vec(vec![0.0f32], vec![]).broadcast_to(&[n]);
    let run = |g: &FusedGraph| {
        let prog = compile(g);
        let got = run_elementwise(&prog, &[n], vec![x.clone(), zero.clone()], None);
        let want = op_by_op(g, &[n], &[x.clone(), zero.clone()]);
        for (a, b) in got.iter().zip(&want) {
            compare("where", a, b, 0.0).unwrap();
        }
        prog
    };
    let prog = run(&g);
    assert_eq!(prog.code.len(), 2, "{prog}");
    assert!(
        matches!(
            prog.code[1],
            Instr::CmpSelect {
                op: CompareOp::Gt,
                ..
            }
        ),
        "{prog}"
    );
    assert_eq!(prog.regs[2], 0, "no bool register: {prog}");
    g.outputs.push(Operand::Op(0));
    let prog = run(&g);
    assert!(
        prog.code.iter().any(|i| matches!(i, Instr::Compare { .. })),
        "{prog}"
    );
    assert!(
        !prog
            .code
            .iter()
            .any(|i| matches!(i, Instr::CmpSelect { .. })),
        "{prog}"
    );
}

/// SELU as the jit traces it: `select(x > 0, x, expm1(min(x, 0)) * alpha) * scale`.
fn selu_graph() -> FusedGraph {
    let op = |prim, args: Vec<Operand>| FusedOp {
        prim,
        args,
        dtype: DType::F32,
    };
    let bool_op = |prim, args: Vec<Operand>| FusedOp {
        prim,
        args,
        dtype: DType::Bool,
    };
    use Operand::{Input as In, Op};
    FusedGraph {
        inputs: vec![DType::F32; 4],
        ops: vec![
            bool_op(Primitive::Compare(CompareOp::Gt), vec![In(0), In(1)]),
            op(Primitive::Binary(BinaryOp::Minimum), vec![In(0), In(1)]),
            op(Primitive::Unary(UnaryOp::Expm1), vec![Op(1)]),
            op(Primitive::Binary(BinaryOp::Mul), vec![Op(2), In(2)]),
            op(Primitive::Select, vec![Op(0), In(0), Op(3)]),
            op(Primitive::Binary(BinaryOp::Mul), vec![Op(4), In(3)]),
        ],
        outputs: vec![Operand::Op(5)],
    }
}

#[test]
fn clamps_and_affine_maps_fold_into_unary_ops_and_selects() {
    let g = selu_graph();
    let prog = compile(&g);
    // expm1 with its clamp and scale, then the compare-select with its scale.
    assert_eq!(prog.code.len(), 2, "{prog}");
    assert!(
        matches!(
            prog.code[0],
            Instr::Unary {
                op: UnaryOp::Expm1,
                pre: Clamp {
                    lo: None,
                    hi: Some(1)
                },
                post: Affine {
                    mul: Some(2),
                    add: None,
                    ..
                },
                ..
            }
        ),
        "{prog}"
    );
    assert!(
        matches!(
            prog.code[1],
            Instr::CmpSelect {
                post: Affine { mul: Some(3), .. },
                ..
            }
        ),
        "{prog}"
    );
    let n = 5000;
    let x = Array::from_vec(
        (0..n)
            .map(|i| match i {
                0 => f32::NAN,
                1 => -0.0,
                2 => f32::NEG_INFINITY,
                _ => (i as f32 - 2500.0) * 0.003,
            })
            .collect(),
        vec![n],
    );
    let splat = |v: f32| Array::from_vec(vec![v], vec![]).broadcast_to(&[n]);
    let full =
        |v: f32| Array::from_vec((0..n).map(|i| v + (i % 7) as f32 * 0.25).collect(), vec![n]);
    // Constants (one value repeated: the fused loop) and varying operands
    // in the folded positions (the pass-by-pass fallback).
    let cases = [
        vec![x.clone(), splat(0.0), splat(1.673_263_2), splat(1.050_701)],
        vec![x.clone(), full(-0.5), full(1.5), full(-2.0)],
        vec![x.clone(), splat(0.25), full(1.5), splat(3.0)],
    ];
    for (c, inputs) in cases.iter().enumerate() {
        let want = op_by_op(&g, &[n], inputs);
        let got = run_elementwise(&prog, &[n], inputs.clone(), None);
        compare(&format!("selu case {c}"), &got[0], &want[0], 0.0).unwrap();
    }
}

#[test]
fn clamp_pairs_and_add_sub_fold_only_in_their_own_shapes() {
    use Operand::{Input as In, Op};
    let op = |prim, args: Vec<Operand>| FusedOp {
        prim,
        args,
        dtype: DType::F64,
    };
    let b = |o| Primitive::Binary(o);
    let graphs = [
        // tanh(min(max(x, lo), hi)) * k - k2: everything folds.
        vec![
            op(b(BinaryOp::Maximum), vec![In(0), In(1)]),
            op(b(BinaryOp::Minimum), vec![Op(0), In(2)]),
            op(Primitive::Unary(UnaryOp::Tanh), vec![Op(1)]),
            op(b(BinaryOp::Mul), vec![In(3), Op(2)]),
            op(b(BinaryOp::Sub), vec![Op(3), In(1)]),
        ],
        // k - exp(x): a reversed subtraction stays its own op.
        vec![
            op(Primitive::Unary(UnaryOp::Exp), vec![In(0)]),
            op(b(BinaryOp::Sub), vec![In(1), Op(0)]),
        ],
        // exp(max(min(x, hi), lo)) + k: the clamp is in the other order,
        // so only the maximum (and the add) fold; the minimum stays.
        vec![
            op(b(BinaryOp::Minimum), vec![In(0), In(2)]),
            op(b(BinaryOp::Maximum), vec![Op(0), In(1)]),
            op(Primitive::Unary(UnaryOp::Exp), vec![Op(1)]),
            op(b(BinaryOp::Add), vec![In(3), Op(2)]),
        ],
        // A clamp also read elsewhere is kept.
        vec![
            op(b(BinaryOp::Minimum), vec![In(0), In(2)]),
            op(Primitive::Unary(UnaryOp::Sqrt), vec![Op(0)]),
            op(b(BinaryOp::Mul), vec![Op(1), Op(0)]),
        ],
    ];
    let expected_len = [1, 2, 2, 3];
    let n = 2100;
    let x = Array::from_vec(
        (0..n).map(|i| (i as f64 - 1000.0) * 0.01).collect(),
        vec![n],
    );
    let splat = |v: f64| Array::from_vec(vec![v], vec![]).broadcast_to(&[n]);
    let inputs = vec![x, splat(-2.0), splat(1.5), splat(0.75)];
    for (c, ops) in graphs.into_iter().enumerate() {
        let g = FusedGraph {
            inputs: vec![DType::F64; 4],
            outputs: vec![Operand::Op(ops.len() - 1)],
            ops,
        };
        let prog = compile(&g);
        assert_eq!(prog.code.len(), expected_len[c], "case {c}: {prog}");
        let want = op_by_op(&g, &[n], &inputs);
        let got = run_elementwise(&prog, &[n], inputs.clone(), None);
        compare(&format!("case {c}"), &got[0], &want[0], 0.0).unwrap();
    }
}

/// A value for the native-kernel tests: ordinary values, the exp/expm1
/// clamp and overflow regions, tiny and subnormal values, and the
/// special values.
fn wide_value(rng: &mut Rng) -> f64 {
    let ordinary = (rng.next() % 4001) as f64 / 400.0 - 5.0;
    match rng.below(24) {
        0 => f64::NAN,
        1 => f64::INFINITY,
        2 => f64::NEG_INFINITY,
        3 => -0.0,
        4 => 0.0,
        5 => [88.7, 88.8, 89.0, 95.0, -87.4, -104.0, -120.0, -17.9, -18.5][rng.below(9)],
        6 => 1e-40 * (rng.below(5) as f64 - 2.0),
        7 => 1e-6 * (rng.below(2001) as f64 - 1000.0),
        8 => 3e38 * (rng.below(3) as f64 - 1.0),
        _ => ordinary,
    }
}

/// A random f32 graph of the ops native kernels implement.
fn native_graph(rng: &mut Rng, n_inputs: usize, n_ops: usize) -> FusedGraph {
    use UnaryOp::*;
    const UN: [UnaryOp; 9] = [Neg, Abs, Sqrt, Rsqrt, Recip, Exp, Expm1, Tanh, Sigmoid];
    const BIN: [BinaryOp; 6] = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Maximum,
        BinaryOp::Minimum,
    ];
    let mut g = FusedGraph {
        inputs: vec![DType::F32; n_inputs],
        ops: vec![],
        outputs: vec![],
    };
    let mut floats: Vec<Operand> = (0..n_inputs).map(Operand::Input).collect();
    let mut bools: Vec<Operand> = vec![];
    for _ in 0..n_ops {
        let any = |rng: &mut Rng, v: &[Operand]| v[rng.below(v.len())];
        let (prim, args, dtype) = match rng.below(6) {
            0 | 1 => (
                Primitive::Unary(UN[rng.below(UN.len())]),
                vec![any(rng, &floats)],
                DType::F32,
            ),
            2 | 3 => (
                Primitive::Binary(BIN[rng.below(BIN.len())]),
                vec![any(rng, &floats), any(rng, &floats)],
                DType::F32,
            ),
            4 => (
                Primitive::Compare(COMPARE[rng.below(6)]),
                vec![any(rng, &floats), any(rng, &floats)],
                DType::Bool,
            ),
            _ if bools.is_empty() => continue,
            _ => (
                Primitive::Select,
                vec![any(rng, &bools), any(rng, &floats), any(rng, &floats)],
                DType::F32,
            ),
        };
        g.ops.push(FusedOp { prim, args, dtype });
        let v = Operand::Op(g.ops.len() - 1);
        if dtype == DType::Bool {
            bools.push(v);
        } else {
            floats.push(v);
        }
    }
    for _ in 0..1 + rng.below(2) {
        let k = floats.len() - 1 - rng.below(floats.len().min(3));
        if !g.outputs.contains(&floats[k]) {
            g.outputs.push(floats[k]);
        }
    }
    g
}

#[test]
fn native_kernels_match_the_interpreter_bitwise() {
    use super::native;
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let shapes: [&[usize]; 12] = [
        &[1],
        &[7],
        &[15],
        &[16],
        &[17],
        &[33],
        &[100],
        &[2047],
        &[2049],
        &[5000],
        &[70, 1030],
        &[3, 1500],
    ];
    let mut failures = vec![];
    let mut compiled = 0;
    let cases = 300;
    for case in 0..cases {
        let s = shapes[rng.below(shapes.len())];
        let n_in = 1 + rng.below(3);
        let n_ops = 1 + rng.below(10);
        let g = native_graph(&mut rng, n_in, n_ops);
        let inputs: Vec<Array> = (0..n_in)
            .map(|_| input_of(&mut rng, s, DType::F32, wide_value))
            .collect();
        let prog = compile(&g);
        if native::supports(&prog) {
            compiled += 1;
        }
        let want = native::with_native(false, || run_elementwise(&prog, s, inputs.clone(), None));
        let got = run_elementwise(&prog, s, inputs.clone(), None);
        let reference = op_by_op(&g, s, &inputs);
        for (k, ((a, b), c)) in got.iter().zip(&want).zip(&reference).enumerate() {
            let what = format!("case {case} output {k} over {s:?}");
            for e in [compare(&what, a, b, 0.0), compare(&what, a, c, 0.0)] {
                if let Err(e) = e {
                    failures.push(format!("{e}\n{prog}"));
                }
            }
        }
    }
    println!("native kernels: {compiled} of {cases} programs supported");
    assert!(
        compiled >= cases * 9 / 10,
        "only {compiled} programs were native"
    );
    assert_no_failures(&failures);
}

/// Native kernels over 2-D walks whose inputs repeat one value along each
/// row (a row statistic broadcast over the row, as in a softmax gradient)
/// run tile by tile on direct pointers; with and without the first input
/// donated, rows shorter and longer than a tile, and ranges split across
/// threads mid-row: bitwise the interpreter's and op by op's results.
#[test]
fn native_kernels_over_row_broadcasts_match_the_interpreter_bitwise() {
    use super::native;
    let mut rng = Rng(0x5DEE_CE66_D1CE_4E5B);
    let mut failures = vec![];
    for case in 0..120 {
        let s: &[usize] = [&[512, 10][..], &[3, 2049], &[70, 17], &[5000, 20]][case % 4];
        let n_ops = 1 + rng.below(8);
        let g = native_graph(&mut rng, 3, n_ops);
        let mut inputs: Vec<Array> = (0..3)
            .map(|_| input_of(&mut rng, s, DType::F32, wide_value))
            .collect();
        let column = input_of(&mut rng, &[s[0], 1], DType::F32, wide_value);
        inputs[1 + rng.below(2)] = column.broadcast_to(s);
        let prog = compile(&g);
        let donate = (case % 2 == 0).then_some((0, 0));
        let fresh = |a: &[Array]| -> Vec<Array> {
            // A donated buffer must be held by no one else.
            let mut v = a.to_vec();
            v[0] = Array::from_vec(a[0].to_vec::<f32>(), s.to_vec());
            v
        };
        let want = native::with_native(false, || run_elementwise(&prog, s, fresh(&inputs), donate));
        let got = run_elementwise(&prog, s, fresh(&inputs), donate);
        let reference = op_by_op(&g, s, &inputs);
        for (k, ((a, b), c)) in got.iter().zip(&want).zip(&reference).enumerate() {
            let what = format!("case {case} output {k} over {s:?} donate {donate:?}");
            for e in [compare(&what, a, b, 0.0), compare(&what, a, c, 0.0)] {
                if let Err(e) = e {
                    failures.push(format!("{e}\n{prog}"));
                }
            }
        }
    }
    assert_no_failures(&failures);
}

#[test]
fn selu_is_native_and_unsupported_ops_stay_on_the_interpreter() {
    use super::native;
    assert!(native::supports(&compile(&selu_graph())));
    let op = |prim, args| FusedOp {
        prim,
        args,
        dtype: DType::F32,
    };
    let log = FusedGraph {
        inputs: vec![DType::F32],
        ops: vec![op(Primitive::Unary(UnaryOp::Log), vec![Operand::Input(0)])],
        outputs: vec![Operand::Op(0)],
    };
    assert!(!native::supports(&compile(&log)));
    let f64_add = FusedGraph {
        inputs: vec![DType::F64, DType::F64],
        ops: vec![FusedOp {
            prim: Primitive::Binary(BinaryOp::Add),
            args: vec![Operand::Input(0), Operand::Input(1)],
            dtype: DType::F64,
        }],
        outputs: vec![Operand::Op(0)],
    };
    assert!(!native::supports(&compile(&f64_add)));
    // Unsupported programs still run (on the interpreter) and agree.
    let x = Array::from_vec(vec![0.5f32, 2.0, 8.0], vec![3]);
    let got = run_elementwise(&compile(&log), &[3], vec![x.clone()], None);
    compare("log", &got[0], &op_by_op(&log, &[3], &[x])[0], 0.0).unwrap();
}
#[test]
fn native_clamps_by_splat_bounds_keep_nan_and_signed_zero_semantics() {
    use super::native;
    let op = |prim, args| FusedOp {
        prim,
        args,
        dtype: DType::F32,
    };
    let xs: Vec<f32> = vec![
        f32::NAN,
        -0.0,
        0.0,
        -1.5,
        1.5,
        f32::INFINITY,
        f32::NEG_INFINITY,
        3.0,
    ];
    let x = Array::from_vec(xs.repeat(5), vec![40]);
    for (clamp, unary) in [
        (BinaryOp::Minimum, UnaryOp::Expm1),
        (BinaryOp::Maximum, UnaryOp::Exp),
        (BinaryOp::Minimum, UnaryOp::Neg),
    ] {
        // unary(clamp(x, b)), the clamp folded into the unary instruction.
        let g = FusedGraph {
            inputs: vec![DType::F32, DType::F32],
            ops: vec![
                op(
                    Primitive::Binary(clamp),
                    vec![Operand::Input(0), Operand::Input(1)],
                ),
                op(Primitive::Unary(unary), vec![Operand::Op(0)]),
            ],
            outputs: vec![Operand::Op(1)],
        };
        let prog = compile(&g);
        assert!(native::supports(&prog));
        assert!(matches!(prog.code[..], [Instr::Unary { pre, .. }] if !pre.is_none()));
        for b in [f32::NAN, 0.0, -0.0, f32::NEG_INFINITY, 1.5] {
            let bound = Array::from_vec(vec![b], vec![]).broadcast_to(&[40]);
            let inputs = vec![x.clone(), bound];
            let got = run_elementwise(&prog, &[40], inputs.clone(), None);
            let interp = native::with_native(false, || {
                run_elementwise(&prog, &[40], inputs.clone(), None)
            });
            let want = op_by_op(&g, &[40], &inputs);
            let what = format!("{unary:?}({clamp:?}(x, {b}))");
            compare(&what, &got[0], &want[0], 0.0).unwrap();
            compare(&what, &interp[0], &want[0], 0.0).unwrap();
        }
    }
}

/// `len` floats of `buf` starting at the first address `skew * 4` bytes
/// past a 64-byte boundary.
fn skewed(buf: &mut [f32], skew: usize, len: usize) -> &mut [f32] {
    let at = (0..16)
        .find(|&i| (buf[i..].as_ptr() as usize) % 64 == skew * 4)
        .expect("f32 buffers are 4-byte aligned");
    &mut buf[at..at + len]
}

#[test]
fn streaming_kernels_match_the_plain_ones_at_every_alignment() {
    use super::native;
    use super::tile::{InView, OutSlice, View};
    if !native::available() {
        println!("no native code on this CPU: nothing to compare");
        return;
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut failures = vec![];
    let mut streamed = 0;
    for case in 0..60 {
        let n_in = 1 + rng.below(3);
        let n_ops = 1 + rng.below(10);
        let g = native_graph(&mut rng, n_in, n_ops);
        let prog = compile(&g);
        let (Some(plain), Some(streaming)) = (
            native::compile(&prog, 0, false),
            native::compile(&prog, 0, true),
        ) else {
            continue;
        };
        assert!(streaming.streams() && !plain.streams());
        streamed += 1;
        let len = [5, 16, 31, 16 * 37 + 5][rng.below(4)];
        let data: Vec<Vec<f32>> = (0..n_in)
            .map(|_| (0..len).map(|_| wide_value(&mut rng) as f32).collect())
            .collect();
        let views: Vec<InView> = data.iter().map(|d| InView::F32(View::Slice(d))).collect();
        let n_out = prog.outputs.len();
        // Every shared skew, and outputs skewed apart (the plain form then).
        let mut skews: Vec<Vec<usize>> = (0..16).map(|s| vec![s; n_out]).collect();
        skews.push((0..n_out).map(|o| 3 * o + 1).collect());
        for skew in skews {
            let run = |kernel: &native::NativeKernel| {
                let mut bufs = vec![vec![0f32; len + 16]; n_out];
                let mut outs: Vec<OutSlice> = bufs
                    .iter_mut()
                    .zip(&skew)
                    .map(|(b, &s)| OutSlice::F32(skewed(b, s, len)))
                    .collect();
                super::run_native(kernel, &views, &mut outs, len, &mut vec![]);
                drop(outs);
                bufs.into_iter()
                    .zip(&skew)
                    .map(|(mut b, &s)| skewed(&mut b, s, len).to_vec())
                    .collect::<Vec<_>>()
            };
            let (want, got) = (run(&plain), run(&streaming));
            for (o, (w, g)) in want.into_iter().zip(got).enumerate() {
                let what = format!("case {case} output {o} skews {skew:?} len {len}");
                let (w, g) = (Array::from_vec(w, vec![len]), Array::from_vec(g, vec![len]));
                if let Err(e) = compare(&what, &g, &w, 0.0) {
                    failures.push(format!("{e}\n{prog}"));
                }
            }
        }
    }
    assert!(
        streamed >= 50,
        "only {streamed} programs had streaming kernels"
    );
    assert_no_failures(&failures);
}

/// A call big enough to stream goes through the streaming kernels and
/// agrees with the interpreter.
#[test]
fn selu_over_streaming_sizes_matches_the_interpreter() {
    use super::native;
    let n = native::STREAM_BYTES / 4 + 77;
    let prog = compile(&selu_graph());
    let mut rng = Rng(7);
    let splat = |v: f32| Array::from_vec(vec![v], vec![]).broadcast_to(&[n]);
    let x: Vec<f32> = (0..n).map(|_| wide_value(&mut rng) as f32).collect();
    let inputs = vec![
        Array::from_vec(x, vec![n]),
        splat(0.0),
        splat(1.673_263_2),
        splat(1.050_701),
    ];
    let want = native::with_native(false, || run_elementwise(&prog, &[n], inputs.clone(), None));
    let got = run_elementwise(&prog, &[n], inputs, None);
    compare("selu", &got[0], &want[0], 0.0).unwrap();
    if native::available() {
        assert_eq!(prog.native.keys(), vec![(0b1110, true)], "{prog}");
    }
}
