//! Elementwise ops: arithmetic with NumPy broadcasting and type promotion,
//! math functions, comparisons, logical ops, `where_`, `clip`, and the
//! operator overloads (`+ - * /`, unary `-`).

use super::{misuse, Operand};
use crate::dtype::{DType, Kind};
use crate::primitive::{BinaryOp, CompareOp, Primitive, UnaryOp};
use crate::shape::broadcast_shapes;
use crate::tensor::{describe, Tensor};
use std::ops::{Add, Div, Mul, Neg, Rem, Sub};

/// Broadcasts tensors to their common shape, panicking with `op` and the
/// caller's line when they are incompatible.
#[track_caller]
pub fn broadcast_all(op: &str, ts: &[Tensor]) -> Vec<Tensor> {
    let mut shape: Vec<usize> = vec![];
    for t in ts {
        shape = match broadcast_shapes(&shape, t.shape()) {
            Some(s) => s,
            None => misuse(
                op,
                format!("shapes cannot be broadcast together: {}", describe(ts)),
            ),
        };
    }
    let mut out = Vec::with_capacity(ts.len());
    for t in ts {
        out.push(t.broadcast_to(&shape));
    }
    out
}

/// Promotes `a` and `b` to one dtype and broadcasts them to one shape.
#[track_caller]
fn prepare(op: &str, a: &Tensor, b: &Operand, dtype: Option<DType>) -> (Tensor, Tensor) {
    let dtype = dtype.unwrap_or_else(|| b.promote_with(a.dtype()));
    let a = a.astype(dtype);
    let b = b.to_tensor(dtype);
    let v = broadcast_all(op, &[a, b]);
    (v[0].clone(), v[1].clone())
}

#[track_caller]
fn binary(op: BinaryOp, a: &Tensor, b: Operand) -> Tensor {
    let name = Primitive::Binary(op).name();
    let mut dtype = b.promote_with(a.dtype());
    if dtype == DType::Bool {
        match op {
            BinaryOp::Add | BinaryOp::Maximum => return logical(BinaryOp::LogicalOr, a, b),
            BinaryOp::Mul | BinaryOp::Minimum => return logical(BinaryOp::LogicalAnd, a, b),
            _ => dtype = DType::DEFAULT_INT,
        }
    }
    if op == BinaryOp::Div {
        // `/` is true division, as in NumPy, JAX and PyTorch.
        dtype = dtype.to_float();
    }
    let (x, y) = prepare(name, a, &b, Some(dtype));
    Tensor::from_op(Primitive::Binary(op), vec![x, y])
}

/// The same op with the scalar on the left (`2.0 - x`).
#[track_caller]
fn binary_rev(op: BinaryOp, a: Operand, b: &Tensor) -> Tensor {
    let dtype = a.promote_with(b.dtype());
    binary(op, &a.to_tensor(dtype), Operand::Tensor(b.clone()))
}

#[track_caller]
fn logical(op: BinaryOp, a: &Tensor, b: Operand) -> Tensor {
    let (x, y) = prepare(Primitive::Binary(op).name(), a, &b, Some(DType::Bool));
    Tensor::from_op(Primitive::Binary(op), vec![x, y])
}

#[track_caller]
fn compare(op: CompareOp, a: &Tensor, b: Operand) -> Tensor {
    let (x, y) = prepare(Primitive::Compare(op).name(), a, &b, None);
    Tensor::from_op(Primitive::Compare(op), vec![x, y])
}

/// A float math function: ints and bools compute in the default float.
#[track_caller]
fn float_unary(op: UnaryOp, a: &Tensor) -> Tensor {
    Tensor::from_op(Primitive::Unary(op), vec![a.astype(a.dtype().to_float())])
}

