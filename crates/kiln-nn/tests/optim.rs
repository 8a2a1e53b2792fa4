//! Optimizers against hand computations and PyTorch's formulas written out.

mod common;
use common::*;
use kiln_core::Tensor;
use kiln_nn::optim::schedule::*;
use kiln_nn::optim::*;

/// Sets grad = p (the gradient of sum(p^2)/2) through backward().
fn backward_half_square(p: &Tensor) {
    (p.square().sum(.., false) * 0.5).backward().unwrap();
}

fn run(opt: &mut dyn Optimizer, p: &Tensor, steps: usize) -> Vec<f64> {
    for _ in 0..steps {
        opt.zero_grad();
        backward_half_square(p);
        opt.step().unwrap();
    }
    vals(p)
}

#[test]
fn sgd_one_step_by_hand() {
    let p = param(&[1.0, 2.0], &[2]);
    let mut opt = Sgd::new(vec![p.clone()], 0.1);
    (p.square().sum(.., false)).backward().unwrap(); // grad = 2p
    opt.step().unwrap();
    assert_close(&vals(&p), &[0.8, 1.6], 1e-6);
    assert!(p.is_grad_leaf(), "the handle stays a parameter");
}

#[test]
fn sgd_momentum_nesterov_weight_decay_two_steps() {
    // grad = p; lr 0.1.
    // momentum 0.9: p1 = 1 - 0.1*1 = 0.9; buf2 = 0.9*1 + 0.9 = 1.8; p2 = 0.72.
    let p = param(&[1.0], &[1]);
    let mut o = Sgd::new(vec![p.clone()], 0.1).momentum(0.9);
    assert_close(&run(&mut o, &p, 2), &[0.72], 1e-6);
    // nesterov: g1' = 1 + 0.9*1 = 1.9, p1 = 0.81; g2 = 0.81, buf2 = 1.71,
    // g2' = 0.81 + 0.9*1.71 = 2.349, p2 = 0.5751.
    let p = param(&[1.0], &[1]);
    let mut o = Sgd::new(vec![p.clone()], 0.1).momentum(0.9).nesterov(true);
    assert_close(&run(&mut o, &p, 2), &[0.5751], 1e-6);
    // weight decay 0.1 (no momentum): g = 1.1p, p <- 0.89p twice.
    let p = param(&[1.0], &[1]);
    let mut o = Sgd::new(vec![p.clone()], 0.1).weight_decay(0.1);
    assert_close(&run(&mut o, &p, 2), &[0.7921], 1e-6);
    // Everything together with dampening, against the formulas.
    let p = param(&[1.0, -3.0], &[2]);
    let (lr, mu, damp, wd) = (0.05, 0.8, 0.3, 0.01);
    let mut o = Sgd::new(vec![p.clone()], lr)
        .momentum(mu)
        .dampening(damp)
        .weight_decay(wd);
    let got = run(&mut o, &p, 3);
    let mut want = vec![];
    for &p0 in &[1.0f64, -3.0] {
        let (mut x, mut buf) = (p0, None::<f64>);
        for _ in 0..3 {
            let g = x + wd * x;
            let b = match buf {
                None => g,
                Some(b) => mu * b + (1.0 - damp) * g,
            };
            buf = Some(b);
            x -= lr * b;
        }
        want.push(x);
    }
    assert_close(&got, &want, 1e-6);
    assert!(Sgd::new(vec![p.clone()], 0.1)
        .nesterov(true)
        .step()
        .is_err());
}

/// PyTorch's Adam/AdamW for grad = p, written out in f64.
fn adam_ref(p0: f64, lr: f64, wd: f64, decoupled: bool, amsgrad: bool, steps: usize) -> f64 {
    let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
    let (mut p, mut m, mut v, mut vmax) = (p0, 0.0, 0.0, 0.0f64);
    for t in 1..=steps {
        let mut g = p;
        if decoupled {
            p *= 1.0 - lr * wd;
        } else {
            g += wd * p;
        }
        m = b1 * m + (1.0 - b1) * g;
        v = b2 * v + (1.0 - b2) * g * g;
        let bc1 = 1.0 - b1.powi(t as i32);
        let bc2 = 1.0 - b2.powi(t as i32);
        let vv = if amsgrad {
            vmax = vmax.max(v);
            vmax
        } else {
            v
        };
        p -= lr / bc1 * m / (vv.sqrt() / bc2.sqrt() + eps);
    }
    p
}

