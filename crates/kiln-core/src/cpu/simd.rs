//! Run-time SIMD dispatch for the contiguous inner loops.
//!
//! The crate is compiled for baseline x86-64 (SSE2), as a library must be.
//! The hot loops here are generic over the per-element closure and exist in
//! several copies compiled with `#[target_feature]` (AVX-512, AVX2+FMA); the
//! copy for the best instruction set this CPU has is chosen at run time
//! ([`level`], detected once). The closures inline into each copy, so branch-
//! free element functions (see [`super::vmath`]) vectorize at the full width.
//! On aarch64 NEON is part of the baseline and the plain copy is used.

use std::sync::OnceLock;

/// The instruction sets the dispatcher distinguishes, weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// The compile-time baseline (SSE2 on x86-64, NEON on aarch64).
    Baseline,
    /// AVX2 with FMA (x86-64).
    Avx2,
    /// AVX-512 F/BW/DQ/VL (x86-64).
    Avx512,
}

/// The best level this CPU supports (detected once).
/// `KILN_SIMD=baseline|avx2` caps it (for testing and debugging).
pub fn level() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let detected = detect();
        match std::env::var("KILN_SIMD").as_deref() {
            Ok("baseline") => Level::Baseline,
            Ok("avx2") => detected.min(Level::Avx2),
            _ => detected,
        }
    })
}