macro_rules! float_unary_methods {
    ($($(#[$doc:meta])* $name:ident => $op:ident;)*) => {
        impl Tensor {$(
            $(#[$doc])*
            #[track_caller]
            pub fn $name(&self) -> Tensor {
                float_unary(UnaryOp::$op, self)
            }
        )*}
    };
}

float_unary_methods! {
    /// `e^x`.
    exp => Exp;
    /// Natural logarithm.
    log => Log;
    /// `log(1 + x)`, accurate for small x.
    log1p => Log1p;
    /// `e^x - 1`, accurate for small x.
    expm1 => Expm1;
    /// Square root.
    sqrt => Sqrt;
    /// `1 / sqrt(x)`.
    rsqrt => Rsqrt;
    /// Sine.
    sin => Sin;
    /// Cosine.
    cos => Cos;
    /// Tangent.
    tan => Tan;
    /// Hyperbolic tangent.
    tanh => Tanh;
    /// Logistic sigmoid `1 / (1 + e^-x)`, without overflow.
    sigmoid => Sigmoid;
    /// The error function.
    erf => Erf;
    /// `1 / x`.
    reciprocal => Recip;
}

macro_rules! binary_methods {
    ($($(#[$doc:meta])* $name:ident => $op:ident;)*) => {
        impl Tensor {$(
            $(#[$doc])*
            #[track_caller]
            pub fn $name(&self, other: impl Into<Operand>) -> Tensor {
                binary(BinaryOp::$op, self, other.into())
            }
        )*}
    };
}

binary_methods! {
    /// `self + other` with broadcasting and promotion.
    add => Add;
    /// `self - other`.
    sub => Sub;
    /// `self * other`.
    mul => Mul;
    /// True division `self / other` (ints give the default float).
    div => Div;
    /// Python-style remainder (the sign of the divisor).
    remainder => Rem;
    /// `self ** other`.
    pow => Pow;
    /// Elementwise maximum (NaN propagates).
    maximum => Maximum;
    /// Elementwise minimum (NaN propagates).
    minimum => Minimum;
}

macro_rules! compare_methods {
    ($($(#[$doc:meta])* $name:ident => $op:ident;)*) => {
        impl Tensor {$(
            $(#[$doc])*
            #[track_caller]
            pub fn $name(&self, other: impl Into<Operand>) -> Tensor {
                compare(CompareOp::$op, self, other.into())
            }
        )*}
    };
}

compare_methods! {
    /// Elementwise `==` (a bool tensor).
    eq => Eq;
    /// Elementwise `!=`.
    ne => Ne;
    /// Elementwise `<`.
    lt => Lt;
    /// Elementwise `<=`.
    le => Le;
    /// Elementwise `>`.
    gt => Gt;
    /// Elementwise `>=`.
    ge => Ge;
}

impl Tensor {
    /// Floor division (Python `//`): ints stay ints, floats are floored.
    #[track_caller]
    pub fn floor_divide(&self, other: impl Into<Operand>) -> Tensor {
        let other = other.into();
        let dtype = other.promote_with(self.dtype());
        let dtype = if dtype == DType::Bool {
            DType::DEFAULT_INT
        } else {
            dtype
        };
        let (x, y) = prepare("floor_divide", self, &other, Some(dtype));
        Tensor::from_op(Primitive::Binary(BinaryOp::FloorDiv), vec![x, y])
    }

    /// `-x`.
    #[track_caller]
    pub fn neg(&self) -> Tensor {
        self.int_or_float_unary(UnaryOp::Neg)
    }

    /// `|x|`.
    #[track_caller]
    pub fn abs(&self) -> Tensor {
        self.int_or_float_unary(UnaryOp::Abs)
    }

    /// -1, 0 or 1 by the sign of x.
    #[track_caller]
    pub fn sign(&self) -> Tensor {
        self.int_or_float_unary(UnaryOp::Sign)
    }

    #[track_caller]
    fn int_or_float_unary(&self, op: UnaryOp) -> Tensor {
        let x = if self.dtype() == DType::Bool {
            self.astype(DType::DEFAULT_INT)
        } else {
            self.clone()
        };
        Tensor::from_op(Primitive::Unary(op), vec![x])
    }

    /// `x * x`.
    #[track_caller]
    pub fn square(&self) -> Tensor {
        self.mul(self)
    }

    /// Rounds down (ints are returned unchanged).
    #[track_caller]
    pub fn floor(&self) -> Tensor {
        self.rounding(UnaryOp::Floor)
    }

    /// Rounds up (ints are returned unchanged).
    #[track_caller]
    pub fn ceil(&self) -> Tensor {
        self.rounding(UnaryOp::Ceil)
    }

    /// Rounds to nearest, half to even (ints are returned unchanged).
    #[track_caller]
    pub fn round(&self) -> Tensor {
        self.rounding(UnaryOp::Round)
    }

    #[track_caller]
    fn rounding(&self, op: UnaryOp) -> Tensor {
        if self.dtype().is_float() {
            Tensor::from_op(Primitive::Unary(op), vec![self.clone()])
        } else {
            self.clone()
        }
    }

    /// Limits values to `[min, max]`; either bound may be `None`.
    #[track_caller]
    pub fn clip(&self, min: Option<f64>, max: Option<f64>) -> Tensor {
        let mut y = self.clone();
        if let Some(lo) = min {
            y = y.maximum(Operand::Scalar(lo, scalar_kind(lo, self.dtype())));
        }
        if let Some(hi) = max {
            y = y.minimum(Operand::Scalar(hi, scalar_kind(hi, self.dtype())));
        }
        y
    }

    /// True where the value is NaN (always false for ints and bools).
    #[track_caller]
    pub fn isnan(&self) -> Tensor {
        self.float_test(UnaryOp::IsNan)
    }

    /// True where the value is +inf or -inf (always false for ints and bools).
    #[track_caller]
    pub fn isinf(&self) -> Tensor {
        self.float_test(UnaryOp::IsInf)
    }

    /// True where the value is neither NaN nor infinite.
    #[track_caller]
    pub fn isfinite(&self) -> Tensor {
        self.isnan().logical_or(self.isinf()).logical_not()
    }

    #[track_caller]
    fn float_test(&self, op: UnaryOp) -> Tensor {
        if self.dtype().is_float() {
            Tensor::from_op(Primitive::Unary(op), vec![self.clone()])
        } else {
            crate::ops::creation::full(self.shape(), 0.0, DType::Bool)
        }
    }

    /// Logical not (non-bool inputs are compared with zero first).
    #[track_caller]
    pub fn logical_not(&self) -> Tensor {
        Tensor::from_op(
            Primitive::Unary(UnaryOp::LogicalNot),
            vec![self.astype(DType::Bool)],
        )
    }

    /// Logical and.
    #[track_caller]
    pub fn logical_and(&self, other: impl Into<Operand>) -> Tensor {
        logical(
            BinaryOp::LogicalAnd,
            &self.astype(DType::Bool),
            other.into(),
        )
    }

    /// Logical or.
    #[track_caller]
    pub fn logical_or(&self, other: impl Into<Operand>) -> Tensor {
        logical(BinaryOp::LogicalOr, &self.astype(DType::Bool), other.into())
    }

    /// `self` where `cond` is true, else `other` (broadcast and promoted).
    #[track_caller]
    pub fn where_(&self, cond: &Tensor, other: impl Into<Operand>) -> Tensor {
        where_(cond, self, other)
    }
}

/// `a` where `cond` is true, else `b` (NumPy `where`), with broadcasting.
#[track_caller]
pub fn where_(cond: &Tensor, a: impl Into<Operand>, b: impl Into<Operand>) -> Tensor {
    let (a, b) = (a.into(), b.into());
    let dtype = match (&a, &b) {
        (Operand::Tensor(x), _) => b.promote_with(x.dtype()),
        (Operand::Scalar(..), Operand::Tensor(y)) => a.promote_with(y.dtype()),
        (Operand::Scalar(_, ka), Operand::Scalar(_, kb)) => DType::Bool
            .promote_weak(*ka)
            .promote(DType::Bool.promote_weak(*kb)),
    };
    let v = broadcast_all(
        "where",
        &[
            cond.astype(DType::Bool),
            a.to_tensor(dtype),
            b.to_tensor(dtype),
        ],
    );
    Tensor::from_op(Primitive::Select, v)
}

/// The kind of a scalar bound used against a tensor of `dtype`.
fn scalar_kind(v: f64, dtype: DType) -> Kind {
    if dtype.is_float() || v.fract() != 0.0 {
        Kind::Float
    } else {
        Kind::Int
    }
}

macro_rules! operator {
    ($trait:ident, $method:ident, $op:ident) => {
        impl<R: Into<Operand>> $trait<R> for Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $method(self, rhs: R) -> Tensor {
                binary(BinaryOp::$op, &self, rhs.into())
            }
        }
        impl<R: Into<Operand>> $trait<R> for &Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $method(self, rhs: R) -> Tensor {
                binary(BinaryOp::$op, self, rhs.into())
            }
        }
        operator!(@rev $trait, $method, $op, f64, i64);
    };
    (@rev $trait:ident, $method:ident, $op:ident, $($s:ty),*) => {$(
        impl $trait<Tensor> for $s {
            type Output = Tensor;
            #[track_caller]
            fn $method(self, rhs: Tensor) -> Tensor {
                binary_rev(BinaryOp::$op, self.into(), &rhs)
            }
        }
        impl $trait<&Tensor> for $s {
            type Output = Tensor;
            #[track_caller]
            fn $method(self, rhs: &Tensor) -> Tensor {
                binary_rev(BinaryOp::$op, self.into(), rhs)
            }
        }
    )*};
}

operator!(Add, add, Add);
operator!(Sub, sub, Sub);
operator!(Mul, mul, Mul);
operator!(Div, div, Div);
operator!(Rem, rem, Rem);

impl Neg for Tensor {
    type Output = Tensor;
    #[track_caller]
    fn neg(self) -> Tensor {
        Tensor::neg(&self)
    }
}

impl Neg for &Tensor {
    type Output = Tensor;
    #[track_caller]
    fn neg(self) -> Tensor {
        Tensor::neg(self)
    }
}
