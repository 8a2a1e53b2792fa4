//! Packing of A and B blocks into the micro-panel layouts the kernels
//! read (see the layouts on each body), for f32 words and for bf16 pairs.
//!
//! # Safety (all packers)
//! Every element of the `rows x cols` source view is in bounds; `dst` has
//! room for the packed panels (whole panels, zero-padded) and, for B, is
//! 64-byte aligned.
#![allow(clippy::missing_safety_doc)]

use super::{MatRef, MR};
use half::bf16;

/// Packs the `mc x kc` block of `a` into MR-row micro-panels: element
/// (i, p) goes to `dst[(i/MR)*MR*kc + p*MR + i%MR]`; rows past `mc` are
/// zero. `rows6` packs one full panel from six row pointers of a
/// unit-column-stride A.
#[inline(always)]
unsafe fn a_f32_body(
    mc: usize,
    kc: usize,
    a: MatRef<f32>,
    dst: *mut f32,
    rows6: Option<unsafe fn(usize, &[*const f32; MR], *mut f32)>,
) {
    let full = mc / MR;
    if a.rs == 1 {
        // Column-contiguous A (e.g. a transposed view): for groups of 8
        // panels, walk the source columns (48 contiguous floats each).
        // Walking all panels at once was ~2.8x slower for kc = 256: the
        // panels are 6 KiB apart, so their write streams alias to the same
        // L1 sets.
        const GROUP: usize = 8;
        let mut q0 = 0;
        while q0 < full {
            let q1 = (q0 + GROUP).min(full);
            for p in 0..kc {
                let s = a.at(0, p);
                for q in q0..q1 {
                    std::ptr::copy_nonoverlapping(s.add(q * MR), dst.add(q * MR * kc + p * MR), MR);
                }
            }
            q0 = q1;
        }
    } else {
        for q in 0..full {
            let d = dst.add(q * MR * kc);
            let r: [*const f32; MR] = std::array::from_fn(|i| a.at(q * MR + i, 0));
            match rows6 {
                Some(f) if a.cs == 1 => f(kc, &r, d),
                _ => {
                    let cs = a.cs;
                    for p in 0..kc {
                        let o = p as isize * cs;
                        for i in 0..MR {
                            *d.add(p * MR + i) = *r[i].offset(o);
                        }
                    }
                }
            }
        }
    }
    let rows = mc - full * MR;
    if rows > 0 {
        let d = dst.add(full * MR * kc);
        for p in 0..kc {
            for i in 0..MR {
                *d.add(p * MR + i) = if i < rows {
                    *a.at(full * MR + i, p)
                } else {
                    0.0
                };
            }
        }
    }
}

/// Packs the `kc x nc` block of `b` into NR-column micro-panels: element
/// (p, j) goes to `dst[(j/NR)*NR*kc + p*NR + j%NR]`; columns past `nc` are
/// zero.
#[inline(always)]
unsafe fn b_f32_body<const NR: usize>(kc: usize, nc: usize, b: MatRef<f32>, dst: *mut f32) {
    let full = nc / NR;
    if b.cs == 1 {
        // Row-contiguous B: walk each source row once across all full
        // panels. Measured ~4x faster than panel-by-panel for large row
        // strides (one read stream instead of kc strided ones).
        for p in 0..kc {
            let s = b.at(p, 0);
            for q in 0..full {
                std::ptr::copy_nonoverlapping(s.add(q * NR), dst.add(q * NR * kc + p * NR), NR);
            }
        }
    } else {
        for q in 0..full {
            let d = dst.add(q * NR * kc);
            for p in 0..kc {
                let s = b.at(p, q * NR);
                for j in 0..NR {
                    *d.add(p * NR + j) = *s.offset(j as isize * b.cs);
                }
            }
        }
    }
    let cols = nc - full * NR;
    if cols > 0 {
        let d = dst.add(full * NR * kc);
        for p in 0..kc {
            for j in 0..NR {
                *d.add(p * NR + j) = if j < cols {
                    *b.at(p, full * NR + j)
                } else {
                    0.0
                };
            }
        }
    }
}

pub(super) unsafe fn a_f32_scalar(mc: usize, kc: usize, a: MatRef<f32>, dst: *mut f32) {
    a_f32_body(mc, kc, a, dst, None)
}

pub(super) unsafe fn b_f32_scalar(kc: usize, nc: usize, b: MatRef<f32>, dst: *mut f32) {
    b_f32_body::<16>(kc, nc, b, dst)
}

