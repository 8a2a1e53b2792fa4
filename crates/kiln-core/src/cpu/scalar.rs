//! Per-element scalar semantics shared by the CPU kernels: arithmetic with
//! NumPy's integer rules, NaN-propagating max/min, and float math.

use crate::buffer::BufferElement;
use crate::primitive::UnaryOp;
use half::{bf16, f16};

/// Ordering helpers defined for every element type (bool included).
pub trait Ordered: BufferElement {
    /// NaN-propagating maximum.
    fn max_nan(a: Self, b: Self) -> Self;
    /// NaN-propagating minimum.
    fn min_nan(a: Self, b: Self) -> Self;
    /// True only for float NaN.
    fn is_nan(self) -> bool;
    /// The identity of `Max` (lowest value; -inf for floats).
    fn lowest() -> Self;
    /// The identity of `Min` (highest value; +inf for floats).
    fn highest() -> Self;
}

/// Arithmetic on numeric element types (not bool), NumPy semantics.
pub trait Num: Ordered {
    fn add(a: Self, b: Self) -> Self;
    fn sub(a: Self, b: Self) -> Self;
    fn mul(a: Self, b: Self) -> Self;
    /// Floats: IEEE; ints: floor division, x // 0 = 0.
    fn div(a: Self, b: Self) -> Self;
    /// Python remainder (sign of the divisor); ints: x % 0 = 0.
    fn rem(a: Self, b: Self) -> Self;
    /// Floor division: NumPy's `floor_divide` for floats, `div` for ints.
    fn floor_div(a: Self, b: Self) -> Self;
    fn pow(a: Self, b: Self) -> Self;
    fn neg(a: Self) -> Self;
    fn abs(a: Self) -> Self;
    fn sign(a: Self) -> Self;
}

macro_rules! impl_int {
    ($($t:ty),*) => {$(
        impl Ordered for $t {
            #[inline(always)] fn max_nan(a: Self, b: Self) -> Self { if a >= b { a } else { b } }
            #[inline(always)] fn min_nan(a: Self, b: Self) -> Self { if a <= b { a } else { b } }
            #[inline(always)] fn is_nan(self) -> bool { false }
            #[inline(always)] fn lowest() -> Self { <$t>::MIN }
            #[inline(always)] fn highest() -> Self { <$t>::MAX }
        }
        #[allow(unused_comparisons)]
        impl Num for $t {
            #[inline(always)] fn add(a: Self, b: Self) -> Self { a.wrapping_add(b) }
            #[inline(always)] fn sub(a: Self, b: Self) -> Self { a.wrapping_sub(b) }
            #[inline(always)] fn mul(a: Self, b: Self) -> Self { a.wrapping_mul(b) }
            #[inline(always)]
            fn div(a: Self, b: Self) -> Self {
                if b == 0 { return 0; }
                let q = a.wrapping_div(b);
                let adjust = (a.wrapping_rem(b) != 0) && ((a < 0) != (b < 0));
                if adjust { q.wrapping_sub(1) } else { q }
            }
            #[inline(always)]
            fn rem(a: Self, b: Self) -> Self {
                if b == 0 { return 0; }
                let r = a.wrapping_rem(b);
                let adjust = r != 0 && ((r < 0) != (b < 0));
                if adjust { r.wrapping_add(b) } else { r }
            }
            #[inline(always)]
            fn floor_div(a: Self, b: Self) -> Self { <Self as Num>::div(a, b) }
            #[inline(always)]
            fn pow(a: Self, b: Self) -> Self {
                if b < 0 {
                    // Only |a| == 1 survives a negative integer exponent.
                    return if a == 1 { 1 } else if a.wrapping_add(1) == 0 {
                        if b.wrapping_rem(2) == 0 { 1 } else { a }
                    } else { 0 };
                }
                let mut result: $t = 1;
                let mut base = a;
                let mut e = b;
                while e != 0 {
                    if e & 1 == 1 { result = result.wrapping_mul(base); }
                    base = base.wrapping_mul(base);
                    e >>= 1;
                }
                result
            }
            #[inline(always)] fn neg(a: Self) -> Self { (0 as $t).wrapping_sub(a) }
            #[inline(always)]
            fn abs(a: Self) -> Self { if a < 0 { (0 as $t).wrapping_sub(a) } else { a } }
            #[inline(always)]
            fn sign(a: Self) -> Self { if a > 0 { 1 } else if a < 0 { (0 as $t).wrapping_sub(1) } else { 0 } }
        }
    )*};
}
impl_int!(u8, u32, i8, i16, i32, i64);

