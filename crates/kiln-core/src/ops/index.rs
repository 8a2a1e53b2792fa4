//! Indexing ops: gathers, scatters, one-hot, sorting and top-k.
//!
//! Every gather here is `Primitive::Gather` (NumPy `take_along_axis`) after
//! broadcasting or slicing its operands; `scatter_add` is
//! `Primitive::ScatterAdd`; sorting is `Argsort` + `Gather`. Index tensors
//! may have any integer dtype; negative indices count from the end of the
//! axis, and out-of-range indices are an evaluation error (the `Err` of
//! `eval`/`to_vec`), not a panic.

use super::creation::arange;
use super::{misuse, norm_axis};
use crate::dtype::DType;
use crate::primitive::Primitive;
use crate::shape::{broadcast_shapes, numel};
use crate::tensor::{describe, Tensor};

/// Panics unless `idx` has an integer dtype.
#[track_caller]
fn check_indices(op: &str, idx: &Tensor) {
    if !idx.dtype().is_int() {
        misuse(
            op,
            format!(
                "indices must have an integer dtype, got {}{:?}",
                idx.dtype(),
                idx.shape()
            ),
        );
    }
}

/// Panics when `x` and `idx` differ in rank.
#[track_caller]
fn check_same_rank(op: &str, what: &str, x: &Tensor, idx: &Tensor) {
    if x.ndim() != idx.ndim() {
        misuse(
            op,
            format!(
                "{what} must have the input's rank ({}), got {}",
                x.ndim(),
                describe(&[x.clone(), idx.clone()])
            ),
        );
    }
}

/// Panics when gathering a non-empty index from an empty axis.
#[track_caller]
fn check_not_empty_axis(op: &str, x: &Tensor, axis: usize, index_len: usize) {
    if x.shape()[axis] == 0 && index_len > 0 {
        misuse(
            op,
            format!(
                "cannot index axis {axis} of {}{:?}: it is empty",
                x.dtype(),
                x.shape()
            ),
        );
    }
}

/// `x` sliced to the first `shape[i]` elements along each axis (one slice).
#[track_caller]
fn leading_block(x: &Tensor, shape: &[usize]) -> Tensor {
    if x.shape() == shape {
        return x.clone();
    }
    let args: Vec<super::shape::SliceArg> = shape.iter().map(|&n| (0..n).into()).collect();
    x.slice(&args)
}

impl Tensor {
    /// Indices (i64) that sort the tensor along `axis` (stable).
    #[track_caller]
    pub fn argsort(&self, axis: i64, descending: bool) -> Tensor {
        let axis = norm_axis("argsort", axis, self.ndim().max(1));
        let x = if self.ndim() == 0 {
            self.reshape([1usize])
        } else {
            self.clone()
        };
        let y = Tensor::from_op(Primitive::Argsort { axis, descending }, vec![x]);
        if self.ndim() == 0 {
            y.reshape(Vec::<usize>::new())
        } else {
            y
        }
    }

    /// NumPy `take_along_axis`: `y[.., i, ..] = x[.., indices[.., i, ..], ..]`.
    ///
    /// `indices` has the input's rank; outside `axis` its dims and the
    /// input's broadcast against each other. The result has the broadcast
    /// shape with `indices`' size along `axis`, and the input's dtype.
    #[track_caller]
    pub fn take_along_axis(&self, indices: &Tensor, axis: i64) -> Tensor {
        const OP: &str = "take_along_axis";
        check_indices(OP, indices);
        check_same_rank(OP, "indices", self, indices);
        let a = norm_axis(OP, axis, self.ndim());
        let (mut xs, mut is) = (self.shape().to_vec(), indices.shape().to_vec());
        xs[a] = 1;
        is[a] = 1;
        // A `match`, not `unwrap_or_else`: a closure would lose the caller's line.
        let common = match broadcast_shapes(&xs, &is) {
            Some(c) => c,
            None => misuse(
                OP,
                format!(
                    "input and indices cannot be broadcast outside axis {a}: {}",
                    describe(&[self.clone(), indices.clone()])
                ),
            ),
        };
        let (mut xt, mut it) = (common.clone(), common);
        xt[a] = self.shape()[a];
        it[a] = indices.shape()[a];
        check_not_empty_axis(OP, self, a, numel(&it));
        Tensor::from_op(
            Primitive::Gather(a),
            vec![self.broadcast_to(&xt), indices.broadcast_to(&it)],
        )
    }

