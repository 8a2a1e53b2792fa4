//! Neural-network ops with PyTorch's names and semantics: activations,
//! softmax, normalization layers, convolutions and pooling.
//!
//! All are compositions of primitives. Convolutions and pools pad
//! ([`Primitive::Pad`]), take sliding windows ([`Primitive::Windows`], a
//! zero-copy view) and then do one batched matmul (im2col) or one reduction,
//! so their gradients come from the adjoints of those few primitives.
//!
//! Dtypes: activations other than `relu` compute in the input's float dtype
//! (ints and bools become the default float, as for `exp`). Softmax and the
//! norms compute in `f32` when the input is `f16`/`bf16` (as PyTorch does
//! internally) and cast the result back.

use super::{misuse, norm_axis};
use crate::dtype::DType;
use crate::ops::elementwise::where_;
use crate::primitive::{LastAxisOp, Primitive, ReduceOp};
use crate::shape::numel;
use crate::tensor::{describe, Tensor};

/// SELU's `alpha` (PyTorch's constant).
pub const SELU_ALPHA: f64 = 1.673_263_242_354_377_3;
/// SELU's `scale` (PyTorch's constant).
pub const SELU_SCALE: f64 = 1.050_700_987_355_480_5;

/// `x` reduced over `axes` with them kept at size 1 (the primitive's form,
/// which broadcasts back against `x`).
#[track_caller]
fn reduce_keep(x: &Tensor, op: ReduceOp, axes: Vec<usize>) -> Tensor {
    Tensor::from_op(Primitive::Reduce { op, axes }, vec![x.clone()])
}

/// The dtype reductions of a `d`-typed float input run in: f32 for the half
/// types, `d` otherwise.
fn accumulate_dtype(d: DType) -> DType {
    match d {
        DType::F16 | DType::BF16 => DType::F32,
        d => d,
    }
}

/// Machine epsilon of a float dtype (`torch.finfo(d).eps`).
fn finfo_eps(d: DType) -> f64 {
    match d {
        DType::F16 => 9.765_625e-4,
        DType::BF16 => 7.812_5e-3,
        DType::F64 => f64::EPSILON,
        _ => f32::EPSILON as f64,
    }
}

/// `x` in its float dtype.
#[track_caller]
fn as_float(x: &Tensor) -> Tensor {
    x.astype(x.dtype().to_float())
}

impl Tensor {
    /// `max(x, 0)`; see [`relu`].
    #[track_caller]
    pub fn relu(&self) -> Tensor {
        relu(self)
    }

    /// GELU; see [`gelu`].
    #[track_caller]
    pub fn gelu(&self, approximate: bool) -> Tensor {
        gelu(self, approximate)
    }

    /// `x * sigmoid(x)`; see [`silu`].
    #[track_caller]
    pub fn silu(&self) -> Tensor {
        silu(self)
    }

    /// Leaky ReLU; see [`leaky_relu`].
    #[track_caller]
    pub fn leaky_relu(&self, negative_slope: f64) -> Tensor {
        leaky_relu(self, negative_slope)
    }

    /// ELU; see [`elu`].
    #[track_caller]
    pub fn elu(&self, alpha: f64) -> Tensor {
        elu(self, alpha)
    }

    /// SELU; see [`selu`].
    #[track_caller]
    pub fn selu(&self) -> Tensor {
        selu(self)
    }

    /// Softmax along `axis`; see [`softmax`].
    #[track_caller]
    pub fn softmax(&self, axis: i64) -> Tensor {
        softmax(self, axis)
    }

    /// Log-softmax along `axis`; see [`log_softmax`].
    #[track_caller]
    pub fn log_softmax(&self, axis: i64) -> Tensor {
        log_softmax(self, axis)
    }
}

/// `max(x, 0)` (`torch.relu`), in the input's dtype. NaN stays NaN; the
/// gradient at 0 is 0, as in PyTorch (it is a select on `x <= 0`).
#[track_caller]
pub fn relu(x: &Tensor) -> Tensor {
    if x.dtype() == DType::Bool {
        return x.clone();
    }
    let zero = Tensor::scalar_of(0.0, x.dtype());
    where_(&x.le(&zero), &zero, x)
}

/// GELU (`torch.nn.functional.gelu`): `x * Phi(x)` with the exact normal
/// CDF `0.5 * (1 + erf(x / sqrt 2))`, or with `approximate = true` PyTorch's
/// `approximate="tanh"`: `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`.
#[track_caller]
pub fn gelu(x: &Tensor, approximate: bool) -> Tensor {
    let x = as_float(x);
    let inner = if approximate {
        let c = (2.0 / std::f64::consts::PI).sqrt();
        ((&x + &x * &x * &x * 0.044715) * c).tanh()
    } else {
        (&x * std::f64::consts::FRAC_1_SQRT_2).erf()
    };
    &x * 0.5 * (inner + 1.0)
}

/// SiLU / swish (`torch.nn.functional.silu`): `x * sigmoid(x)`.
#[track_caller]
pub fn silu(x: &Tensor) -> Tensor {
    let x = as_float(x);
    &x * x.sigmoid()
}

/// Leaky ReLU (`torch.nn.functional.leaky_relu`): `x` where `x > 0`, else
/// `negative_slope * x` (PyTorch's default slope is 0.01).
#[track_caller]
pub fn leaky_relu(x: &Tensor, negative_slope: f64) -> Tensor {
    let x = as_float(x);
    where_(&x.gt(0.0), &x, &x * negative_slope)
}

