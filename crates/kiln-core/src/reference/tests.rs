//! Hand-computed cases for every primitive of the reference evaluator.

use super::*;
use crate::dtype::DType::{self, *};
use crate::primitive::{
    ArgReduceOp, BinaryOp, CompareOp, Distribution, Primitive, ReduceOp, ScanOp, UnaryOp,
};
use half::{bf16, f16};

const NAN: f64 = f64::NAN;
const INF: f64 = f64::INFINITY;

fn arr(shape: &[usize], dtype: DType, data: &[f64]) -> RefArray {
    RefArray::new(shape.to_vec(), dtype, data.to_vec())
}

fn f64s(shape: &[usize], data: &[f64]) -> RefArray {
    arr(shape, F64, data)
}

fn i64s(shape: &[usize], data: &[f64]) -> RefArray {
    arr(shape, I64, data)
}

/// 0, 1, 2, ... as an f64 array of `shape`.
fn iota(shape: &[usize]) -> RefArray {
    let n = crate::shape::numel(shape);
    f64s(shape, &(0..n).map(|v| v as f64).collect::<Vec<_>>())
}

/// A one-input argument list.
fn one(x: &RefArray) -> &[RefArray] {
    std::slice::from_ref(x)
}

fn ev(prim: Primitive, inputs: &[RefArray]) -> RefArray {
    evaluate(&prim, inputs).unwrap_or_else(|e| panic!("{prim}: {e}"))
}

/// Asserts shape, dtype and data, with NaN equal to NaN.
fn check(got: &RefArray, shape: &[usize], dtype: DType, data: &[f64]) {
    assert_eq!(got.shape, shape, "shape of {got:?}");
    assert_eq!(got.dtype, dtype, "dtype of {got:?}");
    assert_eq!(got.data.len(), data.len(), "length of {got:?}");
    for (k, (&g, &w)) in got.data.iter().zip(data).enumerate() {
        assert!(
            g == w || (g.is_nan() && w.is_nan()),
            "element {k}: got {g}, want {w} (in {got:?})"
        );
    }
}

/// Asserts the data agrees with `want` to a relative tolerance.
fn check_close(got: &RefArray, want: &[f64], rel: f64) {
    assert_eq!(got.data.len(), want.len());
    for (k, (&g, &w)) in got.data.iter().zip(want).enumerate() {
        let ok = g == w || (g.is_nan() && w.is_nan()) || (g - w).abs() <= rel * w.abs();
        assert!(ok, "element {k}: got {g:e}, want {w:e}");
    }
}

/// A small deterministic generator for property tests.
struct Lcg(u64);
impl Lcg {
    fn next_u32(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 32) as u32
    }
    fn small_int(&mut self) -> f64 {
        (self.next_u32() % 19) as f64 - 9.0
    }
}

// ---------------------------------------------------------------- rounding

#[test]
fn round_to_int_dtypes_wraps() {
    assert_eq!(round_to_dtype(300.0, U8), 44.0);
    assert_eq!(round_to_dtype(-1.0, U8), 255.0);
    assert_eq!(round_to_dtype(256.0, U8), 0.0);
    assert_eq!(round_to_dtype(128.0, I8), -128.0);
    assert_eq!(round_to_dtype(-129.0, I8), 127.0);
    assert_eq!(round_to_dtype(40000.0, I16), -25536.0);
    assert_eq!(round_to_dtype(2.7, I32), 2.0);
    assert_eq!(round_to_dtype(-2.7, I32), -2.0);
    assert_eq!(round_to_dtype(-1.0, U32), 4294967295.0);
    assert_eq!(round_to_dtype(4294967296.0 + 7.0, U32), 7.0);
    assert_eq!(round_to_dtype(2147483648.0, I32), -2147483648.0);
    assert_eq!(round_to_dtype(NAN, I32), 0.0);
    assert_eq!(round_to_dtype(INF, I8), 0.0);
    assert_eq!(round_to_dtype(-INF, U8), 0.0);
    // i64::MAX is held as 2^63 and survives; other values wrap mod 2^64.
    assert_eq!(round_to_dtype(i64::MAX as f64, I64), i64::MAX as f64);
    assert_eq!(round_to_dtype(i64::MIN as f64, I64), i64::MIN as f64);
    let two64 = 18446744073709551616.0;
    assert_eq!(round_to_dtype(two64 + 4096.0, I64), 4096.0);
    assert_eq!(round_to_dtype(-two64 - 4096.0, I64), -4096.0);
    assert_eq!(
        round_to_dtype(i64::MIN as f64 - 2048.0, I64),
        9223372036854773760.0
    );
    assert_eq!(round_to_dtype(1e300, I64), 0.0);
    assert_eq!(round_to_dtype(1e300, U8), 0.0);
}

#[test]
fn round_to_bool() {
    assert_eq!(round_to_dtype(0.5, Bool), 1.0);
    assert_eq!(round_to_dtype(-3.0, Bool), 1.0);
    assert_eq!(round_to_dtype(NAN, Bool), 1.0);
    assert_eq!(round_to_dtype(0.0, Bool), 0.0);
    assert_eq!(round_to_dtype(-0.0, Bool), 0.0);
}

#[test]
fn round_to_float_dtypes_is_correctly_rounded() {
    assert_eq!(round_to_dtype(0.1, F64), 0.1);
    assert_eq!(round_to_dtype(0.1, F32), 0.1f32 as f64);
    assert_eq!(round_to_dtype(1e39, F32), INF);
    assert!(round_to_dtype(NAN, F16).is_nan());
    assert_eq!(round_to_dtype(-INF, BF16), -INF);
    assert_eq!(round_to_dtype(-0.0, F16).to_bits(), (-0.0f64).to_bits());
    let p = |e: i32| 2f64.powi(e);
    // f16: ties to even, and no double rounding through f32.
    assert_eq!(round_to_dtype(1.0 + p(-11), F16), 1.0);
    assert_eq!(round_to_dtype(1.0 + 3.0 * p(-11), F16), 1.0 + p(-9));
    assert_eq!(round_to_dtype(1.0 + p(-11) + p(-40), F16), 1.0 + p(-10));
    assert_eq!(
        round_to_dtype(-(1.0 + p(-11) + p(-40)), F16),
        -(1.0 + p(-10))
    );
    assert_eq!(round_to_dtype(65504.0, F16), 65504.0);
    assert_eq!(round_to_dtype(65519.99, F16), 65504.0);
    assert_eq!(round_to_dtype(65520.0, F16), INF);
    assert_eq!(round_to_dtype(-70000.0, F16), -INF);
    // f16 subnormals: spacing 2^-24.
    assert_eq!(round_to_dtype(p(-25), F16), 0.0);
    assert_eq!(round_to_dtype(p(-25) + p(-50), F16), p(-24));
    assert_eq!(round_to_dtype(3.0 * p(-26), F16), p(-24));
    assert_eq!(round_to_dtype(3.0 * p(-25), F16), 2.0 * p(-24));
    assert_eq!(round_to_dtype(1e-300, F16), 0.0);
    // bf16: 8 significant bits.
    assert_eq!(round_to_dtype(1.0 + p(-8), BF16), 1.0);
    assert_eq!(round_to_dtype(1.0 + 3.0 * p(-8), BF16), 1.0 + p(-6));
    assert_eq!(round_to_dtype(1.0 + p(-8) + p(-40), BF16), 1.0 + p(-7));
    assert_eq!(
        round_to_dtype(3.0e38, BF16),
        bf16::from_f32(3.0e38).to_f64()
    );
    assert_eq!(round_to_dtype(3.4e38, BF16), INF);
    assert_eq!(round_to_dtype(p(-133), BF16), p(-133));
    assert_eq!(round_to_dtype(p(-134), BF16), 0.0);
}

#[test]
fn round_to_half_types_agrees_with_half_from_f32() {
    // half's f32 -> f16/bf16 conversions are correctly rounded, so every f32
    // must round the same way through our f64 path.
    let mut rng = Lcg(7);
    let mut specials: Vec<u32> = vec![0, 0x8000_0000, 0x3380_0000, 0x3300_0000, 0x477f_f000];
    specials.extend((0..200_000).map(|_| rng.next_u32()));
    for bits in specials {
        let x = f32::from_bits(bits);
        if x.is_nan() {
            continue;
        }
        let want16 = f16::from_f32(x).to_f64();
        let wantb = bf16::from_f32(x).to_f64();
        assert_eq!(round_to_dtype(x as f64, F16), want16, "f16 of {x:e}");
        assert_eq!(round_to_dtype(x as f64, BF16), wantb, "bf16 of {x:e}");
    }
}