#[test]
fn adam_and_adamw_one_step_by_hand() {
    // First Adam step moves each parameter by lr * sign(grad).
    let p = param(&[1.0, -2.0], &[2]);
    let mut o = Adam::new(vec![p.clone()], 0.1);
    assert_close(&run(&mut o, &p, 1), &[0.9, -1.9], 1e-6);
    // AdamW: p*(1 - lr*wd) - lr*sign(g) = [0.99 - 0.1, -1.98 + 0.1].
    let p = param(&[1.0, -2.0], &[2]);
    let mut o = AdamW::new(vec![p.clone()], 0.1).weight_decay(0.1);
    assert_close(&run(&mut o, &p, 1), &[0.89, -1.88], 1e-6);
}

#[test]
fn adam_variants_follow_pytorch_formulas() {
    for &(wd, decoupled, ams) in &[
        (0.0, false, false),
        (0.1, false, false),
        (0.1, true, false),
        (0.05, true, true),
    ] {
        let p = param(&[1.0, -2.0, 0.5], &[3]);
        let mut o = Adam::new(vec![p.clone()], 0.05)
            .weight_decay(wd)
            .amsgrad(ams);
        o.decoupled_weight_decay = decoupled;
        let got = run(&mut o, &p, 5);
        let want: Vec<f64> = [1.0, -2.0, 0.5]
            .iter()
            .map(|&x| adam_ref(x, 0.05, wd, decoupled, ams, 5))
            .collect();
        assert_close(&got, &want, 1e-5);
        assert_eq!(o.step_count(0), 5);
    }
}

#[test]
fn rmsprop_follows_pytorch_formulas() {
    let (lr, alpha, eps, mu) = (0.01, 0.99, 1e-8, 0.5);
    for &centered in &[false, true] {
        let p = param(&[1.0, -2.0], &[2]);
        let mut o = RmsProp::new(vec![p.clone()], lr)
            .momentum(mu)
            .centered(centered);
        let got = run(&mut o, &p, 3);
        let want: Vec<f64> = [1.0f64, -2.0]
            .iter()
            .map(|&p0| {
                let (mut x, mut sq, mut ga, mut buf) = (p0, 0.0, 0.0, 0.0);
                for _ in 0..3 {
                    let g = x;
                    sq = alpha * sq + (1.0 - alpha) * g * g;
                    let avg = if centered {
                        ga = alpha * ga + (1.0 - alpha) * g;
                        (sq - ga * ga).sqrt() + eps
                    } else {
                        sq.sqrt() + eps
                    };
                    buf = mu * buf + g / avg;
                    x -= lr * buf;
                }
                x
            })
            .collect();
        assert_close(&got, &want, 1e-5);
    }
}

#[test]
fn params_without_grad_are_skipped() {
    let a = param(&[1.0], &[1]);
    let b = param(&[5.0], &[1]);
    let mut o = Adam::new(vec![a.clone(), b.clone()], 0.1);
    backward_half_square(&a);
    o.step().unwrap();
    assert_eq!(vals(&b), vec![5.0]);
    assert_eq!(o.step_count(1), 0);
    assert_close(&vals(&a), &[0.9], 1e-6);
}

#[test]
fn optimizer_state_round_trip() {
    let a = param(&[1.0, -2.0], &[2]);
    let b = param(&[1.0, -2.0], &[2]);
    let mut oa = Adam::new(vec![a.clone()], 0.05);
    run(&mut oa, &a, 3);
    let st = oa.state();
    assert!(st.tensor("0.exp_avg").is_some());
    assert_eq!(st.scalar("0.step"), Some(3.0));
    b.assign(&a).unwrap();
    let mut ob = Adam::new(vec![b.clone()], 1.0);
    ob.load_state(&st).unwrap();
    assert_eq!(ob.lr(), 0.05);
    run(&mut oa, &a, 2);
    run(&mut ob, &b, 2);
    assert_close(&vals(&b), &vals(&a), 1e-7);

    let mut s1 = Sgd::new(vec![a.clone()], 0.1).momentum(0.9);
    run(&mut s1, &a, 1);
    let mut s2 = Sgd::new(vec![b.clone()], 0.1);
    s2.load_state(&s1.state()).unwrap();
    assert_eq!(s2.momentum, 0.9);
    assert!(s2.state().tensor("0.momentum_buffer").is_some());
    s2.set_lr(0.3);
    assert_eq!(s2.lr(), 0.3);
}

