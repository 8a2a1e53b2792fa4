//! Conformance: every primitive's CPU kernel against the reference evaluator
//! on random shapes (scalars, zero-size dims, broadcasting) and random
//! layouts (transposed, strided, flipped, broadcast views), over every dtype
//! the primitive supports.

use kiln_core::array::Array;
use kiln_core::buffer::Buffer;
use kiln_core::dtype::{DType, ALL_DTYPES};
use kiln_core::primitive::*;
use kiln_core::reference::{evaluate, RefArray};
use kiln_core::Tensor;
use std::io::Write;

mod common;
use common::Rng;

/// Test-specific draws.
impl Rng {
    /// A random shape of the given rank; sometimes with a zero-size dim.
    fn shape(&mut self, rank: usize) -> Vec<usize> {
        let mut s: Vec<usize> = (0..rank).map(|_| 1 + self.below(4)).collect();
        if rank > 0 && self.chance(0.1) {
            let i = self.below(rank);
            s[i] = 0;
        }
        s
    }
    fn rank(&mut self) -> usize {
        self.pick(&[0, 1, 1, 2, 2, 3, 4])
    }
}

/// How values are drawn for an input.
#[derive(Clone, Copy)]
enum Values {
    /// Mixed signs around zero, with some NaN/inf for floats.
    Any,
    /// Like `Any` but without NaN/inf.
    Finite,
    /// Positive, away from zero (logs, roots, products).
    Positive,
    /// Small non-negative integers (exponents).
    SmallInt,
    /// Floats of either sign up to 100 in magnitude (overflow of a naive exp).
    Wide,
    /// Floats within 3 of 100 (cancellation in a naive variance).
    Offset,
}

fn value(rng: &mut Rng, dtype: DType, how: Values) -> f64 {
    match dtype {
        DType::Bool => rng.chance(0.5) as u8 as f64,
        d if d.is_float() => match how {
            Values::Any if rng.chance(0.05) => {
                rng.pick(&[f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0])
            }
            Values::Positive => 0.25 + 2.0 * rng.unit(),
            Values::SmallInt => rng.below(4) as f64,
            Values::Wide => 200.0 * rng.unit() - 100.0,
            Values::Offset => 97.0 + 6.0 * rng.unit(),
            // Repeated values exercise ties in sorts and arg-reductions.
            _ if rng.chance(0.1) => 1.5,
            _ => 6.0 * rng.unit() - 3.0,
        },
        d => {
            let lo = if d.is_unsigned() { 0 } else { -5 };
            match how {
                Values::Positive => 1.0 + rng.below(3) as f64,
                Values::SmallInt => rng.below(4) as f64,
                _ => (lo + rng.below(11) as i64) as f64,
            }
        }
    }
}

/// Data of `shape`, in a randomly chosen layout with the same values seen
/// row-major.
fn input(rng: &mut Rng, shape: &[usize], dtype: DType, how: Values) -> Array {
    let n: usize = shape.iter().product();
    let contiguous = |rng: &mut Rng, shape: &[usize]| {
        let n: usize = shape.iter().product();
        let vals: Vec<f64> = (0..n).map(|_| value(rng, dtype, how)).collect();
        Array::new(Buffer::from_f64_slice(dtype, &vals), shape.to_vec())
    };
    let rank = shape.len();
    match if rank == 0 || n == 0 { 0 } else { rng.below(5) } {
        1 => {
            // Transposed: make the reversed shape, then reverse the axes.
            let rev: Vec<usize> = shape.iter().rev().copied().collect();
            contiguous(rng, &rev).permute(&(0..rank).rev().collect::<Vec<_>>())
        }
        2 => {
            // Strided: every other element of a twice-as-large array.
            let big: Vec<usize> = shape.iter().map(|&d| 2 * d + 1).collect();
            let a = contiguous(rng, &big);
            a.slice(&vec![1; rank], &vec![2; rank], shape)
        }
        3 => {
            // Flipped along every axis (negative strides).
            let a = contiguous(rng, shape);
            let start: Vec<usize> = shape.iter().map(|&d| d - 1).collect();
            a.slice(&start, &vec![-1; rank], shape)
        }
        4 => {
            // Broadcast: one axis has stride 0.
            let i = rng.below(rank);
            let mut small = shape.to_vec();
            small[i] = 1;
            contiguous(rng, &small).broadcast_to(shape)
        }
        _ => contiguous(rng, shape),
    }
}

