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
    assert_close(&[n], &[5.0], 1e-9);
    assert_close(&vals(&a.grad().unwrap()), &[0.6], 1e-5);
    assert_close(&vals(&b.grad().unwrap()), &[0.8], 1e-5);
    // Below the threshold nothing changes.
    let n = clip_grad_norm(&[a.clone(), b.clone()], 10.0).unwrap();
    assert_close(&[n], &[1.0], 1e-5);
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
