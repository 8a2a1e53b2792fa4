//! The one closed enum of primitives: Kiln's IR.
//!
//! Every tensor that is not data is a [`Primitive`] applied to input tensors.
//! For each primitive there is a shape/dtype rule ([`crate::infer`]), a simple
//! reference evaluator ([`crate::reference`], the test oracle) and a CPU
//! kernel ([`crate::cpu`]). Everything users call (softmax, conv2d, einsum,
//! `var`...) is a composition of these in [`crate::ops`].
//!
//! Conventions every primitive follows:
//! - Broadcasting is explicit: elementwise primitives take inputs of *equal*
//!   shapes; the ops layer inserts [`Primitive::Broadcast`].
//! - Axes in params are already normalized (non-negative, in range).
//! - Reductions keep the reduced axes with size 1; the ops layer reshapes.
//! - Index inputs may be any integer dtype; negative indices count from the end.

use crate::dtype::DType;
use std::fmt;

/// Elementwise functions of one input. The output has the input's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `-x` (numeric dtypes; wraps for ints).
    Neg,
    /// `|x|` (numeric dtypes; wraps for the lowest int, as NumPy).
    Abs,
    /// -1, 0 or 1 (numeric dtypes; NaN stays NaN).
    Sign,
    /// Float dtypes only, from here to `Erf`.
    Exp,
    Log,
    Log1p,
    Expm1,
    Sqrt,
    Rsqrt,
    Sin,
    Cos,
    Tan,
    Tanh,
    /// `1 / (1 + exp(-x))`, computed without overflow.
    Sigmoid,
    Erf,
    /// `1 / x` (float dtypes).
    Recip,
    /// Rounding, float dtypes only. `Round` rounds half to even, as NumPy.
    Floor,
    Ceil,
    Round,
    /// Bool input, bool output.
    LogicalNot,
    /// Float input, bool output.
    IsNan,
    /// Float input, bool output: true for +inf and -inf.
    IsInf,
}

/// Elementwise functions of two inputs of equal shape and dtype.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// Numeric dtypes (not bool); ints wrap on overflow.
    Add,
    Sub,
    Mul,
    /// Floats: IEEE division. Ints: floor division (Python `//`); x // 0 = 0.
    Div,
    /// Python-style remainder (sign of the divisor), NumPy's `remainder`.
    /// Ints: x % 0 = 0.
    Rem,
    /// Floor division (NumPy `floor_divide`): floats follow NumPy's
    /// `divmod` (so `-inf // 1` is NaN, `2 // -inf` is -1); ints as `Div`.
    FloorDiv,
    /// `x ** y`. Ints: integer power with a non-negative exponent (negative
    /// exponents give 0 unless the base is 1 or -1).
    Pow,
    /// Any dtype. Floats propagate NaN.
    Maximum,
    Minimum,
    /// Bool only.
    LogicalAnd,
    LogicalOr,
}

/// Elementwise comparisons of two inputs of equal shape and dtype; bool output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// Reductions over a set of axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    /// Numeric dtypes (not bool). The empty sum is 0.
    Sum,
    /// Numeric dtypes (not bool). The empty product is 1.
    Prod,
    /// Any dtype; floats propagate NaN. Over zero elements: the dtype's
    /// lowest value (-inf for floats).
    Max,
    /// Any dtype; floats propagate NaN. Over zero elements: the dtype's
    /// highest value (+inf for floats).
    Min,
}

/// Index of the extreme value along one axis (first occurrence; NaN counts
/// as the extreme, as in NumPy). Output dtype i64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArgReduceOp {
    ArgMax,
    ArgMin,
}

/// Inclusive scans along one axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScanOp {
    Sum,
    Prod,
}

/// Single-pass row kernels of [`Primitive::LastAxis`], each a function of
/// one row (the last axis) of a float input. Computed in `f32` for
/// f16/bf16/f32 and in `f64` for f64, rounded once to the dtype.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LastAxisOp {
    /// `exp(x - max) / sum(exp(x - max))`. A row with +inf or NaN gives NaN
    /// where the composite does (`inf - inf`); an all -inf row gives NaN.
    Softmax,
    /// `(x - max) - log(sum(exp(x - max)))`.
    LogSoftmax,
    /// `log(sum(exp(x)))`, the last dim kept with size 1. Shifted by the row
    /// maximum when it is finite (by 0 otherwise), so an all -inf (or empty)
    /// row gives -inf, a row with +inf gives +inf and NaN propagates.
    LogSumExp,
    /// `(x - mean) / sqrt(var + eps)` with the biased variance (two passes:
    /// mean, then the mean squared deviation). No affine weight or bias.
    LayerNorm { eps: f64 },
    /// `x / sqrt(mean(x^2) + eps)`. No affine weight.
    RmsNorm { eps: f64 },
}

