//! Microkernels: `C[MR x NR] (+)= Apanel * Bpanel` over `kw` packed words
//! (see [`super::MicroKernel`] for the contract). Each register tile stays
//! in registers for the whole panel; C is touched once at the end.
#![allow(clippy::missing_safety_doc)]

use super::MR;

/// Portable 6x16 microkernel (the compiler vectorises it with baseline
/// SSE2).
pub(super) unsafe fn f32_scalar(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    rs_c: usize,
    accumulate: bool,
) {
    const NR: usize = 16;
    let mut t = [[0.0f32; NR]; MR];
    for p in 0..kc {
        let ap = a.add(p * MR);
        let bp = b.add(p * NR);
        for i in 0..MR {
            let x = *ap.add(i);
            for j in 0..NR {
                t[i][j] += x * *bp.add(j);
            }
        }
    }
    for i in 0..MR {
        for j in 0..NR {
            let d = c.add(i * rs_c + j);
            *d = if accumulate { *d + t[i][j] } else { t[i][j] };
        }
    }
}

/// The body shared by the SIMD kernels: 12 accumulators (6 rows x 2
/// vectors), per word two aligned loads of packed B, six broadcasts of
/// packed A and twelve multiply-adds; words unrolled by 4.
macro_rules! tile_kernel {
    (
        $name:ident, $features:literal, $vec:ty, $lanes:expr,
        zero: $zero:expr, load_b: $load:expr, bcast_a: $bcast:expr,
        madd: $madd:expr, loadu_c: $loadu:expr, storeu_c: $storeu:expr, add: $add:expr
    ) => {
        /// The CPU must support the enabled target features.
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $features)]
        pub(super) unsafe fn $name(
            kw: usize,
            a: *const f32,
            b: *const f32,
            c: *mut f32,
            rs_c: usize,
            accumulate: bool,
        ) {
            use std::arch::x86_64::*;
            const NR: usize = 2 * $lanes;
            let z: $vec = $zero;
            let mut acc: [[$vec; 2]; MR] = [[z; 2]; MR];
            macro_rules! step {
                ($a:expr, $b:expr) => {{
                    let b0: $vec = $load($b);
                    let b1: $vec = $load($b.add($lanes));
                    for i in 0..MR {
                        let x: $vec = $bcast($a.add(i));
                        acc[i][0] = $madd(acc[i][0], x, b0);
                        acc[i][1] = $madd(acc[i][1], x, b1);
                    }
                }};
            }
            for i in 0..MR {
                _mm_prefetch::<_MM_HINT_T0>(c.add(i * rs_c) as *const i8);
                _mm_prefetch::<_MM_HINT_T0>(c.add(i * rs_c + NR - 1) as *const i8);
            }
            let (mut a, mut b) = (a, b);
            let mut p = kw;
            while p >= 4 {
                step!(a, b);
                step!(a.add(MR), b.add(NR));
                step!(a.add(2 * MR), b.add(2 * NR));
                step!(a.add(3 * MR), b.add(3 * NR));
                a = a.add(4 * MR);
                b = b.add(4 * NR);
                p -= 4;
            }
            while p > 0 {
                step!(a, b);
                a = a.add(MR);
                b = b.add(NR);
                p -= 1;
            }
            for i in 0..MR {
                let d = c.add(i * rs_c);
                for h in 0..2 {
                    let v = if accumulate {
                        $add($loadu(d.add(h * $lanes)), acc[i][h])
                    } else {
                        acc[i][h]
                    };
                    $storeu(d.add(h * $lanes), v);
                }
            }
        }
    };
}

tile_kernel!(
    f32_avx2, "avx2,fma", __m256, 8,
    zero: _mm256_setzero_ps(),
    load_b: |p: *const f32| _mm256_load_ps(p),
    bcast_a: |p: *const f32| _mm256_broadcast_ss(&*p),
    madd: |c, x, y| _mm256_fmadd_ps(x, y, c),
    loadu_c: |p: *const f32| _mm256_loadu_ps(p),
    storeu_c: |p: *mut f32, v| _mm256_storeu_ps(p, v),
    add: |x, y| _mm256_add_ps(x, y)
);

tile_kernel!(
    f32_avx512, "avx512f,avx2,fma", __m512, 16,
    zero: _mm512_setzero_ps(),
    load_b: |p: *const f32| _mm512_load_ps(p),
    bcast_a: |p: *const f32| _mm512_set1_ps(*p),
    madd: |c, x, y| _mm512_fmadd_ps(x, y, c),
    loadu_c: |p: *const f32| _mm512_loadu_ps(p),
    storeu_c: |p: *mut f32, v| _mm512_storeu_ps(p, v),
    add: |x, y| _mm512_add_ps(x, y)
);

// bf16: each packed word is a (even k, odd k) pair; `vdpbf16ps` adds both
// products of a pair into each f32 lane.
tile_kernel!(
    bf16_avx512, "avx512f,avx512bw,avx512bf16,avx2,fma", __m512, 16,
    zero: _mm512_setzero_ps(),
    load_b: |p: *const f32| _mm512_load_ps(p),
    bcast_a: |p: *const f32| _mm512_set1_ps(*p),
    madd: |c, x, y| _mm512_dpbf16_ps(c, std::mem::transmute::<__m512, __m512bh>(x), std::mem::transmute::<__m512, __m512bh>(y)),
    loadu_c: |p: *const f32| _mm512_loadu_ps(p),
    storeu_c: |p: *mut f32, v| _mm512_storeu_ps(p, v),
    add: |x, y| _mm512_add_ps(x, y)
);
