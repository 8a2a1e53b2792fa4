//! A whole training step under jit (forward, backward, optimizer update)
//! gives the same parameters as the eager step.

use kiln::jit::jit;
use kiln::nn::layers::{Linear, Relu, Sequential};
use kiln::nn::loss::cross_entropy;
use kiln::nn::optim::{Adam, Optimizer, Sgd};
use kiln::nn::Module;
use kiln::prelude::*;
use std::cell::RefCell;

fn mlp(seed: u64) -> Sequential {
    let k = Key::new(seed).split(2);
    Sequential::new()
        .add(Linear::new(12, 16, true, k[0]))
        .add(Relu)
        .add(Linear::new(16, 5, true, k[1]))
}

fn batch(i: u64) -> (Tensor, Tensor) {
    let x = normal(&[8, 12], 0.0, 1.0, DType::F32, Some(Key::new(100 + i)));
    let y = randint(&[8], 0, 5, DType::I64, Some(Key::new(200 + i)));
    (x, y)
}

fn params(m: &Sequential) -> Vec<Vec<f32>> {
    m.parameters()
        .iter()
        .map(|p| p.to_vec::<f32>().unwrap())
        .collect()
}

fn assert_close(a: &[Vec<f32>], b: &[Vec<f32>], tol: f32) {
    for (p, q) in a.iter().zip(b) {
        for (x, y) in p.iter().zip(q) {
            assert!((x - y).abs() <= tol * x.abs().max(1.0), "{x} vs {y}");
        }
    }
}

#[test]
fn jitted_adam_step_equals_eager_step() {
    let eager = mlp(1);
    let mut eager_opt = Adam::new(eager.parameters(), 1e-2);
    let model = mlp(1);
    let opt = RefCell::new(Adam::new(model.parameters(), 1e-2));
    let step = jit(|(x, y): &(Tensor, Tensor)| -> kiln::Result<Tensor> {
        let loss = cross_entropy(&model.forward(x), y);
        loss.backward()?;
        let mut opt = opt.borrow_mut();
        opt.step()?;
        opt.zero_grad();
        Ok(loss)
    });
    for i in 0..6 {
        let (x, y) = batch(i);
        let le = cross_entropy(&eager.forward(&x), &y);
        le.backward().unwrap();
        eager_opt.step().unwrap();
        eager_opt.zero_grad();
        let lj = step.call(&(x, y)).unwrap();
        let (a, b) = (le.item::<f32>().unwrap(), lj.item::<f32>().unwrap());
        assert!(
            (a - b).abs() <= 1e-6 * a.abs().max(1.0),
            "step {i}: loss {a} vs {b}"
        );
        assert_close(&params(&eager), &params(&model), 1e-6);
    }
    assert_eq!(step.stats().traces, 1, "{}", step.stats());
    // A learning-rate change reaches the compiled step without retracing.
    eager_opt.set_lr(0.5);
    opt.borrow_mut().set_lr(0.5);
    let (x, y) = batch(9);
    let le = cross_entropy(&eager.forward(&x), &y);
    le.backward().unwrap();
    eager_opt.step().unwrap();
    eager_opt.zero_grad();
    step.call(&(x, y)).unwrap();
    assert_close(&params(&eager), &params(&model), 1e-6);
    assert_eq!(step.stats().traces, 1);
}

/// Gradient clipping inside a jitted step: no value is read while
/// tracing, the norm comes back as a result, and parameters and norms
/// match the eager step, whether the norm is clipped (max 0.05) or not
/// (max 1e3).
#[test]
fn jitted_step_with_gradient_clipping_equals_eager_step() {
    use kiln::nn::optim::clip_grad_norm;
    for max_norm in [0.05, 1e3] {
        let eager = mlp(2);
        let mut eager_opt = Sgd::new(eager.parameters(), 0.1);
        let model = mlp(2);
        let opt = RefCell::new(Sgd::new(model.parameters(), 0.1));
        let step = jit(|(x, y): &(Tensor, Tensor)| -> kiln::Result<Tensor> {
            let loss = cross_entropy(&model.forward(x), y);
            loss.backward()?;
            let norm = clip_grad_norm(&model.parameters(), max_norm)?;
            let mut opt = opt.borrow_mut();
            opt.step()?;
            opt.zero_grad();
            Ok(norm)
        });
        for i in 0..4 {
            let (x, y) = batch(i);
            let le = cross_entropy(&eager.forward(&x), &y);
            le.backward().unwrap();
            let ne = clip_grad_norm(&eager.parameters(), max_norm).unwrap();
            eager_opt.step().unwrap();
            eager_opt.zero_grad();
            let nj = step.call(&(x, y)).unwrap();
            let (a, b) = (ne.item_f64().unwrap(), nj.item_f64().unwrap());
            assert!((a - b).abs() <= 1e-9 * a, "step {i}: norm {a} vs {b}");
            assert!(max_norm > 1.0 || a > max_norm, "the clipped case clips");
            assert_close(&params(&eager), &params(&model), 1e-6);
        }
        assert_eq!(step.stats().traces, 1, "{}", step.stats());
    }
}

#[test]
fn gradients_left_by_a_jitted_step_accumulate_like_eager() {
    // No zero_grad inside: the second call sees gradients from the first
    // (a guard retraces once), as eager code would accumulate them.
    let eager = mlp(2);
    let mut eager_opt = Sgd::new(eager.parameters(), 0.1).momentum(0.9);
    let model = mlp(2);
    let opt = RefCell::new(Sgd::new(model.parameters(), 0.1).momentum(0.9));
    let step = jit(|(x, y): &(Tensor, Tensor)| -> kiln::Result<Tensor> {
        let loss = cross_entropy(&model.forward(x), y);
        loss.backward()?;
        opt.borrow_mut().step()?;
        Ok(loss)
    });
    for i in 0..4 {
        let (x, y) = batch(i);
        cross_entropy(&eager.forward(&x), &y).backward().unwrap();
        eager_opt.step().unwrap();
        step.call(&(x, y)).unwrap();
        assert_close(&params(&eager), &params(&model), 2e-6);
    }
    let g_eager = eager.parameters()[0]
        .grad()
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    let g_jit = model.parameters()[0]
        .grad()
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    assert_close(&[g_eager], &[g_jit], 2e-6);
    assert_eq!(
        step.stats().traces,
        2,
        "None then Some gradients: {}",
        step.stats()
    );
}

#[test]
fn jitted_functional_step_with_value_and_grad() {
    let w = normal(&[12, 5], 0.0, 1.0, DType::F32, Some(Key::new(5)));
    let loss =
        |(w, x, y): &(Tensor, Const<Tensor>, Const<Tensor>)| cross_entropy(&x.0.matmul(w), &y.0);
    let vg = value_and_grad(loss);
    let jvg = jit(value_and_grad(loss));
    for i in 0..3 {
        let (x, y) = batch(i);
        let args = (w.clone(), Const(x), Const(y));
        let (l1, (g1, _, _)) = vg(&args).unwrap();
        let (l2, (g2, _, _)) = jvg.call(&args).unwrap();
        assert!((l1.item::<f32>().unwrap() - l2.item::<f32>().unwrap()).abs() < 1e-6);
        assert_close(&[g1.to_vec().unwrap()], &[g2.to_vec().unwrap()], 1e-6);
    }
    assert_eq!(jvg.stats().traces, 1);
}
