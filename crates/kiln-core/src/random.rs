//! Counter-based random numbers (Threefry-2x32, 20 rounds, as in JAX).
//!
//! A [`Key`] is two `u32` words. Element `i` of a random tensor is a pure
//! function of the key and `i`, so results never depend on the thread count or
//! on evaluation order. Keys are split (never advanced in place), and the
//! global generator behind `kiln::random::seed` hands out a fresh split key
//! per call.

use crate::dtype::DType;
use std::sync::Mutex;

const ROTATIONS: [[u32; 4]; 2] = [[13, 15, 26, 6], [17, 29, 16, 24]];
const PARITY: u32 = 0x1BD1_1BDA;

/// Threefry-2x32 with 20 rounds: a keyed bijection on pairs of `u32`.
pub fn threefry2x32(key: [u32; 2], counter: [u32; 2]) -> [u32; 2] {
    let ks = [key[0], key[1], key[0] ^ key[1] ^ PARITY];
    let mut x = [
        counter[0].wrapping_add(ks[0]),
        counter[1].wrapping_add(ks[1]),
    ];
    for block in 0..5u32 {
        for &r in &ROTATIONS[(block % 2) as usize] {
            x[0] = x[0].wrapping_add(x[1]);
            x[1] = x[1].rotate_left(r) ^ x[0];
        }
        let b = block as usize + 1;
        x[0] = x[0].wrapping_add(ks[b % 3]);
        x[1] = x[1].wrapping_add(ks[(b + 1) % 3]).wrapping_add(block + 1);
    }
    x
}

/// The 64 random bits of element `index` under `key`.
#[inline]
pub fn element_bits(key: [u32; 2], index: u64) -> [u32; 2] {
    threefry2x32(key, [(index >> 32) as u32, index as u32])
}

/// Uniform sample in [0, 1) from 64 random bits, exactly representable in
/// `dtype` (it uses as many bits as the dtype's mantissa holds, so rounding
/// can never produce 1.0).
#[inline]
pub fn uniform_from_bits(bits: [u32; 2], dtype: DType) -> f64 {
    let mantissa = match dtype {
        DType::F64 => 53,
        DType::F16 => 11,
        DType::BF16 => 8,
        _ => 24,
    };
    let wide = ((bits[0] as u64) << 32) | bits[1] as u64;
    (wide >> (64 - mantissa)) as f64 * (-(mantissa as f64)).exp2()
}

/// Standard normal sample from 64 random bits (Box-Muller, in f64).
#[inline]
pub fn normal_from_bits(bits: [u32; 2]) -> f64 {
    let u1 = (bits[0] as f64 + 1.0) * (2.0f64).powi(-32); // (0, 1]
    let u2 = bits[1] as f64 * (2.0f64).powi(-32); // [0, 1)
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A random key: two `u32` words. Create one from a seed and split it to get
/// independent streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key(pub [u32; 2]);

impl Key {
    /// The key for a seed (like `jax.random.PRNGKey(seed)`).
    pub fn new(seed: u64) -> Key {
        Key([(seed >> 32) as u32, seed as u32])
    }

    /// `n` new keys, independent of each other and of `self`.
    pub fn split(self, n: usize) -> Vec<Key> {
        (0..n as u64)
            .map(|i| {
                Key(threefry2x32(
                    self.0,
                    [0x5EED_0000 ^ (i >> 32) as u32, i as u32],
                ))
            })
            .collect()
    }

    /// A single new key derived from `self` and `i` (`split(..)[i]` without
    /// building the vector).
    pub fn fold_in(self, i: u64) -> Key {
        Key(threefry2x32(
            self.0,
            [0x5EED_0000 ^ (i >> 32) as u32, i as u32],
        ))
    }
}

/// The global generator: a base key and a counter of keys handed out.
static GLOBAL: Mutex<(Key, u64)> = Mutex::new((Key([0, 0]), 0));

/// Resets the global generator (`torch.manual_seed` / `mx.random.seed`).
pub fn seed(seed: u64) {
    *GLOBAL.lock().unwrap_or_else(|e| e.into_inner()) = (Key::new(seed), 0);
}

/// The next key of the global generator.
pub fn next_key() -> Key {
    let mut g = GLOBAL.lock().unwrap_or_else(|e| e.into_inner());
    let key = g.0.fold_in(g.1);
    g.1 += 1;
    key
}

/// The global generator's state (base key, keys handed out), for checkpoints.
pub fn global_state() -> (Key, u64) {
    *GLOBAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Restores a state returned by [`global_state`].
pub fn set_global_state(state: (Key, u64)) {
    *GLOBAL.lock().unwrap_or_else(|e| e.into_inner()) = state;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threefry_known_answer() {
        // Known-answer vectors from the Random123 suite (Threefry-2x32-20).
        assert_eq!(threefry2x32([0, 0], [0, 0]), [0x6b200159, 0x99ba4efe]);
        assert_eq!(
            threefry2x32([0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff]),
            [0x1cb996fc, 0xbb002be7]
        );
        assert_eq!(
            threefry2x32([0x13198a2e, 0x03707344], [0x243f6a88, 0x85a308d3]),
            [0xc4923a9c, 0x483df7a0]
        );
    }

    #[test]
    fn uniform_is_in_unit_interval() {
        for dtype in [DType::F16, DType::BF16, DType::F32, DType::F64] {
            let u = uniform_from_bits([u32::MAX, u32::MAX], dtype);
            assert!(u < 1.0);
            assert!(crate::dtype::DType::F32 != dtype || (u as f32) < 1.0);
            assert_eq!(uniform_from_bits([0, 0], dtype), 0.0);
        }
    }

    #[test]
    fn split_keys_differ() {
        let k = Key::new(42);
        let ks = k.split(3);
        assert_ne!(ks[0], ks[1]);
        assert_ne!(ks[1], ks[2]);
        assert_eq!(ks[1], k.fold_in(1));
    }
}