#[test]
fn new_rounds_and_checks_length() {
    let a = arr(&[3], I8, &[200.0, -1.5, 3.9]);
    assert_eq!(a.data, vec![-56.0, -1.0, 3.0]);
    let b = arr(&[], F16, &[0.1]);
    assert_eq!(b.data, vec![f16::from_f32(0.1).to_f64()]);
    assert!(std::panic::catch_unwind(|| arr(&[2, 2], F32, &[1.0])).is_err());
}

// ---------------------------------------------------------------- cast

#[test]
fn cast_values() {
    assert_eq!(cast_value(2.9, F32, I32), 2.0);
    assert_eq!(cast_value(-2.9, F64, I32), -2.0);
    assert_eq!(cast_value(300.0, F64, U8), 255.0);
    assert_eq!(cast_value(-5.0, F32, U8), 0.0);
    assert_eq!(cast_value(-200.0, F16, I8), -128.0);
    assert_eq!(cast_value(NAN, F32, I64), 0.0);
    assert_eq!(cast_value(INF, F32, I32), i32::MAX as f64);
    assert_eq!(cast_value(-INF, F32, I32), i32::MIN as f64);
    assert_eq!(cast_value(1e20, F64, I64), i64::MAX as f64);
    // int -> int wraps.
    assert_eq!(cast_value(300.0, I32, U8), 44.0);
    assert_eq!(cast_value(-1.0, I8, U8), 255.0);
    assert_eq!(cast_value(-1.0, I64, U32), 4294967295.0);
    assert_eq!(cast_value(255.0, U8, I8), -1.0);
    assert_eq!(cast_value(1.0, Bool, I8), 1.0);
    // -> bool.
    assert_eq!(cast_value(0.5, F32, Bool), 1.0);
    assert_eq!(cast_value(NAN, F32, Bool), 1.0);
    assert_eq!(cast_value(0.0, F32, Bool), 0.0);
    assert_eq!(cast_value(-7.0, I8, Bool), 1.0);
    // -> float.
    assert_eq!(cast_value(1.0, Bool, F32), 1.0);
    assert_eq!(cast_value(70000.0, I32, F16), INF);
    assert_eq!(cast_value(16777217.0, I32, F32), 16777216.0);
    assert_eq!(cast_value(0.1, F64, F32), 0.1f32 as f64);
}

#[test]
fn cast_primitive() {
    let x = arr(&[5], F32, &[1.7, -1.7, 300.0, NAN, -0.0]);
    check(
        &ev(Primitive::Cast(U8), one(&x)),
        &[5],
        U8,
        &[1.0, 0.0, 255.0, 0.0, 0.0],
    );
    check(
        &ev(Primitive::Cast(I8), one(&x)),
        &[5],
        I8,
        &[1.0, -1.0, 127.0, 0.0, 0.0],
    );
    check(
        &ev(Primitive::Cast(Bool), one(&x)),
        &[5],
        Bool,
        &[1.0, 1.0, 1.0, 1.0, 0.0],
    );
    let y = arr(&[3], I32, &[-1.0, 256.0, 1000.0]);
    check(
        &ev(Primitive::Cast(U8), one(&y)),
        &[3],
        U8,
        &[255.0, 0.0, 232.0],
    );
    check(
        &ev(Primitive::Cast(F16), &[y]),
        &[3],
        F16,
        &[-1.0, 256.0, 1000.0],
    );
    check(
        &ev(Primitive::Cast(F64), &[arr(&[0], F32, &[])]),
        &[0],
        F64,
        &[],
    );
}

// ---------------------------------------------------------------- unary

fn unary(op: UnaryOp, x: &RefArray) -> RefArray {
    ev(Primitive::Unary(op), one(x))
}

#[test]
fn unary_math_ops() {
    use UnaryOp::*;
    let e = std::f64::consts::E;
    let x = f64s(&[4], &[0.0, 1.0, 4.0, -2.0]);
    check(&unary(Neg, &x), &[4], F64, &[-0.0, -1.0, -4.0, 2.0]);
    check(&unary(Abs, &x), &[4], F64, &[0.0, 1.0, 4.0, 2.0]);
    check(
        &unary(Exp, &x),
        &[4],
        F64,
        &[1.0, e, 4f64.exp(), (-2f64).exp()],
    );
    check(
        &unary(Log, &f64s(&[3], &[1.0, e, 0.0])),
        &[3],
        F64,
        &[0.0, 1.0, -INF],
    );
    check(&unary(Log, &f64s(&[1], &[-1.0])), &[1], F64, &[NAN]);
    check(
        &unary(Log1p, &f64s(&[2], &[0.0, 1e-20])),
        &[2],
        F64,
        &[0.0, 1e-20],
    );
    check(
        &unary(Expm1, &f64s(&[2], &[0.0, 1e-20])),
        &[2],
        F64,
        &[0.0, 1e-20],
    );
    check(&unary(Sqrt, &x), &[4], F64, &[0.0, 1.0, 2.0, NAN]);
    check(&unary(Rsqrt, &x), &[4], F64, &[INF, 1.0, 0.5, NAN]);
    check(&unary(Sin, &f64s(&[1], &[0.0])), &[1], F64, &[0.0]);
    check(&unary(Cos, &f64s(&[1], &[0.0])), &[1], F64, &[1.0]);
    check(&unary(Tan, &f64s(&[1], &[0.0])), &[1], F64, &[0.0]);
    check_close(
        &unary(Sin, &f64s(&[1], &[1.0])),
        &[0.8414709848078965],
        1e-15,
    );
    check_close(
        &unary(Cos, &f64s(&[1], &[1.0])),
        &[0.5403023058681398],
        1e-15,
    );
    check_close(
        &unary(Tan, &f64s(&[1], &[1.0])),
        &[1.5574077246549023],
        1e-15,
    );
    check(
        &unary(Tanh, &f64s(&[3], &[0.0, 50.0, -50.0])),
        &[3],
        F64,
        &[0.0, 1.0, -1.0],
    );
    check(
        &unary(Sigmoid, &f64s(&[5], &[0.0, 1000.0, -1000.0, INF, -INF])),
        &[5],
        F64,
        &[0.5, 1.0, 0.0, 1.0, 0.0],
    );
    check_close(
        &unary(Sigmoid, &f64s(&[2], &[2.0, -2.0])),
        &[0.8807970779778823, 0.11920292202211755],
        1e-15,
    );
    check(
        &unary(Recip, &f64s(&[3], &[4.0, 0.0, -0.0])),
        &[3],
        F64,
        &[0.25, INF, -INF],
    );
}

#[test]
fn unary_sign_and_int_ops() {
    use UnaryOp::*;
    let x = f64s(&[5], &[-2.5, 0.0, 3.0, NAN, -INF]);
    check(&unary(Sign, &x), &[5], F64, &[-1.0, 0.0, 1.0, NAN, -1.0]);
    let i = arr(&[4], I8, &[-128.0, -3.0, 0.0, 127.0]);
    check(&unary(Neg, &i), &[4], I8, &[-128.0, 3.0, 0.0, -127.0]);
    check(&unary(Abs, &i), &[4], I8, &[-128.0, 3.0, 0.0, 127.0]);
    check(&unary(Sign, &i), &[4], I8, &[-1.0, -1.0, 0.0, 1.0]);
    let u = arr(&[3], U8, &[0.0, 1.0, 200.0]);
    check(&unary(Neg, &u), &[3], U8, &[0.0, 255.0, 56.0]);
    check(&unary(Abs, &u), &[3], U8, &[0.0, 1.0, 200.0]);
    check(&unary(Sign, &u), &[3], U8, &[0.0, 1.0, 1.0]);
    let b = arr(&[2], Bool, &[1.0, 0.0]);
    check(&unary(LogicalNot, &b), &[2], Bool, &[0.0, 1.0]);
    assert!(evaluate(&Primitive::Unary(Exp), &[arr(&[1], I32, &[1.0])]).is_err());
    assert!(evaluate(&Primitive::Unary(Neg), &[b]).is_err());
}

#[test]
fn unary_rounding_ops() {
    use UnaryOp::*;
    let x = f64s(&[9], &[0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999, -2.6, 3.0]);
    check(
        &unary(Round, &x),
        &[9],
        F64,
        &[0.0, 2.0, 2.0, -0.0, -2.0, -2.0, 2.0, -3.0, 3.0],
    );
    check(
        &unary(Floor, &x),
        &[9],
        F64,
        &[0.0, 1.0, 2.0, -1.0, -2.0, -3.0, 2.0, -3.0, 3.0],
    );
    check(
        &unary(Ceil, &x),
        &[9],
        F64,
        &[1.0, 2.0, 3.0, -0.0, -1.0, -2.0, 3.0, -2.0, 3.0],
    );
    let h = arr(&[2], F16, &[0.5, 2.5]);
    check(&unary(Round, &h), &[2], F16, &[0.0, 2.0]);
}

