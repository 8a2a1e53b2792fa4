//! Layers: one module per job. Constructors with parameters take a
//! [`kiln_core::random::Key`] so initialisation is reproducible.

mod activation;
mod container;
mod conv;
mod dropout;
mod embedding;
mod linear;
mod norm;

pub use activation::{
    Elu, Gelu, Identity, LeakyRelu, LogSoftmax, Relu, Selu, Sigmoid, Silu, Softmax, Tanh,
};
pub use container::{Flatten, Sequential};
pub use conv::{AvgPool2d, Conv2d, Conv2dConfig, MaxPool2d};
pub use dropout::Dropout;
pub use embedding::Embedding;
pub use linear::Linear;
pub use norm::{BatchNorm, BatchNorm1d, BatchNorm2d, LayerNorm, RmsNorm};
