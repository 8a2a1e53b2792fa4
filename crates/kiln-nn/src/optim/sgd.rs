//! Stochastic gradient descent.

use super::{
    commit, count, counter, ensure_slots, load_entries, save_entry, snapshot_all, snapshot_slots,
    zeros_for, Lr, Optimizer, OptimizerState, Slots,
};
use kiln_core::ops::elementwise::where_;
use kiln_core::{no_grad, Error, Result, Tensor};

/// SGD with optional momentum, dampening, Nesterov momentum and L2 weight
/// decay, exactly as `torch.optim.SGD`:
///
/// ```text
/// g = grad + weight_decay * p
/// if momentum != 0:
///     buf = g                                   (first step)
///     buf = momentum * buf + (1 - dampening) * g (later steps)
///     g = g + momentum * buf if nesterov else buf
/// p = p - lr * g
/// ```
///
/// State lives in tensors updated in place with [`Tensor::assign`] (see
/// [the module docs](super)), so a step can be jitted: the learning rate is
/// an f64 scalar tensor, the momentum buffer of each parameter is allocated
/// (zeros) when momentum is turned on, and a per-parameter `i64` counter of
/// momentum steps selects PyTorch's first-step rule `buf = g` with
/// `where_` instead of a Rust branch.
#[derive(Debug)]
pub struct Sgd {
    params: Vec<Tensor>,
    lr: Lr,
    /// Momentum factor (0 disables). Prefer [`Sgd::momentum`], which
    /// allocates the buffers now; set directly, they are allocated at the
    /// next step (which must then not be the first call of a jitted step).
    pub momentum: f64,
    /// Dampening of the momentum (0 by default).
    pub dampening: f64,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
    /// Nesterov momentum (needs momentum > 0 and dampening 0).
    pub nesterov: bool,
    /// Per parameter, the momentum buffer (allocated while momentum is on).
    momentum_buffer: Slots,
    /// Per parameter, the number of steps taken with momentum (`i64`
    /// scalar): 0 means the buffer holds no history yet.
    momentum_steps: Vec<Tensor>,
}

impl Sgd {
    /// Plain SGD over `params` with learning rate `lr`.
    pub fn new(params: Vec<Tensor>, lr: f64) -> Sgd {
        let n = params.len();
        Sgd {
            params,
            lr: Lr::new(lr),
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
            momentum_buffer: vec![None; n],
            momentum_steps: (0..n).map(|_| counter()).collect(),
        }
    }

    /// Sets the momentum factor (allocating the momentum buffers when it is
    /// non-zero, dropping them when it is zero).
    pub fn momentum(mut self, momentum: f64) -> Sgd {
        self.momentum = momentum;
        if momentum != 0.0 {
            ensure_slots(&mut self.momentum_buffer, &self.params);
        } else {
            self.momentum_buffer.iter_mut().for_each(|s| *s = None);
        }
        self
    }

    /// Sets the dampening.
    pub fn dampening(mut self, dampening: f64) -> Sgd {
        self.dampening = dampening;
        self
    }

    /// Sets the L2 weight decay.
    pub fn weight_decay(mut self, weight_decay: f64) -> Sgd {
        self.weight_decay = weight_decay;
        self
    }

    /// Turns Nesterov momentum on or off.
    pub fn nesterov(mut self, on: bool) -> Sgd {
        self.nesterov = on;
        self
    }
}

impl Clone for Sgd {
    /// A copy with its own state tensors (steps of one do not change the
    /// other's buffers); the parameters are shared, as before.
    fn clone(&self) -> Sgd {
        Sgd {
            params: self.params.clone(),
            lr: self.lr.clone(),
            momentum: self.momentum,
            dampening: self.dampening,
            weight_decay: self.weight_decay,
            nesterov: self.nesterov,
            momentum_buffer: snapshot_slots(&self.momentum_buffer),
            momentum_steps: snapshot_all(&self.momentum_steps),
        }
    }
}