#[test]
fn unary_predicates() {
    let x = arr(&[4], F32, &[1.0, NAN, INF, -INF]);
    check(
        &unary(UnaryOp::IsNan, &x),
        &[4],
        Bool,
        &[0.0, 1.0, 0.0, 0.0],
    );
    check(
        &unary(UnaryOp::IsInf, &x),
        &[4],
        Bool,
        &[0.0, 0.0, 1.0, 1.0],
    );
}

#[test]
fn unary_results_round_to_the_dtype() {
    let x = arr(&[2], F16, &[1.0, 3.0]);
    let want: Vec<f64> = [1f64.exp(), 3f64.exp()]
        .iter()
        .map(|&v| f16::from_f64(v).to_f64())
        .collect();
    check(&unary(UnaryOp::Exp, &x), &[2], F16, &want);
    let y = arr(&[1], F32, &[3.0]);
    check(
        &unary(UnaryOp::Recip, &y),
        &[1],
        F32,
        &[(1.0f32 / 3.0) as f64],
    );
    check(
        &unary(UnaryOp::Exp, &arr(&[1], F16, &[12.0])),
        &[1],
        F16,
        &[INF],
    );
}

#[test]
fn erf_matches_high_precision_values() {
    // erf of exactly these f64 values: mpmath at 30 digits, rounded to f64.
    let table = [
        (1e-10, 1.1283791670955126e-10),
        (0.001, 0.0011283787909692365),
        (0.1, 0.1124629160182849),
        (0.25, 0.27632639016823696),
        (0.5, 0.5204998778130465),
        (0.75, 0.7111556336535151),
        (1.0, 0.8427007929497149),
        (1.25, 0.9229001282564583),
        (1.5, 0.9661051464753108),
        (1.75, 0.9866716712191824),
        (1.9999, 0.9953201979070294),
        (2.0, 0.9953222650189527),
        (2.25, 0.9985372834133188),
        (2.5, 0.999593047982555),
        (2.75, 0.9998993780778803),
        (3.0, 0.9999779095030014),
        (3.5, 0.9999992569016276),
        (4.0, 0.9999999845827421),
        (4.5, 0.9999999998033839),
        (5.5, 0.9999999999999927),
        (5.9, 0.9999999999999999),
        (-0.3, -0.3286267594591274),
    ];
    for (x, want) in table {
        let got = scalar::erf(x);
        assert!(
            (got - want).abs() <= 4e-16 * want.abs(),
            "erf({x}) = {got:e}, want {want:e}"
        );
        assert_eq!(scalar::erf(-x), -got);
    }
    // Tiny and subnormal inputs: erf(x) = 2x/sqrt(pi) to the last bit.
    for x in [1e-300, 1e-310, 5e-324] {
        assert_eq!(scalar::erf(x), std::f64::consts::FRAC_2_SQRT_PI * x);
    }
    let x = f64s(&[6], &[0.0, -0.0, 6.0, -30.0, INF, NAN]);
    check(
        &unary(UnaryOp::Erf, &x),
        &[6],
        F64,
        &[0.0, -0.0, 1.0, -1.0, 1.0, NAN],
    );
}

#[test]
fn erf_is_smooth_across_the_method_switch() {
    // Around 1.0, where the series hands over to the continued fraction,
    // differences over 1e-6 must match the derivative 2/sqrt(pi) exp(-x^2)
    // at their midpoint.
    for (lo, hi) in [
        (1.0 - 1e-6, 1.0),
        (1.0, 1.0 + 1e-6),
        (1.0 - 1e-6, 1.0 + 1e-6),
    ] {
        let m: f64 = (lo + hi) / 2.0;
        let want = std::f64::consts::FRAC_2_SQRT_PI * (-m * m).exp() * (hi - lo);
        let d = scalar::erf(hi) - scalar::erf(lo);
        assert!((d - want).abs() <= 1e-8 * want, "{d:e} vs {want:e}");
    }
    // Monotone on a fine grid.
    let mut prev = -1.0;
    for k in 0..=7000 {
        let v = scalar::erf(-3.5 + k as f64 * 1e-3);
        assert!(v >= prev, "erf not monotone at step {k}");
        prev = v;
    }
}

// ---------------------------------------------------------------- binary

fn binary(op: BinaryOp, a: &RefArray, b: &RefArray) -> RefArray {
    ev(Primitive::Binary(op), &[a.clone(), b.clone()])
}

#[test]
fn binary_float_arithmetic() {
    use BinaryOp::*;
    let a = f64s(&[2, 2], &[1.0, -2.0, 2.0, 0.0]);
    let b = f64s(&[2, 2], &[4.0, 0.5, -2.0, 0.0]);
    check(&binary(Add, &a, &b), &[2, 2], F64, &[5.0, -1.5, 0.0, 0.0]);
    check(&binary(Sub, &a, &b), &[2, 2], F64, &[-3.0, -2.5, 4.0, 0.0]);
    check(&binary(Mul, &a, &b), &[2, 2], F64, &[4.0, -1.0, -4.0, 0.0]);
    check(&binary(Div, &a, &b), &[2, 2], F64, &[0.25, -4.0, -1.0, NAN]);
    check(&binary(Pow, &a, &b), &[2, 2], F64, &[1.0, NAN, 0.25, 1.0]);
    let x = arr(&[1], F32, &[1.0]);
    let y = arr(&[1], F32, &[3.0]);
    check(&binary(Div, &x, &y), &[1], F32, &[(1.0f32 / 3.0) as f64]);
    let h = arr(&[1], F16, &[2048.0]);
    check(
        &binary(Add, &h, &arr(&[1], F16, &[1.0])),
        &[1],
        F16,
        &[2048.0],
    );
    check(
        &binary(Add, &h, &arr(&[1], F16, &[3.0])),
        &[1],
        F16,
        &[2052.0],
    );
}

#[test]
fn binary_float_rem_is_python_style() {
    let a = f64s(&[9], &[7.5, -7.5, 7.5, -7.5, 1.0, -1.0, 3.0, INF, -0.0]);
    let b = f64s(&[9], &[2.0, 2.0, -2.0, -2.0, 0.0, INF, INF, 2.0, 1.0]);
    check(
        &binary(BinaryOp::Rem, &a, &b),
        &[9],
        F64,
        &[1.5, 0.5, -0.5, -1.5, NAN, INF, 3.0, NAN, 0.0],
    );
    let r = binary(BinaryOp::Rem, &f64s(&[1], &[4.0]), &f64s(&[1], &[-2.0]));
    assert!(
        r.data[0] == 0.0 && r.data[0].is_sign_negative(),
        "zero takes the divisor's sign"
    );
}

#[test]
fn binary_int_arithmetic_wraps() {
    use BinaryOp::*;
    let a = arr(&[3], I8, &[100.0, -100.0, 7.0]);
    let b = arr(&[3], I8, &[100.0, 100.0, -20.0]);
    check(&binary(Add, &a, &b), &[3], I8, &[-56.0, 0.0, -13.0]);
    check(&binary(Sub, &a, &b), &[3], I8, &[0.0, 56.0, 27.0]);
    check(&binary(Mul, &a, &b), &[3], I8, &[16.0, -16.0, 116.0]);
    let u = arr(&[2], U8, &[0.0, 200.0]);
    let v = arr(&[2], U8, &[1.0, 100.0]);
    check(&binary(Sub, &u, &v), &[2], U8, &[255.0, 100.0]);
    check(&binary(Add, &u, &v), &[2], U8, &[1.0, 44.0]);
    let s = arr(&[1], I16, &[300.0]);
    check(&binary(Mul, &s, &s), &[1], I16, &[24464.0]);
    let big = arr(&[1], I64, &[i64::MAX as f64]);
    check(
        &binary(Add, &big, &i64s(&[1], &[1.0])),
        &[1],
        I64,
        &[i64::MIN as f64],
    );
}

