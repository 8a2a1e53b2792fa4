//! Adam and AdamW.

use super::{
    commit, count, counter, ensure_slots, load_entries, save_entry, snapshot_all, snapshot_slots,
    zeros_for, Lr, Optimizer, OptimizerState, Slots,
};
use kiln_core::{no_grad, DType, Result, Tensor};

/// Adam (`torch.optim.Adam`) or, with decoupled weight decay, AdamW
/// (`torch.optim.AdamW`). Per parameter, with `t` its step count:
///
/// ```text
/// AdamW: p = p * (1 - lr * weight_decay)
/// Adam:  g = grad + weight_decay * p
/// m = b1 * m + (1 - b1) * g
/// v = b2 * v + (1 - b2) * g^2
/// (amsgrad: vmax = max(vmax, v), used instead of v)
/// p = p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
/// ```
///
/// State lives in tensors updated in place with [`Tensor::assign`] (see
/// [the module docs](super)), so a step can be jitted: `m` and `v` are
/// zeros of each parameter's shape and dtype from construction (PyTorch
/// zero-initialises them too, so the first step is the same), AMSGrad's
/// `vmax` is allocated when AMSGrad is turned on, `t` is an `i64` scalar
/// per parameter, the bias corrections are computed from it in f64 tensor
/// ops, and the learning rate is an f64 scalar tensor.
#[derive(Debug)]
pub struct Adam {
    params: Vec<Tensor>,
    lr: Lr,
    /// Decay rates of the first and second moment estimates.
    pub betas: (f64, f64),
    /// Added to the denominator (outside the square root).
    pub eps: f64,
    /// Weight decay: an L2 term in the gradient (Adam) or decoupled
    /// `lr * weight_decay * p` shrinkage (AdamW).
    pub weight_decay: f64,
    /// Whether weight decay is decoupled (AdamW).
    pub decoupled_weight_decay: bool,
    /// Keep the running maximum of the second moment (AMSGrad). Prefer
    /// [`Adam::amsgrad`], which allocates the buffers now; set directly,
    /// they are allocated at the next step (which must then not be the
    /// first call of a jitted step).
    pub amsgrad: bool,
    /// Per parameter, its step count `t` (`i64` scalar).
    steps: Vec<Tensor>,
    exp_avg: Vec<Tensor>,
    exp_avg_sq: Vec<Tensor>,
    /// Allocated while AMSGrad is on.
    max_exp_avg_sq: Slots,
}

impl Adam {
    /// Adam with PyTorch's defaults: betas (0.9, 0.999), eps 1e-8, no
    /// weight decay.
    pub fn new(params: Vec<Tensor>, lr: f64) -> Adam {
        let n = params.len();
        Adam {
            lr: Lr::new(lr),
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled_weight_decay: false,
            amsgrad: false,
            steps: (0..n).map(|_| counter()).collect(),
            exp_avg: params.iter().map(zeros_for).collect(),
            exp_avg_sq: params.iter().map(zeros_for).collect(),
            max_exp_avg_sq: vec![None; n],
            params,
        }
    }

    /// AdamW with PyTorch's defaults: betas (0.9, 0.999), eps 1e-8,
    /// decoupled weight decay 0.01.
    pub fn adamw(params: Vec<Tensor>, lr: f64) -> Adam {
        let mut a = Adam::new(params, lr);
        a.decoupled_weight_decay = true;
        a.weight_decay = 0.01;
        a
    }

    /// Sets the betas.
    pub fn betas(mut self, b1: f64, b2: f64) -> Adam {
        self.betas = (b1, b2);
        self
    }

    /// Sets eps.
    pub fn eps(mut self, eps: f64) -> Adam {
        self.eps = eps;
        self
    }

    /// Sets the weight decay (its kind is kept: L2 for Adam, decoupled for
    /// AdamW).
    pub fn weight_decay(mut self, weight_decay: f64) -> Adam {
        self.weight_decay = weight_decay;
        self
    }

    /// Turns AMSGrad on (allocating its buffers) or off.
    pub fn amsgrad(mut self, on: bool) -> Adam {
        self.amsgrad = on;
        if on {
            ensure_slots(&mut self.max_exp_avg_sq, &self.params);
        } else {
            self.max_exp_avg_sq.iter_mut().for_each(|s| *s = None);
        }
        self
    }

    /// The step count of parameter `i` (reads its counter tensor).
    pub fn step_count(&self, i: usize) -> u64 {
        count(&self.steps[i])
    }
}