/// ELU (`torch.nn.functional.elu`): `x` where `x > 0`, else
/// `alpha * (exp(x) - 1)` (PyTorch's default alpha is 1.0). The exponential
/// only sees `min(x, 0)`, so large inputs give no inf (nor NaN gradients).
#[track_caller]
pub fn elu(x: &Tensor, alpha: f64) -> Tensor {
    let x = as_float(x);
    let neg = x.minimum(0.0).expm1() * alpha;
    where_(&x.gt(0.0), &x, neg)
}

/// SELU (`torch.nn.functional.selu`): `scale * elu(x, alpha)` with PyTorch's
/// constants [`SELU_SCALE`] and [`SELU_ALPHA`].
#[track_caller]
pub fn selu(x: &Tensor) -> Tensor {
    elu(x, SELU_ALPHA) * SELU_SCALE
}

/// Softmax along `axis` (negative counts from the end), numerically stable:
/// the maximum along the axis (detached: softmax does not depend on it) is
/// subtracted before exponentiating, so inputs like 1000 give no overflow.
/// A rank-0 input is treated as one element (the result is 1). Ints and
/// bools compute in the default float.
#[track_caller]
pub fn softmax(x: &Tensor, axis: i64) -> Tensor {
    softmax_impl("softmax", x, axis, false)
}

/// `log(softmax(x))` along `axis`, computed stably as
/// `(x - max) - log(sum(exp(x - max)))`.
#[track_caller]
pub fn log_softmax(x: &Tensor, axis: i64) -> Tensor {
    softmax_impl("log_softmax", x, axis, true)
}

#[track_caller]
fn softmax_impl(op: &str, x: &Tensor, axis: i64, log: bool) -> Tensor {
    let out_dtype = x.dtype().to_float();
    let xs = if x.ndim() == 0 {
        x.reshape([1usize])
    } else {
        x.clone()
    };
    let a = norm_axis(op, axis, xs.ndim());
    let xs = xs.astype(accumulate_dtype(out_dtype));
    if a == xs.ndim() - 1 {
        // Along the last axis: one single-pass row kernel.
        let op = if log {
            LastAxisOp::LogSoftmax
        } else {
            LastAxisOp::Softmax
        };
        let y = Tensor::from_op(Primitive::LastAxis(op), vec![xs]);
        return y.astype(out_dtype).reshape(x.shape());
    }
    let m = reduce_keep(&xs, ReduceOp::Max, vec![a]).detach();
    let shifted = &xs - &m;
    let e = shifted.exp();
    let s = reduce_keep(&e, ReduceOp::Sum, vec![a]);
    let y = if log { shifted - s.log() } else { e / s };
    y.astype(out_dtype).reshape(x.shape())
}

/// Checks that the trailing dims of `x` are `normalized_shape` and that an
/// affine parameter has exactly that shape; returns the normalized axes.
#[track_caller]
fn norm_axes(
    op: &str,
    x: &Tensor,
    normalized_shape: &[usize],
    params: &[(&str, Option<&Tensor>)],
) -> Vec<usize> {
    let k = normalized_shape.len();
    if x.ndim() < k || &x.shape()[x.ndim() - k..] != normalized_shape {
        misuse(
            op,
            format!(
                "normalized_shape {normalized_shape:?} is not the trailing dims of the input {:?}",
                x.shape()
            ),
        );
    }
    for (name, p) in params {
        if let Some(p) = p {
            if p.shape() != normalized_shape {
                misuse(
                    op,
                    format!(
                        "{name} has shape {:?}, expected normalized_shape {normalized_shape:?}",
                        p.shape()
                    ),
                );
            }
        }
    }
    (x.ndim() - k..x.ndim()).collect()
}

/// The float dtype of a norm's result: the input's float dtype promoted
/// with the affine parameters'.
fn norm_dtype(x: &Tensor, params: &[Option<&Tensor>]) -> DType {
    params
        .iter()
        .flatten()
        .fold(x.dtype().to_float(), |d, p| d.promote(p.dtype()).to_float())
}

/// A `LastAxis` norm over the trailing `normalized_shape` dims of `x`
/// (any number of them, none included): flattened into one last axis, the
/// row kernel, and the shape restored.
#[track_caller]
fn norm_rows(x: &Tensor, normalized_shape: &[usize], op: LastAxisOp) -> Tensor {
    let lead = x.ndim() - normalized_shape.len();
    let mut rows = x.shape()[..lead].to_vec();
    rows.push(numel(normalized_shape));
    let y = Tensor::from_op(Primitive::LastAxis(op), vec![x.reshape(rows)]);
    y.reshape(x.shape())
}

/// Layer normalization (`torch.nn.functional.layer_norm`): over the
/// trailing dims given by `normalized_shape`,
/// `(x - mean) / sqrt(var + eps) * weight + bias` with the biased variance.
/// `weight` and `bias` (optional) have shape `normalized_shape`. PyTorch's
/// default `eps` is 1e-5.
#[track_caller]
pub fn layer_norm(
    x: &Tensor,
    normalized_shape: &[usize],
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Tensor {
    let axes = norm_axes(
        "layer_norm",
        x,
        normalized_shape,
        &[("weight", weight), ("bias", bias)],
    );
    let out_dtype = norm_dtype(x, &[weight, bias]);
    let cd = accumulate_dtype(out_dtype);
    let xc = x.astype(cd);
    let mut y = if axes.len() == 1 {
        Tensor::from_op(Primitive::LastAxis(LastAxisOp::LayerNorm { eps }), vec![xc])
    } else {
        norm_rows(&xc, normalized_shape, LastAxisOp::LayerNorm { eps })
    };
    if let Some(w) = weight {
        y = y * w.astype(cd);
    }
    if let Some(b) = bias {
        y = y + b.astype(cd);
    }
    y.astype(out_dtype)
}

/// RMS normalization (`torch.nn.functional.rms_norm`): over the trailing
/// dims given by `normalized_shape`, `x / sqrt(mean(x^2) + eps) * weight`.
/// `eps: None` uses the machine epsilon of the input's float dtype, as
/// PyTorch does.
#[track_caller]
pub fn rms_norm(
    x: &Tensor,
    normalized_shape: &[usize],
    weight: Option<&Tensor>,
    eps: Option<f64>,
) -> Tensor {
    let axes = norm_axes("rms_norm", x, normalized_shape, &[("weight", weight)]);
    let out_dtype = norm_dtype(x, &[weight]);
    let eps = eps.unwrap_or_else(|| finfo_eps(x.dtype().to_float()));
    let cd = accumulate_dtype(out_dtype);
    let xc = x.astype(cd);
    let op = LastAxisOp::RmsNorm { eps };
    let mut y = if axes.len() == 1 {
        Tensor::from_op(Primitive::LastAxis(op), vec![xc])
    } else {
        norm_rows(&xc, normalized_shape, op)
    };
    if let Some(w) = weight {
        y = y * w.astype(cd);
    }
    y.astype(out_dtype)
}

/// `"H, W"`-style names of `k` spatial dims for messages.
fn spatial_names(k: usize) -> &'static str {
    match k {
        1 => "L",
        2 => "H, W",
        _ => "D, H, W",
    }
}

