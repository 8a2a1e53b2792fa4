//! The [`Module`] trait: a forward function plus named parameters, and the
//! [`module!`](crate::module!) macro that implements it for a struct whose
//! fields are modules.

use kiln_core::{Error, Result, Tensor};

/// A neural-network building block: a forward function and the parameters
/// (leaf tensors that require grad) it reads.
///
/// Names are hierarchical, PyTorch style: a child's names are prefixed with
/// the field name and a dot (`fc1.weight`, `layers.0.bias`).
pub trait Module: Send + Sync {
    /// Applies the module to `x`.
    fn forward(&self, x: &Tensor) -> Tensor;

    /// The trainable parameters with their hierarchical names, in a fixed
    /// order.
    fn named_parameters(&self) -> Vec<(String, Tensor)>;

    /// Non-trainable state (e.g. batch-norm running statistics) with
    /// hierarchical names. Empty by default.
    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        vec![]
    }

    /// The trainable parameters, in the order of [`Module::named_parameters`].
    fn parameters(&self) -> Vec<Tensor> {
        self.named_parameters()
            .into_iter()
            .map(|(_, t)| t)
            .collect()
    }

    /// The total number of scalar parameters.
    fn num_parameters(&self) -> usize {
        self.named_parameters().iter().map(|(_, t)| t.numel()).sum()
    }

    /// Switches training mode on or off (Dropout and BatchNorm behave
    /// differently); containers recurse into their children. Modules whose
    /// behaviour does not depend on the mode ignore it (the default).
    fn train(&mut self, on: bool) {
        let _ = on;
    }

    /// Switches to evaluation mode (`train(false)`).
    fn eval(&mut self) {
        self.train(false);
    }

    /// Whether the module is in training mode. Modules without a mode
    /// report `true` (PyTorch's default).
    fn is_training(&self) -> bool {
        true
    }

    /// Converts every float parameter and buffer to `dtype` (PyTorch's
    /// `module.to(dtype)`). Parameters become new leaf tensors, so cast
    /// before creating the optimizer. Modules without tensors ignore it.
    fn cast(&mut self, dtype: kiln_core::DType) {
        let _ = dtype;
    }

    /// Clears the gradient of every parameter.
    fn zero_grad(&self) {
        for p in self.parameters() {
            p.zero_grad();
        }
    }
}

impl<M: Module + ?Sized> Module for Box<M> {
    fn forward(&self, x: &Tensor) -> Tensor {
        (**self).forward(x)
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        (**self).named_parameters()
    }
    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        (**self).named_buffers()
    }
    fn train(&mut self, on: bool) {
        (**self).train(on)
    }
    fn is_training(&self) -> bool {
        (**self).is_training()
    }
    fn cast(&mut self, dtype: kiln_core::DType) {
        (**self).cast(dtype)
    }
}

/// `named` with every name prefixed by `prefix.` (used by containers).
pub fn prefixed(prefix: &str, named: Vec<(String, Tensor)>) -> Vec<(String, Tensor)> {
    named
        .into_iter()
        .map(|(n, t)| (format!("{prefix}.{n}"), t))
        .collect()
}

/// Every parameter and buffer of `module` by name (PyTorch's `state_dict`).
pub fn state_dict(module: &dyn Module) -> Vec<(String, Tensor)> {
    let mut v = module.named_parameters();
    v.extend(module.named_buffers());
    v
}

/// Copies values into `module`'s parameters and buffers by name with
/// [`Tensor::assign`] (handles stay valid). Values are cast to the target's
/// dtype. With `strict`, every entry of the module must be present and
/// every given name must exist; otherwise unknown names are ignored and
/// missing ones are left as they are.
pub fn load_state_dict(
    module: &dyn Module,
    values: &[(String, Tensor)],
    strict: bool,
) -> Result<()> {
    let targets = state_dict(module);
    for (name, v) in values {
        match targets.iter().find(|(n, _)| n == name) {
            Some((_, t)) => {
                if t.shape() != v.shape() {
                    return Err(Error::Invalid(format!(
                        "load_state_dict: {name} has shape {:?}, the module expects {:?}",
                        v.shape(),
                        t.shape()
                    )));
                }
                let cast = kiln_core::no_grad(|| v.astype(t.dtype()));
                t.assign(&cast)?;
            }
            None if strict => {
                return Err(Error::Invalid(format!(
                    "load_state_dict: unexpected entry {name}"
                )))
            }
            None => {}
        }
    }
    if strict {
        for (n, _) in &targets {
            if !values.iter().any(|(m, _)| m == n) {
                return Err(Error::Invalid(format!(
                    "load_state_dict: missing entry {n}"
                )));
            }
        }
    }
    Ok(())
}

/// Implements [`Module`] for a struct whose listed fields are modules:
/// parameter and buffer names are `field.child_name`, and `train` recurses
/// into every listed field. The forward function is written inline with
/// names for `self` and the input:
///
/// ```
/// use kiln_nn::{layers::Linear, Module};
/// use kiln_core::random::Key;
///
/// struct Mlp { fc1: Linear, fc2: Linear }
/// kiln_nn::module!(Mlp { fc1, fc2 }, |this, x| {
///     this.fc2.forward(&this.fc1.forward(x).relu())
/// });
///
/// let k = Key::new(0).split(2);
/// let m = Mlp { fc1: Linear::new(4, 8, true, k[0]), fc2: Linear::new(8, 2, true, k[1]) };
/// let names: Vec<String> = m.named_parameters().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]);
/// ```
///
/// `is_training` reports `false` if any listed field is in evaluation mode.
#[macro_export]
macro_rules! module {
    ($ty:ty { $($field:ident),+ $(,)? }, |$this:ident, $x:ident| $body:expr) => {
        impl $crate::Module for $ty {
            fn forward(&self, x: &::kiln_core::Tensor) -> ::kiln_core::Tensor {
                let $this = self;
                let $x = x;
                $body
            }
            fn named_parameters(&self) -> ::std::vec::Vec<(::std::string::String, ::kiln_core::Tensor)> {
                let mut out = ::std::vec::Vec::new();
                $(
                    out.extend($crate::module::prefixed(
                        stringify!($field),
                        $crate::Module::named_parameters(&self.$field),
                    ));
                )+
                out
            }
            fn named_buffers(&self) -> ::std::vec::Vec<(::std::string::String, ::kiln_core::Tensor)> {
                let mut out = ::std::vec::Vec::new();
                $(
                    out.extend($crate::module::prefixed(
                        stringify!($field),
                        $crate::Module::named_buffers(&self.$field),
                    ));
                )+
                out
            }
            fn train(&mut self, on: bool) {
                $( $crate::Module::train(&mut self.$field, on); )+
            }
            fn cast(&mut self, dtype: ::kiln_core::DType) {
                $( $crate::Module::cast(&mut self.$field, dtype); )+
            }
            fn is_training(&self) -> bool {
                true $( && $crate::Module::is_training(&self.$field) )+
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_core::ops::creation::zeros;
    use kiln_core::DType;

    #[test]
    fn prefixed_names() {
        let named = vec![
            ("weight".to_string(), zeros(&[1], DType::F32)),
            ("0.bias".to_string(), zeros(&[1], DType::F32)),
        ];
        let got: Vec<String> = prefixed("fc", named).into_iter().map(|(n, _)| n).collect();
        assert_eq!(got, ["fc.weight", "fc.0.bias"]);
    }
}