/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn a_f32_avx2(mc: usize, kc: usize, a: MatRef<f32>, dst: *mut f32) {
    a_f32_body(mc, kc, a, dst, Some(rows6_avx2))
}

/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn b_f32_avx2(kc: usize, nc: usize, b: MatRef<f32>, dst: *mut f32) {
    b_f32_body::<16>(kc, nc, b, dst)
}

/// The CPU must support AVX-512 F.
///
/// A column-contiguous B (`rs == 1`: a transposed view, e.g. the weight of
/// a `Linear` layer read as `permute(w)`) is packed in 16 x 16 blocks
/// transposed in registers; the scalar walk it replaces cost the
/// 64x784x256 product of an MLP's forward pass 45 us of its 195 (measured
/// against a contiguous B on the 2-vCPU EPYC). Other layouts, the last
/// `kc % 16` rows and a partial last panel take the generic body.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) unsafe fn b_f32_avx512(kc: usize, nc: usize, b: MatRef<f32>, dst: *mut f32) {
    const NR: usize = 32;
    if b.rs != 1 || b.cs == 1 {
        return b_f32_body::<NR>(kc, nc, b, dst);
    }
    let (full, blocks) = (nc / NR, kc / 16);
    for q in 0..full {
        let d = dst.add(q * NR * kc);
        for pb in 0..blocks {
            for h in 0..2 {
                let s = b.at(pb * 16, q * NR + h * 16);
                transpose16_avx512(s, b.cs, d.add(pb * 16 * NR + h * 16), NR);
            }
        }
        for p in blocks * 16..kc {
            for j in 0..NR {
                *d.add(p * NR + j) = *b.at(p, q * NR + j);
            }
        }
    }
    if full * NR < nc {
        let rest = b.sub(0, full * NR);
        b_f32_body::<NR>(kc, nc - full * NR, rest, dst.add(full * NR * kc));
    }
}

/// Writes the transpose of a 16 x 16 block: row `r` of the source is the
/// 16 floats at `src + r * src_stride`, row `t` of the result goes to
/// `dst + t * dst_stride`. Pure data movement (unpacks and 128-bit lane
/// shuffles), so bit-exact.
///
/// # Safety
/// Every source row and destination row addressed is readable/writable;
/// the CPU supports AVX-512 F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn transpose16_avx512(src: *const f32, src_stride: isize, dst: *mut f32, dst_stride: usize) {
    use std::arch::x86_64::*;
    let mut r = [_mm512_setzero_ps(); 16];
    for (i, v) in r.iter_mut().enumerate() {
        *v = _mm512_loadu_ps(src.offset(i as isize * src_stride));
    }
    // Within each 128-bit lane, 4 x 4 transposes: u[4g + c] lane l holds
    // column 4l + c of rows 4g..4g + 4.
    let mut u = [_mm512_setzero_ps(); 16];
    for g in 0..4 {
        let x = |k: usize| r[4 * g + k];
        let lo01 = _mm512_unpacklo_ps(x(0), x(1));
        let hi01 = _mm512_unpackhi_ps(x(0), x(1));
        let lo23 = _mm512_unpacklo_ps(x(2), x(3));
        let hi23 = _mm512_unpackhi_ps(x(2), x(3));
        let pd = _mm512_castps_pd;
        u[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(lo01), pd(lo23)));
        u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(lo01), pd(lo23)));
        u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(hi01), pd(hi23)));
        u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(hi01), pd(hi23)));
    }
    // Gather lane l of u[c], u[4 + c], u[8 + c], u[12 + c] into column
    // 4l + c: 0x88 picks lanes (0, 2) of each operand, 0xdd lanes (1, 3).
    for c in 0..4 {
        let v0 = _mm512_shuffle_f32x4::<0x88>(u[c], u[4 + c]);
        let w0 = _mm512_shuffle_f32x4::<0xdd>(u[c], u[4 + c]);
        let v1 = _mm512_shuffle_f32x4::<0x88>(u[8 + c], u[12 + c]);
        let w1 = _mm512_shuffle_f32x4::<0xdd>(u[8 + c], u[12 + c]);
        let out = [
            _mm512_shuffle_f32x4::<0x88>(v0, v1),
            _mm512_shuffle_f32x4::<0x88>(w0, w1),
            _mm512_shuffle_f32x4::<0xdd>(v0, v1),
            _mm512_shuffle_f32x4::<0xdd>(w0, w1),
        ];
        for (l, v) in out.into_iter().enumerate() {
            _mm512_storeu_ps(dst.add((4 * l + c) * dst_stride), v);
        }
    }
}