#[test]
fn binary_floor_div_follows_numpy_divmod() {
    let a = f64s(
        &[13],
        &[
            7.5, -7.5, 7.5, -7.5, 1.0, -1.0, 0.0, -INF, 2.0, 2.0, -0.0, 0.0, 1.0,
        ],
    );
    let b = f64s(
        &[13],
        &[
            2.0, 2.0, -2.0, -2.0, 0.0, 0.0, 0.0, 1.0, -INF, INF, 1.0, -1.0, 0.1,
        ],
    );
    let got = binary(BinaryOp::FloorDiv, &a, &b);
    // 1 // 0.1 is 9 (as in Python and NumPy), not floor(1 / 0.1) = 10.
    check(
        &got,
        &[13],
        F64,
        &[
            3.0, -4.0, -4.0, 3.0, INF, -INF, NAN, NAN, -1.0, 0.0, -0.0, -0.0, 9.0,
        ],
    );
    assert!(got.data[10].is_sign_negative() && got.data[11].is_sign_negative());
    // Ints: the same as Div.
    let i = i64s(&[3], &[-7.0, 7.0, 5.0]);
    let j = i64s(&[3], &[2.0, -2.0, 0.0]);
    check(
        &binary(BinaryOp::FloorDiv, &i, &j),
        &[3],
        I64,
        &[-4.0, -4.0, 0.0],
    );
}

#[test]
fn binary_int_floor_div_and_python_rem() {
    let a = i64s(&[8], &[7.0, -7.0, 7.0, -7.0, 5.0, 0.0, 6.0, -6.0]);
    let b = i64s(&[8], &[2.0, 2.0, -2.0, -2.0, 0.0, 3.0, 3.0, 3.0]);
    check(
        &binary(BinaryOp::Div, &a, &b),
        &[8],
        I64,
        &[3.0, -4.0, -4.0, 3.0, 0.0, 0.0, 2.0, -2.0],
    );
    check(
        &binary(BinaryOp::Rem, &a, &b),
        &[8],
        I64,
        &[1.0, 1.0, -1.0, -1.0, 0.0, 0.0, 0.0, 0.0],
    );
    // -128 // -1 overflows and wraps, as in NumPy.
    let m = arr(&[1], I8, &[-128.0]);
    check(
        &binary(BinaryOp::Div, &m, &arr(&[1], I8, &[-1.0])),
        &[1],
        I8,
        &[-128.0],
    );
    check(
        &binary(BinaryOp::Rem, &m, &arr(&[1], I8, &[-1.0])),
        &[1],
        I8,
        &[0.0],
    );
    let u = arr(&[2], U8, &[7.0, 250.0]);
    let w = arr(&[2], U8, &[0.0, 7.0]);
    check(&binary(BinaryOp::Div, &u, &w), &[2], U8, &[0.0, 35.0]);
    check(&binary(BinaryOp::Rem, &u, &w), &[2], U8, &[0.0, 5.0]);
}

#[test]
fn binary_int_pow() {
    let a = i64s(&[9], &[2.0, 3.0, -2.0, 1.0, -1.0, -1.0, 2.0, 0.0, 0.0]);
    let b = i64s(&[9], &[10.0, 2.0, 3.0, -5.0, -3.0, -4.0, -1.0, 0.0, 5.0]);
    check(
        &binary(BinaryOp::Pow, &a, &b),
        &[9],
        I64,
        &[1024.0, 9.0, -8.0, 1.0, -1.0, 1.0, 0.0, 1.0, 0.0],
    );
    let i8s = arr(&[2], I8, &[2.0, 3.0]);
    let e = arr(&[2], I8, &[7.0, 5.0]);
    check(&binary(BinaryOp::Pow, &i8s, &e), &[2], I8, &[-128.0, -13.0]);
    let x = arr(&[1], I32, &[3.0]);
    let y = arr(&[1], I32, &[40.0]);
    check(
        &binary(BinaryOp::Pow, &x, &y),
        &[1],
        I32,
        &[3i32.wrapping_pow(40) as f64],
    );
}

#[test]
fn binary_max_min_and_logic() {
    use BinaryOp::*;
    let a = f64s(&[4], &[1.0, NAN, 3.0, -INF]);
    let b = f64s(&[4], &[2.0, 0.0, NAN, 5.0]);
    check(&binary(Maximum, &a, &b), &[4], F64, &[2.0, NAN, NAN, 5.0]);
    check(&binary(Minimum, &a, &b), &[4], F64, &[1.0, NAN, NAN, -INF]);
    let i = arr(&[2], I32, &[-5.0, 7.0]);
    let j = arr(&[2], I32, &[3.0, 2.0]);
    check(&binary(Maximum, &i, &j), &[2], I32, &[3.0, 7.0]);
    check(&binary(Minimum, &i, &j), &[2], I32, &[-5.0, 2.0]);
    let p = arr(&[4], Bool, &[0.0, 0.0, 1.0, 1.0]);
    let q = arr(&[4], Bool, &[0.0, 1.0, 0.0, 1.0]);
    check(
        &binary(LogicalAnd, &p, &q),
        &[4],
        Bool,
        &[0.0, 0.0, 0.0, 1.0],
    );
    check(
        &binary(LogicalOr, &p, &q),
        &[4],
        Bool,
        &[0.0, 1.0, 1.0, 1.0],
    );
    check(&binary(Maximum, &p, &q), &[4], Bool, &[0.0, 1.0, 1.0, 1.0]);
    assert!(evaluate(&Primitive::Binary(Add), &[p.clone(), q]).is_err());
    assert!(evaluate(&Primitive::Binary(LogicalAnd), &[i.clone(), j]).is_err());
}

#[test]
fn binary_on_scalars_and_empty() {
    let s = binary(BinaryOp::Mul, &f64s(&[], &[3.0]), &f64s(&[], &[4.0]));
    check(&s, &[], F64, &[12.0]);
    let e = binary(BinaryOp::Add, &f64s(&[0, 3], &[]), &f64s(&[0, 3], &[]));
    check(&e, &[0, 3], F64, &[]);
}

#[test]
fn errors_from_infer_are_returned_unchanged() {
    let prim = Primitive::Binary(BinaryOp::Add);
    let (a, b) = (f64s(&[2], &[1.0, 2.0]), f64s(&[3], &[1.0, 2.0, 3.0]));
    let want =
        crate::infer::infer(&prim, &[(&[2usize][..], F64), (&[3usize][..], F64)]).unwrap_err();
    assert_eq!(evaluate(&prim, &[a.clone(), b]), Err(want));
    assert!(evaluate(&prim, &[a]).is_err());
    let bad = RefArray {
        shape: vec![2],
        dtype: F64,
        data: vec![1.0],
    };
    assert!(evaluate(&Primitive::StopGradient, &[bad]).is_err());
}

// ---------------------------------------------------------------- compare, select

#[test]
fn compare_ops_with_nan() {
    use CompareOp::*;
    let a = f64s(&[4], &[1.0, NAN, 2.0, 3.0]);
    let b = f64s(&[4], &[1.0, 1.0, 3.0, NAN]);
    let cases = [
        (Eq, [1.0, 0.0, 0.0, 0.0]),
        (Ne, [0.0, 1.0, 1.0, 1.0]),
        (Lt, [0.0, 0.0, 1.0, 0.0]),
        (Le, [1.0, 0.0, 1.0, 0.0]),
        (Gt, [0.0, 0.0, 0.0, 0.0]),
        (Ge, [1.0, 0.0, 0.0, 0.0]),
    ];
    for (op, want) in cases {
        check(
            &ev(Primitive::Compare(op), &[a.clone(), b.clone()]),
            &[4],
            Bool,
            &want,
        );
    }
    let i = arr(&[2], U8, &[3.0, 250.0]);
    let j = arr(&[2], U8, &[3.0, 2.0]);
    check(
        &ev(Primitive::Compare(Gt), &[i, j]),
        &[2],
        Bool,
        &[0.0, 1.0],
    );
}

#[test]
fn select_picks_by_condition() {
    let c = arr(&[2, 2], Bool, &[1.0, 0.0, 0.0, 1.0]);
    let a = arr(&[2, 2], I32, &[1.0, 2.0, 3.0, 4.0]);
    let b = arr(&[2, 2], I32, &[-1.0, -2.0, -3.0, -4.0]);
    check(
        &ev(Primitive::Select, &[c, a, b]),
        &[2, 2],
        I32,
        &[1.0, -2.0, -3.0, 4.0],
    );
    let c0 = arr(&[], Bool, &[0.0]);
    let r = ev(
        Primitive::Select,
        &[c0, f64s(&[], &[1.0]), f64s(&[], &[NAN])],
    );
    check(&r, &[], F64, &[NAN]);
}

// ---------------------------------------------------------------- layout