    /// PyTorch `torch.gather(self, axis, index)`: `index` has the input's
    /// rank, the result has `index`'s shape and
    /// `y[.., i, ..] = x[.., index[.., i, ..], ..]` along `axis`. Outside
    /// `axis`, `index` may be smaller than the input (the leading block of
    /// the input is used) but not larger; nothing broadcasts.
    #[track_caller]
    pub fn gather(&self, axis: i64, index: &Tensor) -> Tensor {
        const OP: &str = "gather";
        check_indices(OP, index);
        check_same_rank(OP, "index", self, index);
        if self.ndim() == 0 {
            norm_axis(OP, axis, 1);
            let y = Tensor::from_op(
                Primitive::Gather(0),
                vec![self.reshape([1usize]), index.reshape([1usize])],
            );
            return y.reshape(Vec::<usize>::new());
        }
        let a = norm_axis(OP, axis, self.ndim());
        let mut block = self.shape().to_vec();
        for d in (0..self.ndim()).filter(|&d| d != a) {
            if index.shape()[d] > self.shape()[d] {
                misuse(
                    OP,
                    format!(
                        "index is larger than the input along axis {d}: {}",
                        describe(&[self.clone(), index.clone()])
                    ),
                );
            }
            block[d] = index.shape()[d];
        }
        check_not_empty_axis(OP, self, a, index.numel());
        Tensor::from_op(
            Primitive::Gather(a),
            vec![leading_block(self, &block), index.clone()],
        )
    }

    /// PyTorch `index_select`: the entries `indices` (1-D, or rank 0 as one
    /// entry) along `axis`; the result's size along `axis` is the number of
    /// indices.
    #[track_caller]
    pub fn index_select(&self, axis: i64, indices: &Tensor) -> Tensor {
        const OP: &str = "index_select";
        check_indices(OP, indices);
        if indices.ndim() > 1 {
            misuse(
                OP,
                format!(
                    "indices must be 1-D, got {}{:?}",
                    indices.dtype(),
                    indices.shape()
                ),
            );
        }
        self.take_impl(OP, &indices.reshape([indices.numel()]), axis)
    }

    /// NumPy `take`: the entries `indices` (any shape) along `axis`; the
    /// result is the input's shape with `axis` replaced by `indices`' shape.
    /// `axis: None` indexes the flattened input.
    #[track_caller]
    pub fn take(&self, indices: &Tensor, axis: Option<i64>) -> Tensor {
        match axis {
            None => self.reshape([self.numel()]).take_impl("take", indices, 0),
            Some(a) => self.take_impl("take", indices, a),
        }
    }

    #[track_caller]
    fn take_impl(&self, op: &str, indices: &Tensor, axis: i64) -> Tensor {
        check_indices(op, indices);
        let a = norm_axis(op, axis, self.ndim());
        let k = indices.numel();
        check_not_empty_axis(op, self, a, k);
        let mut ishape = vec![1; self.ndim()];
        ishape[a] = k;
        let mut gshape = self.shape().to_vec();
        gshape[a] = k;
        let idx = indices.reshape(ishape).broadcast_to(&gshape);
        let y = Tensor::from_op(Primitive::Gather(a), vec![self.clone(), idx]);
        let mut out = self.shape()[..a].to_vec();
        out.extend_from_slice(indices.shape());
        out.extend_from_slice(&self.shape()[a + 1..]);
        y.reshape(out)
    }

