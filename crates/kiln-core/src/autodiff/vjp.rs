//! One VJP rule per primitive, written in primitives (so rules are
//! themselves differentiable: `grad(grad(f))` needs nothing more).
//!
//! A rule receives the primitive, its inputs, its output and the output's
//! cotangent `g` (same shape and dtype as the output) and returns one
//! optional cotangent per input, of that input's shape and dtype. `None`
//! means "no gradient flows" (integer/bool results, piecewise-constant ops,
//! indices, keys).

use crate::dtype::DType;
use crate::ops::creation::zeros;
use crate::ops::elementwise::where_;
use crate::primitive::{BinaryOp, LastAxisOp, Primitive, ReduceOp, ScanOp, UnaryOp};
use crate::tensor::Tensor;

fn op(prim: Primitive, inputs: Vec<Tensor>) -> Tensor {
    Tensor::from_op(prim, inputs)
}

/// Sums `g` over the axes that `Broadcast` expanded, back to `shape`.
pub(crate) fn unbroadcast(g: &Tensor, shape: &[usize]) -> Tensor {
    if g.shape() == shape {
        return g.clone();
    }
    let lead = g.ndim() - shape.len();
    let axes: Vec<usize> = (0..g.ndim())
        .filter(|&i| i < lead || (shape[i - lead] == 1 && g.shape()[i] != 1))
        .collect();
    let summed = if axes.is_empty() {
        g.clone()
    } else {
        op(
            Primitive::Reduce {
                op: ReduceOp::Sum,
                axes,
            },
            vec![g.clone()],
        )
    };
    op(Primitive::Reshape(shape.to_vec()), vec![summed])
}

/// Pads `t` along one axis with zeros.
fn pad_axis(t: &Tensor, axis: usize, lo: usize, hi: usize) -> Tensor {
    if lo == 0 && hi == 0 {
        return t.clone();
    }
    let mut l = vec![0; t.ndim()];
    let mut h = vec![0; t.ndim()];
    l[axis] = lo;
    h[axis] = hi;
    op(
        Primitive::Pad {
            lo: l,
            hi: h,
            value: 0.0,
        },
        vec![t.clone()],
    )
}

/// `t[start : start + len*step : step]` along one axis.
fn slice_axis(t: &Tensor, axis: usize, start: usize, step: isize, len: usize) -> Tensor {
    let mut st = vec![0; t.ndim()];
    let mut sp = vec![1; t.ndim()];
    let mut sh = t.shape().to_vec();
    st[axis] = start;
    sp[axis] = step;
    sh[axis] = len;
    op(
        Primitive::Slice {
            start: st,
            step: sp,
            shape: sh,
        },
        vec![t.clone()],
    )
}

/// The adjoint of a strided slice: places `g` at the sliced positions of a
/// zero tensor of `in_shape` (interleaving zeros for steps > 1).
fn slice_adjoint(g: &Tensor, in_shape: &[usize], start: &[usize], step: &[isize]) -> Tensor {
    if g.numel() == 0 {
        return zeros(in_shape, g.dtype());
    }
    let mut t = g.clone();
    for axis in 0..in_shape.len() {
        let len = t.shape()[axis];
        let (mut first, mut s) = (start[axis], step[axis]);
        if s < 0 {
            // Walk the same positions forwards.
            t = slice_axis(&t, axis, len - 1, -1, len);
            first = (first as isize + (len as isize - 1) * s) as usize;
            s = -s;
        }
        let s = s as usize;
        if s > 1 {
            let mut split = t.shape().to_vec();
            split.insert(axis + 1, 1);
            t = op(Primitive::Reshape(split), vec![t]);
            t = pad_axis(&t, axis + 1, 0, s - 1);
            let mut merged = t.shape().to_vec();
            merged.remove(axis + 1);
            merged[axis] = len * s;
            t = op(Primitive::Reshape(merged), vec![t]);
        }
        let n = in_shape[axis];
        let covered = first + t.shape()[axis];
        t = if covered > n {
            let t = pad_axis(&t, axis, first, 0);
            slice_axis(&t, axis, 0, 1, n)
        } else {
            pad_axis(&t, axis, first, n - covered)
        };
    }
    t
}

fn swap_last(t: &Tensor) -> Tensor {
    let r = t.ndim();
    let mut perm: Vec<usize> = (0..r).collect();
    perm.swap(r - 2, r - 1);
    op(Primitive::Permute(perm), vec![t.clone()])
}

