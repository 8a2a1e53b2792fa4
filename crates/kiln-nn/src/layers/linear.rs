//! The fully connected layer.

use crate::init::{default_bound, uniform_param};
use crate::Module;
use kiln_core::random::Key;
use kiln_core::{DType, Tensor};

/// `y = x @ W^T + b` with `W: [out, in]`, `b: [out]` (`torch.nn.Linear`).
#[derive(Clone, Debug)]
pub struct Linear {
    /// The weight, `[out_features, in_features]`.
    pub weight: Tensor,
    /// The bias, `[out_features]`, if any.
    pub bias: Option<Tensor>,
}

impl Linear {
    /// A new f32 layer with PyTorch's default init: weight and bias from
    /// `U(-1/sqrt(in), 1/sqrt(in))`, drawn from `key`.
    pub fn new(in_features: usize, out_features: usize, bias: bool, key: Key) -> Linear {
        Linear::with_dtype(in_features, out_features, bias, DType::F32, key)
    }

    /// [`Linear::new`] with parameters of a given float dtype.
    pub fn with_dtype(
        in_features: usize,
        out_features: usize,
        bias: bool,
        dtype: DType,
        key: Key,
    ) -> Linear {
        let k = key.split(2);
        let bound = default_bound(in_features);
        let weight = uniform_param(&[out_features, in_features], bound, dtype, k[0]);
        let bias = bias.then(|| uniform_param(&[out_features], bound, dtype, k[1]));
        Linear { weight, bias }
    }

    /// A layer from existing tensors (they become leaves requiring grad).
    pub fn from_tensors(weight: Tensor, bias: Option<Tensor>) -> Linear {
        assert_eq!(weight.ndim(), 2, "kiln-nn: Linear weight must be 2-D");
        Linear {
            weight: crate::init::parameter(weight),
            bias: bias.map(crate::init::parameter),
        }
    }

    /// `in_features`.
    pub fn in_features(&self) -> usize {
        self.weight.shape()[1]
    }

    /// `out_features`.
    pub fn out_features(&self) -> usize {
        self.weight.shape()[0]
    }
}

impl Module for Linear {
    fn cast(&mut self, dtype: kiln_core::DType) {
        self.weight = crate::init::cast_param(&self.weight, dtype);
        self.bias = self
            .bias
            .as_ref()
            .map(|b| crate::init::cast_param(b, dtype));
    }
    fn forward(&self, x: &Tensor) -> Tensor {
        let y = x.matmul(&self.weight.t());
        match &self.bias {
            Some(b) => y + b,
            None => y,
        }
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut v = vec![("weight".to_string(), self.weight.clone())];
        if let Some(b) = &self.bias {
            v.push(("bias".to_string(), b.clone()));
        }
        v
    }
}