/// Tolerance for comparing a kernel against the oracle, in units of the
/// dtype's epsilon times the magnitude.
fn eps(dtype: DType) -> f64 {
    match dtype {
        DType::F16 => 1e-3,
        DType::BF16 => 8e-3,
        DType::F32 => 2e-6,
        DType::F64 => 1e-14,
        _ => 0.0,
    }
}

struct Case {
    prim: Primitive,
    inputs: Vec<Array>,
    /// Multiplies the tolerance (for long sums and products).
    slack: f64,
}

fn run(case: &Case) -> Result<(), String> {
    let tensors: Vec<Tensor> = case
        .inputs
        .iter()
        .cloned()
        .map(Tensor::from_array)
        .collect();
    let refs: Vec<RefArray> = case
        .inputs
        .iter()
        .map(|a| RefArray::new(a.shape().to_vec(), a.dtype(), a.to_f64_vec()))
        .collect();
    let want = evaluate(&case.prim, &refs);
    let got = Tensor::from_op(case.prim.clone(), tensors);
    let got_vals = got.to_f64_vec();
    let ctx = || {
        let shapes: Vec<String> = case
            .inputs
            .iter()
            .map(|a| format!("{}{:?} strides {:?}", a.dtype(), a.shape(), a.strides()))
            .collect();
        format!("{} on [{}]", case.prim, shapes.join(", "))
    };
    let want = match (want, got_vals) {
        (Err(_), Err(_)) => return Ok(()),
        (Ok(w), Ok(g)) => (w, g),
        (Err(e), Ok(_)) => {
            return Err(format!(
                "{}: oracle failed ({e}) but kernel succeeded",
                ctx()
            ))
        }
        (Ok(_), Err(e)) => return Err(format!("{}: kernel failed: {e}", ctx())),
    };
    let (w, g) = want;
    if got.shape() != w.shape.as_slice() || got.dtype() != w.dtype {
        return Err(format!(
            "{}: kernel gives {}{:?}, oracle {}{:?}",
            ctx(),
            got.dtype(),
            got.shape(),
            w.dtype,
            w.shape
        ));
    }
    let tol = eps(w.dtype) * case.slack;
    for (i, (&a, &b)) in g.iter().zip(&w.data).enumerate() {
        let same = (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= tol * b.abs().max(1.0);
        if !same {
            return Err(format!("{}: element {i}: kernel {a}, oracle {b}", ctx()));
        }
    }
    Ok(())
}

const TRIALS: usize = 40;

fn float_dtypes() -> Vec<DType> {
    vec![DType::F16, DType::BF16, DType::F32, DType::F64]
}

fn numeric_dtypes() -> Vec<DType> {
    ALL_DTYPES
        .iter()
        .copied()
        .filter(|&d| d != DType::Bool)
        .collect()
}

/// Runs every case from `gen` and reports all failures at once.
fn check_all(name: &str, mut gen: impl FnMut(&mut Rng) -> Option<Case>) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (name.len() as u64 * 7919));
    let mut failures = vec![];
    let mut count = 0;
    for _ in 0..TRIALS * 25 {
        if let Some(case) = gen(&mut rng) {
            count += 1;
            if let Err(e) = run(&case) {
                failures.push(e);
            }
        }
    }
    // Written past the test harness's capture so the suite shows in `cargo test`.
    let _ = writeln!(
        std::io::stderr(),
        "primitive conformance [{name}]: {count} cases, {} failed",
        failures.len()
    );
    assert!(count >= TRIALS, "{name}: only {count} cases generated");
    assert!(
        failures.is_empty(),
        "{} of {count} {name} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn unary() {
    use UnaryOp::*;
    let ops = [
        Neg, Abs, Sign, Exp, Log, Log1p, Expm1, Sqrt, Rsqrt, Sin, Cos, Tan, Tanh, Sigmoid, Erf,
        Recip, Floor, Ceil, Round, LogicalNot, IsNan, IsInf,
    ];
    check_all("unary", |rng| {
        let op = rng.pick(&ops);
        let dtypes = match op {
            Neg | Abs | Sign => numeric_dtypes(),
            LogicalNot => vec![DType::Bool],
            _ => float_dtypes(),
        };
        let dtype = rng.pick(&dtypes);
        let shape = {
            let r = rng.rank();
            rng.shape(r)
        };
        let how = if matches!(op, Log | Sqrt | Rsqrt | Log1p) && rng.chance(0.7) {
            Values::Positive
        } else {
            Values::Any
        };
        let x = input(rng, &shape, dtype, how);
        Some(Case {
            prim: Primitive::Unary(op),
            inputs: vec![x],
            slack: 2.0,
        })
    });
}

