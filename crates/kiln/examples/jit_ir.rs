//! Prints what `jit` makes of two functions: SELU and a whole MLP training
//! step (forward, cross-entropy, backward, Adam update). For each: the
//! program as traced (`make_ir`, like `jax.make_jaxpr`), and with
//! `--plan` also the optimized program and the fused plan it runs.
//!
//! `cargo run --release --example jit_ir [-- --plan]`

use kiln::nn::layers::{Linear, Relu, Sequential};
use kiln::nn::loss::cross_entropy;
use kiln::nn::optim::{Adam, Optimizer};
use kiln::nn::Module;
use kiln::prelude::*;
use std::cell::RefCell;

fn main() -> kiln::Result<()> {
    let show_plan = std::env::args().any(|a| a == "--plan");

    let x = randn(&[1 << 20], DType::F32);
    println!("== make_ir(selu) on f32[1048576]\n");
    println!("{}\n", make_ir(|x: &Tensor| selu(x))(&x)?);
    if show_plan {
        let f = jit(|x: &Tensor| selu(x));
        println!("optimized:\n{}\n\n{}\n", f.ir(&x)?, f.plan(&x)?);
    }

    let k = Key::new(0).split(2);
    let model = Sequential::new()
        .add(Linear::new(784, 256, true, k[0]))
        .add(Relu)
        .add(Linear::new(256, 10, true, k[1]));
    let opt = RefCell::new(Adam::new(model.parameters(), 1e-3));
    let train_step = |(x, y): &(Tensor, Tensor)| -> kiln::Result<Tensor> {
        let loss = cross_entropy(&model.forward(x), y);
        loss.backward()?;
        let mut opt = opt.borrow_mut();
        opt.step()?;
        opt.zero_grad();
        Ok(loss)
    };
    let batch = (
        randn(&[64, 784], DType::F32),
        randint(&[64], 0, 10, DType::I64, None),
    );
    println!("== make_ir(train_step) on (f32[64,784], i64[64])\n");
    println!("{}\n", make_ir(train_step)(&batch)?);
    if show_plan {
        let step = jit(train_step);
        println!("optimized:\n{}\n\n{}", step.ir(&batch)?, step.plan(&batch)?);
    }
    Ok(())
}
