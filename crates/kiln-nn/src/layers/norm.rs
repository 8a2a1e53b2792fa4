//! Normalisation layers: [`LayerNorm`], [`RmsNorm`], and batch norm
//! ([`BatchNorm1d`], [`BatchNorm2d`]).

use crate::init::{buffer, parameter};
use crate::Module;
use kiln_core::ops::creation::{ones, zeros};
use kiln_core::ops::nn::{layer_norm, rms_norm};
use kiln_core::{no_grad, DType, Tensor};

/// Layer normalisation over the trailing `normalized_shape` dims
/// (`torch.nn.LayerNorm`); weight starts at ones and bias at zeros.
#[derive(Clone, Debug)]
pub struct LayerNorm {
    /// The normalised trailing dims.
    pub normalized_shape: Vec<usize>,
    /// Scale (`normalized_shape`), if affine.
    pub weight: Option<Tensor>,
    /// Shift (`normalized_shape`), if affine with bias.
    pub bias: Option<Tensor>,
    /// Added to the variance (PyTorch's default 1e-5).
    pub eps: f64,
}

impl LayerNorm {
    /// An affine f32 layer norm with bias and `eps = 1e-5`.
    pub fn new(normalized_shape: &[usize]) -> LayerNorm {
        LayerNorm::with_options(normalized_shape, 1e-5, true, true)
    }

    /// A layer norm with explicit `eps`, affine weight and bias switches.
    pub fn with_options(
        normalized_shape: &[usize],
        eps: f64,
        elementwise_affine: bool,
        bias: bool,
    ) -> LayerNorm {
        LayerNorm {
            normalized_shape: normalized_shape.to_vec(),
            weight: elementwise_affine.then(|| parameter(ones(normalized_shape, DType::F32))),
            bias: (elementwise_affine && bias)
                .then(|| parameter(zeros(normalized_shape, DType::F32))),
            eps,
        }
    }
}

impl Module for LayerNorm {
    fn cast(&mut self, dtype: kiln_core::DType) {
        self.weight = self
            .weight
            .as_ref()
            .map(|w| crate::init::cast_param(w, dtype));
        self.bias = self
            .bias
            .as_ref()
            .map(|b| crate::init::cast_param(b, dtype));
    }
    fn forward(&self, x: &Tensor) -> Tensor {
        layer_norm(
            x,
            &self.normalized_shape,
            self.weight.as_ref(),
            self.bias.as_ref(),
            self.eps,
        )
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut v = vec![];
        if let Some(w) = &self.weight {
            v.push(("weight".to_string(), w.clone()));
        }
        if let Some(b) = &self.bias {
            v.push(("bias".to_string(), b.clone()));
        }
        v
    }
}

/// RMS normalisation over the trailing dims (`torch.nn.RMSNorm`); weight
/// starts at ones.
#[derive(Clone, Debug)]
pub struct RmsNorm {
    /// The normalised trailing dims.
    pub normalized_shape: Vec<usize>,
    /// Scale (`normalized_shape`), if affine.
    pub weight: Option<Tensor>,
    /// Added to the mean square; `None` is the dtype's machine epsilon.
    pub eps: Option<f64>,
}

impl RmsNorm {
    /// An affine f32 RMS norm with the default `eps`.
    pub fn new(normalized_shape: &[usize]) -> RmsNorm {
        RmsNorm {
            normalized_shape: normalized_shape.to_vec(),
            weight: Some(parameter(ones(normalized_shape, DType::F32))),
            eps: None,
        }
    }
}

impl Module for RmsNorm {
    fn cast(&mut self, dtype: kiln_core::DType) {
        self.weight = self
            .weight
            .as_ref()
            .map(|w| crate::init::cast_param(w, dtype));
    }
    fn forward(&self, x: &Tensor) -> Tensor {
        rms_norm(x, &self.normalized_shape, self.weight.as_ref(), self.eps)
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        match &self.weight {
            Some(w) => vec![("weight".to_string(), w.clone())],
            None => vec![],
        }
    }
}

/// Batch normalisation over every axis but the channel axis 1
/// (`torch.nn.BatchNorm*d`). In training mode it normalises with the
/// batch statistics (biased variance) and updates the running statistics
/// `running = (1 - momentum) * running + momentum * batch` (unbiased
/// variance), in place, without recording gradients; in evaluation mode it
/// normalises with the running statistics.
#[derive(Clone, Debug)]
pub struct BatchNorm {
    /// Scale `[C]` (ones), if affine.
    pub weight: Option<Tensor>,
    /// Shift `[C]` (zeros), if affine.
    pub bias: Option<Tensor>,
    /// Running mean `[C]` (a buffer, starts at zeros).
    pub running_mean: Tensor,
    /// Running variance `[C]` (a buffer, starts at ones).
    pub running_var: Tensor,
    /// Number of training batches seen (an i64 scalar buffer).
    pub num_batches_tracked: Tensor,
    /// Added to the variance (1e-5).
    pub eps: f64,
    /// Weight of the new batch in the running statistics (0.1).
    pub momentum: f64,
    ranks: &'static [usize],
    training: bool,
}

impl BatchNorm {
    /// Batch norm over `num_features` channels with PyTorch's defaults
    /// (`eps = 1e-5`, `momentum = 0.1`, affine), accepting inputs of the
    /// given ranks.
    fn with_ranks(num_features: usize, ranks: &'static [usize]) -> BatchNorm {
        BatchNorm {
            weight: Some(parameter(ones(&[num_features], DType::F32))),
            bias: Some(parameter(zeros(&[num_features], DType::F32))),
            running_mean: buffer(zeros(&[num_features], DType::F32)),
            running_var: buffer(ones(&[num_features], DType::F32)),
            num_batches_tracked: buffer(Tensor::scalar(0i64)),
            eps: 1e-5,
            momentum: 0.1,
            ranks,
            training: true,
        }
    }

