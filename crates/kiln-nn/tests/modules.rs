//! Modules: naming, counts, init, seeding, modes and layer behaviour.

mod common;
use common::*;
use kiln_core::random::Key;
use kiln_core::{DType, Tensor};
use kiln_nn::layers::*;
use kiln_nn::Module;

struct Net {
    fc1: Linear,
    layers: Sequential,
    bn: BatchNorm1d,
    drop: Dropout,
}

kiln_nn::module!(
    Net {
        fc1,
        layers,
        bn,
        drop
    },
    |this, x| {
        let h = this.fc1.forward(x).relu();
        this.drop
            .forward(&this.bn.forward(&this.layers.forward(&h)))
    }
);

fn net(seed: u64) -> Net {
    let k = Key::new(seed).split(3);
    Net {
        fc1: Linear::new(4, 8, true, k[0]),
        layers: Sequential::new()
            .add(Linear::new(8, 6, true, k[1]))
            .add(Relu)
            .add(Linear::new(6, 3, false, k[2])),
        bn: BatchNorm1d::new(3),
        drop: Dropout::new(0.5),
    }
}

#[test]
fn parameter_names_and_counts() {
    let m = net(0);
    let names: Vec<String> = m.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "fc1.weight",
            "fc1.bias",
            "layers.0.weight",
            "layers.0.bias",
            "layers.2.weight",
            "bn.weight",
            "bn.bias"
        ]
    );
    assert_eq!(m.parameters().len(), 7);
    assert_eq!(m.num_parameters(), 4 * 8 + 8 + 8 * 6 + 6 + 6 * 3 + 3 + 3);
    let buffers: Vec<String> = m.named_buffers().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        buffers,
        [
            "bn.running_mean",
            "bn.running_var",
            "bn.num_batches_tracked"
        ]
    );
    assert!(m.parameters().iter().all(|p| p.is_grad_leaf()));
    let y = m.forward(&Tensor::from_vec(vec![0.5f32; 8], &[2, 4]).unwrap());
    assert_eq!(y.shape(), &[2, 3]);
}

#[test]
fn train_eval_recurses() {
    let mut m = net(0);
    assert!(m.is_training() && m.drop.is_training() && m.bn.is_training());
    m.eval();
    assert!(!m.is_training() && !m.drop.is_training() && !m.bn.is_training());
    m.train(true);
    assert!(m.drop.is_training());
}

#[test]
fn zero_grad_clears_all() {
    let m = net(1);
    let x = Tensor::from_vec(vec![0.5f32, -1.0, 2.0, 0.0, 1.0, 1.0, -1.0, 3.0], &[2, 4]).unwrap();
    m.forward(&x).square().sum(.., false).backward().unwrap();
    assert!(m.parameters().iter().all(|p| p.grad().is_some()));
    m.zero_grad();
    assert!(m.parameters().iter().all(|p| p.grad().is_none()));
}

#[test]
fn linear_init_bounds_and_seeding() {
    let l = Linear::new(100, 50, true, Key::new(7));
    assert_eq!(l.weight.shape(), &[50, 100]);
    assert_eq!(l.bias.as_ref().unwrap().shape(), &[50]);
    let w = vals(&l.weight);
    let b = vals(l.bias.as_ref().unwrap());
    let bound = 0.1;
    assert!(w.iter().chain(&b).all(|v| v.abs() <= bound));
    let max = w.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(
        max > 0.099,
        "weights should fill the range, max |w| = {max}"
    );
    let mean = w.iter().sum::<f64>() / w.len() as f64;
    assert!(mean.abs() < 0.01);
    let again = Linear::new(100, 50, true, Key::new(7));
    assert_eq!(w, vals(&again.weight));
    assert_eq!(b, vals(again.bias.as_ref().unwrap()));
    let other = Linear::new(100, 50, true, Key::new(8));
    assert_ne!(w, vals(&other.weight));
    assert_ne!(
        w,
        b[..].repeat(100),
        "weight and bias come from different keys"
    );
    // Whole models are reproducible too.
    assert_eq!(
        vals(&net(3).layers.parameters()[0]),
        vals(&net(3).layers.parameters()[0])
    );
}

#[test]
fn linear_forward_matches_formula() {
    let l = Linear::from_tensors(
        t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]),
        Some(t(&[0.5, -0.5], &[2])),
    );
    let y = l.forward(&t(&[1.0, 0.0, -1.0], &[1, 3]));
    assert_close(&vals(&y), &[1.0 - 3.0 + 0.5, 4.0 - 6.0 - 0.5], 1e-6);
}

