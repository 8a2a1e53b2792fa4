//! Stochastic gradient descent.

use super::{commit, load_slots, save_slots, Optimizer, OptimizerState, Slots};
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
#[derive(Clone, Debug)]
pub struct Sgd {
    params: Vec<Tensor>,
    /// Learning rate.
    pub lr: f64,
    /// Momentum factor (0 disables).
    pub momentum: f64,
    /// Dampening of the momentum (0 by default).
    pub dampening: f64,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
    /// Nesterov momentum (needs momentum > 0 and dampening 0).
    pub nesterov: bool,
    momentum_buffer: Slots,
}

impl Sgd {
    /// Plain SGD over `params` with learning rate `lr`.
    pub fn new(params: Vec<Tensor>, lr: f64) -> Sgd {
        let n = params.len();
        Sgd {
            params,
            lr,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
            momentum_buffer: vec![None; n],
        }
    }

    /// Sets the momentum factor.
    pub fn momentum(mut self, momentum: f64) -> Sgd {
        self.momentum = momentum;
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

impl Optimizer for Sgd {
    fn step(&mut self) -> Result<()> {
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(Error::Invalid(
                "SGD: Nesterov momentum requires a momentum and zero dampening".into(),
            ));
        }
        let (updates, bufs) = no_grad(|| {
            let mut updates = vec![];
            let mut bufs = vec![];
            for (i, p) in self.params.iter().enumerate() {
                let Some(grad) = p.grad() else { continue };
                let mut g = grad.astype(p.dtype());
                if self.weight_decay != 0.0 {
                    g = g + p * self.weight_decay;
                }
                if self.momentum != 0.0 {
                    let buf = match &self.momentum_buffer[i] {
                        None => g.clone(),
                        Some(b) => b * self.momentum + &g * (1.0 - self.dampening),
                    };
                    g = if self.nesterov {
                        g + &buf * self.momentum
                    } else {
                        buf.clone()
                    };
                    self.momentum_buffer[i] = Some(buf.clone());
                    bufs.push(buf);
                }
                updates.push((p.clone(), p - g * self.lr));
            }
            (updates, bufs)
        });
        commit(&updates, &bufs)
    }

    fn params(&self) -> &[Tensor] {
        &self.params
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    fn state(&self) -> OptimizerState {
        let mut tensors = vec![];
        save_slots(&mut tensors, "momentum_buffer", &self.momentum_buffer);
        OptimizerState {
            tensors,
            scalars: vec![
                ("lr".into(), self.lr),
                ("momentum".into(), self.momentum),
                ("dampening".into(), self.dampening),
                ("weight_decay".into(), self.weight_decay),
                ("nesterov".into(), self.nesterov as u8 as f64),
            ],
        }
    }

    fn load_state(&mut self, state: &OptimizerState) -> Result<()> {
        self.momentum_buffer = load_slots(state, "momentum_buffer", &self.params)?;
        if let Some(v) = state.scalar("lr") {
            self.lr = v;
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
        Ok(())
    }
}
