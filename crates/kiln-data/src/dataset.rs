//! The [`Dataset`] trait and [`TensorDataset`], a dataset held in two
//! tensors.

use kiln_core::ops::shape::stack;
use kiln_core::{DType, Error, Result, Tensor};

/// A finite, indexable collection of `(input, target)` samples.
///
/// Loaders only call [`Dataset::get_batch`]; implement it directly when a
/// batch can be gathered without building one tensor per sample (the
/// default stacks the samples of [`Dataset::get`]).
pub trait Dataset {
    /// The number of samples.
    fn len(&self) -> usize;

    /// Whether the dataset has no samples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sample `index` as `(input, target)`; errors when out of range.
    fn get(&self, index: usize) -> Result<(Tensor, Tensor)>;

    /// The samples `indices`, stacked along a new leading axis:
    /// `(inputs [B, ...], targets [B, ...])` with `B = indices.len()`.
    /// Errors when an index is out of range or `indices` is empty.
    fn get_batch(&self, indices: &[usize]) -> Result<(Tensor, Tensor)> {
        if indices.is_empty() {
            return Err(Error::Invalid("get_batch: no indices".into()));
        }
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for &i in indices {
            let (x, y) = self.get(i)?;
            xs.push(x);
            ys.push(y);
        }
        Ok((stack(&xs, 0), stack(&ys, 0)))
    }
}

/// An in-memory dataset: sample `i` is `(inputs[i], targets[i])`, indexing
/// along axis 0 of both tensors.
#[derive(Clone, Debug)]
pub struct TensorDataset {
    inputs: Tensor,
    targets: Tensor,
}

impl TensorDataset {
    /// A dataset over two tensors with one length along axis 0; errors when
    /// either is rank 0 or their lengths differ.
    pub fn new(inputs: Tensor, targets: Tensor) -> Result<TensorDataset> {
        if inputs.ndim() == 0 || targets.ndim() == 0 {
            return Err(Error::Invalid(format!(
                "TensorDataset: inputs and targets need a sample axis, got shapes {:?} and {:?}",
                inputs.shape(),
                targets.shape()
            )));
        }
        if inputs.shape()[0] != targets.shape()[0] {
            return Err(Error::Invalid(format!(
                "TensorDataset: {} inputs but {} targets (shapes {:?} and {:?})",
                inputs.shape()[0],
                targets.shape()[0],
                inputs.shape(),
                targets.shape()
            )));
        }
        Ok(TensorDataset { inputs, targets })
    }

    /// All inputs, `[N, ...]`.
    pub fn inputs(&self) -> &Tensor {
        &self.inputs
    }

    /// All targets, `[N, ...]`.
    pub fn targets(&self) -> &Tensor {
        &self.targets
    }

    /// The two tensors `(inputs, targets)`.
    pub fn into_parts(self) -> (Tensor, Tensor) {
        (self.inputs, self.targets)
    }

    fn check_index(&self, index: usize) -> Result<()> {
        if index >= self.len() {
            return Err(Error::Invalid(format!(
                "index {index} is out of range for a dataset of {} samples",
                self.len()
            )));
        }
        Ok(())
    }
}

impl Dataset for TensorDataset {
    fn len(&self) -> usize {
        self.inputs.shape()[0]
    }

    fn get(&self, index: usize) -> Result<(Tensor, Tensor)> {
        let (x, y) = self.get_batch(&[index])?;
        Ok((
            x.reshape(&self.inputs.shape()[1..]),
            y.reshape(&self.targets.shape()[1..]),
        ))
    }

    /// Gathers the rows with one `index_select` per tensor (no per-sample
    /// tensors).
    fn get_batch(&self, indices: &[usize]) -> Result<(Tensor, Tensor)> {
        if indices.is_empty() {
            return Err(Error::Invalid("get_batch: no indices".into()));
        }
        let mut idx = Vec::with_capacity(indices.len());
        for &i in indices {
            self.check_index(i)?;
            idx.push(i as i64);
        }
        let idx = Tensor::from_vec(idx, &[indices.len()])?;
        debug_assert_eq!(idx.dtype(), DType::I64);
        Ok((
            self.inputs.index_select(0, &idx),
            self.targets.index_select(0, &idx),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> TensorDataset {
        let x = Tensor::from_vec((0..12).map(|v| v as f32).collect(), &[6, 2]).unwrap();
        let y = Tensor::from_vec((0..6i64).collect(), &[6]).unwrap();
        TensorDataset::new(x, y).unwrap()
    }

    #[test]
    fn get_and_get_batch() {
        let d = toy();
        assert_eq!(d.len(), 6);
        assert!(!d.is_empty());
        let (x, y) = d.get(4).unwrap();
        assert_eq!(x.shape(), &[2]);
        assert_eq!(y.shape(), &[] as &[usize]);
        assert_eq!(x.to_vec::<f32>().unwrap(), vec![8.0, 9.0]);
        assert_eq!(y.item::<i64>().unwrap(), 4);
        let (x, y) = d.get_batch(&[5, 0, 5]).unwrap();
        assert_eq!(x.shape(), &[3, 2]);
        assert_eq!(
            x.to_vec::<f32>().unwrap(),
            vec![10.0, 11.0, 0.0, 1.0, 10.0, 11.0]
        );
        assert_eq!(y.to_vec::<i64>().unwrap(), vec![5, 0, 5]);
    }

    #[test]
    fn default_get_batch_stacks_samples() {
        struct Squares;
        impl Dataset for Squares {
            fn len(&self) -> usize {
                4
            }
            fn get(&self, i: usize) -> Result<(Tensor, Tensor)> {
                Ok((Tensor::scalar(i as f32), Tensor::scalar((i * i) as i64)))
            }
        }
        let (x, y) = Squares.get_batch(&[3, 1]).unwrap();
        assert_eq!(x.to_vec::<f32>().unwrap(), vec![3.0, 1.0]);
        assert_eq!(y.to_vec::<i64>().unwrap(), vec![9, 1]);
        assert!(Squares.get_batch(&[]).is_err());
    }

    #[test]
    fn errors() {
        let d = toy();
        let e = d.get(6).unwrap_err().to_string();
        assert!(e.contains("index 6") && e.contains("6 samples"), "{e}");
        assert!(d.get_batch(&[0, 7]).is_err());
        assert!(d.get_batch(&[]).is_err());
        let x = Tensor::from_vec(vec![0.0f32; 6], &[3, 2]).unwrap();
        let y = Tensor::from_vec(vec![0i64; 4], &[4]).unwrap();
        let e = TensorDataset::new(x.clone(), y).unwrap_err().to_string();
        assert!(e.contains("3 inputs but 4 targets"), "{e}");
        assert!(TensorDataset::new(x, Tensor::scalar(1i64)).is_err());
    }
}
