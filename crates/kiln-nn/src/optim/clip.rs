//! Gradient clipping.

use kiln_core::{no_grad, DType, Result, Tensor};

/// Rescales the gradients of `params` so their joint L2 norm is at most
/// `max_norm` (`torch.nn.utils.clip_grad_norm_`: every gradient times
/// `min(max_norm / (total + 1e-6), 1)`, a factor of exactly 1, which
/// changes nothing, when the norm is within bounds). Returns the total
/// norm before clipping as an f64 scalar tensor (`.item_f64()` gives the
/// number). Parameters without a gradient are skipped.
///
/// Nothing is read back while it runs, so it works inside a jitted
/// training step. As in PyTorch, a NaN or infinite norm makes every
/// gradient NaN.
pub fn clip_grad_norm(params: &[Tensor], max_norm: f64) -> Result<Tensor> {
    let grads: Vec<(Tensor, Tensor)> = params
        .iter()
        .filter_map(|p| p.grad().map(|g| (p.clone(), g)))
        .collect();
    if grads.is_empty() {
        return Ok(Tensor::scalar(0.0f64));
    }
    let (total, scaled) = no_grad(|| {
        let sq: Vec<Tensor> = grads
            .iter()
            .map(|(_, g)| g.astype(DType::F64).square().sum(.., false))
            .collect();
        let total = kiln_core::ops::shape::stack(&sq, 0).sum(.., false).sqrt();
        let coef = Tensor::scalar(max_norm).div(&total + 1e-6).minimum(1.0);
        let scaled: Vec<Tensor> = grads
            .iter()
            .map(|(_, g)| g * coef.astype(g.dtype()))
            .collect();
        (total, scaled)
    });
    let mut all = scaled.clone();
    all.push(total.clone());
    kiln_core::eval::evaluate(&all)?;
    for ((p, _), g) in grads.iter().zip(scaled) {
        p.set_grad(Some(g));
    }
    Ok(total)
}

/// Clamps every gradient element of `params` to `[-clip, clip]`
/// (`torch.nn.utils.clip_grad_value_`).
pub fn clip_grad_value(params: &[Tensor], clip: f64) -> Result<()> {
    for p in params {
        if let Some(g) = p.grad() {
            let c = no_grad(|| g.clip(Some(-clip), Some(clip)));
            c.eval()?;
            p.set_grad(Some(c));
        }
    }
    Ok(())
}
