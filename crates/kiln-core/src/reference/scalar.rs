//! Per-element math of the reference evaluator.
//!
//! Floats are computed in `f64` and left unrounded (the caller rounds to the
//! output dtype once). Ints are computed exactly in `i128` and wrapped into
//! their dtype here, so every int result is already in range.

use crate::dtype::DType;
use crate::primitive::{BinaryOp, CompareOp, UnaryOp};
use std::cmp::Ordering;

/// 1.0 for true, 0.0 for false: how bools are held.
pub(super) fn bool_f64(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// Rounds a finite `v` to the nearest value of a binary float format with
/// `p` significand bits (the implicit bit included), smallest normal exponent
/// `emin` and largest finite value `max`; ties go to even. NaN, ±inf and ±0
/// are returned as they are; results beyond `max` become ±inf.
///
/// The spacing of the format's values around `v` is
/// `2^(max(exponent(v), emin) - (p - 1))` (below `2^emin` the spacing stays
/// that of the subnormals), so rounding `v / spacing` to an integer, ties to
/// even, and scaling back is exactly round-to-nearest-even. Both scalings by
/// a power of two are exact.
pub(super) fn round_to_format(v: f64, p: i32, emin: i32, max: f64) -> f64 {
    if !v.is_finite() || v == 0.0 {
        return v;
    }
    // The unbiased exponent of |v| (f64 subnormals give -1023, below emin).
    let exponent = ((v.to_bits() >> 52) & 0x7ff) as i32 - 1023;
    let e = exponent.max(emin) - (p - 1);
    let spacing = f64::from_bits(((e + 1023) as u64) << 52);
    let r = (v / spacing).round_ties_even() * spacing;
    if r.abs() > max {
        f64::INFINITY.copysign(v)
    } else {
        r
    }
}

/// The integer value of an int (or bool) element. Elements are integers in
/// their dtype's range; the saturating `as i64` reads 2^63 as `i64::MAX`.
pub(super) fn to_int(v: f64) -> i128 {
    v as i64 as i128
}

/// `x` wrapped modulo 2^bits into the range of the int dtype `dtype`
/// (the `as` casts between integers keep the low bits), as an `f64`.
/// For bool: `x != 0`.
pub(super) fn wrap_int(x: i128, dtype: DType) -> f64 {
    match dtype {
        DType::Bool => bool_f64(x != 0),
        DType::U8 => x as u8 as f64,
        DType::U32 => x as u32 as f64,
        DType::I8 => x as i8 as f64,
        DType::I16 => x as i16 as f64,
        DType::I32 => x as i32 as f64,
        DType::I64 => x as i64 as f64,
        DType::F16 | DType::BF16 | DType::F32 | DType::F64 => x as f64,
    }
}

/// The lowest value of `dtype`: -inf for floats, false for bool.
pub(super) fn dtype_lowest(dtype: DType) -> f64 {
    match dtype {
        DType::Bool | DType::U8 | DType::U32 => 0.0,
        DType::I8 => i8::MIN as f64,
        DType::I16 => i16::MIN as f64,
        DType::I32 => i32::MIN as f64,
        DType::I64 => i64::MIN as f64,
        DType::F16 | DType::BF16 | DType::F32 | DType::F64 => f64::NEG_INFINITY,
    }
}

/// The highest value of `dtype`: +inf for floats, true for bool (`i64::MAX`
/// is held as its nearest `f64`, 2^63).
pub(super) fn dtype_highest(dtype: DType) -> f64 {
    match dtype {
        DType::Bool => 1.0,
        DType::U8 => u8::MAX as f64,
        DType::U32 => u32::MAX as f64,
        DType::I8 => i8::MAX as f64,
        DType::I16 => i16::MAX as f64,
        DType::I32 => i32::MAX as f64,
        DType::I64 => i64::MAX as f64,
        DType::F16 | DType::BF16 | DType::F32 | DType::F64 => f64::INFINITY,
    }
}

/// `a + b` in `dtype`'s arithmetic: unrounded `f64` for floats, wrapped for
/// ints. Used by every accumulation (sums, scans, matmul, scatter).
pub(super) fn add(a: f64, b: f64, dtype: DType) -> f64 {
    if dtype.is_float() {
        a + b
    } else {
        wrap_int(to_int(a) + to_int(b), dtype)
    }
}

/// `a * b` in `dtype`'s arithmetic: unrounded `f64` for floats, wrapped for
/// ints (the product of two values in i64's range fits i128).
pub(super) fn mul(a: f64, b: f64, dtype: DType) -> f64 {
    if dtype.is_float() {
        a * b
    } else {
        wrap_int(to_int(a) * to_int(b), dtype)
    }
}

/// The larger of `a` and `b`; NaN if either is NaN.
pub(super) fn max_nan(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a >= b {
        a
    } else {
        b
    }
}

/// The smaller of `a` and `b`; NaN if either is NaN.
pub(super) fn min_nan(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a <= b {
        a
    } else {
        b
    }
}

/// A total order on values with NaN above everything (ties, including
/// -0 and +0, are `Equal`): the ascending order of argsort.
pub(super) fn cmp_nan_last(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.partial_cmp(&b).expect("neither is NaN"),
    }
}

