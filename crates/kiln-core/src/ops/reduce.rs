//! Reductions and scans: `sum`, `mean`, `prod`, `max`/`min`,
//! `argmax`/`argmin`, `var`/`std`, `logsumexp`, `all`/`any`,
//! `cumsum`/`cumprod`.
//!
//! All are compositions of `Reduce`, `ArgReduce` and `Scan` (which keep the
//! reduced axes with size 1) plus elementwise ops; the ops here drop the
//! reduced axes unless `keepdims` is true.
//!
//! Dtypes follow NumPy/JAX: `sum`/`prod`/`cumsum`/`cumprod` of bool give
//! `i64`, other ints keep their dtype (and wrap); `mean`, `var`, `std` and
//! `logsumexp` compute in float (ints and bools in `f32`; `f16`/`bf16` are
//! accumulated in `f32` and the result cast back); `max`/`min` keep the
//! dtype; `all`/`any` give bool. Reducing over zero elements gives 0 for
//! `sum`, 1 for `prod`, NaN for `mean`/`var`, -inf for `logsumexp`, true for
//! `all` and false for `any`; `max`/`min`/`argmax`/`argmin` over zero
//! elements panic, as in NumPy (there is no identity).

use super::elementwise::where_;
use super::{misuse, norm_axis, Axes};
use crate::dtype::DType;
use crate::primitive::{ArgReduceOp, LastAxisOp, Primitive, ReduceOp, ScanOp};
use crate::tensor::Tensor;

/// `shape` with `axes` dropped (or kept with size 1 when `keepdims`).
fn reduced_shape(shape: &[usize], axes: &[usize], keepdims: bool) -> Vec<usize> {
    shape
        .iter()
        .enumerate()
        .filter_map(|(i, &d)| {
            if !axes.contains(&i) {
                Some(d)
            } else if keepdims {
                Some(1)
            } else {
                None
            }
        })
        .collect()
}

/// Number of elements each output element reduces over.
fn count(shape: &[usize], axes: &[usize]) -> usize {
    axes.iter().map(|&a| shape[a]).product()
}

/// The dtype sums, products and scans accumulate in: bool becomes `i64`.
fn sum_dtype(d: DType) -> DType {
    if d == DType::Bool {
        DType::DEFAULT_INT
    } else {
        d
    }
}

/// `(compute, result)` dtypes of a float reduction (mean, var, logsumexp):
/// the result is `d.to_float()`; half floats are computed in `f32`.
fn float_dtypes(d: DType) -> (DType, DType) {
    let out = d.to_float();
    let compute = match out {
        DType::F16 | DType::BF16 => DType::F32,
        f => f,
    };
    (compute, out)
}

/// `Primitive::Reduce` over resolved `axes`, dropping them unless
/// `keepdims`. No axes: `x` unchanged.
#[track_caller]
fn reduce_raw(x: &Tensor, op: ReduceOp, axes: &[usize], keepdims: bool) -> Tensor {
    if axes.is_empty() {
        return x.clone();
    }
    let y = Tensor::from_op(
        Primitive::Reduce {
            op,
            axes: axes.to_vec(),
        },
        vec![x.clone()],
    );
    if keepdims {
        y
    } else {
        y.reshape(reduced_shape(x.shape(), axes, false))
    }
}

impl Tensor {
    /// Sum over `axes` (`..` for all). Bools sum to `i64`; other dtypes are
    /// kept (ints wrap). The sum of zero elements is 0. An empty axis list
    /// reduces nothing.
    #[track_caller]
    pub fn sum(&self, axes: impl Into<Axes>, keepdims: bool) -> Tensor {
        let axes = axes.into().resolve("sum", self.ndim());
        let x = self.astype(sum_dtype(self.dtype()));
        reduce_raw(&x, ReduceOp::Sum, &axes, keepdims)
    }

    /// Product over `axes` (`..` for all). Bools multiply as `i64`; the
    /// product of zero elements is 1.
    #[track_caller]
    pub fn prod(&self, axes: impl Into<Axes>, keepdims: bool) -> Tensor {
        let axes = axes.into().resolve("prod", self.ndim());
        let x = self.astype(sum_dtype(self.dtype()));
        reduce_raw(&x, ReduceOp::Prod, &axes, keepdims)
    }