impl Optimizer for Sgd {
    fn step(&mut self) -> Result<()> {
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(Error::Invalid(
                "SGD: Nesterov momentum requires a momentum and zero dampening".into(),
            ));
        }
        if self.momentum != 0.0 {
            ensure_slots(&mut self.momentum_buffer, &self.params);
        }
        let assigns = no_grad(|| {
            let mut assigns = vec![];
            for (i, p) in self.params.iter().enumerate() {
                let Some(grad) = p.grad() else { continue };
                let mut g = grad.astype(p.dtype());
                if self.weight_decay != 0.0 {
                    g = g + p * self.weight_decay;
                }
                if self.momentum != 0.0 {
                    let old = self.momentum_buffer[i].as_ref().expect("allocated above");
                    let steps = &self.momentum_steps[i];
                    let later = old * self.momentum + &g * (1.0 - self.dampening);
                    let buf = where_(&steps.eq(0i64), &g, later);
                    g = if self.nesterov {
                        g + &buf * self.momentum
                    } else {
                        buf.clone()
                    };
                    assigns.push((old.clone(), buf));
                    assigns.push((steps.clone(), steps + 1i64));
                }
                let new_p = p - g * self.lr.tensor().astype(p.dtype());
                assigns.push((p.clone(), new_p));
            }
            assigns
        });
        commit(&assigns)
    }

    fn params(&self) -> &[Tensor] {
        &self.params
    }

    fn lr(&self) -> f64 {
        self.lr.get()
    }

    fn set_lr(&mut self, lr: f64) {
        self.lr.set(lr);
    }

    fn state(&self) -> OptimizerState {
        let mut tensors = vec![];
        for (i, buf) in self.momentum_buffer.iter().enumerate() {
            if let Some(b) = buf {
                if count(&self.momentum_steps[i]) > 0 {
                    save_entry(&mut tensors, "momentum_buffer", i, b);
                }
            }
        }
        OptimizerState {
            tensors,
            scalars: vec![
                ("lr".into(), self.lr.get()),
                ("momentum".into(), self.momentum),
                ("dampening".into(), self.dampening),
                ("weight_decay".into(), self.weight_decay),
                ("nesterov".into(), self.nesterov as u8 as f64),
            ],
        }
    }

    fn load_state(&mut self, state: &OptimizerState) -> Result<()> {
        let bufs = load_entries(state, "momentum_buffer", &self.params)?;
        if let Some(v) = state.scalar("lr") {
            self.lr.set(v);
        }
        if let Some(v) = state.scalar("momentum") {
            self.momentum = v;
        }
        if let Some(v) = state.scalar("dampening") {
            self.dampening = v;
        }
        if let Some(v) = state.scalar("weight_decay") {
            self.weight_decay = v;
        }
        if let Some(v) = state.scalar("nesterov") {
            self.nesterov = v != 0.0;
        }
        if self.momentum != 0.0 || bufs.iter().any(Option::is_some) {
            ensure_slots(&mut self.momentum_buffer, &self.params);
        }
        let mut assigns = vec![];
        for (i, loaded) in bufs.into_iter().enumerate() {
            let steps = &self.momentum_steps[i];
            let buf = &self.momentum_buffer[i];
            match (buf, loaded) {
                (Some(b), Some(v)) => {
                    assigns.push((b.clone(), v));
                    assigns.push((steps.clone(), Tensor::scalar(1i64)));
                }
                (Some(b), None) => {
                    assigns.push((b.clone(), zeros_for(&self.params[i])));
                    assigns.push((steps.clone(), counter()));
                }
                (None, _) => assigns.push((steps.clone(), counter())),
            }
        }
        commit(&assigns)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn state_tensors_are_updated_in_place() {
        let p = param(&[1.0, -2.0]);
        let mut o = Sgd::new(vec![p.clone()], 0.1).momentum(0.9).dampening(0.5);
        let buf = o.momentum_buffer[0].clone().unwrap();
        let steps = o.momentum_steps[0].clone();
        let lr = o.lr.tensor().clone();
        assert_materialized(&buf);
        assert_eq!(vals(&buf), [0.0, 0.0]);
        for t in [&steps, &lr] {
            assert!(t.is_evaluated() && t.shape().is_empty());
        }
        grad_is_p(&p);
        o.step().unwrap();
        // First step: buf = g = p0; the handles held before see it.
        assert_eq!(vals(&buf), [1.0, -2.0]);
        assert_eq!(count(&steps), 1);
        o.zero_grad();
        grad_is_p(&p);
        o.step().unwrap();
        // buf = 0.9 * 1 + 0.5 * 0.9 = 1.35 (times p0).
        let b = vals(&buf);
        assert!((b[0] - 1.35).abs() < 1e-6 && (b[1] + 2.7).abs() < 1e-6);
        assert_eq!(count(&steps), 2);
        o.set_lr(0.25);
        assert_eq!(lr.item::<f64>().unwrap(), 0.25);
        assert_same(&buf, o.momentum_buffer[0].as_ref().unwrap());
        assert_same(&steps, &o.momentum_steps[0]);
        assert_same(&lr, o.lr.tensor());
        // Loading assigns into the same tensors.
        let fresh = Sgd::new(vec![p.clone()], 0.5).momentum(0.9);
        o.load_state(&fresh.state()).unwrap();
        assert_eq!(vals(&buf), [0.0, 0.0]);
        assert_eq!(count(&steps), 0);
        assert_eq!(lr.item::<f64>().unwrap(), 0.5);
        assert_same(&buf, o.momentum_buffer[0].as_ref().unwrap());
    }

    #[test]
    fn momentum_set_through_the_field_allocates_at_the_next_step() {
        let p = param(&[1.0]);
        let mut o = Sgd::new(vec![p.clone()], 0.1);
        assert!(o.momentum_buffer[0].is_none());
        o.momentum = 0.9;
        grad_is_p(&p);
        o.step().unwrap();
        assert_eq!(vals(o.momentum_buffer[0].as_ref().unwrap()), [1.0]);
    }
}