impl Clone for Adam {
    /// A copy with its own state tensors (steps of one do not change the
    /// other's moments); the parameters are shared, as before.
    fn clone(&self) -> Adam {
        Adam {
            params: self.params.clone(),
            lr: self.lr.clone(),
            betas: self.betas,
            eps: self.eps,
            weight_decay: self.weight_decay,
            decoupled_weight_decay: self.decoupled_weight_decay,
            amsgrad: self.amsgrad,
            steps: snapshot_all(&self.steps),
            exp_avg: snapshot_all(&self.exp_avg),
            exp_avg_sq: snapshot_all(&self.exp_avg_sq),
            max_exp_avg_sq: snapshot_slots(&self.max_exp_avg_sq),
        }
    }
}

/// The constructor of AdamW: `AdamW::new(params, lr)` is
/// [`Adam::adamw`] (an [`Adam`] with decoupled weight decay 0.01).
#[derive(Clone, Copy, Debug)]
pub struct AdamW;

impl AdamW {
    /// AdamW with PyTorch's defaults (see [`Adam::adamw`]).
    #[allow(clippy::new_ret_no_self)]
    pub fn new(params: Vec<Tensor>, lr: f64) -> Adam {
        Adam::adamw(params, lr)
    }
}

impl Optimizer for Adam {
    fn step(&mut self) -> Result<()> {
        if self.amsgrad {
            ensure_slots(&mut self.max_exp_avg_sq, &self.params);
        }
        let (b1, b2) = self.betas;
        let assigns = no_grad(|| {
            let mut assigns = vec![];
            let lr = self.lr.tensor();
            for (i, p) in self.params.iter().enumerate() {
                let Some(grad) = p.grad() else { continue };
                let dtype = p.dtype();
                let mut g = grad.astype(dtype);
                let step = &self.steps[i] + 1i64;
                // Bias corrections in f64, from the step tensor.
                let t = step.astype(DType::F64);
                let bc1 = 1.0 - Tensor::scalar(b1).pow(&t);
                let bc2 = 1.0 - Tensor::scalar(b2).pow(&t);
                let mut param = p.clone();
                if self.weight_decay != 0.0 {
                    if self.decoupled_weight_decay {
                        param = param * (1.0 - lr * self.weight_decay).astype(dtype);
                    } else {
                        g = g + p * self.weight_decay;
                    }
                }
                let (m_old, v_old) = (&self.exp_avg[i], &self.exp_avg_sq[i]);
                let m = m_old * b1 + &g * (1.0 - b1);
                let v = v_old * b2 + g.square() * (1.0 - b2);
                let v_used = if self.amsgrad {
                    let prev = self.max_exp_avg_sq[i].as_ref().expect("allocated above");
                    let vmax = prev.maximum(&v);
                    assigns.push((prev.clone(), vmax.clone()));
                    vmax
                } else {
                    v.clone()
                };
                let denom = v_used.sqrt() / bc2.sqrt().astype(dtype) + self.eps;
                let new_p = param - (&m / denom) * (lr / bc1).astype(dtype);
                assigns.push((m_old.clone(), m));
                assigns.push((v_old.clone(), v));
                assigns.push((self.steps[i].clone(), step));
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
        // Moments appear once a parameter has taken a step (as in PyTorch,
        // and as when they were created lazily); step counts for all.
        let steps: Vec<u64> = self.steps.iter().map(count).collect();
        let mut tensors = vec![];
        for (name, bufs) in [("exp_avg", &self.exp_avg), ("exp_avg_sq", &self.exp_avg_sq)] {
            for (i, b) in bufs.iter().enumerate() {
                if steps[i] > 0 {
                    save_entry(&mut tensors, name, i, b);
                }
            }
        }
        for (i, b) in self.max_exp_avg_sq.iter().enumerate() {
            if let (Some(b), true) = (b, steps[i] > 0) {
                save_entry(&mut tensors, "max_exp_avg_sq", i, b);
            }
        }
        let mut scalars = vec![
            ("lr".to_string(), self.lr.get()),
            ("beta1".to_string(), self.betas.0),
            ("beta2".to_string(), self.betas.1),
            ("eps".to_string(), self.eps),
            ("weight_decay".to_string(), self.weight_decay),
            (
                "decoupled_weight_decay".to_string(),
                self.decoupled_weight_decay as u8 as f64,
            ),
            ("amsgrad".to_string(), self.amsgrad as u8 as f64),
        ];
        for (i, s) in steps.iter().enumerate() {
            scalars.push((format!("{i}.step"), *s as f64));
        }
        OptimizerState { tensors, scalars }
    }

    fn load_state(&mut self, state: &OptimizerState) -> Result<()> {
        let exp_avg = load_entries(state, "exp_avg", &self.params)?;
        let exp_avg_sq = load_entries(state, "exp_avg_sq", &self.params)?;
        let max_exp_avg_sq = load_entries(state, "max_exp_avg_sq", &self.params)?;
        let get = |n: &str, d: f64| state.scalar(n).unwrap_or(d);
        self.lr.set(get("lr", self.lr.get()));
        self.betas = (get("beta1", self.betas.0), get("beta2", self.betas.1));
        self.eps = get("eps", self.eps);
        self.weight_decay = get("weight_decay", self.weight_decay);
        self.decoupled_weight_decay = get(
            "decoupled_weight_decay",
            self.decoupled_weight_decay as u8 as f64,
        ) != 0.0;
        self.amsgrad = get("amsgrad", self.amsgrad as u8 as f64) != 0.0;
        if self.amsgrad || max_exp_avg_sq.iter().any(Option::is_some) {
            ensure_slots(&mut self.max_exp_avg_sq, &self.params);
        }
        let mut assigns = vec![];
        for (i, p) in self.params.iter().enumerate() {
            let value = |loaded: &Option<Tensor>| loaded.clone().unwrap_or_else(|| zeros_for(p));
            assigns.push((self.exp_avg[i].clone(), value(&exp_avg[i])));
            assigns.push((self.exp_avg_sq[i].clone(), value(&exp_avg_sq[i])));
            if let Some(b) = &self.max_exp_avg_sq[i] {
                assigns.push((b.clone(), value(&max_exp_avg_sq[i])));
            }
            let step = get(&format!("{i}.step"), 0.0) as i64;
            assigns.push((self.steps[i].clone(), Tensor::scalar(step)));
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
        let mut o = Adam::new(vec![p.clone()], 0.1).amsgrad(true);
        let m = o.exp_avg[0].clone();
        let v = o.exp_avg_sq[0].clone();
        let vmax = o.max_exp_avg_sq[0].clone().unwrap();
        let step = o.steps[0].clone();
        let lr = o.lr.tensor().clone();
        for t in [&m, &v, &vmax] {
            assert_materialized(t);
            assert_eq!(t.dtype(), DType::F32);
            assert_eq!(vals(t), [0.0, 0.0]);
        }
        assert_eq!((step.dtype(), lr.dtype()), (DType::I64, DType::F64));
        grad_is_p(&p);
        o.step().unwrap();
        // m = 0.1 g, v = vmax = 0.001 g^2 with g = p0.
        let close = |got: Vec<f64>, want: [f64; 2]| {
            assert!(
                got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-7),
                "{got:?} vs {want:?}"
            )
        };
        close(vals(&m), [0.1, -0.2]);
        close(vals(&v), [0.001, 0.004]);
        close(vals(&vmax), [0.001, 0.004]);
        assert_eq!(count(&step), 1);
        o.set_lr(0.01);
        assert_eq!(lr.item::<f64>().unwrap(), 0.01);
        assert_same(&m, &o.exp_avg[0]);
        assert_same(&v, &o.exp_avg_sq[0]);
        assert_same(&vmax, o.max_exp_avg_sq[0].as_ref().unwrap());
        assert_same(&step, &o.steps[0]);
        assert_same(&lr, o.lr.tensor());
        // Loading assigns into the same tensors.
        let saved = o.state();
        o.zero_grad();
        grad_is_p(&p);
        o.step().unwrap();
        assert_eq!(count(&step), 2);
        o.load_state(&saved).unwrap();
        assert_eq!(count(&step), 1);
        close(vals(&m), [0.1, -0.2]);
        assert_same(&m, &o.exp_avg[0]);
    }

    #[test]
    fn amsgrad_buffers_follow_the_builder() {
        let p = param(&[1.0]);
        let o = Adam::new(vec![p.clone()], 0.1);
        assert!(o.max_exp_avg_sq[0].is_none());
        let o = o.amsgrad(true);
        assert!(o.max_exp_avg_sq[0].is_some());
        let o = o.amsgrad(false);
        assert!(o.max_exp_avg_sq[0].is_none());
    }
}