#[test]
fn activations_and_flatten() {
    let x = t(&[-1.0, 0.0, 2.0], &[3]);
    assert_close(&vals(&Relu.forward(&x)), &[0.0, 0.0, 2.0], 0.0);
    assert_close(
        &vals(&Sigmoid.forward(&x)),
        &[1.0 / (1.0 + 1f64.exp()), 0.5, 1.0 / (1.0 + (-2f64).exp())],
        1e-6,
    );
    assert_close(
        &vals(&Tanh.forward(&x)),
        &[(-1f64).tanh(), 0.0, 2f64.tanh()],
        1e-6,
    );
    assert_close(
        &vals(&LeakyRelu::default().forward(&x)),
        &[-0.01, 0.0, 2.0],
        1e-6,
    );
    let s = vals(&Softmax { axis: -1 }.forward(&x));
    assert!((s.iter().sum::<f64>() - 1.0).abs() < 1e-6);
    let img = kiln_core::ops::creation::zeros(&[2, 3, 4, 5], DType::F32);
    assert_eq!(Flatten::new().forward(&img).shape(), &[2, 60]);
}

#[test]
fn conv_pool_shapes_and_grad() {
    let k = Key::new(0).split(2);
    let cfg = Conv2dConfig {
        padding: (1, 1),
        ..Default::default()
    };
    let model = Sequential::new()
        .add(Conv2d::new(3, 4, (3, 3), cfg, k[0]))
        .add(Relu)
        .add(MaxPool2d::new((2, 2)))
        .add(Flatten::new())
        .add(Linear::new(4 * 4 * 4, 2, true, k[1]));
    let conv_w = model.parameters()[0].clone();
    assert_eq!(conv_w.shape(), &[4, 3, 3, 3]);
    let bound = 1.0 / 27f64.sqrt();
    assert!(vals(&conv_w).iter().all(|v| v.abs() <= bound));
    let x =
        kiln_core::ops::creation::normal(&[2, 3, 8, 8], 0.0, 1.0, DType::F32, Some(Key::new(5)));
    let y = model.forward(&x);
    assert_eq!(y.shape(), &[2, 2]);
    y.sum(.., false).backward().unwrap();
    assert_eq!(conv_w.grad().unwrap().shape(), &[4, 3, 3, 3]);
    let grouped = Conv2d::new(
        4,
        6,
        (1, 1),
        Conv2dConfig {
            groups: 2,
            stride: (2, 2),
            ..Default::default()
        },
        Key::new(1),
    );
    assert_eq!(grouped.weight.shape(), &[6, 2, 1, 1]);
    let z = kiln_core::ops::creation::ones(&[1, 4, 6, 6], DType::F32);
    assert_eq!(grouped.forward(&z).shape(), &[1, 6, 3, 3]);
    assert_eq!(AvgPool2d::new((3, 3)).forward(&z).shape(), &[1, 4, 2, 2]);
}

#[test]
fn dropout_train_vs_eval() {
    let x = kiln_core::ops::creation::ones(&[4000], DType::F32);
    let mut d = Dropout::new(0.25);
    kiln_core::random::seed(42);
    let a = vals(&d.forward(&x));
    let zeros = a.iter().filter(|&&v| v == 0.0).count() as f64 / a.len() as f64;
    assert!((zeros - 0.25).abs() < 0.03, "drop fraction {zeros}");
    assert!(a.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.75).abs() < 1e-6));
    kiln_core::random::seed(42);
    assert_eq!(a, vals(&d.forward(&x)), "same seed, same mask");
    assert_ne!(a, vals(&d.forward(&x)), "a new key on every call");
    d.eval();
    assert_eq!(vals(&d.forward(&x)), vec![1.0; 4000]);
}