/// One full A micro-panel of 32-bit words from six unit-stride rows
/// (pointers need only 2-byte alignment): 6x8 blocks are transposed in
/// registers (unpack/shuffle, bit-exact) and stored as 8 columns of 6.
///
/// # Safety
/// `r[i].add(p)` is readable for `i < 6`, `p < kc`; `d` has room for
/// `6*kc` words; the CPU supports AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn rows6_avx2(kc: usize, r: &[*const f32; MR], d: *mut f32) {
    use std::arch::x86_64::*;
    let lo = |v: __m256| _mm256_castps256_ps128(v);
    let hi = |v: __m256| _mm256_extractf128_ps::<1>(v);
    // Stores the two low (or, after movehl, high) words of `v` at `p`.
    let st2 = |p: *mut f32, v: __m128| _mm_storel_epi64(p as *mut __m128i, _mm_castps_si128(v));
    let mut p = 0;
    while p + 8 <= kc {
        let x0 = _mm256_loadu_ps(r[0].add(p));
        let x1 = _mm256_loadu_ps(r[1].add(p));
        let x2 = _mm256_loadu_ps(r[2].add(p));
        let x3 = _mm256_loadu_ps(r[3].add(p));
        let x4 = _mm256_loadu_ps(r[4].add(p));
        let x5 = _mm256_loadu_ps(r[5].add(p));
        let t0 = _mm256_unpacklo_ps(x0, x1); // r0 r1 cols 0,1 | 4,5
        let t1 = _mm256_unpackhi_ps(x0, x1); // cols 2,3 | 6,7
        let t2 = _mm256_unpacklo_ps(x2, x3);
        let t3 = _mm256_unpackhi_ps(x2, x3);
        let u0 = _mm256_shuffle_ps::<0x44>(t0, t2); // rows 0-3 of col 0 | col 4
        let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2); // col 1 | col 5
        let u2 = _mm256_shuffle_ps::<0x44>(t1, t3); // col 2 | col 6
        let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3); // col 3 | col 7
        let v0 = _mm256_unpacklo_ps(x4, x5); // rows 4,5 of cols 0,1 | 4,5
        let v1 = _mm256_unpackhi_ps(x4, x5); // cols 2,3 | 6,7
        let o = d.add(p * MR);
        _mm_storeu_ps(o, lo(u0));
        _mm_storeu_ps(o.add(6), lo(u1));
        _mm_storeu_ps(o.add(12), lo(u2));
        _mm_storeu_ps(o.add(18), lo(u3));
        _mm_storeu_ps(o.add(24), hi(u0));
        _mm_storeu_ps(o.add(30), hi(u1));
        _mm_storeu_ps(o.add(36), hi(u2));
        _mm_storeu_ps(o.add(42), hi(u3));
        let (v0l, v0h, v1l, v1h) = (lo(v0), hi(v0), lo(v1), hi(v1));
        st2(o.add(4), v0l);
        st2(o.add(10), _mm_movehl_ps(v0l, v0l));
        st2(o.add(16), v1l);
        st2(o.add(22), _mm_movehl_ps(v1l, v1l));
        st2(o.add(28), v0h);
        st2(o.add(34), _mm_movehl_ps(v0h, v0h));
        st2(o.add(40), v1h);
        st2(o.add(46), _mm_movehl_ps(v1h, v1h));
        p += 8;
    }
    while p < kc {
        for i in 0..MR {
            *d.add(p * MR + i) = r[i].add(p).read_unaligned();
        }
        p += 1;
    }
}

/// The word of bf16 elements `lo` (even k) and `hi` (odd k).
#[inline(always)]
fn pair(lo: bf16, hi: bf16) -> f32 {
    f32::from_bits(lo.to_bits() as u32 | (hi.to_bits() as u32) << 16)
}

