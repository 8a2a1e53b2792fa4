//! A caching allocator for large kernel buffers.
//!
//! Freshly allocated memory costs a page fault per 4 KiB page on first write:
//! writing `exp` of 16M floats into new memory takes several times as long as
//! into a reused buffer. Every [`Buffer`](crate::buffer::Buffer) hands its
//! vector back here when it is dropped, and kernels take their outputs from
//! here ([`take`]), so a loop that makes a tensor of the same size each step
//! reuses the same pages.
//!
//! Only vectors of at least [`MIN_BYTES`] are cached (the system allocator
//! serves small ones well), matched by exact length and element type; no
//! unsafe code: recycled contents are valid old values the caller overwrites; the
//! cache holds at most [`limit_bytes`] (default 1 GiB, environment variable
//! `KILN_POOL_BYTES` to change it, 0 to disable) and frees what would go over.

use half::{bf16, f16};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

/// Vectors smaller than this (in bytes) are not cached.
pub const MIN_BYTES: usize = 1 << 16;

/// Free vectors of one element type, by length.
#[derive(Default)]
pub struct SizePool<T> {
    free: HashMap<usize, Vec<Vec<T>>>,
}

/// Element types the pool caches; all are plain data, so a recycled
/// vector's old contents are valid values.
pub trait Pooled: Copy + Default + Send + 'static {
    /// This type's pool.
    fn pool() -> &'static Mutex<SizePool<Self>>;
}

macro_rules! impl_pooled {
    ($($t:ty),*) => {$(
        impl Pooled for $t {
            fn pool() -> &'static Mutex<SizePool<Self>> {
                static POOL: OnceLock<Mutex<SizePool<$t>>> = OnceLock::new();
                POOL.get_or_init(Default::default)
            }
        }
    )*};
}
impl_pooled!(bool, u8, u32, i8, i16, i32, i64, f16, bf16, f32, f64);

/// Bytes currently held by the cache, over all element types.
static CACHED: AtomicUsize = AtomicUsize::new(0);

/// The most bytes the cache holds (`KILN_POOL_BYTES`, default 1 GiB).
pub fn limit_bytes() -> usize {
    static LIMIT: OnceLock<usize> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        std::env::var("KILN_POOL_BYTES")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(1 << 30)
    })
}

/// Bytes currently cached (free, waiting for reuse).
pub fn cached_bytes() -> usize {
    CACHED.load(Ordering::Relaxed)
}

fn bytes_of<T>(len: usize) -> usize {
    len * std::mem::size_of::<T>()
}

/// A vector of length `n` whose contents are unspecified (valid values left
/// from an earlier use, or zeros): the caller overwrites every element.
pub fn take<T: Pooled>(n: usize) -> Vec<T> {
    if bytes_of::<T>(n) >= MIN_BYTES {
        let mut pool = T::pool().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = pool.free.get_mut(&n).and_then(Vec::pop) {
            CACHED.fetch_sub(bytes_of::<T>(n), Ordering::Relaxed);
            return v;
        }
    }
    vec![T::default(); n]
}

/// An empty vector with capacity for `n` elements (for kernels that push).
pub fn take_empty<T: Pooled>(n: usize) -> Vec<T> {
    if bytes_of::<T>(n) >= MIN_BYTES {
        let mut v = take::<T>(n);
        v.clear();
        v
    } else {
        Vec::with_capacity(n)
    }
}

/// Hands `v` back for reuse (or frees it if it is small or the cache full).
pub fn give<T: Pooled>(v: Vec<T>) {
    let cap = v.capacity();
    let bytes = bytes_of::<T>(cap);
    if bytes < MIN_BYTES || CACHED.load(Ordering::Relaxed) + bytes > limit_bytes() {
        return;
    }
    // Only exactly sized vectors are cached (keyed by length); kernels
    // allocate exactly, so this is every large buffer.
    if v.len() != cap {
        return;
    }
    CACHED.fetch_add(bytes, Ordering::Relaxed);
    let mut pool = T::pool().lock().unwrap_or_else(|e| e.into_inner());
    pool.free.entry(cap).or_default().push(v);
}

/// Frees every cached vector.
pub fn clear() {
    fn clear_one<T: Pooled>() {
        let mut pool = T::pool().lock().unwrap_or_else(|e| e.into_inner());
        for (len, vs) in pool.free.drain() {
            CACHED.fetch_sub(bytes_of::<T>(len) * vs.len(), Ordering::Relaxed);
        }
    }
    clear_one::<bool>();
    clear_one::<u8>();
    clear_one::<u32>();
    clear_one::<i8>();
    clear_one::<i16>();
    clear_one::<i32>();
    clear_one::<i64>();
    clear_one::<f16>();
    clear_one::<bf16>();
    clear_one::<f32>();
    clear_one::<f64>();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_same_length_vectors() {
        // A length no other test uses, so parallel tests don't interfere.
        let n = (1 << 16) + 12_345;
        let mut v = take::<f64>(n);
        v[0] = 7.0;
        let ptr = v.as_ptr();
        give(v);
        let w = take::<f64>(n);
        assert_eq!(w.len(), n);
        assert_eq!(w.as_ptr(), ptr, "the cached vector is handed out again");
        let small = take::<f64>(10);
        assert_eq!(small.len(), 10);
        give(small); // not cached: no effect
    }
}