#[test]
fn reshape_and_stop_gradient() {
    let x = iota(&[2, 3]);
    check(
        &ev(Primitive::Reshape(vec![3, 2]), one(&x)),
        &[3, 2],
        F64,
        &x.data,
    );
    check(
        &ev(Primitive::Reshape(vec![6, 1]), one(&x)),
        &[6, 1],
        F64,
        &x.data,
    );
    check(
        &ev(Primitive::Reshape(vec![]), &[f64s(&[1, 1], &[5.0])]),
        &[],
        F64,
        &[5.0],
    );
    check(
        &ev(Primitive::Reshape(vec![3, 0]), &[f64s(&[0], &[])]),
        &[3, 0],
        F64,
        &[],
    );
    assert_eq!(ev(Primitive::StopGradient, one(&x)), x);
    assert!(evaluate(&Primitive::Reshape(vec![4]), &[x]).is_err());
}

#[test]
fn permute_axes() {
    let x = iota(&[2, 3]);
    check(
        &ev(Primitive::Permute(vec![1, 0]), &[x]),
        &[3, 2],
        F64,
        &[0.0, 3.0, 1.0, 4.0, 2.0, 5.0],
    );
    // y[i, j, k] = x[j, k, i] for x of shape [2, 3, 2].
    let x = iota(&[2, 3, 2]);
    let y = ev(Primitive::Permute(vec![2, 0, 1]), &[x]);
    check(
        &y,
        &[2, 2, 3],
        F64,
        &[0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 1.0, 3.0, 5.0, 7.0, 9.0, 11.0],
    );
    check(
        &ev(Primitive::Permute(vec![1, 0]), &[iota(&[0, 2])]),
        &[2, 0],
        F64,
        &[],
    );
    check(
        &ev(Primitive::Permute(vec![]), &[f64s(&[], &[4.0])]),
        &[],
        F64,
        &[4.0],
    );
}

#[test]
fn broadcast_right_aligned() {
    let row = f64s(&[3], &[1.0, 2.0, 3.0]);
    check(
        &ev(Primitive::Broadcast(vec![2, 3]), &[row]),
        &[2, 3],
        F64,
        &[1.0, 2.0, 3.0, 1.0, 2.0, 3.0],
    );
    let col = f64s(&[2, 1], &[1.0, 2.0]);
    check(
        &ev(Primitive::Broadcast(vec![2, 3]), &[col]),
        &[2, 3],
        F64,
        &[1.0, 1.0, 1.0, 2.0, 2.0, 2.0],
    );
    let s = f64s(&[], &[7.0]);
    check(
        &ev(Primitive::Broadcast(vec![2, 2]), &[s]),
        &[2, 2],
        F64,
        &[7.0; 4],
    );
    let x = f64s(&[1, 2], &[1.0, 2.0]);
    check(
        &ev(Primitive::Broadcast(vec![2, 2, 2]), &[x]),
        &[2, 2, 2],
        F64,
        &[1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 1.0, 2.0],
    );
    check(
        &ev(Primitive::Broadcast(vec![0]), &[f64s(&[1], &[1.0])]),
        &[0],
        F64,
        &[],
    );
    check(
        &ev(Primitive::Broadcast(vec![3, 0]), &[f64s(&[0], &[])]),
        &[3, 0],
        F64,
        &[],
    );
}

#[test]
fn slice_with_positive_and_negative_steps() {
    let x = iota(&[6]);
    let slice = |start: Vec<usize>, step: Vec<isize>, shape: Vec<usize>| Primitive::Slice {
        start,
        step,
        shape,
    };
    check(
        &ev(slice(vec![1], vec![2], vec![3]), one(&x)),
        &[3],
        F64,
        &[1.0, 3.0, 5.0],
    );
    check(
        &ev(slice(vec![5], vec![-2], vec![3]), one(&x)),
        &[3],
        F64,
        &[5.0, 3.0, 1.0],
    );
    check(
        &ev(slice(vec![5], vec![-1], vec![6]), one(&x)),
        &[6],
        F64,
        &[5.0, 4.0, 3.0, 2.0, 1.0, 0.0],
    );
    check(
        &ev(slice(vec![0], vec![-1], vec![0]), one(&x)),
        &[0],
        F64,
        &[],
    );
    // 3x4: rows 2, 1, 0 and columns 3, 1.
    let m = iota(&[3, 4]);
    check(
        &ev(slice(vec![2, 3], vec![-1, -2], vec![3, 2]), one(&m)),
        &[3, 2],
        F64,
        &[11.0, 9.0, 7.0, 5.0, 3.0, 1.0],
    );
    check(
        &ev(slice(vec![1, 0], vec![1, 3], vec![2, 2]), one(&m)),
        &[2, 2],
        F64,
        &[4.0, 7.0, 8.0, 11.0],
    );
    assert!(evaluate(&slice(vec![5], vec![1], vec![2]), &[x]).is_err());
    check(
        &ev(slice(vec![], vec![], vec![]), &[f64s(&[], &[2.0])]),
        &[],
        F64,
        &[2.0],
    );
}

fn windows(window: &[usize], stride: &[usize], dilation: &[usize]) -> Primitive {
    Primitive::Windows {
        window: window.to_vec(),
        stride: stride.to_vec(),
        dilation: dilation.to_vec(),
    }
}

fn windows_adjoint(
    window: &[usize],
    stride: &[usize],
    dilation: &[usize],
    spatial: &[usize],
) -> Primitive {
    Primitive::WindowsAdjoint {
        window: window.to_vec(),
        stride: stride.to_vec(),
        dilation: dilation.to_vec(),
        spatial: spatial.to_vec(),
    }
}

#[test]
fn windows_1d() {
    let x = iota(&[7]);
    let y = ev(windows(&[3], &[2], &[1]), one(&x));
    check(
        &y,
        &[3, 3],
        F64,
        &[0.0, 1.0, 2.0, 2.0, 3.0, 4.0, 4.0, 5.0, 6.0],
    );
    let y = ev(windows(&[2], &[1], &[2]), one(&x));
    check(
        &y,
        &[5, 2],
        F64,
        &[0.0, 2.0, 1.0, 3.0, 2.0, 4.0, 3.0, 5.0, 4.0, 6.0],
    );
    // A leading batch axis is carried along.
    let xb = iota(&[2, 5]);
    let y = ev(windows(&[2], &[3], &[1]), &[xb]);
    check(
        &y,
        &[2, 2, 2],
        F64,
        &[0.0, 1.0, 3.0, 4.0, 5.0, 6.0, 8.0, 9.0],
    );
    // Window of the whole axis; window too big is an error.
    check(
        &ev(windows(&[7], &[1], &[1]), one(&x)),
        &[1, 7],
        F64,
        &x.data,
    );
    assert!(evaluate(&windows(&[8], &[1], &[1]), &[x]).is_err());
}

#[test]
fn windows_adjoint_1d() {
    let y = iota(&[3, 3]);
    let x = ev(windows_adjoint(&[3], &[2], &[1], &[7]), &[y]);
    check(
        &x,
        &[7],
        F64,
        &[0.0, 1.0, 2.0 + 3.0, 4.0, 5.0 + 6.0, 7.0, 8.0],
    );
    let ones = f64s(&[5, 2], &[1.0; 10]);
    let x = ev(windows_adjoint(&[2], &[1], &[2], &[7]), &[ones]);
    check(&x, &[7], F64, &[1.0, 1.0, 2.0, 2.0, 2.0, 1.0, 1.0]);
    // Spatial 8 with window 3, stride 2: the last position is never read.
    let ones = arr(&[3, 3], I32, &[1.0; 9]);
    let x = ev(windows_adjoint(&[3], &[2], &[1], &[8]), &[ones]);
    check(&x, &[8], I32, &[1.0, 1.0, 2.0, 1.0, 2.0, 1.0, 1.0, 0.0]);
}

#[test]
fn windows_2d() {
    let x = iota(&[3, 4]);
    let y = ev(windows(&[2, 2], &[1, 2], &[1, 1]), &[x]);
    // y[o0, o1, w0, w1] = x[o0 + w0, 2*o1 + w1].
    check(
        &y,
        &[2, 2, 2, 2],
        F64,
        &[
            0.0, 1.0, 4.0, 5.0, // o = (0, 0)
            2.0, 3.0, 6.0, 7.0, // o = (0, 1)
            4.0, 5.0, 8.0, 9.0, // o = (1, 0)
            6.0, 7.0, 10.0, 11.0, // o = (1, 1)
        ],
    );
    // Dilated: y[o0, o1, w0, w1] = x[o0 + 2*w0, o1 + 2*w1] on a 3x4 input.
    let y = ev(windows(&[2, 2], &[1, 1], &[2, 2]), &[iota(&[3, 4])]);
    check(
        &y,
        &[1, 2, 2, 2],
        F64,
        &[0.0, 2.0, 8.0, 10.0, 1.0, 3.0, 9.0, 11.0],
    );
}