/// N-d convolution (cross-correlation, as PyTorch) over the last `k =
/// stride.len()` dims: pad, windows, one batched matmul.
///
/// `x: [N, C, S..]` (or unbatched `[C, S..]`), `w: [O, C/groups, W..]`,
/// `bias: [O]`. The windows `[N, g, C/g, O.., W..]` are permuted to
/// `[N, g, C/g * prod(W), prod(O)]` (the im2col matrix, the only copy) and
/// multiplied by the weight viewed as `[g, O/g, C/g * prod(W)]` and broadcast
/// over N, giving `[N, g, O/g, prod(O)]`, which is `[N, O, O..]` in place.
#[allow(clippy::too_many_arguments)]
#[track_caller]
fn conv_nd(
    op: &str,
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    stride: &[usize],
    padding: &[usize],
    dilation: &[usize],
    groups: usize,
) -> Tensor {
    let k = stride.len();
    let names = spatial_names(k);
    let unbatched = x.ndim() == k + 1;
    if x.ndim() != k + 2 && !unbatched {
        misuse(
            op,
            format!(
                "input must be [N, C, {names}] or [C, {names}], got {:?}",
                x.shape()
            ),
        );
    }
    if w.ndim() != k + 2 {
        misuse(
            op,
            format!("weight must be [O, C/groups, {names}], got {:?}", w.shape()),
        );
    }
    let x = if unbatched { x.unsqueeze(0) } else { x.clone() };
    let (n, c) = (x.shape()[0], x.shape()[1]);
    let (o, cg) = (w.shape()[0], w.shape()[1]);
    if groups == 0 || c % groups != 0 || o % groups != 0 || cg * groups != c {
        misuse(
            op,
            format!(
                "groups={groups} does not fit input {:?} and weight {:?} (need C and O divisible by groups \
                 and weight dim 1 = C/groups)",
                x.shape(),
                w.shape()
            ),
        );
    }
    if stride.contains(&0) || dilation.contains(&0) {
        misuse(
            op,
            format!("stride {stride:?} and dilation {dilation:?} must be positive"),
        );
    }
    let window = &w.shape()[2..];
    let spatial = &x.shape()[2..];
    for i in 0..k {
        let span = dilation[i] * window[i].saturating_sub(1) + 1;
        if window[i] == 0 || spatial[i] + 2 * padding[i] < span {
            misuse(
                op,
                format!(
                    "kernel {window:?} (dilation {dilation:?}) does not fit input {:?} padded by {padding:?}",
                    x.shape()
                ),
            );
        }
    }
    if let Some(b) = bias {
        if b.shape() != [o] {
            misuse(
                op,
                format!("bias must have shape [{o}], got {:?}", b.shape()),
            );
        }
    }
    let mut dtype = super::linalg::product_dtype(x.dtype(), w.dtype());
    if let Some(b) = bias {
        dtype = super::linalg::product_dtype(dtype, b.dtype());
    }
    let mut widths = vec![(0, 0); 2];
    widths.extend(padding.iter().map(|&p| (p, p)));
    let xp = x.astype(dtype).pad(&widths, 0.0);
    let mut split = vec![n, groups, cg];
    split.extend_from_slice(&xp.shape()[2..]);
    let win = Tensor::from_op(
        Primitive::Windows {
            window: window.to_vec(),
            stride: stride.to_vec(),
            dilation: dilation.to_vec(),
        },
        vec![xp.reshape(split)],
    );
    // [N, g, C/g, O.., W..] -> [N, g, C/g, W.., O..] -> [N, g, K, P].
    let out_spatial: Vec<usize> = win.shape()[3..3 + k].to_vec();
    let mut perm: Vec<i64> = vec![0, 1, 2];
    perm.extend((3 + k..3 + 2 * k).map(|a| a as i64));
    perm.extend((3..3 + k).map(|a| a as i64));
    let kdim = cg * numel(window);
    let cols = win
        .permute(&perm)
        .reshape([n, groups, kdim, numel(&out_spatial)]);
    let wm = w
        .astype(dtype)
        .reshape([groups, o / groups, kdim])
        .broadcast_to(&[n, groups, o / groups, kdim]);
    let y = Tensor::from_op(Primitive::Matmul, vec![wm, cols]);
    let mut out_shape = vec![n, o];
    out_shape.extend_from_slice(&out_spatial);
    let mut y = y.reshape(out_shape);
    if let Some(b) = bias {
        let mut bshape = vec![o];
        bshape.extend(std::iter::repeat_n(1, k));
        y = y + b.astype(dtype).reshape(bshape);
    }
    if unbatched {
        y.reshape(&y.shape()[1..])
    } else {
        y
    }
}

