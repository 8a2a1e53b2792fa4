//! Losses against hand computations, and their stability.

mod common;
use common::*;
use kiln_core::Tensor;
use kiln_nn::loss::*;

fn lse(row: &[f64]) -> f64 {
    let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    m + row.iter().map(|v| (v - m).exp()).sum::<f64>().ln()
}

fn idx(v: &[i64]) -> Tensor {
    Tensor::from_vec(v.to_vec(), &[v.len()]).unwrap()
}

const LOGITS: [f32; 6] = [1.0, 2.0, 3.0, 1.0, 0.0, -1.0];

#[test]
fn mse_l1_huber() {
    let a = t(&[1.0, 2.0, 5.0], &[3]);
    let b = t(&[0.0, 2.0, 2.0], &[3]);
    assert_close(
        &vals(&mse_loss(&a, &b, Reduction::Mean)),
        &[10.0 / 3.0],
        1e-6,
    );
    assert_close(&vals(&mse_loss(&a, &b, Reduction::Sum)), &[10.0], 1e-6);
    assert_close(
        &vals(&mse_loss(&a, &b, Reduction::None)),
        &[1.0, 0.0, 9.0],
        1e-6,
    );
    assert_close(&vals(&l1_loss(&a, &b, Reduction::Mean)), &[4.0 / 3.0], 1e-6);
    // delta 1: |d| = 1 -> 0.5 (boundary uses the linear branch: 1*(1-0.5)),
    // 0 -> 0, 3 -> 1*(3 - 0.5) = 2.5.
    assert_close(
        &vals(&huber_loss(&a, &b, 1.0, Reduction::None)),
        &[0.5, 0.0, 2.5],
        1e-6,
    );
    let c = t(&[0.5], &[1]);
    let z = t(&[0.0], &[1]);
    assert_close(
        &vals(&huber_loss(&c, &z, 1.0, Reduction::Sum)),
        &[0.125],
        1e-6,
    );
}

#[test]
fn cross_entropy_by_hand() {
    let logits = t(&LOGITS, &[2, 3]);
    let r0 = [1.0, 2.0, 3.0];
    let r1 = [1.0, 0.0, -1.0];
    let l0 = lse(&r0) - 3.0;
    let l1 = lse(&r1) - 1.0;
    let got = cross_entropy(&logits, &idx(&[2, 0]));
    assert_close(&vals(&got), &[(l0 + l1) / 2.0], 1e-6);

    // Probability targets (one-hot) give the same loss.
    let onehot = t(&[0.0, 0.0, 1.0, 1.0, 0.0, 0.0], &[2, 3]);
    assert_close(
        &vals(&cross_entropy(&logits, &onehot)),
        &[(l0 + l1) / 2.0],
        1e-6,
    );

    // Label smoothing 0.1: (1-s)*nll + s/C * sum_c(-log p_c).
    let s = 0.1;
    let smooth = |row: &[f64]| row.iter().map(|x| lse(row) - x).sum::<f64>();
    let want0 = (1.0 - s) * l0 + s / 3.0 * smooth(&r0);
    let want1 = (1.0 - s) * l1 + s / 3.0 * smooth(&r1);
    let opts = CrossEntropyOptions {
        label_smoothing: s,
        reduction: Reduction::None,
        ignore_index: None,
    };
    assert_close(
        &vals(&cross_entropy_with(&logits, &idx(&[2, 0]), &opts)),
        &[want0, want1],
        1e-6,
    );
    // Same with probability targets (smoothing applied to the target).
    assert_close(
        &vals(&cross_entropy_with(&logits, &onehot, &opts)),
        &[want0, want1],
        1e-6,
    );

    // ignore_index: the ignored sample contributes nothing and the mean is
    // over the remaining ones.
    let ignored = idx(&[2, -100]);
    assert_close(&vals(&cross_entropy(&logits, &ignored)), &[l0], 1e-6);
    let opts = CrossEntropyOptions {
        label_smoothing: s,
        reduction: Reduction::Mean,
        ignore_index: Some(-100),
    };
    assert_close(
        &vals(&cross_entropy_with(&logits, &ignored, &opts)),
        &[want0],
        1e-6,
    );
    let opts = CrossEntropyOptions {
        reduction: Reduction::Sum,
        ignore_index: Some(0),
        ..Default::default()
    };
    assert_close(
        &vals(&cross_entropy_with(&logits, &idx(&[2, 0]), &opts)),
        &[l0],
        1e-6,
    );
}