#[test]
fn windows_adjoint_2d() {
    let ones = f64s(&[2, 2, 2, 2], &[1.0; 16]);
    let x = ev(
        windows_adjoint(&[2, 2], &[1, 2], &[1, 1], &[3, 4]),
        one(&ones),
    );
    check(
        &x,
        &[3, 4],
        F64,
        &[1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0],
    );
    // Spatial [3, 5]: still 2x2 windows, column 4 is never read.
    let x = ev(windows_adjoint(&[2, 2], &[1, 2], &[1, 1], &[3, 5]), &[ones]);
    check(
        &x,
        &[3, 5],
        F64,
        &[
            1.0, 1.0, 1.0, 1.0, 0.0, 2.0, 2.0, 2.0, 2.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0,
        ],
    );
    // Wrong input shape is an error from infer.
    let bad = f64s(&[2, 2, 2, 2], &[1.0; 16]);
    assert!(evaluate(&windows_adjoint(&[2, 2], &[1, 1], &[1, 1], &[3, 4]), &[bad]).is_err());
}

/// Input shape, window, stride and dilation of a windows test.
type Config = (
    &'static [usize],
    &'static [usize],
    &'static [usize],
    &'static [usize],
);

#[test]
fn windows_adjoint_is_the_adjoint_of_windows() {
    // <windows(x), y> == <x, windows_adjoint(y)> for random x and y.
    let configs: [Config; 4] = [
        (&[2, 9], &[3], &[2], &[1]),
        (&[10], &[2], &[3], &[3]),
        (&[5, 6], &[2, 3], &[2, 1], &[1, 2]),
        (&[2, 4, 7], &[3, 2], &[1, 3], &[1, 1]),
    ];
    let mut rng = Lcg(3);
    for (shape, window, stride, dilation) in configs {
        let n = crate::shape::numel(shape);
        let x = f64s(shape, &(0..n).map(|_| rng.small_int()).collect::<Vec<_>>());
        let wx = ev(windows(window, stride, dilation), one(&x));
        let y = f64s(
            &wx.shape,
            &(0..wx.data.len())
                .map(|_| rng.small_int())
                .collect::<Vec<_>>(),
        );
        let spatial = &shape[shape.len() - window.len()..];
        let aty = ev(windows_adjoint(window, stride, dilation, spatial), one(&y));
        assert_eq!(aty.shape, x.shape);
        let lhs: f64 = wx.data.iter().zip(&y.data).map(|(a, b)| a * b).sum();
        let rhs: f64 = x.data.iter().zip(&aty.data).map(|(a, b)| a * b).sum();
        assert_eq!(lhs, rhs, "config {shape:?} {window:?}");
    }
}

#[test]
fn windows_empty_batch() {
    let x = iota(&[0, 5]);
    check(&ev(windows(&[2], &[1], &[1]), &[x]), &[0, 4, 2], F64, &[]);
    let y = f64s(&[0, 4, 2], &[]);
    check(
        &ev(windows_adjoint(&[2], &[1], &[1], &[5]), &[y]),
        &[0, 5],
        F64,
        &[],
    );
}

#[test]
fn pad_constant() {
    let pad = |lo: Vec<usize>, hi: Vec<usize>, value: f64| Primitive::Pad { lo, hi, value };
    let x = f64s(&[2], &[1.0, 2.0]);
    check(
        &ev(pad(vec![1], vec![2], 9.0), &[x]),
        &[5],
        F64,
        &[9.0, 1.0, 2.0, 9.0, 9.0],
    );
    let m = iota(&[2, 2]);
    check(
        &ev(pad(vec![1, 0], vec![0, 1], 0.0), &[m]),
        &[3, 3],
        F64,
        &[0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 2.0, 3.0, 0.0],
    );
    let i = arr(&[1], I32, &[5.0]);
    check(
        &ev(pad(vec![1], vec![1], 2.7), one(&i)),
        &[3],
        I32,
        &[2.0, 5.0, 2.0],
    );
    check(
        &ev(pad(vec![1], vec![0], NAN), one(&i)),
        &[2],
        I32,
        &[0.0, 5.0],
    );
    check(
        &ev(pad(vec![1], vec![0], 1e10), &[i]),
        &[2],
        I32,
        &[i32::MAX as f64, 5.0],
    );
    check(
        &ev(pad(vec![0], vec![1], 0.1), &[arr(&[1], F16, &[1.0])]),
        &[2],
        F16,
        &[1.0, f16::from_f64(0.1).to_f64()],
    );
    check(
        &ev(pad(vec![1], vec![1], 3.0), &[f64s(&[0], &[])]),
        &[2],
        F64,
        &[3.0, 3.0],
    );
    check(
        &ev(pad(vec![0, 0], vec![0, 0], 3.0), &[iota(&[0, 2])]),
        &[0, 2],
        F64,
        &[],
    );
    check(
        &ev(pad(vec![], vec![], 3.0), &[f64s(&[], &[1.0])]),
        &[],
        F64,
        &[1.0],
    );
}

#[test]
fn concat_along_axes() {
    let a = iota(&[2, 2]);
    let b = f64s(&[1, 2], &[10.0, 11.0]);
    check(
        &ev(Primitive::Concat(0), &[a.clone(), b]),
        &[3, 2],
        F64,
        &[0.0, 1.0, 2.0, 3.0, 10.0, 11.0],
    );
    let c = f64s(&[2, 1], &[10.0, 11.0]);
    let empty = f64s(&[2, 0], &[]);
    check(
        &ev(Primitive::Concat(1), &[a.clone(), empty.clone(), c]),
        &[2, 3],
        F64,
        &[0.0, 1.0, 10.0, 2.0, 3.0, 11.0],
    );
    check(&ev(Primitive::Concat(1), one(&a)), &[2, 2], F64, &a.data);
    check(
        &ev(Primitive::Concat(1), &[empty.clone(), empty]),
        &[2, 0],
        F64,
        &[],
    );
    assert!(evaluate(&Primitive::Concat(0), &[a, arr(&[1, 2], F32, &[0.0, 0.0])]).is_err());
}

#[test]
fn gather_with_negative_indices() {
    let x = f64s(&[2, 3], &[10.0, 20.0, 30.0, 40.0, 50.0, 60.0]);
    let idx = i64s(&[2, 2], &[2.0, -1.0, 0.0, -3.0]);
    check(
        &ev(Primitive::Gather(1), &[x.clone(), idx]),
        &[2, 2],
        F64,
        &[30.0, 30.0, 40.0, 40.0],
    );
    let idx = arr(
        &[3, 3],
        I8,
        &[1.0, 0.0, -1.0, 0.0, 0.0, 1.0, -2.0, 1.0, 0.0],
    );
    check(
        &ev(Primitive::Gather(0), &[x.clone(), idx]),
        &[3, 3],
        F64,
        &[40.0, 20.0, 60.0, 10.0, 20.0, 60.0, 10.0, 50.0, 30.0],
    );
    let idx = arr(&[2, 1], U8, &[2.0, 1.0]);
    check(
        &ev(Primitive::Gather(1), &[x.clone(), idx]),
        &[2, 1],
        F64,
        &[30.0, 50.0],
    );
    let empty = ev(Primitive::Gather(1), &[x.clone(), i64s(&[2, 0], &[])]);
    check(&empty, &[2, 0], F64, &[]);
}

#[test]
fn gather_out_of_range_is_an_error() {
    let x = f64s(&[2, 3], &[10.0, 20.0, 30.0, 40.0, 50.0, 60.0]);
    let err = evaluate(
        &Primitive::Gather(1),
        &[x.clone(), i64s(&[2, 1], &[0.0, 3.0])],
    )
    .unwrap_err();
    assert!(err.contains("index 3") && err.contains("gather"), "{err}");
    let err = evaluate(
        &Primitive::Gather(1),
        &[x.clone(), i64s(&[2, 1], &[-4.0, 0.0])],
    )
    .unwrap_err();
    assert!(err.contains("index -4"), "{err}");
    // Float indices are rejected by infer.
    assert!(evaluate(
        &Primitive::Gather(1),
        &[x.clone(), f64s(&[2, 1], &[0.0, 0.0])]
    )
    .is_err());
}