/// One element of [`crate::primitive::Primitive::Unary`]; `dtype` is the
/// input's dtype (already validated by `infer`).
pub(super) fn unary(op: UnaryOp, x: f64, dtype: DType) -> f64 {
    use UnaryOp::*;
    if !dtype.is_float() {
        let i = to_int(x);
        return match op {
            Neg => wrap_int(-i, dtype),
            Abs => wrap_int(i.abs(), dtype),
            Sign => i.signum() as f64,
            LogicalNot => bool_f64(i == 0),
            _ => unreachable!("infer rejects {op:?} on {dtype}"),
        };
    }
    match op {
        Neg => -x,
        Abs => x.abs(),
        Sign => {
            if x.is_nan() {
                x
            } else if x == 0.0 {
                0.0
            } else {
                x.signum()
            }
        }
        Exp => x.exp(),
        Log => x.ln(),
        Log1p => x.ln_1p(),
        Expm1 => x.exp_m1(),
        Sqrt => x.sqrt(),
        Rsqrt => 1.0 / x.sqrt(),
        Sin => x.sin(),
        Cos => x.cos(),
        Tan => x.tan(),
        Tanh => x.tanh(),
        Sigmoid => sigmoid(x),
        Erf => erf(x),
        Recip => 1.0 / x,
        Floor => x.floor(),
        Ceil => x.ceil(),
        Round => x.round_ties_even(),
        IsNan => bool_f64(x.is_nan()),
        IsInf => bool_f64(x.is_infinite()),
        LogicalNot => unreachable!("infer rejects logical_not on {dtype}"),
    }
}

/// `1 / (1 + exp(-x))`, written so that `exp` never overflows into a NaN:
/// for negative `x` the equal form `exp(x) / (1 + exp(x))` is used.
pub(super) fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// The error function, within about 2 ulps (measured against 30-digit
/// values: at most 1.6 ulps).
///
/// - `|x| < 1`: the Maclaurin series `erf(x) = 2/sqrt(pi) * sum_n (-1)^n
///   x^(2n+1) / (n! (2n+1))` (Abramowitz & Stegun 7.1.5), summed smallest
///   term first; its terms shrink from the first, so little cancels;
/// - `1 <= |x| < 6`: `erf = 1 - erfc` with Laplace's continued fraction
///   `erfc(x) = exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))`
///   (A&S 7.1.14), evaluated bottom-up from 300 levels (converged to the
///   last bit for `x >= 1`); `x^2` is split exactly into `hi + lo` with an
///   FMA so that `exp(-x^2)` loses nothing to rounding `x^2`;
/// - `|x| >= 6`: `erfc(x) < 2e-17`, so `erf` rounds to ±1.
pub(super) fn erf(x: f64) -> f64 {
    use std::f64::consts::FRAC_2_SQRT_PI;
    if x.is_nan() {
        return x;
    }
    let a = x.abs();
    if a >= 6.0 {
        return 1.0f64.copysign(x);
    }
    let r = if a < 1.0 {
        let a2 = a * a;
        let mut terms = vec![a];
        let mut p = a; // (-1)^n a^(2n+1) / n!
        let mut n = 0.0;
        loop {
            n += 1.0;
            p *= -a2 / n;
            let t = p / (2.0 * n + 1.0);
            terms.push(t);
            if t.abs() <= 1e-17 * a {
                break;
            }
        }
        FRAC_2_SQRT_PI * terms.iter().rev().sum::<f64>()
    } else {
        let hi = a * a;
        let lo = a.mul_add(a, -hi); // a*a == hi + lo exactly
        let q = (-hi).exp() * (1.0 - lo); // exp(-hi - lo), |lo| tiny
        let mut t = a;
        for k in (1..=300).rev() {
            t = a + (k as f64 / 2.0) / t;
        }
        1.0 - q * (FRAC_2_SQRT_PI / 2.0) / t
    };
    r.copysign(x)
}