#[cfg(target_arch = "x86_64")]
fn detect() -> Level {
    if is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512dq")
        && is_x86_feature_detected!("avx512vl")
    {
        Level::Avx512
    } else if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        Level::Avx2
    } else {
        Level::Baseline
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> Level {
    Level::Baseline
}

/// Defines `fn $name` that runs `$body` (with the given generics and
/// arguments) compiled for the best available [`Level`].
macro_rules! dispatched {
    (
        $(#[$meta:meta])*
        $vis:vis fn $name:ident<$($g:ident $(: $b:path)?),*>($($arg:ident: $ty:ty),*) $(-> $ret:ty)?
        where [$($wh:tt)*]
        $body:block
    ) => {
        $(#[$meta])*
        #[inline]
        $vis fn $name<$($g $(: $b)?),*>($($arg: $ty),*) $(-> $ret)? where $($wh)* {
            #[inline(always)]
            fn body<$($g $(: $b)?),*>($($arg: $ty),*) $(-> $ret)? where $($wh)* $body

            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
                fn avx512<$($g $(: $b)?),*>($($arg: $ty),*) $(-> $ret)? where $($wh)* {
                    body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn avx2<$($g $(: $b)?),*>($($arg: $ty),*) $(-> $ret)? where $($wh)* {
                    body($($arg),*)
                }
                match $crate::cpu::simd::level() {
                    // SAFETY: `level()` reported these features present.
                    $crate::cpu::simd::Level::Avx512 => return unsafe { avx512($($arg),*) },
                    $crate::cpu::simd::Level::Avx2 => return unsafe { avx2($($arg),*) },
                    $crate::cpu::simd::Level::Baseline => {}
                }
            }
            body($($arg),*)
        }
    };
}
pub(crate) use dispatched;

dispatched! {
    /// `dst[i] = f(src[i])`.
    pub fn map_slice<T, U, F>(src: &[T], dst: &mut [U], f: &F)
    where [T: Copy, F: Fn(T) -> U]
    {
        for (o, &x) in dst.iter_mut().zip(src) {
            *o = f(x);
        }
    }
}

dispatched! {
    /// `dst[i] = f(a[i], b[i])`.
    pub fn zip_slice<T, V, U, F>(a: &[T], b: &[V], dst: &mut [U], f: &F)
    where [T: Copy, V: Copy, F: Fn(T, V) -> U]
    {
        for ((o, &x), &y) in dst.iter_mut().zip(a).zip(b) {
            *o = f(x, y);
        }
    }
}

dispatched! {
    /// `dst[i] = f(a[i], b[i], c[i])`.
    pub fn zip3_slice<A, B, C, U, F>(a: &[A], b: &[B], c: &[C], dst: &mut [U], f: &F)
    where [A: Copy, B: Copy, C: Copy, F: Fn(A, B, C) -> U]
    {
        for (((o, &x), &y), &z) in dst.iter_mut().zip(a).zip(b).zip(c) {
            *o = f(x, y, z);
        }
    }
}

dispatched! {
    /// `dst[i] = f(a[i], b[i], c[i], d[i])`.
    pub fn zip4_slice<A, B, C, D, U, F>(a: &[A], b: &[B], c: &[C], d: &[D], dst: &mut [U], f: &F)
    where [A: Copy, B: Copy, C: Copy, D: Copy, F: Fn(A, B, C, D) -> U]
    {
        let n = dst.len();
        let (a, b, c, d) = (&a[..n], &b[..n], &c[..n], &d[..n]);
        for i in 0..n {
            dst[i] = f(a[i], b[i], c[i], d[i]);
        }
    }
}

dispatched! {
    /// `dst[i] = f(dst[i])`.
    pub fn map_in_place<U, F>(dst: &mut [U], f: &F)
    where [U: Copy, F: Fn(U) -> U]
    {
        for o in dst.iter_mut() {
            *o = f(*o);
        }
    }
}

dispatched! {
    /// `dst[i] = f(dst[i], src[i])` (accumulate a row into another).
    pub fn update_slice<T, U, F>(dst: &mut [U], src: &[T], f: &F)
    where [T: Copy, U: Copy, F: Fn(U, T) -> U]
    {
        for (o, &x) in dst.iter_mut().zip(src) {
            *o = f(*o, x);
        }
    }
}

dispatched! {
    /// Runs `f` compiled for the best SIMD level, like the other loops
    /// here: for loops (strided walks) that do not fit their shapes.
    pub fn run_dispatched<F>(f: &mut F)
    where [F: FnMut()]
    {
        f()
    }
}

/// Accumulators [`update_rows`] keeps in registers per strip of columns.
const ROW_STRIP: usize = 64;
/// Rows [`update_rows`] folds into a strip before storing it back.
const ROW_GROUP: usize = 8;

dispatched! {
    /// `dst[j] = f(..f(f(dst[j], src[j]), src[stride + j]).., src[(rows -
    /// 1) * stride + j])`: folds `rows` rows of `src` (`stride` apart) into
    /// `dst`, row after row, like `rows` calls of [`update_slice`] (same
    /// order, same results), but holding a strip of accumulators in
    /// registers over a group of rows instead of loading and storing `dst`
    /// for every row.
    pub fn update_rows<T, U, F>(dst: &mut [U], src: &[T], stride: usize, rows: usize, f: &F)
    where [T: Copy, U: Copy, F: Fn(U, T) -> U]
    {
        let w = dst.len();
        let strips = w / ROW_STRIP * ROW_STRIP;
        let mut r0 = 0;
        while r0 < rows {
            let group = ROW_GROUP.min(rows - r0);
            for j in (0..strips).step_by(ROW_STRIP) {
                let acc: &mut [U; ROW_STRIP] = (&mut dst[j..j + ROW_STRIP]).try_into().expect("strip");
                let mut a = *acc;
                for r in r0..r0 + group {
                    let row: &[T; ROW_STRIP] =
                        src[r * stride + j..r * stride + j + ROW_STRIP].try_into().expect("strip");
                    for i in 0..ROW_STRIP {
                        a[i] = f(a[i], row[i]);
                    }
                }
                *acc = a;
            }
            for r in r0..r0 + group {
                let row = &src[r * stride + strips..r * stride + w];
                for (o, &x) in dst[strips..].iter_mut().zip(row) {
                    *o = f(*o, x);
                }
            }
            r0 += group;
        }
    }
}

/// Lanes of independent accumulators in [`fold_lanes`]: four AVX2 vectors of
/// f32, enough to hide the add latency.
pub const LANES: usize = 32;

/// Folds `src` into `LANES` independent accumulators (lane `i` sees
/// elements `i, i + LANES, ...`) and returns them with the tail folded into
/// lane 0. Lane-wise work vectorizes without reassociating floats. Inlined
/// into its caller, so it takes the caller's SIMD level; [`fold_lanes`] is
/// the dispatched entry point.
#[inline(always)]
pub fn lanes<T: Copy, A: Copy>(src: &[T], init: A, f: impl Fn(A, T) -> A) -> [A; LANES] {
    let mut acc = [init; LANES];
    let chunks = src.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            acc[i] = f(acc[i], c[i]);
        }
    }
    for &x in tail {
        acc[0] = f(acc[0], x);
    }
    acc
}

dispatched! {
    /// [`lanes`] compiled for the best SIMD level.
    pub fn fold_lanes<T, A, F>(src: &[T], init: A, f: &F) -> [A; LANES]
    where [T: Copy, A: Copy, F: Fn(A, T) -> A]
    {
        lanes(src, init, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatched_loops_compute_elementwise() {
        let a: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        let mut out = vec![0.0f32; 1000];
        map_slice(&a, &mut out, &|x: f32| x * 2.0);
        assert!(out.iter().enumerate().all(|(i, &v)| v == 2.0 * i as f32));
        zip_slice(&a, &a, &mut out, &|x: f32, y: f32| x + y + 1.0);
        assert_eq!(out[999], 1999.0);
        update_slice(&mut out, &a, &|o: f32, x: f32| o - x);
        assert_eq!(out[10], 11.0);
        let lanes = fold_lanes(&a, 0.0f32, &|s, x| s + x);
        assert_eq!(lanes.iter().sum::<f32>(), 999.0 * 1000.0 / 2.0);
        assert!(level() >= Level::Baseline);
    }

    /// `update_rows` folds rows in the order repeated `update_slice` calls
    /// do, bitwise, over strip and group tails.
    #[test]
    fn update_rows_equals_row_by_row_updates() {
        let stride = 300;
        let src: Vec<f32> = (0..40 * stride)
            .map(|i| ((i * 7919) % 2003) as f32 * 1.37e-3 - 1.1 + (i % 5) as f32 * 1e6)
            .collect();
        let add = |o: f32, x: f32| o + x;
        for width in [0, 1, 63, 64, 65, 130, 300] {
            for rows in [1, 7, 8, 9, 17, 40] {
                let init: Vec<f32> = (0..width).map(|j| j as f32 * 0.25).collect();
                let mut want = init.clone();
                for r in 0..rows {
                    update_slice(&mut want, &src[r * stride..r * stride + width], &add);
                }
                let mut got = init;
                let end = (rows - 1) * stride + width;
                update_rows(&mut got, &src[..end], stride, rows, &add);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "width {width}, rows {rows}");
            }
        }
    }
}