#[test]
fn binary_and_compare() {
    use BinaryOp::*;
    let ops = [
        Add, Sub, Mul, Div, Rem, FloorDiv, Pow, Maximum, Minimum, LogicalAnd, LogicalOr,
    ];
    check_all("binary", |rng| {
        let shape = {
            let r = rng.rank();
            rng.shape(r)
        };
        if rng.chance(0.25) {
            let op = rng.pick(&[
                CompareOp::Eq,
                CompareOp::Ne,
                CompareOp::Lt,
                CompareOp::Le,
                CompareOp::Gt,
                CompareOp::Ge,
            ]);
            let d = rng.pick(&ALL_DTYPES);
            let (a, b) = (
                input(rng, &shape, d, Values::Any),
                input(rng, &shape, d, Values::Any),
            );
            return Some(Case {
                prim: Primitive::Compare(op),
                inputs: vec![a, b],
                slack: 1.0,
            });
        }
        let op = rng.pick(&ops);
        let dtypes = match op {
            LogicalAnd | LogicalOr => vec![DType::Bool],
            Maximum | Minimum => ALL_DTYPES.to_vec(),
            _ => numeric_dtypes(),
        };
        let d = rng.pick(&dtypes);
        let (ha, hb) = match op {
            Pow if d.is_float() => (Values::Positive, Values::Finite),
            Pow => (Values::Finite, Values::SmallInt),
            _ => (Values::Any, Values::Any),
        };
        let (a, b) = (input(rng, &shape, d, ha), input(rng, &shape, d, hb));
        Some(Case {
            prim: Primitive::Binary(op),
            inputs: vec![a, b],
            slack: 2.0,
        })
    });
}

#[test]
fn select_and_cast() {
    check_all("select/cast", |rng| {
        let shape = {
            let r = rng.rank();
            rng.shape(r)
        };
        let d = rng.pick(&ALL_DTYPES);
        if rng.chance(0.5) {
            let c = input(rng, &shape, DType::Bool, Values::Any);
            let (a, b) = (
                input(rng, &shape, d, Values::Any),
                input(rng, &shape, d, Values::Any),
            );
            Some(Case {
                prim: Primitive::Select,
                inputs: vec![c, a, b],
                slack: 1.0,
            })
        } else {
            let to = rng.pick(&ALL_DTYPES);
            let how = if to.is_float() {
                Values::Any
            } else {
                Values::Finite
            };
            Some(Case {
                prim: Primitive::Cast(to),
                inputs: vec![input(rng, &shape, d, how)],
                slack: 1.0,
            })
        }
    });
}