/// `g * d(op)/dx` for the unary primitives.
fn unary_vjp(u: UnaryOp, x: &Tensor, y: &Tensor, g: &Tensor) -> Option<Tensor> {
    use UnaryOp::*;
    Some(match u {
        Neg => -g,
        Abs => g * x.sign(),
        Exp => g * y,
        Log => g / x,
        Log1p => g / (x + 1.0),
        Expm1 => g * (y + 1.0),
        Sqrt => g * 0.5 / y,
        Rsqrt => g * -0.5 * y * y * y,
        Sin => g * x.cos(),
        Cos => -(g * x.sin()),
        Tan => g * (y * y + 1.0),
        Tanh => g * (1.0 - y * y),
        Sigmoid => g * y * (1.0 - y),
        Erf => g * std::f64::consts::FRAC_2_SQRT_PI * (-(x * x)).exp(),
        Recip => -(g * y * y),
        Sign | Floor | Ceil | Round | LogicalNot | IsNan | IsInf => return None,
    })
}

/// Cotangents of `a` and `b` for the binary primitives.
fn binary_vjp(
    b_op: BinaryOp,
    a: &Tensor,
    b: &Tensor,
    y: &Tensor,
    g: &Tensor,
) -> [Option<Tensor>; 2] {
    use BinaryOp::*;
    match b_op {
        Add => [Some(g.clone()), Some(g.clone())],
        Sub => [Some(g.clone()), Some(-g)],
        Mul => [Some(g * b), Some(g * a)],
        Div => [Some(g / b), Some(-(g * a) / (b * b))],
        Rem => [Some(g.clone()), Some(-(g * a.div(b).floor()))],
        Pow => {
            let da = where_(&b.eq(0.0), 0.0, b * a.pow(b - 1.0));
            let log_a = where_(&a.eq(0.0), 0.0, a.log());
            [Some(g * da), Some(g * y * log_a)]
        }
        Maximum | Minimum => {
            // Ties split the gradient evenly, as JAX does.
            let (wins_a, wins_b) = if b_op == Maximum {
                (a.gt(b), b.gt(a))
            } else {
                (a.lt(b), b.lt(a))
            };
            let tie = a.eq(b).astype(g.dtype()) * 0.5;
            let wa = wins_a.astype(g.dtype()) + &tie;
            let wb = wins_b.astype(g.dtype()) + &tie;
            [Some(g * wa), Some(g * wb)]
        }
        FloorDiv | LogicalAnd | LogicalOr => [None, None],
    }
}

/// Gradient of a product reduction that stays exact when inputs are zero:
/// each element's cotangent is `g` times the product of all the others.
fn prod_vjp(x: &Tensor, axes: &[usize], g: &Tensor) -> Tensor {
    let rank = x.ndim();
    let mut perm: Vec<usize> = (0..rank).filter(|i| !axes.contains(i)).collect();
    perm.extend_from_slice(axes);
    let xt = op(Primitive::Permute(perm.clone()), vec![x.clone()]);
    let kept: Vec<usize> = perm[..rank - axes.len()]
        .iter()
        .map(|&i| x.shape()[i])
        .collect();
    let n: usize = axes.iter().map(|&i| x.shape()[i]).product();
    let mut flat_shape = kept.clone();
    flat_shape.push(n);
    let flat = op(Primitive::Reshape(flat_shape.clone()), vec![xt.clone()]);
    let last = kept.len();
    let exclusive = |reverse: bool| {
        let c = op(
            Primitive::Scan {
                op: ScanOp::Prod,
                axis: last,
                reverse,
            },
            vec![flat.clone()],
        );
        if n == 0 {
            return c;
        }
        let mut lo = vec![0; last + 1];
        let mut hi = vec![0; last + 1];
        let shifted = if reverse {
            hi[last] = 1;
            slice_axis(&c, last, 1, 1, n - 1)
        } else {
            lo[last] = 1;
            slice_axis(&c, last, 0, 1, n - 1)
        };
        op(Primitive::Pad { lo, hi, value: 1.0 }, vec![shifted])
    };
    let others = exclusive(false) * exclusive(true);
    let mut g_shape = kept;
    g_shape.push(1);
    let gf = op(Primitive::Reshape(g_shape), vec![g.clone()]);
    let gf = op(Primitive::Broadcast(flat_shape), vec![gf]);
    let d = op(Primitive::Reshape(xt.shape().to_vec()), vec![gf * others]);
    let mut inverse = vec![0; rank];
    for (i, &p) in perm.iter().enumerate() {
        inverse[p] = i;
    }
    op(Primitive::Permute(inverse), vec![d])
}