#[test]
fn cross_entropy_gradient_is_softmax_minus_onehot() {
    let logits = param(&LOGITS, &[2, 3]);
    cross_entropy(&logits, &idx(&[2, 0])).backward().unwrap();
    let g = vals(&logits.grad().unwrap());
    let r0 = [1.0f64, 2.0, 3.0];
    let r1 = [1.0f64, 0.0, -1.0];
    let sm = |r: &[f64]| -> Vec<f64> { r.iter().map(|x| (x - lse(r)).exp()).collect() };
    let (s0, s1) = (sm(&r0), sm(&r1));
    let want = [
        s0[0] / 2.0,
        s0[1] / 2.0,
        (s0[2] - 1.0) / 2.0,
        (s1[0] - 1.0) / 2.0,
        s1[1] / 2.0,
        s1[2] / 2.0,
    ];
    assert_close(&g, &want, 1e-5);
}

#[test]
fn cross_entropy_extreme_logits_no_nan() {
    let logits = param(&[1000.0, -1000.0, 0.0, -1000.0, 1000.0, 1000.0], &[2, 3]);
    let loss = cross_entropy(&logits, &idx(&[1, 1]));
    let v = loss.item_f64().unwrap();
    // Row 0: -log p(-1000) = 2000; row 1: log 2.
    assert_close(&[v], &[(2000.0 + 2f64.ln()) / 2.0], 1e-5);
    loss.backward().unwrap();
    let g = vals(&logits.grad().unwrap());
    assert!(g.iter().all(|x| x.is_finite()), "{g:?}");
    assert_close(&g, &[0.5, -0.5, 0.0, 0.0, -0.25, 0.25], 1e-5);
    let nll = nll_loss(
        &kiln_core::ops::nn::log_softmax(&logits, -1),
        &idx(&[0, 2]),
        None,
        Reduction::Mean,
    );
    assert!(nll.item_f64().unwrap().is_finite());
}

#[test]
fn nll_loss_by_hand() {
    let logp = t(&[-0.5, -1.5, -2.0, -0.1, -3.0, -4.0], &[2, 3]);
    assert_close(
        &vals(&nll_loss(&logp, &idx(&[1, 0]), None, Reduction::None)),
        &[1.5, 0.1],
        1e-6,
    );
    assert_close(
        &vals(&nll_loss(&logp, &idx(&[1, 0]), Some(0), Reduction::Mean)),
        &[1.5],
        1e-6,
    );
}

#[test]
fn binary_cross_entropy_by_hand_and_stable() {
    let p = t(&[0.25, 0.9], &[2]);
    let y = t(&[1.0, 0.0], &[2]);
    let want = [-(0.25f64.ln()), -(0.1f64.ln())];
    assert_close(
        &vals(&binary_cross_entropy(&p, &y, Reduction::None)),
        &want,
        1e-5,
    );
    // Saturated probabilities clamp the log at -100 instead of giving inf.
    let p = param(&[0.0, 1.0], &[2]);
    let l = binary_cross_entropy(&p, &y, Reduction::None);
    assert_close(&vals(&l), &[100.0, 100.0], 1e-6);
    l.sum(.., false).backward().unwrap();
    assert!(vals(&p.grad().unwrap()).iter().all(|g| g.is_finite()));

    let x = param(&[1000.0, -1000.0, 1000.0, -1000.0, 0.0, 2.0], &[6]);
    let y = t(&[0.0, 1.0, 1.0, 0.0, 1.0, 0.0], &[6]);
    let l = binary_cross_entropy_with_logits(&x, &y, Reduction::None);
    let sp = |z: f64| (1.0 + z.exp()).ln();
    assert_close(
        &vals(&l),
        &[1000.0, 1000.0, 0.0, 0.0, 2f64.ln(), sp(2.0)],
        1e-6,
    );
    l.sum(.., false).backward().unwrap();
    let g = vals(&x.grad().unwrap());
    assert!(g.iter().all(|v| v.is_finite()), "{g:?}");
    // d/dx = sigmoid(x) - y.
    let sig = |z: f64| 1.0 / (1.0 + (-z).exp());
    assert_close(&g, &[1.0, -1.0, 0.0, 0.0, -0.5, sig(2.0)], 1e-5);
}