/// Distributions of [`Primitive::Random`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Distribution {
    /// Uniform on [0, 1).
    Uniform,
    /// Standard normal.
    Normal,
}

/// One operation of the IR, with its static parameters.
///
/// The comment on each variant is its contract: inputs, output shape and
/// dtype, and semantics. [`crate::infer::infer`] enforces the input side.
#[derive(Clone, Debug, PartialEq)]
pub enum Primitive {
    /// `(x) -> y`, same shape. Dtypes: see [`UnaryOp`]. Output dtype equals
    /// the input's except `IsNan`/`IsInf` (bool).
    Unary(UnaryOp),
    /// `(a, b) -> y`, `a` and `b` of equal shape and dtype; `y` the same.
    Binary(BinaryOp),
    /// `(a, b) -> bool`, `a` and `b` of equal shape and dtype.
    Compare(CompareOp),
    /// `(cond: bool, a, b) -> y`: `a` where `cond` else `b`; all three of
    /// equal shape, `a` and `b` of equal dtype.
    Select,
    /// `(x) -> y` converted to `dtype`: floats to ints truncate toward zero
    /// (saturating, NaN to 0), ints to ints wrap (two's complement, as
    /// NumPy's `astype`), anything to bool is `x != 0`, bool is 0 or 1.
    Cast(DType),
    /// `(x) -> y` with the same elements in row-major order and a new shape
    /// of the same element count.
    Reshape(Vec<usize>),
    /// `(x) -> y` with axes reordered: `y.shape[i] = x.shape[perm[i]]`.
    Permute(Vec<usize>),
    /// `(x) -> y` broadcast to `shape` under NumPy's right-aligned rule
    /// (size-1 or missing leading dims repeat).
    Broadcast(Vec<usize>),
    /// `(x) -> y`: along each axis `i`, `y` takes `shape[i]` elements of `x`
    /// starting at `start[i]` with step `step[i]` (non-zero, may be negative).
    /// All selected indices are in range.
    Slice {
        start: Vec<usize>,
        step: Vec<isize>,
        shape: Vec<usize>,
    },
    /// `(x) -> y`: sliding windows over the last `k = window.len()` axes.
    /// `x: [..., S1..Sk]` gives `y: [..., O1..Ok, W1..Wk]` with
    /// `O = (S - dilation*(W-1) - 1) / stride + 1` (S must fit one window) and
    /// `y[..., o, w] = x[..., o*stride + w*dilation]`. Pads nothing.
    Windows {
        window: Vec<usize>,
        stride: Vec<usize>,
        dilation: Vec<usize>,
    },
    /// The adjoint of `Windows` (col2im): `(y: [..., O.., W..]) -> x: [..., S..]`
    /// where every window element is added to the position it was read from
    /// (`spatial` gives S). Positions no window reads are 0.
    WindowsAdjoint {
        window: Vec<usize>,
        stride: Vec<usize>,
        dilation: Vec<usize>,
        spatial: Vec<usize>,
    },
    /// `(x) -> y`: constant padding, `lo[i]` before and `hi[i]` after axis `i`,
    /// filled with `value` cast to the dtype.
    Pad {
        lo: Vec<usize>,
        hi: Vec<usize>,
        value: f64,
    },
    /// `(x0, x1, ...) -> y`: joined along `axis`; all inputs have the same
    /// dtype, rank and other dims. At least one input.
    Concat(usize),
    /// `(x, idx) -> y` (NumPy `take_along_axis`): `idx` has `x`'s rank and
    /// the same dims except along `axis`; `y` has `idx`'s shape and
    /// `y[.., i, ..] = x[.., idx[.., i, ..], ..]`. Out-of-range indices are an
    /// evaluation error.
    Gather(usize),
    /// `(base, idx, src) -> y`: `y = base`, then for every position `p` of
    /// `src`, `y[p with axis replaced by idx[p]] += src[p]`. `idx` and `src`
    /// have equal shapes, equal to `base`'s except along `axis`.
    ScatterAdd(usize),
    /// `(x) -> y` reduced over `axes` (sorted, unique), which are kept with size 1.
    Reduce { op: ReduceOp, axes: Vec<usize> },
    /// `(x) -> i64` index of the extreme along `axis`, kept with size 1.
    /// The axis must not be empty.
    ArgReduce { op: ArgReduceOp, axis: usize },
    /// `(x) -> y` inclusive scan along `axis`; `reverse` scans from the end.
    Scan {
        op: ScanOp,
        axis: usize,
        reverse: bool,
    },
    /// `(x) -> i64` indices that sort `x` along `axis` (stable; NaN last in
    /// ascending order, first in descending order).
    Argsort { axis: usize, descending: bool },
    /// `(x: [..., n]) -> y`: a row function along the last axis (see
    /// [`LastAxisOp`]). Float dtypes only, rank >= 1; `y` has `x`'s shape
    /// and dtype, except `LogSumExp`, whose last dim becomes 1. An empty
    /// last axis gives an empty output (`LogSumExp`: -inf per row).
    LastAxis(LastAxisOp),
    /// `(a: [..., m, k], b: [..., k, n]) -> [..., m, n]`, batch dims equal,
    /// both of one numeric dtype (not bool). Ints accumulate in their dtype.
    Matmul,
    /// `(key: u32[2]) -> dtype[shape]`: counter-based random numbers
    /// (Threefry-2x32); element `i` depends only on the key and `i`, so the
    /// result is the same on any thread count. Float dtypes only.
    Random {
        dist: Distribution,
        shape: Vec<usize>,
        dtype: DType,
    },
    /// `(x) -> x`: identity whose gradient is zero (`detach`).
    StopGradient,
    /// `(x) -> x`: identity that prints `x` when it is evaluated, with the
    /// format string's `{}` replaced by the value (`jax.debug.print`).
    /// Its gradient passes through unchanged. Under `jit` it runs on every
    /// call, not once per trace.
    DebugPrint(std::sync::Arc<str>),
    /// `(x0, .., xn, y) -> y`: a user-defined differentiable function whose
    /// forward value `y` was computed by composition (and is passed as the
    /// last input) and whose VJP is the rule's (see `autodiff::custom_vjp`).
    /// Evaluates as the identity on `y`.
    Custom(CustomRule),
}

