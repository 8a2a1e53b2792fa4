//! The `ref` suite: what the machine's memory system can do, measured in
//! the same run as the suites compared to it.
//!
//! * `copy`: 16M f32 (64 MiB) copied into a pre-allocated, pre-faulted
//!   destination, split over the rayon threads (the faster of one chunk per
//!   thread and 256 KiB chunks). GB/s counts bytes read plus
//!   bytes written (2 x 64 MiB), the way elementwise rows count inputs plus
//!   output.
//! * `read`: a read-only pass over 16M f32 split over the threads (same two
//!   splits, the faster counts), summing
//!   into [`LANES`] independent lane accumulators (vectorized by LLVM).
//!   GB/s counts the 64 MiB read.

use std::hint::black_box;

use kiln::DType;
use rayon::prelude::*;

use crate::harness::{measure, Budget, Rate, Report, Row, Stats};

/// Suite name of the references.
pub const NAME: &str = "ref";

/// Elements of the reference arrays: 16M f32, 64 MiB.
pub const ELEMS: usize = 16 << 20;

/// Independent accumulators of the read pass (4 AVX2 registers of f32).
const LANES: usize = 32;

/// The reference results the suites and the summary compare to.
#[derive(Clone, Copy, Debug)]
pub struct References {
    /// Copy of 64 MiB: timing (the "one copy of the array" of the softmax
    /// check).
    pub copy: Stats,
    /// Copy bandwidth, read + write bytes over the median time.
    pub copy_gbps: f64,
    /// Read-only bandwidth over the median time.
    pub read_gbps: f64,
}

/// Rows of about equal size, one or more per thread.
fn chunk_len(len: usize, threads: usize) -> usize {
    len.div_ceil(threads.max(1)).max(1)
}

/// Elements per task of the chunked variants (256 KiB).
const SMALL_CHUNK: usize = 1 << 16;

/// `dst.copy_from_slice(src)`, split over the rayon threads in tasks of
/// `chunk` elements.
fn parallel_copy(src: &[f32], dst: &mut [f32], chunk: usize) {
    dst.par_chunks_mut(chunk)
        .zip(src.par_chunks(chunk))
        .for_each(|(d, s)| d.copy_from_slice(s));
}

/// Sum of one chunk with [`LANES`] independent accumulators.
fn lane_sum_body(xs: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let blocks = xs.chunks_exact(LANES);
    let tail: f32 = blocks.remainder().iter().sum();
    for block in blocks {
        for (a, x) in acc.iter_mut().zip(block) {
            *a += x;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// [`lane_sum_body`] compiled for AVX2, so the reference reads at the
/// width Kiln's own kernels use.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn lane_sum_avx2(xs: &[f32]) -> f32 {
    lane_sum_body(xs)
}

/// Sum of one chunk, with the widest vectors the CPU has (AVX2 or baseline).
fn lane_sum(xs: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { lane_sum_avx2(xs) };
    }
    lane_sum_body(xs)
}

/// Sum of `xs`, split over the rayon threads in tasks of `chunk` elements.
fn parallel_sum(xs: &[f32], chunk: usize) -> f32 {
    xs.par_chunks(chunk).map(lane_sum).sum()
}

/// Measures the references, emitting their rows.
pub fn run(threads: usize, report: &mut Report) -> References {
    let src: Vec<f32> = (0..ELEMS).map(|i| (i % 1024) as f32 * 0.25).collect();
    // Written, not just allocated: zeroed allocations map pages lazily.
    let mut dst = vec![1.0f32; ELEMS];
    let bytes = (ELEMS * std::mem::size_of::<f32>()) as f64;
    let shape = [ELEMS];
    let row = |name: &str, stats: Stats, rate: Rate| {
        Row::new(NAME, name, DType::F32, &shape, threads, stats, rate)
    };

    // Each reference is the faster of two splits: one chunk per thread (the
    // system memcpy may use streaming stores there) and small chunks.
    let faster = |a: Stats, b: Stats| if a.median_s <= b.median_s { a } else { b };
    let mut copy_with = |chunk: usize| {
        measure::<()>(Budget::FAST, || {
            parallel_copy(black_box(&src), black_box(&mut dst), chunk);
            Ok(())
        })
        .expect("infallible")
    };
    let copy = faster(copy_with(chunk_len(ELEMS, threads)), copy_with(SMALL_CHUNK));
    black_box(&dst);
    let copy_gbps = 2.0 * bytes / copy.median_s / 1e9;
    report.emit(row("copy", copy, Rate::Gbps(copy_gbps)));

    let read_with = |chunk: usize| {
        measure::<()>(Budget::FAST, || {
            black_box(parallel_sum(black_box(&src), chunk));
            Ok(())
        })
        .expect("infallible")
    };
    let read = faster(read_with(chunk_len(ELEMS, threads)), read_with(SMALL_CHUNK));
    let read_gbps = bytes / read.median_s / 1e9;
    report.emit(row("read", read, Rate::Gbps(read_gbps)));

    References {
        copy,
        copy_gbps,
        read_gbps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_are_correct() {
        let src: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        let mut dst = vec![0.0; 1000];
        parallel_copy(&src, &mut dst, chunk_len(1000, 3));
        assert_eq!(src, dst);
        assert_eq!(lane_sum(&src), 499_500.0);
        assert_eq!(parallel_sum(&src, 7), 499_500.0);
    }
}