    /// Arithmetic mean over `axes`, in float (ints and bools give `f32`).
    /// The mean of zero elements is NaN (0/0), as in NumPy.
    #[track_caller]
    pub fn mean(&self, axes: impl Into<Axes>, keepdims: bool) -> Tensor {
        let axes = axes.into().resolve("mean", self.ndim());
        let (compute, out) = float_dtypes(self.dtype());
        if axes.is_empty() {
            return self.astype(out);
        }
        let s = reduce_raw(&self.astype(compute), ReduceOp::Sum, &axes, keepdims);
        (s / count(self.shape(), &axes) as f64).astype(out)
    }

    /// Maximum over `axes`, in the input's dtype. NaN propagates (a row with
    /// a NaN gives NaN). Panics when a reduced axis is empty.
    #[track_caller]
    pub fn max(&self, axes: impl Into<Axes>, keepdims: bool) -> Tensor {
        self.extreme("max", ReduceOp::Max, axes.into(), keepdims)
    }

    /// Minimum over `axes`, in the input's dtype. NaN propagates. Panics
    /// when a reduced axis is empty.
    #[track_caller]
    pub fn min(&self, axes: impl Into<Axes>, keepdims: bool) -> Tensor {
        self.extreme("min", ReduceOp::Min, axes.into(), keepdims)
    }

    #[track_caller]
    fn extreme(&self, name: &str, op: ReduceOp, axes: Axes, keepdims: bool) -> Tensor {
        let axes = axes.resolve(name, self.ndim());
        if let Some(&a) = axes.iter().find(|&&a| self.shape()[a] == 0) {
            misuse(
                name,
                format!(
                    "cannot reduce over zero elements: axis {a} of {}{:?} is empty",
                    self.dtype(),
                    self.shape()
                ),
            );
        }
        reduce_raw(self, op, &axes, keepdims)
    }

    /// Index (`i64`) of the maximum along `axis`; the first one on ties, and
    /// the first NaN if there is one (NumPy). A rank-0 tensor accepts axis 0
    /// or -1 and gives 0. Panics when the axis is empty.
    #[track_caller]
    pub fn argmax(&self, axis: i64, keepdims: bool) -> Tensor {
        self.arg_extreme("argmax", ArgReduceOp::ArgMax, axis, keepdims)
    }

    /// Index (`i64`) of the minimum along `axis`; the first one on ties, and
    /// the first NaN if there is one. Panics when the axis is empty.
    #[track_caller]
    pub fn argmin(&self, axis: i64, keepdims: bool) -> Tensor {
        self.arg_extreme("argmin", ArgReduceOp::ArgMin, axis, keepdims)
    }

    /// Index (a rank-0 `i64`) of the maximum of the flattened tensor
    /// (NumPy `argmax` with `axis=None`).
    #[track_caller]
    pub fn argmax_all(&self) -> Tensor {
        let flat = self.reshape([self.numel()]);
        flat.arg_extreme("argmax_all", ArgReduceOp::ArgMax, 0, false)
    }

    /// Index (a rank-0 `i64`) of the minimum of the flattened tensor.
    #[track_caller]
    pub fn argmin_all(&self) -> Tensor {
        let flat = self.reshape([self.numel()]);
        flat.arg_extreme("argmin_all", ArgReduceOp::ArgMin, 0, false)
    }

    #[track_caller]
    fn arg_extreme(&self, name: &str, op: ArgReduceOp, axis: i64, keepdims: bool) -> Tensor {
        let a = norm_axis(name, axis, self.ndim().max(1));
        let x = if self.ndim() == 0 {
            self.reshape([1usize])
        } else {
            self.clone()
        };
        if x.shape()[a] == 0 {
            misuse(
                name,
                format!(
                    "axis {a} of {}{:?} is empty: there is no extreme to find",
                    self.dtype(),
                    self.shape()
                ),
            );
        }
        let y = Tensor::from_op(Primitive::ArgReduce { op, axis: a }, vec![x]);
        if self.ndim() == 0 {
            y.reshape(Vec::<usize>::new())
        } else if keepdims {
            y
        } else {
            y.reshape(reduced_shape(self.shape(), &[a], false))
        }
    }

