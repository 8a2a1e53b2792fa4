//! Memory: a training loop of 1000 forward/backward/update steps does not
//! grow the number of live graph nodes. Its own test binary, so no other
//! test's tensors are counted.

use kiln_core::dtype::DType;
use kiln_core::{no_grad, Tensor};

fn mlp_loss(w1: &Tensor, w2: &Tensor, x: &Tensor, y: &Tensor) -> Tensor {
    let h = x.matmul(w1).tanh();
    let out = h.matmul(w2);
    (&out - y).square().mean(.., false)
}

#[test]
fn training_loop_memory_stays_flat() {
    use kiln_core::ops::creation::normal;
    use kiln_core::random::Key;
    let w1 = normal(&[8, 16], 0.0, 0.3, DType::F32, Some(Key::new(1))).requires_grad(true);
    let w2 = normal(&[16, 4], 0.0, 0.3, DType::F32, Some(Key::new(2))).requires_grad(true);
    w1.eval().unwrap();
    w2.eval().unwrap();
    let x = normal(&[32, 8], 0.0, 1.0, DType::F32, Some(Key::new(3)));
    let y = normal(&[32, 4], 0.0, 1.0, DType::F32, Some(Key::new(4)));
    let mut after_warmup = 0;
    let mut first_loss = 0.0;
    let mut last_loss = 0.0;
    for step in 0..1000 {
        let loss = mlp_loss(&w1, &w2, &x, &y);
        loss.backward().unwrap();
        let l = loss.item_f64().unwrap();
        no_grad(|| {
            for w in [&w1, &w2] {
                w.assign(&(w - w.grad().unwrap() * 0.05)).unwrap();
                w.zero_grad();
            }
        });
        if step == 0 {
            first_loss = l;
        }
        last_loss = l;
        drop(loss);
        if step == 10 {
            after_warmup = kiln_core::tensor::live_nodes();
        }
    }
    let end = kiln_core::tensor::live_nodes();
    assert!(
        end <= after_warmup,
        "live nodes grew from {after_warmup} to {end}"
    );
    assert!(
        last_loss < first_loss,
        "training should reduce the loss: {first_loss} -> {last_loss}"
    );
}
