//! Embedding lookup tables.

use crate::init::normal_param;
use crate::Module;
use kiln_core::random::Key;
use kiln_core::{DType, Tensor};

/// A table of `num_embeddings` vectors of size `dim` (`torch.nn.Embedding`);
/// `forward` maps integer indices of any shape `[..]` to `[.., dim]`.
#[derive(Clone, Debug)]
pub struct Embedding {
    /// The table, `[num_embeddings, dim]`, initialised from `N(0, 1)`.
    pub weight: Tensor,
}

impl Embedding {
    /// A new f32 table from `N(0, 1)` drawn with `key`.
    pub fn new(num_embeddings: usize, dim: usize, key: Key) -> Embedding {
        Embedding {
            weight: normal_param(&[num_embeddings, dim], 0.0, 1.0, DType::F32, key),
        }
    }
}

impl Module for Embedding {
    fn cast(&mut self, dtype: kiln_core::DType) {
        self.weight = crate::init::cast_param(&self.weight, dtype);
    }
    fn forward(&self, x: &Tensor) -> Tensor {
        self.weight.take(x, Some(0))
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        vec![("weight".to_string(), self.weight.clone())]
    }
}
