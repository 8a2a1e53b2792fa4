//! Activation functions as parameter-free modules.

use crate::Module;
use kiln_core::Tensor;

macro_rules! unit_activation {
    ($($(#[$doc:meta])* $name:ident => |$x:ident| $body:expr;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default)]
        pub struct $name;

        impl Module for $name {
            fn forward(&self, $x: &Tensor) -> Tensor {
                $body
            }
            fn named_parameters(&self) -> Vec<(String, Tensor)> {
                vec![]
            }
        }
    )*};
}

unit_activation! {
    /// `max(x, 0)`.
    Relu => |x| x.relu();
    /// `tanh(x)`.
    Tanh => |x| x.tanh();
    /// `1 / (1 + e^-x)`.
    Sigmoid => |x| x.sigmoid();
    /// `x * sigmoid(x)` (a.k.a. swish).
    Silu => |x| x.silu();
    /// SELU with PyTorch's constants.
    Selu => |x| x.selu();
    /// The identity (`nn.Identity`).
    Identity => |x| x.clone();
}

/// GELU; `approximate` selects the tanh approximation (PyTorch's
/// `approximate="tanh"`). `Gelu::default()` is the exact erf form.
#[derive(Clone, Copy, Debug, Default)]
pub struct Gelu {
    /// Use the tanh approximation.
    pub approximate: bool,
}

impl Module for Gelu {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.gelu(self.approximate)
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        vec![]
    }
}

/// Leaky ReLU: `x` for positive inputs, `negative_slope * x` otherwise.
#[derive(Clone, Copy, Debug)]
pub struct LeakyRelu {
    /// The slope for negative inputs (PyTorch's default 0.01).
    pub negative_slope: f64,
}

impl Default for LeakyRelu {
    fn default() -> Self {
        LeakyRelu {
            negative_slope: 0.01,
        }
    }
}

impl Module for LeakyRelu {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.leaky_relu(self.negative_slope)
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        vec![]
    }
}

/// ELU: `x` for positive inputs, `alpha * (e^x - 1)` otherwise.
#[derive(Clone, Copy, Debug)]
pub struct Elu {
    /// PyTorch's default is 1.0.
    pub alpha: f64,
}

impl Default for Elu {
    fn default() -> Self {
        Elu { alpha: 1.0 }
    }
}

impl Module for Elu {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.elu(self.alpha)
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        vec![]
    }
}

/// Softmax along `axis`.
#[derive(Clone, Copy, Debug)]
pub struct Softmax {
    /// The axis normalised over (negative counts from the end).
    pub axis: i64,
}

impl Module for Softmax {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.softmax(self.axis)
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        vec![]
    }
}

/// Log-softmax along `axis` (stable).
#[derive(Clone, Copy, Debug)]
pub struct LogSoftmax {
    /// The axis normalised over (negative counts from the end).
    pub axis: i64,
}

impl Module for LogSoftmax {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.log_softmax(self.axis)
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        vec![]
    }
}
