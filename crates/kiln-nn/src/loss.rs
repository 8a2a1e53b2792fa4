//! Loss functions (PyTorch semantics), numerically stable: cross-entropy
//! goes through `log_softmax`, BCE-with-logits through
//! `max(x, 0) - x*y + log1p(exp(-|x|))`.

use kiln_core::ops::elementwise::where_;
use kiln_core::ops::nn::log_softmax;
use kiln_core::Tensor;

/// How per-element losses are combined.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reduction {
    /// The mean over elements (PyTorch's default).
    #[default]
    Mean,
    /// The sum over elements.
    Sum,
    /// No reduction: the per-element losses.
    None,
}

/// Applies `reduction` to per-element losses.
pub fn reduce(loss: Tensor, reduction: Reduction) -> Tensor {
    match reduction {
        Reduction::Mean => loss.mean(.., false),
        Reduction::Sum => loss.sum(.., false),
        Reduction::None => loss,
    }
}

#[track_caller]
fn check_same_shape(op: &str, a: &Tensor, b: &Tensor) {
    assert!(
        a.shape() == b.shape(),
        "kiln-nn: {op}: input {:?} and target {:?} must have the same shape",
        a.shape(),
        b.shape()
    );
}

/// Mean squared error `(input - target)^2` (`torch.nn.functional.mse_loss`).
#[track_caller]
pub fn mse_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Tensor {
    check_same_shape("mse_loss", input, target);
    reduce((input - target).square(), reduction)
}

/// Mean absolute error `|input - target|` (`torch.nn.functional.l1_loss`).
#[track_caller]
pub fn l1_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Tensor {
    check_same_shape("l1_loss", input, target);
    reduce((input - target).abs(), reduction)
}

/// Huber loss (`torch.nn.functional.huber_loss`): `0.5 d^2` where
/// `|d| < delta`, else `delta * (|d| - 0.5 delta)`, with `d = input - target`.
#[track_caller]
pub fn huber_loss(input: &Tensor, target: &Tensor, delta: f64, reduction: Reduction) -> Tensor {
    check_same_shape("huber_loss", input, target);
    assert!(delta > 0.0, "kiln-nn: huber_loss: delta must be positive");
    let d = input - target;
    let a = d.abs();
    let quadratic = d.square() * 0.5;
    let linear = (&a - 0.5 * delta) * delta;
    reduce(where_(&a.lt(delta), &quadratic, &linear), reduction)
}

/// Options of [`cross_entropy_with`] (PyTorch's keyword arguments).
#[derive(Clone, Copy, Debug, Default)]
pub struct CrossEntropyOptions {
    /// How the per-sample losses are combined (default mean; with class
    /// index targets the mean is over the samples not ignored).
    pub reduction: Reduction,
    /// Mixes the target with the uniform distribution: `(1 - s) * target +
    /// s / C` (0 disables).
    pub label_smoothing: f64,
    /// Index targets equal to this contribute nothing (PyTorch's default
    /// is -100; `None` ignores nothing).
    pub ignore_index: Option<i64>,
}

/// Cross-entropy between `logits: [N, C]` (or `[N, C, d..]`, classes on
/// axis 1) and `target`, with PyTorch's defaults (mean, no smoothing,
/// ignore_index -100). See [`cross_entropy_with`].
#[track_caller]
pub fn cross_entropy(logits: &Tensor, target: &Tensor) -> Tensor {
    cross_entropy_with(
        logits,
        target,
        &CrossEntropyOptions {
            ignore_index: Some(-100),
            ..Default::default()
        },
    )
}

/// Cross-entropy (`torch.nn.functional.cross_entropy`) between
/// `logits: [N, C, d..]` and either integer class indices `[N, d..]` or
/// class probabilities of the logits' shape (a float target).
///
/// With index targets the per-sample loss is
/// `(1 - s) * nll + s / C * (-sum_c log p_c)` (`s` the label smoothing),
/// zero for ignored samples; `Mean` divides the sum by the number of
/// samples not ignored (NaN if all are ignored, as PyTorch). With
/// probability targets the loss is `-sum_c t'_c log p_c` with
/// `t' = (1 - s) t + s / C`, and `Mean` divides by `N * prod(d..)`.
#[track_caller]
pub fn cross_entropy_with(logits: &Tensor, target: &Tensor, opts: &CrossEntropyOptions) -> Tensor {
    assert!(
        logits.ndim() >= 1,
        "kiln-nn: cross_entropy: logits must have a class axis"
    );
    let class_axis = if logits.ndim() == 1 { 0 } else { 1 };
    let c = logits.shape()[class_axis] as f64;
    let s = opts.label_smoothing;
    assert!(
        (0.0..=1.0).contains(&s),
        "kiln-nn: cross_entropy: label_smoothing must be in [0, 1], got {s}"
    );
    let logp = log_softmax(logits, class_axis as i64);
    if target.dtype().is_float() {
        check_same_shape("cross_entropy", logits, target);
        let t = if s > 0.0 {
            target.astype(logp.dtype()) * (1.0 - s) + s / c
        } else {
            target.astype(logp.dtype())
        };
        let per_sample = -(logp * t).sum(class_axis, false);
        return reduce(per_sample, opts.reduction);
    }
    let nll = nll_loss(&logp, target, opts.ignore_index, opts.reduction);
    if s == 0.0 {
        return nll;
    }
    let mut smooth = -logp.sum(class_axis, false);
    let mut count = None;
    if let Some(ii) = opts.ignore_index {
        let keep = target.ne(ii).astype(smooth.dtype());
        smooth = smooth * &keep;
        count = Some(keep.sum(.., false));
    }
    let smooth = match (opts.reduction, count) {
        (Reduction::Mean, Some(n)) => smooth.sum(.., false) / n,
        (r, _) => reduce(smooth, r),
    };
    nll * (1.0 - s) + smooth * (s / c)
}

