//! Optimizers ([`Sgd`], [`Adam`]/AdamW, [`RmsProp`]), learning-rate
//! schedules ([`schedule`]) and gradient clipping ([`clip_grad_norm`]).
//!
//! Every optimizer holds the parameter handles it updates, reads each one's
//! [`Tensor::grad`] (skipping parameters without a gradient), computes the
//! update under [`kiln_core::no_grad`] and writes it with
//! [`Tensor::assign`], so the model's handles stay valid. The formulas are
//! PyTorch's, step for step.

mod adam;
mod clip;
mod rmsprop;
pub mod schedule;
mod sgd;

pub use adam::{Adam, AdamW};
pub use clip::{clip_grad_norm, clip_grad_value};
pub use rmsprop::RmsProp;
pub use sgd::Sgd;

use kiln_core::{Error, Result, Tensor};

/// An optimizer's state as named tensors and scalars, for checkpoints.
///
/// Per-parameter entries are named `"{index}.{name}"` (index into the
/// optimizer's parameter list), e.g. `"0.exp_avg"`; hyper-parameters and
/// counters are scalars (`"lr"`, `"0.step"`).
#[derive(Clone, Debug, Default)]
pub struct OptimizerState {
    /// Named state tensors (momentum buffers, moment estimates).
    pub tensors: Vec<(String, Tensor)>,
    /// Named scalars (learning rate, hyper-parameters, step counts).
    pub scalars: Vec<(String, f64)>,
}

impl OptimizerState {
    /// The tensor named `name`, if any.
    pub fn tensor(&self, name: &str) -> Option<&Tensor> {
        self.tensors.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    /// The scalar named `name`, if any.
    pub fn scalar(&self, name: &str) -> Option<f64> {
        self.scalars
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }
}

/// A gradient-based optimizer over a fixed list of parameters.
pub trait Optimizer {
    /// Updates every parameter that has a gradient, in place.
    fn step(&mut self) -> Result<()>;

    /// The parameters being optimised.
    fn params(&self) -> &[Tensor];

    /// Clears the gradients of all parameters.
    fn zero_grad(&self) {
        for p in self.params() {
            p.zero_grad();
        }
    }

    /// The current learning rate.
    fn lr(&self) -> f64;

    /// Sets the learning rate (e.g. from a schedule).
    fn set_lr(&mut self, lr: f64);

    /// The optimizer's state (buffers, step counts, hyper-parameters).
    fn state(&self) -> OptimizerState;

    /// Restores a state returned by [`Optimizer::state`] for the same
    /// parameter list.
    fn load_state(&mut self, state: &OptimizerState) -> Result<()>;
}

/// Per-parameter tensor buffers: slot `i` belongs to parameter `i`.
pub(crate) type Slots = Vec<Option<Tensor>>;

/// Appends `slots` as `"{i}.{name}"` entries.
pub(crate) fn save_slots(out: &mut Vec<(String, Tensor)>, name: &str, slots: &Slots) {
    for (i, s) in slots.iter().enumerate() {
        if let Some(t) = s {
            out.push((format!("{i}.{name}"), t.clone()));
        }
    }
}

/// Reads `"{i}.{name}"` entries back into slots shaped like `params`.
pub(crate) fn load_slots(state: &OptimizerState, name: &str, params: &[Tensor]) -> Result<Slots> {
    let mut slots = vec![None; params.len()];
    for (i, p) in params.iter().enumerate() {
        if let Some(t) = state.tensor(&format!("{i}.{name}")) {
            if t.shape() != p.shape() {
                return Err(Error::Invalid(format!(
                    "load_state: {i}.{name} has shape {:?}, parameter {i} has {:?}",
                    t.shape(),
                    p.shape()
                )));
            }
            slots[i] = Some(t.astype(p.dtype()));
        }
    }
    Ok(slots)
}

/// Evaluates new values and assigns parameter updates: `updates` pairs a
/// parameter with its new value; `extra` are state tensors to compute now
/// (so graphs never chain across steps).
pub(crate) fn commit(updates: &[(Tensor, Tensor)], extra: &[Tensor]) -> Result<()> {
    let mut all: Vec<Tensor> = updates.iter().map(|(_, v)| v.clone()).collect();
    all.extend(extra.iter().cloned());
    kiln_core::eval::evaluate(&all)?;
    for (p, v) in updates {
        p.assign(v)?;
    }
    Ok(())
}