    /// Variance over `axes` with `ddof` delta degrees of freedom:
    /// `sum((x - mean)^2) / (n - ddof)`, computed in float (two passes). As
    /// in NumPy, `n - ddof <= 0` divides by zero (inf, or NaN when `n` is 0
    /// or all deviations are 0).
    #[track_caller]
    pub fn var(&self, axes: impl Into<Axes>, ddof: usize, keepdims: bool) -> Tensor {
        let (v, out) = self.var_compute("var", axes.into(), ddof, keepdims);
        v.astype(out)
    }

    /// Standard deviation over `axes`: the square root of
    /// [`var`](Tensor::var) with the same `ddof`.
    #[track_caller]
    pub fn std(&self, axes: impl Into<Axes>, ddof: usize, keepdims: bool) -> Tensor {
        let (v, out) = self.var_compute("std", axes.into(), ddof, keepdims);
        v.sqrt().astype(out)
    }

    /// The variance in its compute dtype, and the dtype of the result.
    #[track_caller]
    fn var_compute(&self, name: &str, axes: Axes, ddof: usize, keepdims: bool) -> (Tensor, DType) {
        let axes = axes.resolve(name, self.ndim());
        let (compute, out) = float_dtypes(self.dtype());
        let x = self.astype(compute);
        let n = count(self.shape(), &axes);
        let mean = reduce_raw(&x, ReduceOp::Sum, &axes, true) / n as f64;
        let d = &x - &mean;
        let ss = reduce_raw(&(&d * &d), ReduceOp::Sum, &axes, keepdims);
        let denom = (n as f64 - ddof as f64).max(0.0);
        (ss / denom, out)
    }

    /// `log(sum(exp(x)))` over `axes`, computed stably in float: the
    /// (stop-gradient) maximum is subtracted first. A row of only -inf (or
    /// no elements) gives -inf, a row with +inf gives +inf, NaN propagates.
    #[track_caller]
    pub fn logsumexp(&self, axes: impl Into<Axes>, keepdims: bool) -> Tensor {
        let axes = axes.into().resolve("logsumexp", self.ndim());
        let (compute, out) = float_dtypes(self.dtype());
        if axes.is_empty() {
            return self.astype(out);
        }
        let x = self.astype(compute);
        if self.ndim() > 0 && axes == [self.ndim() - 1] {
            // Over the last axis only: one single-pass row kernel.
            let l = Tensor::from_op(Primitive::LastAxis(LastAxisOp::LogSumExp), vec![x]);
            let l = if keepdims {
                l
            } else {
                l.reshape(reduced_shape(self.shape(), &axes, false))
            };
            return l.astype(out);
        }
        let m = reduce_raw(&x, ReduceOp::Max, &axes, true);
        // A non-finite max (all -inf, +inf, NaN, no elements) shifts by 0,
        // so -inf rows give log(0) = -inf instead of -inf - -inf = NaN.
        let m = where_(&m.isfinite(), &m, 0.0).detach();
        let s = reduce_raw(&(&x - &m).exp(), ReduceOp::Sum, &axes, keepdims);
        let m = if keepdims {
            m
        } else {
            m.reshape(reduced_shape(self.shape(), &axes, false))
        };
        (s.log() + m).astype(out)
    }

    /// True (bool) where every element over `axes` is non-zero; true over
    /// zero elements. NaN counts as non-zero.
    #[track_caller]
    pub fn all(&self, axes: impl Into<Axes>, keepdims: bool) -> Tensor {
        let axes = axes.into().resolve("all", self.ndim());
        reduce_raw(&self.astype(DType::Bool), ReduceOp::Min, &axes, keepdims)
    }

    /// True (bool) where some element over `axes` is non-zero; false over
    /// zero elements.
    #[track_caller]
    pub fn any(&self, axes: impl Into<Axes>, keepdims: bool) -> Tensor {
        let axes = axes.into().resolve("any", self.ndim());
        reduce_raw(&self.astype(DType::Bool), ReduceOp::Max, &axes, keepdims)
    }

