//! Vectorizable f32 transcendentals: [`exp`], [`log`], [`tanh`], [`sigmoid`]
//! and [`erf`].
//!
//! # Why these exist
//!
//! `f32::exp` and friends call into libm one element at a time, so a loop such
//! as `for (o, &x) in out.iter_mut().zip(inp) { *o = x.exp() }` can never be
//! vectorized. The functions here are written so that, once inlined into such a
//! loop, LLVM's loop vectorizer turns the whole body into SIMD code (SSE2 and
//! NEON on baseline targets, AVX2/FMA or AVX-512 inside
//! `#[target_feature(enable = ...)]` functions):
//!
//! * every function is `#[inline(always)]` and branch-free: special cases are
//!   handled by `if c { a } else { b }` on *values*, which LLVM lowers to
//!   compares and blends (or `minps`/`maxps`), never by early returns;
//! * no calls into libm, no lookup tables (no gathers), no `f64` arithmetic,
//!   no float-to-int casts (Rust's saturating `as` adds fix-up code) and no
//!   `round`/`floor` (a libm call without SSE4.1): rounding to an integer
//!   uses the `1.5 * 2^23` magic-number trick and powers of two are built
//!   by shifting a biased exponent into the float's exponent field;
//! * [`exp`], [`expm1`], [`tanh`] (and so [`sigmoid`]) evaluate their
//!   polynomials with `mul_add`: one FMA instruction in the AVX2, AVX-512
//!   and NEON copies of the loops (about 1.6x faster than separate
//!   multiplies and adds), a libm `fmaf` call on an x86-64 CPU without FMA
//!   (slow, but the same correctly rounded result). Every caller runs them
//!   inside the dispatched loops of [`super::simd`];
//! * integer bit manipulation uses wrapping operations, so debug builds have
//!   no overflow checks (panicking branches) in the loop body either.
//!
//! Rust never contracts `a * b + c` into a fused multiply-add and `mul_add`
//! is always the correctly rounded fused operation, so results are
//! bit-identical on every target, with or without FMA hardware.
//!
//! # Accuracy
//!
//! The polynomials are the classic Cephes single-precision ones (exp, log,
//! tanh) and a rational minimax approximation (erf); the reductions are
//! arranged so that relative accuracy is kept near zero (`tanh(1e-5)` and
//! `erf(1e-30)` are accurate to a few ulp, not just in absolute terms). The
//! error bounds written on each function were measured by the tests at the
//! bottom of this file against `f64` references (`std`'s `f64` functions,
//! and [`crate::cpu::scalar::erf`] for erf) over dense sweeps of several
//! million points, random bit patterns, all floats near the interesting
//! thresholds, and the special values; the tests assert those bounds. "ulp"
//! means `|y - ref| / ulp(ref)`, the ulp of the correctly rounded result.
//!
//! Results in the subnormal range are computed with gradual underflow (not
//! flushed to zero) but only to absolute accuracy there (about one subnormal
//! ulp), since relative error loses its meaning as precision vanishes.

/// `1.5 * 2^23`: adding it to an `|x| < 2^22` rounds `x` to the nearest
/// integer, which then sits in the low mantissa bits.
pub(crate) const MAGIC: f32 = 12_582_912.0;
pub(crate) const LOG2E: f32 = std::f32::consts::LOG2_E;
/// `ln 2 = LN2_HI + LN2_LO` (Cody-Waite split; `LN2_HI` has 9 significant
/// bits so `n * LN2_HI` is exact for the exponents that occur).
pub(crate) const LN2_HI: f32 = 0.693_359_4;
pub(crate) const LN2_LO: f32 = -2.121_944_4e-4;