/// Negative log-likelihood (`torch.nn.functional.nll_loss`) of
/// log-probabilities `input: [N, C, d..]` (or `[C]`) at integer class
/// indices `target: [N, d..]` (or `[]`). Samples whose target equals
/// `ignore_index` contribute 0; `Mean` divides by the number of samples
/// not ignored.
#[track_caller]
pub fn nll_loss(
    input: &Tensor,
    target: &Tensor,
    ignore_index: Option<i64>,
    reduction: Reduction,
) -> Tensor {
    assert!(
        target.dtype().is_int(),
        "kiln-nn: nll_loss: target must hold integer class indices, got {}",
        target.dtype()
    );
    let class_axis: i64 = if input.ndim() == 1 { 0 } else { 1 };
    let mut expected = input.shape().to_vec();
    expected.remove(class_axis as usize);
    assert!(
        target.shape() == expected.as_slice(),
        "kiln-nn: nll_loss: target shape {:?} does not match input {:?} (expected {:?})",
        target.shape(),
        input.shape(),
        expected
    );
    let target = target.astype(kiln_core::DType::I64);
    let (safe, keep) = match ignore_index {
        Some(ii) => {
            let keep = target.ne(ii);
            (where_(&keep, &target, 0i64), Some(keep))
        }
        None => (target.clone(), None),
    };
    let picked = input
        .take_along_axis(&safe.unsqueeze(class_axis), class_axis)
        .squeeze(class_axis);
    let mut loss = -picked;
    match keep {
        Some(keep) => {
            let keep = keep.astype(loss.dtype());
            loss = loss * &keep;
            match reduction {
                Reduction::Mean => loss.sum(.., false) / keep.sum(.., false),
                r => reduce(loss, r),
            }
        }
        None => reduce(loss, reduction),
    }
}

/// Binary cross-entropy of probabilities `input` in `[0, 1]`
/// (`torch.nn.functional.binary_cross_entropy`): `-(y log p + (1-y)
/// log(1-p))`, each log clamped at -100 as PyTorch does.
#[track_caller]
pub fn binary_cross_entropy(input: &Tensor, target: &Tensor, reduction: Reduction) -> Tensor {
    check_same_shape("binary_cross_entropy", input, target);
    let y = target.astype(input.dtype().to_float());
    let log_p = clamped_log(input);
    let log_1mp = clamped_log(&(1.0 - input));
    let loss = -(&y * log_p + (1.0 - &y) * log_1mp);
    reduce(loss, reduction)
}

/// `max(log(p), -100)` with a finite gradient at `p = 0` (the log is taken
/// of a safe value there, and the selected constant gets no gradient).
fn clamped_log(p: &Tensor) -> Tensor {
    let positive = p.gt(0.0);
    let safe = where_(&positive, p, 1.0);
    where_(&positive, safe.log(), -100.0).maximum(-100.0)
}

/// Binary cross-entropy on logits
/// (`torch.nn.functional.binary_cross_entropy_with_logits`), stable for any
/// logit: `max(x, 0) - x*y + log1p(exp(-|x|))`, with the exact gradient
/// `sigmoid(x) - y`.
#[track_caller]
pub fn binary_cross_entropy_with_logits(
    logits: &Tensor,
    target: &Tensor,
    reduction: Reduction,
) -> Tensor {
    check_same_shape("binary_cross_entropy_with_logits", logits, target);
    let x = logits;
    let y = target.astype(x.dtype().to_float());
    let loss = softplus(x) - x * &y;
    reduce(loss, reduction)
}

/// `log(1 + e^x)` without overflow, `max(x, 0) + log1p(exp(-|x|))`, written
/// with two branches over "safe" inputs so that the gradient is exactly
/// `sigmoid(x)` everywhere (including `x = 0`, where `max` and `|x|` have
/// kinks) and never NaN.
fn softplus(x: &Tensor) -> Tensor {
    let pos = x.ge(0.0);
    let xp = where_(&pos, x, 0.0);
    let xn = where_(&pos, 0.0, x);
    let on_pos = &xp + xp.neg().exp().log1p();
    let on_neg = xn.exp().log1p();
    where_(&pos, &on_pos, &on_neg)
}
