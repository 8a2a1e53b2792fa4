//! Learning-rate schedules as pure functions of the step (or epoch):
//! `schedule.lr_at(step)` gives the learning rate to use at that step; set
//! it with [`super::Optimizer::set_lr`]. The formulas are the closed forms
//! of PyTorch's `torch.optim.lr_scheduler` classes.

use std::f64::consts::PI;

/// A learning rate as a function of the step.
pub trait LrSchedule: Send + Sync {
    /// The learning rate at `step` (0-based).
    fn lr_at(&self, step: usize) -> f64;
}

impl<F: Fn(usize) -> f64 + Send + Sync> LrSchedule for F {
    fn lr_at(&self, step: usize) -> f64 {
        self(step)
    }
}

/// A constant learning rate.
#[derive(Clone, Copy, Debug)]
pub struct Constant {
    /// The learning rate.
    pub lr: f64,
}

impl LrSchedule for Constant {
    fn lr_at(&self, _step: usize) -> f64 {
        self.lr
    }
}

/// `base_lr * gamma^(step / step_size)` (`StepLR`).
#[derive(Clone, Copy, Debug)]
pub struct StepLr {
    /// The initial learning rate.
    pub base_lr: f64,
    /// Steps between decays.
    pub step_size: usize,
    /// Multiplicative decay.
    pub gamma: f64,
}

impl LrSchedule for StepLr {
    fn lr_at(&self, step: usize) -> f64 {
        self.base_lr * self.gamma.powi((step / self.step_size.max(1)) as i32)
    }
}

/// `base_lr * gamma^(number of milestones <= step)` (`MultiStepLR`).
#[derive(Clone, Debug)]
pub struct MultiStepLr {
    /// The initial learning rate.
    pub base_lr: f64,
    /// Steps at which the rate is multiplied by `gamma`.
    pub milestones: Vec<usize>,
    /// Multiplicative decay.
    pub gamma: f64,
}

impl LrSchedule for MultiStepLr {
    fn lr_at(&self, step: usize) -> f64 {
        let k = self.milestones.iter().filter(|&&m| m <= step).count();
        self.base_lr * self.gamma.powi(k as i32)
    }
}

/// `base_lr * gamma^step` (`ExponentialLR`).
#[derive(Clone, Copy, Debug)]
pub struct ExponentialLr {
    /// The initial learning rate.
    pub base_lr: f64,
    /// Decay per step.
    pub gamma: f64,
}

impl LrSchedule for ExponentialLr {
    fn lr_at(&self, step: usize) -> f64 {
        self.base_lr * self.gamma.powi(step as i32)
    }
}

/// Cosine annealing from `base_lr` to `eta_min` over `t_max` steps
/// (`CosineAnnealingLR`'s closed form):
/// `eta_min + (base_lr - eta_min) * (1 + cos(pi * step / t_max)) / 2`.
/// After `t_max` steps the rate stays at `eta_min` (PyTorch's closed form
/// would rise again).
#[derive(Clone, Copy, Debug)]
pub struct CosineAnnealing {
    /// The initial learning rate.
    pub base_lr: f64,
    /// Length of the half cosine, in steps.
    pub t_max: usize,
    /// The final learning rate.
    pub eta_min: f64,
}

impl LrSchedule for CosineAnnealing {
    fn lr_at(&self, step: usize) -> f64 {
        let t = step.min(self.t_max) as f64;
        let tm = self.t_max.max(1) as f64;
        self.eta_min + (self.base_lr - self.eta_min) * (1.0 + (PI * t / tm).cos()) / 2.0
    }
}

/// Linear warm-up (`LinearLR`): the factor goes linearly from
/// `start_factor` to `end_factor` over `total_steps` steps, then stays;
/// the rate is `base_lr * factor`.
#[derive(Clone, Copy, Debug)]
pub struct LinearWarmup {
    /// The learning rate reached at the end.
    pub base_lr: f64,
    /// Factor at step 0 (PyTorch's default 1/3).
    pub start_factor: f64,
    /// Factor from `total_steps` on (1.0).
    pub end_factor: f64,
    /// Number of warm-up steps.
    pub total_steps: usize,
}

impl LinearWarmup {
    /// Warm-up from `start_factor * base_lr` to `base_lr` over
    /// `total_steps` steps.
    pub fn new(base_lr: f64, start_factor: f64, total_steps: usize) -> LinearWarmup {
        LinearWarmup {
            base_lr,
            start_factor,
            end_factor: 1.0,
            total_steps,
        }
    }
}

impl LrSchedule for LinearWarmup {
    fn lr_at(&self, step: usize) -> f64 {
        let frac = if self.total_steps == 0 {
            1.0
        } else {
            step.min(self.total_steps) as f64 / self.total_steps as f64
        };
        self.base_lr * (self.start_factor + (self.end_factor - self.start_factor) * frac)
    }
}

/// Schedules run one after another (`SequentialLR`): schedule `i + 1`
/// takes over at `milestones[i]` and sees steps counted from there.
pub struct Sequential {
    schedules: Vec<Box<dyn LrSchedule>>,
    milestones: Vec<usize>,
}

impl Sequential {
    /// Chains `schedules`; `milestones` (increasing) has one entry fewer.
    pub fn new(schedules: Vec<Box<dyn LrSchedule>>, milestones: Vec<usize>) -> Sequential {
        assert!(
            !schedules.is_empty() && milestones.len() + 1 == schedules.len(),
            "kiln-nn: schedule::Sequential needs one milestone fewer than schedules"
        );
        assert!(
            milestones.windows(2).all(|w| w[0] <= w[1]),
            "kiln-nn: schedule::Sequential milestones must increase"
        );
        Sequential {
            schedules,
            milestones,
        }
    }

    /// The common linear warm-up then cosine decay to `eta_min`, over
    /// `total_steps` steps of which the first `warmup_steps` warm up from
    /// `start_factor * base_lr`.
    pub fn warmup_cosine(
        base_lr: f64,
        start_factor: f64,
        warmup_steps: usize,
        total_steps: usize,
        eta_min: f64,
    ) -> Sequential {
        Sequential::new(
            vec![
                Box::new(LinearWarmup::new(base_lr, start_factor, warmup_steps)),
                Box::new(CosineAnnealing {
                    base_lr,
                    t_max: total_steps.saturating_sub(warmup_steps),
                    eta_min,
                }),
            ],
            vec![warmup_steps],
        )
    }
}

impl LrSchedule for Sequential {
    fn lr_at(&self, step: usize) -> f64 {
        let i = self.milestones.iter().filter(|&&m| m <= step).count();
        let start = if i == 0 { 0 } else { self.milestones[i - 1] };
        self.schedules[i].lr_at(step - start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_counts_steps_from_each_milestone() {
        let s = Sequential::new(
            vec![
                Box::new(Constant { lr: 1.0 }),
                Box::new(StepLr {
                    base_lr: 0.5,
                    step_size: 2,
                    gamma: 0.1,
                }),
                Box::new(|step: usize| step as f64),
            ],
            vec![3, 7],
        );
        let got: Vec<f64> = (0..9).map(|i| s.lr_at(i)).collect();
        let want = [1.0, 1.0, 1.0, 0.5, 0.5, 0.05, 0.05, 0.0, 1.0];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{got:?}");
        }
    }

    #[test]
    fn exponential_and_zero_length_warmup() {
        let e = ExponentialLr {
            base_lr: 2.0,
            gamma: 0.5,
        };
        assert_eq!(e.lr_at(3), 0.25);
        assert_eq!(LinearWarmup::new(0.1, 0.0, 0).lr_at(0), 0.1);
    }
}
