//! The CPU runtime: one kernel per primitive.
//!
//! [`execute`] is the only entry point: it maps a primitive and its evaluated
//! inputs to the evaluated output. Views return new layouts over the input
//! buffer; every other kernel writes a fresh contiguous buffer.

pub mod blas;
pub mod elementwise;
pub mod fused;
pub mod matmul;
pub mod movement;
pub mod reduce;
pub mod rows;
pub mod scalar;
pub mod simd;
pub mod vmath;
pub mod workers;

use crate::array::Array;
use crate::dtype::DType;
use crate::primitive::Primitive;

/// Runs `prim` on `inputs`; `out_shape`/`out_dtype` are what `infer` gave.
/// Errors are data-dependent failures (an index out of range).
pub fn execute(
    prim: &Primitive,
    inputs: &[Array],
    out_shape: &[usize],
    out_dtype: DType,
) -> Result<Array, String> {
    use Primitive::*;
    let x = &inputs[0];
    Ok(match prim {
        Unary(op) => elementwise::unary(*op, x),
        Binary(op) => elementwise::binary(*op, x, &inputs[1]),
        Compare(op) => elementwise::compare(*op, x, &inputs[1]),
        Select => elementwise::select(x, &inputs[1], &inputs[2]),
        Cast(d) => elementwise::cast(x, *d),
        Random { dist, shape, dtype } => elementwise::random(x, *dist, shape, *dtype),
        StopGradient => x.clone(),
        DebugPrint(fmt) => {
            crate::display::debug_print(fmt, x);
            x.clone()
        }
        Custom(_) => inputs[inputs.len() - 1].clone(),
        Reshape(shape) => x.reshape(shape),
        Permute(perm) => x.permute(perm),
        Broadcast(shape) => x.broadcast_to(shape),
        Slice { start, step, shape } => x.slice(start, step, shape),
        Windows {
            window,
            stride,
            dilation,
        } => x.windows(out_shape, window, stride, dilation),
        WindowsAdjoint {
            window,
            stride,
            dilation,
            ..
        } => movement::windows_adjoint(x, window, stride, dilation, out_shape),
        Pad { lo, value, .. } => movement::pad(x, lo, out_shape, *value),
        Concat(axis) => movement::concat(inputs, *axis, out_shape),
        Gather(axis) => movement::gather(x, &inputs[1], *axis)?,
        ScatterAdd(axis) => movement::scatter_add(x, &inputs[1], &inputs[2], *axis)?,
        Reduce { op, axes } => reduce::reduce(x, *op, axes, out_shape),
        ArgReduce { op, axis } => reduce::arg_reduce(x, *op, *axis, out_shape),
        Scan { op, axis, reverse } => reduce::scan(x, *op, *axis, *reverse),
        Argsort { axis, descending } => reduce::argsort(x, *axis, *descending),
        LastAxis(op) => rows::last_axis(x, *op, out_shape),
        Matmul => matmul::matmul(x, &inputs[1], out_shape),
    })
    .inspect(|a: &Array| debug_assert_eq!(a.dtype(), out_dtype))
}
