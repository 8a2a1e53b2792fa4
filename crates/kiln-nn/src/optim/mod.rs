//! Optimizers ([`Sgd`], [`Adam`]/AdamW, [`RmsProp`]), learning-rate
//! schedules ([`schedule`]) and gradient clipping ([`clip_grad_norm`]).
//!
//! Every optimizer holds the parameter handles it updates, reads each one's
//! [`Tensor::grad`] (skipping parameters without a gradient), computes the
//! update under [`kiln_core::no_grad`] and writes it with
//! [`Tensor::assign`], so the model's handles stay valid. The formulas are
//! PyTorch's, step for step.
//!
//! # State lives in tensors, updated in place
//!
//! Everything that changes from step to step is a tensor created (with
//! evaluated data) when the optimizer is built and then only ever updated
//! with [`Tensor::assign`]: moment and momentum buffers (zeros of each
//! parameter's shape and dtype), a step counter per parameter (an `i64`
//! scalar) and the learning rate (an `f64` scalar that
//! [`Optimizer::set_lr`] assigns). `step()` reads no tensor value into Rust
//! (no `item`, no `to_vec`) and has no data-dependent branch: PyTorch's
//! first-step special cases are `where_` on the step counter, and bias
//! corrections `1 - beta^t` are computed from the counter in f64 tensor
//! ops and cast to the parameter's dtype once.
//!
//! This is what makes a step traceable by `jit`: the Rust code of a jitted
//! function runs once, so a step count kept in a `u64`, a buffer replaced
//! by a new handle or a learning rate read from an `f64` would be frozen at
//! trace time. Tensors that exist before the trace are read at every call,
//! and `assign` to them is replayed at every call. Two things remain
//! per-trace decisions, by design: which parameters have a gradient
//! (those without one are skipped), and the hyper-parameters other than
//! the learning rate (betas, momentum, weight decay, ...), which are Rust
//! values. Buffers that only some options need (AMSGrad's maximum,
//! RMSprop's centered average and momentum, SGD's momentum) are allocated
//! by the builder method that turns the option on, or by `load_state`;
//! turning one on by writing the public field instead allocates the buffer
//! at the next `step()`, which must then not be the first call of a jitted
//! step.
//!
//! [`Optimizer::state`] returns snapshots (new handles on the current
//! data), so later steps do not change a captured state, and `Clone` gives
//! an optimizer with its own copies of the state.

mod adam;
mod clip;
mod rmsprop;
pub mod schedule;
mod sgd;

pub use adam::{Adam, AdamW};
pub use clip::{clip_grad_norm, clip_grad_value};
pub use rmsprop::RmsProp;
pub use sgd::Sgd;

use kiln_core::array::Array;
use kiln_core::buffer::Buffer;
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
    /// Updates every parameter that has a gradient, and the optimizer's
    /// state tensors, in place. Reads no tensor value into Rust, so it can
    /// run inside a jitted function.
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

    /// Sets the learning rate (e.g. from a schedule): assigns it to the
    /// learning-rate tensor that [`Optimizer::step`] reads, so the next
    /// step uses it, jitted or not.
    fn set_lr(&mut self, lr: f64);

    /// The optimizer's state (buffers, step counts, hyper-parameters), as
    /// snapshots: later steps do not change it. Reads the state tensors.
    fn state(&self) -> OptimizerState;

    /// Restores a state returned by [`Optimizer::state`] for the same
    /// parameter list, assigning into the existing state tensors (entries
    /// absent from `state` reset to zero). Checks every entry before
    /// changing anything.
    fn load_state(&mut self, state: &OptimizerState) -> Result<()>;
}

/// A state tensor holding evaluated, contiguous zeros of `p`'s shape and
/// dtype: its own buffer (not a broadcast view), ready to be updated with
/// [`Tensor::assign`].
pub(crate) fn zeros_for(p: &Tensor) -> Tensor {
    Tensor::from_array(Array::new(
        Buffer::filled(p.dtype(), p.numel(), 0.0),
        p.shape().to_vec(),
    ))
}

/// An evaluated `i64` scalar counter starting at 0.
pub(crate) fn counter() -> Tensor {
    Tensor::scalar(0i64)
}

/// The value of a counter made by [`counter`]. Reads the tensor: for
/// `state()` and accessors, never for `step()`.
pub(crate) fn count(t: &Tensor) -> u64 {
    t.item::<i64>()
        .expect("kiln-nn: an optimizer counter is an evaluated i64 scalar") as u64
}

/// A new handle on `t`'s current data: later assigns to `t` do not change
/// it (and assigns to it do not change `t`). Used by `state()`, so a
/// snapshot stays a snapshot, and by `Clone`, so clones do not share state.
pub(crate) fn snapshot(t: &Tensor) -> Tensor {
    Tensor::from_array(
        t.array()
            .expect("kiln-nn: optimizer state tensors are always evaluated"),
    )
}

/// Snapshots of every tensor in `ts`.
pub(crate) fn snapshot_all(ts: &[Tensor]) -> Vec<Tensor> {
    ts.iter().map(snapshot).collect()
}