impl Ordered for bool {
    fn max_nan(a: Self, b: Self) -> Self {
        a | b
    }
    fn min_nan(a: Self, b: Self) -> Self {
        a & b
    }
    fn is_nan(self) -> bool {
        false
    }
    fn lowest() -> Self {
        false
    }
    fn highest() -> Self {
        true
    }
}

macro_rules! impl_float {
    ($t:ty, $to:expr, $from:expr) => {
        impl Ordered for $t {
            #[inline(always)]
            fn max_nan(a: Self, b: Self) -> Self {
                if a.is_nan() || a >= b {
                    a
                } else {
                    b
                }
            }
            #[inline(always)]
            fn min_nan(a: Self, b: Self) -> Self {
                if a.is_nan() || a <= b {
                    a
                } else {
                    b
                }
            }
            #[inline(always)]
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            #[inline(always)]
            fn lowest() -> Self {
                <$t>::NEG_INFINITY
            }
            #[inline(always)]
            fn highest() -> Self {
                <$t>::INFINITY
            }
        }
        impl Num for $t {
            #[inline(always)]
            fn add(a: Self, b: Self) -> Self {
                a + b
            }
            #[inline(always)]
            fn sub(a: Self, b: Self) -> Self {
                a - b
            }
            #[inline(always)]
            fn mul(a: Self, b: Self) -> Self {
                a * b
            }
            #[inline(always)]
            fn div(a: Self, b: Self) -> Self {
                a / b
            }
            #[inline(always)]
            fn rem(a: Self, b: Self) -> Self {
                let (x, y) = ($to(a), $to(b));
                let r = x % y;
                $from(if r != 0.0 && ((r < 0.0) != (y < 0.0)) {
                    r + y
                } else {
                    r
                })
            }
            #[inline(always)]
            fn floor_div(a: Self, b: Self) -> Self {
                let (x, y) = ($to(a), $to(b));
                if y == 0.0 {
                    return $from(x / y);
                }
                let m = x % y;
                let mut div = (x - m) / y;
                if m != 0.0 && ((y < 0.0) != (m < 0.0)) {
                    div -= 1.0;
                }
                $from(if div != 0.0 {
                    let f = div.floor();
                    if div - f > 0.5 {
                        f + 1.0
                    } else {
                        f
                    }
                } else {
                    (x - x + 0.0).copysign(x / y)
                })
            }
            #[inline(always)]
            fn pow(a: Self, b: Self) -> Self {
                $from($to(a).powf($to(b)))
            }
            #[inline(always)]
            fn neg(a: Self) -> Self {
                -a
            }
            #[inline(always)]
            fn abs(a: Self) -> Self {
                $from($to(a).abs())
            }
            #[inline(always)]
            fn sign(a: Self) -> Self {
                let x = $to(a);
                $from(if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    x
                })
            }
        }
    };
}
impl_float!(f32, |x: f32| x, |x: f32| x);
impl_float!(f64, |x: f64| x, |x: f64| x);
impl_float!(f16, |x: f16| x.to_f32(), f16::from_f32);
impl_float!(bf16, |x: bf16| x.to_f32(), bf16::from_f32);

/// Float math in the compute type (`f32` for the half types, or `f64`).
pub trait Real: Copy + PartialOrd {
    /// Applies a float unary op (`Exp` .. `Round`).
    fn apply(op: UnaryOp, x: Self) -> Self;
}

macro_rules! impl_real {
    ($t:ty, exp: $exp:expr, expm1: $expm1:expr, log: $log:expr, tanh: $tanh:expr, sigmoid: $sigmoid:expr, erf: $erf:expr) => {
        impl Real for $t {
            #[inline(always)]
            fn apply(op: UnaryOp, x: Self) -> Self {
                use UnaryOp::*;
                match op {
                    Exp => $exp(x),
                    Log => $log(x),
                    Log1p => x.ln_1p(),
                    Expm1 => $expm1(x),
                    Sqrt => x.sqrt(),
                    Rsqrt => 1.0 / x.sqrt(),
                    Sin => x.sin(),
                    Cos => x.cos(),
                    Tan => x.tan(),
                    Tanh => $tanh(x),
                    Sigmoid => $sigmoid(x),
                    Erf => $erf(x),
                    Recip => 1.0 / x,
                    Floor => x.floor(),
                    Ceil => x.ceil(),
                    Round => x.round_ties_even(),
                    Neg => -x,
                    Abs => x.abs(),
                    Sign => {
                        if x > 0.0 {
                            1.0
                        } else if x < 0.0 {
                            -1.0
                        } else {
                            x
                        }
                    }
                    LogicalNot | IsNan | IsInf => unreachable!("not a float op"),
                }
            }
        }
    };
}
// f32 (and so f16/bf16) transcendentals are the branch-free polynomial
// versions, which vectorize; f64 keeps the standard library's.
impl_real!(
    f32,
    exp: super::vmath::exp,
    expm1: super::vmath::expm1,
    log: super::vmath::log,
    tanh: super::vmath::tanh,
    sigmoid: super::vmath::sigmoid,
    erf: super::vmath::erf
);
impl_real!(
    f64,
    exp: f64::exp,
    expm1: f64::exp_m1,
    log: f64::ln,
    tanh: f64::tanh,
    sigmoid: sigmoid_f64,
    erf: erf
);