#[test]
fn clip_grad_norm_scales() {
    let a = param(&[3.0], &[1]);
    let b = param(&[4.0], &[1]);
    a.set_grad(Some(t(&[3.0], &[1])));
    b.set_grad(Some(t(&[4.0], &[1])));
    let n = clip_grad_norm(&[a.clone(), b.clone()], 1.0).unwrap();
    assert_close(&[n.item_f64().unwrap()], &[5.0], 1e-9);
    assert_close(&vals(&a.grad().unwrap()), &[0.6], 1e-5);
    assert_close(&vals(&b.grad().unwrap()), &[0.8], 1e-5);
    // Below the threshold nothing changes.
    let n = clip_grad_norm(&[a.clone(), b.clone()], 10.0).unwrap();
    assert_close(&[n.item_f64().unwrap()], &[1.0], 1e-5);
    assert_close(&vals(&a.grad().unwrap()), &[0.6], 1e-5);
    clip_grad_value(std::slice::from_ref(&b), 0.5).unwrap();
    assert_close(&vals(&b.grad().unwrap()), &[0.5], 1e-6);
}

#[test]
fn schedules() {
    let s = StepLr {
        base_lr: 1.0,
        step_size: 10,
        gamma: 0.5,
    };
    assert_eq!(
        [s.lr_at(0), s.lr_at(9), s.lr_at(10), s.lr_at(25)],
        [1.0, 1.0, 0.5, 0.25]
    );
    let c = CosineAnnealing {
        base_lr: 1.0,
        t_max: 10,
        eta_min: 0.0,
    };
    assert_close(
        &[c.lr_at(0), c.lr_at(5), c.lr_at(10), c.lr_at(20)],
        &[1.0, 0.5, 0.0, 0.0],
        1e-12,
    );
    let w = LinearWarmup::new(1.0, 0.1, 10);
    assert_close(
        &[w.lr_at(0), w.lr_at(5), w.lr_at(10), w.lr_at(50)],
        &[0.1, 0.55, 1.0, 1.0],
        1e-12,
    );
    let seq = Sequential::warmup_cosine(1.0, 0.0, 4, 14, 0.1);
    assert_close(
        &[
            seq.lr_at(0),
            seq.lr_at(2),
            seq.lr_at(4),
            seq.lr_at(9),
            seq.lr_at(14),
        ],
        &[0.0, 0.5, 1.0, 0.55, 0.1],
        1e-12,
    );
    let m = MultiStepLr {
        base_lr: 1.0,
        milestones: vec![2, 5],
        gamma: 0.1,
    };
    assert_close(
        &[m.lr_at(1), m.lr_at(2), m.lr_at(5)],
        &[1.0, 0.1, 0.01],
        1e-12,
    );
    let f = |step: usize| 1.0 / (step + 1) as f64;
    assert_eq!(f.lr_at(3), 0.25);
    let mut opt = Sgd::new(vec![], 1.0);
    opt.set_lr(seq.lr_at(2));
    assert_eq!(opt.lr(), 0.5);
}

// ---------------------------------------------------------------------------
// State in tensors (what a jitted step needs): learning-rate changes, first
// steps, skipped parameters, snapshots, clones and reloads.
// ---------------------------------------------------------------------------

