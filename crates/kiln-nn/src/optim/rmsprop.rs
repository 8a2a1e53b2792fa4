//! RMSprop.

use super::{
    commit, count, counter, ensure_slots, load_entries, save_entry, snapshot_all, snapshot_slots,
    zeros_for, Lr, Optimizer, OptimizerState, Slots,
};
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
///
/// State lives in tensors updated in place with [`Tensor::assign`] (see
/// [the module docs](super)), so a step can be jitted: `sq` is zeros of
/// each parameter's shape and dtype from construction, `ga` and `buf` are
/// allocated (zeros, as in PyTorch) when the centered variant or momentum
/// is turned on, a per-parameter `i64` counter records whether the
/// parameter has stepped (for [`Optimizer::state`]), and the learning rate
/// is an f64 scalar tensor.
#[derive(Debug)]
pub struct RmsProp {
    params: Vec<Tensor>,
    lr: Lr,
    /// Smoothing constant (0.99).
    pub alpha: f64,
    /// Added to the denominator (1e-8).
    pub eps: f64,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
    /// Momentum factor (0 disables). Prefer [`RmsProp::momentum`], which
    /// allocates the buffers now; set directly, they are allocated at the
    /// next step (which must then not be the first call of a jitted step).
    pub momentum: f64,
    /// Normalise by the estimated variance instead of the second moment.
    /// Prefer [`RmsProp::centered`] (see `momentum` on why).
    pub centered: bool,
    square_avg: Vec<Tensor>,
    /// Allocated while `centered` is on.
    grad_avg: Slots,
    /// Allocated while `momentum > 0`.
    momentum_buffer: Slots,
    /// Per parameter, the steps taken (`i64` scalar). Not saved (PyTorch's
    /// RMSprop keeps one, Kiln's checkpoints never had it): after
    /// `load_state` it is 1 for parameters with a saved `square_avg`.
    steps: Vec<Tensor>,
}