    /// Batch norm accepting inputs of any rank >= 2 (channels on axis 1).
    pub fn new(num_features: usize) -> BatchNorm {
        BatchNorm::with_ranks(num_features, &[])
    }

    /// Drops the affine weight and bias (`affine=False`).
    pub fn without_affine(mut self) -> BatchNorm {
        self.weight = None;
        self.bias = None;
        self
    }

    fn num_features(&self) -> usize {
        self.running_mean.numel()
    }
}

impl Module for BatchNorm {
    fn cast(&mut self, dtype: kiln_core::DType) {
        self.weight = self
            .weight
            .as_ref()
            .map(|w| crate::init::cast_param(w, dtype));
        self.bias = self
            .bias
            .as_ref()
            .map(|b| crate::init::cast_param(b, dtype));
        self.running_mean = crate::init::cast_buffer(&self.running_mean, dtype);
        self.running_var = crate::init::cast_buffer(&self.running_var, dtype);
    }
    fn forward(&self, x: &Tensor) -> Tensor {
        let c = self.num_features();
        assert!(
            x.ndim() >= 2 && (self.ranks.is_empty() || self.ranks.contains(&x.ndim())),
            "kiln-nn: BatchNorm: expected an input of rank {:?} with channels on axis 1, got {:?}",
            self.ranks,
            x.shape()
        );
        assert_eq!(
            x.shape()[1],
            c,
            "kiln-nn: BatchNorm: expected {c} channels on axis 1, got {:?}",
            x.shape()
        );
        let mut bshape = vec![1usize; x.ndim()];
        bshape[1] = c;
        let axes: Vec<i64> = (0..x.ndim() as i64).filter(|&a| a != 1).collect();
        let (mean, var) = if self.training {
            let mean = x.mean(axes.as_slice(), true);
            let var = (x - &mean).square().mean(axes.as_slice(), true);
            let n = x.numel() / c.max(1);
            no_grad(|| {
                let unbiased = if n > 1 {
                    var.detach() * (n as f64 / (n as f64 - 1.0))
                } else {
                    var.detach()
                };
                let m = self.momentum;
                let rm = &self.running_mean * (1.0 - m)
                    + mean.detach().reshape([c]).astype(self.running_mean.dtype()) * m;
                let rv = &self.running_var * (1.0 - m)
                    + unbiased.reshape([c]).astype(self.running_var.dtype()) * m;
                let nb = &self.num_batches_tracked + 1i64;
                self.running_mean
                    .assign(&rm)
                    .and_then(|_| self.running_var.assign(&rv))
                    .and_then(|_| self.num_batches_tracked.assign(&nb))
                    .expect("kiln-nn: BatchNorm: updating the running statistics failed");
            });
            (mean, var)
        } else {
            (
                self.running_mean.reshape(bshape.as_slice()),
                self.running_var.reshape(bshape.as_slice()),
            )
        };
        let mut y = (x - &mean) * (var + self.eps).rsqrt();
        if let Some(w) = &self.weight {
            y = y * w.reshape(bshape.as_slice());
        }
        if let Some(b) = &self.bias {
            y = y + b.reshape(bshape.as_slice());
        }
        y
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut v = vec![];
        if let Some(w) = &self.weight {
            v.push(("weight".to_string(), w.clone()));
        }
        if let Some(b) = &self.bias {
            v.push(("bias".to_string(), b.clone()));
        }
        v
    }

    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        vec![
            ("running_mean".to_string(), self.running_mean.clone()),
            ("running_var".to_string(), self.running_var.clone()),
            (
                "num_batches_tracked".to_string(),
                self.num_batches_tracked.clone(),
            ),
        ]
    }

    fn train(&mut self, on: bool) {
        self.training = on;
    }

    fn is_training(&self) -> bool {
        self.training
    }
}

macro_rules! batch_norm_variant {
    ($(#[$doc:meta])* $name:ident, $ranks:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub struct $name(pub BatchNorm);

        impl $name {
            /// Batch norm over `num_features` channels with PyTorch's
            /// defaults (`eps = 1e-5`, `momentum = 0.1`, affine).
            pub fn new(num_features: usize) -> $name {
                $name(BatchNorm::with_ranks(num_features, $ranks))
            }
        }

        impl std::ops::Deref for $name {
            type Target = BatchNorm;
            fn deref(&self) -> &BatchNorm {
                &self.0
            }
        }

        impl std::ops::DerefMut for $name {
            fn deref_mut(&mut self) -> &mut BatchNorm {
                &mut self.0
            }
        }

        impl Module for $name {
            fn forward(&self, x: &Tensor) -> Tensor {
                self.0.forward(x)
            }
            fn named_parameters(&self) -> Vec<(String, Tensor)> {
                self.0.named_parameters()
            }
            fn named_buffers(&self) -> Vec<(String, Tensor)> {
                self.0.named_buffers()
            }
            fn train(&mut self, on: bool) {
                self.0.train(on)
            }
            fn cast(&mut self, dtype: kiln_core::DType) {
                self.0.cast(dtype)
            }
            fn is_training(&self) -> bool {
                self.0.is_training()
            }
        }
    };
}

batch_norm_variant!(
    /// Batch norm for `[N, C]` or `[N, C, L]` inputs (`torch.nn.BatchNorm1d`).
    BatchNorm1d,
    &[2, 3]
);
batch_norm_variant!(
    /// Batch norm for `[N, C, H, W]` inputs (`torch.nn.BatchNorm2d`).
    BatchNorm2d,
    &[4]
);