#[test]
fn batchnorm_running_stats() {
    let mut bn = BatchNorm1d::new(2);
    let x = t(&[1.0, 10.0, 2.0, 20.0, 3.0, 30.0, 6.0, 40.0], &[4, 2]);
    let y = bn.forward(&x);
    // Training mode normalises with the batch statistics (biased var).
    let col0 = [1.0, 2.0, 3.0, 6.0];
    let mean0 = 3.0;
    let var0 = col0.iter().map(|v| (v - mean0) * (v - mean0)).sum::<f64>() / 4.0;
    let got = vals(&y);
    assert_close(&[got[0]], &[(1.0 - mean0) / (var0 + 1e-5).sqrt()], 1e-5);
    // Running stats: momentum 0.1, unbiased variance.
    let mean1 = 25.0;
    let var1_unbiased = [10.0f64, 20.0, 30.0, 40.0]
        .iter()
        .map(|v| (v - mean1) * (v - mean1))
        .sum::<f64>()
        / 3.0;
    let var0_unbiased = var0 * 4.0 / 3.0;
    assert_close(&vals(&bn.running_mean), &[0.1 * mean0, 0.1 * mean1], 1e-6);
    assert_close(
        &vals(&bn.running_var),
        &[0.9 + 0.1 * var0_unbiased, 0.9 + 0.1 * var1_unbiased],
        1e-6,
    );
    assert_eq!(bn.num_batches_tracked.item::<i64>().unwrap(), 1);
    // Evaluation mode uses the running statistics and leaves them alone.
    bn.eval();
    let rm = vals(&bn.running_mean);
    let rv = vals(&bn.running_var);
    let e = vals(&bn.forward(&x));
    assert_close(&[e[1]], &[(10.0 - rm[1]) / (rv[1] + 1e-5).sqrt()], 1e-5);
    assert_eq!(rm, vals(&bn.running_mean));
    // Gradients flow to the affine parameters but not the buffers.
    bn.train(true);
    bn.forward(&x).square().sum(.., false).backward().unwrap();
    assert!(bn.weight.as_ref().unwrap().grad().is_some());
    assert!(bn.running_mean.grad().is_none());
}

#[test]
fn batchnorm2d_shapes() {
    let bn = BatchNorm2d::new(3);
    let x =
        kiln_core::ops::creation::normal(&[2, 3, 4, 4], 2.0, 3.0, DType::F32, Some(Key::new(1)));
    let y = bn.forward(&x);
    let m = vals(&y.mean([0i64, 2, 3], false));
    assert_close(&m, &[0.0, 0.0, 0.0], 1e-5);
}

#[test]
fn layer_norm_rms_norm_embedding() {
    let ln = LayerNorm::new(&[4]);
    let x = t(&[1.0, 2.0, 3.0, 4.0], &[1, 4]);
    let y = vals(&ln.forward(&x));
    assert!(y.iter().sum::<f64>().abs() < 1e-5);
    assert_eq!(ln.named_parameters().len(), 2);
    let rn = RmsNorm::new(&[4]);
    let r = vals(&rn.forward(&x));
    let rms = (30.0f64 / 4.0).sqrt();
    assert_close(&r, &[1.0 / rms, 2.0 / rms, 3.0 / rms, 4.0 / rms], 1e-5);

    let emb = Embedding::new(10, 3, Key::new(0));
    let idx = Tensor::from_vec(vec![2i64, 7, 2], &[3]).unwrap();
    let out = emb.forward(&idx);
    assert_eq!(out.shape(), &[3, 3]);
    let w = vals(&emb.weight);
    let o = vals(&out);
    assert_eq!(&o[0..3], &w[6..9]);
    assert_eq!(&o[3..6], &w[21..24]);
    out.sum(.., false).backward().unwrap();
    let g = vals(&emb.weight.grad().unwrap());
    assert_eq!(&g[6..9], &[2.0, 2.0, 2.0]);
    assert_eq!(&g[21..24], &[1.0, 1.0, 1.0]);
    assert_eq!(g.iter().sum::<f64>(), 9.0);
    let idx2 = Tensor::from_vec(vec![0i64, 1, 2, 3], &[2, 2]).unwrap();
    assert_eq!(emb.forward(&idx2).shape(), &[2, 2, 3]);
}

#[test]
fn state_dict_round_trip() {
    let a = net(1);
    let b = net(2);
    assert_ne!(vals(&a.fc1.weight), vals(&b.fc1.weight));
    let handle = b.fc1.weight.clone();
    kiln_nn::load_state_dict(&b, &kiln_nn::state_dict(&a), true).unwrap();
    assert_eq!(vals(&a.fc1.weight), vals(&handle), "handles stay valid");
    assert!(handle.is_grad_leaf());
    let bad = vec![("nope".to_string(), t(&[1.0], &[1]))];
    assert!(kiln_nn::load_state_dict(&b, &bad, true).is_err());
}
