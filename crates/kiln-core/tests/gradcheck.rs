//! Gradient checks: every differentiable primitive's VJP rule, a few
//! composite ops and some second derivatives against central finite
//! differences in f64, on random shapes (scalars, zero-size dims,
//! broadcasting) and random layouts (transposed, strided, flipped,
//! broadcast views).
//!
//! A case is a function `f` of some float inputs (non-differentiated inputs
//! such as indices or conditions are captured by `f`). With a fixed random
//! cotangent `w` of the output's shape, the analytic gradient of
//! `sum(f(xs) * w)` (from `vjp` or `grad`) is compared with the central
//! difference of the same function, evaluated on plain data tensors, for
//! every element of every input. The difference is taken output by output
//! (`sum(w * (f(x+h) - f(x-h)))`), so outputs an element does not touch
//! cancel exactly and add no rounding noise.
//!
//! Layouts reach the graph two ways, picked at random per case: as data
//! (`Tensor::from_array` of an `Array` view; the gradient is then with
//! respect to the view's logical elements), or traced (the input is the
//! view's contiguous base and the view primitive is applied inside `f`, so
//! the forward kernels and the VJP rules see non-contiguous operands and the
//! view rules themselves take part).

use kiln_core::array::Array;
use kiln_core::autodiff::{grad, vjp};
use kiln_core::buffer::Buffer;
use kiln_core::dtype::DType;
use kiln_core::ops::linalg::einsum;
use kiln_core::ops::nn;
use kiln_core::primitive::*;
use kiln_core::Tensor;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

mod common;
use common::Rng;

/// Test-specific draws.
impl Rng {
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    /// A dim: 1 to 4, sometimes 0.
    fn dim(&mut self) -> usize {
        if self.chance(0.08) {
            0
        } else {
            1 + self.below(4)
        }
    }
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
    /// A random permutation of `0..n`.
    fn perm(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            p.swap(i, self.below(i + 1));
        }
        p
    }
}

/// How values of an input are drawn.
type Gen<'a> = &'a dyn Fn(&mut Rng) -> f64;

fn range(lo: f64, hi: f64) -> impl Fn(&mut Rng) -> f64 {
    move |r: &mut Rng| r.uniform(lo, hi)
}

/// Either sign, magnitude in `[lo, hi]`.
fn signed(lo: f64, hi: f64) -> impl Fn(&mut Rng) -> f64 {
    move |r: &mut Rng| {
        let m = r.uniform(lo, hi);
        if r.chance(0.5) {
            -m
        } else {
            m
        }
    }
}

/// `n` values in [-3, 3] whose pairwise gaps are all at least `3 / n`
/// (no ties, none within a finite-difference step).
fn distinct(rng: &mut Rng, n: usize) -> Vec<f64> {
    let p = rng.perm(n);
    p.iter()
        .map(|&k| -3.0 + 6.0 * (k as f64 + 0.25 + 0.5 * rng.unit()) / n.max(1) as f64)
        .collect()
}

fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