/// `e^x`.
///
/// Method: `x = n ln2 + r` with `n = round(x log2 e)` and `|r| <= ln2 / 2`
/// (Cody-Waite reduction), `e^r` by the Cephes degree-7 polynomial, then the
/// scaling by `2^n` as two factors `2^(n/2) * 2^(n - n/2)` so that both
/// gradual underflow and results up to `f32::MAX` work without special cases.
/// The input is first clamped to `[-110, 89]` (NaN passes through the clamp),
/// which makes the scaling overflow to `inf` and underflow to `0` by itself.
///
/// Special values: `exp(NaN) = NaN`, `exp(+inf) = +inf`, `exp(-inf) = 0`,
/// `exp(±0) = 1` exactly; `x > 88.72283` gives `inf`; results below
/// `f32::MIN_POSITIVE` (`x < -87.33654`) are subnormal, rounded to within
/// 1 subnormal ulp, and `x < -103.98` gives 0.
///
/// Measured error (`tests::exp_error`): max relative error 8.3e-8 (1.00 ulp) over the
/// normal range `[-87.33, 88.72]`.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    // `if` on values (not `min`/`max`) so that NaN survives the clamp.
    let x = if x > 89.0 { 89.0 } else { x };
    let x = if x < -110.0 { -110.0 } else { x };
    let (n, r) = reduce_ln2(x);
    let y = exp_poly(r).mul_add(r * r, r) + 1.0;
    // n in [-159, 128]: both halves are normal exponents.
    let n1 = n >> 1;
    let n2 = n.wrapping_sub(n1);
    let s1 = f32::from_bits((n1.wrapping_add(127) << 23) as u32);
    let s2 = f32::from_bits((n2.wrapping_add(127) << 23) as u32);
    y * s1 * s2
}

/// `x = n ln2 + r` with `n = round(x log2 e)` and `|r| <= ln2 / 2`
/// (Cody-Waite: `n * LN2_HI` is exact, each step rounds once). Needs
/// `|x| < 2^22 ln 2`.
#[inline(always)]
fn reduce_ln2(x: f32) -> (i32, f32) {
    let t = x.mul_add(LOG2E, MAGIC);
    let nf = t - MAGIC;
    // |n| is small, so `n` is the difference of the two bit patterns.
    let n = (t.to_bits() as i32).wrapping_sub(MAGIC.to_bits() as i32);
    let r = (-nf).mul_add(LN2_HI, x);
    let r = (-nf).mul_add(LN2_LO, r);
    (n, r)
}

/// The Cephes polynomial `P` with `e^r ~ 1 + r + r^2 P(r)` on
/// `|r| <= ln2 / 2`.
#[inline(always)]
fn exp_poly(r: f32) -> f32 {
    let [c0, c1, c2, c3, c4, c5] = EXP_POLY;
    let p = c0.mul_add(r, c1);
    let p = p.mul_add(r, c2);
    let p = p.mul_add(r, c3);
    let p = p.mul_add(r, c4);
    p.mul_add(r, c5)
}

/// The coefficients of [`exp_poly`], highest degree first (Horner's rule
/// with one `mul_add` per step; the native fused kernels emit the same).
pub(crate) const EXP_POLY: [f32; 6] = [
    1.987_569_2e-4,
    1.398_199_9e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    1.666_666_5e-1,
    5e-1,
];

/// `e^x - 1`, accurate for small `x`.
///
/// Method: the reduction of [`exp`], `x = n ln2 + r`, then
/// `q = e^r - 1 = r + r^2 P(r)` (no cancellation: it is computed as a
/// difference from 1 nowhere) and `e^x - 1 = 2^n q + (2^n - 1)` with one
/// fused multiply-add, exact `2^n - 1` for the `n` where it matters and
/// no cancellation (`|e^x - 1| > 0.29` whenever `n != 0`). One path for
/// every input, so it costs about one `exp`. The input is clamped to
/// `[-18, 89]` (NaN passes): below `-18` the result rounds to `-1`; above
/// 88.72 it overflows to `inf` (via a second scale factor for `n > 126`).
///
/// Special values: `expm1(NaN) = NaN`, `expm1(+inf) = +inf`,
/// `expm1(-inf) = -1`, `expm1(±0) = ±0`; overflow above `x = 88.72`.
///
/// Measured error (`tests::expm1_error`): max relative error 1.2e-7 (1.42
/// ulp) over `[-20, 88]` and random finite inputs.
#[inline(always)]
pub fn expm1(x: f32) -> f32 {
    let c = if x > 89.0 { 89.0 } else { x };
    let c = if c < -18.0 { -18.0 } else { c };
    let (n, r) = reduce_ln2(c);
    let q = (r * r).mul_add(exp_poly(r), r);
    // n in [-26, 128]: 2^n = s1 * s2 with s1 normal and s2 in {1, 2, 4}.
    let n1 = if n > 126 { 126 } else { n };
    let s1 = f32::from_bits((n1.wrapping_add(127) << 23) as u32);
    let s2 = f32::from_bits((n.wrapping_sub(n1).wrapping_add(127) << 23) as u32);
    let y = s1.mul_add(q, s1 - 1.0) * s2;
    if x == 0.0 {
        x
    } else {
        y
    }
}