/// `1 / (1 + e^-x)` in f64 without overflow.
fn sigmoid_f64(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// The error function in f64 (relative error ~1e-15).
///
/// Small |x|: the everywhere-positive series
/// `erf(x) = 2/sqrt(pi) e^{-x^2} sum_n 2^n x^{2n+1} / (1*3*...*(2n+1))`;
/// large |x|: `erfc` by its continued fraction (Lentz's method).
pub fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let a = x.abs();
    let value = if a < 2.5 {
        let x2 = a * a;
        let mut term = a;
        let mut sum = a;
        let mut n = 0.0;
        while term > sum * 1e-17 {
            n += 1.0;
            term *= 2.0 * x2 / (2.0 * n + 1.0);
            sum += term;
        }
        std::f64::consts::FRAC_2_SQRT_PI * (-x2).exp() * sum
    } else if a < 6.0 {
        1.0 - erfc_continued_fraction(a)
    } else {
        1.0
    };
    value.copysign(x)
}

/// `erfc(x)` for x >= 2.5 by the continued fraction
/// `erfc(x) = e^{-x^2}/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))`.
fn erfc_continued_fraction(x: f64) -> f64 {
    let tiny = 1e-300;
    let mut f = x;
    let mut c = x;
    let mut d = 0.0;
    for k in 1..200 {
        let a = k as f64 * 0.5;
        d = x + a * d;
        d = if d.abs() < tiny { tiny } else { d };
        c = x + a / c;
        c = if c.abs() < tiny { tiny } else { c };
        d = 1.0 / d;
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    (-x * x).exp() / (f * std::f64::consts::PI.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_known_values() {
        // Values from Abramowitz & Stegun table 7.1 / high-precision references.
        let cases = [
            (0.0, 0.0),
            (0.5, 0.520_499_877_813_046_5),
            (1.0, 0.842_700_792_949_714_9),
            (2.0, 0.995_322_265_018_952_7),
            (2.5, 0.999_593_047_982_555),
            (3.0, 0.999_977_909_503_001_4),
            (4.0, 0.999_999_984_582_742_1),
        ];
        for (x, want) in cases {
            assert!(
                (erf(x) - want).abs() < 1e-15,
                "erf({x}) = {} != {want}",
                erf(x)
            );
            assert!((erf(-x) + want).abs() < 1e-15);
        }
    }

    #[test]
    fn int_semantics_follow_python() {
        assert_eq!(<i32 as Num>::div(-7, 2), -4);
        assert_eq!(<i32 as Num>::rem(-7, 2), 1);
        assert_eq!(<i32 as Num>::rem(7, -2), -1);
        assert_eq!(<i32 as Num>::div(7, 0), 0);
        assert_eq!(<i64 as Num>::pow(3, 4), 81);
        assert_eq!(<i64 as Num>::pow(-1, -3), -1);
        assert_eq!(<i64 as Num>::pow(2, -1), 0);
        assert_eq!(<u8 as Num>::add(250, 10), 4);
        assert_eq!(<f32 as Num>::rem(-7.0, 2.0), 1.0);
    }
}

/// A float element type with the type its math is computed in.
pub trait FloatCompute: crate::dtype::FloatElement + Ordered {
    /// `f32` for f16/bf16/f32, `f64` for f64.
    type C: Real;
    /// Widens to the compute type.
    fn up(self) -> Self::C;
    /// Narrows from the compute type.
    fn down(c: Self::C) -> Self;
}

macro_rules! impl_float_compute {
    ($t:ty, $c:ty, $up:expr, $down:expr) => {
        impl FloatCompute for $t {
            type C = $c;
            #[inline(always)]
            fn up(self) -> $c {
                $up(self)
            }
            #[inline(always)]
            fn down(c: $c) -> Self {
                $down(c)
            }
        }
    };
}
impl_float_compute!(f32, f32, |x: f32| x, |x: f32| x);
impl_float_compute!(f64, f64, |x: f64| x, |x: f64| x);
impl_float_compute!(f16, f32, |x: f16| x.to_f32(), f16::from_f32);
impl_float_compute!(bf16, f32, |x: bf16| x.to_f32(), bf16::from_f32);
