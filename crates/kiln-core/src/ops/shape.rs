//! Shape ops: reshape, transposes, squeezing, broadcasting, joining and
//! splitting, slicing with the [`s!`](crate::s) macro, padding, tiling, flips
//! and triangles.

use super::{misuse, norm_axis, view_if_changed};
use crate::array::Array;
use crate::primitive::Primitive;
use crate::shape::{broadcastable_to, numel};
use crate::tensor::{describe, Tensor};

/// A target shape: `usize` dims, or `i64`/`i32` dims where one may be -1
/// (inferred from the element count).
pub trait IntoShape {
    /// The dims, with -1 meaning "infer".
    fn dims(&self) -> Vec<i64>;
}

macro_rules! into_shape {
    ($($t:ty),*) => {$(
        impl IntoShape for [$t] {
            fn dims(&self) -> Vec<i64> { self.iter().map(|&d| d as i64).collect() }
        }
        impl<const N: usize> IntoShape for [$t; N] {
            fn dims(&self) -> Vec<i64> { self.iter().map(|&d| d as i64).collect() }
        }
        impl IntoShape for Vec<$t> {
            fn dims(&self) -> Vec<i64> { self.iter().map(|&d| d as i64).collect() }
        }
    )*};
}
into_shape!(i32, i64, usize);

impl<S: IntoShape + ?Sized> IntoShape for &S {
    fn dims(&self) -> Vec<i64> {
        (**self).dims()
    }
}

/// One entry of a slice: a range with a step, a single index (which drops
/// the axis), or a new axis of size 1. Built by the [`s!`](crate::s) macro.
#[derive(Clone, Debug, PartialEq)]
pub enum SliceArg {
    /// `start..stop` with a step; `None` ends follow Python's defaults.
    Range {
        /// First index (negative counts from the end).
        start: Option<i64>,
        /// One past the last index (negative counts from the end).
        stop: Option<i64>,
        /// Non-zero step; negative walks backwards.
        step: i64,
    },
    /// A single index; the axis is removed.
    Index(i64),
    /// Inserts an axis of size 1.
    NewAxis,
}

/// Marker for inserting a new axis in [`s!`](crate::s): `s![NewAxis, ..]`.
#[derive(Clone, Copy, Debug)]
pub struct NewAxis;

impl SliceArg {
    /// The same range with a step (`s![..;2]` calls this).
    #[track_caller]
    pub fn step(self, step: i64) -> SliceArg {
        match self {
            SliceArg::Range { start, stop, .. } => SliceArg::Range { start, stop, step },
            other => misuse("slice", format!("a step needs a range, got {other:?}")),
        }
    }
}

impl From<NewAxis> for SliceArg {
    fn from(_: NewAxis) -> SliceArg {
        SliceArg::NewAxis
    }
}
impl From<std::ops::RangeFull> for SliceArg {
    fn from(_: std::ops::RangeFull) -> SliceArg {
        SliceArg::Range {
            start: None,
            stop: None,
            step: 1,
        }
    }
}

macro_rules! slice_from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for SliceArg {
            fn from(i: $t) -> SliceArg { SliceArg::Index(i as i64) }
        }
        impl From<std::ops::Range<$t>> for SliceArg {
            fn from(r: std::ops::Range<$t>) -> SliceArg {
                SliceArg::Range { start: Some(r.start as i64), stop: Some(r.end as i64), step: 1 }
            }
        }
        impl From<std::ops::RangeFrom<$t>> for SliceArg {
            fn from(r: std::ops::RangeFrom<$t>) -> SliceArg {
                SliceArg::Range { start: Some(r.start as i64), stop: None, step: 1 }
            }
        }
        impl From<std::ops::RangeTo<$t>> for SliceArg {
            fn from(r: std::ops::RangeTo<$t>) -> SliceArg {
                SliceArg::Range { start: None, stop: Some(r.end as i64), step: 1 }
            }
        }
        impl From<std::ops::RangeInclusive<$t>> for SliceArg {
            fn from(r: std::ops::RangeInclusive<$t>) -> SliceArg {
                let end = *r.end() as i64;
                SliceArg::Range { start: Some(*r.start() as i64), stop: if end == -1 { None } else { Some(end + 1) }, step: 1 }
            }
        }
    )*};
}
slice_from_int!(i32, i64, usize);

