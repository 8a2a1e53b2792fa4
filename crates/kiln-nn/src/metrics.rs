//! Training metrics and the evaluation loop: accuracy, a running mean, and
//! `evaluate` (eval mode, no graph recorded).

use crate::module::Module;
use kiln_core::{no_grad, DType, Error, Result, Tensor};

/// Number of rows of `logits` (`[N, C]`) whose argmax equals `labels` (`[N]`).
pub fn correct(logits: &Tensor, labels: &Tensor) -> Result<usize> {
    if logits.ndim() != 2 || labels.shape() != [logits.shape()[0]] {
        return Err(Error::Invalid(format!(
            "accuracy needs logits [N, C] and labels [N], got {:?} and {:?}",
            logits.shape(),
            labels.shape()
        )));
    }
    let hits = no_grad(|| {
        logits
            .argmax(-1, false)
            .eq(labels.astype(DType::I64))
            .astype(DType::I64)
            .sum(.., false)
    });
    Ok(hits.item_f64()? as usize)
}

/// Fraction of rows of `logits` whose argmax equals `labels`.
pub fn accuracy(logits: &Tensor, labels: &Tensor) -> Result<f64> {
    let n = labels.numel();
    Ok(if n == 0 {
        0.0
    } else {
        correct(logits, labels)? as f64 / n as f64
    })
}

/// A weighted running mean (e.g. of the loss over an epoch).
#[derive(Clone, Copy, Debug, Default)]
pub struct RunningMean {
    sum: f64,
    weight: f64,
}

impl RunningMean {
    /// An empty mean.
    pub fn new() -> RunningMean {
        RunningMean::default()
    }
    /// Adds `value` with `weight` (e.g. a batch's mean loss and its size).
    pub fn add(&mut self, value: f64, weight: f64) {
        self.sum += value * weight;
        self.weight += weight;
    }
    /// The mean so far (NaN before anything was added).
    pub fn mean(&self) -> f64 {
        self.sum / self.weight
    }
    /// The total weight added.
    pub fn count(&self) -> f64 {
        self.weight
    }
}

/// Mean loss and accuracy of a model over a dataset.
#[derive(Clone, Copy, Debug)]
pub struct EvalReport {
    /// Mean of `loss_fn` over all samples.
    pub loss: f64,
    /// Fraction of samples classified correctly.
    pub accuracy: f64,
    /// Number of samples.
    pub samples: usize,
}

/// Runs `model` over `batches` in eval mode without recording a graph and
/// reports the mean loss and the accuracy; the model's training mode is
/// restored afterwards.
pub fn evaluate<I>(
    model: &mut dyn Module,
    batches: I,
    loss_fn: impl Fn(&Tensor, &Tensor) -> Tensor,
) -> Result<EvalReport>
where
    I: IntoIterator<Item = Result<(Tensor, Tensor)>>,
{
    let was_training = model.is_training();
    model.train(false);
    let result = (|| {
        let (mut loss, mut hits, mut n) = (RunningMean::new(), 0usize, 0usize);
        for batch in batches {
            let (x, y) = batch?;
            let logits = no_grad(|| model.forward(&x));
            loss.add(
                no_grad(|| loss_fn(&logits, &y)).item_f64()?,
                y.numel() as f64,
            );
            hits += correct(&logits, &y)?;
            n += y.numel();
        }
        Ok(EvalReport {
            loss: loss.mean(),
            accuracy: if n == 0 { 0.0 } else { hits as f64 / n as f64 },
            samples: n,
        })
    })();
    model.train(was_training);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_and_running_mean() {
        let logits = Tensor::from_vec(vec![0.1f32, 0.9, 0.8, 0.2, 0.3, 0.7], &[3, 2]).unwrap();
        let labels = Tensor::from_vec(vec![1i64, 0, 0], &[3]).unwrap();
        assert_eq!(correct(&logits, &labels).unwrap(), 2);
        assert!((accuracy(&logits, &labels).unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert!(correct(&logits, &Tensor::from_vec(vec![1i64], &[1]).unwrap()).is_err());
        let mut m = RunningMean::new();
        m.add(1.0, 1.0);
        m.add(4.0, 3.0);
        assert_eq!(m.mean(), 13.0 / 4.0);
        assert_eq!(m.count(), 4.0);
    }
}