/// Natural logarithm `ln x`.
///
/// Method: `x = 2^k m` with `m` in `[sqrt(1/2), sqrt(2))` (found by integer
/// arithmetic on the bits, after scaling subnormal inputs by `2^23`), then
/// `ln m = f - f^2/2 + f^3 P(f)` with `f = m - 1` (the Cephes polynomial) and
/// `k ln 2` added in two parts, small part first, which keeps the result
/// accurate to relative precision near `x = 1`.
///
/// Special values: `log(NaN) = NaN`, `log(x < 0) = NaN` (including `-inf`),
/// `log(±0) = -inf`, `log(+inf) = +inf`, `log(1) = 0` exactly; subnormal
/// inputs are handled at full accuracy.
///
/// Measured error (`tests::log_error`): max relative error 7.9e-8 (0.82 ulp) over all
/// positive finite floats (strided bit-pattern sweep plus dense sweeps).
#[inline(always)]
pub fn log(x: f32) -> f32 {
    let tiny = x < f32::MIN_POSITIVE;
    let xs = if tiny { x * 8_388_608.0 } else { x };
    let bits = xs.to_bits() as i32;
    // k = exponent such that m = xs / 2^k lies in [sqrt(1/2), sqrt(2)).
    let k = bits.wrapping_sub(0x3f35_04f3) >> 23;
    let m = f32::from_bits(bits.wrapping_sub(k << 23) as u32);
    let e = k as f32 - if tiny { 23.0 } else { 0.0 };
    let f = m - 1.0;
    let z = f * f;
    let p = 7.037_683_6e-2;
    let p = p * f - 1.151_461e-1;
    let p = p * f + 1.167_699_9e-1;
    let p = p * f - 1.242_014_1e-1;
    let p = p * f + 1.424_932_3e-1;
    let p = p * f - 1.666_805_8e-1;
    let p = p * f + 2.000_071_5e-1;
    let p = p * f - 2.499_999_4e-1;
    let p = p * f + 3.333_333e-1;
    let y = p * f * z;
    let y = y + e * LN2_LO;
    let y = y - 0.5 * z;
    let r = f + y;
    let r = r + e * LN2_HI;
    let r = if x == f32::INFINITY { x } else { r };
    let r = if x == 0.0 { f32::NEG_INFINITY } else { r };
    if (x < 0.0) | x.is_nan() {
        f32::NAN
    } else {
        r
    }
}

/// Hyperbolic tangent.
///
/// Method: the odd rational minimax approximation `x P(x^2) / Q(x^2)`
/// (degrees 13/6, the coefficients Eigen and XLA use) on `x` clamped to
/// `[-7.905, 7.905]` and exactly ±1 beyond; one division and no
/// `exp`, about twice as fast as `1 - 2/(e^{2x} + 1)`. Exactly odd
/// (`tanh(-0) = -0`); `tanh(±inf) = ±1`, `tanh(NaN) = NaN` (NaN passes the
/// clamp).
///
/// Measured error (`tests::tanh_error`): max relative error 3.3e-7 (about
/// 5.6 ulp, near |x| = 5.5 where the result is close to 1) over all finite
/// floats including subnormals; near 0 the relative error is 1.3e-7.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    const CLAMP: f32 = TANH_CLAMP;
    let c = if x > CLAMP { CLAMP } else { x };
    let c = if c < -CLAMP { -CLAMP } else { c };
    let z = c * c;
    let [p0, p1, p2, p3, p4, p5, p6] = TANH_P;
    let p = p0.mul_add(z, p1);
    let p = p.mul_add(z, p2);
    let p = p.mul_add(z, p3);
    let p = p.mul_add(z, p4);
    let p = p.mul_add(z, p5);
    let p = p.mul_add(z, p6);
    let [q0, q1, q2, q3] = TANH_Q;
    let q = q0.mul_add(z, q1);
    let q = q.mul_add(z, q2);
    let q = q.mul_add(z, q3);
    // (P/Q) first: P * c would lose precision for subnormal c.
    let y = c * (p / q);
    // At the clamp the fit is within 3e-7 of 1; saturate exactly there
    // (NaN fails the test and passes through).
    if x.abs() >= CLAMP {
        1.0f32.copysign(x)
    } else {
        y
    }
}

