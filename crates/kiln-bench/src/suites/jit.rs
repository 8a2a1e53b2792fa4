//! The `jit` suite: what `jit` buys and what it costs.
//!
//! - `selu` over 1M and 16M f32 three ways: op by op with eager fusion off
//!   (`selu_unfused`, every op a pass over memory), eager with fusion on
//!   (`selu_eager`), and jitted (`selu_jit`). GB/s counts input + output;
//!   rows carry `ratio_copy` and the jitted rows `vs_unfused` (speed-up).
//! - `selu_handwritten`: the same SELU as one hand-written Rust loop over
//!   the input (Kiln's `vmath::expm1`, auto-vectorised, spread over the
//!   kernel workers, output from the buffer pool): what per-element code
//!   generation could reach. Jitted rows carry `vs_handwritten` (its time
//!   over theirs: 1.0 means as fast as the hand-written loop).
//! - `selu_first_call`: a fresh `Jit`'s first call on 1M (trace, passes,
//!   lowering, and the run); `selu_compile` is the compile part alone
//!   (the `Jit`'s own compile-time counter).
//! - `tiny_hit`: a cache hit of `x + 1` on f32[4], the whole call (key,
//!   lookup, run, result tree).
//! - `mlp_step_eager` / `mlp_step_jit`: one Adam training step (forward,
//!   cross-entropy, backward, update, zero_grad) of a 784-256-10 ReLU MLP
//!   at batch 64 and 512.

use kiln::nn::layers::{Linear, Relu, Sequential};
use kiln::nn::loss::cross_entropy;
use kiln::nn::optim::{Adam, Optimizer};
use kiln::nn::Module;
use kiln::ops::nn::{SELU_ALPHA, SELU_SCALE};
use kiln::prelude::*;
use std::cell::RefCell;
use std::time::Instant;

use super::{bytes, force, input, Context, Suite};
use crate::harness::{measure, Budget, Rate, Report, Stats};

/// The suite's registry entry.
pub const SUITE: Suite = Suite {
    name: "jit",
    about: "jitted vs eager SELU, compile time, hit overhead, MLP train step",
    run,
};

/// Element counts of the SELU cases.
pub const SIZES: [usize; 2] = [1 << 20, 16 << 20];

/// Batch sizes of the MLP step.
pub const BATCHES: [usize; 2] = [64, 512];

/// Shape of the tiny function's input.
pub const TINY: [usize; 1] = [4];

fn run(ctx: &Context, report: &mut Report) -> kiln::Result<()> {
    let dtype = DType::F32;
    for n in SIZES {
        let x = input(&[n], dtype)?;
        let moved = 2.0 * bytes(n, dtype);
        let emit = |report: &mut Report, name: &str, stats: Stats, refs: Option<(f64, f64)>| {
            let rate = Rate::gbps(moved, stats.median_s);
            let mut row = ctx
                .row(SUITE.name, name, dtype, &[n], stats, rate)
                .with_ratio("ratio_copy", rate.value() / ctx.refs.copy_gbps);
            if let Some((unfused, hand)) = refs {
                row = row
                    .with_ratio("vs_unfused", unfused / stats.median_s)
                    .with_ratio("vs_handwritten", hand / stats.median_s);
            }
            report.emit(row);
        };
        let unfused = kiln::eval::with_fusion(false, || measure(Budget::FAST, || force(selu(&x))))?;
        emit(report, "selu_unfused", unfused, None);
        let data = x.to_vec::<f32>()?;
        let hand = measure(Budget::FAST, || {
            kiln::pool::give(handwritten_selu(&data));
            Ok::<(), kiln::Error>(())
        })?;
        emit(report, "selu_handwritten", hand, None);
        let refs = Some((unfused.median_s, hand.median_s));
        let eager = measure(Budget::FAST, || force(selu(&x)))?;
        emit(report, "selu_eager", eager, refs);
        let f = jit(|x: &Tensor| selu(x));
        let stats = measure(Budget::FAST, || f.call(&x).map(drop))?;
        emit(report, "selu_jit", stats, refs);
    }

    // Compile cost: a fresh Jit each sample.
    let x = input(&[SIZES[0]], dtype)?;
    let mut compile = vec![];
    let first = measure(Budget::FAST, || {
        let f = jit(|x: &Tensor| selu(x));
        let out = f.call(&x).map(drop);
        compile.push(f.stats().compile_time.as_secs_f64());
        out
    })?;
    let row = ctx.row(
        SUITE.name,
        "selu_first_call",
        dtype,
        &[SIZES[0]],
        first,
        Rate::calls(first.median_s),
    );
    report.emit(row);
    if let Some(c) = Stats::from_samples(&compile) {
        report.emit(ctx.row(
            SUITE.name,
            "selu_compile",
            dtype,
            &[SIZES[0]],
            c,
            Rate::calls(c.median_s),
        ));
    }

    // Hit overhead on a tiny function: time 1000 calls per sample.
    let t = input(&TINY, dtype)?;
    let f = jit(|x: &Tensor| x + 1.0);
    f.call(&t)?;
    const CALLS: usize = 1000;
    let mut per_call = vec![];
    measure(Budget::FAST, || {
        let start = Instant::now();
        for _ in 0..CALLS {
            drop(f.call(&t)?);
        }
        per_call.push(start.elapsed().as_secs_f64() / CALLS as f64);
        Ok::<(), kiln::Error>(())
    })?;
    let hit = Stats::from_samples(&per_call).expect("samples were taken");
    report.emit(ctx.row(
        SUITE.name,
        "tiny_hit",
        dtype,
        &TINY,
        hit,
        Rate::calls(hit.median_s),
    ));

    for batch in BATCHES {
        let (eager, jitted) = mlp_steps(batch)?;
        let shape = [batch, 784];
        let mut row = ctx.row(
            SUITE.name,
            "mlp_step_eager",
            dtype,
            &shape,
            eager,
            Rate::calls(eager.median_s),
        );
        report.emit(row.clone());
        row = ctx
            .row(
                SUITE.name,
                "mlp_step_jit",
                dtype,
                &shape,
                jitted,
                Rate::calls(jitted.median_s),
            )
            .with_ratio("vs_eager", eager.median_s / jitted.median_s);
        report.emit(row);
    }
    Ok(())
}

