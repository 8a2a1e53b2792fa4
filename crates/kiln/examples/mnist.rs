//! Kiln's main job: train a classifier on the bundled MNIST and report test
//! accuracy after every epoch.
//!
//! ```sh
//! cargo run --release --example mnist                  # 784-256-10 MLP, 3 epochs
//! cargo run --release --example mnist -- --model cnn   # small CNN
//! cargo run --release --example mnist -- --epochs 1 --batch-size 128 --seed 7
//! cargo run --release --example mnist -- --eager       # without jit
//! ```
//!
//! The seed architecture: 784-256-10 MLP, ReLU, cross-entropy, Adam lr 1e-3,
//! batch 64. The whole training step (forward, backward, Adam update) is
//! jitted: traced once per batch shape, then run as a fused plan.

use indicatif::{ProgressBar, ProgressStyle};
use kiln::data::loader::DataLoader;
use kiln::data::mnist::{Mnist, Split};
use kiln::data::Dataset;
use kiln::nn::layers::{Conv2d, Conv2dConfig, Linear, MaxPool2d};
use kiln::nn::loss::cross_entropy;
use kiln::nn::metrics::{evaluate, RunningMean};
use kiln::nn::optim::{Adam, Optimizer};
use kiln::nn::Module;
use kiln::prelude::*;
use std::cell::RefCell;
use std::time::Instant;

/// The seed architecture: 784-256-10 with ReLU.
struct Mlp {
    fc1: Linear,
    fc2: Linear,
}

kiln::nn::module!(Mlp { fc1, fc2 }, |m, x| m
    .fc2
    .forward(&m.fc1.forward(x).relu()));

/// conv(1->32) pool conv(32->64) pool fc(3136->128) fc(128->10), ReLU.
struct Cnn {
    conv1: Conv2d,
    conv2: Conv2d,
    pool: MaxPool2d,
    fc1: Linear,
    fc2: Linear,
}

kiln::nn::module!(
    Cnn {
        conv1,
        conv2,
        pool,
        fc1,
        fc2
    },
    |m, x| {
        let x = x.reshape([-1, 1, 28, 28]);
        let x = m.pool.forward(&m.conv1.forward(&x).relu());
        let x = m.pool.forward(&m.conv2.forward(&x).relu());
        let x = x.flatten(1, -1);
        m.fc2.forward(&m.fc1.forward(&x).relu())
    }
);

struct Args {
    epochs: usize,
    batch_size: usize,
    model: String,
    seed: u64,
    lr: f64,
    limit: Option<usize>,
    out: Option<String>,
    jit: bool,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        epochs: 3,
        batch_size: 64,
        model: "mlp".into(),
        seed: 0,
        lr: 1e-3,
        limit: None,
        out: None,
        jit: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| Error::Invalid(format!("{flag} needs a value")))
        };
        let bad = |v: &str| Error::Invalid(format!("bad value {v:?} for {flag}"));
        match flag.as_str() {
            "--epochs" => {
                let v = value()?;
                a.epochs = v.parse().map_err(|_| bad(&v))?;
            }
            "--batch-size" => {
                let v = value()?;
                a.batch_size = v.parse().map_err(|_| bad(&v))?;
            }
            "--model" => a.model = value()?,
            "--seed" => {
                let v = value()?;
                a.seed = v.parse().map_err(|_| bad(&v))?;
            }
            "--lr" => {
                let v = value()?;
                a.lr = v.parse().map_err(|_| bad(&v))?;
            }
            "--out" => a.out = Some(value()?),
            "--eager" => a.jit = false,
            "--limit" => {
                let v = value()?;
                a.limit = Some(v.parse().map_err(|_| bad(&v))?);
            }
            "-h" | "--help" => {
                println!("usage: mnist [--epochs N] [--batch-size N] [--model mlp|cnn] [--seed N] [--lr X] [--limit N] [--out PATH] [--eager]");
                std::process::exit(0);
            }
            other => {
                return Err(Error::Invalid(format!(
                    "unknown option {other:?} (try --help)"
                )))
            }
        }
    }
    if a.batch_size == 0 || !["mlp", "cnn"].contains(&a.model.as_str()) {
        return Err(Error::Invalid(
            "batch size must be positive and --model mlp or cnn".into(),
        ));
    }
    Ok(a)
}