/// Packs the `mc x kc` bf16 block of `a` into MR-row micro-panels of
/// k-pair words: word (i, w) = (a[i, 2w], a[i, 2w+1]) goes to
/// `dst[(i/MR)*MR*kw + w*MR + i%MR]`, `kw = ceil(kc/2)`; the missing odd
/// element of a last half word and rows past `mc` are zero.
/// The CPU must support AVX-512 BF16 (and so AVX2).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16,avx2,fma")]
pub(super) unsafe fn a_bf16_avx512(mc: usize, kc: usize, a: MatRef<bf16>, dst: *mut f32) {
    let kw = kc.div_ceil(2);
    let full = mc / MR;
    let zero = half::bf16::ZERO;
    let get = |i: usize, p: usize| if p < kc { *a.at(i, p) } else { zero };
    for q in 0..full {
        let d = dst.add(q * MR * kw);
        if a.cs == 1 {
            // A row's consecutive bf16 pairs are already words.
            let r: [*const f32; MR] = std::array::from_fn(|i| a.at(q * MR + i, 0) as *const f32);
            rows6_avx2(kc / 2, &r, d);
            if kc % 2 == 1 {
                for i in 0..MR {
                    *d.add((kw - 1) * MR + i) = pair(get(q * MR + i, kc - 1), zero);
                }
            }
        } else {
            for w in 0..kw {
                for i in 0..MR {
                    let row = q * MR + i;
                    *d.add(w * MR + i) = pair(get(row, 2 * w), get(row, 2 * w + 1));
                }
            }
        }
    }
    let rows = mc - full * MR;
    if rows > 0 {
        let d = dst.add(full * MR * kw);
        for w in 0..kw {
            for i in 0..MR {
                let row = full * MR + i;
                *d.add(w * MR + i) = if i < rows {
                    pair(get(row, 2 * w), get(row, 2 * w + 1))
                } else {
                    0.0
                };
            }
        }
    }
}

/// Packs the `kc x nc` bf16 block of `b` into 32-column micro-panels of
/// k-pair words: word (w, j) = (b[2w, j], b[2w+1, j]) goes to
/// `dst[(j/32)*32*kw + w*32 + j%32]`; the missing odd row and columns
/// past `nc` are zero.
/// The CPU must support AVX-512 BF16 (and BW).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16,avx2,fma")]
pub(super) unsafe fn b_bf16_avx512(kc: usize, nc: usize, b: MatRef<bf16>, dst: *mut f32) {
    use std::arch::x86_64::*;
    const NR: usize = 32;
    let kw = kc.div_ceil(2);
    let full = nc / NR;
    let zero = half::bf16::ZERO;
    if b.cs == 1 {
        // Interleave rows 2w and 2w+1, 32 columns at a time.
        let lo_idx: [i16; 32] = std::array::from_fn(|t| (t / 2 + 32 * (t % 2)) as i16);
        let hi_idx: [i16; 32] = std::array::from_fn(|t| (16 + t / 2 + 32 * (t % 2)) as i16);
        let lo_idx = _mm512_loadu_si512(lo_idx.as_ptr() as *const _);
        let hi_idx = _mm512_loadu_si512(hi_idx.as_ptr() as *const _);
        for w in 0..kw {
            let x = b.at(2 * w, 0);
            let y = (2 * w + 1 < kc).then(|| b.at(2 * w + 1, 0));
            for q in 0..full {
                let xv = _mm512_loadu_si512(x.add(q * NR) as *const _);
                let yv = match y {
                    Some(y) => _mm512_loadu_si512(y.add(q * NR) as *const _),
                    None => _mm512_setzero_si512(),
                };
                let d = dst.add(q * NR * kw + w * NR) as *mut __m512i;
                _mm512_store_si512(d, _mm512_permutex2var_epi16(xv, lo_idx, yv));
                _mm512_store_si512(d.add(1), _mm512_permutex2var_epi16(xv, hi_idx, yv));
            }
        }
    } else {
        for q in 0..full {
            let d = dst.add(q * NR * kw);
            for w in 0..kw {
                for j in 0..NR {
                    let col = q * NR + j;
                    let hi = if 2 * w + 1 < kc {
                        *b.at(2 * w + 1, col)
                    } else {
                        zero
                    };
                    *d.add(w * NR + j) = pair(*b.at(2 * w, col), hi);
                }
            }
        }
    }
    let cols = nc - full * NR;
    if cols > 0 {
        let d = dst.add(full * NR * kw);
        for w in 0..kw {
            for j in 0..NR {
                let col = full * NR + j;
                *d.add(w * NR + j) = if j < cols {
                    let hi = if 2 * w + 1 < kc {
                        *b.at(2 * w + 1, col)
                    } else {
                        zero
                    };
                    pair(*b.at(2 * w, col), hi)
                } else {
                    0.0
                };
            }
        }
    }
}