#[test]
fn set_lr_is_used_by_the_next_step() {
    // SGD, grad = p: p <- p * (1 - lr).
    let p = param(&[1.0, -2.0], &[2]);
    let mut o = Sgd::new(vec![p.clone()], 0.1);
    run(&mut o, &p, 1);
    assert_close(&vals(&p), &[0.9, -1.8], 1e-6);
    o.set_lr(0.5);
    assert_eq!(o.lr(), 0.5);
    run(&mut o, &p, 1);
    assert_close(&vals(&p), &[0.45, -0.9], 1e-6);
    o.set_lr(0.0);
    run(&mut o, &p, 1);
    assert_close(&vals(&p), &[0.45, -0.9], 1e-7);

    // Adam: the first step moves by lr * sign(grad); with lr 0 the step
    // count and moments advance but the parameter stays.
    let p = param(&[1.0, -2.0], &[2]);
    let mut o = Adam::new(vec![p.clone()], 1.0);
    o.set_lr(0.25);
    run(&mut o, &p, 1);
    assert_close(&vals(&p), &[0.75, -1.75], 1e-6);
    o.set_lr(0.0);
    run(&mut o, &p, 2);
    assert_close(&vals(&p), &[0.75, -1.75], 1e-7);
    assert_eq!(o.step_count(0), 3);
    assert_eq!(o.state().scalar("lr"), Some(0.0));

    // RMSprop: the first step moves by lr * g / sqrt((1 - alpha) g^2).
    let p = param(&[1.0, -2.0], &[2]);
    let mut o = RmsProp::new(vec![p.clone()], 1.0);
    o.set_lr(0.01);
    run(&mut o, &p, 1);
    assert_close(&vals(&p), &[0.9, -1.9], 1e-5);
}

#[test]
fn sgd_momentum_dampening_three_steps_by_hand() {
    // grad = p, lr 0.1, momentum 0.9, dampening 0.5. Everything is linear
    // in p0, so for p0 = 1:
    //   step 1: g = 1,     buf = g = 1 (PyTorch's first step: no damping)
    //           p = 1 - 0.1 * 1 = 0.9
    //   step 2: g = 0.9,   buf = 0.9 * 1 + 0.5 * 0.9 = 1.35
    //           p = 0.9 - 0.135 = 0.765
    //   step 3: g = 0.765, buf = 0.9 * 1.35 + 0.5 * 0.765 = 1.5975
    //           p = 0.765 - 0.15975 = 0.60525
    let p = param(&[1.0, -2.0], &[2]);
    let mut o = Sgd::new(vec![p.clone()], 0.1).momentum(0.9).dampening(0.5);
    let got = run(&mut o, &p, 3);
    assert_close(&got, &[0.60525, -1.2105], 1e-6);
    let buf = o.state().tensor("0.momentum_buffer").unwrap().clone();
    assert_close(&vals(&buf), &[1.5975, -3.195], 1e-6);

    // The same with f64 loops over PyTorch's formula.
    let want: Vec<f64> = [1.0f64, -2.0]
        .iter()
        .map(|&p0| {
            let (mut x, mut b) = (p0, 0.0);
            for t in 0..3 {
                let g = x;
                b = if t == 0 { g } else { 0.9 * b + 0.5 * g };
                x -= 0.1 * b;
            }
            x
        })
        .collect();
    assert_close(&got, &want, 1e-6);

    // The first-step rule is per parameter: `b` has no gradient at step 1,
    // so its first momentum step is step 2 (buf = g, not 0.5 * g).
    let a = param(&[1.0], &[1]);
    let b = param(&[1.0], &[1]);
    let mut o = Sgd::new(vec![a.clone(), b.clone()], 0.1)
        .momentum(0.9)
        .dampening(0.5);
    backward_half_square(&a);
    o.step().unwrap();
    assert!(o.state().tensor("1.momentum_buffer").is_none());
    o.zero_grad();
    backward_half_square(&a);
    backward_half_square(&b);
    o.step().unwrap();
    assert_close(&vals(&a), &[0.765], 1e-6);
    assert_close(&vals(&b), &[0.9], 1e-6);
    assert_close(
        &vals(o.state().tensor("1.momentum_buffer").unwrap()),
        &[1.0],
        1e-7,
    );
}

/// An optimizer configuration, with PyTorch's update written out in f64.
#[derive(Clone, Copy, Debug)]
enum Config {
    Sgd {
        momentum: f64,
        dampening: f64,
        weight_decay: f64,
        nesterov: bool,
    },
    Adam {
        betas: (f64, f64),
        eps: f64,
        weight_decay: f64,
        decoupled: bool,
        amsgrad: bool,
    },
    RmsProp {
        alpha: f64,
        eps: f64,
        weight_decay: f64,
        momentum: f64,
        centered: bool,
    },
}