/// Builds slice arguments NumPy-style: `x.slice(&s![.., 1..3, ..;2, -1])`.
///
/// Each entry is an index (drops the axis), a Rust range optionally
/// followed by `; step`, `..` for a whole axis, or `NewAxis`. Missing
/// trailing axes are taken whole.
#[macro_export]
macro_rules! s {
    ($($e:expr $(; $step:expr)?),* $(,)?) => {
        [$( $crate::ops::shape::SliceArg::from($e) $( .step($step) )? ),*]
    };
}

/// Python's `slice.indices`: the first index and the count of a range over
/// an axis of size `n`.
fn resolve_range(start: Option<i64>, stop: Option<i64>, step: i64, n: usize) -> (usize, usize) {
    let n = n as i64;
    let clamp = |v: i64, lo: i64, hi: i64| v.max(lo).min(hi);
    let norm = |v: i64| if v < 0 { v + n } else { v };
    let (s, e) = if step > 0 {
        (
            start.map_or(0, |v| clamp(norm(v), 0, n)),
            stop.map_or(n, |v| clamp(norm(v), 0, n)),
        )
    } else {
        (
            start.map_or(n - 1, |v| clamp(norm(v), -1, n - 1)),
            stop.map_or(-1, |v| clamp(norm(v), -1, n - 1)),
        )
    };
    let len = if step > 0 {
        (e - s + step - 1).div_euclid(step).max(0)
    } else {
        (s - e + (-step) - 1).div_euclid(-step).max(0)
    };
    (if len == 0 { 0 } else { s as usize }, len as usize)
}

impl Tensor {
    /// The same elements in a new shape; one dim may be -1.
    #[track_caller]
    pub fn reshape(&self, shape: impl IntoShape) -> Tensor {
        let dims = shape.dims();
        let total = self.numel();
        let known: i64 = dims.iter().filter(|&&d| d >= 0).product();
        let infer = dims.iter().filter(|&&d| d == -1).count();
        if infer > 1 || dims.iter().any(|&d| d < -1) {
            misuse("reshape", format!("bad target shape {dims:?}"));
        }
        if infer == 1 && (known == 0 || !total.is_multiple_of(known as usize)) {
            misuse(
                "reshape",
                format!("cannot reshape {:?} to {dims:?}", self.shape()),
            );
        }
        let out: Vec<usize> = dims
            .iter()
            .map(|&d| {
                if d >= 0 {
                    d as usize
                } else {
                    total / known as usize
                }
            })
            .collect();
        if numel(&out) != total {
            misuse(
                "reshape",
                format!(
                    "cannot reshape {:?} ({total} elements) to {dims:?}",
                    self.shape()
                ),
            );
        }
        view_if_changed(self, &out, Primitive::Reshape(out.clone()))
    }

    /// Axes reordered: output axis `i` is input axis `perm[i]` (negative allowed).
    #[track_caller]
    pub fn permute(&self, perm: &[i64]) -> Tensor {
        let mut p = Vec::with_capacity(perm.len());
        for &a in perm {
            p.push(norm_axis("permute", a, self.ndim()));
        }
        if p.iter().enumerate().all(|(i, &a)| i == a) && p.len() == self.ndim() {
            return self.clone();
        }
        Tensor::from_op(Primitive::Permute(p), vec![self.clone()])
    }

    /// Reverses the order of all axes (`x.T` in NumPy).
    #[track_caller]
    pub fn t(&self) -> Tensor {
        let perm: Vec<i64> = (0..self.ndim() as i64).rev().collect();
        self.permute(&perm)
    }

    /// Swaps two axes (`torch.transpose(x, a, b)`).
    #[track_caller]
    pub fn transpose(&self, a: i64, b: i64) -> Tensor {
        self.swapaxes(a, b)
    }

