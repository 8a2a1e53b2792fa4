//! Helpers shared by the ops unit tests.

use crate::dtype::DType;
use crate::ops::creation::normal;
use crate::random::Key;
use crate::tensor::Tensor;

/// A standard-normal f64 tensor from a fixed seed.
pub(crate) fn rnd(shape: &[usize], seed: u64) -> Tensor {
    normal(shape, 0.0, 1.0, DType::F64, Some(Key::new(seed)))
}

/// Checks reverse-mode gradients of `f` against central differences
/// along random directions (f64 inputs).
pub(crate) fn check_grad(f: impl Fn(&[Tensor]) -> Tensor, args: &[Tensor], seed: u64) {
    let r = rnd(f(args).shape(), seed);
    let loss = |xs: &Vec<Tensor>| (f(xs) * &r).sum(.., false);
    let g = crate::autodiff::grad(loss)(&args.to_vec()).unwrap();
    for trial in 0..2u64 {
        let dirs: Vec<Tensor> = args
            .iter()
            .enumerate()
            .map(|(i, a)| rnd(a.shape(), seed * 100 + trial * 10 + i as u64 + 1))
            .collect();
        let eps = 1e-6;
        let shifted =
            |s: f64| -> Vec<Tensor> { args.iter().zip(&dirs).map(|(a, d)| a + d * s).collect() };
        let fd = (loss(&shifted(eps)).item_f64().unwrap()
            - loss(&shifted(-eps)).item_f64().unwrap())
            / (2.0 * eps);
        let an: f64 = g
            .iter()
            .zip(&dirs)
            .map(|(g, d)| {
                g.to_f64_vec()
                    .unwrap()
                    .iter()
                    .zip(d.to_f64_vec().unwrap())
                    .map(|(a, b)| a * b)
                    .sum::<f64>()
            })
            .sum();
        assert!(
            (fd - an).abs() <= 1e-6 * (1.0 + an.abs()),
            "directional derivative: numeric {fd}, autodiff {an}"
        );
    }
}