/// A user-supplied VJP, for [`Primitive::Custom`].
pub trait CustomVjp: Send + Sync {
    /// Name shown in the printed IR.
    fn name(&self) -> &str;
    /// Cotangents of the primal inputs (all inputs but the last) given the
    /// output `y` and its cotangent `g`.
    fn vjp(
        &self,
        inputs: &[crate::tensor::Tensor],
        y: &crate::tensor::Tensor,
        g: &crate::tensor::Tensor,
    ) -> Vec<Option<crate::tensor::Tensor>>;
}

/// A shared handle to a [`CustomVjp`]; equal when it is the same rule.
#[derive(Clone)]
pub struct CustomRule(pub std::sync::Arc<dyn CustomVjp>);

impl PartialEq for CustomRule {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for CustomRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CustomRule({})", self.0.name())
    }
}

impl Primitive {
    /// Short lowercase name used in the printed IR and in error messages.
    pub fn name(&self) -> &'static str {
        use Primitive::*;
        match self {
            Unary(op) => match op {
                UnaryOp::Neg => "neg",
                UnaryOp::Abs => "abs",
                UnaryOp::Sign => "sign",
                UnaryOp::Exp => "exp",
                UnaryOp::Log => "log",
                UnaryOp::Log1p => "log1p",
                UnaryOp::Expm1 => "expm1",
                UnaryOp::Sqrt => "sqrt",
                UnaryOp::Rsqrt => "rsqrt",
                UnaryOp::Sin => "sin",
                UnaryOp::Cos => "cos",
                UnaryOp::Tan => "tan",
                UnaryOp::Tanh => "tanh",
                UnaryOp::Sigmoid => "sigmoid",
                UnaryOp::Erf => "erf",
                UnaryOp::Recip => "recip",
                UnaryOp::Floor => "floor",
                UnaryOp::Ceil => "ceil",
                UnaryOp::Round => "round",
                UnaryOp::LogicalNot => "logical_not",
                UnaryOp::IsNan => "isnan",
                UnaryOp::IsInf => "isinf",
            },
            Binary(op) => match op {
                BinaryOp::Add => "add",
                BinaryOp::Sub => "sub",
                BinaryOp::Mul => "mul",
                BinaryOp::Div => "div",
                BinaryOp::Rem => "rem",
                BinaryOp::FloorDiv => "floor_div",
                BinaryOp::Pow => "pow",
                BinaryOp::Maximum => "maximum",
                BinaryOp::Minimum => "minimum",
                BinaryOp::LogicalAnd => "logical_and",
                BinaryOp::LogicalOr => "logical_or",
            },
            Compare(op) => match op {
                CompareOp::Eq => "eq",
                CompareOp::Ne => "ne",
                CompareOp::Lt => "lt",
                CompareOp::Le => "le",
                CompareOp::Gt => "gt",
                CompareOp::Ge => "ge",
            },
            Select => "select",
            Cast(_) => "cast",
            Reshape(_) => "reshape",
            Permute(_) => "permute",
            Broadcast(_) => "broadcast",
            Slice { .. } => "slice",
            Windows { .. } => "windows",
            WindowsAdjoint { .. } => "windows_adjoint",
            Pad { .. } => "pad",
            Concat(_) => "concat",
            Gather(_) => "gather",
            ScatterAdd(_) => "scatter_add",
            Reduce { op, .. } => match op {
                ReduceOp::Sum => "reduce_sum",
                ReduceOp::Prod => "reduce_prod",
                ReduceOp::Max => "reduce_max",
                ReduceOp::Min => "reduce_min",
            },
            ArgReduce { op, .. } => match op {
                ArgReduceOp::ArgMax => "argmax",
                ArgReduceOp::ArgMin => "argmin",
            },
            Scan { op, .. } => match op {
                ScanOp::Sum => "cumsum",
                ScanOp::Prod => "cumprod",
            },
            Argsort { .. } => "argsort",
            LastAxis(op) => match op {
                LastAxisOp::Softmax => "softmax",
                LastAxisOp::LogSoftmax => "log_softmax",
                LastAxisOp::LogSumExp => "logsumexp",
                LastAxisOp::LayerNorm { .. } => "layer_norm",
                LastAxisOp::RmsNorm { .. } => "rms_norm",
            },
            Matmul => "matmul",
            Random { dist, .. } => match dist {
                Distribution::Uniform => "random_uniform",
                Distribution::Normal => "random_normal",
            },
            StopGradient => "stop_gradient",
            DebugPrint(_) => "debug_print",
            Custom(_) => "custom_vjp",
        }
    }

    /// True for primitives whose CPU result is a new view of the input's
    /// buffer (no copy): reshape of contiguous data, permute, broadcast,
    /// slice, windows, stop_gradient.
    pub fn is_view(&self) -> bool {
        matches!(
            self,
            Primitive::Reshape(_)
                | Primitive::Permute(_)
                | Primitive::Broadcast(_)
                | Primitive::Slice { .. }
                | Primitive::Windows { .. }
                | Primitive::StopGradient
                | Primitive::Custom(_)
        )
    }

    /// True for elementwise primitives (the fusion class used by jit).
    pub fn is_elementwise(&self) -> bool {
        matches!(
            self,
            Primitive::Unary(_)
                | Primitive::Binary(_)
                | Primitive::Compare(_)
                | Primitive::Select
                | Primitive::Cast(_)
        )
    }
}