impl Config {
    fn build(self, params: Vec<Tensor>) -> Box<dyn Optimizer> {
        match self {
            Config::Sgd {
                momentum,
                dampening,
                weight_decay,
                nesterov,
            } => Box::new(
                Sgd::new(params, 1.0)
                    .momentum(momentum)
                    .dampening(dampening)
                    .weight_decay(weight_decay)
                    .nesterov(nesterov),
            ),
            Config::Adam {
                betas,
                eps,
                weight_decay,
                decoupled,
                amsgrad,
            } => {
                let o = if decoupled {
                    AdamW::new(params, 1.0)
                } else {
                    Adam::new(params, 1.0)
                };
                Box::new(
                    o.betas(betas.0, betas.1)
                        .eps(eps)
                        .weight_decay(weight_decay)
                        .amsgrad(amsgrad),
                )
            }
            Config::RmsProp {
                alpha,
                eps,
                weight_decay,
                momentum,
                centered,
            } => Box::new(
                RmsProp::new(params, 1.0)
                    .alpha(alpha)
                    .eps(eps)
                    .weight_decay(weight_decay)
                    .momentum(momentum)
                    .centered(centered),
            ),
        }
    }

    /// One element's final value: `grads[s]` is its gradient at step `s`
    /// (`None`: the parameter has no gradient and is skipped), `lrs[s]` the
    /// learning rate of step `s`.
    fn reference(self, p0: f64, grads: &[Option<f64>], lrs: &[f64]) -> f64 {
        let mut p = p0;
        // Per-element state: step count, two buffers, a running maximum.
        let (mut t, mut s1, mut s2, mut s3) = (0i32, 0.0f64, 0.0f64, 0.0f64);
        for (g, &lr) in grads.iter().zip(lrs) {
            let Some(mut g) = *g else { continue };
            t += 1;
            match self {
                Config::Sgd {
                    momentum,
                    dampening,
                    weight_decay,
                    nesterov,
                } => {
                    g += weight_decay * p;
                    if momentum != 0.0 {
                        s1 = if t == 1 {
                            g
                        } else {
                            momentum * s1 + (1.0 - dampening) * g
                        };
                        g = if nesterov { g + momentum * s1 } else { s1 };
                    }
                    p -= lr * g;
                }
                Config::Adam {
                    betas: (b1, b2),
                    eps,
                    weight_decay,
                    decoupled,
                    amsgrad,
                } => {
                    if decoupled {
                        p *= 1.0 - lr * weight_decay;
                    } else {
                        g += weight_decay * p;
                    }
                    s1 = b1 * s1 + (1.0 - b1) * g;
                    s2 = b2 * s2 + (1.0 - b2) * g * g;
                    let bc1 = 1.0 - b1.powi(t);
                    let bc2 = 1.0 - b2.powi(t);
                    s3 = s3.max(s2);
                    let v = if amsgrad { s3 } else { s2 };
                    p -= lr / bc1 * s1 / (v.sqrt() / bc2.sqrt() + eps);
                }
                Config::RmsProp {
                    alpha,
                    eps,
                    weight_decay,
                    momentum,
                    centered,
                } => {
                    g += weight_decay * p;
                    s1 = alpha * s1 + (1.0 - alpha) * g * g;
                    let avg = if centered {
                        s2 = alpha * s2 + (1.0 - alpha) * g;
                        (s1 - s2 * s2).sqrt() + eps
                    } else {
                        s1.sqrt() + eps
                    };
                    if momentum > 0.0 {
                        s3 = momentum * s3 + g / avg;
                        p -= lr * s3;
                    } else {
                        p -= lr * g / avg;
                    }
                }
            }
        }
        p
    }
}