#[test]
fn views() {
    check_all("views", |rng| {
        let rank = rng.rank();
        let shape = rng.shape(rank);
        let d = rng.pick(&ALL_DTYPES);
        let x = input(rng, &shape, d, Values::Any);
        let prim = match rng.below(5) {
            0 => {
                let mut dims = shape.clone();
                dims.reverse();
                let n: usize = shape.iter().product();
                Primitive::Reshape(if n > 0 && rng.chance(0.5) {
                    vec![n]
                } else {
                    dims
                })
            }
            1 => {
                let mut perm: Vec<usize> = (0..rank).collect();
                for i in (1..rank).rev() {
                    perm.swap(i, rng.below(i + 1));
                }
                Primitive::Permute(perm)
            }
            2 => {
                // Broadcast to a bigger shape: grow size-1 dims, add a leading dim.
                let mut to: Vec<usize> =
                    shape.iter().map(|&s| if s == 1 { 3 } else { s }).collect();
                to.insert(0, 2);
                Primitive::Broadcast(to)
            }
            3 => {
                if shape.contains(&0) {
                    return None;
                }
                let mut start = vec![];
                let mut step = vec![];
                let mut out = vec![];
                for &n in &shape {
                    let st: isize = rng.pick(&[1, 2, -1, -2]);
                    let s = rng.below(n);
                    let room = if st > 0 {
                        (n - 1 - s) / st as usize + 1
                    } else {
                        s / (-st) as usize + 1
                    };
                    start.push(s);
                    step.push(st);
                    out.push(rng.below(room + 1));
                }
                Primitive::Slice {
                    start,
                    step,
                    shape: out,
                }
            }
            _ => Primitive::StopGradient,
        };
        Some(Case {
            prim,
            inputs: vec![x],
            slack: 1.0,
        })
    });
}

#[test]
fn windows_and_adjoint() {
    check_all("windows", |rng| {
        let k = rng.pick(&[1, 2]);
        let lead = rng.below(3);
        let window: Vec<usize> = (0..k).map(|_| 1 + rng.below(3)).collect();
        let stride: Vec<usize> = (0..k).map(|_| 1 + rng.below(2)).collect();
        let dilation: Vec<usize> = (0..k).map(|_| 1 + rng.below(2)).collect();
        let spatial: Vec<usize> = (0..k)
            .map(|i| dilation[i] * (window[i] - 1) + 1 + rng.below(4))
            .collect();
        let mut shape = rng.shape(lead);
        shape.extend(&spatial);
        if rng.chance(0.5) {
            let d = rng.pick(&ALL_DTYPES);
            let x = input(rng, &shape, d, Values::Any);
            Some(Case {
                prim: Primitive::Windows {
                    window,
                    stride,
                    dilation,
                },
                inputs: vec![x],
                slack: 1.0,
            })
        } else {
            let d = rng.pick(&numeric_dtypes());
            let mut yshape = shape[..lead].to_vec();
            for i in 0..k {
                yshape.push((spatial[i] - dilation[i] * (window[i] - 1) - 1) / stride[i] + 1);
            }
            yshape.extend(&window);
            let y = input(rng, &yshape, d, Values::Finite);
            Some(Case {
                prim: Primitive::WindowsAdjoint {
                    window,
                    stride,
                    dilation,
                    spatial,
                },
                inputs: vec![y],
                slack: 8.0,
            })
        }
    });
}

