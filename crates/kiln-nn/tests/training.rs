//! End-to-end: small models trained to near-zero loss.

mod common;
use common::*;
use kiln_core::random::Key;
use kiln_core::Tensor;
use kiln_nn::layers::*;
use kiln_nn::loss::*;
use kiln_nn::optim::*;
use kiln_nn::Module;

fn xor_data() -> (Tensor, Tensor) {
    (
        t(&[0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0], &[4, 2]),
        t(&[0.0, 1.0, 1.0, 0.0], &[4, 1]),
    )
}

fn mlp(seed: u64) -> Sequential {
    let k = Key::new(seed).split(2);
    Sequential::new()
        .add(Linear::new(2, 16, true, k[0]))
        .add(Tanh)
        .add(Linear::new(16, 1, true, k[1]))
}

fn train_xor(seed: u64, steps: usize) -> (f64, Vec<f64>) {
    let (x, y) = xor_data();
    let model = mlp(seed);
    let mut opt = Adam::new(model.parameters(), 0.05);
    let mut last = f64::NAN;
    for _ in 0..steps {
        opt.zero_grad();
        let loss = binary_cross_entropy_with_logits(&model.forward(&x), &y, Reduction::Mean);
        loss.backward().unwrap();
        opt.step().unwrap();
        last = loss.item_f64().unwrap();
    }
    (last, vals(&model.forward(&x).sigmoid()))
}

#[test]
fn mlp_learns_xor_with_adam() {
    let (loss, probs) = train_xor(0, 400);
    assert!(loss < 0.02, "final loss {loss}");
    for (p, want) in probs.iter().zip([0.0, 1.0, 1.0, 0.0]) {
        assert!((p - want).abs() < 0.1, "prediction {p} for {want}");
    }
    // Same seed, same run.
    assert_eq!(train_xor(0, 20), train_xor(0, 20));
}

#[test]
fn classifier_learns_separable_set_with_cross_entropy() {
    // Three well-separated clusters, classified with AdamW + warm-up/cosine.
    let pts: Vec<f32> = vec![
        2.0, 2.0, 2.5, 1.5, 1.5, 2.5, -2.0, 2.0, -2.5, 1.5, -1.5, 2.5, 0.0, -2.0, 0.5, -2.5, -0.5,
        -2.5,
    ];
    let x = t(&pts, &[9, 2]);
    let y = Tensor::from_vec(vec![0i64, 0, 0, 1, 1, 1, 2, 2, 2], &[9]).unwrap();
    let k = Key::new(3).split(2);
    let model = Sequential::new()
        .add(Linear::new(2, 8, true, k[0]))
        .add(Relu)
        .add(Linear::new(8, 3, true, k[1]));
    let mut opt = AdamW::new(model.parameters(), 0.05);
    let sched = schedule::Sequential::warmup_cosine(0.05, 0.1, 10, 200, 0.005);
    let mut loss = f64::NAN;
    for step in 0..200 {
        opt.set_lr(schedule::LrSchedule::lr_at(&sched, step));
        opt.zero_grad();
        let l = cross_entropy(&model.forward(&x), &y);
        l.backward().unwrap();
        clip_grad_norm(&model.parameters(), 5.0).unwrap();
        opt.step().unwrap();
        loss = l.item_f64().unwrap();
    }
    assert!(loss < 0.05, "final loss {loss}");
    let pred: Vec<i64> = model.forward(&x).argmax(1, false).to_vec().unwrap();
    assert_eq!(pred, vec![0, 0, 0, 1, 1, 1, 2, 2, 2]);
}

#[test]
fn sgd_momentum_fits_linear_regression() {
    // y = 3x - 1 with MSE and SGD + Nesterov momentum.
    let xs: Vec<f32> = (0..8).map(|i| i as f32 / 4.0 - 1.0).collect();
    let ys: Vec<f32> = xs.iter().map(|x| 3.0 * x - 1.0).collect();
    let x = t(&xs, &[8, 1]);
    let y = t(&ys, &[8, 1]);
    let model = Linear::new(1, 1, true, Key::new(9));
    let mut opt = Sgd::new(model.parameters(), 0.1)
        .momentum(0.9)
        .nesterov(true);
    for _ in 0..200 {
        opt.zero_grad();
        let l = mse_loss(&model.forward(&x), &y, Reduction::Mean);
        l.backward().unwrap();
        opt.step().unwrap();
    }
    assert_close(&vals(&model.weight), &[3.0], 1e-3);
    assert_close(&vals(model.bias.as_ref().unwrap()), &[-1.0], 1e-3);
}