/// Where [`tanh`] saturates to `±1`.
pub(crate) const TANH_CLAMP: f32 = 7.905_311;
/// [`tanh`]'s numerator polynomial in `z = x^2`, highest degree first.
pub(crate) const TANH_P: [f32; 7] = [
    -2.760_768_5e-16,
    2.000_188e-13,
    -8.604_672e-11,
    5.122_297e-8,
    1.485_722_4e-5,
    6.372_619_3e-4,
    4.893_524_6e-3,
];
/// [`tanh`]'s denominator polynomial in `z`, highest degree first.
pub(crate) const TANH_Q: [f32; 4] = [1.198_258_4e-6, 1.185_347_1e-4, 2.268_434_6e-3, 4.893_525e-3];

/// The logistic function `1 / (1 + e^{-x})`.
///
/// Method: with `e = e^{-|x|}` (never overflows), `1 / (1 + e)` for
/// `x >= 0` and `e / (1 + e)` for `x < 0`; one `exp` and one division.
/// For very negative `x` the result follows `e^x` into the subnormal range
/// (gradual underflow, absolute accuracy about one subnormal ulp) and is 0
/// below `x = -103.98`.
///
/// Special values: `sigmoid(NaN) = NaN`, `sigmoid(+inf) = 1`,
/// `sigmoid(-inf) = 0`, `sigmoid(±0) = 0.5`; never NaN or inf for non-NaN
/// inputs.
///
/// Measured error (`tests::sigmoid_error`): max relative error 1.75e-7 (2.19 ulp)
/// for all `x >= -87.33` (outputs `>= f32::MIN_POSITIVE`).
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    let e = exp(-x.abs());
    let num = if x >= 0.0 { 1.0 } else { e };
    num / (1.0 + e)
}

/// Leading coefficient of the erf fit, `1.1283791`: one ulp below
/// `f32::consts::FRAC_2_SQRT_PI`, which the fit was made with (using the
/// constant instead raises the relative error near 0 from 2.7e-7 to 3.7e-7).
const ERF_P0: f32 = f32::from_bits(0x3f90_6eba);