fn configs() -> Vec<Config> {
    let sgd = |momentum, dampening, weight_decay, nesterov| Config::Sgd {
        momentum,
        dampening,
        weight_decay,
        nesterov,
    };
    let adam = |betas, eps, weight_decay, decoupled, amsgrad| Config::Adam {
        betas,
        eps,
        weight_decay,
        decoupled,
        amsgrad,
    };
    let rms = |alpha, eps, weight_decay, momentum, centered| Config::RmsProp {
        alpha,
        eps,
        weight_decay,
        momentum,
        centered,
    };
    vec![
        sgd(0.0, 0.0, 0.1, false),
        sgd(0.9, 0.5, 0.01, false),
        sgd(0.8, 0.0, 0.02, true),
        adam((0.9, 0.999), 1e-8, 0.0, false, false),
        adam((0.8, 0.95), 1e-8, 0.1, false, false),
        adam((0.9, 0.999), 1e-6, 0.0, false, true),
        adam((0.9, 0.999), 1e-8, 0.2, true, false),
        adam((0.85, 0.99), 1e-8, 0.05, true, true),
        rms(0.99, 1e-8, 0.0, 0.0, false),
        rms(0.9, 1e-8, 0.05, 0.5, true),
        rms(0.99, 1e-8, 0.0, 0.3, false),
        rms(0.95, 1e-8, 0.0, 0.0, true),
    ]
}

/// The gradient of element `i` of parameter `j` at step `s`; parameter 1
/// has none at steps 1 and 4.
fn grad_value(s: usize, j: usize, i: usize) -> Option<f64> {
    if j == 1 && (s == 1 || s == 4) {
        return None;
    }
    Some(((i as f64 + 1.0) * 0.37 + s as f64 * 1.13 + j as f64 * 0.5).sin() * (1.0 + i as f64))
}

#[test]
fn optimizers_match_pytorch_formulas_over_steps_with_lr_changes_and_skips() {
    use kiln_core::ops::creation::from_f64;
    use kiln_core::DType;
    let init: [&[f64]; 2] = [&[0.5, -1.25, 2.0, 0.0, -0.3], &[1.5, -0.75, 0.1]];
    let lrs = [0.05, 0.05, 0.02, 0.02, 0.1, 0.01, 0.03];
    for (dtype, tol) in [(DType::F32, 2e-5), (DType::F64, 1e-12)] {
        for cfg in configs() {
            let ps: Vec<Tensor> = init
                .iter()
                .map(|v| from_f64(v, &[v.len()], dtype).unwrap().requires_grad(true))
                .collect();
            let mut o = cfg.build(ps.clone());
            // The gradients as the optimizer sees them (rounded to dtype).
            let mut seen: Vec<Vec<Vec<Option<f64>>>> = vec![vec![]; 2];
            for (s, &lr) in lrs.iter().enumerate() {
                o.set_lr(lr);
                for (j, p) in ps.iter().enumerate() {
                    let g: Option<Vec<f64>> = (0..p.numel()).map(|i| grad_value(s, j, i)).collect();
                    let g = g.map(|g| from_f64(&g, p.shape(), dtype).unwrap());
                    seen[j].push(match &g {
                        Some(g) => vals(g).into_iter().map(Some).collect(),
                        None => vec![None; p.numel()],
                    });
                    p.set_grad(g);
                }
                o.step().unwrap();
            }
            for (j, p) in ps.iter().enumerate() {
                let want: Vec<f64> = (0..p.numel())
                    .map(|i| {
                        let grads: Vec<Option<f64>> = seen[j].iter().map(|g| g[i]).collect();
                        cfg.reference(
                            vals(&from_f64(init[j], &[init[j].len()], dtype).unwrap())[i],
                            &grads,
                            &lrs,
                        )
                    })
                    .collect();
                let got = vals(p);
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (g - w).abs() <= tol * (1.0 + w.abs()),
                        "{dtype} {cfg:?} param {j} element {i}: got {g}, want {w}"
                    );
                }
            }
            assert_eq!(o.lr(), 0.03);
            if let Config::Adam { .. } = cfg {
                let st = o.state();
                assert_eq!(st.scalar("0.step"), Some(lrs.len() as f64));
                assert_eq!(st.scalar("1.step"), Some(lrs.len() as f64 - 2.0));
            }
        }
    }
}