/// SELU of `x` as one hand-fused loop: Kiln's SELU semantics
/// (`select(x > 0, x, expm1(min(x, 0)) * alpha) * scale`, in f32), each
/// element computed in registers, chunks spread over the kernel workers.
fn handwritten_selu(x: &[f32]) -> Vec<f32> {
    use kiln::cpu::{simd, vmath, workers};
    const CHUNK: usize = 1 << 14;
    let (alpha, scale) = (SELU_ALPHA as f32, SELU_SCALE as f32);
    let selu = move |v: f32| {
        let m = if v.is_nan() || v <= 0.0 { v } else { 0.0 };
        let neg = vmath::expm1(m) * alpha;
        (if v > 0.0 { v } else { neg }) * scale
    };
    let mut out = kiln::pool::take::<f32>(x.len());
    workers::for_each_chunk(&mut out, CHUNK, &|at, dst| {
        simd::map_slice(&x[at..at + dst.len()], dst, &selu)
    });
    out
}

/// The 784-256-10 MLP of the MNIST main job, seeded.
pub fn mlp() -> Sequential {
    let k = Key::new(0).split(2);
    Sequential::new()
        .add(Linear::new(784, 256, true, k[0]))
        .add(Relu)
        .add(Linear::new(256, 10, true, k[1]))
}

/// Timings of the eager and the jitted Adam step at `batch`.
fn mlp_steps(batch: usize) -> kiln::Result<(Stats, Stats)> {
    let x = input(&[batch, 784], DType::F32)?;
    let y = randint(&[batch], 0, 10, DType::I64, Some(Key::new(3)));
    y.eval()?;
    let model = mlp();
    let mut opt = Adam::new(model.parameters(), 1e-3);
    let eager = measure(Budget::FAST, || {
        let loss = cross_entropy(&model.forward(&x), &y);
        loss.backward()?;
        opt.step()?;
        opt.zero_grad();
        loss.eval().map(drop)
    })?;
    let model = mlp();
    let opt = RefCell::new(Adam::new(model.parameters(), 1e-3));
    let step = jit(|(x, y): &(Tensor, Tensor)| -> kiln::Result<Tensor> {
        let loss = cross_entropy(&model.forward(x), y);
        loss.backward()?;
        let mut opt = opt.borrow_mut();
        opt.step()?;
        opt.zero_grad();
        Ok(loss)
    });
    let args = (x, y);
    let jitted = measure(Budget::FAST, || step.call(&args).map(drop))?;
    Ok((eager, jitted))
}