impl fmt::Display for Primitive {
    /// Prints like a jaxpr equation head: `name[param=value ...]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Primitive::*;
        f.write_str(self.name())?;
        match self {
            Cast(d) => write!(f, "[dtype={d}]"),
            Reshape(s) | Broadcast(s) => write!(f, "[shape={s:?}]"),
            Permute(p) => write!(f, "[perm={p:?}]"),
            Slice { start, step, shape } => {
                write!(f, "[start={start:?} step={step:?} shape={shape:?}]")
            }
            Windows {
                window,
                stride,
                dilation,
            } => write!(
                f,
                "[window={window:?} stride={stride:?} dilation={dilation:?}]"
            ),
            WindowsAdjoint {
                window,
                stride,
                dilation,
                spatial,
            } => write!(
                f,
                "[window={window:?} stride={stride:?} dilation={dilation:?} spatial={spatial:?}]"
            ),
            Pad { lo, hi, value } => write!(f, "[lo={lo:?} hi={hi:?} value={value}]"),
            Concat(a) | Gather(a) | ScatterAdd(a) => write!(f, "[axis={a}]"),
            Reduce { axes, .. } => write!(f, "[axes={axes:?}]"),
            ArgReduce { axis, .. } => write!(f, "[axis={axis}]"),
            Scan { axis, reverse, .. } => write!(f, "[axis={axis} reverse={reverse}]"),
            Argsort { axis, descending } => {
                write!(f, "[axis={axis} descending={descending}]")
            }
            Random { shape, dtype, .. } => write!(f, "[shape={shape:?} dtype={dtype}]"),
            Custom(rule) => write!(f, "[rule={}]", rule.0.name()),
            DebugPrint(fmt) => write!(f, "[fmt={fmt:?}]"),
            LastAxis(LastAxisOp::LayerNorm { eps } | LastAxisOp::RmsNorm { eps }) => {
                write!(f, "[eps={eps}]")
            }
            LastAxis(_) => Ok(()),
            Unary(_) | Binary(_) | Compare(_) | Select | Matmul | StopGradient => Ok(()),
        }
    }
}