fn main() -> Result<()> {
    let args = parse_args()?;
    seed(args.seed);
    let dir = Mnist::default_dir();
    println!("Loading MNIST from {}", dir.display());
    let mut train = Mnist::load_with(&dir, Split::Train, true)?;
    let test = Mnist::load_with(&dir, Split::Test, true)?;
    if let Some(n) = args.limit {
        let idx: Vec<usize> = (0..n.min(train.len())).collect();
        let (x, y) = train.get_batch(&idx)?;
        train = kiln::data::TensorDataset::new(x, y)?;
    }
    let n_train = train.len();
    let loader = DataLoader::new(train, args.batch_size).shuffle(args.seed);
    let test_loader = DataLoader::new(test, 1000);

    let key = Key::new(args.seed);
    let model: Box<dyn Module> = match args.model.as_str() {
        "mlp" => Box::new(Mlp {
            fc1: Linear::new(784, 256, true, key.fold_in(1)),
            fc2: Linear::new(256, 10, true, key.fold_in(2)),
        }),
        _ => Box::new(Cnn {
            conv1: Conv2d::new(
                1,
                32,
                (3, 3),
                Conv2dConfig {
                    padding: (1, 1),
                    ..Default::default()
                },
                key.fold_in(1),
            ),
            conv2: Conv2d::new(
                32,
                64,
                (3, 3),
                Conv2dConfig {
                    padding: (1, 1),
                    ..Default::default()
                },
                key.fold_in(2),
            ),
            pool: MaxPool2d::new((2, 2)),
            fc1: Linear::new(64 * 7 * 7, 128, true, key.fold_in(3)),
            fc2: Linear::new(128, 10, true, key.fold_in(4)),
        }),
    };
    println!(
        "Model {} with {} parameters; Adam lr {}, batch {}, {} epochs, seed {}, {}",
        args.model,
        model.num_parameters(),
        args.lr,
        args.batch_size,
        args.epochs,
        args.seed,
        if args.jit { "jitted step" } else { "eager" }
    );
    let model = RefCell::new(model);
    let opt = RefCell::new(Adam::new(model.borrow().parameters(), args.lr));
    // One training step; the model and optimizer state it reads and
    // assigns become inputs and outputs of the jitted program.
    let step = |(x, y): &(Tensor, Tensor)| -> Result<Tensor> {
        let loss = cross_entropy(&model.borrow().forward(x), y);
        loss.backward()?;
        let mut opt = opt.borrow_mut();
        opt.step()?;
        opt.zero_grad();
        Ok(loss)
    };
    let jitted = jit(&step).named("train_step");
    let style = ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg}")
        .expect("valid template")
        .progress_chars("=> ");
    for epoch in 0..args.epochs {
        model.borrow_mut().train(true);
        let bar = ProgressBar::new(loader.len() as u64)
            .with_style(style.clone())
            .with_prefix(format!("{}", epoch + 1));
        let start = Instant::now();
        let mut train_loss = RunningMean::new();
        for (i, batch) in loader.epoch(epoch as u64)?.enumerate() {
            let (x, y) = batch?;
            let n = y.numel() as f64;
            let loss = if args.jit {
                jitted.call(&(x, y))?
            } else {
                step(&(x, y))?
            };
            train_loss.add(loss.item_f64()?, n);
            bar.inc(1);
            if i % 20 == 0 {
                let rate = train_loss.count() / start.elapsed().as_secs_f64();
                bar.set_message(format!(
                    "loss {:.4}  {:.0} samples/s",
                    train_loss.mean(),
                    rate
                ));
            }
        }
        bar.finish_and_clear();
        let secs = start.elapsed().as_secs_f64();
        let test = evaluate(
            model.borrow_mut().as_mut(),
            test_loader.epoch(0)?,
            cross_entropy,
        )?;
        println!(
            "epoch {}: train loss {:.4}  test accuracy {:.2}%  ({:.1} s, {:.0} samples/s)",
            epoch + 1,
            train_loss.mean(),
            100.0 * test.accuracy,
            secs,
            n_train as f64 / secs
        );
    }
    let out = args
        .out
        .unwrap_or_else(|| format!("target/mnist-{}.safetensors", args.model));
    kiln::nn::serialize::save_module(model.borrow().as_ref(), &out)?;
    println!("Saved the trained model to {out} (safetensors, keys like fc1.weight)");
    Ok(())
}