/// One element of [`crate::primitive::Primitive::Binary`] on inputs of
/// `dtype` (validated by `infer`).
pub(super) fn binary(op: BinaryOp, a: f64, b: f64, dtype: DType) -> f64 {
    use BinaryOp::*;
    match op {
        Maximum => max_nan(a, b),
        Minimum => min_nan(a, b),
        LogicalAnd => bool_f64(a != 0.0 && b != 0.0),
        LogicalOr => bool_f64(a != 0.0 || b != 0.0),
        Add | Sub | Mul | Div | Rem | FloorDiv | Pow if dtype.is_float() => match op {
            FloorDiv => float_floor_div(a, b),
            Add => a + b,
            Sub => a - b,
            Mul => a * b,
            Div => a / b,
            Rem => float_rem(a, b),
            _ => a.powf(b),
        },
        Add | Sub | Mul | Div | Rem | FloorDiv | Pow => {
            let (a, b) = (to_int(a), to_int(b));
            let r = match op {
                Add => a + b,
                Sub => a - b,
                Mul => a * b,
                Div | FloorDiv => floor_div(a, b),
                Rem => python_rem(a, b),
                _ => int_pow(a, b),
            };
            wrap_int(r, dtype)
        }
    }
}

/// Python's float `a % b`: `a - b*floor(a/b)` with the sign of `b`, NaN for
/// `b == 0`. Computed as CPython and NumPy do, from the exact `fmod`, then
/// moved by `b` when its sign differs from `b`'s; a zero result takes `b`'s
/// sign.
pub(super) fn float_rem(a: f64, b: f64) -> f64 {
    let m = a % b; // fmod: exact, sign of a
    if m == 0.0 {
        0.0f64.copysign(b)
    } else if (m < 0.0) != (b < 0.0) {
        m + b
    } else {
        m
    }
}

/// Floor division (Python `//`); `a // 0 = 0`.
pub(super) fn floor_div(a: i128, b: i128) -> i128 {
    if b == 0 {
        return 0;
    }
    let q = a / b; // truncates toward zero
    if a % b != 0 && ((a < 0) != (b < 0)) {
        q - 1
    } else {
        q
    }
}

/// Python-style remainder, with the sign of the divisor; `a % 0 = 0`.
pub(super) fn python_rem(a: i128, b: i128) -> i128 {
    if b == 0 {
        return 0;
    }
    let r = a % b; // sign of a
    if r != 0 && ((r < 0) != (b < 0)) {
        r + b
    } else {
        r
    }
}

/// `base ** exp` for ints. Negative exponents give 0, except for bases 1
/// (always 1) and -1 (±1 by the exponent's parity). Otherwise square and
/// multiply with wrapping `i128` arithmetic: exact modulo 2^128, hence
/// exact modulo 2^bits for every int dtype once wrapped.
pub(super) fn int_pow(base: i128, exp: i128) -> i128 {
    if exp < 0 {
        return match base {
            1 => 1,
            -1 if exp % 2 == 0 => 1,
            -1 => -1,
            _ => 0,
        };
    }
    let mut result: i128 = 1;
    let mut b = base;
    let mut e = exp;
    while e > 0 {
        if e & 1 == 1 {
            result = result.wrapping_mul(b);
        }
        b = b.wrapping_mul(b);
        e >>= 1;
    }
    result
}

/// One element of [`crate::primitive::Primitive::Compare`]: IEEE
/// comparisons, so NaN compares false except under `Ne`.
pub(super) fn compare(op: CompareOp, a: f64, b: f64) -> bool {
    match op {
        CompareOp::Eq => a == b,
        CompareOp::Ne => a != b,
        CompareOp::Lt => a < b,
        CompareOp::Le => a <= b,
        CompareOp::Gt => a > b,
        CompareOp::Ge => a >= b,
    }
}

/// NumPy's float `floor_divide`, from its `divmod`: the exact `fmod`, moved
/// by one when its sign differs from the divisor's, then rounded.
pub(super) fn float_floor_div(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        return a / b;
    }
    let m = a % b;
    let mut div = (a - m) / b;
    if m != 0.0 && ((b < 0.0) != (m < 0.0)) {
        div -= 1.0;
    }
    if div != 0.0 {
        let f = div.floor();
        if div - f > 0.5 {
            f + 1.0
        } else {
            f
        }
    } else {
        0.0f64.copysign(a / b)
    }
}