#[test]
fn pad_and_concat() {
    check_all("pad/concat", |rng| {
        let rank = 1 + rng.below(3);
        let shape = rng.shape(rank);
        let d = rng.pick(&ALL_DTYPES);
        if rng.chance(0.5) {
            let lo: Vec<usize> = (0..rank).map(|_| rng.below(3)).collect();
            let hi: Vec<usize> = (0..rank).map(|_| rng.below(3)).collect();
            let value = rng.pick(&[0.0, 1.0, -2.0, f64::NEG_INFINITY]);
            let value = if d.is_float() || value.is_finite() {
                value
            } else {
                0.0
            };
            Some(Case {
                prim: Primitive::Pad { lo, hi, value },
                inputs: vec![input(rng, &shape, d, Values::Any)],
                slack: 1.0,
            })
        } else {
            let axis = rng.below(rank);
            let inputs = (0..1 + rng.below(3))
                .map(|_| {
                    let mut s = shape.clone();
                    s[axis] = rng.below(4);
                    input(rng, &s, d, Values::Any)
                })
                .collect();
            Some(Case {
                prim: Primitive::Concat(axis),
                inputs,
                slack: 1.0,
            })
        }
    });
}

#[test]
fn gather_and_scatter() {
    check_all("gather/scatter", |rng| {
        let rank = 1 + rng.below(3);
        let shape = rng.shape(rank);
        let axis = rng.below(rank);
        let n = shape[axis];
        let mut ishape = shape.clone();
        ishape[axis] = rng.below(4);
        let idt = rng.pick(&[DType::I32, DType::I64, DType::U8, DType::I8]);
        let ni: usize = ishape.iter().product();
        let ids: Vec<f64> = (0..ni)
            .map(|_| {
                let i = rng.below(n.max(1)) as f64;
                if idt.is_unsigned() || rng.chance(0.5) {
                    i
                } else {
                    i - n as f64
                }
            })
            .collect();
        let idx = Array::new(Buffer::from_f64_slice(idt, &ids), ishape.clone());
        if n == 0 && ni > 0 {
            return None;
        }
        if rng.chance(0.5) {
            let d = rng.pick(&ALL_DTYPES);
            Some(Case {
                prim: Primitive::Gather(axis),
                inputs: vec![input(rng, &shape, d, Values::Any), idx],
                slack: 1.0,
            })
        } else {
            let d = rng.pick(&numeric_dtypes());
            let base = input(rng, &shape, d, Values::Finite);
            let src = input(rng, &ishape, d, Values::Finite);
            Some(Case {
                prim: Primitive::ScatterAdd(axis),
                inputs: vec![base, idx, src],
                slack: 8.0,
            })
        }
    });
}

#[test]
fn gather_out_of_range_is_an_error() {
    let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[3]).unwrap();
    let idx = Tensor::from_vec(vec![3i64], &[1]).unwrap();
    let y = Tensor::from_op(Primitive::Gather(0), vec![x, idx]);
    let err = y.to_vec::<f32>().unwrap_err().to_string();
    assert!(
        err.contains("gather") && err.contains("out of range"),
        "{err}"
    );
}

#[test]
fn reductions() {
    use ReduceOp::*;
    check_all("reduce", |rng| {
        let rank = rng.rank();
        let shape = rng.shape(rank);
        let op = rng.pick(&[Sum, Prod, Max, Min]);
        let d = rng.pick(&if matches!(op, Max | Min) {
            ALL_DTYPES.to_vec()
        } else {
            numeric_dtypes()
        });
        let axes: Vec<usize> = (0..rank).filter(|_| rng.chance(0.5)).collect();
        let how = if op == Prod {
            Values::Positive
        } else {
            Values::Any
        };
        let how = if op == Prod && d.is_float() {
            Values::Positive
        } else if op == Prod {
            Values::SmallInt
        } else {
            how
        };
        let x = input(rng, &shape, d, how);
        let len: usize = axes.iter().map(|&a| shape[a]).product();
        Some(Case {
            prim: Primitive::Reduce { op, axes },
            inputs: vec![x],
            slack: 4.0 * (len.max(1) as f64),
        })
    });
}