    /// PyTorch `Tensor.scatter_add(axis, index, src)`: a copy of `self`
    /// where, for every position `p` of `index`, `src[p]` is added at `p`
    /// with its `axis` coordinate replaced by `index[p]` (repeated indices
    /// accumulate).
    ///
    /// `index`, `src` and `self` have one rank; `index` may be smaller than
    /// `src` along every axis (only the leading block of `src` is used) and
    /// smaller than `self` outside `axis`. `src`'s dtype must promote to
    /// `self`'s (e.g. `i32` into `f32`, not `f32` into `i64`); bool is not
    /// supported.
    #[track_caller]
    pub fn scatter_add(&self, axis: i64, index: &Tensor, src: &Tensor) -> Tensor {
        const OP: &str = "scatter_add";
        check_indices(OP, index);
        check_same_rank(OP, "index", self, index);
        check_same_rank(OP, "src", self, src);
        if self.dtype() == DType::Bool {
            misuse(OP, "cannot add into a bool tensor; cast it first");
        }
        if src.dtype().promote(self.dtype()) != self.dtype() {
            misuse(
                OP,
                format!(
                    "src dtype {} does not fit the base dtype {} (cast it first)",
                    src.dtype(),
                    self.dtype()
                ),
            );
        }
        if self.ndim() == 0 {
            norm_axis(OP, axis, 1);
            let one = |t: &Tensor| t.reshape([1usize]);
            return one(self)
                .scatter_add(0, &one(index), &one(src))
                .reshape(Vec::<usize>::new());
        }
        let a = norm_axis(OP, axis, self.ndim());
        for d in 0..self.ndim() {
            let (i, s, b) = (index.shape()[d], src.shape()[d], self.shape()[d]);
            if i > s || (d != a && i > b) {
                misuse(
                    OP,
                    format!(
                        "index must be no larger than src along every axis and no larger than \
                         self outside axis {a}: self, index, src = {}",
                        describe(&[self.clone(), index.clone(), src.clone()])
                    ),
                );
            }
        }
        if index.numel() == 0 {
            return self.clone();
        }
        let src = leading_block(&src.astype(self.dtype()), index.shape());
        // The primitive needs index/src to match the base outside `axis`:
        // pad with index 0 and source -0.0 (adding -0.0 changes nothing,
        // not even the sign of a zero).
        let widths: Vec<(usize, usize)> = (0..self.ndim())
            .map(|d| {
                (
                    0,
                    if d == a {
                        0
                    } else {
                        self.shape()[d] - index.shape()[d]
                    },
                )
            })
            .collect();
        let (index, src) = (index.pad(&widths, 0.0), src.pad(&widths, -0.0));
        Tensor::from_op(Primitive::ScatterAdd(a), vec![self.clone(), index, src])
    }

    /// One-hot encoding of integer class indices: shape `[..., num_classes]`
    /// of `dtype`, 1 at the class and 0 elsewhere. Indices outside
    /// `0..num_classes` (negative included) give a row of zeros, as in
    /// `jax.nn.one_hot`.
    #[track_caller]
    pub fn one_hot(&self, num_classes: usize, dtype: DType) -> Tensor {
        if !self.dtype().is_int() {
            misuse(
                "one_hot",
                format!(
                    "class indices must have an integer dtype, got {}{:?}",
                    self.dtype(),
                    self.shape()
                ),
            );
        }
        let classes = arange(0.0, num_classes as f64, 1.0, DType::I64);
        self.astype(DType::I64)
            .unsqueeze(-1)
            .eq(&classes)
            .astype(dtype)
    }

    /// The values sorted along `axis` (stable; NaN last in ascending order,
    /// first in descending order).
    #[track_caller]
    pub fn sort(&self, axis: i64, descending: bool) -> Tensor {
        if self.ndim() == 0 {
            norm_axis("sort", axis, 1);
            return self.clone();
        }
        let a = norm_axis("sort", axis, self.ndim()) as i64;
        self.take_along_axis(&self.argsort(a, descending), a)
    }

    /// The `k` largest (`largest = true`, in descending order) or smallest
    /// (ascending) values along `axis`, and their `i64` indices. Ties keep
    /// the lower index first; NaN counts as the largest value.
    #[track_caller]
    pub fn topk(&self, k: usize, axis: i64, largest: bool) -> (Tensor, Tensor) {
        let scalar = self.ndim() == 0;
        let x = if scalar {
            self.reshape([1usize])
        } else {
            self.clone()
        };
        let a = norm_axis("topk", axis, x.ndim());
        let n = x.shape()[a];
        if k > n {
            misuse(
                "topk",
                format!(
                    "k = {k} exceeds axis {a} of {}{:?}",
                    self.dtype(),
                    self.shape()
                ),
            );
        }
        let idx = x.argsort(a as i64, largest).narrow(a as i64, 0, k);
        let values = x.take_along_axis(&idx, a as i64);
        if scalar && k == 1 {
            let s = Vec::<usize>::new();
            (values.reshape(s.clone()), idx.reshape(s))
        } else {
            (values, idx)
        }
    }
}

