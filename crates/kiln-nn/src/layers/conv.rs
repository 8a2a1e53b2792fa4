//! 2-D convolution and pooling layers.

use crate::init::{default_bound, uniform_param};
use crate::Module;
use kiln_core::ops::nn::{avg_pool2d, conv2d, max_pool2d};
use kiln_core::random::Key;
use kiln_core::{DType, Tensor};

/// Hyper-parameters of [`Conv2d`] other than the channel counts and the
/// kernel size. The default is PyTorch's: stride 1, no padding, dilation 1,
/// one group, with bias.
#[derive(Clone, Copy, Debug)]
pub struct Conv2dConfig {
    /// `(height, width)` stride.
    pub stride: (usize, usize),
    /// `(height, width)` zero padding on both sides.
    pub padding: (usize, usize),
    /// `(height, width)` dilation.
    pub dilation: (usize, usize),
    /// Number of groups; must divide both channel counts.
    pub groups: usize,
    /// Whether the layer has a bias.
    pub bias: bool,
}

impl Default for Conv2dConfig {
    fn default() -> Self {
        Conv2dConfig {
            stride: (1, 1),
            padding: (0, 0),
            dilation: (1, 1),
            groups: 1,
            bias: true,
        }
    }
}

/// 2-D convolution over `[N, C, H, W]` (`torch.nn.Conv2d`), weight
/// `[out, in/groups, kh, kw]`.
#[derive(Clone, Debug)]
pub struct Conv2d {
    /// The kernel, `[out, in/groups, kh, kw]`.
    pub weight: Tensor,
    /// The bias, `[out]`, if any.
    pub bias: Option<Tensor>,
    /// Stride, padding, dilation and groups.
    pub config: Conv2dConfig,
}

impl Conv2d {
    /// A new f32 layer with PyTorch's default init: weight and bias from
    /// `U(-b, b)`, `b = 1/sqrt(in/groups * kh * kw)`.
    ///
    /// Panics if `groups` does not divide both channel counts.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: (usize, usize),
        config: Conv2dConfig,
        key: Key,
    ) -> Conv2d {
        let g = config.groups;
        assert!(
            g > 0 && in_channels.is_multiple_of(g) && out_channels.is_multiple_of(g),
            "kiln-nn: Conv2d: groups {g} must divide in_channels {in_channels} and out_channels {out_channels}"
        );
        let k = key.split(2);
        let fan_in = in_channels / g * kernel.0 * kernel.1;
        let bound = default_bound(fan_in);
        let weight = uniform_param(
            &[out_channels, in_channels / g, kernel.0, kernel.1],
            bound,
            DType::F32,
            k[0],
        );
        let bias = config
            .bias
            .then(|| uniform_param(&[out_channels], bound, DType::F32, k[1]));
        Conv2d {
            weight,
            bias,
            config,
        }
    }
}

impl Module for Conv2d {
    fn cast(&mut self, dtype: kiln_core::DType) {
        self.weight = crate::init::cast_param(&self.weight, dtype);
        self.bias = self
            .bias
            .as_ref()
            .map(|b| crate::init::cast_param(b, dtype));
    }
    fn forward(&self, x: &Tensor) -> Tensor {
        let c = &self.config;
        conv2d(
            x,
            &self.weight,
            self.bias.as_ref(),
            c.stride,
            c.padding,
            c.dilation,
            c.groups,
        )
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut v = vec![("weight".to_string(), self.weight.clone())];
        if let Some(b) = &self.bias {
            v.push(("bias".to_string(), b.clone()));
        }
        v
    }
}

/// 2-D max pooling (`torch.nn.MaxPool2d`, `ceil_mode=False`).
#[derive(Clone, Copy, Debug)]
pub struct MaxPool2d {
    /// Window size.
    pub kernel: (usize, usize),
    /// Stride.
    pub stride: (usize, usize),
    /// Padding (at most half the kernel).
    pub padding: (usize, usize),
}

impl MaxPool2d {
    /// Pooling with stride equal to the kernel (PyTorch's default) and no
    /// padding.
    pub fn new(kernel: (usize, usize)) -> MaxPool2d {
        MaxPool2d {
            kernel,
            stride: kernel,
            padding: (0, 0),
        }
    }
}

impl Module for MaxPool2d {
    fn forward(&self, x: &Tensor) -> Tensor {
        max_pool2d(x, self.kernel, self.stride, self.padding)
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        vec![]
    }
}

/// 2-D average pooling (`torch.nn.AvgPool2d`, `count_include_pad=True`).
#[derive(Clone, Copy, Debug)]
pub struct AvgPool2d {
    /// Window size.
    pub kernel: (usize, usize),
    /// Stride.
    pub stride: (usize, usize),
    /// Padding (at most half the kernel).
    pub padding: (usize, usize),
}

impl AvgPool2d {
    /// Pooling with stride equal to the kernel and no padding.
    pub fn new(kernel: (usize, usize)) -> AvgPool2d {
        AvgPool2d {
            kernel,
            stride: kernel,
            padding: (0, 0),
        }
    }
}

impl Module for AvgPool2d {
    fn forward(&self, x: &Tensor) -> Tensor {
        avg_pool2d(x, self.kernel, self.stride, self.padding)
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        vec![]
    }
}