#[test]
fn arg_reductions_scans_and_sorts() {
    check_all("argreduce/scan/argsort", |rng| {
        let rank = 1 + rng.below(3);
        let shape = rng.shape(rank);
        let axis = rng.below(rank);
        match rng.below(3) {
            0 => {
                if shape[axis] == 0 {
                    return None;
                }
                let d = rng.pick(&ALL_DTYPES);
                let op = rng.pick(&[ArgReduceOp::ArgMax, ArgReduceOp::ArgMin]);
                Some(Case {
                    prim: Primitive::ArgReduce { op, axis },
                    inputs: vec![input(rng, &shape, d, Values::Any)],
                    slack: 1.0,
                })
            }
            1 => {
                let d = rng.pick(&numeric_dtypes());
                let op = rng.pick(&[ScanOp::Sum, ScanOp::Prod]);
                let how = if op == ScanOp::Prod {
                    Values::SmallInt
                } else {
                    Values::Finite
                };
                let how = if op == ScanOp::Prod && d.is_float() {
                    Values::Positive
                } else {
                    how
                };
                let x = input(rng, &shape, d, how);
                Some(Case {
                    prim: Primitive::Scan {
                        op,
                        axis,
                        reverse: rng.chance(0.5),
                    },
                    inputs: vec![x],
                    slack: 4.0 * shape[axis].max(1) as f64,
                })
            }
            _ => {
                let d = rng.pick(&ALL_DTYPES);
                let x = input(rng, &shape, d, Values::Any);
                Some(Case {
                    prim: Primitive::Argsort {
                        axis,
                        descending: rng.chance(0.5),
                    },
                    inputs: vec![x],
                    slack: 1.0,
                })
            }
        }
    });
}

#[test]
fn matmul() {
    check_all("matmul", |rng| {
        let batch = {
            let r = rng.below(3);
            rng.shape(r)
        };
        let (m, k, n) = (rng.below(6), rng.below(6), rng.below(6));
        let d = rng.pick(&numeric_dtypes());
        let mut sa = batch.clone();
        sa.extend([m, k]);
        let mut sb = batch.clone();
        sb.extend([k, n]);
        let (a, b) = (
            input(rng, &sa, d, Values::Finite),
            input(rng, &sb, d, Values::Finite),
        );
        Some(Case {
            prim: Primitive::Matmul,
            inputs: vec![a, b],
            slack: 8.0 * (k.max(1) as f64),
        })
    });
}

#[test]
fn large_matmul_uses_threads_and_matches() {
    // Big enough for gemm's parallel path; checks strided (transposed) operands.
    let mut rng = Rng(7);
    for d in [DType::F32, DType::F64, DType::F16, DType::BF16] {
        let a = input(&mut rng, &[70, 90], d, Values::Finite);
        let b = Array::new(
            Buffer::from_f64_slice(
                d,
                &(0..90 * 80)
                    .map(|i| ((i * 7) % 13) as f64 / 13.0 - 0.5)
                    .collect::<Vec<_>>(),
            ),
            vec![80, 90],
        )
        .permute(&[1, 0]);
        run(&Case {
            prim: Primitive::Matmul,
            inputs: vec![a, b],
            slack: 400.0,
        })
        .unwrap();
    }
}

#[test]
fn random_numbers() {
    check_all("random", |rng| {
        let shape = {
            let r = rng.rank();
            rng.shape(r)
        };
        let key = Array::from_vec(vec![rng.next() as u32, rng.next() as u32], vec![2]);
        let dist = rng.pick(&[Distribution::Uniform, Distribution::Normal]);
        let dtype = rng.pick(&float_dtypes());
        Some(Case {
            prim: Primitive::Random { dist, shape, dtype },
            inputs: vec![key],
            slack: 1.0,
        })
    });
}