    /// Inclusive cumulative sum along `axis` (same shape). Bools give `i64`;
    /// ints keep their dtype. A rank-0 tensor accepts axis 0 or -1.
    #[track_caller]
    pub fn cumsum(&self, axis: i64) -> Tensor {
        self.scan("cumsum", ScanOp::Sum, axis)
    }

    /// Inclusive cumulative product along `axis` (same shape). Bools give
    /// `i64`; ints keep their dtype.
    #[track_caller]
    pub fn cumprod(&self, axis: i64) -> Tensor {
        self.scan("cumprod", ScanOp::Prod, axis)
    }

    #[track_caller]
    fn scan(&self, name: &str, op: ScanOp, axis: i64) -> Tensor {
        let a = norm_axis(name, axis, self.ndim().max(1));
        let x = self.astype(sum_dtype(self.dtype()));
        if self.ndim() == 0 {
            return x;
        }
        Tensor::from_op(
            Primitive::Scan {
                op,
                axis: a,
                reverse: false,
            },
            vec![x],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[f32], shape: &[usize]) -> Tensor {
        Tensor::from_vec(v.to_vec(), shape).unwrap()
    }

    fn f32s(x: &Tensor) -> Vec<f32> {
        x.to_vec::<f32>().unwrap()
    }

    fn close(got: &[f64], want: &[f64]) {
        assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
        for (g, w) in got.iter().zip(want) {
            let ok =
                (g.is_nan() && w.is_nan()) || g == w || (g - w).abs() <= 1e-5 * w.abs().max(1.0);
            assert!(ok, "{got:?} vs {want:?}");
        }
    }

    /// [[1, 2, 3], [4, 5, 6]]
    fn m23() -> Tensor {
        t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])
    }

    #[test]
    fn sum_over_axes_and_keepdims() {
        let x = m23();
        let all = x.sum(.., false);
        assert_eq!(all.shape(), &[] as &[usize]);
        assert_eq!(f32s(&all), vec![21.0]);
        assert_eq!(f32s(&x.sum(0, false)), vec![5.0, 7.0, 9.0]);
        assert_eq!(f32s(&x.sum(-1, false)), vec![6.0, 15.0]);
        let k = x.sum(-1, true);
        assert_eq!(k.shape(), &[2, 1]);
        assert_eq!(f32s(&k), vec![6.0, 15.0]);
        let k = x.sum([0, -1], true);
        assert_eq!(k.shape(), &[1, 1]);
        assert_eq!(f32s(&k), vec![21.0]);
        assert_eq!(x.sum(.., true).shape(), &[1, 1]);
        // Rank 3, non-adjacent axes.
        let y = Tensor::from_vec((0..24).map(|v| v as f32).collect(), &[2, 3, 4]).unwrap();
        let s = y.sum([0, 2], false);
        assert_eq!(s.shape(), &[3]);
        // sum over i, k of 12 i + 4 j + k = 2*4*4j + 4*12 + 2*6
        assert_eq!(f32s(&s), vec![60.0, 92.0, 124.0]);
    }

    #[test]
    fn empty_axis_list_reduces_nothing_but_promotes() {
        let x = m23();
        let s = x.sum(Axes::These(vec![]), false);
        assert_eq!(s.shape(), &[2, 3]);
        assert_eq!(f32s(&s), f32s(&x));
        let b = Tensor::from_vec(vec![true, false], &[2]).unwrap();
        let s = b.sum(Vec::<i64>::new(), false);
        assert_eq!(s.dtype(), DType::I64);
        assert_eq!(s.to_vec::<i64>().unwrap(), vec![1, 0]);
        let m = Tensor::from_vec(vec![1i32, 2], &[2])
            .unwrap()
            .mean(Vec::<i64>::new(), false);
        assert_eq!(m.dtype(), DType::F32);
        assert_eq!(f32s(&m), vec![1.0, 2.0]);
        // Axes::All on a scalar is the empty list too.
        assert_eq!(f32s(&Tensor::scalar(3.0f32).sum(.., false)), vec![3.0]);
    }

    #[test]
    fn sum_and_prod_dtypes() {
        let b = Tensor::from_vec(vec![true, true, false, true], &[2, 2]).unwrap();
        let s = b.sum(.., false);
        assert_eq!(s.dtype(), DType::I64);
        assert_eq!(s.to_vec::<i64>().unwrap(), vec![3]);
        assert_eq!(b.prod(1, false).to_vec::<i64>().unwrap(), vec![1, 0]);
        let i = Tensor::from_vec(vec![100i8, 27, 1], &[3]).unwrap();
        let s = i.sum(0, false);
        assert_eq!(s.dtype(), DType::I8);
        assert_eq!(
            s.to_vec::<i8>().unwrap(),
            vec![-128],
            "ints wrap in their dtype"
        );
        let p = Tensor::from_vec(vec![2i32, -3, 4], &[3])
            .unwrap()
            .prod(.., false);
        assert_eq!(p.to_vec::<i32>().unwrap(), vec![-24]);
        assert_eq!(f32s(&m23().prod(0, false)), vec![4.0, 10.0, 18.0]);
    }

    #[test]
    fn zero_elements() {
        let x = t(&[], &[0, 3]);
        let s = x.sum(0, false);
        assert_eq!(s.shape(), &[3]);
        assert_eq!(f32s(&s), vec![0.0; 3]);
        assert_eq!(f32s(&x.prod(0, false)), vec![1.0; 3]);
        assert!(f32s(&x.mean(0, false)).iter().all(|v| v.is_nan()));
        assert!(f32s(&x.mean(.., false))[0].is_nan());
        assert!(f32s(&x.var(0, 0, false)).iter().all(|v| v.is_nan()));
        assert_eq!(f32s(&x.logsumexp(0, false)), vec![f32::NEG_INFINITY; 3]);
        assert_eq!(x.all(0, false).to_vec::<bool>().unwrap(), vec![true; 3]);
        assert_eq!(x.any(0, false).to_vec::<bool>().unwrap(), vec![false; 3]);
        // Reducing a non-empty axis of an empty tensor is fine for max.
        let m = x.max(1, false);
        assert_eq!(m.shape(), &[0]);
        assert!(f32s(&m).is_empty());
        let c = x.cumsum(0);
        assert_eq!(c.shape(), &[0, 3]);
        assert_eq!(x.argmax(1, false).shape(), &[0]);
    }

    #[test]
    fn mean_is_float() {
        let x = m23();
        assert_eq!(f32s(&x.mean(.., false)), vec![3.5]);
        assert_eq!(f32s(&x.mean(1, true)), vec![2.0, 5.0]);
        let i = Tensor::from_vec(vec![1i64, 2, 4], &[3])
            .unwrap()
            .mean(0, false);
        assert_eq!(i.dtype(), DType::F32);
        close(&i.to_f64_vec().unwrap(), &[7.0 / 3.0]);
        let b = Tensor::from_vec(vec![true, false, false, false], &[4]).unwrap();
        assert_eq!(f32s(&b.mean(.., false)), vec![0.25]);
        let d = Tensor::from_vec(vec![1.0f64, 2.0], &[2])
            .unwrap()
            .mean(0, false);
        assert_eq!(d.dtype(), DType::F64);
        assert_eq!(d.to_vec::<f64>().unwrap(), vec![1.5]);
    }

    #[test]
    fn half_floats_accumulate_in_f32() {
        let h = t(&[60000.0, 60000.0], &[2]).astype(DType::F16);
        let m = h.mean(0, false);
        assert_eq!(m.dtype(), DType::F16);
        assert_eq!(m.to_f64_vec().unwrap(), vec![60000.0]);
        let v = t(&[60000.0, 60000.0, 60000.0], &[3])
            .astype(DType::BF16)
            .var(0, 0, false);
        assert_eq!(v.dtype(), DType::BF16);
        assert_eq!(v.to_f64_vec().unwrap(), vec![0.0]);
        let l = t(&[0.0, 0.0], &[2]).astype(DType::F16).logsumexp(0, false);
        assert_eq!(l.dtype(), DType::F16);
        close(&l.to_f64_vec().unwrap(), &[0.69336]);
    }

    #[test]
    fn max_min_propagate_nan() {
        let x = t(&[1.0, f32::NAN, 3.0, 4.0, 2.0, 0.5], &[2, 3]);
        let m = f32s(&x.max(1, false));
        assert!(m[0].is_nan());
        assert_eq!(m[1], 4.0);
        let m = f32s(&x.min(-1, false));
        assert!(m[0].is_nan());
        assert_eq!(m[1], 0.5);
        let m = f32s(&x.max(0, true));
        assert_eq!(x.max(0, true).shape(), &[1, 3]);
        assert_eq!(m[0], 4.0);
        assert!(m[1].is_nan());
        assert_eq!(m[2], 3.0);
        assert!(f32s(&x.max(.., false))[0].is_nan());
        let inf = t(&[f32::NEG_INFINITY, f32::NEG_INFINITY], &[2]);
        assert_eq!(f32s(&inf.max(0, false)), vec![f32::NEG_INFINITY]);
    }

    #[test]
    fn max_min_of_ints_and_bools() {
        let i = Tensor::from_vec(vec![3i32, -7, 5, 0], &[2, 2]).unwrap();
        let m = i.max(1, false);
        assert_eq!(m.dtype(), DType::I32);
        assert_eq!(m.to_vec::<i32>().unwrap(), vec![3, 5]);
        assert_eq!(i.min(.., false).to_vec::<i32>().unwrap(), vec![-7]);
        let u = Tensor::from_vec(vec![200u8, 7], &[2]).unwrap();
        assert_eq!(u.max(0, false).to_vec::<u8>().unwrap(), vec![200]);
        let b = Tensor::from_vec(vec![false, true, false, false], &[2, 2]).unwrap();
        assert_eq!(b.max(1, false).to_vec::<bool>().unwrap(), vec![true, false]);
        assert_eq!(
            b.min(1, false).to_vec::<bool>().unwrap(),
            vec![false, false]
        );
    }

    #[test]
    fn argmax_argmin() {
        let x = t(&[1.0, 5.0, 5.0, 7.0, 0.0, -1.0], &[2, 3]);
        let a = x.argmax(1, false);
        assert_eq!(a.dtype(), DType::I64);
        assert_eq!(a.to_vec::<i64>().unwrap(), vec![1, 0], "first of ties");
        assert_eq!(x.argmin(-1, false).to_vec::<i64>().unwrap(), vec![0, 2]);
        let k = x.argmax(0, true);
        assert_eq!(k.shape(), &[1, 3]);
        assert_eq!(k.to_vec::<i64>().unwrap(), vec![1, 0, 0]);
        assert_eq!(x.argmax_all().shape(), &[] as &[usize]);
        assert_eq!(x.argmax_all().to_vec::<i64>().unwrap(), vec![3]);
        assert_eq!(x.argmin_all().to_vec::<i64>().unwrap(), vec![5]);
        let n = t(&[1.0, f32::NAN, 9.0, f32::NAN], &[4]);
        assert_eq!(n.argmax(0, false).to_vec::<i64>().unwrap(), vec![1]);
        assert_eq!(n.argmin(0, false).to_vec::<i64>().unwrap(), vec![1]);
        let s = Tensor::scalar(2.5f32);
        assert_eq!(s.argmax(0, false).to_vec::<i64>().unwrap(), vec![0]);
        assert_eq!(s.argmin(-1, true).shape(), &[] as &[usize]);
        assert_eq!(s.argmax_all().to_vec::<i64>().unwrap(), vec![0]);
        let i = Tensor::from_vec(vec![3u8, 9, 9], &[3]).unwrap();
        assert_eq!(i.argmax(0, false).to_vec::<i64>().unwrap(), vec![1]);
    }

    #[test]
    fn var_and_std_with_ddof() {
        let x = t(&[1.0, 2.0, 3.0, 4.0], &[4]);
        close(&x.var(.., 0, false).to_f64_vec().unwrap(), &[1.25]);
        close(&x.var(0, 1, false).to_f64_vec().unwrap(), &[5.0 / 3.0]);
        close(&x.std(0, 0, false).to_f64_vec().unwrap(), &[1.25f64.sqrt()]);
        close(
            &x.std(0, 1, false).to_f64_vec().unwrap(),
            &[(5.0f64 / 3.0).sqrt()],
        );
        let y = m23();
        let v = y.var(1, 0, true);
        assert_eq!(v.shape(), &[2, 1]);
        close(&v.to_f64_vec().unwrap(), &[2.0 / 3.0, 2.0 / 3.0]);
        close(&y.var(0, 1, false).to_f64_vec().unwrap(), &[4.5, 4.5, 4.5]);
        // n - ddof <= 0 divides by zero, as in NumPy.
        assert_eq!(
            f32s(&t(&[1.0, 2.0], &[2]).var(0, 2, false)),
            vec![f32::INFINITY]
        );
        assert!(f32s(&t(&[1.0], &[1]).var(0, 1, false))[0].is_nan());
        // Large offsets do not lose the variance (two-pass).
        let big = t(&[1e4 + 1.0, 1e4 + 2.0, 1e4 + 3.0], &[3]);
        close(&big.var(0, 0, false).to_f64_vec().unwrap(), &[2.0 / 3.0]);
        let i = Tensor::from_vec(vec![1i32, 3], &[2])
            .unwrap()
            .std(0, 0, false);
        assert_eq!(i.dtype(), DType::F32);
        assert_eq!(f32s(&i), vec![1.0]);
        assert!(f32s(&t(&[1.0, f32::NAN], &[2]).var(0, 0, false))[0].is_nan());
    }

    #[test]
    fn logsumexp_is_stable() {
        let x = t(&[1000.0, 1000.0], &[2]);
        close(
            &x.logsumexp(0, false).to_f64_vec().unwrap(),
            &[1000.0 + 2f64.ln()],
        );
        let x = t(&[-1000.0, -1000.0], &[2]);
        close(
            &x.logsumexp(.., false).to_f64_vec().unwrap(),
            &[-1000.0 + 2f64.ln()],
        );
        let ninf = f32::NEG_INFINITY;
        let x = t(&[ninf, ninf, 0.0, ninf, 1.0, 2.0], &[3, 2]);
        let l = x.logsumexp(1, false);
        let want = (0.0f64.exp() + 0.0).ln();
        let want2 = (1f64.exp() + 2f64.exp()).ln();
        close(&l.to_f64_vec().unwrap(), &[f64::NEG_INFINITY, want, want2]);
        let k = x.logsumexp(-1, true);
        assert_eq!(k.shape(), &[3, 1]);
        assert_eq!(f32s(&k)[0], ninf);
        let x = t(&[f32::INFINITY, 1.0, f32::NAN, 1.0], &[2, 2]);
        let l = f32s(&x.logsumexp(1, false));
        assert_eq!(l[0], f32::INFINITY);
        assert!(l[1].is_nan());
        let i = Tensor::from_vec(vec![0i32, 0], &[2])
            .unwrap()
            .logsumexp(0, false);
        assert_eq!(i.dtype(), DType::F32);
        close(&i.to_f64_vec().unwrap(), &[2f64.ln()]);
        let m = m23();
        let l = m.logsumexp([0, 1], false);
        let want: f64 = (1..=6).map(|v| (v as f64).exp()).sum::<f64>().ln();
        close(&l.to_f64_vec().unwrap(), &[want]);
    }

    #[test]
    fn all_and_any() {
        let x = t(&[1.0, 0.0, 2.0, 3.0, f32::NAN, -1.0], &[2, 3]);
        let a = x.all(1, false);
        assert_eq!(a.dtype(), DType::Bool);
        assert_eq!(a.to_vec::<bool>().unwrap(), vec![false, true]);
        assert_eq!(
            x.any(0, false).to_vec::<bool>().unwrap(),
            vec![true, true, true]
        );
        assert_eq!(x.all(.., true).shape(), &[1, 1]);
        let z = t(&[0.0, 0.0], &[2]);
        assert_eq!(z.any(.., false).to_vec::<bool>().unwrap(), vec![false]);
        let b = Tensor::from_vec(vec![true, true], &[2]).unwrap();
        assert_eq!(b.all(0, false).to_vec::<bool>().unwrap(), vec![true]);
        let i = Tensor::from_vec(vec![0i64, 5], &[2]).unwrap();
        assert_eq!(i.all(0, false).to_vec::<bool>().unwrap(), vec![false]);
        assert_eq!(i.any(0, false).to_vec::<bool>().unwrap(), vec![true]);
    }

    #[test]
    fn cumsum_and_cumprod() {
        let x = m23();
        assert_eq!(f32s(&x.cumsum(1)), vec![1.0, 3.0, 6.0, 4.0, 9.0, 15.0]);
        assert_eq!(f32s(&x.cumsum(-2)), vec![1.0, 2.0, 3.0, 5.0, 7.0, 9.0]);
        assert_eq!(f32s(&x.cumprod(-1)), vec![1.0, 2.0, 6.0, 4.0, 20.0, 120.0]);
        let b = Tensor::from_vec(vec![true, false, true], &[3]).unwrap();
        let c = b.cumsum(0);
        assert_eq!(c.dtype(), DType::I64);
        assert_eq!(c.to_vec::<i64>().unwrap(), vec![1, 1, 2]);
        assert_eq!(b.cumprod(0).to_vec::<i64>().unwrap(), vec![1, 0, 0]);
        let i = Tensor::from_vec(vec![2i32, 3, 4], &[3]).unwrap();
        assert_eq!(i.cumprod(0).to_vec::<i32>().unwrap(), vec![2, 6, 24]);
        assert_eq!(i.cumsum(0).dtype(), DType::I32);
        let s = Tensor::scalar(4.0f32);
        assert_eq!(s.cumsum(0).shape(), &[] as &[usize]);
        assert_eq!(f32s(&s.cumprod(-1)), vec![4.0]);
    }

    #[test]
    #[should_panic(expected = "kiln: sum: axis 2 is out of range")]
    fn sum_bad_axis_panics() {
        m23().sum(2, false);
    }

    #[test]
    #[should_panic(expected = "kiln: mean: repeated axis")]
    fn mean_repeated_axis_panics() {
        m23().mean([1, -1], false);
    }

    #[test]
    #[should_panic(expected = "kiln: max: cannot reduce over zero elements")]
    fn max_of_empty_panics() {
        t(&[], &[2, 0]).max(1, false);
    }

    #[test]
    #[should_panic(expected = "kiln: min: cannot reduce over zero elements")]
    fn min_of_empty_panics() {
        t(&[], &[0]).min(.., false);
    }

    #[test]
    #[should_panic(expected = "kiln: argmax: axis 0 of f32[0, 2] is empty")]
    fn argmax_of_empty_panics() {
        t(&[], &[0, 2]).argmax(0, false);
    }

    #[test]
    #[should_panic(expected = "kiln: argmin_all: axis 0")]
    fn argmin_all_of_empty_panics() {
        t(&[], &[0, 2]).argmin_all();
    }

    #[test]
    #[should_panic(expected = "kiln: argmin: axis -3 is out of range")]
    fn argmin_bad_axis_panics() {
        m23().argmin(-3, false);
    }

    #[test]
    #[should_panic(expected = "kiln: cumsum: axis 1 is out of range")]
    fn cumsum_bad_axis_panics() {
        Tensor::scalar(1.0f32).cumsum(1);
    }

    #[test]
    #[should_panic(expected = "kiln: var: axis 5 is out of range")]
    fn var_bad_axis_panics() {
        m23().var(5, 0, false);
    }

    #[test]
    fn panics_point_at_the_caller() {
        let line = line!() + 1;
        let err = std::panic::catch_unwind(|| t(&[], &[3, 0]).max(-1, false)).unwrap_err();
        let msg = err.downcast_ref::<String>().unwrap();
        assert!(
            msg.contains("kiln: max: cannot reduce over zero elements: axis 1 of f32[3, 0]"),
            "{msg}"
        );
        assert!(msg.contains(&format!("reduce.rs:{line}:")), "{msg}");
        let line = line!() + 1;
        let err = std::panic::catch_unwind(|| t(&[], &[2, 0]).argmax(1, false)).unwrap_err();
        let msg = err.downcast_ref::<String>().unwrap();
        assert!(
            msg.contains("kiln: argmax: axis 1 of f32[2, 0] is empty"),
            "{msg}"
        );
        assert!(msg.contains(&format!("reduce.rs:{line}:")), "{msg}");
    }
}