/// The error function `erf x = 2/sqrt(pi) * integral_0^x e^{-t^2} dt`.
///
/// Method: the rational approximation `x P(x^2) / Q(x^2)` (degrees 13/8,
/// the minimax fit used by XLA/Eigen, renormalized so that `Q(0) = 1` and the
/// leading coefficient is (within 1 ulp) `2/sqrt(pi)`, keeping relative accuracy near 0),
/// and exactly `±1` for `|x| > 3.92`, where `erf` rounds to 1 in f32. The
/// function is exactly odd.
///
/// Special values: `erf(NaN) = NaN`, `erf(±inf) = ±1`, `erf(±0) = ±0`.
///
/// Measured error (`tests::erf_error`): max absolute error 4.2e-7 over all
/// floats; max relative error 2.7e-7 (4.2 ulp) for `|x| < 1`.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let a = x.abs();
    let x2 = a * a;
    let p = 1.911_105_6e-8;
    let p = p * x2 - 1.942_329e-6;
    let p = p * x2 + 1.472_879_4e-4;
    let p = p * x2 + 3.990_614e-3;
    let p = p * x2 + 5.152_499_7e-2;
    let p = p * x2 + 2.071_261e-1;
    let p = p * x2 + ERF_P0;
    let p = p * a;
    let q = 1.021_124_3e-3;
    let q = q * x2 + 1.495_814_6e-2;
    let q = q * x2 + 1.179_711e-1;
    let q = q * x2 + 5.168_919_6e-1;
    let q = q * x2 + 1.0;
    // For |x| > 3.92 the polynomials (even inf/inf = NaN) are discarded.
    let r = if a > 3.92 { 1.0 } else { p / q };
    r.copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Largest errors seen so far, with where they occurred.
    #[derive(Default)]
    struct MaxErr {
        rel: f64,
        rel_at: f32,
        ulp: f64,
        ulp_at: f32,
        abs: f64,
        abs_at: f32,
    }

    impl MaxErr {
        /// Records `y` against the reference `r`: absolute error always,
        /// relative and ulp error where `|r| >= rel_floor`.
        fn add(&mut self, x: f32, y: f32, r: f64, rel_floor: f64) {
            if r.is_nan() {
                assert!(y.is_nan(), "f({x:e}) = {y:e}, want NaN");
                return;
            }
            let rf = r as f32;
            if rf.is_infinite() || r == 0.0 {
                assert_eq!(y, rf, "f({x:e}) = {y:e}, want {rf:e}");
                return;
            }
            assert!(y.is_finite(), "f({x:e}) = {y:e}, want {r:e}");
            let abs = (y as f64 - r).abs();
            if abs > self.abs {
                self.abs = abs;
                self.abs_at = x;
            }
            if r.abs() >= rel_floor {
                let rel = abs / r.abs();
                if rel > self.rel {
                    self.rel = rel;
                    self.rel_at = x;
                }
                // ulp of the correctly rounded (normal) result.
                let ulp = f32::from_bits(rf.abs().to_bits() & 0x7f80_0000) as f64 / 8_388_608.0;
                let u = abs / ulp;
                if u > self.ulp {
                    self.ulp = u;
                    self.ulp_at = x;
                }
            }
        }

        fn report(&self, name: &str) {
            println!(
                "{name}: max rel {:.3e} at {:e} | max ulp {:.2} at {:e} | max abs {:.3e} at {:e}",
                self.rel, self.rel_at, self.ulp, self.ulp_at, self.abs, self.abs_at
            );
        }
    }

    /// xorshift64*: deterministic random bits.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u32 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
        }
    }

    /// `n + 1` evenly spaced points of `[lo, hi]`.
    fn linspace(lo: f32, hi: f32, n: usize) -> impl Iterator<Item = f32> {
        (0..=n).map(move |i| lo + (hi - lo) * (i as f64 / n as f64) as f32)
    }

    /// Every float from `lo` to `hi` (same sign, `lo <= hi` in magnitude).
    fn all_between(lo: f32, hi: f32) -> impl Iterator<Item = f32> {
        (lo.to_bits()..=hi.to_bits()).map(f32::from_bits)
    }

    /// Random finite floats of either sign with `|x| <= max`.
    fn random_finite(n: usize, max: f32, seed: u64) -> impl Iterator<Item = f32> {
        let mut rng = Rng(seed);
        (0..n)
            .map(move |_| f32::from_bits(rng.next()))
            .filter(move |x| x.abs() <= max)
    }

    const SPECIALS: [f32; 12] = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE,
        1e-45,
        -1e-45,
        f32::MAX,
        f32::MIN,
        f32::INFINITY,
        f32::NEG_INFINITY,
    ];

    #[test]
    fn exp_error() {
        let mut e = MaxErr::default();
        let mut sub = MaxErr::default();
        let normal = -87.336_54_f32; // ln(f32::MIN_POSITIVE), rounded up
        let mut check = |x: f32| {
            let r = (x as f64).exp();
            if r >= f32::MIN_POSITIVE as f64 {
                e.add(x, exp(x), r, 0.0);
            } else {
                sub.add(x, exp(x), r, f64::INFINITY);
            }
        };
        linspace(normal, 88.722_83, 4_000_000).for_each(&mut check);
        linspace(-1.0, 1.0, 1_000_000).for_each(&mut check);
        random_finite(2_000_000, 89.0, 1).for_each(&mut check);
        all_between(1e-8, 1e-5).step_by(101).for_each(&mut check);
        all_between(-1e-8, -1e-5).step_by(101).for_each(&mut check);
        all_between(88.6, 89.0).for_each(&mut check); // overflow threshold
        all_between(-87.2, -87.5).for_each(&mut check); // normal/subnormal
        all_between(-103.8, -104.2).for_each(&mut check); // underflow to 0
        linspace(-104.0, normal, 200_000).for_each(&mut check);
        SPECIALS.into_iter().for_each(&mut check);
        e.report("exp");
        sub.report("exp (subnormal results)");
        assert!(e.rel < 1.0e-7 && e.ulp < 1.5, "exp rel {:e}", e.rel);
        assert!(sub.abs <= 1.5e-45, "exp subnormal abs {:e}", sub.abs);

        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-0.0), 1.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(f32::INFINITY), f32::INFINITY);
        assert!(exp(f32::NAN).is_nan());
        assert!(exp(88.722_83).is_finite());
        assert_eq!(exp(88.722_84), f32::INFINITY);
        assert_eq!(exp(-110.0), 0.0);
        assert_eq!(exp(-1e30), 0.0);
        assert_eq!(exp(1e30), f32::INFINITY);
    }

    #[test]
    fn log_error() {
        let mut e = MaxErr::default();
        let mut check = |x: f32| e.add(x, log(x), (x as f64).ln(), 0.0);
        // Every 509th positive finite float, subnormals included.
        (1..0x7f80_0000u32)
            .step_by(509)
            .map(f32::from_bits)
            .for_each(&mut check);
        linspace(0.5, 2.0, 2_000_000).for_each(&mut check);
        all_between(0.99, 1.01).for_each(&mut check); // near the zero of log
        random_finite(2_000_000, f32::MAX, 2)
            .map(f32::abs)
            .for_each(&mut check);
        SPECIALS
            .into_iter()
            .filter(|x| *x > 0.0)
            .for_each(&mut check);
        e.report("log");
        assert!(e.rel < 1.0e-7 && e.ulp < 1.2, "log rel {:e}", e.rel);

        assert_eq!(log(1.0), 0.0);
        assert_eq!(log(0.0), f32::NEG_INFINITY);
        assert_eq!(log(-0.0), f32::NEG_INFINITY);
        assert_eq!(log(f32::INFINITY), f32::INFINITY);
        assert!(log(f32::NAN).is_nan());
        assert!(log(-1.0).is_nan());
        assert!(log(-1e-45).is_nan());
        assert!(log(f32::NEG_INFINITY).is_nan());
        assert!((log(1e-45) as f64 - (1e-45f32 as f64).ln()).abs() < 1e-5);
    }

    #[test]
    fn expm1_error() {
        let mut e = MaxErr::default();
        let mut check = |x: f32| {
            e.add(x, expm1(x), (x as f64).exp_m1(), f32::MIN_POSITIVE as f64);
        };
        linspace(-20.0, 88.0, 4_000_000).for_each(&mut check);
        linspace(-0.55, 0.55, 1_000_000).for_each(&mut check); // branch switch
        random_finite(1_000_000, 88.0, 5).for_each(&mut check);
        all_between(1e-6, 1e-4).step_by(101).for_each(&mut check);
        e.report("expm1");
        assert!(e.rel < 2.5e-7, "expm1 rel {:e}", e.rel);
        assert_eq!(expm1(f32::NEG_INFINITY), -1.0);
        assert_eq!(expm1(f32::INFINITY), f32::INFINITY);
        assert_eq!(expm1(100.0), f32::INFINITY);
        assert!(expm1(f32::NAN).is_nan());
        assert_eq!(expm1(-0.0).to_bits(), (-0.0f32).to_bits());
        assert!((expm1(1e-5) - 1.000005e-5).abs() < 1e-12);
    }

    #[test]
    fn tanh_error() {
        let mut e = MaxErr::default();
        let mut check = |x: f32| {
            let y = tanh(x);
            assert_eq!(tanh(-x).to_bits(), (-y).to_bits(), "tanh not odd at {x:e}");
            e.add(x, y, (x as f64).tanh(), f32::MIN_POSITIVE as f64);
        };
        linspace(-10.0, 10.0, 4_000_000).for_each(&mut check);
        linspace(7.8, 8.0, 200_000).for_each(&mut check); // the clamp
        random_finite(2_000_000, f32::MAX, 3).for_each(&mut check);
        all_between(1e-6, 1e-4).step_by(101).for_each(&mut check);
        SPECIALS.into_iter().for_each(&mut check);
        e.report("tanh");
        assert!(e.rel < 4.5e-7, "tanh rel {:e}", e.rel);

        assert_eq!(tanh(f32::INFINITY), 1.0);
        assert_eq!(tanh(f32::NEG_INFINITY), -1.0);
        assert_eq!(tanh(20.0), 1.0);
        assert!(tanh(f32::NAN).is_nan());
        assert_eq!(tanh(-0.0).to_bits(), (-0.0f32).to_bits());
        assert!((tanh(1e-5) - 1e-5).abs() < 2e-12);
    }

    #[test]
    fn sigmoid_error() {
        let reference = |x: f64| 1.0 / (1.0 + (-x).exp());
        let mut e = MaxErr::default();
        let mut sub = MaxErr::default();
        let mut check = |x: f32| {
            let r = reference(x as f64);
            let y = sigmoid(x);
            assert!(
                (0.0..=1.0).contains(&y) || x.is_nan(),
                "sigmoid({x:e}) = {y:e}"
            );
            if r >= f32::MIN_POSITIVE as f64 {
                e.add(x, y, r, 0.0);
            } else {
                sub.add(x, y, r, f64::INFINITY);
            }
        };
        linspace(-87.3, 20.0, 4_000_000).for_each(&mut check);
        linspace(-1.0, 1.0, 1_000_000).for_each(&mut check);
        linspace(-110.0, -87.0, 200_000).for_each(&mut check);
        random_finite(2_000_000, f32::MAX, 4).for_each(&mut check);
        SPECIALS.into_iter().for_each(&mut check);
        e.report("sigmoid");
        sub.report("sigmoid (subnormal results)");
        assert!(e.rel < 2.5e-7, "sigmoid rel {:e}", e.rel);
        assert!(sub.abs <= 1.5e-45, "sigmoid subnormal abs {:e}", sub.abs);

        assert_eq!(sigmoid(f32::INFINITY), 1.0);
        assert_eq!(sigmoid(f32::NEG_INFINITY), 0.0);
        assert_eq!(sigmoid(0.0), 0.5);
        assert_eq!(sigmoid(-0.0), 0.5);
        assert_eq!(sigmoid(100.0), 1.0);
        let s = sigmoid(-100.0);
        assert!((0.0..1e-40).contains(&s));
        let s = sigmoid(-60.0) as f64;
        assert!((s - reference(-60.0)).abs() < 1e-6 * s);
        assert!(sigmoid(f32::NAN).is_nan());
    }

    #[test]
    fn erf_error() {
        let reference = crate::cpu::scalar::erf;
        let mut all = MaxErr::default();
        let mut small = MaxErr::default();
        let mut check = |x: f32| {
            let y = erf(x);
            assert_eq!(erf(-x).to_bits(), (-y).to_bits(), "erf not odd at {x:e}");
            let r = reference(x as f64);
            all.add(x, y, r, f64::INFINITY);
            if x.abs() < 1.0 {
                small.add(x, y, r, f32::MIN_POSITIVE as f64);
            }
        };
        linspace(-5.0, 5.0, 2_000_000).for_each(&mut check);
        linspace(-1.0, 1.0, 1_000_000).for_each(&mut check);
        all_between(3.8, 4.0).step_by(3).for_each(&mut check); // switch to 1
        all_between(1e-6, 1e-4).step_by(101).for_each(&mut check);
        random_finite(2_000_000, f32::MAX, 5).for_each(&mut check);
        SPECIALS.into_iter().for_each(&mut check);
        all.report("erf");
        small.report("erf |x| < 1");
        assert!(all.abs < 4.5e-7, "erf abs {:e}", all.abs);
        assert!(small.rel < 3.0e-7, "erf rel {:e}", small.rel);

        assert_eq!(erf(f32::INFINITY), 1.0);
        assert_eq!(erf(f32::NEG_INFINITY), -1.0);
        assert_eq!(erf(10.0), 1.0);
        assert_eq!(erf(-0.0).to_bits(), (-0.0f32).to_bits());
        assert!(erf(f32::NAN).is_nan());
        let y = erf(1e-30) as f64;
        assert!((y - 1e-30 * std::f64::consts::FRAC_2_SQRT_PI).abs() < 3e-7 * y);
    }
}