/// 1-D convolution (`torch.nn.functional.conv1d`; cross-correlation).
///
/// `x: [N, C, L]` (or `[C, L]`), `w: [O, C/groups, K]`, `bias: [O]`; the
/// output is `[N, O, (L + 2*padding - dilation*(K-1) - 1) / stride + 1]`.
/// PyTorch's defaults are stride 1, padding 0, dilation 1, groups 1. Dtypes
/// are promoted (bools compute in i64).
#[allow(clippy::too_many_arguments)]
#[track_caller]
pub fn conv1d(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    stride: usize,
    padding: usize,
    dilation: usize,
    groups: usize,
) -> Tensor {
    conv_nd(
        "conv1d",
        x,
        w,
        bias,
        &[stride],
        &[padding],
        &[dilation],
        groups,
    )
}

/// 2-D convolution (`torch.nn.functional.conv2d`; cross-correlation).
///
/// `x: [N, C, H, W]` (or `[C, H, W]`), `w: [O, C/groups, KH, KW]`,
/// `bias: [O]`; each output dim is
/// `(S + 2*padding - dilation*(K-1) - 1) / stride + 1`. Tuples are
/// `(height, width)`. PyTorch's defaults are stride (1, 1), padding (0, 0),
/// dilation (1, 1), groups 1. Dtypes are promoted (bools compute in i64).
#[allow(clippy::too_many_arguments)]
#[track_caller]
pub fn conv2d(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    stride: (usize, usize),
    padding: (usize, usize),
    dilation: (usize, usize),
    groups: usize,
) -> Tensor {
    conv_nd(
        "conv2d",
        x,
        w,
        bias,
        &[stride.0, stride.1],
        &[padding.0, padding.1],
        &[dilation.0, dilation.1],
        groups,
    )
}

/// Shared checks and windowing of the 2-D pools: `x` padded with `fill`,
/// as windows `[.., OH, OW, KH, KW]`.
#[track_caller]
fn pool_windows(
    op: &str,
    x: &Tensor,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
    fill: f64,
) -> Tensor {
    if x.ndim() != 3 && x.ndim() != 4 {
        misuse(
            op,
            format!(
                "input must be [N, C, H, W] or [C, H, W], got {}",
                describe(std::slice::from_ref(x))
            ),
        );
    }
    if kernel.0 == 0 || kernel.1 == 0 || stride.0 == 0 || stride.1 == 0 {
        misuse(
            op,
            format!("kernel {kernel:?} and stride {stride:?} must be positive"),
        );
    }
    if padding.0 > kernel.0 / 2 || padding.1 > kernel.1 / 2 {
        misuse(
            op,
            format!("padding {padding:?} must be at most half the kernel {kernel:?}"),
        );
    }
    let r = x.ndim();
    let (h, w) = (x.shape()[r - 2], x.shape()[r - 1]);
    if h + 2 * padding.0 < kernel.0 || w + 2 * padding.1 < kernel.1 {
        misuse(
            op,
            format!(
                "kernel {kernel:?} does not fit input {:?} padded by {padding:?}",
                x.shape()
            ),
        );
    }
    let mut widths = vec![(0, 0); r - 2];
    widths.extend([(padding.0, padding.0), (padding.1, padding.1)]);
    Tensor::from_op(
        Primitive::Windows {
            window: vec![kernel.0, kernel.1],
            stride: vec![stride.0, stride.1],
            dilation: vec![1, 1],
        },
        vec![x.pad(&widths, fill)],
    )
}

/// Reduces the window axes (the last two) of `win` and drops them.
#[track_caller]
fn reduce_windows(win: &Tensor, op: ReduceOp) -> Tensor {
    let r = win.ndim();
    let y = reduce_keep(win, op, vec![r - 2, r - 1]);
    y.reshape(&win.shape()[..r - 2])
}

/// 2-D max pooling (`torch.nn.functional.max_pool2d`, `ceil_mode=False`,
/// dilation 1) over the last two dims of `x: [N, C, H, W]` or `[C, H, W]`.
/// Padding is filled with -inf (the dtype's lowest value for ints) and must
/// be at most half the kernel, as in PyTorch. PyTorch's default stride is
/// the kernel size. NaN propagates. The dtype is kept.
#[track_caller]
pub fn max_pool2d(
    x: &Tensor,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
) -> Tensor {
    let fill = if x.dtype() == DType::Bool {
        0.0
    } else {
        f64::NEG_INFINITY
    };
    let win = pool_windows("max_pool2d", x, kernel, stride, padding, fill);
    reduce_windows(&win, ReduceOp::Max)
}