    /// Swaps two axes.
    #[track_caller]
    pub fn swapaxes(&self, a: i64, b: i64) -> Tensor {
        let (a, b) = (
            norm_axis("swapaxes", a, self.ndim()),
            norm_axis("swapaxes", b, self.ndim()),
        );
        let mut perm: Vec<i64> = (0..self.ndim() as i64).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// Moves axis `src` to position `dst`, keeping the others in order.
    #[track_caller]
    pub fn moveaxis(&self, src: i64, dst: i64) -> Tensor {
        let (s, d) = (
            norm_axis("moveaxis", src, self.ndim()),
            norm_axis("moveaxis", dst, self.ndim()),
        );
        let mut perm: Vec<i64> = (0..self.ndim() as i64).filter(|&i| i != s as i64).collect();
        perm.insert(d, s as i64);
        self.permute(&perm)
    }

    /// Removes size-1 axes: the given ones (which must have size 1), or all.
    #[track_caller]
    pub fn squeeze(&self, axes: impl Into<super::Axes>) -> Tensor {
        let axes = axes.into();
        let drop: Vec<usize> = match &axes {
            super::Axes::All => (0..self.ndim()).filter(|&i| self.shape()[i] == 1).collect(),
            a => a.resolve("squeeze", self.ndim()),
        };
        if let Some(&bad) = drop.iter().find(|&&i| self.shape()[i] != 1) {
            misuse(
                "squeeze",
                format!(
                    "axis {bad} of {:?} has size {}",
                    self.shape(),
                    self.shape()[bad]
                ),
            );
        }
        let out: Vec<usize> = (0..self.ndim())
            .filter(|i| !drop.contains(i))
            .map(|i| self.shape()[i])
            .collect();
        self.reshape(out)
    }

    /// Inserts an axis of size 1 at `axis` (negative counts in the result).
    #[track_caller]
    pub fn unsqueeze(&self, axis: i64) -> Tensor {
        let a = norm_axis("unsqueeze", axis, self.ndim() + 1);
        let mut out = self.shape().to_vec();
        out.insert(a, 1);
        self.reshape(out)
    }

    /// NumPy's name for [`Tensor::unsqueeze`].
    #[track_caller]
    pub fn expand_dims(&self, axis: i64) -> Tensor {
        self.unsqueeze(axis)
    }

    /// Broadcasts to `shape` under NumPy's rule (a view: no copy).
    #[track_caller]
    pub fn broadcast_to(&self, shape: &[usize]) -> Tensor {
        if !broadcastable_to(self.shape(), shape) {
            misuse(
                "broadcast_to",
                format!("cannot broadcast {:?} to {shape:?}", self.shape()),
            );
        }
        view_if_changed(self, shape, Primitive::Broadcast(shape.to_vec()))
    }

    /// Merges axes `start..=end` into one.
    #[track_caller]
    pub fn flatten(&self, start: i64, end: i64) -> Tensor {
        if self.ndim() == 0 {
            return self.reshape([1usize]);
        }
        let (s, e) = (
            norm_axis("flatten", start, self.ndim()),
            norm_axis("flatten", end, self.ndim()),
        );
        if s > e {
            misuse("flatten", format!("start axis {s} is after end axis {e}"));
        }
        let mut out = self.shape()[..s].to_vec();
        out.push(numel(&self.shape()[s..=e]));
        out.extend_from_slice(&self.shape()[e + 1..]);
        self.reshape(out)
    }

    /// NumPy-style basic slicing: see [`s!`](crate::s).
    #[track_caller]
    pub fn slice(&self, args: &[SliceArg]) -> Tensor {
        let consumed = args
            .iter()
            .filter(|a| !matches!(a, SliceArg::NewAxis))
            .count();
        if consumed > self.ndim() {
            misuse(
                "slice",
                format!("{consumed} indices for a tensor of rank {}", self.ndim()),
            );
        }
        let (mut start, mut step, mut shape) = (vec![], vec![], vec![]);
        let mut final_shape = vec![];
        let mut axis = 0;
        for a in args {
            match a {
                SliceArg::NewAxis => final_shape.push(1),
                SliceArg::Index(i) => {
                    let n = self.shape()[axis];
                    let j = if *i < 0 { i + n as i64 } else { *i };
                    if j < 0 || j >= n as i64 {
                        misuse(
                            "slice",
                            format!("index {i} is out of range for axis {axis} of size {n}"),
                        );
                    }
                    start.push(j as usize);
                    step.push(1);
                    shape.push(1);
                    axis += 1;
                }
                SliceArg::Range {
                    start: s,
                    stop: e,
                    step: st,
                } => {
                    if *st == 0 {
                        misuse("slice", "step must not be zero");
                    }
                    let (first, len) = resolve_range(*s, *e, *st, self.shape()[axis]);
                    start.push(first);
                    step.push(*st as isize);
                    shape.push(len);
                    final_shape.push(len);
                    axis += 1;
                }
            }
        }
        for &n in &self.shape()[axis..] {
            start.push(0);
            step.push(1);
            shape.push(n);
            final_shape.push(n);
        }
        let identity = shape == self.shape() && step.iter().all(|&s| s == 1);
        let y = if identity {
            self.clone()
        } else {
            Tensor::from_op(Primitive::Slice { start, step, shape }, vec![self.clone()])
        };
        y.reshape(final_shape)
    }

    /// Elements `start..start+len` along one axis (`torch.narrow`).
    #[track_caller]
    pub fn narrow(&self, axis: i64, start: usize, len: usize) -> Tensor {
        let a = norm_axis("narrow", axis, self.ndim());
        if start + len > self.shape()[a] {
            misuse(
                "narrow",
                format!("{start}+{len} exceeds axis {a} of size {}", self.shape()[a]),
            );
        }
        let mut args: Vec<SliceArg> = vec![(..).into(); self.ndim()];
        args[a] = (start..start + len).into();
        self.slice(&args)
    }

    /// Reverses the order of elements along the given axes.
    #[track_caller]
    pub fn flip(&self, axes: impl Into<super::Axes>) -> Tensor {
        let axes = axes.into().resolve("flip", self.ndim());
        let args: Vec<SliceArg> = (0..self.ndim())
            .map(|i| {
                let full: SliceArg = (..).into();
                if axes.contains(&i) {
                    full.step(-1)
                } else {
                    full
                }
            })
            .collect();
        self.slice(&args)
    }

    /// Constant padding: `widths[i] = (before, after)` for each axis.
    #[track_caller]
    pub fn pad(&self, widths: &[(usize, usize)], value: f64) -> Tensor {
        if widths.len() != self.ndim() {
            misuse(
                "pad",
                format!(
                    "{} pad widths for a tensor of rank {}",
                    widths.len(),
                    self.ndim()
                ),
            );
        }
        if widths.iter().all(|&(a, b)| a == 0 && b == 0) {
            return self.clone();
        }
        Tensor::from_op(
            Primitive::Pad {
                lo: widths.iter().map(|w| w.0).collect(),
                hi: widths.iter().map(|w| w.1).collect(),
                value,
            },
            vec![self.clone()],
        )
    }

    /// Repeats the whole tensor `reps[i]` times along each axis (NumPy `tile`).
    #[track_caller]
    pub fn tile(&self, reps: &[usize]) -> Tensor {
        let rank = self.ndim().max(reps.len());
        let mut shape = vec![1; rank - self.ndim()];
        shape.extend_from_slice(self.shape());
        let mut r = vec![1; rank - reps.len()];
        r.extend_from_slice(reps);
        let mut split = vec![];
        let mut big = vec![];
        let mut out = vec![];
        for i in 0..rank {
            split.extend([1, shape[i]]);
            big.extend([r[i], shape[i]]);
            out.push(r[i] * shape[i]);
        }
        self.reshape(split).broadcast_to(&big).reshape(out)
    }

    /// Repeats each element `repeats` times along `axis` (NumPy `repeat`,
    /// `torch.repeat_interleave`).
    #[track_caller]
    pub fn repeat(&self, repeats: usize, axis: i64) -> Tensor {
        let a = norm_axis("repeat", axis, self.ndim());
        let mut split = self.shape().to_vec();
        split.insert(a + 1, 1);
        let mut big = split.clone();
        big[a + 1] = repeats;
        let mut out = self.shape().to_vec();
        out[a] *= repeats;
        self.reshape(split).broadcast_to(&big).reshape(out)
    }

    /// Splits along `axis` into pieces of the given sizes (`torch.split`).
    #[track_caller]
    pub fn split(&self, sizes: &[usize], axis: i64) -> Vec<Tensor> {
        let a = norm_axis("split", axis, self.ndim());
        if sizes.iter().sum::<usize>() != self.shape()[a] {
            misuse(
                "split",
                format!(
                    "sizes {sizes:?} do not add up to axis {a} of size {}",
                    self.shape()[a]
                ),
            );
        }
        let mut at = 0;
        let mut parts = Vec::with_capacity(sizes.len());
        for &n in sizes {
            parts.push(self.narrow(a as i64, at, n));
            at += n;
        }
        parts
    }

    /// Splits along `axis` into `n` pieces of equal size (the last may be
    /// smaller), as `torch.chunk`.
    #[track_caller]
    pub fn chunk(&self, n: usize, axis: i64) -> Vec<Tensor> {
        let a = norm_axis("chunk", axis, self.ndim());
        if n == 0 {
            misuse("chunk", "cannot split into 0 chunks");
        }
        let len = self.shape()[a];
        let size = len.div_ceil(n).max(1);
        let mut sizes = vec![];
        let mut left = len;
        while left > 0 {
            sizes.push(size.min(left));
            left -= size.min(left);
        }
        if sizes.is_empty() {
            sizes.push(0);
        }
        self.split(&sizes, a as i64)
    }

    /// The lower triangle of the last two axes (below diagonal `k`), zeros elsewhere.
    #[track_caller]
    pub fn tril(&self, k: i64) -> Tensor {
        self.triangle(k, true)
    }

    /// The upper triangle of the last two axes (above diagonal `k`), zeros elsewhere.
    #[track_caller]
    pub fn triu(&self, k: i64) -> Tensor {
        self.triangle(k, false)
    }

    #[track_caller]
    fn triangle(&self, k: i64, lower: bool) -> Tensor {
        if self.ndim() < 2 {
            misuse(
                if lower { "tril" } else { "triu" },
                format!("needs rank >= 2, got {:?}", self.shape()),
            );
        }
        let (n, m) = (self.shape()[self.ndim() - 2], self.shape()[self.ndim() - 1]);
        let mask: Vec<bool> = (0..n * m)
            .map(|p| {
                let (i, j) = ((p / m) as i64, (p % m) as i64);
                if lower {
                    j - i <= k
                } else {
                    j - i >= k
                }
            })
            .collect();
        let mask = Tensor::from_array(Array::from_vec(mask, vec![n, m]));
        super::elementwise::where_(&mask, self, Tensor::scalar_of(0.0, self.dtype()))
    }
}

/// Joins tensors along an existing axis (dtypes are promoted).
#[track_caller]
pub fn concat(tensors: &[Tensor], axis: i64) -> Tensor {
    if tensors.is_empty() {
        misuse("concat", "needs at least one tensor");
    }
    let a = norm_axis("concat", axis, tensors[0].ndim());
    let dtype = tensors
        .iter()
        .skip(1)
        .fold(tensors[0].dtype(), |d, t| d.promote(t.dtype()));
    let rank = tensors[0].ndim();
    if tensors.iter().any(|t| {
        t.ndim() != rank || (0..rank).any(|i| i != a && t.shape()[i] != tensors[0].shape()[i])
    }) {
        misuse(
            "concat",
            format!("shapes must match outside axis {a}: {}", describe(tensors)),
        );
    }
    if tensors.len() == 1 {
        return tensors[0].astype(dtype);
    }
    Tensor::from_op(
        Primitive::Concat(a),
        tensors.iter().map(|t| t.astype(dtype)).collect(),
    )
}

/// Joins tensors of one shape along a new axis.
#[track_caller]
pub fn stack(tensors: &[Tensor], axis: i64) -> Tensor {
    if tensors.is_empty() {
        misuse("stack", "needs at least one tensor");
    }
    if tensors.iter().any(|t| t.shape() != tensors[0].shape()) {
        misuse("stack", format!("shapes differ: {}", describe(tensors)));
    }
    let a = norm_axis("stack", axis, tensors[0].ndim() + 1) as i64;
    let mut parts = Vec::with_capacity(tensors.len());
    for t in tensors {
        parts.push(t.unsqueeze(a));
    }
    concat(&parts, a)
}