/// Gradient of a cumulative product, exact when inputs are zero (no
/// division): `dx_k = (prod_{j<k} x_j) * sum_{i>=k} g_i prod_{k<j<=i} x_j`.
/// The inner products come from one cumulative product over an `n x n`
/// masked copy of each row, so it costs `O(n^2)` memory per row.
fn cumprod_vjp(x: &Tensor, g: &Tensor, axis: usize, reverse: bool) -> Tensor {
    let rank = x.ndim();
    let n = x.shape()[axis];
    if n == 0 {
        return g.clone();
    }
    let flip = |t: &Tensor| {
        if reverse {
            slice_axis(t, axis, n - 1, -1, n)
        } else {
            t.clone()
        }
    };
    let mut perm: Vec<usize> = (0..rank).filter(|&i| i != axis).collect();
    perm.push(axis);
    let to_last = |t: &Tensor| op(Primitive::Permute(perm.clone()), vec![flip(t)]);
    let (xt, gt) = (to_last(x), to_last(g));
    let lead = xt.shape()[..rank - 1].to_vec();
    let last = rank - 1;
    let mut row_shape = lead.clone();
    row_shape.extend([1, n]);
    let mut square = lead.clone();
    square.extend([n, n]);
    let rows = |t: &Tensor| {
        op(
            Primitive::Broadcast(square.clone()),
            vec![op(Primitive::Reshape(row_shape.clone()), vec![t.clone()])],
        )
    };
    let mask = |keep: fn(usize, usize) -> bool| {
        let m: Vec<bool> = (0..n * n).map(|p| keep(p / n, p % n)).collect();
        let m = Tensor::from_array(crate::array::Array::from_vec(m, vec![n, n]));
        op(Primitive::Broadcast(square.clone()), vec![m])
    };
    let ones = crate::ops::creation::ones(&square, x.dtype());
    let zeros_sq = zeros(&square, x.dtype());
    // after[k, i] = prod_{k<j<=i} x_j for i >= k, else 0.
    let picked = op(Primitive::Select, vec![mask(|k, j| j > k), rows(&xt), ones]);
    let after = op(
        Primitive::Scan {
            op: ScanOp::Prod,
            axis: last + 1,
            reverse: false,
        },
        vec![picked],
    );
    let after = op(
        Primitive::Select,
        vec![mask(|k, i| i >= k), after, zeros_sq],
    );
    let mut col = lead.clone();
    col.extend([n, 1]);
    let weighted = op(
        Primitive::Reduce {
            op: ReduceOp::Sum,
            axes: vec![last + 1],
        },
        vec![after * rows(&gt)],
    );
    let weighted = op(Primitive::Reshape(xt.shape().to_vec()), vec![weighted]);
    // before[k] = prod_{j<k} x_j: the inclusive product shifted by one.
    let inclusive = op(
        Primitive::Scan {
            op: ScanOp::Prod,
            axis: last,
            reverse: false,
        },
        vec![xt.clone()],
    );
    let mut lo = vec![0; rank];
    lo[last] = 1;
    let before = op(
        Primitive::Pad {
            lo,
            hi: vec![0; rank],
            value: 1.0,
        },
        vec![slice_axis(&inclusive, last, 0, 1, n - 1)],
    );
    let d = before * weighted;
    let mut inverse = vec![0; rank];
    for (i, &p) in perm.iter().enumerate() {
        inverse[p] = i;
    }
    flip(&op(Primitive::Permute(inverse), vec![d]))
}

/// Cotangent of the input of a `LastAxis` row function with input `x`,
/// output `y` and cotangent `g`. Half floats are computed in `f32` (as the
/// forward kernel is) and the result cast back. Each rule uses the
/// primitive's output `y`, so differentiating it again reuses this rule.
fn last_axis_vjp(l: LastAxisOp, x: &Tensor, y: &Tensor, g: &Tensor) -> Tensor {
    let d = x.dtype();
    let cd = match d {
        DType::F16 | DType::BF16 => DType::F32,
        d => d,
    };
    let (x, y, g) = (x.astype(cd), y.astype(cd), g.astype(cd));
    let last = x.ndim() - 1;
    let n = x.shape()[last] as f64;
    // Sum and mean over the last axis, kept with size 1.
    let sum = |t: &Tensor| {
        op(
            Primitive::Reduce {
                op: ReduceOp::Sum,
                axes: vec![last],
            },
            vec![t.clone()],
        )
    };
    let mean = |t: &Tensor| sum(t) / n;
    let dx = match l {
        LastAxisOp::Softmax => &y * (&g - sum(&(&g * &y))),
        LastAxisOp::LogSoftmax => &g - y.exp() * sum(&g),
        LastAxisOp::LogSumExp => &g * (&x - &y).exp(),
        LastAxisOp::LayerNorm { eps } => {
            let c = &x - mean(&x);
            let r = (mean(&(&c * &c)) + eps).rsqrt();
            r * (&g - mean(&g) - &y * mean(&(&g * &y)))
        }
        LastAxisOp::RmsNorm { eps } => {
            let r = (mean(&(&x * &x)) + eps).rsqrt();
            r * (&g - &y * mean(&(&g * &y)))
        }
    };
    dx.astype(d)
}