/// 2-D average pooling (`torch.nn.functional.avg_pool2d`, `ceil_mode=False`,
/// `count_include_pad=True`: padded zeros count in the average) over the
/// last two dims of `x: [N, C, H, W]` or `[C, H, W]`. Ints and bools
/// compute in the default float.
#[track_caller]
pub fn avg_pool2d(
    x: &Tensor,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
) -> Tensor {
    let win = pool_windows("avg_pool2d", &as_float(x), kernel, stride, padding, 0.0);
    reduce_windows(&win, ReduceOp::Sum) / (kernel.0 * kernel.1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::{check_grad, rnd};

    fn vals(t: &Tensor) -> Vec<f64> {
        t.to_f64_vec().unwrap()
    }

    fn assert_close(got: &[f64], want: &[f64], tol: f64) {
        assert_eq!(got.len(), want.len(), "lengths differ");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= tol * (1.0 + w.abs()),
                "element {i}: got {g}, want {w}"
            );
        }
    }

    fn f64s(v: &[f64]) -> Tensor {
        Tensor::from_slice(v, &[v.len()]).unwrap()
    }

    #[test]
    fn activations_at_known_points() {
        let x = f64s(&[-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0]);
        assert_close(
            &vals(&gelu(&x, false)),
            &[
                -0.00404969409489031,
                -0.15865525393145707,
                -0.15426876936299344,
                0.0,
                0.34573123063700656,
                0.8413447460685429,
                1.9544997361036416,
                2.99595030590511,
            ],
            1e-12,
        );
        assert_close(
            &vals(&x.gelu(true)),
            &[
                -0.0036373920817729943,
                -0.15880800939172324,
                -0.15428599017485606,
                0.0,
                0.34571400982514394,
                0.8411919906082768,
                1.954597694087775,
                2.996362607918227,
            ],
            1e-12,
        );
        assert_eq!(
            vals(&x.relu()),
            vec![0.0, 0.0, 0.0, 0.0, 0.5, 1.0, 2.0, 3.0]
        );
        let xs = vals(&x);
        let silu_want: Vec<f64> = xs.iter().map(|v| v / (1.0 + (-v).exp())).collect();
        assert_close(&vals(&x.silu()), &silu_want, 1e-12);
        let lrelu: Vec<f64> = xs
            .iter()
            .map(|&v| if v > 0.0 { v } else { 0.01 * v })
            .collect();
        assert_close(&vals(&x.leaky_relu(0.01)), &lrelu, 1e-15);
        let elu_want: Vec<f64> = xs
            .iter()
            .map(|&v| if v > 0.0 { v } else { 0.5 * (v.exp() - 1.0) })
            .collect();
        assert_close(&vals(&x.elu(0.5)), &elu_want, 1e-12);
        let selu_want: Vec<f64> = xs
            .iter()
            .map(|&v| {
                SELU_SCALE
                    * if v > 0.0 {
                        v
                    } else {
                        SELU_ALPHA * (v.exp() - 1.0)
                    }
            })
            .collect();
        assert_close(&vals(&x.selu()), &selu_want, 1e-12);
        assert!((selu_want[1] - -1.1113307378125625).abs() < 1e-12);
    }

    #[test]
    fn activation_dtypes_and_edges() {
        let i = Tensor::from_vec(vec![-2i32, 0, 3], &[3]).unwrap();
        let r = i.relu();
        assert_eq!(r.dtype(), DType::I32);
        assert_eq!(r.to_vec::<i32>().unwrap(), vec![0, 0, 3]);
        assert_eq!(i.gelu(false).dtype(), DType::F32);
        assert_eq!(i.silu().dtype(), DType::F32);
        let f = Tensor::from_vec(vec![f32::NAN, 1000.0, -1000.0], &[3]).unwrap();
        let r = f.relu().to_vec::<f32>().unwrap();
        assert!(r[0].is_nan());
        assert_eq!(&r[1..], &[1000.0, 0.0]);
        let e = f.elu(1.0).to_vec::<f32>().unwrap();
        assert_eq!(&e[1..], &[1000.0, -1.0]);
        let g = f.gelu(false).to_vec::<f32>().unwrap();
        assert_eq!(&g[1..], &[1000.0, -0.0]);
        let h = Tensor::from_vec(vec![half::f16::from_f32(1.0)], &[1]).unwrap();
        assert_eq!(h.gelu(true).dtype(), DType::F16);
    }

    #[test]
    fn softmax_is_stable_and_normalized() {
        let x = Tensor::from_vec(vec![1000.0f32, 1000.0, 999.0, -5.0, 0.0, 5.0], &[2, 3]).unwrap();
        let y = x.softmax(-1).to_vec::<f32>().unwrap();
        assert!(y.iter().all(|v| v.is_finite()));
        for row in y.chunks(3) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        }
        let e1 = (-1.0f64).exp();
        let want = [1.0 / (2.0 + e1), 1.0 / (2.0 + e1), e1 / (2.0 + e1)];
        assert_close(
            &y[..3].iter().map(|&v| v as f64).collect::<Vec<_>>(),
            &want,
            1e-6,
        );
        let ls = x.log_softmax(1).to_vec::<f32>().unwrap();
        assert!(ls.iter().all(|v| v.is_finite()));
        for (l, s) in ls.iter().zip(&y) {
            assert!((l.exp() - s).abs() < 1e-6);
        }
        assert!((ls[2] as f64 - (e1 / (2.0 + e1)).ln()).abs() < 1e-5);
        // Along axis 0, and columns of a random matrix sum to one.
        let r = rnd(&[4, 5], 1);
        let s = vals(&softmax(&r, 0));
        for j in 0..5 {
            let col: f64 = (0..4).map(|i| s[i * 5 + j]).sum();
            assert!((col - 1.0).abs() < 1e-12);
        }
        let rv = vals(&r);
        let denom: f64 = (0..4).map(|i| rv[i * 5 + 2].exp()).sum();
        assert!((s[5 + 2] - rv[5 + 2].exp() / denom).abs() < 1e-12);
        // Rank 0 and ints.
        assert_eq!(
            Tensor::scalar(3.0f32).softmax(0).item::<f32>().unwrap(),
            1.0
        );
        let i = Tensor::from_vec(vec![1i64, 1], &[2]).unwrap();
        assert_eq!(i.softmax(0).to_vec::<f32>().unwrap(), vec![0.5, 0.5]);
        // Half precision computes in f32 and returns f16.
        let h = x.astype(DType::F16).softmax(-1);
        assert_eq!(h.dtype(), DType::F16);
        assert!(vals(&h).iter().all(|v| v.is_finite()));
    }

    #[test]
    #[should_panic(expected = "softmax: axis 2 is out of range")]
    fn softmax_rejects_bad_axis() {
        let _ = rnd(&[2, 2], 0).softmax(2);
    }

    #[test]
    fn layer_norm_matches_formula() {
        let x = rnd(&[3, 2, 4], 2);
        let w = rnd(&[2, 4], 3);
        let b = rnd(&[2, 4], 4);
        let y = layer_norm(&x, &[2, 4], Some(&w), Some(&b), 1e-5);
        assert_eq!(y.shape(), &[3, 2, 4]);
        let (xv, wv, bv) = (vals(&x), vals(&w), vals(&b));
        let mut want = vec![];
        for row in xv.chunks(8) {
            let mean = row.iter().sum::<f64>() / 8.0;
            let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 8.0;
            for (j, v) in row.iter().enumerate() {
                want.push((v - mean) / (var + 1e-5).sqrt() * wv[j] + bv[j]);
            }
        }
        assert_close(&vals(&y), &want, 1e-12);
        // Without affine params: each row has mean 0 and variance ~1.
        let y = vals(&layer_norm(&x, &[4], None, None, 0.0));
        for row in y.chunks(4) {
            let mean = row.iter().sum::<f64>() / 4.0;
            let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 4.0;
            assert!(mean.abs() < 1e-12 && (var - 1.0).abs() < 1e-9);
        }
        let h = layer_norm(&x.astype(DType::BF16), &[4], None, None, 1e-5);
        assert_eq!(h.dtype(), DType::BF16);
    }

    #[test]
    #[should_panic(expected = "layer_norm: normalized_shape [3] is not the trailing dims")]
    fn layer_norm_rejects_bad_shape() {
        let _ = layer_norm(&rnd(&[2, 4], 0), &[3], None, None, 1e-5);
    }

    #[test]
    #[should_panic(expected = "layer_norm: weight has shape [5]")]
    fn layer_norm_rejects_bad_weight() {
        let _ = layer_norm(&rnd(&[2, 4], 0), &[4], Some(&rnd(&[5], 1)), None, 1e-5);
    }

    #[test]
    fn rms_norm_matches_formula() {
        let x = rnd(&[5, 6], 5);
        let w = rnd(&[6], 6);
        let y = rms_norm(&x, &[6], Some(&w), Some(1e-6));
        let (xv, wv) = (vals(&x), vals(&w));
        let mut want = vec![];
        for row in xv.chunks(6) {
            let ms = row.iter().map(|v| v * v).sum::<f64>() / 6.0;
            for (j, v) in row.iter().enumerate() {
                want.push(v / (ms + 1e-6).sqrt() * wv[j]);
            }
        }
        assert_close(&vals(&y), &want, 1e-12);
        let y = rms_norm(&x.astype(DType::F32), &[6], None, None);
        assert_eq!(y.dtype(), DType::F32);
        let yv = vals(&y);
        for row in yv.chunks(6) {
            let ms = row.iter().map(|v| v * v).sum::<f64>() / 6.0;
            assert!((ms - 1.0).abs() < 1e-5);
        }
    }

    /// Naive N-d-free 2-D convolution (PyTorch semantics) on f64 vectors.
    #[allow(clippy::too_many_arguments)]
    fn naive_conv2d(
        x: &[f64],
        xs: [usize; 4],
        w: &[f64],
        ws: [usize; 4],
        bias: Option<&[f64]>,
        stride: (usize, usize),
        pad: (usize, usize),
        dil: (usize, usize),
        groups: usize,
    ) -> (Vec<f64>, [usize; 4]) {
        let [n, c, h, wd] = xs;
        let [o, cg, kh, kw] = ws;
        let oh = (h + 2 * pad.0 - dil.0 * (kh - 1) - 1) / stride.0 + 1;
        let ow = (wd + 2 * pad.1 - dil.1 * (kw - 1) - 1) / stride.1 + 1;
        let og = o / groups;
        let mut out = vec![0.0; n * o * oh * ow];
        for b in 0..n {
            for oc in 0..o {
                let g = oc / og;
                for i in 0..oh {
                    for j in 0..ow {
                        let mut acc = bias.map_or(0.0, |bv| bv[oc]);
                        for ci in 0..cg {
                            let cin = g * cg + ci;
                            for p in 0..kh {
                                for q in 0..kw {
                                    let y = (i * stride.0 + p * dil.0) as isize - pad.0 as isize;
                                    let xx = (j * stride.1 + q * dil.1) as isize - pad.1 as isize;
                                    if y < 0 || xx < 0 || y >= h as isize || xx >= wd as isize {
                                        continue;
                                    }
                                    let xi = ((b * c + cin) * h + y as usize) * wd + xx as usize;
                                    let wi = ((oc * cg + ci) * kh + p) * kw + q;
                                    acc += x[xi] * w[wi];
                                }
                            }
                        }
                        out[((b * o + oc) * oh + i) * ow + j] = acc;
                    }
                }
            }
        }
        assert!(c == cg * groups);
        (out, [n, o, oh, ow])
    }

    #[test]
    fn conv2d_matches_naive_loop() {
        type Pair = (usize, usize);
        // (stride, padding, dilation, groups, bias)
        let cases: [(Pair, Pair, Pair, usize, bool); 5] = [
            ((1, 1), (0, 0), (1, 1), 1, false),
            ((2, 1), (1, 2), (1, 2), 2, true),
            ((1, 2), (2, 1), (2, 1), 1, true),
            ((3, 3), (1, 1), (1, 1), 4, true),
            ((2, 2), (0, 0), (1, 1), 2, false),
        ];
        for (ci, &(stride, pad, dil, groups, with_bias)) in cases.iter().enumerate() {
            let xs = [2, 4, 7, 6];
            let ws = [8, 4 / groups, 3, 2];
            let x = rnd(&xs, 10 + ci as u64);
            let w = rnd(&ws, 20 + ci as u64);
            let b = rnd(&[8], 30 + ci as u64);
            let bias = if with_bias { Some(&b) } else { None };
            let y = conv2d(&x, &w, bias, stride, pad, dil, groups);
            let bv = vals(&b);
            let (want, shape) = naive_conv2d(
                &vals(&x),
                xs,
                &vals(&w),
                ws,
                if with_bias { Some(&bv) } else { None },
                stride,
                pad,
                dil,
                groups,
            );
            assert_eq!(y.shape(), &shape, "case {ci}");
            assert_close(&vals(&y), &want, 1e-12);
        }
    }

    #[test]
    fn conv2d_unbatched_and_dtypes() {
        let x = rnd(&[3, 5, 5], 40);
        let w = rnd(&[2, 3, 3, 3], 41);
        let y = conv2d(&x, &w, None, (1, 1), (1, 1), (1, 1), 1);
        assert_eq!(y.shape(), &[2, 5, 5]);
        let yb = conv2d(&x.unsqueeze(0), &w, None, (1, 1), (1, 1), (1, 1), 1);
        assert_close(&vals(&y), &vals(&yb), 0.0);
        let xi = Tensor::from_vec((0..16).collect::<Vec<i32>>(), &[1, 1, 4, 4]).unwrap();
        let wi = Tensor::from_vec(vec![1i32, 1, 1, 1], &[1, 1, 2, 2]).unwrap();
        let yi = conv2d(&xi, &wi, None, (2, 2), (0, 0), (1, 1), 1);
        assert_eq!(yi.dtype(), DType::I32);
        assert_eq!(yi.to_vec::<i32>().unwrap(), vec![10, 18, 42, 50]);
        let y32 = conv2d(&x.astype(DType::F32), &w, None, (1, 1), (0, 0), (1, 1), 1);
        assert_eq!(y32.dtype(), DType::F64);
    }

    #[test]
    #[should_panic(expected = "conv2d: groups=3 does not fit")]
    fn conv2d_rejects_bad_groups() {
        let _ = conv2d(
            &rnd(&[1, 4, 5, 5], 0),
            &rnd(&[6, 2, 3, 3], 1),
            None,
            (1, 1),
            (0, 0),
            (1, 1),
            3,
        );
    }

    #[test]
    #[should_panic(expected = "conv2d: kernel [3, 3] (dilation [2, 2]) does not fit")]
    fn conv2d_rejects_small_input() {
        let _ = conv2d(
            &rnd(&[1, 1, 4, 4], 0),
            &rnd(&[1, 1, 3, 3], 1),
            None,
            (1, 1),
            (0, 0),
            (2, 2),
            1,
        );
    }

    #[test]
    #[should_panic(expected = "conv1d: bias must have shape [2]")]
    fn conv1d_rejects_bad_bias() {
        let _ = conv1d(
            &rnd(&[1, 1, 5], 0),
            &rnd(&[2, 1, 3], 1),
            Some(&rnd(&[3], 2)),
            1,
            0,
            1,
            1,
        );
    }

    #[test]
    fn conv1d_matches_conv2d_with_unit_height() {
        let x = rnd(&[2, 6, 9], 50);
        let w = rnd(&[4, 3, 3], 51);
        let b = rnd(&[4], 52);
        let y = conv1d(&x, &w, Some(&b), 2, 1, 2, 2);
        let (want, shape) = naive_conv2d(
            &vals(&x),
            [2, 6, 1, 9],
            &vals(&w),
            [4, 3, 1, 3],
            Some(&vals(&b)),
            (1, 2),
            (0, 1),
            (1, 2),
            2,
        );
        assert_eq!(y.shape(), &[shape[0], shape[1], shape[3]]);
        assert_close(&vals(&y), &want, 1e-12);
        // Hand-computed: [1, 2, 3, 4] * [1, -1] -> [-1, -1, -1].
        let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[1, 1, 4]).unwrap();
        let w = Tensor::from_vec(vec![1.0f32, -1.0], &[1, 1, 2]).unwrap();
        assert_eq!(
            conv1d(&x, &w, None, 1, 0, 1, 1).to_vec::<f32>().unwrap(),
            vec![-1.0, -1.0, -1.0]
        );
    }

    /// Naive pooling over [N, C, H, W]; `max` picks the reduction.
    fn naive_pool(
        x: &[f64],
        s: [usize; 4],
        k: (usize, usize),
        st: (usize, usize),
        p: (usize, usize),
        max: bool,
    ) -> Vec<f64> {
        let [n, c, h, w] = s;
        let oh = (h + 2 * p.0 - k.0) / st.0 + 1;
        let ow = (w + 2 * p.1 - k.1) / st.1 + 1;
        let mut out = vec![];
        for b in 0..n * c {
            for i in 0..oh {
                for j in 0..ow {
                    let mut acc = if max { f64::NEG_INFINITY } else { 0.0 };
                    for a in 0..k.0 {
                        for q in 0..k.1 {
                            let y = (i * st.0 + a) as isize - p.0 as isize;
                            let xx = (j * st.1 + q) as isize - p.1 as isize;
                            let v = if y < 0 || xx < 0 || y >= h as isize || xx >= w as isize {
                                if max {
                                    f64::NEG_INFINITY
                                } else {
                                    0.0
                                }
                            } else {
                                x[(b * h + y as usize) * w + xx as usize]
                            };
                            acc = if max { acc.max(v) } else { acc + v };
                        }
                    }
                    out.push(if max { acc } else { acc / (k.0 * k.1) as f64 });
                }
            }
        }
        out
    }

    #[test]
    fn pools_match_naive_loops() {
        let s = [2, 3, 7, 8];
        let x = rnd(&s, 60);
        let xv = vals(&x);
        for &(k, st, p) in &[
            ((2, 2), (2, 2), (0, 0)),
            ((3, 3), (2, 1), (1, 1)),
            ((3, 2), (1, 2), (1, 0)),
        ] {
            let m = max_pool2d(&x, k, st, p);
            let oh = (7 + 2 * p.0 - k.0) / st.0 + 1;
            let ow = (8 + 2 * p.1 - k.1) / st.1 + 1;
            assert_eq!(m.shape(), &[2, 3, oh, ow]);
            assert_close(&vals(&m), &naive_pool(&xv, s, k, st, p, true), 0.0);
            let a = avg_pool2d(&x, k, st, p);
            assert_eq!(a.shape(), &[2, 3, oh, ow]);
            assert_close(&vals(&a), &naive_pool(&xv, s, k, st, p, false), 1e-12);
        }
        // Hand-computed, unbatched, with an int input.
        let xi = Tensor::from_vec((0..16).collect::<Vec<i64>>(), &[1, 4, 4]).unwrap();
        let m = max_pool2d(&xi, (2, 2), (2, 2), (1, 1));
        assert_eq!(m.dtype(), DType::I64);
        assert_eq!(
            m.to_vec::<i64>().unwrap(),
            vec![0, 2, 3, 8, 10, 11, 12, 14, 15]
        );
        let a = avg_pool2d(&xi, (2, 2), (2, 2), (0, 0));
        assert_eq!(a.dtype(), DType::F32);
        assert_eq!(a.to_vec::<f32>().unwrap(), vec![2.5, 4.5, 10.5, 12.5]);
        let a = avg_pool2d(&xi, (2, 2), (2, 2), (1, 1));
        assert_eq!(a.to_vec::<f32>().unwrap()[0], 0.0);
        assert_eq!(a.to_vec::<f32>().unwrap()[1], (1.0 + 2.0) / 4.0);
    }

    #[test]
    #[should_panic(expected = "max_pool2d: padding (2, 0) must be at most half the kernel")]
    fn max_pool_rejects_big_padding() {
        let _ = max_pool2d(&rnd(&[1, 1, 4, 4], 0), (3, 3), (1, 1), (2, 0));
    }

    fn panic_message(r: std::thread::Result<Tensor>) -> String {
        let e = r.expect_err("should panic");
        e.downcast_ref::<String>().cloned().unwrap_or_default()
    }

    #[test]
    fn misuse_names_the_callers_line() {
        use std::panic::catch_unwind;
        let (x, w) = (rnd(&[1, 4, 5, 5], 0), rnd(&[6, 2, 3, 3], 1));
        let line = line!() + 1;
        let r = catch_unwind(|| conv2d(&x, &w, None, (1, 1), (0, 0), (1, 1), 3));
        let msg = panic_message(r);
        assert!(msg.contains(&format!("{}:{line}:", file!())), "{msg}");
        let line = line!() + 1;
        let r = catch_unwind(|| layer_norm(&x, &[4], Some(&w), None, 1e-5));
        let msg = panic_message(r);
        assert!(msg.contains(&format!("{}:{line}:", file!())), "{msg}");
        let line = line!() + 1;
        let r = catch_unwind(|| max_pool2d(&x, (9, 9), (1, 1), (0, 0)));
        let msg = panic_message(r);
        assert!(msg.contains(&format!("{}:{line}:", file!())), "{msg}");
    }

    #[test]
    fn gradients_match_finite_differences() {
        let x = rnd(&[2, 4, 6, 5], 70);
        let w = rnd(&[6, 2, 3, 2], 71);
        let b = rnd(&[6], 72);
        check_grad(
            |a| conv2d(&a[0], &a[1], Some(&a[2]), (2, 1), (1, 1), (1, 2), 2),
            &[x.clone(), w, b],
            1,
        );
        let x1 = rnd(&[2, 4, 9], 73);
        let w1 = rnd(&[2, 4, 3], 74);
        check_grad(|a| conv1d(&a[0], &a[1], None, 2, 1, 1, 1), &[x1, w1], 2);
        check_grad(
            |a| max_pool2d(&a[0], (3, 2), (2, 1), (1, 1)),
            std::slice::from_ref(&x),
            3,
        );
        check_grad(
            |a| avg_pool2d(&a[0], (3, 3), (2, 2), (1, 1)),
            std::slice::from_ref(&x),
            4,
        );
        let s = rnd(&[3, 5], 75);
        check_grad(|a| a[0].softmax(-1), std::slice::from_ref(&s), 5);
        check_grad(|a| a[0].log_softmax(0), std::slice::from_ref(&s), 6);
        let (lw, lb) = (rnd(&[5], 76), rnd(&[5], 77));
        check_grad(
            |a| layer_norm(&a[0], &[5], Some(&a[1]), Some(&a[2]), 1e-5),
            &[s.clone(), lw.clone(), lb],
            7,
        );
        check_grad(
            |a| rms_norm(&a[0], &[3, 5], None, Some(1e-6)),
            std::slice::from_ref(&s),
            8,
        );
        check_grad(
            |a| rms_norm(&a[0], &[5], Some(&a[1]), None),
            &[s.clone(), lw],
            9,
        );
        for (i, act) in [
            (|t: &Tensor| t.gelu(false)) as fn(&Tensor) -> Tensor,
            |t| t.gelu(true),
            |t| t.silu(),
            |t| t.elu(0.7),
            |t| t.selu(),
            |t| t.leaky_relu(0.1),
            |t| t.relu(),
        ]
        .iter()
        .enumerate()
        {
            check_grad(|a| act(&a[0]), std::slice::from_ref(&s), 10 + i as u64);
        }
    }
}