impl RmsProp {
    /// RMSprop with PyTorch's defaults (alpha 0.99, eps 1e-8).
    pub fn new(params: Vec<Tensor>, lr: f64) -> RmsProp {
        let n = params.len();
        RmsProp {
            lr: Lr::new(lr),
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
            square_avg: params.iter().map(zeros_for).collect(),
            grad_avg: vec![None; n],
            momentum_buffer: vec![None; n],
            steps: (0..n).map(|_| counter()).collect(),
            params,
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

    /// Sets the momentum (allocating the momentum buffers when it is
    /// positive).
    pub fn momentum(mut self, momentum: f64) -> RmsProp {
        self.momentum = momentum;
        if momentum > 0.0 {
            ensure_slots(&mut self.momentum_buffer, &self.params);
        } else {
            self.momentum_buffer.iter_mut().for_each(|s| *s = None);
        }
        self
    }

    /// Turns the centered variant on (allocating its buffers) or off.
    pub fn centered(mut self, on: bool) -> RmsProp {
        self.centered = on;
        if on {
            ensure_slots(&mut self.grad_avg, &self.params);
        } else {
            self.grad_avg.iter_mut().for_each(|s| *s = None);
        }
        self
    }
}

impl Clone for RmsProp {
    /// A copy with its own state tensors; the parameters are shared, as
    /// before.
    fn clone(&self) -> RmsProp {
        RmsProp {
            params: self.params.clone(),
            lr: self.lr.clone(),
            alpha: self.alpha,
            eps: self.eps,
            weight_decay: self.weight_decay,
            momentum: self.momentum,
            centered: self.centered,
            square_avg: snapshot_all(&self.square_avg),
            grad_avg: snapshot_slots(&self.grad_avg),
            momentum_buffer: snapshot_slots(&self.momentum_buffer),
            steps: snapshot_all(&self.steps),
        }
    }
}

impl Optimizer for RmsProp {
    fn step(&mut self) -> Result<()> {
        if self.centered {
            ensure_slots(&mut self.grad_avg, &self.params);
        }
        if self.momentum > 0.0 {
            ensure_slots(&mut self.momentum_buffer, &self.params);
        }
        let a = self.alpha;
        let assigns = no_grad(|| {
            let mut assigns = vec![];
            for (i, p) in self.params.iter().enumerate() {
                let Some(grad) = p.grad() else { continue };
                let lr = self.lr.tensor().astype(p.dtype());
                let mut g = grad.astype(p.dtype());
                if self.weight_decay != 0.0 {
                    g = g + p * self.weight_decay;
                }
                let sq_old = &self.square_avg[i];
                let sq = sq_old * a + g.square() * (1.0 - a);
                let avg = if self.centered {
                    let ga_old = self.grad_avg[i].as_ref().expect("allocated above");
                    let ga = ga_old * a + &g * (1.0 - a);
                    let avg = (&sq - ga.square()).sqrt() + self.eps;
                    assigns.push((ga_old.clone(), ga));
                    avg
                } else {
                    sq.sqrt() + self.eps
                };
                let new_p = if self.momentum > 0.0 {
                    let buf_old = self.momentum_buffer[i].as_ref().expect("allocated above");
                    let buf = buf_old * self.momentum + &g / &avg;
                    let new_p = p - &buf * lr;
                    assigns.push((buf_old.clone(), buf));
                    new_p
                } else {
                    p - (&g / &avg) * lr
                };
                assigns.push((sq_old.clone(), sq));
                assigns.push((self.steps[i].clone(), &self.steps[i] + 1i64));
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
        // Buffers appear once a parameter has taken a step (as when they
        // were created lazily).
        let stepped: Vec<bool> = self.steps.iter().map(|s| count(s) > 0).collect();
        let mut tensors = vec![];
        for (i, b) in self.square_avg.iter().enumerate() {
            if stepped[i] {
                save_entry(&mut tensors, "square_avg", i, b);
            }
        }
        for (name, slots) in [
            ("grad_avg", &self.grad_avg),
            ("momentum_buffer", &self.momentum_buffer),
        ] {
            for (i, b) in slots.iter().enumerate() {
                if let (Some(b), true) = (b, stepped[i]) {
                    save_entry(&mut tensors, name, i, b);
                }
            }
        }
        OptimizerState {
            tensors,
            scalars: vec![
                ("lr".into(), self.lr.get()),
                ("alpha".into(), self.alpha),
                ("eps".into(), self.eps),
                ("weight_decay".into(), self.weight_decay),
                ("momentum".into(), self.momentum),
                ("centered".into(), self.centered as u8 as f64),
            ],
        }
    }

    fn load_state(&mut self, state: &OptimizerState) -> Result<()> {
        let square_avg = load_entries(state, "square_avg", &self.params)?;
        let grad_avg = load_entries(state, "grad_avg", &self.params)?;
        let momentum_buffer = load_entries(state, "momentum_buffer", &self.params)?;
        let get = |n: &str, d: f64| state.scalar(n).unwrap_or(d);
        self.lr.set(get("lr", self.lr.get()));
        self.alpha = get("alpha", self.alpha);
        self.eps = get("eps", self.eps);
        self.weight_decay = get("weight_decay", self.weight_decay);
        self.momentum = get("momentum", self.momentum);
        self.centered = get("centered", self.centered as u8 as f64) != 0.0;
        if self.centered || grad_avg.iter().any(Option::is_some) {
            ensure_slots(&mut self.grad_avg, &self.params);
        }
        if self.momentum > 0.0 || momentum_buffer.iter().any(Option::is_some) {
            ensure_slots(&mut self.momentum_buffer, &self.params);
        }
        let mut assigns = vec![];
        for (i, p) in self.params.iter().enumerate() {
            let value = |loaded: &Option<Tensor>| loaded.clone().unwrap_or_else(|| zeros_for(p));
            assigns.push((self.square_avg[i].clone(), value(&square_avg[i])));
            if let Some(b) = &self.grad_avg[i] {
                assigns.push((b.clone(), value(&grad_avg[i])));
            }
            if let Some(b) = &self.momentum_buffer[i] {
                assigns.push((b.clone(), value(&momentum_buffer[i])));
            }
            let stepped = square_avg[i].is_some() as i64;
            assigns.push((self.steps[i].clone(), Tensor::scalar(stepped)));
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
        let mut o = RmsProp::new(vec![p.clone()], 0.01)
            .centered(true)
            .momentum(0.5);
        let sq = o.square_avg[0].clone();
        let ga = o.grad_avg[0].clone().unwrap();
        let buf = o.momentum_buffer[0].clone().unwrap();
        let steps = o.steps[0].clone();
        let lr = o.lr.tensor().clone();
        for t in [&sq, &ga, &buf] {
            assert_materialized(t);
            assert_eq!(vals(t), [0.0, 0.0]);
        }
        grad_is_p(&p);
        o.step().unwrap();
        // sq = 0.01 g^2, ga = 0.01 g, buf = g / sqrt(sq - ga^2).
        let close = |got: Vec<f64>, want: [f64; 2], tol: f64| {
            assert!(
                got.iter().zip(want).all(|(g, w)| (g - w).abs() <= tol),
                "{got:?} vs {want:?}"
            )
        };
        close(vals(&sq), [0.01, 0.04], 1e-8);
        close(vals(&ga), [0.01, -0.02], 1e-8);
        let b = 1.0 / (0.01f64 - 0.0001).sqrt();
        close(vals(&buf), [b, -b], 1e-4);
        assert_eq!(count(&steps), 1);
        o.set_lr(0.5);
        assert_eq!(lr.item::<f64>().unwrap(), 0.5);
        assert_same(&sq, &o.square_avg[0]);
        assert_same(&ga, o.grad_avg[0].as_ref().unwrap());
        assert_same(&buf, o.momentum_buffer[0].as_ref().unwrap());
        assert_same(&steps, &o.steps[0]);
        assert_same(&lr, o.lr.tensor());
        // A fresh state resets the same tensors.
        let fresh = RmsProp::new(vec![p.clone()], 0.01);
        o.load_state(&fresh.state()).unwrap();
        assert_eq!(vals(&sq), [0.0, 0.0]);
        assert_eq!(vals(&buf), [0.0, 0.0]);
        assert_eq!(count(&steps), 0);
        assert!(o.state().tensors.is_empty());
    }
}
