//! Dropout.

use crate::Module;
use kiln_core::ops::creation::bernoulli;
use kiln_core::ops::creation::zeros_like;
use kiln_core::Tensor;

/// Inverted dropout (`torch.nn.Dropout`): in training mode each element is
/// zeroed with probability `p` and the rest scaled by `1/(1-p)`, with a key
/// from the global generator ([`kiln_core::random::seed`] makes it
/// reproducible); in evaluation mode it is the identity. The mask is
/// drawn with `key: None`, so the key is taken inside kiln-core (one per
/// forward call), where a jit trace can make it an input of each call.
#[derive(Clone, Copy, Debug)]
pub struct Dropout {
    /// Probability of zeroing an element.
    pub p: f64,
    training: bool,
}

impl Dropout {
    /// Dropout with probability `p` in `[0, 1]`, in training mode.
    pub fn new(p: f64) -> Dropout {
        assert!(
            (0.0..=1.0).contains(&p),
            "kiln-nn: Dropout probability must be in [0, 1], got {p}"
        );
        Dropout { p, training: true }
    }
}

impl Module for Dropout {
    fn forward(&self, x: &Tensor) -> Tensor {
        if !self.training || self.p == 0.0 {
            return x.clone();
        }
        if self.p == 1.0 {
            return x * zeros_like(x);
        }
        let keep = bernoulli(x.shape(), 1.0 - self.p, None);
        x * keep.astype(x.dtype()) * (1.0 / (1.0 - self.p))
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        vec![]
    }
    fn train(&mut self, on: bool) {
        self.training = on;
    }
    fn is_training(&self) -> bool {
        self.training
    }
}