/// NumPy `take_along_axis` as a free function: see
/// [`Tensor::take_along_axis`].
#[track_caller]
pub fn take_along_axis(x: &Tensor, indices: &Tensor, axis: i64) -> Tensor {
    x.take_along_axis(indices, axis)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[f32], shape: &[usize]) -> Tensor {
        Tensor::from_vec(v.to_vec(), shape).unwrap()
    }

    fn ix(v: &[i64], shape: &[usize]) -> Tensor {
        Tensor::from_vec(v.to_vec(), shape).unwrap()
    }

    fn f32s(x: &Tensor) -> Vec<f32> {
        x.to_vec::<f32>().unwrap()
    }

    /// [[0, 1, 2], [3, 4, 5]]
    fn m23() -> Tensor {
        t(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], &[2, 3])
    }

    #[test]
    fn take_along_axis_basic_and_negative() {
        let x = m23();
        let y = x.take_along_axis(&ix(&[2, 0, -1, 1], &[2, 2]), 1);
        assert_eq!(y.shape(), &[2, 2]);
        assert_eq!(f32s(&y), vec![2.0, 0.0, 5.0, 4.0]);
        let y = x.take_along_axis(&ix(&[1, 0, 1], &[1, 3]), -2);
        assert_eq!(f32s(&y), vec![3.0, 1.0, 5.0]);
        let y = take_along_axis(&x, &ix(&[1, 1, 0, 0], &[2, 2]).astype(DType::U8), 1);
        assert_eq!(f32s(&y), vec![1.0, 1.0, 3.0, 3.0]);
    }

    #[test]
    fn take_along_axis_broadcasts_outside_axis() {
        // indices [1, 2] against input [2, 3]: the index row is used for both rows.
        let y = m23().take_along_axis(&ix(&[2, 0], &[1, 2]), 1);
        assert_eq!(y.shape(), &[2, 2]);
        assert_eq!(f32s(&y), vec![2.0, 0.0, 5.0, 3.0]);
        // input [1, 3] against indices [2, 1].
        let x = t(&[7.0, 8.0, 9.0], &[1, 3]);
        let y = x.take_along_axis(&ix(&[2, 0], &[2, 1]), 1);
        assert_eq!(y.shape(), &[2, 1]);
        assert_eq!(f32s(&y), vec![9.0, 7.0]);
        // Zero-size dims.
        let y = m23().take_along_axis(&ix(&[], &[2, 0]), 1);
        assert_eq!(y.shape(), &[2, 0]);
        let y = t(&[], &[0, 3]).take_along_axis(&ix(&[0], &[1, 1]), 1);
        assert_eq!(y.shape(), &[0, 1]);
    }

    #[test]
    fn out_of_range_index_is_an_eval_error() {
        let y = m23().take_along_axis(&ix(&[3], &[1, 1]), 1);
        assert!(y.to_vec::<f32>().is_err());
        let y = m23().take(&ix(&[-3], &[1]), Some(0));
        assert!(y.to_vec::<f32>().is_err());
    }

    #[test]
    fn gather_torch_semantics() {
        // torch.gather(t, 1, [[0, 0], [1, 0]]) with t = [[1, 2], [3, 4]]
        let x = t(&[1.0, 2.0, 3.0, 4.0], &[2, 2]);
        let y = x.gather(1, &ix(&[0, 0, 1, 0], &[2, 2]));
        assert_eq!(f32s(&y), vec![1.0, 1.0, 4.0, 3.0]);
        // Index smaller than the input outside the axis: [3, 3] input, [2, 2] index.
        let x = Tensor::from_vec((0..9).map(|v| v as f32).collect(), &[3, 3]).unwrap();
        let y = x.gather(0, &ix(&[2, 1, 0, 0], &[2, 2]));
        assert_eq!(y.shape(), &[2, 2]);
        assert_eq!(f32s(&y), vec![6.0, 4.0, 0.0, 1.0]);
        let y = x.gather(-1, &ix(&[2, 2, 2, 2], &[1, 4]).astype(DType::I32));
        assert_eq!(f32s(&y), vec![2.0, 2.0, 2.0, 2.0]);
        let s = Tensor::scalar(5.0f32).gather(0, &Tensor::scalar(0i64));
        assert_eq!(s.shape(), &[] as &[usize]);
        assert_eq!(f32s(&s), vec![5.0]);
    }

    #[test]
    fn index_select_and_take() {
        let x = m23();
        let y = x.index_select(1, &ix(&[2, 0, 2, -1], &[4]));
        assert_eq!(y.shape(), &[2, 4]);
        assert_eq!(f32s(&y), vec![2.0, 0.0, 2.0, 2.0, 5.0, 3.0, 5.0, 5.0]);
        let y = x.index_select(0, &Tensor::scalar(1i32));
        assert_eq!(y.shape(), &[1, 3]);
        assert_eq!(f32s(&y), vec![3.0, 4.0, 5.0]);
        let y = x.index_select(0, &ix(&[], &[0]));
        assert_eq!(y.shape(), &[0, 3]);
        // take with 2-D indices along axis 1: [2] + [2, 2] -> [2, 2, 2].
        let y = x.take(&ix(&[0, 1, 2, 0], &[2, 2]), Some(-1));
        assert_eq!(y.shape(), &[2, 2, 2]);
        assert_eq!(f32s(&y), vec![0.0, 1.0, 2.0, 0.0, 3.0, 4.0, 5.0, 3.0]);
        // take on the flattened input, rank-0 index gives a scalar.
        let y = x.take(&Tensor::scalar(4u8), None);
        assert_eq!(y.shape(), &[] as &[usize]);
        assert_eq!(f32s(&y), vec![4.0]);
        let y = x.take(&ix(&[5, -6, 1], &[3]), None);
        assert_eq!(f32s(&y), vec![5.0, 0.0, 1.0]);
        // Ints and bools gather too.
        let b = Tensor::from_vec(vec![true, false, true], &[3]).unwrap();
        let y = b.take(&ix(&[1, 2], &[2]), Some(0));
        assert_eq!(y.to_vec::<bool>().unwrap(), vec![false, true]);
    }

    #[test]
    fn scatter_add_torch_semantics() {
        let base = t(&[0.0; 3], &[3]);
        let y = base.scatter_add(0, &ix(&[0, 1, 0, 2], &[4]), &t(&[1.0, 2.0, 3.0, 4.0], &[4]));
        assert_eq!(f32s(&y), vec![4.0, 2.0, 4.0]);
        // torch docs-like: 2-D along axis 0, negative indices.
        let base = t(&[1.0; 6], &[2, 3]);
        let idx = ix(&[0, 1, -1, 1, 0, 0], &[2, 3]);
        let src = m23();
        let y = base.scatter_add(0, &idx, &src);
        assert_eq!(f32s(&y), vec![1.0, 5.0, 6.0, 4.0, 2.0, 3.0]);
        // Smaller index than src and base: only src's leading block is used,
        // base rows/cols outside the index block are unchanged.
        let base = t(&[0.0; 9], &[3, 3]);
        let src = Tensor::from_vec((1..=12).map(|v| v as f32).collect(), &[3, 4]).unwrap();
        let idx = ix(&[2, 2, 0, 1], &[2, 2]);
        let y = base.scatter_add(-1, &idx, &src);
        // src block [[1, 2], [5, 6]]: row 0 col 2 += 1 + 2; row 1 col 0 += 5, col 1 += 6.
        assert_eq!(f32s(&y), vec![0.0, 0.0, 3.0, 5.0, 6.0, 0.0, 0.0, 0.0, 0.0]);
        // -0.0 in the base survives the padding.
        let base = t(&[-0.0, -0.0], &[2, 1]);
        let y = base.scatter_add(1, &ix(&[0], &[1, 1]), &t(&[1.0], &[1, 1]));
        let v = f32s(&y);
        assert_eq!(v, vec![1.0, 0.0]);
        assert!(v[1].is_sign_negative());
        // Int base, int src of a smaller dtype.
        let base = Tensor::from_vec(vec![10i64, 20], &[2]).unwrap();
        let src = Tensor::from_vec(vec![1i32, 2, 3], &[3]).unwrap();
        let y = base.scatter_add(0, &ix(&[1, 1, 0], &[3]).astype(DType::I32), &src);
        assert_eq!(y.to_vec::<i64>().unwrap(), vec![13, 23]);
        // Empty index: unchanged.
        let y = m23().scatter_add(0, &ix(&[], &[0, 3]), &m23());
        assert_eq!(f32s(&y), f32s(&m23()));
    }

    #[test]
    fn one_hot_encoding() {
        let c = ix(&[0, 2, -1, 5], &[4]);
        let y = c.one_hot(3, DType::F32);
        assert_eq!(y.shape(), &[4, 3]);
        assert_eq!(
            f32s(&y),
            vec![1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        );
        let c = Tensor::from_vec(vec![1u8, 0], &[2, 1]).unwrap();
        let y = c.one_hot(2, DType::I64);
        assert_eq!(y.shape(), &[2, 1, 2]);
        assert_eq!(y.to_vec::<i64>().unwrap(), vec![0, 1, 1, 0]);
        let y = Tensor::scalar(1i32).one_hot(2, DType::Bool);
        assert_eq!(y.to_vec::<bool>().unwrap(), vec![false, true]);
        assert_eq!(ix(&[], &[0]).one_hot(4, DType::F32).shape(), &[0, 4]);
    }

    #[test]
    fn sort_values() {
        let x = t(&[3.0, f32::NAN, 1.0, 2.0, 0.0, -1.0], &[2, 3]);
        let s = f32s(&x.sort(1, false));
        assert_eq!(&s[..2], &[1.0, 3.0]);
        assert!(s[2].is_nan());
        assert_eq!(&s[3..], &[-1.0, 0.0, 2.0]);
        let s = f32s(&x.sort(-1, true));
        assert!(s[0].is_nan());
        assert_eq!(&s[1..], &[3.0, 1.0, 2.0, 0.0, -1.0]);
        let s = x.sort(0, false);
        assert_eq!(f32s(&s)[..1], [2.0]);
        let i = Tensor::from_vec(vec![3i32, -1, 2], &[3])
            .unwrap()
            .sort(0, false);
        assert_eq!(i.to_vec::<i32>().unwrap(), vec![-1, 2, 3]);
        assert_eq!(f32s(&Tensor::scalar(1.0f32).sort(0, true)), vec![1.0]);
        assert_eq!(t(&[], &[0]).sort(0, false).shape(), &[0]);
    }

    #[test]
    fn topk_values_and_indices() {
        let x = t(&[1.0, 3.0, 3.0, 2.0, 5.0, 0.0], &[2, 3]);
        let (v, i) = x.topk(2, 1, true);
        assert_eq!(v.shape(), &[2, 2]);
        assert_eq!(f32s(&v), vec![3.0, 3.0, 5.0, 2.0]);
        assert_eq!(
            i.to_vec::<i64>().unwrap(),
            vec![1, 2, 1, 0],
            "ties: lower index first"
        );
        let (v, i) = x.topk(1, -1, false);
        assert_eq!(f32s(&v), vec![1.0, 0.0]);
        assert_eq!(i.to_vec::<i64>().unwrap(), vec![0, 2]);
        let (v, i) = x.topk(1, 0, true);
        assert_eq!(v.shape(), &[1, 3]);
        assert_eq!(f32s(&v), vec![2.0, 5.0, 3.0]);
        assert_eq!(i.to_vec::<i64>().unwrap(), vec![1, 1, 0]);
        let (v, _) = x.topk(0, 1, true);
        assert_eq!(v.shape(), &[2, 0]);
        let n = t(&[1.0, f32::NAN, 2.0], &[3]);
        let (v, i) = n.topk(2, 0, true);
        assert!(f32s(&v)[0].is_nan());
        assert_eq!(i.to_vec::<i64>().unwrap(), vec![1, 2]);
        let (v, i) = n.topk(2, 0, false);
        assert_eq!(f32s(&v), vec![1.0, 2.0]);
        assert_eq!(i.to_vec::<i64>().unwrap(), vec![0, 2]);
        let (v, i) = Tensor::scalar(7i64).topk(1, 0, true);
        assert_eq!(v.shape(), &[] as &[usize]);
        assert_eq!(v.to_vec::<i64>().unwrap(), vec![7]);
        assert_eq!(i.to_vec::<i64>().unwrap(), vec![0]);
    }

    #[test]
    #[should_panic(expected = "kiln: take_along_axis: indices must have an integer dtype, got f32")]
    fn take_along_axis_float_indices_panic() {
        m23().take_along_axis(&t(&[0.0, 1.0], &[2, 1]), 1);
    }

    #[test]
    #[should_panic(expected = "kiln: take_along_axis: indices must have the input's rank")]
    fn take_along_axis_rank_mismatch_panics() {
        m23().take_along_axis(&ix(&[0, 1], &[2]), 1);
    }

    #[test]
    #[should_panic(expected = "kiln: take_along_axis: input and indices cannot be broadcast")]
    fn take_along_axis_broadcast_mismatch_panics() {
        m23().take_along_axis(&ix(&[0, 1, 0], &[3, 1]), 1);
    }

    #[test]
    #[should_panic(expected = "kiln: gather: index is larger than the input along axis 0")]
    fn gather_larger_index_panics() {
        m23().gather(1, &ix(&[0, 0, 0], &[3, 1]));
    }

    #[test]
    #[should_panic(expected = "kiln: gather: indices must have an integer dtype, got bool")]
    fn gather_bool_index_panics() {
        m23().gather(1, &Tensor::from_vec(vec![true, false], &[2, 1]).unwrap());
    }

    #[test]
    #[should_panic(expected = "kiln: index_select: indices must be 1-D")]
    fn index_select_2d_panics() {
        m23().index_select(0, &ix(&[0, 1], &[1, 2]));
    }

    #[test]
    #[should_panic(expected = "kiln: take: axis 2 is out of range")]
    fn take_bad_axis_panics() {
        m23().take(&ix(&[0], &[1]), Some(2));
    }

    #[test]
    #[should_panic(expected = "kiln: take: cannot index axis 0")]
    fn take_from_empty_axis_panics() {
        t(&[], &[0]).take(&ix(&[0], &[1]), None);
    }

    #[test]
    #[should_panic(expected = "kiln: scatter_add: src dtype f32 does not fit the base dtype i64")]
    fn scatter_add_lossy_src_panics() {
        let base = ix(&[0, 0], &[2]);
        base.scatter_add(0, &ix(&[0], &[1]), &t(&[1.0], &[1]));
    }

    #[test]
    #[should_panic(expected = "kiln: scatter_add: index must be no larger than src")]
    fn scatter_add_larger_index_panics() {
        let base = t(&[0.0; 4], &[4]);
        base.scatter_add(0, &ix(&[0, 1, 2], &[3]), &t(&[1.0, 2.0], &[2]));
    }

    #[test]
    #[should_panic(expected = "kiln: one_hot: class indices must have an integer dtype")]
    fn one_hot_float_panics() {
        t(&[0.0], &[1]).one_hot(2, DType::F32);
    }

    #[test]
    #[should_panic(expected = "kiln: topk: k = 4 exceeds axis 1")]
    fn topk_too_large_panics() {
        m23().topk(4, 1, true);
    }

    #[test]
    fn panics_point_at_the_caller() {
        let (x, bad) = (m23(), ix(&[0, 1, 0], &[3, 1]));
        let line = line!() + 1;
        let err = std::panic::catch_unwind(|| x.take_along_axis(&bad, 1)).unwrap_err();
        let msg = err.downcast_ref::<String>().unwrap();
        assert!(msg.contains("take_along_axis"), "{msg}");
        assert!(msg.contains(&format!("index.rs:{line}:")), "{msg}");
        let line = line!() + 1;
        let err = std::panic::catch_unwind(|| m23().topk(9, 0, true)).unwrap_err();
        let msg = err.downcast_ref::<String>().unwrap();
        assert!(
            msg.contains("topk: k = 9 exceeds axis 0 of f32[2, 3] at "),
            "{msg}"
        );
        assert!(msg.contains(&format!("index.rs:{line}:")), "{msg}");
    }

    #[test]
    #[should_panic(expected = "kiln: sort: axis -3 is out of range")]
    fn sort_bad_axis_panics() {
        m23().sort(-3, false);
    }
}