/// The VJP of `prim` applied to `inputs` giving `y`, at cotangent `g`.
pub fn vjp(prim: &Primitive, inputs: &[Tensor], y: &Tensor, g: &Tensor) -> Vec<Option<Tensor>> {
    use Primitive::*;
    let x = &inputs[0];
    match prim {
        Unary(u) => vec![unary_vjp(*u, x, y, g)],
        Binary(b) => binary_vjp(*b, x, &inputs[1], y, g).into(),
        Compare(_) => vec![None, None],
        Select => vec![None, Some(where_(x, g, 0.0)), Some(where_(x, 0.0, g))],
        Cast(_) => {
            vec![(x.dtype().is_float() && g.dtype().is_float()).then(|| g.astype(x.dtype()))]
        }
        Reshape(_) => vec![Some(op(Reshape(x.shape().to_vec()), vec![g.clone()]))],
        DebugPrint(_) => vec![Some(g.clone())],
        Permute(perm) => {
            let mut inverse = vec![0; perm.len()];
            for (i, &p) in perm.iter().enumerate() {
                inverse[p] = i;
            }
            vec![Some(op(Permute(inverse), vec![g.clone()]))]
        }
        Broadcast(_) => vec![Some(unbroadcast(g, x.shape()))],
        Slice { start, step, .. } => vec![Some(slice_adjoint(g, x.shape(), start, step))],
        Windows {
            window,
            stride,
            dilation,
        } => {
            let k = window.len();
            let spatial = x.shape()[x.ndim() - k..].to_vec();
            vec![Some(op(
                WindowsAdjoint {
                    window: window.clone(),
                    stride: stride.clone(),
                    dilation: dilation.clone(),
                    spatial,
                },
                vec![g.clone()],
            ))]
        }
        WindowsAdjoint {
            window,
            stride,
            dilation,
            ..
        } => vec![Some(op(
            Windows {
                window: window.clone(),
                stride: stride.clone(),
                dilation: dilation.clone(),
            },
            vec![g.clone()],
        ))],
        Pad { lo, .. } => vec![Some(op(
            Slice {
                start: lo.clone(),
                step: vec![1; lo.len()],
                shape: x.shape().to_vec(),
            },
            vec![g.clone()],
        ))],
        Concat(axis) => {
            let mut at = 0;
            inputs
                .iter()
                .map(|t| {
                    let n = t.shape()[*axis];
                    let s = slice_axis(g, *axis, at, 1, n);
                    at += n;
                    Some(s)
                })
                .collect()
        }
        Gather(axis) => {
            let base = zeros(x.shape(), g.dtype());
            vec![
                Some(op(
                    ScatterAdd(*axis),
                    vec![base, inputs[1].clone(), g.clone()],
                )),
                None,
            ]
        }
        ScatterAdd(axis) => vec![
            Some(g.clone()),
            None,
            Some(op(Gather(*axis), vec![g.clone(), inputs[1].clone()])),
        ],
        Reduce { op: r, axes } => vec![Some(match r {
            ReduceOp::Sum => op(Broadcast(x.shape().to_vec()), vec![g.clone()]),
            ReduceOp::Max | ReduceOp::Min => {
                let yb = op(Broadcast(x.shape().to_vec()), vec![y.clone()]);
                let mask = x.eq(&yb).astype(g.dtype());
                let count = op(
                    Reduce {
                        op: ReduceOp::Sum,
                        axes: axes.clone(),
                    },
                    vec![mask.clone()],
                );
                op(Broadcast(x.shape().to_vec()), vec![g / count]) * mask
            }
            ReduceOp::Prod => prod_vjp(x, axes, g),
        })],
        Scan {
            op: s,
            axis,
            reverse,
        } => vec![Some(match s {
            ScanOp::Sum => op(
                Scan {
                    op: ScanOp::Sum,
                    axis: *axis,
                    reverse: !reverse,
                },
                vec![g.clone()],
            ),
            ScanOp::Prod => cumprod_vjp(x, g, *axis, *reverse),
        })],
        LastAxis(l) => vec![Some(last_axis_vjp(*l, x, y, g))],
        Matmul => vec![
            Some(op(Matmul, vec![g.clone(), swap_last(&inputs[1])])),
            Some(op(Matmul, vec![swap_last(x), g.clone()])),
        ],
        ArgReduce { .. } | Argsort { .. } | Random { .. } | StopGradient => {
            vec![None; inputs.len()]
        }
        Custom(rule) => rule.0.vjp(inputs, y, g),
    }
}

/// True if gradients can flow through values of this dtype.
pub(crate) fn differentiable(d: DType) -> bool {
    d.is_float()
}
