//! JAX/MLX-style transforms: `grad`, `value_and_grad` (with or without
//! auxiliary outputs) and `vjp`, over functions of trees of tensors.
//!
//! A transform wraps each input tensor in a fresh tracked node, runs the
//! function (its Rust code runs once per call), and walks the recorded graph
//! back from the output. Transforms nest: inside an outer transform the VJP
//! itself is recorded, so `grad(grad(f))` works; at the outermost level the
//! VJP runs without recording and results are detached, so nothing keeps
//! the forward graph alive once the results are evaluated.

use super::backprop::{backprop, Targets};
use super::tree::Tree;
use crate::error::{Error, Result};
use crate::ops::creation::{ones, zeros};
use crate::primitive::Primitive;
use crate::tensor::{enable_grad, with_grad_mode, Tensor};
use std::cell::Cell;
use std::collections::HashSet;

thread_local! {
    /// How many transforms enclose the current code.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// The inputs of one transform: the user's tensors wrapped in tracked nodes.
struct Traced<A> {
    args: A,
    inputs: Vec<Tensor>,
    ids: HashSet<u64>,
}

/// Wraps every leaf of `args` in a tracked identity node.
fn trace_inputs<A: Tree>(args: &A, what: &str) -> Result<Traced<A>> {
    let leaves = args.flatten();
    for (i, t) in leaves.iter().enumerate() {
        if !t.dtype().is_float() {
            return Err(Error::Invalid(format!(
                "{what}: cannot differentiate with respect to leaf {i} of dtype {} (shape {:?}); \
                 only float tensors have gradients: wrap integer or bool inputs in Const(..)",
                t.dtype(),
                t.shape()
            )));
        }
    }
    let inputs: Vec<Tensor> = enable_grad(|| {
        leaves
            .iter()
            .map(|t| {
                let x = Tensor::from_op(Primitive::Reshape(t.shape().to_vec()), vec![t.clone()]);
                x.set_tracks_grad();
                x
            })
            .collect()
    });
    let ids = inputs.iter().map(Tensor::id).collect();
    let args = args.rebuild(&mut inputs.clone().into_iter());
    Ok(Traced { args, inputs, ids })
}

/// Runs `f` one transform level deeper, with gradient recording on.
fn run_nested<R>(f: impl FnOnce() -> R) -> R {
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            DEPTH.with(|d| d.set(d.get() - 1));
        }
    }
    DEPTH.with(|d| d.set(d.get() + 1));
    let _leave = Leave;
    enable_grad(f)
}

/// True when no transform encloses the current code.
fn outermost() -> bool {
    DEPTH.with(|d| d.get() == 0)
}

/// Results leave the outermost transform detached from its graph.
fn finish<T: Tree>(t: T) -> T {
    if outermost() {
        t.map_tensors(&mut |x| x.detach())
    } else {
        t
    }
}

/// Cotangents of `traced.inputs` given `(output, cotangent)` pairs; inputs
/// the outputs do not depend on get zeros.
fn pull_back<A: Tree>(traced: &Traced<A>, roots: &[(Tensor, Tensor)]) -> Result<A> {
    let record = !outermost();
    let result = with_grad_mode(record, || backprop(roots, Targets::Ids(&traced.ids)))?;
    let grads: Vec<Tensor> = with_grad_mode(record, || {
        traced
            .inputs
            .iter()
            .map(|x| {
                result
                    .grads
                    .get(&x.id())
                    .cloned()
                    .unwrap_or_else(|| zeros(x.shape(), x.dtype()))
            })
            .collect()
    });
    Ok(finish(traced.args.rebuild(&mut grads.into_iter())))
}

fn check_scalar(out: &Tensor, what: &str) -> Result<()> {
    if !out.dtype().is_float() || out.numel() != 1 {
        return Err(Error::Invalid(format!(
            "{what} needs a function returning a float scalar, got {}{:?}; \
             use vjp for other outputs",
            out.dtype(),
            out.shape()
        )));
    }
    Ok(())
}

/// `f` with its value and gradient: `value_and_grad(f)(&args)` returns
/// `(f(args), df/dargs)` with the gradient in the structure of `args`.
/// Leaves wrapped in [`Const`](super::tree::Const) are not differentiated.
pub fn value_and_grad<A: Tree, F: Fn(&A) -> Tensor>(f: F) -> impl Fn(&A) -> Result<(Tensor, A)> {
    move |args: &A| {
        let traced = trace_inputs(args, "value_and_grad")?;
        let out = run_nested(|| f(&traced.args));
        check_scalar(&out, "value_and_grad")?;
        let seed = ones(out.shape(), out.dtype());
        let grads = pull_back(&traced, &[(out.clone(), seed)])?;
        Ok((finish(out), grads))
    }
}

/// The gradient of a scalar function, in the structure of its argument.
pub fn grad<A: Tree, F: Fn(&A) -> Tensor>(f: F) -> impl Fn(&A) -> Result<A> {
    let vg = value_and_grad(f);
    move |args: &A| vg(args).map(|(_, g)| g)
}

/// `value_and_grad` for a function that returns `(loss, aux)`: the
/// auxiliary outputs are returned, not differentiated (JAX's `has_aux`).
pub fn value_and_grad_with_aux<A: Tree, X: Tree, F: Fn(&A) -> (Tensor, X)>(
    f: F,
) -> impl Fn(&A) -> Result<((Tensor, X), A)> {
    move |args: &A| {
        let traced = trace_inputs(args, "value_and_grad_with_aux")?;
        let (out, aux) = run_nested(|| f(&traced.args));
        check_scalar(&out, "value_and_grad_with_aux")?;
        let seed = ones(out.shape(), out.dtype());
        let grads = pull_back(&traced, &[(out.clone(), seed)])?;
        Ok(((finish(out), finish(aux)), grads))
    }
}

/// The pull-back of a [`vjp`]: maps output cotangents to input cotangents.
pub struct VjpFn<A, O> {
    traced: Traced<A>,
    outputs: O,
}

impl<A: Tree, O: Tree> VjpFn<A, O> {
    /// Input cotangents for output cotangents `cts` (same structure, shapes
    /// and dtypes as the outputs).
    pub fn apply(&self, cts: &O) -> Result<A> {
        let outs = self.outputs.flatten();
        let cts = cts.flatten();
        if outs.len() != cts.len() {
            return Err(Error::Invalid(format!(
                "vjp: {} cotangents for {} outputs",
                cts.len(),
                outs.len()
            )));
        }
        let mut roots = vec![];
        for (i, (o, c)) in outs.iter().zip(&cts).enumerate() {
            if o.shape() != c.shape() {
                return Err(Error::Invalid(format!(
                    "vjp: cotangent {i} has shape {:?}, output has {:?}",
                    c.shape(),
                    o.shape()
                )));
            }
            if o.dtype().is_float() {
                roots.push((o.clone(), c.astype(o.dtype())));
            }
        }
        pull_back(&self.traced, &roots)
    }
}

/// Runs `f` at `args` and returns its outputs with the function that pulls
/// output cotangents back to the inputs (`jax.vjp`).
pub fn vjp<A: Tree, O: Tree, F: FnOnce(&A) -> O>(f: F, args: &A) -> Result<(O, VjpFn<A, O>)> {
    let traced = trace_inputs(args, "vjp")?;
    let outputs = run_nested(|| f(&traced.args));
    let shown = finish(outputs.rebuild(&mut outputs.flatten().into_iter()));
    Ok((shown, VjpFn { traced, outputs }))
}
