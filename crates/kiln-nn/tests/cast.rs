//! `Module::cast` converts every float parameter and buffer, recursively.

use kiln_core::random::Key;
use kiln_core::{DType, Tensor};
use kiln_nn::layers::{BatchNorm1d, Linear, Sequential};
use kiln_nn::Module;

struct Net {
    body: Sequential,
    head: Linear,
}

kiln_nn::module!(Net { body, head }, |m, x| m
    .head
    .forward(&m.body.forward(x)));

#[test]
fn cast_converts_params_and_buffers_and_keeps_values() {
    let mut net = Net {
        body: Sequential::new()
            .add(Linear::new(3, 4, true, Key::new(1)))
            .add(BatchNorm1d::new(4)),
        head: Linear::new(4, 2, true, Key::new(2)),
    };
    let before: Vec<Vec<f64>> = net
        .parameters()
        .iter()
        .map(|p| p.to_f64_vec().unwrap())
        .collect();
    net.cast(DType::F64);
    for (name, t) in kiln_nn::state_dict(&net) {
        if name.ends_with("num_batches_tracked") {
            assert!(!t.dtype().is_float(), "{name}");
        } else {
            assert_eq!(t.dtype(), DType::F64, "{name}");
        }
    }
    for (p, old) in net.parameters().iter().zip(&before) {
        assert!(p.is_grad_leaf(), "cast parameters still require grad");
        assert_eq!(&p.to_f64_vec().unwrap(), old, "f32 -> f64 is exact");
    }
    let x = Tensor::from_vec(vec![0.5f64; 6], &[2, 3]).unwrap();
    let y = net.forward(&x);
    assert_eq!(y.dtype(), DType::F64);
    y.sum(.., false).backward().unwrap();
    assert!(net.parameters().iter().all(|p| p.grad().is_some()));
    net.cast(DType::BF16);
    assert!(net.parameters().iter().all(|p| p.dtype() == DType::BF16));
}
