//! Custom gradients: give a composite function its own VJP, and
//! `checkpoint`, which recomputes a function's forward pass during the
//! backward pass instead of keeping its intermediates.

use super::functional::vjp;
use crate::primitive::{CustomRule, CustomVjp, Primitive};
use crate::tensor::{no_grad, Tensor};
use std::sync::Arc;

type BackwardFn = dyn Fn(&[Tensor], &Tensor, &Tensor) -> Vec<Option<Tensor>> + Send + Sync;

struct ClosureRule {
    name: String,
    backward: Box<BackwardFn>,
}

impl CustomVjp for ClosureRule {
    fn name(&self) -> &str {
        &self.name
    }
    fn vjp(&self, inputs: &[Tensor], y: &Tensor, g: &Tensor) -> Vec<Option<Tensor>> {
        let primal = &inputs[..inputs.len() - 1];
        let mut grads = (self.backward)(primal, y, g);
        assert_eq!(
            grads.len(),
            primal.len(),
            "kiln: custom_vjp '{}': backward returned {} cotangents for {} inputs",
            self.name,
            grads.len(),
            primal.len()
        );
        grads.push(None); // the forward value passed as the last input
        grads
    }
}

/// Applies `forward` to `inputs` with the gradient given by `backward`
/// instead of the one autodiff would derive (`jax.custom_vjp`).
///
/// `forward` runs without recording a graph; `backward(inputs, output,
/// cotangent)` returns one optional cotangent per input and is written in
/// tensor ops, so it is itself differentiable.
#[track_caller]
pub fn custom_vjp(
    name: &str,
    inputs: &[Tensor],
    forward: impl FnOnce(&[Tensor]) -> Tensor,
    backward: impl Fn(&[Tensor], &Tensor, &Tensor) -> Vec<Option<Tensor>> + Send + Sync + 'static,
) -> Tensor {
    let y = no_grad(|| forward(inputs));
    let rule = CustomRule(Arc::new(ClosureRule {
        name: name.to_string(),
        backward: Box::new(backward),
    }));
    let mut all = inputs.to_vec();
    all.push(y);
    Tensor::from_op(Primitive::Custom(rule), all)
}

/// Runs `f` on `inputs` without keeping its intermediate results for the
/// backward pass; they are recomputed when gradients are needed
/// (`jax.checkpoint` / `torch.utils.checkpoint`). Trades compute for memory.
#[track_caller]
pub fn checkpoint<F>(f: F, inputs: &[Tensor]) -> Tensor
where
    F: Fn(&[Tensor]) -> Tensor + Send + Sync + 'static,
{
    let f = Arc::new(f);
    let recompute = f.clone();
    custom_vjp(
        "checkpoint",
        inputs,
        |xs| f(xs),
        move |xs, _y, g| {
            let args: Vec<Tensor> = xs.to_vec();
            let (_, pullback) =
                vjp(|a: &Vec<Tensor>| recompute(a), &args).expect("checkpoint: recompute failed");
            pullback
                .apply(g)
                .expect("checkpoint: pull-back failed")
                .into_iter()
                .map(Some)
                .collect()
        },
    )
}