#[test]
fn large_inputs_take_the_parallel_paths() {
    // Past the threading threshold, with contiguous and strided layouts.
    let mut rng = Rng(11);
    let shape = [300, 301];
    for _ in 0..3 {
        let a = input(&mut rng, &shape, DType::F32, Values::Finite);
        let b = input(&mut rng, &shape, DType::F32, Values::Finite);
        run(&Case {
            prim: Primitive::Binary(BinaryOp::Mul),
            inputs: vec![a.clone(), b],
            slack: 1.0,
        })
        .unwrap();
        run(&Case {
            prim: Primitive::Unary(UnaryOp::Tanh),
            inputs: vec![a.clone()],
            slack: 2.0,
        })
        .unwrap();
        run(&Case {
            prim: Primitive::Reduce {
                op: ReduceOp::Sum,
                axes: vec![1],
            },
            inputs: vec![a],
            slack: 2000.0,
        })
        .unwrap();
    }
    // Rank 4 and 5: strided walks split over leading dims, pooling-style
    // small-window reductions, and the window adjoint split over its
    // batch and channel dims.
    for _ in 0..4 {
        let shape = [8, 6, 40, 35];
        let a = input(&mut rng, &shape, DType::F32, Values::Finite);
        let b = input(&mut rng, &shape, DType::F32, Values::Finite);
        for (prim, inputs) in [
            (Primitive::Binary(BinaryOp::Mul), vec![a.clone(), b]),
            (Primitive::Unary(UnaryOp::Tanh), vec![a]),
        ] {
            run(&Case {
                prim,
                inputs,
                slack: 2.0,
            })
            .unwrap();
        }
        let w = input(&mut rng, &[64, 40, 30, 2, 2], DType::F32, Values::Finite);
        for op in [ReduceOp::Max, ReduceOp::Sum] {
            run(&Case {
                prim: Primitive::Reduce {
                    op,
                    axes: vec![3, 4],
                },
                inputs: vec![w.clone()],
                slack: 8.0,
            })
            .unwrap();
        }
        let y = input(
            &mut rng,
            &[16, 16, 15, 15, 3, 3],
            DType::F32,
            Values::Finite,
        );
        run(&Case {
            prim: Primitive::WindowsAdjoint {
                window: vec![3, 3],
                stride: vec![1, 1],
                dilation: vec![1, 1],
                spatial: vec![17, 17],
            },
            inputs: vec![y],
            slack: 8.0,
        })
        .unwrap();
    }
}

/// Every `LastAxisOp`, with the eps the tests use.
const LAST_AXIS_OPS: [LastAxisOp; 5] = [
    LastAxisOp::Softmax,
    LastAxisOp::LogSoftmax,
    LastAxisOp::LogSumExp,
    LastAxisOp::LayerNorm { eps: 1e-5 },
    LastAxisOp::RmsNorm { eps: 1e-5 },
];

/// Tolerance multiplier for a `LastAxis` case on `x`: the rounding of the
/// compute type amplified by the op's conditioning (the layer norm's mean
/// subtraction costs `max|x| / sqrt(var + eps)`; sums grow with the row).
fn last_axis_slack(op: LastAxisOp, x: &Array) -> f64 {
    let n = *x.shape().last().unwrap();
    let growth = 4.0 * (1.0 + (n.max(1) as f64).log2());
    let LastAxisOp::LayerNorm { eps } = op else {
        return growth;
    };
    if n == 0 {
        return growth;
    }
    let vals = x.to_f64_vec();
    let mut cond: f64 = 1.0;
    for row in vals.chunks(n) {
        if row.iter().any(|v| !v.is_finite()) {
            continue;
        }
        let mean = row.iter().sum::<f64>() / n as f64;
        let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
        let big = row.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        cond = cond.max(big / (var + eps).sqrt());
    }
    growth * (1.0 + cond)
}

fn last_axis_ops(rng: &mut Rng) -> LastAxisOp {
    let eps = rng.pick(&[1e-5, 1e-2]);
    rng.pick(&[
        LastAxisOp::Softmax,
        LastAxisOp::LogSoftmax,
        LastAxisOp::LogSumExp,
        LastAxisOp::LayerNorm { eps },
        LastAxisOp::RmsNorm { eps },
    ])
}