#[test]
fn state_entries_appear_once_a_parameter_has_stepped() {
    let stepped_names = |o: &dyn Optimizer| -> Vec<String> {
        o.state().tensors.iter().map(|(n, _)| n.clone()).collect()
    };
    let mk = || (param(&[1.0], &[1]), param(&[2.0], &[1]));

    let (a, b) = mk();
    let mut o = Adam::new(vec![a.clone(), b.clone()], 0.1).amsgrad(true);
    assert!(stepped_names(&o).is_empty());
    assert_eq!(o.state().scalar("0.step"), Some(0.0));
    backward_half_square(&a);
    o.step().unwrap();
    assert_eq!(
        stepped_names(&o),
        ["0.exp_avg", "0.exp_avg_sq", "0.max_exp_avg_sq"]
    );
    assert_eq!(o.state().scalar("0.step"), Some(1.0));
    assert_eq!(o.state().scalar("1.step"), Some(0.0));
    let o = Adam::new(vec![a.clone()], 0.1);
    assert!(stepped_names(&o).is_empty());

    let (a, b) = mk();
    let mut o = RmsProp::new(vec![a.clone(), b.clone()], 0.1)
        .centered(true)
        .momentum(0.5);
    assert!(stepped_names(&o).is_empty());
    backward_half_square(&b);
    o.step().unwrap();
    assert_eq!(
        stepped_names(&o),
        ["1.square_avg", "1.grad_avg", "1.momentum_buffer"]
    );

    let (a, b) = mk();
    let mut o = Sgd::new(vec![a.clone(), b.clone()], 0.1).momentum(0.9);
    assert!(stepped_names(&o).is_empty());
    backward_half_square(&a);
    o.step().unwrap();
    assert_eq!(stepped_names(&o), ["0.momentum_buffer"]);
    // Plain SGD has no buffers at all.
    let mut o = Sgd::new(vec![a.clone()], 0.1);
    o.step().unwrap();
    assert!(stepped_names(&o).is_empty());
}

#[test]
fn state_is_a_snapshot_and_clones_are_independent() {
    let p = param(&[1.0, -2.0], &[2]);
    let mut o = Adam::new(vec![p.clone()], 0.05);
    run(&mut o, &p, 2);
    let st = o.state();
    let m_before = vals(st.tensor("0.exp_avg").unwrap());
    let mut c = o.clone();
    run(&mut o, &p, 1);
    assert_eq!(vals(st.tensor("0.exp_avg").unwrap()), m_before);
    assert_ne!(vals(o.state().tensor("0.exp_avg").unwrap()), m_before);
    // The clone kept its own moments and step count.
    assert_eq!(c.step_count(0), 2);
    assert_eq!(vals(c.state().tensor("0.exp_avg").unwrap()), m_before);
    c.set_lr(1.0);
    assert_eq!(o.lr(), 0.05);
    assert_eq!(o.step_count(0), 3);
}

#[test]
fn load_state_restores_or_resets_in_place() {
    // Loading a fresh optimizer's state makes the next step a first step
    // again (SGD: buf = g, undamped).
    let p = param(&[1.0], &[1]);
    let mut o = Sgd::new(vec![p.clone()], 0.1).momentum(0.9).dampening(0.5);
    run(&mut o, &p, 2);
    let fresh = Sgd::new(vec![p.clone()], 0.1).momentum(0.9).dampening(0.5);
    o.load_state(&fresh.state()).unwrap();
    assert!(o.state().tensor("0.momentum_buffer").is_none());
    let before = vals(&p)[0];
    run(&mut o, &p, 1);
    assert_close(&vals(&p), &[before * 0.9], 1e-6);

    // Adam: counters and moments come back; a bad entry changes nothing.
    let p = param(&[1.0, -2.0], &[2]);
    let mut o = Adam::new(vec![p.clone()], 0.05);
    run(&mut o, &p, 3);
    let good = o.state();
    let mut bad = good.clone();
    bad.tensors[0].1 = t(&[1.0, 2.0, 3.0], &[3]);
    let mut q = Adam::new(vec![param(&[0.0, 0.0], &[2])], 0.5);
    assert!(q.load_state(&bad).is_err());
    assert_eq!(q.lr(), 0.5);
    assert_eq!(q.step_count(0), 0);
    q.load_state(&good).unwrap();
    assert_eq!(q.step_count(0), 3);
    assert_eq!(q.lr(), 0.05);
    assert_eq!(
        vals(q.state().tensor("0.exp_avg_sq").unwrap()),
        vals(good.tensor("0.exp_avg_sq").unwrap())
    );
}
