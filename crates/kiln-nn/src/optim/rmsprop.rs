//! RMSprop.

use super::{commit, load_slots, save_slots, Optimizer, OptimizerState, Slots};
use kiln_core::{no_grad, Result, Tensor};

/// RMSprop (`torch.optim.RMSprop`):
///
/// ```text
/// g = grad + weight_decay * p
/// sq = alpha * sq + (1 - alpha) * g^2          (sq starts at 0)
/// centered: ga = alpha * ga + (1 - alpha) * g; avg = sqrt(sq - ga^2) + eps
/// else:     avg = sqrt(sq) + eps
/// momentum > 0: buf = momentum * buf + g / avg; p = p - lr * buf
/// else:         p = p - lr * g / avg
/// ```
#[derive(Clone, Debug)]
pub struct RmsProp {
    params: Vec<Tensor>,
    /// Learning rate.
    pub lr: f64,
    /// Smoothing constant (0.99).
    pub alpha: f64,
    /// Added to the denominator (1e-8).
    pub eps: f64,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
    /// Momentum factor (0 disables).
    pub momentum: f64,
    /// Normalise by the estimated variance instead of the second moment.
    pub centered: bool,
    square_avg: Slots,
    grad_avg: Slots,
    momentum_buffer: Slots,
}

impl RmsProp {
    /// RMSprop with PyTorch's defaults (alpha 0.99, eps 1e-8).
    pub fn new(params: Vec<Tensor>, lr: f64) -> RmsProp {
        let n = params.len();
        RmsProp {
            params,
            lr,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
            square_avg: vec![None; n],
            grad_avg: vec![None; n],
            momentum_buffer: vec![None; n],
        }
    }

    /// Sets alpha.
    pub fn alpha(mut self, alpha: f64) -> RmsProp {
        self.alpha = alpha;
        self
    }

    /// Sets eps.
    pub fn eps(mut self, eps: f64) -> RmsProp {
        self.eps = eps;
        self
    }

    /// Sets the L2 weight decay.
    pub fn weight_decay(mut self, weight_decay: f64) -> RmsProp {
        self.weight_decay = weight_decay;
        self
    }

    /// Sets the momentum.
    pub fn momentum(mut self, momentum: f64) -> RmsProp {
        self.momentum = momentum;
        self
    }

    /// Turns the centered variant on or off.
    pub fn centered(mut self, on: bool) -> RmsProp {
        self.centered = on;
        self
    }
}

impl Optimizer for RmsProp {
    fn step(&mut self) -> Result<()> {
        let a = self.alpha;
        let (updates, extra) = no_grad(|| {
            let mut updates = vec![];
            let mut extra = vec![];
            for (i, p) in self.params.iter().enumerate() {
                let Some(grad) = p.grad() else { continue };
                let mut g = grad.astype(p.dtype());
                if self.weight_decay != 0.0 {
                    g = g + p * self.weight_decay;
                }
                let sq = match &self.square_avg[i] {
                    None => g.square() * (1.0 - a),
                    Some(s) => s * a + g.square() * (1.0 - a),
                };
                self.square_avg[i] = Some(sq.clone());
                extra.push(sq.clone());
                let avg = if self.centered {
                    let ga = match &self.grad_avg[i] {
                        None => &g * (1.0 - a),
                        Some(s) => s * a + &g * (1.0 - a),
                    };
                    self.grad_avg[i] = Some(ga.clone());
                    extra.push(ga.clone());
                    (&sq - ga.square()).sqrt() + self.eps
                } else {
                    sq.sqrt() + self.eps
                };
                let new_p = if self.momentum > 0.0 {
                    let buf = match &self.momentum_buffer[i] {
                        None => &g / &avg,
                        Some(b) => b * self.momentum + &g / &avg,
                    };
                    self.momentum_buffer[i] = Some(buf.clone());
                    extra.push(buf.clone());
                    p - buf * self.lr
                } else {
                    p - (&g / &avg) * self.lr
                };
                updates.push((p.clone(), new_p));
            }
            (updates, extra)
        });
        commit(&updates, &extra)
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
        save_slots(&mut tensors, "square_avg", &self.square_avg);
        save_slots(&mut tensors, "grad_avg", &self.grad_avg);
        save_slots(&mut tensors, "momentum_buffer", &self.momentum_buffer);
        OptimizerState {
            tensors,
            scalars: vec![
                ("lr".into(), self.lr),
                ("alpha".into(), self.alpha),
                ("eps".into(), self.eps),
                ("weight_decay".into(), self.weight_decay),
                ("momentum".into(), self.momentum),
                ("centered".into(), self.centered as u8 as f64),
            ],
        }
    }

    fn load_state(&mut self, state: &OptimizerState) -> Result<()> {
        self.square_avg = load_slots(state, "square_avg", &self.params)?;
        self.grad_avg = load_slots(state, "grad_avg", &self.params)?;
        self.momentum_buffer = load_slots(state, "momentum_buffer", &self.params)?;
        let get = |n: &str, d: f64| state.scalar(n).unwrap_or(d);
        self.lr = get("lr", self.lr);
        self.alpha = get("alpha", self.alpha);
        self.eps = get("eps", self.eps);
        self.weight_decay = get("weight_decay", self.weight_decay);
        self.momentum = get("momentum", self.momentum);
        self.centered = get("centered", self.centered as u8 as f64) != 0.0;
        Ok(())
    }
}