#[test]
fn last_axis_rows() {
    check_all("last_axis", |rng| {
        let op = last_axis_ops(rng);
        let rank = 1 + rng.below(3);
        let mut shape = rng.shape(rank);
        // Long rows (past the lane width, with a tail) and rows of one.
        match rng.below(6) {
            0 => *shape.last_mut().unwrap() = 1,
            1 => *shape.last_mut().unwrap() = 17 + rng.below(300),
            _ => {}
        }
        let d = rng.pick(&float_dtypes());
        let how = rng.pick(&[Values::Any, Values::Finite, Values::Wide, Values::Offset]);
        let x = input(rng, &shape, d, how);
        let slack = last_axis_slack(op, &x);
        Some(Case {
            prim: Primitive::LastAxis(op),
            inputs: vec![x],
            slack,
        })
    });
}

#[test]
fn last_axis_edges() {
    let inf = f64::INFINITY;
    let rows: [&[f64]; 6] = [
        &[-inf, -inf, -inf],
        &[inf, 1.0, 2.0],
        &[f64::NAN, 1.0, 2.0],
        &[-inf, 0.0, 1.0],
        &[1000.0, 1000.0, 999.0],
        &[-1000.0, -1000.0, -1001.0],
    ];
    for d in float_dtypes() {
        for r in rows {
            for op in LAST_AXIS_OPS {
                let x = Array::new(Buffer::from_f64_slice(d, r), vec![1, r.len()]);
                let slack = last_axis_slack(op, &x);
                run(&Case {
                    prim: Primitive::LastAxis(op),
                    inputs: vec![x],
                    slack,
                })
                .unwrap();
            }
        }
        // Empty rows: an empty output, or -inf per row for logsumexp.
        let x = Array::new(Buffer::from_f64_slice(d, &[]), vec![3, 0]);
        let l = Tensor::from_op(
            Primitive::LastAxis(LastAxisOp::LogSumExp),
            vec![Tensor::from_array(x.clone())],
        );
        assert_eq!(l.shape(), &[3, 1]);
        assert_eq!(l.to_f64_vec().unwrap(), vec![f64::NEG_INFINITY; 3]);
        let s = Tensor::from_op(
            Primitive::LastAxis(LastAxisOp::Softmax),
            vec![Tensor::from_array(x)],
        );
        assert_eq!(s.shape(), &[3, 0]);
    }
    // Rank 0 and int inputs are rejected.
    let bad = std::panic::catch_unwind(|| {
        Tensor::from_op(
            Primitive::LastAxis(LastAxisOp::Softmax),
            vec![Tensor::scalar(1.0f32)],
        )
    });
    assert!(bad.is_err());
    let bad = std::panic::catch_unwind(|| {
        Tensor::from_op(
            Primitive::LastAxis(LastAxisOp::Softmax),
            vec![Tensor::from_vec(vec![1i32, 2], &[2]).unwrap()],
        )
    });
    assert!(bad.is_err());
}

#[test]
fn last_axis_large_inputs_take_the_parallel_path() {
    // Many short rows, few long rows (one task per row), rows of one, with
    // contiguous and strided layouts, in f32 and a half type.
    let mut rng = Rng(23);
    let shapes: [&[usize]; 4] = [&[300, 301], &[3, 40_000], &[70_000, 1], &[2, 150, 260]];
    for shape in shapes {
        for d in [DType::F32, DType::BF16, DType::F64] {
            let how = rng.pick(&[Values::Finite, Values::Wide]);
            let x = input(&mut rng, shape, d, how);
            for op in LAST_AXIS_OPS {
                let slack = last_axis_slack(op, &x);
                run(&Case {
                    prim: Primitive::LastAxis(op),
                    inputs: vec![x.clone()],
                    slack,
                })
                .unwrap();
            }
        }
    }
}
