//! Adam and AdamW.

use super::{commit, load_slots, save_slots, Optimizer, OptimizerState, Slots};
use kiln_core::{no_grad, Result, Tensor};

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
#[derive(Clone, Debug)]
pub struct Adam {
    params: Vec<Tensor>,
    /// Learning rate.
    pub lr: f64,
    /// Decay rates of the first and second moment estimates.
    pub betas: (f64, f64),
    /// Added to the denominator (outside the square root).
    pub eps: f64,
    /// Weight decay: an L2 term in the gradient (Adam) or decoupled
    /// `lr * weight_decay * p` shrinkage (AdamW).
    pub weight_decay: f64,
    /// Whether weight decay is decoupled (AdamW).
    pub decoupled_weight_decay: bool,
    /// Keep the running maximum of the second moment (AMSGrad).
    pub amsgrad: bool,
    steps: Vec<u64>,
    exp_avg: Slots,
    exp_avg_sq: Slots,
    max_exp_avg_sq: Slots,
}

impl Adam {
    /// Adam with PyTorch's defaults: betas (0.9, 0.999), eps 1e-8, no
    /// weight decay.
    pub fn new(params: Vec<Tensor>, lr: f64) -> Adam {
        let n = params.len();
        Adam {
            params,
            lr,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled_weight_decay: false,
            amsgrad: false,
            steps: vec![0; n],
            exp_avg: vec![None; n],
            exp_avg_sq: vec![None; n],
            max_exp_avg_sq: vec![None; n],
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

    /// Turns AMSGrad on or off.
    pub fn amsgrad(mut self, on: bool) -> Adam {
        self.amsgrad = on;
        self
    }

    /// The step count of parameter `i`.
    pub fn step_count(&self, i: usize) -> u64 {
        self.steps[i]
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
        let (b1, b2) = self.betas;
        let (updates, extra) = no_grad(|| {
            let mut updates = vec![];
            let mut extra = vec![];
            for (i, p) in self.params.iter().enumerate() {
                let Some(grad) = p.grad() else { continue };
                let mut g = grad.astype(p.dtype());
                self.steps[i] += 1;
                let t = self.steps[i] as i32;
                let mut param = p.clone();
                if self.weight_decay != 0.0 {
                    if self.decoupled_weight_decay {
                        param = param * (1.0 - self.lr * self.weight_decay);
                    } else {
                        g = g + p * self.weight_decay;
                    }
                }
                let m = match &self.exp_avg[i] {
                    None => &g * (1.0 - b1),
                    Some(m) => m * b1 + &g * (1.0 - b1),
                };
                let v = match &self.exp_avg_sq[i] {
                    None => g.square() * (1.0 - b2),
                    Some(v) => v * b2 + g.square() * (1.0 - b2),
                };
                let bc1 = 1.0 - b1.powi(t);
                let bc2 = 1.0 - b2.powi(t);
                let v_used = if self.amsgrad {
                    let vmax = match &self.max_exp_avg_sq[i] {
                        None => v.clone(),
                        Some(prev) => prev.maximum(&v),
                    };
                    self.max_exp_avg_sq[i] = Some(vmax.clone());
                    extra.push(vmax.clone());
                    vmax
                } else {
                    v.clone()
                };
                let denom = v_used.sqrt() / bc2.sqrt() + self.eps;
                let new_p = param - (&m / denom) * (self.lr / bc1);
                self.exp_avg[i] = Some(m.clone());
                self.exp_avg_sq[i] = Some(v.clone());
                extra.push(m);
                extra.push(v);
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
        save_slots(&mut tensors, "exp_avg", &self.exp_avg);
        save_slots(&mut tensors, "exp_avg_sq", &self.exp_avg_sq);
        save_slots(&mut tensors, "max_exp_avg_sq", &self.max_exp_avg_sq);
        let mut scalars = vec![
            ("lr".to_string(), self.lr),
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
        for (i, s) in self.steps.iter().enumerate() {
            scalars.push((format!("{i}.step"), *s as f64));
        }
        OptimizerState { tensors, scalars }
    }

    fn load_state(&mut self, state: &OptimizerState) -> Result<()> {
        self.exp_avg = load_slots(state, "exp_avg", &self.params)?;
        self.exp_avg_sq = load_slots(state, "exp_avg_sq", &self.params)?;
        self.max_exp_avg_sq = load_slots(state, "max_exp_avg_sq", &self.params)?;
        for i in 0..self.params.len() {
            self.steps[i] = state.scalar(&format!("{i}.step")).unwrap_or(0.0) as u64;
        }
        let get = |n: &str, d: f64| state.scalar(n).unwrap_or(d);
        self.lr = get("lr", self.lr);
        self.betas = (get("beta1", self.betas.0), get("beta2", self.betas.1));
        self.eps = get("eps", self.eps);
        self.weight_decay = get("weight_decay", self.weight_decay);
        self.decoupled_weight_decay = get(
            "decoupled_weight_decay",
            self.decoupled_weight_decay as u8 as f64,
        ) != 0.0;
        self.amsgrad = get("amsgrad", self.amsgrad as u8 as f64) != 0.0;
        Ok(())
    }
}
