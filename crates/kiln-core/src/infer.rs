//! Shape and dtype rules: for each primitive, the output shape and dtype of
//! given inputs, or a message saying why the inputs are not allowed.
//!
//! Op construction calls [`infer`] and panics with the message (plus the
//! caller's line) when it fails, so misuse is reported where it is written.

use crate::dtype::{DType, Kind};
use crate::primitive::{BinaryOp, LastAxisOp, Primitive, ReduceOp, UnaryOp};
use crate::shape::{broadcastable_to, numel};

/// Shape and dtype of one input or output.
pub type Sig<'a> = (&'a [usize], DType);

/// Output shape and dtype of `prim` applied to `inputs`.
pub fn infer(prim: &Primitive, inputs: &[Sig]) -> Result<(Vec<usize>, DType), String> {
    use Primitive::*;
    let arity = match prim {
        Select | ScatterAdd(_) => 3,
        Binary(_) | Compare(_) | Gather(_) | Matmul => 2,
        Concat(_) | Custom(_) => inputs.len().max(1),
        _ => 1,
    };
    if inputs.len() != arity {
        return Err(format!("expects {arity} inputs, got {}", inputs.len()));
    }
    let (s0, d0) = inputs[0];
    match prim {
        Unary(op) => {
            let out = unary_dtype(*op, d0)?;
            Ok((s0.to_vec(), out))
        }
        Binary(op) => {
            same_shape_dtype(inputs)?;
            let ok = match op {
                BinaryOp::LogicalAnd | BinaryOp::LogicalOr => d0 == DType::Bool,
                BinaryOp::Maximum | BinaryOp::Minimum => true,
                _ => d0 != DType::Bool,
            };
            if !ok {
                return Err(format!("does not support dtype {d0}"));
            }
            Ok((s0.to_vec(), d0))
        }
        Compare(_) => {
            same_shape_dtype(inputs)?;
            Ok((s0.to_vec(), DType::Bool))
        }
        Select => {
            let (sa, da) = inputs[1];
            let (sb, db) = inputs[2];
            if d0 != DType::Bool {
                return Err(format!("condition must be bool, got {d0}"));
            }
            if s0 != sa || sa != sb {
                return Err(format!("shapes differ: {s0:?}, {sa:?}, {sb:?}"));
            }
            if da != db {
                return Err(format!("branch dtypes differ: {da} and {db}"));
            }
            Ok((sa.to_vec(), da))
        }
        Cast(d) => Ok((s0.to_vec(), *d)),
        StopGradient | DebugPrint(_) => Ok((s0.to_vec(), d0)),
        Custom(_) => {
            let (sy, dy) = inputs[inputs.len() - 1];
            Ok((sy.to_vec(), dy))
        }
        Reshape(shape) => {
            if numel(shape) != numel(s0) {
                return Err(format!(
                    "cannot reshape {s0:?} ({} elements) to {shape:?} ({} elements)",
                    numel(s0),
                    numel(shape)
                ));
            }
            Ok((shape.clone(), d0))
        }
        Permute(perm) => {
            let mut seen = vec![false; s0.len()];
            if perm.len() != s0.len() || perm.iter().any(|&p| p >= s0.len()) {
                return Err(format!(
                    "{perm:?} is not a permutation of {} axes",
                    s0.len()
                ));
            }
            for &p in perm {
                if std::mem::replace(&mut seen[p], true) {
                    return Err(format!("{perm:?} repeats axis {p}"));
                }
            }
            Ok((perm.iter().map(|&p| s0[p]).collect(), d0))
        }
        Broadcast(shape) => {
            if !broadcastable_to(s0, shape) {
                return Err(format!("cannot broadcast {s0:?} to {shape:?}"));
            }
            Ok((shape.clone(), d0))
        }
        Slice { start, step, shape } => {
            if start.len() != s0.len() || step.len() != s0.len() || shape.len() != s0.len() {
                return Err("params must have one entry per axis".into());
            }
            for i in 0..s0.len() {
                if step[i] == 0 {
                    return Err(format!("step along axis {i} is zero"));
                }
                if shape[i] > 0 {
                    let last = start[i] as isize + (shape[i] as isize - 1) * step[i];
                    if start[i] >= s0[i] || last < 0 || last >= s0[i] as isize {
                        return Err(format!("axis {i}: indices out of range for size {}", s0[i]));
                    }
                }
            }
            Ok((shape.clone(), d0))
        }
        Windows {
            window,
            stride,
            dilation,
        } => {
            let k = window.len();
            if k > s0.len() || stride.len() != k || dilation.len() != k {
                return Err(format!(
                    "window {window:?} does not fit input rank {}",
                    s0.len()
                ));
            }
            let lead = s0.len() - k;
            let mut out = s0[..lead].to_vec();
            for i in 0..k {
                let span = dilation[i] * (window[i].max(1) - 1) + 1;
                if window[i] == 0 || stride[i] == 0 || dilation[i] == 0 || s0[lead + i] < span {
                    return Err(format!(
                        "window {window:?} (dilation {dilation:?}) does not fit spatial dims {:?}",
                        &s0[lead..]
                    ));
                }
                out.push((s0[lead + i] - span) / stride[i] + 1);
            }
            out.extend_from_slice(window);
            Ok((out, d0))
        }
        WindowsAdjoint {
            window,
            stride,
            dilation,
            spatial,
        } => {
            let k = window.len();
            if s0.len() < 2 * k || spatial.len() != k || stride.len() != k || dilation.len() != k {
                return Err(
                    "params do not match the window rank, or the input rank is too small".into(),
                );
            }
            if window.contains(&0) || stride.contains(&0) || dilation.contains(&0) {
                return Err("window, stride and dilation must be positive".into());
            }
            let lead = s0.len() - 2 * k;
            for i in 0..k {
                let span = dilation[i] * (window[i].max(1) - 1) + 1;
                let o = if spatial[i] < span {
                    0
                } else {
                    (spatial[i] - span) / stride[i] + 1
                };
                if s0[lead + i] != o || s0[lead + k + i] != window[i] {
                    return Err(format!(
                        "input {s0:?} is not the windows of spatial {spatial:?}"
                    ));
                }
            }
            let mut out = s0[..lead].to_vec();
            out.extend_from_slice(spatial);
            Ok((out, d0))
        }
        Pad { lo, hi, .. } => {
            if lo.len() != s0.len() || hi.len() != s0.len() {
                return Err("pad widths must have one entry per axis".into());
            }
            Ok(((0..s0.len()).map(|i| s0[i] + lo[i] + hi[i]).collect(), d0))
        }
        Concat(axis) => {
            if *axis >= s0.len() {
                return Err(format!("axis {axis} out of range for rank {}", s0.len()));
            }
            let mut out = s0.to_vec();
            out[*axis] = 0;
            for (s, d) in inputs {
                if *d != d0 {
                    return Err(format!("dtypes differ: {d0} and {d}"));
                }
                if s.len() != s0.len() || (0..s0.len()).any(|i| i != *axis && s[i] != s0[i]) {
                    return Err(format!(
                        "shapes {s0:?} and {s:?} differ outside axis {axis}"
                    ));
                }
                out[*axis] += s[*axis];
            }
            Ok((out, d0))
        }
        Gather(axis) => {
            let (si, di) = inputs[1];
            check_index(di)?;
            if *axis >= s0.len() || si.len() != s0.len() {
                return Err(format!("index shape {si:?} does not match input {s0:?}"));
            }
            if (0..s0.len()).any(|i| i != *axis && si[i] != s0[i]) {
                return Err(format!(
                    "index shape {si:?} must equal input shape {s0:?} outside axis {axis}"
                ));
            }
            if s0[*axis] == 0 && numel(si) > 0 {
                return Err(format!("cannot gather from an empty axis {axis}"));
            }
            Ok((si.to_vec(), d0))
        }
        ScatterAdd(axis) => {
            let (si, di) = inputs[1];
            let (ss, ds) = inputs[2];
            check_index(di)?;
            if ds != d0 || d0 == DType::Bool {
                return Err(format!(
                    "source dtype {ds} must equal base dtype {d0} (not bool)"
                ));
            }
            if si != ss {
                return Err(format!("index shape {si:?} and source shape {ss:?} differ"));
            }
            if *axis >= s0.len()
                || si.len() != s0.len()
                || (0..s0.len()).any(|i| i != *axis && si[i] != s0[i])
            {
                return Err(format!(
                    "index shape {si:?} must equal base shape {s0:?} outside axis {axis}"
                ));
            }
            Ok((s0.to_vec(), d0))
        }
        Reduce { op, axes } => {
            if matches!(op, ReduceOp::Sum | ReduceOp::Prod) && d0 == DType::Bool {
                return Err("cannot sum or multiply bools; cast first".into());
            }
            let mut out = s0.to_vec();
            let mut last = None;
            for &a in axes {
                if a >= s0.len() || last.is_some_and(|l| l >= a) {
                    return Err(format!("bad axes {axes:?} for rank {}", s0.len()));
                }
                last = Some(a);
                out[a] = 1;
            }
            Ok((out, d0))
        }
        ArgReduce { axis, .. } => {
            if *axis >= s0.len() {
                return Err(format!("axis {axis} out of range for rank {}", s0.len()));
            }
            if s0[*axis] == 0 {
                return Err(format!("axis {axis} is empty"));
            }
            let mut out = s0.to_vec();
            out[*axis] = 1;
            Ok((out, DType::I64))
        }
        Scan { axis, .. } => {
            if *axis >= s0.len() || d0 == DType::Bool {
                return Err(format!("bad axis {axis} or dtype {d0}"));
            }
            Ok((s0.to_vec(), d0))
        }
        Argsort { axis, .. } => {
            if *axis >= s0.len() {
                return Err(format!("axis {axis} out of range for rank {}", s0.len()));
            }
            Ok((s0.to_vec(), DType::I64))
        }
        LastAxis(op) => {
            if !d0.is_float() {
                return Err(format!("does not support dtype {d0} (float dtypes only)"));
            }
            if s0.is_empty() {
                return Err("needs an input of rank >= 1 (it works along the last axis)".into());
            }
            let mut out = s0.to_vec();
            if *op == LastAxisOp::LogSumExp {
                *out.last_mut().unwrap() = 1;
            }
            Ok((out, d0))
        }
        Matmul => {
            let (s1, d1) = inputs[1];
            if d0 != d1 || d0 == DType::Bool {
                return Err(format!("dtypes {d0} and {d1} must be equal and numeric"));
            }
            let r = s0.len();
            if r < 2 || s1.len() != r || s0[..r - 2] != s1[..r - 2] || s0[r - 1] != s1[r - 2] {
                return Err(format!(
                    "shapes {s0:?} and {s1:?} are not [..., m, k] x [..., k, n]"
                ));
            }
            let mut out = s0[..r - 1].to_vec();
            out.push(s1[r - 1]);
            Ok((out, d0))
        }
        Random { shape, dtype, .. } => {
            if d0 != DType::U32 || s0 != [2] {
                return Err(format!("key must be u32[2], got {d0}{s0:?}"));
            }
            if !dtype.is_float() {
                return Err(format!("random numbers need a float dtype, got {dtype}"));
            }
            Ok((shape.clone(), *dtype))
        }
    }
}

fn unary_dtype(op: UnaryOp, d: DType) -> Result<DType, String> {
    use UnaryOp::*;
    let (ok, out) = match op {
        Neg | Abs | Sign => (d != DType::Bool, d),
        LogicalNot => (d == DType::Bool, d),
        IsNan | IsInf => (d.is_float(), DType::Bool),
        _ => (d.is_float(), d),
    };
    if ok {
        Ok(out)
    } else {
        Err(format!("does not support dtype {d}"))
    }
}

fn same_shape_dtype(inputs: &[Sig]) -> Result<(), String> {
    let (s0, d0) = inputs[0];
    let (s1, d1) = inputs[1];
    if s0 != s1 {
        return Err(format!(
            "shapes differ: {s0:?} and {s1:?} (broadcast first)"
        ));
    }
    if d0 != d1 {
        return Err(format!("dtypes differ: {d0} and {d1} (cast first)"));
    }
    Ok(())
}

fn check_index(d: DType) -> Result<(), String> {
    if d.kind() == Kind::Int {
        Ok(())
    } else {
        Err(format!("indices must be integers, got {d}"))
    }
}
