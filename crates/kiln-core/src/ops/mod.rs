//! The public API: every function here builds graph nodes out of primitives.
//!
//! Ops are methods on [`Tensor`] (and free functions in [`crate::prelude`]
//! style modules). Each is `#[track_caller]`, so a misuse panics with the op,
//! the shapes and the user's line, and every node records that line.

pub mod creation;
pub mod elementwise;
pub mod index;
pub mod linalg;
pub mod nn;
pub mod reduce;
pub mod shape;
#[cfg(test)]
mod testutil;

use crate::dtype::{DType, Kind};
use crate::primitive::Primitive;
use crate::tensor::Tensor;
use std::ops::RangeFull;

/// Resolves a possibly negative axis, panicking with the op name and the
/// caller's line when it is out of range.
#[track_caller]
pub(crate) fn norm_axis(op: &str, axis: i64, rank: usize) -> usize {
    match crate::shape::normalize_axis(axis, rank) {
        Some(a) => a,
        None => misuse(
            op,
            format!("axis {axis} is out of range for a tensor of rank {rank}"),
        ),
    }
}

/// Panics with a kiln-style message naming the op and the caller's line.
#[track_caller]
pub(crate) fn misuse(op: &str, msg: impl std::fmt::Display) -> ! {
    panic!("kiln: {op}: {msg} at {}", std::panic::Location::caller())
}

/// Which axes an op works over: one axis, several, or all (`..`).
///
/// ```ignore
/// x.sum(.., false); x.sum(1, true); x.sum([0, -1], false);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Axes {
    /// Every axis.
    All,
    /// These axes (negative counts from the end).
    These(Vec<i64>),
}

impl Axes {
    /// Sorted, unique, non-negative axes for a tensor of `rank`.
    #[track_caller]
    pub fn resolve(&self, op: &str, rank: usize) -> Vec<usize> {
        let mut v: Vec<usize> = match self {
            Axes::All => (0..rank).collect(),
            Axes::These(a) => {
                let mut v = Vec::with_capacity(a.len());
                for &x in a {
                    v.push(norm_axis(op, x, rank));
                }
                v
            }
        };
        v.sort_unstable();
        let n = v.len();
        v.dedup();
        if v.len() != n {
            misuse(op, format!("repeated axis in {self:?}"));
        }
        v
    }
}

impl From<RangeFull> for Axes {
    fn from(_: RangeFull) -> Axes {
        Axes::All
    }
}
impl From<i64> for Axes {
    fn from(a: i64) -> Axes {
        Axes::These(vec![a])
    }
}
impl From<i32> for Axes {
    fn from(a: i32) -> Axes {
        Axes::These(vec![a as i64])
    }
}
impl From<usize> for Axes {
    fn from(a: usize) -> Axes {
        Axes::These(vec![a as i64])
    }
}
impl<const N: usize> From<[i64; N]> for Axes {
    fn from(a: [i64; N]) -> Axes {
        Axes::These(a.to_vec())
    }
}
impl<const N: usize> From<[i32; N]> for Axes {
    fn from(a: [i32; N]) -> Axes {
        Axes::These(a.iter().map(|&x| x as i64).collect())
    }
}
impl<const N: usize> From<[usize; N]> for Axes {
    fn from(a: [usize; N]) -> Axes {
        Axes::These(a.iter().map(|&x| x as i64).collect())
    }
}
impl From<&[i64]> for Axes {
    fn from(a: &[i64]) -> Axes {
        Axes::These(a.to_vec())
    }
}
impl From<Vec<i64>> for Axes {
    fn from(a: Vec<i64>) -> Axes {
        Axes::These(a)
    }
}
impl From<Vec<usize>> for Axes {
    fn from(a: Vec<usize>) -> Axes {
        Axes::These(a.iter().map(|&x| x as i64).collect())
    }
}

/// The right-hand side of a binary op: a tensor, or a weakly typed Rust
/// scalar that takes the tensor's dtype (see [`DType::promote_weak`]).
#[derive(Clone, Debug)]
pub enum Operand {
    /// A tensor operand.
    Tensor(Tensor),
    /// A Rust scalar of some kind.
    Scalar(f64, Kind),
}

impl From<Tensor> for Operand {
    fn from(t: Tensor) -> Operand {
        Operand::Tensor(t)
    }
}
impl From<&Tensor> for Operand {
    fn from(t: &Tensor) -> Operand {
        Operand::Tensor(t.clone())
    }
}
macro_rules! scalar_operand {
    ($kind:expr, $($t:ty),*) => {$(
        impl From<$t> for Operand {
            fn from(v: $t) -> Operand {
                Operand::Scalar(v as f64, $kind)
            }
        }
    )*};
}
scalar_operand!(Kind::Float, f32, f64);
scalar_operand!(Kind::Int, i8, i16, i32, i64, u8, u32, usize);
impl From<bool> for Operand {
    fn from(v: bool) -> Operand {
        Operand::Scalar(v as u8 as f64, Kind::Bool)
    }
}

impl Operand {
    /// The dtype this operand promotes to with a tensor of dtype `other`.
    pub(crate) fn promote_with(&self, other: DType) -> DType {
        match self {
            Operand::Tensor(t) => t.dtype().promote(other),
            Operand::Scalar(_, k) => other.promote_weak(*k),
        }
    }

    /// The operand as a tensor of `dtype` (scalars become rank-0 tensors).
    #[track_caller]
    pub(crate) fn to_tensor(&self, dtype: DType) -> Tensor {
        match self {
            Operand::Tensor(t) => t.astype(dtype),
            Operand::Scalar(v, _) => Tensor::scalar_of(*v, dtype),
        }
    }
}

impl Tensor {
    /// This tensor converted to `dtype` (no node when it already has it).
    #[track_caller]
    pub fn astype(&self, dtype: DType) -> Tensor {
        if self.dtype() == dtype {
            self.clone()
        } else {
            Tensor::from_op(Primitive::Cast(dtype), vec![self.clone()])
        }
    }

    /// The same values, cut off from autodiff (`torch.Tensor.detach`,
    /// `jax.lax.stop_gradient`).
    #[track_caller]
    pub fn detach(&self) -> Tensor {
        Tensor::from_op(Primitive::StopGradient, vec![self.clone()])
    }
}

/// Applies `op` to `t` unless the shape already matches (no-op views are
/// not recorded).
#[track_caller]
pub(crate) fn view_if_changed(t: &Tensor, shape: &[usize], prim: Primitive) -> Tensor {
    if t.shape() == shape {
        t.clone()
    } else {
        Tensor::from_op(prim, vec![t.clone()])
    }
}
