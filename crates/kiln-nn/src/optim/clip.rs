//! Gradient clipping.

use kiln_core::{no_grad, Result, Tensor};

/// Rescales the gradients of `params` so their joint L2 norm is at most
/// `max_norm` (`torch.nn.utils.clip_grad_norm_`: scale
/// `max_norm / (total + 1e-6)` when that is below 1). Returns the total
/// norm before clipping. Parameters without a gradient are skipped.
pub fn clip_grad_norm(params: &[Tensor], max_norm: f64) -> Result<f64> {
    let grads: Vec<(Tensor, Tensor)> = params
        .iter()
        .filter_map(|p| p.grad().map(|g| (p.clone(), g)))
        .collect();
    if grads.is_empty() {
        return Ok(0.0);
    }
    let total = no_grad(|| {
        let mut sq = Vec::with_capacity(grads.len());
        for (_, g) in &grads {
            sq.push(g.astype(kiln_core::DType::F64).square().sum(.., false));
        }
        kiln_core::ops::shape::stack(&sq, 0).sum(.., false)
    })
    .item_f64()?
    .sqrt();
    let coef = max_norm / (total + 1e-6);
    if coef < 1.0 {
        let scaled: Vec<Tensor> = no_grad(|| grads.iter().map(|(_, g)| g * coef).collect());
        kiln_core::eval::evaluate(&scaled)?;
        for ((p, _), g) in grads.iter().zip(scaled) {
            p.set_grad(Some(g));
        }
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
