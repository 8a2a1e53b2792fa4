//! The PyTorch-style API: `loss.backward()` accumulating into `.grad()` of
//! the leaves that require grad, `zero_grad`, and in-place `assign` for
//! parameter updates.

use super::backprop::{backprop, Targets};
use crate::error::{Error, Result};
use crate::ops::creation::ones;
use crate::tensor::{no_grad, Tensor};

impl Tensor {
    /// Computes the gradient of this scalar with respect to every leaf that
    /// requires grad and adds it to the leaf's [`Tensor::grad`]. The graph
    /// is freed afterwards (see [`Tensor::backward_with`] to keep it).
    ///
    /// Errors if the tensor is not a float scalar or does not depend on any
    /// leaf that requires grad.
    pub fn backward(&self) -> Result<()> {
        if self.numel() != 1 {
            return Err(Error::Invalid(format!(
                "backward() needs a scalar, got shape {:?}; pass a cotangent of the same \
                 shape with backward_with(cotangent, retain_graph)",
                self.shape()
            )));
        }
        self.backward_with(&ones(self.shape(), self.dtype()), false)
    }

    /// `backward()` with an explicit cotangent of this tensor's shape (the
    /// vector in a vector-Jacobian product); `retain_graph` keeps the graph
    /// so `backward` can run through it again.
    pub fn backward_with(&self, cotangent: &Tensor, retain_graph: bool) -> Result<()> {
        if !self.dtype().is_float() {
            return Err(Error::Invalid(format!(
                "backward() needs a float tensor, got {}",
                self.dtype()
            )));
        }
        if cotangent.shape() != self.shape() {
            return Err(Error::Invalid(format!(
                "cotangent shape {:?} differs from the tensor's {:?}",
                cotangent.shape(),
                self.shape()
            )));
        }
        if !self.tracks_grad() {
            return Err(Error::Invalid(
                "backward() on a tensor that does not require grad: none of its inputs \
                 was created with requires_grad(true) (or it was computed under no_grad)"
                    .into(),
            ));
        }
        self.eval()?;
        let result = no_grad(|| {
            backprop(
                &[(self.clone(), cotangent.astype(self.dtype()))],
                Targets::GradLeaves,
            )
        })?;
        let mut updated = vec![];
        no_grad(|| {
            for leaf in &result.targets {
                if let Some(g) = result.grads.get(&leaf.id()) {
                    let total = match leaf.grad() {
                        Some(prev) => &prev + g,
                        None => g.clone(),
                    };
                    updated.push((leaf.clone(), total));
                }
            }
        });
        let values: Vec<Tensor> = updated.iter().map(|(_, g)| g.clone()).collect();
        crate::eval::evaluate(&values)?;
        for (leaf, g) in updated {
            leaf.set_grad(Some(g));
        }
        if !retain_graph {
            for t in &result.interior {
                t.release_graph();
            }
        }
        Ok(())
    }

    /// Clears the accumulated gradient.
    pub fn zero_grad(&self) {
        self.set_grad(None);
    }

    /// Replaces this tensor's data with `value`'s (evaluated now), keeping
    /// the handle and its `requires_grad` flag: the in-place update that
    /// optimizers use. Errors if shape or dtype differ.
    pub fn assign(&self, value: &Tensor) -> Result<()> {
        if value.shape() != self.shape() || value.dtype() != self.dtype() {
            return Err(Error::Invalid(format!(
                "assign: value {}{:?} does not match tensor {}{:?}",
                value.dtype(),
                value.shape(),
                self.dtype(),
                self.shape()
            )));
        }
        if crate::jit::trace::active() {
            // Under jit the assignment is an effect of every call.
            crate::jit::trace::on_assign(self, value);
            return Ok(());
        }
        let data = value.array()?;
        let mut st = self.lock_state();
        st.data = Some(data);
        st.op = None;
        Ok(())
    }
}