fn strides_of(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Calls `f` with every multi-index of `shape`, in row-major order.
fn for_each_index(shape: &[usize], mut f: impl FnMut(&[usize])) {
    let mut idx = vec![0; shape.len()];
    for _ in 0..numel(shape) {
        f(&idx);
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

fn unravel(mut e: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        if shape[d] > 0 {
            idx[d] = e % shape[d];
            e /= shape[d];
        }
    }
    idx
}

fn plain(vals: &[f64], shape: &[usize], dtype: DType) -> Array {
    Array::new(Buffer::from_f64_slice(dtype, vals), shape.to_vec())
}

/// An input: a contiguous base array and the view primitive (permute,
/// slice or broadcast) that gives the logical input from it.
#[derive(Clone)]
struct Laid {
    base: Array,
    view: Option<Primitive>,
}

impl Laid {
    /// The logical input as an `Array` view of the base.
    fn array(&self) -> Array {
        match &self.view {
            None => self.base.clone(),
            Some(Primitive::Permute(p)) => self.base.permute(p),
            Some(Primitive::Slice { start, step, shape }) => self.base.slice(start, step, shape),
            Some(Primitive::Broadcast(s)) => self.base.broadcast_to(s),
            Some(p) => unreachable!("not a view: {p}"),
        }
    }
    /// The same view built in the graph from a tensor holding the base.
    fn apply(&self, t: &Tensor) -> Tensor {
        match &self.view {
            None => t.clone(),
            Some(p) => Tensor::from_op(p.clone(), vec![t.clone()]),
        }
    }
    fn values(&self) -> Vec<f64> {
        self.array().to_f64_vec()
    }
}

fn show_array(a: &Array) -> String {
    format!("{}{:?} strides {:?}", a.dtype(), a.shape(), a.strides())
}

/// `vals` (row-major, of `shape`) in a random layout that is not a
/// broadcast: contiguous, transposed, last two axes swapped, strided (steps
/// of +-1 or +-2 inside a bigger base) or flipped. Unused base elements are
/// drawn from `fill`.
fn laid_from(rng: &mut Rng, vals: &[f64], shape: &[usize], dtype: DType, fill: Gen) -> Laid {
    let r = shape.len();
    let n = vals.len();
    assert_eq!(n, numel(shape));
    let contiguous = Laid {
        base: plain(vals, shape, dtype),
        view: None,
    };
    if r == 0 || n == 0 {
        return contiguous;
    }
    match rng.below(5) {
        k @ (1 | 2) => {
            let mut perm: Vec<usize> = (0..r).collect();
            if k == 1 || r < 2 {
                perm.reverse();
            } else {
                perm.swap(r - 2, r - 1);
            }
            let mut bshape = vec![0; r];
            for k in 0..r {
                bshape[perm[k]] = shape[k];
            }
            let bs = strides_of(&bshape);
            let mut base = vec![0.0; n];
            let mut t = 0;
            for_each_index(shape, |idx| {
                let off: usize = (0..r).map(|k| idx[k] * bs[perm[k]]).sum();
                base[off] = vals[t];
                t += 1;
            });
            Laid {
                base: plain(&base, &bshape, dtype),
                view: Some(Primitive::Permute(perm)),
            }
        }
        3 => {
            let step: Vec<isize> = (0..r).map(|_| rng.pick(&[1, 2, -1, -2])).collect();
            let big: Vec<usize> = (0..r)
                .map(|k| step[k].unsigned_abs() * shape[k] + 1)
                .collect();
            let start: Vec<usize> = (0..r)
                .map(|k| {
                    if step[k] > 0 {
                        1
                    } else {
                        1 + step[k].unsigned_abs() * (shape[k] - 1)
                    }
                })
                .collect();
            let bs = strides_of(&big);
            let mut base: Vec<f64> = (0..numel(&big)).map(|_| fill(rng)).collect();
            let mut t = 0;
            for_each_index(shape, |idx| {
                let off: usize = (0..r)
                    .map(|k| (start[k] as isize + idx[k] as isize * step[k]) as usize * bs[k])
                    .sum();
                base[off] = vals[t];
                t += 1;
            });
            let view = Primitive::Slice {
                start,
                step,
                shape: shape.to_vec(),
            };
            Laid {
                base: plain(&base, &big, dtype),
                view: Some(view),
            }
        }
        4 => {
            let bs = strides_of(shape);
            let mut base = vec![0.0; n];
            let mut t = 0;
            for_each_index(shape, |idx| {
                let off: usize = (0..r).map(|k| (shape[k] - 1 - idx[k]) * bs[k]).sum();
                base[off] = vals[t];
                t += 1;
            });
            let start: Vec<usize> = shape.iter().map(|&d| d - 1).collect();
            let view = Primitive::Slice {
                start,
                step: vec![-1; r],
                shape: shape.to_vec(),
            };
            Laid {
                base: plain(&base, shape, dtype),
                view: Some(view),
            }
        }
        _ => contiguous,
    }
}

/// An input of `shape` with values from `gen`, in a random layout that may
/// be a broadcast (then values repeat along the broadcast axes).
fn input(rng: &mut Rng, shape: &[usize], dtype: DType, gen: Gen) -> Laid {
    let r = shape.len();
    if r > 0 && numel(shape) > 0 && rng.chance(1.0 / 6.0) {
        let small: Vec<usize> = if rng.chance(0.4) {
            shape[1..].to_vec()
        } else {
            let mut s = shape.to_vec();
            s[rng.below(r)] = 1;
            s
        };
        let vals: Vec<f64> = (0..numel(&small)).map(|_| gen(rng)).collect();
        return Laid {
            base: plain(&vals, &small, dtype),
            view: Some(Primitive::Broadcast(shape.to_vec())),
        };
    }
    let vals: Vec<f64> = (0..numel(shape)).map(|_| gen(rng)).collect();
    laid_from(rng, &vals, shape, dtype, gen)
}

/// A non-broadcast input (no repeated values beyond what `vals` has).
fn place(rng: &mut Rng, vals: &[f64], shape: &[usize]) -> Laid {
    laid_from(rng, vals, shape, DType::F64, &range(-3.0, 3.0))
}

fn f64s(rng: &mut Rng, shape: &[usize], gen: Gen) -> Laid {
    input(rng, shape, DType::F64, gen)
}

/// Finite-difference step and comparison tolerance.
#[derive(Clone, Copy)]
struct Tol {
    rel: f64,
    abs: f64,
    /// The step is `h * max(1, |x|)`.
    h: f64,
}

const TOL: Tol = Tol {
    rel: 1e-6,
    abs: 1e-7,
    h: 1e-6,
};

type Func = Rc<dyn Fn(&[Tensor]) -> Tensor>;

struct Case {
    /// What is computed, with the non-differentiated inputs.
    desc: String,
    /// The differentiated (float) inputs.
    inputs: Vec<Laid>,
    f: Func,
    tol: Tol,
}

/// A primitive applied to `inputs`; those with `diff[i]` false are
/// captured as constants (indices, conditions).
fn prim_case(prim: Primitive, inputs: Vec<Laid>, diff: &[bool]) -> Case {
    let consts: Vec<Option<Tensor>> = inputs
        .iter()
        .zip(diff)
        .map(|(l, &d)| (!d).then(|| Tensor::from_array(l.array())))
        .collect();
    let const_desc: Vec<String> = inputs
        .iter()
        .zip(diff)
        .enumerate()
        .filter(|(_, (_, &d))| !d)
        .map(|(i, (l, _))| format!("input {i} (constant) {}", show_array(&l.array())))
        .collect();
    let desc = if const_desc.is_empty() {
        format!("{prim}")
    } else {
        format!("{prim} with {}", const_desc.join(", "))
    };
    let floats: Vec<Laid> = inputs
        .into_iter()
        .zip(diff)
        .filter(|(_, &d)| d)
        .map(|(l, _)| l)
        .collect();
    let f: Func = Rc::new(move |xs: &[Tensor]| {
        let mut it = xs.iter();
        let all: Vec<Tensor> = consts
            .iter()
            .map(|c| {
                c.clone()
                    .unwrap_or_else(|| it.next().expect("too few inputs").clone())
            })
            .collect();
        Tensor::from_op(prim.clone(), all)
    });
    Case {
        desc,
        inputs: floats,
        f,
        tol: TOL,
    }
}

fn all_diff(prim: Primitive, inputs: Vec<Laid>) -> Case {
    let diff = vec![true; inputs.len()];
    prim_case(prim, inputs, &diff)
}

fn composite(desc: String, inputs: Vec<Laid>, f: impl Fn(&[Tensor]) -> Tensor + 'static) -> Case {
    Case {
        desc,
        inputs,
        f: Rc::new(f),
        tol: TOL,
    }
}

/// The inputs actually differentiated and the function of them: either the
/// views as data, or the contiguous bases with the views traced in `f`.
fn effective(rng: &mut Rng, case: &Case) -> (Vec<Array>, Func, String) {
    let base_total: usize = case.inputs.iter().map(|l| l.base.numel()).sum();
    let traced =
        case.inputs.iter().any(|l| l.view.is_some()) && base_total <= 400 && rng.chance(0.5);
    if traced {
        let views = case.inputs.clone();
        let g = case.f.clone();
        let f: Func = Rc::new(move |xs: &[Tensor]| {
            let v: Vec<Tensor> = xs.iter().zip(&views).map(|(x, l)| l.apply(x)).collect();
            g(&v)
        });
        let shown: Vec<String> = case
            .inputs
            .iter()
            .map(|l| match &l.view {
                Some(p) => format!("{p}({}{:?})", l.base.dtype(), l.base.shape()),
                None => format!("{}{:?}", l.base.dtype(), l.base.shape()),
            })
            .collect();
        let desc = format!(
            "{} on traced views [{}] (elements index the bases)",
            case.desc,
            shown.join(", ")
        );
        (
            case.inputs.iter().map(|l| l.base.clone()).collect(),
            f,
            desc,
        )
    } else {
        let arrays: Vec<Array> = case.inputs.iter().map(Laid::array).collect();
        let shown: Vec<String> = arrays.iter().map(show_array).collect();
        let desc = format!("{} on data [{}]", case.desc, shown.join(", "));
        (arrays, case.f.clone(), desc)
    }
}

fn round_to(x: f64, dtype: DType) -> f64 {
    match dtype {
        DType::F32 => x as f32 as f64,
        _ => x,
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Compares `analytic[k][e]` with the central difference of
/// `sum(weights * eval(xs))` in element `e` of input `k`, for every element.
/// Evaluates a function of the perturbed inputs to flat f64 outputs.
type EvalFn<'a> = dyn Fn(&[Tensor]) -> Result<Vec<f64>, String> + 'a;
/// Draws one input value.
type Sampler = Box<dyn Fn(&mut Rng) -> f64>;

fn numeric_check(
    desc: &str,
    arrays: &[Array],
    analytic: &[Vec<f64>],
    weights: &[f64],
    eval: &EvalFn<'_>,
    tol: Tol,
) -> Result<(), String> {
    let base: Vec<Vec<f64>> = arrays.iter().map(|a| a.to_f64_vec()).collect();
    let data =
        |k: usize, v: &[f64]| Tensor::from_array(plain(v, arrays[k].shape(), arrays[k].dtype()));
    let xs0: Vec<Tensor> = (0..arrays.len()).map(|k| data(k, &base[k])).collect();
    let mut fails = vec![];
    for k in 0..arrays.len() {
        let dtype = arrays[k].dtype();
        for e in 0..base[k].len() {
            let x = base[k][e];
            let h = tol.h * x.abs().max(1.0);
            let (xp, xm) = (round_to(x + h, dtype), round_to(x - h, dtype));
            let at = |xv: f64| -> Result<Vec<f64>, String> {
                let mut v = base[k].clone();
                v[e] = xv;
                let mut xs = xs0.clone();
                xs[k] = data(k, &v);
                let y = eval(&xs)?;
                if y.len() != weights.len() {
                    return Err(format!(
                        "{desc}: function gives {} values for {} weights",
                        y.len(),
                        weights.len()
                    ));
                }
                Ok(y)
            };
            let (yp, ym) = (at(xp)?, at(xm)?);
            let diff: f64 = weights
                .iter()
                .zip(yp.iter().zip(&ym))
                .map(|(w, (p, m))| if p == m { 0.0 } else { w * (p - m) })
                .sum();
            let num = diff / (xp - xm);
            let a = analytic[k][e];
            let ok = (a - num).abs() <= tol.rel * a.abs().max(num.abs()) + tol.abs;
            if !ok {
                fails.push(format!(
                    "input {k} element {:?} (x = {x}): analytic {a}, numeric {num}",
                    unravel(e, arrays[k].shape())
                ));
            }
        }
    }
    if fails.is_empty() {
        return Ok(());
    }
    let n = fails.len();
    fails.truncate(4);
    Err(format!(
        "{desc}: {n} elements differ: {}{}",
        fails.join("; "),
        if n > 4 { "; ..." } else { "" }
    ))
}

/// Analytic gradients as values, checked for shape and dtype.
fn grad_values(desc: &str, arrays: &[Array], grads: &[Tensor]) -> Result<Vec<Vec<f64>>, String> {
    if grads.len() != arrays.len() {
        return Err(format!(
            "{desc}: {} gradients for {} inputs",
            grads.len(),
            arrays.len()
        ));
    }
    arrays
        .iter()
        .zip(grads)
        .enumerate()
        .map(|(k, (a, g))| {
            if g.shape() != a.shape() || g.dtype() != a.dtype() {
                return Err(format!(
                    "{desc}: gradient {k} is {}{:?}, input is {}{:?}",
                    g.dtype(),
                    g.shape(),
                    a.dtype(),
                    a.shape()
                ));
            }
            g.to_f64_vec()
                .map_err(|e| format!("{desc}: evaluating gradient {k}: {e}"))
        })
        .collect()
}

#[derive(Clone, Copy, PartialEq)]
enum Via {
    /// `vjp` with cotangent `w`.
    Vjp,
    /// `grad` of `sum(f * w)`.
    Grad,
    /// `grad` of `grad(sum(f * w)) . v` against differences of the gradient.
    Second,
}

fn run(rng: &mut Rng, case: &Case, via: Via) -> Result<(), String> {
    let (arrays, f, desc) = effective(rng, case);
    let xs: Vec<Tensor> = arrays.iter().cloned().map(Tensor::from_array).collect();
    let (oshape, odtype) = {
        let out = f(&xs);
        (out.shape().to_vec(), out.dtype())
    };
    let w = input(rng, &oshape, odtype, &range(-1.0, 1.0)).array();
    let wt = Tensor::from_array(w.clone());
    let grads: Vec<Tensor> = match via {
        Via::Vjp => {
            let (_, pb) =
                vjp(|xs: &Vec<Tensor>| f(xs), &xs).map_err(|e| format!("{desc}: vjp: {e}"))?;
            pb.apply(&wt)
                .map_err(|e| format!("{desc}: vjp apply: {e}"))?
        }
        Via::Grad => {
            let (f2, w2) = (f.clone(), wt.clone());
            grad(move |xs: &Vec<Tensor>| (f2(xs) * &w2).sum(.., false))(&xs)
                .map_err(|e| format!("{desc}: grad: {e}"))?
        }
        Via::Second => unreachable!(),
    };
    let analytic = grad_values(&desc, &arrays, &grads)?;
    let eval = |xs: &[Tensor]| {
        f(xs)
            .to_f64_vec()
            .map_err(|e| format!("{desc}: evaluating: {e}"))
    };
    numeric_check(&desc, &arrays, &analytic, &w.to_f64_vec(), &eval, case.tol)
}

/// Hessian-vector products: `grad(x -> grad(sum(f * w))(x) . v)` against
/// central differences of the (analytic) gradient dotted with `v`.
fn run_second(rng: &mut Rng, case: &Case) -> Result<(), String> {
    let (arrays, f, desc) = effective(rng, case);
    let xs: Vec<Tensor> = arrays.iter().cloned().map(Tensor::from_array).collect();
    let oshape = f(&xs).shape().to_vec();
    let w = Tensor::from_array(input(rng, &oshape, DType::F64, &range(-1.0, 1.0)).array());
    let vs: Vec<Array> = arrays
        .iter()
        .map(|a| input(rng, a.shape(), a.dtype(), &range(-1.0, 1.0)).array())
        .collect();
    let vts: Vec<Tensor> = vs.iter().cloned().map(Tensor::from_array).collect();
    let fw = {
        let f = f.clone();
        move |xs: &Vec<Tensor>| (f(xs) * &w).sum(.., false)
    };
    let s = {
        let fw = fw.clone();
        move |xs: &Vec<Tensor>| {
            let gs = grad(fw.clone())(xs).expect("inner grad failed");
            gs.iter()
                .zip(&vts)
                .map(|(g, v)| (g * v).sum(.., false))
                .reduce(|a, b| a + b)
                .expect("no inputs")
        }
    };
    let hv = grad(s)(&xs).map_err(|e| format!("{desc}: grad of grad: {e}"))?;
    let analytic = grad_values(&desc, &arrays, &hv)?;
    let g1 = grad(fw);
    let eval = |xs: &[Tensor]| -> Result<Vec<f64>, String> {
        let gs = g1(&xs.to_vec()).map_err(|e| format!("{desc}: grad: {e}"))?;
        let mut out = vec![];
        for g in gs {
            out.extend(g.to_f64_vec().map_err(err)?);
        }
        Ok(out)
    };
    let weights: Vec<f64> = vs.iter().flat_map(|v| v.to_f64_vec()).collect();
    numeric_check(&desc, &arrays, &analytic, &weights, &eval, case.tol)
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic)".to_string()
    }
}

/// Runs `n` cases from `gen` (given the rng and the case number) and
/// reports all failures at once.
fn check_all(name: &str, n: usize, via: Via, mut gen: impl FnMut(&mut Rng, usize) -> Option<Case>) {
    let seed = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    }) | 1;
    let mut rng = Rng(seed);
    let mut failures = vec![];
    let mut count = 0;
    let mut attempts = 0;
    while count < n && attempts < 20 * n {
        attempts += 1;
        let Some(case) = gen(&mut rng, count) else {
            continue;
        };
        count += 1;
        let result = catch_unwind(AssertUnwindSafe(|| match via {
            Via::Second => run_second(&mut rng, &case),
            _ => run(&mut rng, &case, via),
        }));
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(e),
            Err(p) => failures.push(format!("{}: panicked: {}", case.desc, panic_message(p))),
        }
    }
    println!("gradcheck: {name}: {count} cases");
    assert!(count >= n, "{name}: only {count} cases generated");
    assert!(
        failures.is_empty(),
        "{} of {count} {name} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

const UNARY_OPS: [UnaryOp; 15] = {
    use UnaryOp::*;
    [
        Neg, Abs, Exp, Log, Log1p, Expm1, Sqrt, Rsqrt, Sin, Cos, Tan, Tanh, Sigmoid, Erf, Recip,
    ]
};

/// Values of `op`'s input: away from kinks, poles and domain edges.
fn unary_domain(op: UnaryOp) -> Box<dyn Fn(&mut Rng) -> f64> {
    use UnaryOp::*;
    match op {
        Abs => Box::new(signed(0.1, 3.0)),
        Log | Sqrt | Rsqrt => Box::new(range(0.3, 3.0)),
        Recip => Box::new(signed(0.3, 3.0)),
        Log1p => Box::new(range(-0.7, 3.0)),
        Sin | Cos => Box::new(range(-4.0, 4.0)),
        Tan => Box::new(range(-1.2, 1.2)),
        Sigmoid => Box::new(range(-5.0, 5.0)),
        Erf => Box::new(range(-2.5, 2.5)),
        _ => Box::new(range(-3.0, 3.0)),
    }
}

fn random_shape(rng: &mut Rng) -> Vec<usize> {
    let r = rng.rank();
    rng.shape(r)
}

#[test]
fn unary() {
    check_all("unary", 12 * UNARY_OPS.len(), Via::Vjp, |rng, i| {
        let op = UNARY_OPS[i % UNARY_OPS.len()];
        let shape = random_shape(rng);
        let x = f64s(rng, &shape, &*unary_domain(op));
        Some(all_diff(Primitive::Unary(op), vec![x]))
    });
}

#[test]
fn binary() {
    use BinaryOp::*;
    let ops = [Add, Sub, Mul, Div, Rem, Pow, Maximum, Minimum];
    check_all("binary", 16 * ops.len(), Via::Vjp, |rng, i| {
        let op = ops[i % ops.len()];
        let shape = random_shape(rng);
        let (a, b) = match op {
            Div => (
                f64s(rng, &shape, &range(-3.0, 3.0)),
                f64s(rng, &shape, &signed(0.4, 3.0)),
            ),
            Rem => {
                // a / b = k + frac with frac in [0.1, 0.9]: away from the jumps.
                let b = f64s(rng, &shape, &signed(0.5, 2.0));
                let av: Vec<f64> = b
                    .values()
                    .iter()
                    .map(|&bv| bv * ((rng.below(7) as f64 - 3.0) + rng.uniform(0.1, 0.9)))
                    .collect();
                (place(rng, &av, &shape), b)
            }
            Pow => {
                let exps = |r: &mut Rng| {
                    if r.chance(0.15) {
                        r.pick(&[0.0, 1.0, 2.0, -1.0, 3.0])
                    } else {
                        r.uniform(-2.5, 2.5)
                    }
                };
                (
                    f64s(rng, &shape, &range(0.3, 2.5)),
                    f64s(rng, &shape, &exps),
                )
            }
            Maximum | Minimum => {
                // No ties: b differs from a by at least 0.05 everywhere.
                let a = f64s(rng, &shape, &range(-3.0, 3.0));
                let bv: Vec<f64> = a
                    .values()
                    .iter()
                    .map(|&x| x + signed(0.05, 2.0)(rng))
                    .collect();
                let b = place(rng, &bv, &shape);
                if rng.chance(0.5) {
                    (a, b)
                } else {
                    (b, a)
                }
            }
            _ => (
                f64s(rng, &shape, &range(-3.0, 3.0)),
                f64s(rng, &shape, &range(-3.0, 3.0)),
            ),
        };
        Some(all_diff(Primitive::Binary(op), vec![a, b]))
    });
}

/// Broadcasting through the public ops (`+ - * /`, `pow`, `maximum`,
/// `minimum`, `where_`): the gradient sums over the broadcast axes.
#[test]
fn broadcasting_ops() {
    check_all("broadcasting ops", 105, Via::Grad, |rng, i| {
        let r = rng.below(4);
        let out = rng.shape(r);
        let operand = |rng: &mut Rng| -> Vec<usize> {
            let keep = rng.below(r + 1);
            out[r - keep..]
                .iter()
                .map(|&d| if rng.chance(0.4) { 1 } else { d })
                .collect()
        };
        let (sa, sb) = (operand(rng), operand(rng));
        let kind = i % 7;
        let (ga, gb): (Sampler, Sampler) = match kind {
            3 => (Box::new(range(-3.0, 3.0)), Box::new(signed(0.4, 3.0))),
            4 => (Box::new(range(0.3, 2.5)), Box::new(range(-2.5, 2.5))),
            _ => (Box::new(range(-3.0, 3.0)), Box::new(range(-3.0, 3.0))),
        };
        let a = f64s(rng, &sa, &*ga);
        let b = f64s(rng, &sb, &*gb);
        let names = ["add", "sub", "mul", "div", "pow", "maximum", "where"];
        let desc = format!("{} with broadcasting {sa:?} and {sb:?}", names[kind]);
        if kind == 6 {
            let sc = operand(rng);
            let cond = Tensor::from_array(
                input(rng, &sc, DType::Bool, &|r: &mut Rng| {
                    r.chance(0.5) as u8 as f64
                })
                .array(),
            );
            let desc = format!("{desc} and condition {sc:?}");
            return Some(composite(desc, vec![a, b], move |x| {
                kiln_core::ops::elementwise::where_(&cond, &x[0], &x[1])
            }));
        }
        Some(composite(desc, vec![a, b], move |x| match kind {
            0 => &x[0] + &x[1],
            1 => &x[0] - &x[1],
            2 => &x[0] * &x[1],
            3 => &x[0] / &x[1],
            4 => x[0].pow(&x[1]),
            _ => x[0].maximum(&x[1]) - x[1].minimum(&x[0]) * 0.5,
        }))
    });
}

#[test]
fn select() {
    check_all("select", 60, Via::Vjp, |rng, _| {
        let shape = random_shape(rng);
        let c = input(rng, &shape, DType::Bool, &|r: &mut Rng| {
            r.chance(0.5) as u8 as f64
        });
        let a = f64s(rng, &shape, &range(-3.0, 3.0));
        let b = f64s(rng, &shape, &range(-3.0, 3.0));
        Some(prim_case(
            Primitive::Select,
            vec![c, a, b],
            &[false, true, true],
        ))
    });
}

#[test]
fn cast() {
    // f32 steps are rounded to f32 and the difference divided by the actual
    // step, so a linear function is still exact; rounding of f32 outputs is
    // covered by a larger step and a looser tolerance.
    let loose = Tol {
        rel: 1e-4,
        abs: 1e-5,
        h: 1e-2,
    };
    check_all("cast", 60, Via::Vjp, |rng, i| {
        let shape = random_shape(rng);
        Some(match i % 4 {
            0 => all_diff(
                Primitive::Cast(DType::F64),
                vec![f64s(rng, &shape, &range(-3.0, 3.0))],
            ),
            1 => {
                let mut c = all_diff(
                    Primitive::Cast(DType::F32),
                    vec![f64s(rng, &shape, &range(-3.0, 3.0))],
                );
                c.tol = loose;
                c
            }
            2 => {
                let x = input(rng, &shape, DType::F32, &range(-3.0, 3.0));
                let mut c = all_diff(Primitive::Cast(DType::F64), vec![x]);
                c.tol = Tol {
                    rel: 1e-6,
                    abs: 1e-7,
                    h: 1e-3,
                };
                c
            }
            _ => {
                let x = f64s(rng, &shape, &range(-3.0, 3.0));
                let mut c = composite("cast chain f64 -> f32 -> f64".into(), vec![x], |x| {
                    let y = Tensor::from_op(Primitive::Cast(DType::F32), vec![x[0].clone()]);
                    let y = &y * &y;
                    Tensor::from_op(Primitive::Cast(DType::F64), vec![y])
                });
                c.tol = Tol {
                    rel: 1e-4,
                    abs: 1e-4,
                    h: 1e-2,
                };
                c
            }
        })
    });
}

#[test]
fn views() {
    check_all("views", 160, Via::Vjp, |rng, i| {
        let rank = rng.rank();
        let prim = match i % 4 {
            0 => {
                let shape = rng.shape(rank);
                let n = numel(&shape);
                let mut to: Vec<usize> = shape.iter().rev().copied().collect();
                match rng.below(3) {
                    0 if n > 0 => to = vec![n],
                    1 => to.insert(rng.below(to.len() + 1), 1),
                    _ => {}
                }
                let x = f64s(rng, &shape, &range(-3.0, 3.0));
                return Some(all_diff(Primitive::Reshape(to), vec![x]));
            }
            1 => Primitive::Permute(rng.perm(rank)),
            2 => {
                // From a shape with size-1 dims to a bigger one, with leading dims.
                let small: Vec<usize> = (0..rank)
                    .map(|_| if rng.chance(0.5) { 1 } else { rng.dim() })
                    .collect();
                let mut to: Vec<usize> = small
                    .iter()
                    .map(|&d| if d == 1 { rng.dim() } else { d })
                    .collect();
                for _ in 0..rng.below(3) {
                    to.insert(0, 1 + rng.below(3));
                }
                let x = f64s(rng, &small, &range(-3.0, 3.0));
                return Some(all_diff(Primitive::Broadcast(to), vec![x]));
            }
            _ => {
                let shape: Vec<usize> = (0..rank.max(1)).map(|_| 1 + rng.below(5)).collect();
                let mut start = vec![];
                let mut step = vec![];
                let mut out = vec![];
                for &n in &shape {
                    let st: isize = rng.pick(&[1, 2, -1, -2, 3]);
                    let s = rng.below(n);
                    let room = if st > 0 {
                        (n - 1 - s) / st as usize + 1
                    } else {
                        s / (-st) as usize + 1
                    };
                    start.push(s);
                    step.push(st);
                    out.push(if rng.chance(0.1) {
                        0
                    } else {
                        1 + rng.below(room)
                    });
                }
                let x = f64s(rng, &shape, &range(-3.0, 3.0));
                return Some(all_diff(
                    Primitive::Slice {
                        start,
                        step,
                        shape: out,
                    },
                    vec![x],
                ));
            }
        };
        let shape = rng.shape(rank);
        let x = f64s(rng, &shape, &range(-3.0, 3.0));
        Some(all_diff(prim, vec![x]))
    });
}

#[test]
fn windows_and_adjoint() {
    check_all("windows", 120, Via::Vjp, |rng, i| {
        let k = 1 + i % 2;
        let lead = rng.below(3);
        let window: Vec<usize> = (0..k).map(|_| 1 + rng.below(3)).collect();
        let stride: Vec<usize> = (0..k).map(|_| 1 + rng.below(2)).collect();
        let dilation: Vec<usize> = (0..k).map(|_| 1 + rng.below(2)).collect();
        let spatial: Vec<usize> = (0..k)
            .map(|i| dilation[i] * (window[i] - 1) + 1 + rng.below(4))
            .collect();
        let mut shape = rng.shape(lead);
        shape.extend(&spatial);
        if (i / 2) % 2 == 0 {
            let x = f64s(rng, &shape, &range(-3.0, 3.0));
            Some(all_diff(
                Primitive::Windows {
                    window,
                    stride,
                    dilation,
                },
                vec![x],
            ))
        } else {
            let mut yshape = shape[..lead].to_vec();
            for i in 0..k {
                yshape.push((spatial[i] - dilation[i] * (window[i] - 1) - 1) / stride[i] + 1);
            }
            yshape.extend(&window);
            let y = f64s(rng, &yshape, &range(-3.0, 3.0));
            Some(all_diff(
                Primitive::WindowsAdjoint {
                    window,
                    stride,
                    dilation,
                    spatial,
                },
                vec![y],
            ))
        }
    });
}

#[test]
fn pad_and_concat() {
    check_all("pad/concat", 100, Via::Vjp, |rng, i| {
        let rank = 1 + rng.below(3);
        let shape = rng.shape(rank);
        if i % 2 == 0 {
            let lo: Vec<usize> = (0..rank).map(|_| rng.below(3)).collect();
            let hi: Vec<usize> = (0..rank).map(|_| rng.below(3)).collect();
            let value = rng.pick(&[0.0, 1.5, -2.0]);
            let x = f64s(rng, &shape, &range(-3.0, 3.0));
            Some(all_diff(Primitive::Pad { lo, hi, value }, vec![x]))
        } else {
            let axis = rng.below(rank);
            let inputs = (0..1 + rng.below(3))
                .map(|_| {
                    let mut s = shape.clone();
                    s[axis] = rng.below(4);
                    f64s(rng, &s, &range(-3.0, 3.0))
                })
                .collect();
            Some(all_diff(Primitive::Concat(axis), inputs))
        }
    });
}

/// Valid indices into an axis of size `n` (negative ones too, repeats
/// likely), of a random integer dtype and layout.
fn indices(rng: &mut Rng, shape: &[usize], n: usize) -> Laid {
    let idt = rng.pick(&[DType::I32, DType::I64, DType::U8, DType::I8]);
    let ids: Vec<f64> = (0..numel(shape))
        .map(|_| {
            let i = rng.below(n) as f64;
            if idt.is_unsigned() || rng.chance(0.5) {
                i
            } else {
                i - n as f64
            }
        })
        .collect();
    laid_from(rng, &ids, shape, idt, &|_: &mut Rng| 0.0)
}

#[test]
fn gather_and_scatter() {
    check_all("gather/scatter", 100, Via::Vjp, |rng, i| {
        let rank = 1 + rng.below(3);
        let shape = rng.shape(rank);
        let axis = rng.below(rank);
        let n = shape[axis];
        let mut ishape = shape.clone();
        ishape[axis] = rng.below(5);
        if n == 0 && numel(&ishape) > 0 {
            return None;
        }
        let idx = indices(rng, &ishape, n);
        if i % 2 == 0 {
            let x = f64s(rng, &shape, &range(-3.0, 3.0));
            Some(prim_case(
                Primitive::Gather(axis),
                vec![x, idx],
                &[true, false],
            ))
        } else {
            let base = f64s(rng, &shape, &range(-3.0, 3.0));
            let src = f64s(rng, &ishape, &range(-3.0, 3.0));
            Some(prim_case(
                Primitive::ScatterAdd(axis),
                vec![base, idx, src],
                &[true, false, true],
            ))
        }
    });
}

#[test]
fn reductions() {
    use ReduceOp::*;
    let ops = [Sum, Prod, Max, Min];
    check_all("reduce", 160, Via::Vjp, |rng, i| {
        let op = ops[i % 4];
        let rank = rng.rank();
        let shape = rng.shape(rank);
        let axes: Vec<usize> = (0..rank).filter(|_| rng.chance(0.5)).collect();
        let x = match op {
            Sum => f64s(rng, &shape, &range(-3.0, 3.0)),
            // Exact zeros (sometimes two in one product): the rule is exact there.
            Prod => f64s(rng, &shape, &|r: &mut Rng| {
                if r.chance(0.15) {
                    0.0
                } else {
                    signed(0.5, 1.5)(r)
                }
            }),
            Max | Min => {
                let v = distinct(rng, numel(&shape));
                place(rng, &v, &shape)
            }
        };
        Some(all_diff(Primitive::Reduce { op, axes }, vec![x]))
    });
}

#[test]
fn scans() {
    check_all("scan", 100, Via::Vjp, |rng, i| {
        let rank = 1 + rng.below(3);
        let shape = rng.shape(rank);
        let axis = rng.below(rank);
        let reverse = (i / 2) % 2 == 1;
        let (op, x) = if i % 2 == 0 {
            (ScanOp::Sum, f64s(rng, &shape, &range(-3.0, 3.0)))
        } else {
            (ScanOp::Prod, f64s(rng, &shape, &signed(0.5, 1.5)))
        };
        Some(all_diff(Primitive::Scan { op, axis, reverse }, vec![x]))
    });
}

#[test]
fn matmul() {
    check_all("matmul", 80, Via::Vjp, |rng, _| {
        let r = rng.below(3);
        let batch = rng.shape(r);
        let (m, k, n) = (rng.dim(), rng.dim(), rng.dim());
        let mut sa = batch.clone();
        sa.extend([m, k]);
        let mut sb = batch;
        sb.extend([k, n]);
        let a = f64s(rng, &sa, &range(-2.0, 2.0));
        let b = f64s(rng, &sb, &range(-2.0, 2.0));
        Some(all_diff(Primitive::Matmul, vec![a, b]))
    });
}

/// A random axis of a rank-`r` tensor, possibly negative.
fn axis_of(rng: &mut Rng, r: usize) -> i64 {
    let r = r.max(1) as i64;
    let a = rng.below(r as usize) as i64;
    if rng.chance(0.5) {
        a - r
    } else {
        a
    }
}

/// A random subset of the axes of a rank-`r` tensor.
fn axes_of(rng: &mut Rng, r: usize) -> Vec<i64> {
    (0..r as i64).filter(|_| rng.chance(0.5)).collect()
}

#[test]
fn composites() {
    let einsums: [&str; 10] = [
        "ij,jk->ik",
        "bij,bjk->bik",
        "ij->ji",
        "i,i->",
        "ij,j->i",
        "bhqd,bhkd->bhqk",
        "ijk,ik->j",
        "i,j->ij",
        "ij,jk,kl->il",
        "ij,jk",
    ];
    check_all("composites", 180, Via::Grad, |rng, i| {
        Some(match i % 9 {
            0 | 1 => {
                let r = rng.below(4);
                let shape = rng.shape(r);
                let axis = axis_of(rng, r);
                let x = f64s(rng, &shape, &range(-3.0, 3.0));
                if i % 9 == 0 {
                    composite(format!("softmax(axis={axis})"), vec![x], move |x| {
                        nn::softmax(&x[0], axis)
                    })
                } else {
                    composite(format!("log_softmax(axis={axis})"), vec![x], move |x| {
                        nn::log_softmax(&x[0], axis)
                    })
                }
            }
            2 => {
                let lr = rng.below(3);
                let mut shape = rng.shape(lr);
                let norm: Vec<usize> = (0..1 + rng.below(2)).map(|_| 2 + rng.below(3)).collect();
                shape.extend(&norm);
                let (has_w, has_b) = (rng.chance(0.7), rng.chance(0.7));
                let mut inputs = vec![f64s(rng, &shape, &range(-3.0, 3.0))];
                if has_w {
                    inputs.push(f64s(rng, &norm, &range(-2.0, 2.0)));
                }
                if has_b {
                    inputs.push(f64s(rng, &norm, &range(-2.0, 2.0)));
                }
                let desc =
                    format!("layer_norm(normalized_shape={norm:?}, weight={has_w}, bias={has_b})");
                composite(desc, inputs, move |x| {
                    let w = if has_w { Some(&x[1]) } else { None };
                    let b = if has_b { Some(&x[x.len() - 1]) } else { None };
                    nn::layer_norm(&x[0], &norm, w, b, 1e-5)
                })
            }
            3 => {
                let groups = 1 + rng.below(2);
                let (cpg, opg) = (1 + rng.below(2), 1 + rng.below(2));
                let (c, o) = (groups * cpg, groups * opg);
                let k = (1 + rng.below(3), 1 + rng.below(3));
                let stride = (1 + rng.below(2), 1 + rng.below(2));
                let pad = (rng.below(2), rng.below(2));
                let dil = (1 + rng.below(2), 1 + rng.below(2));
                let h = (dil.0 * (k.0 - 1) + 1).saturating_sub(2 * pad.0).max(1) + rng.below(3);
                let wd = (dil.1 * (k.1 - 1) + 1).saturating_sub(2 * pad.1).max(1) + rng.below(3);
                let xshape = if rng.chance(0.7) {
                    vec![1 + rng.below(2), c, h, wd]
                } else {
                    vec![c, h, wd]
                };
                let has_bias = rng.chance(0.6);
                let mut inputs = vec![
                    f64s(rng, &xshape, &range(-2.0, 2.0)),
                    f64s(rng, &[o, cpg, k.0, k.1], &range(-1.0, 1.0)),
                ];
                if has_bias {
                    inputs.push(f64s(rng, &[o], &range(-1.0, 1.0)));
                }
                let desc = format!(
                    "conv2d(stride={stride:?}, padding={pad:?}, dilation={dil:?}, groups={groups}, bias={has_bias})"
                );
                composite(desc, inputs, move |x| {
                    nn::conv2d(&x[0], &x[1], x.get(2), stride, pad, dil, groups)
                })
            }
            4 | 5 => {
                let kernel = (1 + rng.below(3), 1 + rng.below(3));
                let stride = (1 + rng.below(2), 1 + rng.below(2));
                let pad = (rng.below(kernel.0 / 2 + 1), rng.below(kernel.1 / 2 + 1));
                let h = (kernel.0 - 2 * pad.0).max(1) + rng.below(3);
                let w = (kernel.1 - 2 * pad.1).max(1) + rng.below(3);
                let mut shape = vec![1 + rng.below(2), h, w];
                if rng.chance(0.6) {
                    shape.insert(0, 1 + rng.below(2));
                }
                if i % 9 == 4 {
                    // Distinct values: no ties inside a window.
                    let v = distinct(rng, numel(&shape));
                    let x = place(rng, &v, &shape);
                    let desc = format!(
                        "max_pool2d(kernel={kernel:?}, stride={stride:?}, padding={pad:?})"
                    );
                    composite(desc, vec![x], move |x| {
                        nn::max_pool2d(&x[0], kernel, stride, pad)
                    })
                } else {
                    let x = f64s(rng, &shape, &range(-3.0, 3.0));
                    let desc = format!(
                        "avg_pool2d(kernel={kernel:?}, stride={stride:?}, padding={pad:?})"
                    );
                    composite(desc, vec![x], move |x| {
                        nn::avg_pool2d(&x[0], kernel, stride, pad)
                    })
                }
            }
            6 => {
                let r = 1 + rng.below(3);
                let shape: Vec<usize> = (0..r).map(|_| 1 + rng.below(4)).collect();
                let axes = axes_of(rng, r);
                let n: usize = axes.iter().map(|&a| shape[a as usize]).product();
                let ddof = if n >= 2 && rng.chance(0.5) { 1 } else { 0 };
                let keep = rng.chance(0.5);
                let x = f64s(rng, &shape, &range(-3.0, 3.0));
                let desc = format!("var(axes={axes:?}, ddof={ddof}, keepdims={keep})");
                composite(desc, vec![x], move |x| x[0].var(axes.clone(), ddof, keep))
            }
            7 => {
                let r = rng.rank();
                let shape = rng.shape(r);
                let axes = axes_of(rng, r);
                let keep = rng.chance(0.5);
                let x = f64s(rng, &shape, &range(-3.0, 3.0));
                let desc = format!("logsumexp(axes={axes:?}, keepdims={keep})");
                composite(desc, vec![x], move |x| x[0].logsumexp(axes.clone(), keep))
            }
            _ => {
                let spec = einsums[(i / 9) % einsums.len()];
                let mut dims = std::collections::HashMap::new();
                let lhs = spec.split("->").next().unwrap();
                let inputs: Vec<Laid> = lhs
                    .split(',')
                    .map(|op| {
                        let shape: Vec<usize> = op
                            .chars()
                            .map(|c| *dims.entry(c).or_insert_with(|| rng.dim()))
                            .collect();
                        f64s(rng, &shape, &range(-2.0, 2.0))
                    })
                    .collect();
                composite(format!("einsum({spec:?})"), inputs, move |x| {
                    let ops: Vec<&Tensor> = x.iter().collect();
                    einsum(spec, &ops)
                })
            }
        })
    });
}

#[test]
fn second_order() {
    let small = |rng: &mut Rng| -> Vec<usize> {
        let r = rng.below(3);
        (0..r).map(|_| 1 + rng.below(3)).collect()
    };
    let n = 2 * UNARY_OPS.len() + 4 * 6;
    check_all("second order", n, Via::Second, |rng, i| {
        if i < 2 * UNARY_OPS.len() {
            let op = UNARY_OPS[i % UNARY_OPS.len()];
            let shape = small(rng);
            // Abs's second derivative is 0: fine, as long as x is away from 0.
            let x = f64s(rng, &shape, &*unary_domain(op));
            return Some(all_diff(Primitive::Unary(op), vec![x]));
        }
        let shape = small(rng);
        Some(match i % 6 {
            0 | 1 => {
                let (a, b) = (
                    f64s(rng, &shape, &range(-2.0, 2.0)),
                    f64s(rng, &shape, &range(-2.0, 2.0)),
                );
                all_diff(Primitive::Binary(BinaryOp::Mul), vec![a, b])
            }
            2 | 3 => {
                let (a, b) = (
                    f64s(rng, &shape, &range(-2.0, 2.0)),
                    f64s(rng, &shape, &signed(0.5, 2.0)),
                );
                all_diff(Primitive::Binary(BinaryOp::Div), vec![a, b])
            }
            4 => {
                let r = rng.below(2);
                let batch: Vec<usize> = (0..r).map(|_| 1 + rng.below(2)).collect();
                let (m, k, n) = (1 + rng.below(3), 1 + rng.below(3), 1 + rng.below(3));
                let mut sa = batch.clone();
                sa.extend([m, k]);
                let mut sb = batch;
                sb.extend([k, n]);
                let a = f64s(rng, &sa, &range(-2.0, 2.0));
                let b = f64s(rng, &sb, &range(-2.0, 2.0));
                all_diff(Primitive::Matmul, vec![a, b])
            }
            _ => {
                let (a, b) = (
                    f64s(rng, &shape, &range(0.3, 2.5)),
                    f64s(rng, &shape, &range(-2.0, 2.0)),
                );
                all_diff(Primitive::Binary(BinaryOp::Pow), vec![a, b])
            }
        })
    });
}

/// Second derivatives through reductions, scans and composite ops, whose
/// VJP rules are themselves built from several primitives.
#[test]
fn second_order_composites() {
    check_all("second order composites", 70, Via::Second, |rng, i| {
        let r = 1 + rng.below(2);
        let shape: Vec<usize> = (0..r).map(|_| 1 + rng.below(3)).collect();
        let axes: Vec<usize> = (0..r).filter(|_| rng.chance(0.6)).collect();
        Some(match i % 10 {
            0 => {
                let x = f64s(rng, &shape, &signed(0.5, 1.5));
                all_diff(
                    Primitive::Reduce {
                        op: ReduceOp::Prod,
                        axes,
                    },
                    vec![x],
                )
            }
            1 => {
                let x = f64s(rng, &shape, &range(-3.0, 3.0));
                let axis = rng.below(r);
                all_diff(
                    Primitive::Scan {
                        op: ScanOp::Sum,
                        axis,
                        reverse: rng.chance(0.5),
                    },
                    vec![x],
                )
            }
            2 => {
                let x = f64s(rng, &shape, &signed(0.5, 1.5));
                let axis = rng.below(r);
                all_diff(
                    Primitive::Scan {
                        op: ScanOp::Prod,
                        axis,
                        reverse: rng.chance(0.5),
                    },
                    vec![x],
                )
            }
            3 => {
                let v = distinct(rng, numel(&shape));
                let x = place(rng, &v, &shape);
                let op = rng.pick(&[ReduceOp::Max, ReduceOp::Min]);
                // Piecewise linear: the second derivative is 0.
                composite(format!("{op:?} reduce, squared"), vec![x], move |x| {
                    let y = Tensor::from_op(
                        Primitive::Reduce {
                            op,
                            axes: axes.clone(),
                        },
                        vec![x[0].clone()],
                    );
                    &y * &y
                })
            }
            4 => {
                let axis = axis_of(rng, r);
                let x = f64s(rng, &shape, &range(-3.0, 3.0));
                composite(format!("softmax(axis={axis})"), vec![x], move |x| {
                    nn::softmax(&x[0], axis)
                })
            }
            5 => {
                let axis = axis_of(rng, r);
                let x = f64s(rng, &shape, &range(-3.0, 3.0));
                composite(format!("log_softmax(axis={axis})"), vec![x], move |x| {
                    nn::log_softmax(&x[0], axis)
                })
            }
            6 => {
                let norm = vec![2 + rng.below(3)];
                let mut s = shape.clone();
                s.push(norm[0]);
                let inputs = vec![
                    f64s(rng, &s, &range(-3.0, 3.0)),
                    f64s(rng, &norm, &range(-2.0, 2.0)),
                    f64s(rng, &norm, &range(-2.0, 2.0)),
                ];
                composite(
                    format!("layer_norm(normalized_shape={norm:?})"),
                    inputs,
                    move |x| nn::layer_norm(&x[0], &norm, Some(&x[1]), Some(&x[2]), 1e-5),
                )
            }
            7 => {
                let ax: Vec<i64> = axes.iter().map(|&a| a as i64).collect();
                let x = f64s(rng, &shape, &range(-3.0, 3.0));
                composite(format!("logsumexp(axes={ax:?})"), vec![x], move |x| {
                    x[0].logsumexp(ax.clone(), false)
                })
            }
            8 => {
                let (c, o, k) = (
                    1 + rng.below(2),
                    1 + rng.below(2),
                    (1 + rng.below(2), 1 + rng.below(2)),
                );
                let stride = (1 + rng.below(2), 1 + rng.below(2));
                let (h, w) = (k.0 + rng.below(2), k.1 + rng.below(2));
                let inputs = vec![
                    f64s(rng, &[1, c, h, w], &range(-2.0, 2.0)),
                    f64s(rng, &[o, c, k.0, k.1], &range(-1.0, 1.0)),
                ];
                composite(
                    format!("conv2d(stride={stride:?}), squared"),
                    inputs,
                    move |x| {
                        let y = nn::conv2d(&x[0], &x[1], None, stride, (0, 0), (1, 1), 1);
                        &y * &y
                    },
                )
            }
            _ => {
                let axis = rng.below(r);
                let n = shape[axis];
                let mut ishape = shape.clone();
                ishape[axis] = 1 + rng.below(3);
                let idx = indices(rng, &ishape, n);
                let x = f64s(rng, &shape, &range(-2.0, 2.0));
                let idx_t = Tensor::from_array(idx.array());
                composite(format!("gather(axis={axis}), cubed"), vec![x], move |x| {
                    let y =
                        Tensor::from_op(Primitive::Gather(axis), vec![x[0].clone(), idx_t.clone()]);
                    &y * &y * &y
                })
            }
        })
    });
}

/// The product's first-order rule is exact at zeros (no division), so its
/// Hessian should be too: d2/dx2 prod([x]) = 0 at x = 0, and at x = (0, 2)
/// the Hessian of x0*x1 is [[0, 1], [1, 0]].
#[test]
fn second_order_prod_with_zeros() {
    check_all("second order prod with zeros", 30, Via::Second, |rng, _| {
        let r = 1 + rng.below(2);
        let shape: Vec<usize> = (0..r).map(|_| 1 + rng.below(3)).collect();
        let axes: Vec<usize> = (0..r).filter(|_| rng.chance(0.6)).collect();
        let mut v: Vec<f64> = (0..numel(&shape)).map(|_| signed(0.5, 1.5)(rng)).collect();
        let zeros = 1 + rng.below(2);
        for _ in 0..zeros {
            let k = rng.below(v.len());
            v[k] = 0.0;
        }
        let x = place(rng, &v, &shape);
        Some(all_diff(
            Primitive::Reduce {
                op: ReduceOp::Prod,
                axes,
            },
            vec![x],
        ))
    });
}

const LAST_AXIS_OPS: [LastAxisOp; 5] = [
    LastAxisOp::Softmax,
    LastAxisOp::LogSoftmax,
    LastAxisOp::LogSumExp,
    LastAxisOp::LayerNorm { eps: 1e-3 },
    LastAxisOp::RmsNorm { eps: 1e-3 },
];

#[test]
fn last_axis() {
    check_all("last axis", 24 * LAST_AXIS_OPS.len(), Via::Vjp, |rng, i| {
        let op = LAST_AXIS_OPS[i % LAST_AXIS_OPS.len()];
        let rank = 1 + rng.below(3);
        let mut shape = rng.shape(rank);
        if rng.chance(0.2) {
            *shape.last_mut().unwrap() = 1;
        }
        let gen: Box<dyn Fn(&mut Rng) -> f64> = match op {
            // Large magnitudes: the rules must not overflow either.
            LastAxisOp::Softmax | LastAxisOp::LogSoftmax | LastAxisOp::LogSumExp
                if rng.chance(0.3) =>
            {
                Box::new(range(95.0, 101.0))
            }
            _ => Box::new(range(-3.0, 3.0)),
        };
        let x = f64s(rng, &shape, &*gen);
        Some(all_diff(Primitive::LastAxis(op), vec![x]))
    });
}

#[test]
fn second_order_last_axis() {
    check_all(
        "second order last axis",
        6 * LAST_AXIS_OPS.len(),
        Via::Second,
        |rng, i| {
            let op = LAST_AXIS_OPS[i % LAST_AXIS_OPS.len()];
            let rank = 1 + rng.below(2);
            let shape: Vec<usize> = (0..rank).map(|_| 1 + rng.below(4)).collect();
            let x = f64s(rng, &shape, &range(-2.0, 2.0));
            Some(all_diff(Primitive::LastAxis(op), vec![x]))
        },
    );
}