/// Optional per-parameter buffers (slot `i` belongs to parameter `i`),
/// allocated while an option that needs them is on (AMSGrad, centered,
/// momentum). A slot goes from `None` to `Some` once; the tensor it holds
/// is then updated in place, never replaced.
pub(crate) type Slots = Vec<Option<Tensor>>;

/// Allocates the missing buffers of `slots` (zeros shaped like `params`).
pub(crate) fn ensure_slots(slots: &mut Slots, params: &[Tensor]) {
    for (s, p) in slots.iter_mut().zip(params) {
        if s.is_none() {
            *s = Some(zeros_for(p));
        }
    }
}

/// Snapshots of optional slots.
pub(crate) fn snapshot_slots(slots: &Slots) -> Slots {
    slots.iter().map(|s| s.as_ref().map(snapshot)).collect()
}

/// The learning rate: an f64 scalar tensor that [`Optimizer::step`] reads
/// (so a jitted step sees every [`Optimizer::set_lr`]), mirrored by an
/// `f64` for [`Optimizer::lr`]. Both change only through [`Lr::set`].
#[derive(Debug)]
pub(crate) struct Lr {
    value: f64,
    tensor: Tensor,
}

impl Lr {
    pub(crate) fn new(lr: f64) -> Lr {
        Lr {
            value: lr,
            tensor: Tensor::scalar(lr),
        }
    }

    /// The current value (the mirror; no tensor read).
    pub(crate) fn get(&self) -> f64 {
        self.value
    }

    /// Assigns a new value to the tensor (in place) and the mirror.
    pub(crate) fn set(&mut self, lr: f64) {
        self.tensor
            .assign(&Tensor::scalar(lr))
            .expect("kiln-nn: the learning rate is an f64 scalar");
        self.value = lr;
    }

    /// The learning-rate tensor (f64, rank 0), for use in `step()`.
    pub(crate) fn tensor(&self) -> &Tensor {
        &self.tensor
    }
}

impl Clone for Lr {
    fn clone(&self) -> Lr {
        Lr {
            value: self.value,
            tensor: snapshot(&self.tensor),
        }
    }
}

/// Appends a snapshot of `t` as `"{i}.{name}"`.
pub(crate) fn save_entry(out: &mut Vec<(String, Tensor)>, name: &str, i: usize, t: &Tensor) {
    out.push((format!("{i}.{name}"), snapshot(t)));
}

/// The `"{i}.{name}"` entry of `state`, checked against parameter `p`'s
/// shape and cast to its dtype; `None` when absent.
pub(crate) fn load_entry(
    state: &OptimizerState,
    name: &str,
    i: usize,
    p: &Tensor,
) -> Result<Option<Tensor>> {
    let Some(t) = state.tensor(&format!("{i}.{name}")) else {
        return Ok(None);
    };
    if t.shape() != p.shape() {
        return Err(Error::Invalid(format!(
            "load_state: {i}.{name} has shape {:?}, parameter {i} has {:?}",
            t.shape(),
            p.shape()
        )));
    }
    Ok(Some(t.astype(p.dtype())))
}

/// The `"{name}"` entry of every parameter (see [`load_entry`]).
pub(crate) fn load_entries(
    state: &OptimizerState,
    name: &str,
    params: &[Tensor],
) -> Result<Vec<Option<Tensor>>> {
    params
        .iter()
        .enumerate()
        .map(|(i, p)| load_entry(state, name, i, p))
        .collect()
}

/// Evaluates every new value together, then assigns each to its target
/// (parameters and state tensors alike). Nothing is assigned before all
/// values are computed, so no value reads an already-updated tensor, and
/// graphs never chain across steps.
pub(crate) fn commit(assigns: &[(Tensor, Tensor)]) -> Result<()> {
    let values: Vec<Tensor> = assigns.iter().map(|(_, v)| v.clone()).collect();
    kiln_core::eval::evaluate(&values)?;
    for (target, v) in assigns {
        target.assign(v)?;
    }
    Ok(())
}

/// Test helpers shared by the optimizers' unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use kiln_core::Tensor;

    /// A parameter from values (f32).
    pub(crate) fn param(values: &[f32]) -> Tensor {
        Tensor::from_vec(values.to_vec(), &[values.len()])
            .unwrap()
            .requires_grad(true)
    }

    /// Gives `p` the gradient `p` (of `sum(p^2) / 2`).
    pub(crate) fn grad_is_p(p: &Tensor) {
        (p.square().sum(.., false) * 0.5).backward().unwrap();
    }

    /// The values of `t` as f64.
    pub(crate) fn vals(t: &Tensor) -> Vec<f64> {
        t.to_f64_vec().unwrap()
    }

    /// `t` holds evaluated data in a contiguous buffer of its own size (not
    /// a pending op or a broadcast view of one element).
    #[track_caller]
    pub(crate) fn assert_materialized(t: &Tensor) {
        assert!(t.is_evaluated() && t.op().is_none(), "not evaluated");
        let a = t.array().unwrap();
        assert!(a.is_contiguous(), "not contiguous");
        assert_eq!(a.buffer().len(), t.numel(), "not its own buffer");
    }

    /// `later` is the same handle as `before` (same node).
    #[track_caller]
    pub(crate) fn assert_same(before: &Tensor, later: &Tensor) {
        assert_eq!(before.id(), later.id(), "the handle was replaced");
    }
}