#[test]
fn scatter_add_accumulates() {
    let base = f64s(&[4], &[0.0; 4]);
    let idx = i64s(&[4], &[0.0, -1.0, 0.0, 2.0]);
    let src = f64s(&[4], &[1.0, 2.0, 3.0, 4.0]);
    check(
        &ev(Primitive::ScatterAdd(0), &[base, idx, src]),
        &[4],
        F64,
        &[4.0, 0.0, 4.0, 2.0],
    );
    // 2-D along axis 0: y[idx[i, j], j] += src[i, j].
    let base = f64s(&[2, 3], &[1.0; 6]);
    let idx = arr(
        &[3, 3],
        I32,
        &[0.0, 1.0, -1.0, 1.0, 1.0, 0.0, 0.0, -2.0, 1.0],
    );
    let src = iota(&[3, 3]);
    check(
        &ev(Primitive::ScatterAdd(0), &[base, idx, src]),
        &[2, 3],
        F64,
        &[
            1.0 + 0.0 + 6.0,
            1.0 + 7.0,
            1.0 + 5.0,
            1.0 + 3.0,
            1.0 + 1.0 + 4.0,
            1.0 + 2.0 + 8.0,
        ],
    );
    // Ints wrap.
    let base = arr(&[1], I8, &[100.0]);
    let src = arr(&[2], I8, &[100.0, 1.0]);
    check(
        &ev(
            Primitive::ScatterAdd(0),
            &[base, i64s(&[2], &[0.0, 0.0]), src],
        ),
        &[1],
        I8,
        &[-55.0],
    );
    // Empty source leaves the base.
    let base = f64s(&[2], &[1.0, 2.0]);
    check(
        &ev(
            Primitive::ScatterAdd(0),
            &[base, i64s(&[0], &[]), f64s(&[0], &[])],
        ),
        &[2],
        F64,
        &[1.0, 2.0],
    );
}

#[test]
fn scatter_add_out_of_range_is_an_error() {
    let base = f64s(&[3], &[0.0; 3]);
    let err = evaluate(
        &Primitive::ScatterAdd(0),
        &[
            base.clone(),
            i64s(&[2], &[1.0, 3.0]),
            f64s(&[2], &[1.0, 1.0]),
        ],
    )
    .unwrap_err();
    assert!(
        err.contains("index 3") && err.contains("scatter_add"),
        "{err}"
    );
    let err = evaluate(
        &Primitive::ScatterAdd(0),
        &[base, i64s(&[1], &[-4.0]), f64s(&[1], &[1.0])],
    )
    .unwrap_err();
    assert!(err.contains("index -4"), "{err}");
}

// ---------------------------------------------------------------- reductions

fn reduce(op: ReduceOp, axes: &[usize], x: &RefArray) -> RefArray {
    ev(
        Primitive::Reduce {
            op,
            axes: axes.to_vec(),
        },
        one(x),
    )
}

#[test]
fn reduce_sum_prod_max_min() {
    use ReduceOp::*;
    let x = f64s(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    check(&reduce(Sum, &[1], &x), &[2, 1], F64, &[6.0, 15.0]);
    check(&reduce(Sum, &[0], &x), &[1, 3], F64, &[5.0, 7.0, 9.0]);
    check(&reduce(Sum, &[0, 1], &x), &[1, 1], F64, &[21.0]);
    check(&reduce(Sum, &[], &x), &[2, 3], F64, &x.data);
    check(&reduce(Prod, &[1], &x), &[2, 1], F64, &[6.0, 120.0]);
    check(&reduce(Max, &[0], &x), &[1, 3], F64, &[4.0, 5.0, 6.0]);
    check(&reduce(Min, &[1], &x), &[2, 1], F64, &[1.0, 4.0]);
    let y = iota(&[2, 3, 2]);
    check(
        &reduce(Sum, &[0, 2], &y),
        &[1, 3, 1],
        F64,
        &[14.0, 22.0, 30.0],
    );
    let n = f64s(&[2, 2], &[1.0, NAN, -INF, 2.0]);
    check(&reduce(Max, &[1], &n), &[2, 1], F64, &[NAN, 2.0]);
    check(&reduce(Min, &[1], &n), &[2, 1], F64, &[NAN, -INF]);
    check(&reduce(Sum, &[], &f64s(&[], &[3.0])), &[], F64, &[3.0]);
    let b = arr(&[2, 2], Bool, &[0.0, 1.0, 1.0, 1.0]);
    check(&reduce(Max, &[1], &b), &[2, 1], Bool, &[1.0, 1.0]);
    check(&reduce(Min, &[1], &b), &[2, 1], Bool, &[0.0, 1.0]);
    assert!(evaluate(
        &Primitive::Reduce {
            op: Sum,
            axes: vec![0]
        },
        &[b]
    )
    .is_err());
}

#[test]
fn reduce_ints_wrap_and_round_floats_once() {
    use ReduceOp::*;
    let i = arr(&[3], I8, &[100.0, 100.0, -50.0]);
    check(&reduce(Sum, &[0], &i), &[1], I8, &[-106.0]);
    check(&reduce(Prod, &[0], &i), &[1], I8, &[-32.0]);
    let u = arr(&[2], U8, &[16.0, 17.0]);
    check(&reduce(Prod, &[0], &u), &[1], U8, &[16.0]);
    // f16: 2048 + 1 + 1 is 2050 when summed exactly, then rounded once.
    let h = arr(&[3], F16, &[2048.0, 1.0, 1.0]);
    check(&reduce(Sum, &[0], &h), &[1], F16, &[2050.0]);
}

#[test]
fn reduce_over_zero_elements_gives_the_identity() {
    use ReduceOp::*;
    let e = |d: DType| arr(&[2, 0], d, &[]);
    check(&reduce(Sum, &[1], &e(F32)), &[2, 1], F32, &[0.0, 0.0]);
    check(&reduce(Sum, &[1], &e(I32)), &[2, 1], I32, &[0.0, 0.0]);
    check(&reduce(Prod, &[1], &e(F32)), &[2, 1], F32, &[1.0, 1.0]);
    check(&reduce(Prod, &[1], &e(U8)), &[2, 1], U8, &[1.0, 1.0]);
    let max_identity = [
        (F16, -INF),
        (F64, -INF),
        (I8, -128.0),
        (I16, -32768.0),
        (I32, i32::MIN as f64),
        (I64, i64::MIN as f64),
        (U8, 0.0),
        (U32, 0.0),
        (Bool, 0.0),
    ];
    for (d, v) in max_identity {
        check(&reduce(Max, &[1], &e(d)), &[2, 1], d, &[v, v]);
    }
    let min_identity = [
        (BF16, INF),
        (F32, INF),
        (I8, 127.0),
        (I16, 32767.0),
        (I32, i32::MAX as f64),
        (I64, i64::MAX as f64),
        (U8, 255.0),
        (U32, u32::MAX as f64),
        (Bool, 1.0),
    ];
    for (d, v) in min_identity {
        check(&reduce(Min, &[1], &e(d)), &[2, 1], d, &[v, v]);
    }
    // Reducing a non-empty axis of an empty array gives an empty array.
    check(&reduce(Sum, &[0], &e(F32)), &[1, 0], F32, &[]);
    check(&reduce(Max, &[0, 1], &e(F32)), &[1, 1], F32, &[-INF]);
}

fn arg(op: ArgReduceOp, axis: usize, x: &RefArray) -> RefArray {
    ev(Primitive::ArgReduce { op, axis }, one(x))
}

#[test]
fn arg_reduce_first_occurrence_and_nan() {
    use ArgReduceOp::*;
    let x = f64s(&[2, 4], &[1.0, 3.0, 3.0, 2.0, 5.0, 5.0, 0.0, 0.0]);
    check(&arg(ArgMax, 1, &x), &[2, 1], I64, &[1.0, 0.0]);
    check(&arg(ArgMin, 1, &x), &[2, 1], I64, &[0.0, 2.0]);
    check(&arg(ArgMax, 0, &x), &[1, 4], I64, &[1.0, 1.0, 0.0, 0.0]);
    let n = f64s(&[5], &[1.0, NAN, 5.0, NAN, -1.0]);
    check(&arg(ArgMax, 0, &n), &[1], I64, &[1.0]);
    check(&arg(ArgMin, 0, &n), &[1], I64, &[1.0]);
    let n = f64s(&[3], &[INF, 2.0, NAN]);
    check(&arg(ArgMax, 0, &n), &[1], I64, &[2.0]);
    let i = arr(&[3], U8, &[7.0, 200.0, 200.0]);
    check(&arg(ArgMax, 0, &i), &[1], I64, &[1.0]);
    check(&arg(ArgMin, 0, &arr(&[1], Bool, &[1.0])), &[1], I64, &[0.0]);
    check(&arg(ArgMax, 1, &f64s(&[0, 3], &[])), &[0, 1], I64, &[]);
    let err = evaluate(
        &Primitive::ArgReduce {
            op: ArgMax,
            axis: 0,
        },
        &[f64s(&[0], &[])],
    );
    assert!(err.is_err());
}

fn scan(op: ScanOp, axis: usize, reverse: bool, x: &RefArray) -> RefArray {
    ev(Primitive::Scan { op, axis, reverse }, one(x))
}

#[test]
fn scans_inclusive_forward_and_reverse() {
    use ScanOp::*;
    let x = f64s(&[4], &[1.0, 2.0, 3.0, 4.0]);
    check(&scan(Sum, 0, false, &x), &[4], F64, &[1.0, 3.0, 6.0, 10.0]);
    check(&scan(Sum, 0, true, &x), &[4], F64, &[10.0, 9.0, 7.0, 4.0]);
    check(&scan(Prod, 0, false, &x), &[4], F64, &[1.0, 2.0, 6.0, 24.0]);
    check(
        &scan(Prod, 0, true, &x),
        &[4],
        F64,
        &[24.0, 24.0, 12.0, 4.0],
    );
    let m = iota(&[2, 3]);
    check(
        &scan(Sum, 0, false, &m),
        &[2, 3],
        F64,
        &[0.0, 1.0, 2.0, 3.0, 5.0, 7.0],
    );
    check(
        &scan(Sum, 1, false, &m),
        &[2, 3],
        F64,
        &[0.0, 1.0, 3.0, 3.0, 7.0, 12.0],
    );
    check(
        &scan(Sum, 1, true, &m),
        &[2, 3],
        F64,
        &[3.0, 3.0, 2.0, 12.0, 9.0, 5.0],
    );
    let i = arr(&[3], I8, &[100.0, 100.0, 100.0]);
    check(&scan(Sum, 0, false, &i), &[3], I8, &[100.0, -56.0, 44.0]);
    check(&scan(Sum, 1, false, &f64s(&[2, 0], &[])), &[2, 0], F64, &[]);
    assert!(evaluate(
        &Primitive::Scan {
            op: Sum,
            axis: 0,
            reverse: false
        },
        &[arr(&[1], Bool, &[1.0])]
    )
    .is_err());
}

fn argsort(axis: usize, descending: bool, x: &RefArray) -> RefArray {
    ev(Primitive::Argsort { axis, descending }, one(x))
}

#[test]
fn argsort_is_stable_with_nan_placement() {
    let x = f64s(&[7], &[3.0, 1.0, 2.0, 1.0, NAN, 3.0, NAN]);
    check(
        &argsort(0, false, &x),
        &[7],
        I64,
        &[1.0, 3.0, 2.0, 0.0, 5.0, 4.0, 6.0],
    );
    check(
        &argsort(0, true, &x),
        &[7],
        I64,
        &[4.0, 6.0, 0.0, 5.0, 2.0, 1.0, 3.0],
    );
    // -0 and +0 tie.
    let z = f64s(&[3], &[0.0, -0.0, -1.0]);
    check(&argsort(0, false, &z), &[3], I64, &[2.0, 0.0, 1.0]);
    check(&argsort(0, true, &z), &[3], I64, &[0.0, 1.0, 2.0]);
    // Along axis 0 of a 3x2.
    let m = f64s(&[3, 2], &[2.0, 0.0, 1.0, 0.0, 2.0, -1.0]);
    check(
        &argsort(0, false, &m),
        &[3, 2],
        I64,
        &[1.0, 2.0, 0.0, 0.0, 2.0, 1.0],
    );
    check(
        &argsort(0, true, &m),
        &[3, 2],
        I64,
        &[0.0, 0.0, 2.0, 1.0, 1.0, 2.0],
    );
    let i = arr(&[4], I32, &[5.0, -5.0, 5.0, 0.0]);
    check(&argsort(0, true, &i), &[4], I64, &[0.0, 2.0, 3.0, 1.0]);
    check(&argsort(1, false, &f64s(&[3, 0], &[])), &[3, 0], I64, &[]);
}

#[test]
fn matmul_plain_batched_and_int() {
    let a = iota(&[2, 3]);
    let b = f64s(&[3, 2], &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
    check(
        &ev(Primitive::Matmul, &[a, b]),
        &[2, 2],
        F64,
        &[2.0, 3.0, 8.0, 9.0],
    );
    // Batch of 2: [[1,2],[3,4]] @ [[1],[1]] and [[5,6],[7,8]] @ [[1],[-1]].
    let a = f64s(&[2, 2, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
    let b = f64s(&[2, 2, 1], &[1.0, 1.0, 1.0, -1.0]);
    check(
        &ev(Primitive::Matmul, &[a, b]),
        &[2, 2, 1],
        F64,
        &[3.0, 7.0, -1.0, -1.0],
    );
    // Two batch axes, one of them empty.
    let a = f64s(&[2, 0, 2, 3], &[]);
    let b = f64s(&[2, 0, 3, 4], &[]);
    check(&ev(Primitive::Matmul, &[a, b]), &[2, 0, 2, 4], F64, &[]);
    // k = 0 gives zeros.
    let a = f64s(&[2, 0], &[]);
    let b = f64s(&[0, 3], &[]);
    check(&ev(Primitive::Matmul, &[a, b]), &[2, 3], F64, &[0.0; 6]);
    // Ints accumulate with wrapping.
    let a = arr(&[1, 2], I8, &[100.0, 100.0]);
    let b = arr(&[2, 1], I8, &[1.0, 2.0]);
    check(&ev(Primitive::Matmul, &[a, b]), &[1, 1], I8, &[44.0]);
    // f16: accumulated exactly, rounded once.
    let a = arr(&[1, 3], F16, &[2048.0, 1.0, 1.0]);
    let b = arr(&[3, 1], F16, &[1.0, 1.0, 1.0]);
    check(&ev(Primitive::Matmul, &[a, b]), &[1, 1], F16, &[2050.0]);
    let bad = evaluate(&Primitive::Matmul, &[iota(&[2, 3]), iota(&[2, 3])]);
    assert!(bad.is_err());
}

#[test]
fn custom_is_the_identity_on_its_last_input() {
    use crate::primitive::{CustomRule, CustomVjp};
    use crate::tensor::Tensor;
    struct NoRule;
    impl CustomVjp for NoRule {
        fn name(&self) -> &str {
            "no_rule"
        }
        fn vjp(&self, _: &[Tensor], _: &Tensor, _: &Tensor) -> Vec<Option<Tensor>> {
            Vec::new()
        }
    }
    let prim = Primitive::Custom(CustomRule(std::sync::Arc::new(NoRule)));
    let x = f64s(&[2], &[1.0, 2.0]);
    let y = arr(&[2, 1], F32, &[3.0, 4.0]);
    check(
        &ev(prim.clone(), &[x, y.clone()]),
        &[2, 1],
        F32,
        &[3.0, 4.0],
    );
    check(&ev(prim, &[y]), &[2, 1], F32, &[3.0, 4.0]);
}

#[test]
fn random_follows_the_counter_scheme() {
    use crate::random::{element_bits, normal_from_bits, uniform_from_bits};
    let key = arr(&[2], U32, &[7.0, 42.0]);
    let prim = |dist, dtype| Primitive::Random {
        dist,
        shape: vec![2, 3],
        dtype,
    };
    let u = ev(prim(Distribution::Uniform, F32), one(&key));
    let want: Vec<f64> = (0..6)
        .map(|i| uniform_from_bits(element_bits([7, 42], i), F32))
        .collect();
    check(&u, &[2, 3], F32, &want);
    assert!(u.data.iter().all(|&v| (0.0..1.0).contains(&v)));
    let n = ev(prim(Distribution::Normal, F16), one(&key));
    let want: Vec<f64> = (0..6)
        .map(|i| f16::from_f64(normal_from_bits(element_bits([7, 42], i))).to_f64())
        .collect();
    check_close(&n, &want, 1e-3);
    for v in &n.data {
        assert_eq!(round_to_dtype(*v, F16), *v);
    }
    let e = Primitive::Random {
        dist: Distribution::Uniform,
        shape: vec![0],
        dtype: F64,
    };
    check(&ev(e, one(&key)), &[0], F64, &[]);
    let s = Primitive::Random {
        dist: Distribution::Uniform,
        shape: vec![],
        dtype: F64,
    };
    check(
        &ev(s, &[key]),
        &[],
        F64,
        &[uniform_from_bits(element_bits([7, 42], 0), F64)],
    );
    assert!(evaluate(
        &prim(Distribution::Uniform, F32),
        &[arr(&[2], I32, &[7.0, 42.0])]
    )
    .is_err());
    assert!(evaluate(
        &prim(Distribution::Uniform, I32),
        &[arr(&[2], U32, &[7.0, 42.0])]
    )
    .is_err());
}
