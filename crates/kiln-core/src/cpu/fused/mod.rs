//! Fused kernels: elementwise chains (and an elementwise prologue and
//! epilogue around a reduction) run as one pass over memory.
//!
//! The fusion pass ([`crate::fusion`]) describes each group of ops as a
//! [`FusedGraph`]; [`compile`] turns it into a [`TileProgram`] and
//! [`run_elementwise`] / [`reduce::run_reduce`] execute it: the iteration
//! space is cut into tiles of at most [`tile::TILE`] elements, spread over
//! threads in chunks, and every instruction runs as a SIMD loop over one
//! tile held in L1. On AVX-512 CPUs, elementwise programs over f32 run as
//! generated machine code instead ([`native`]): one loop computing the
//! whole program 16 elements at a time. Compiled programs are cached by
//! graph ([`cached`]), so eager code and jitted code share kernels.

pub mod layout;
pub mod native;
pub mod program;
pub mod reduce;
#[cfg(test)]
mod tests;
pub mod tile;

pub use program::{compile, is_fusible, FusedGraph, FusedOp, Lane, Operand, TileProgram};

use crate::array::Array;
use crate::cpu::elementwise::PARALLEL_THRESHOLD;
use crate::cpu::workers::par_items;
use crate::shape::numel;
use layout::{recycle, tile_views, Gathered, Walk};
use native::NativeKernel;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use tile::{run_tile, InView, OutSlice, Regs, TileCtx, View, TILE};

/// Elements per parallel task (a multiple of the tile size).
pub const CHUNK: usize = 1 << 14;

/// At most this many compiled programs are cached.
const CACHE_LIMIT: usize = 4096;

/// The compiled program of `g`, from the process-wide kernel cache.
pub fn cached(g: &FusedGraph) -> Arc<TileProgram> {
    static CACHE: OnceLock<Mutex<HashMap<FusedGraph, Arc<TileProgram>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(p) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(g) {
        return p.clone();
    }
    let p = Arc::new(compile(g));
    let mut c = cache.lock().unwrap_or_else(|e| e.into_inner());
    if c.len() >= CACHE_LIMIT {
        c.clear();
    }
    c.insert(g.clone(), p.clone());
    p
}

/// Scratch space of one thread: registers and gather buffers.
#[derive(Default)]
pub(crate) struct Scratch {
    pub regs: Regs,
    pub gathered: Gathered,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Runs `f` with this thread's scratch space (a fresh one if it is in use).
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut s) => f(&mut s),
        Err(_) => f(&mut Scratch::default()),
    })
}

/// An output vector of a fused kernel.
pub(crate) enum OutVec {
    F32(Vec<f32>),
    F64(Vec<f64>),
    Bool(Vec<bool>),
}

impl OutVec {
    pub(crate) fn new(lane: Lane, n: usize) -> OutVec {
        match lane {
            Lane::F32 => OutVec::F32(crate::pool::take(n)),
            Lane::F64 => OutVec::F64(crate::pool::take(n)),
            Lane::Bool => OutVec::Bool(crate::pool::take(n)),
        }
    }

    /// Consecutive mutable pieces of `chunk` elements.
    pub(crate) fn chunks(&mut self, chunk: usize) -> Vec<OutSlice<'_>> {
        match self {
            OutVec::F32(v) => v.chunks_mut(chunk).map(OutSlice::F32).collect(),
            OutVec::F64(v) => v.chunks_mut(chunk).map(OutSlice::F64).collect(),
            OutVec::Bool(v) => v.chunks_mut(chunk).map(OutSlice::Bool).collect(),
        }
    }

    /// The lane type of the elements.
    pub(crate) fn lane(&self) -> Lane {
        match self {
            OutVec::F32(_) => Lane::F32,
            OutVec::F64(_) => Lane::F64,
            OutVec::Bool(_) => Lane::Bool,
        }
    }

    /// The buffer of `a` to write into, if `a` holds `n` elements of a lane
    /// type contiguously from offset 0 and no one else holds its buffer.
    pub(crate) fn from_array(a: Array, n: usize) -> Result<OutVec, Array> {
        if a.offset() != 0 || !a.is_contiguous() || a.buffer().len() != n {
            return Err(a);
        }
        let shape = a.shape().to_vec();
        match a.into_buffer() {
            Ok(mut b) => {
                use crate::buffer::BufferElement;
                let v = match b.dtype() {
                    crate::DType::F32 => {
                        f32::vec_mut(&mut b).map(|v| OutVec::F32(std::mem::take(v)))
                    }
                    crate::DType::F64 => {
                        f64::vec_mut(&mut b).map(|v| OutVec::F64(std::mem::take(v)))
                    }
                    crate::DType::Bool => {
                        bool::vec_mut(&mut b).map(|v| OutVec::Bool(std::mem::take(v)))
                    }
                    _ => None,
                };
                match v {
                    Some(v) => Ok(v),
                    None => Err(Array::new(b, shape)),
                }
            }
            Err(a) => Err(a),
        }
    }

    pub(crate) fn into_array(self, shape: &[usize]) -> Array {
        match self {
            OutVec::F32(v) => Array::from_vec(v, shape.to_vec()),
            OutVec::F64(v) => Array::from_vec(v, shape.to_vec()),
            OutVec::Bool(v) => Array::from_vec(v, shape.to_vec()),
        }
    }
}

/// The sub-slice `start..start + len` of a task's output slice.
pub(crate) fn sub<'s>(o: &'s mut OutSlice<'_>, start: usize, len: usize) -> OutSlice<'s> {
    match o {
        OutSlice::F32(s) => OutSlice::F32(&mut s[start..start + len]),
        OutSlice::F64(s) => OutSlice::F64(&mut s[start..start + len]),
        OutSlice::Bool(s) => OutSlice::Bool(&mut s[start..start + len]),
        OutSlice::None => OutSlice::None,
    }
}

/// `o` split into consecutive pieces of `chunk` elements.
pub(crate) fn chunk_slice(o: OutSlice<'_>, chunk: usize) -> Vec<OutSlice<'_>> {
    match o {
        OutSlice::F32(s) => s.chunks_mut(chunk).map(OutSlice::F32).collect(),
        OutSlice::F64(s) => s.chunks_mut(chunk).map(OutSlice::F64).collect(),
        OutSlice::Bool(s) => s.chunks_mut(chunk).map(OutSlice::Bool).collect(),
        OutSlice::None => vec![],
    }
}

/// Runs `prog` over flat positions `start..end` of `walk`, writing into
/// `outs` (each covering exactly that range). `donor` names the output
/// whose buffer holds the input that is `None` in `inputs`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_range(
    prog: &TileProgram,
    walk: &Walk,
    inputs: &[Option<&Array>],
    start: usize,
    end: usize,
    outs: &mut [OutSlice],
    donor: Option<usize>,
    scratch: &mut Scratch,
    native: Option<&NativeKernel>,
) {
    scratch.regs.reserve(prog.regs);
    scratch.gathered.reserve(inputs.len());
    let Scratch { regs, gathered } = scratch;
    if let Some(kernel) = native {
        let last = walk.dims.len() - 1;
        if walk.strides.iter().all(|s| matches!(s[last], 0 | 1)) {
            return run_native_tiles(kernel, walk, inputs, start, end, outs, donor);
        }
    }
    // One allocation each for the whole range, refilled per tile.
    let mut views_store: Vec<InView<'static>> = Vec::with_capacity(inputs.len());
    let mut outs_store: Vec<OutSlice<'static>> = Vec::with_capacity(outs.len());
    let mut args = vec![];
    let each_tile = |f: &mut dyn FnMut(usize, usize, usize)| match native {
        Some(_) => walk.for_each_tile(start, end, f),
        None => walk.for_each_group(start, end, f),
    };
    each_tile(&mut |row, col, len| {
        let at = row * walk.row_len() + col - start;
        let mut views: Vec<InView> = recycle(std::mem::take(&mut views_store));
        {
            let donor_tile = donor.map(|o| sub(&mut outs[o], at, len));
            let tile = (row, col, len);
            tile_views(
                walk,
                inputs,
                tile,
                gathered,
                donor_tile.as_ref(),
                &mut views,
            );
        }
        let mut tile_outs: Vec<OutSlice> = recycle(std::mem::take(&mut outs_store));
        tile_outs.extend(outs.iter_mut().map(|o| sub(o, at, len)));
        if let Some(kernel) = native {
            run_native(kernel, &views, &mut tile_outs, len, &mut args);
        } else {
            layout::prefetch_following(&views);
            let mut ctx = TileCtx {
                regs,
                inputs: &views,
                outs: &mut tile_outs,
                len,
            };
            run_tile(prog, &mut ctx);
        }
        views_store = recycle(views);
        outs_store = recycle(tile_outs);
    });
}

/// Runs a native kernel over positions `start..end` of a walk whose every
/// input is unit-stride or one repeated value along the row (e.g. a
/// softmax gradient reading each row's sum broadcast over it), on
/// pointers straight into the buffers, no views: one call for the whole
/// range when the walk is one row and nothing is donated, else one per
/// tile. Rows of 10 elements cost 86 ns each through the views, most of a
/// [512, 10] kernel's time. The donated input (the `None` one, whose
/// buffer output `donor` took) is read from a copy of the tile, since the
/// kernel may store an output before it loads every input.
fn run_native_tiles(
    kernel: &NativeKernel,
    walk: &Walk,
    inputs: &[Option<&Array>],
    start: usize,
    end: usize,
    outs: &mut [OutSlice],
    donor: Option<usize>,
) {
    let last = walk.dims.len() - 1;
    let mut copy = vec![0f32; if donor.is_some() { TILE } else { 0 }];
    let srcs: Vec<Option<&[f32]>> = inputs
        .iter()
        .map(|a| a.map(|a| a.buffer().as_slice::<f32>()))
        .collect();
    let dsts: Vec<*mut f32> = outs
        .iter_mut()
        .map(|o| match o {
            OutSlice::F32(s) => {
                assert_eq!(
                    s.len(),
                    end - start,
                    "kiln internal error: fused output length"
                );
                s.as_mut_ptr()
            }
            _ => unreachable!("kiln internal error: native kernel on a non-f32 output"),
        })
        .collect();
    let splat: Vec<bool> = walk.strides.iter().map(|s| s[last] == 0).collect();
    let mut args: Vec<*mut u8> = Vec::with_capacity(srcs.len() + dsts.len());
    let mut call = |row: usize, col: usize, len: usize| {
        args.clear();
        let at = row * walk.row_len() + col - start;
        for (k, src) in srcs.iter().enumerate() {
            let Some(src) = src else {
                let d = dsts[donor.expect("a donated input has its output")];
                // SAFETY: output `d` covers `at..at + len` (see below) and
                // nothing writes it during the copy.
                let tile = unsafe { std::slice::from_raw_parts(d.add(at), len) };
                copy[..len].copy_from_slice(tile);
                args.push(copy.as_mut_ptr() as *mut u8);
                continue;
            };
            let step = walk.strides[k][last];
            let pos = walk.row_offset(k, row) + col as isize * step;
            let reach = if step == 0 { 1 } else { len };
            assert!(
                pos >= 0 && pos as usize + reach <= src.len(),
                "kiln internal error: fused input out of bounds"
            );
            args.push(src[pos as usize..].as_ptr() as *mut u8);
        }
        args.extend(dsts.iter().map(|p| p.wrapping_add(at) as *mut u8));
        // SAFETY: the kernel was compiled for this program and this walk's
        // splat pattern (inputs repeated along the row are splats, read
        // once through their pointer); each unit-stride pointer covers
        // `len` elements (checked above), each output `len` elements of
        // its fresh or donated buffer (`at + len <= end - start`), never
        // an input (a donated input is read from its copy).
        match kernel.streams() {
            true => run_streaming(kernel, &mut args, &splat, len),
            false => unsafe { kernel.run(&args, len) },
        }
    };
    if walk.dims.len() == 1 && donor.is_none() {
        call(0, start, end - start);
    } else {
        walk.for_each_tile(start, end, call);
    }
}

/// The native kernel of `prog` for this walk's splat inputs (inputs that
/// repeat one value along the row), if there is one; a streaming one when
/// the outputs of the whole call total [`native::STREAM_BYTES`] or more.
fn native_kernel(
    prog: &TileProgram,
    walk: &Walk,
    inputs: &[Option<&Array>],
) -> Option<Arc<NativeKernel>> {
    if inputs.len() > native::MAX_INPUTS {
        return None;
    }
    let last = walk.dims.len() - 1;
    let splats = (0..inputs.len())
        .filter(|&k| inputs[k].is_some() && walk.strides[k][last] == 0)
        .fold(0u64, |m, k| m | 1 << k);
    let out_bytes = walk.dims.iter().product::<usize>() * prog.outputs.len() * 4;
    prog.native
        .get(prog, splats, out_bytes >= native::STREAM_BYTES)
}

/// Runs a native kernel over `len` elements: `views` and `outs` are the
/// program's f32 inputs and outputs for those elements; `args` is reused
/// space for the pointer table.
fn run_native(
    kernel: &NativeKernel,
    views: &[InView],
    outs: &mut [OutSlice],
    len: usize,
    args: &mut Vec<*mut u8>,
) {
    // Splat values live here for the call (the kernel reads each once).
    let mut splat_values = [0f32; native::MAX_INPUTS];
    args.clear();
    for (k, v) in views.iter().enumerate() {
        args.push(match *v {
            InView::F32(View::Slice(s)) => {
                assert!(s.len() >= len, "kiln internal error: short fused input");
                s.as_ptr() as *mut u8
            }
            InView::F32(View::Splat(x)) => {
                splat_values[k] = x;
                std::ptr::null_mut()
            }
            _ => unreachable!("kiln internal error: native kernel on a non-f32 input"),
        });
    }
    for (k, p) in args.iter_mut().enumerate() {
        if p.is_null() {
            *p = &mut splat_values[k] as *mut f32 as *mut u8;
        }
    }
    for o in outs.iter_mut() {
        match o {
            OutSlice::F32(s) => {
                assert!(s.len() >= len, "kiln internal error: short fused output");
                args.push(s.as_mut_ptr() as *mut u8);
            }
            _ => unreachable!("kiln internal error: native kernel on a non-f32 output"),
        }
    }
    if kernel.streams() {
        let splat: Vec<bool> = views
            .iter()
            .map(|v| matches!(v, InView::F32(View::Splat(_))))
            .collect();
        return run_streaming(kernel, args, &splat, len);
    }
    // SAFETY: the kernel was compiled for this program and this splat
    // pattern; every pointer covers `len` elements (or is a splat's one
    // value) and outputs are distinct fresh or donated buffers, never an
    // input (a donated input is read from a copy).
    unsafe { kernel.run(args, len) }
}

/// Runs a kernel's streaming form over the pointers in `args` (inputs,
/// of which `splat[k]` are one repeated value, then outputs): the
/// elements before the outputs' next 64-byte boundary with the plain
/// form, the rest from there with the streaming one. Outputs that do not
/// share one alignment all take the plain form.
fn run_streaming(kernel: &NativeKernel, args: &mut [*mut u8], splat: &[bool], len: usize) {
    let skew = |p: &*mut u8| *p as usize % 64;
    let outs = &args[splat.len()..];
    let first = skew(&outs[0]);
    if !outs.iter().all(|p| skew(p) == first) {
        // SAFETY: as in `run_native`.
        return unsafe { kernel.run(args, len) };
    }
    // f32 pointers are 4-byte aligned.
    let head = ((64 - first) % 64 / 4).min(len);
    // SAFETY: as in `run_native`, over the first `head` elements.
    unsafe { kernel.run(args, head) };
    for (k, p) in args.iter_mut().enumerate() {
        if !splat.get(k).copied().unwrap_or(false) {
            *p = p.wrapping_add(4 * head);
        }
    }
    // SAFETY: as in `run_native`, over the other `len - head` elements,
    // with every output pointer now 64-byte aligned.
    unsafe { kernel.run_streaming(args, len - head) };
}

/// Runs a fused elementwise program over inputs of shape `shape` (any
/// layouts) and returns its outputs as contiguous arrays. Above
/// [`PARALLEL_THRESHOLD`] elements the work is split over threads in
/// [`CHUNK`]-element pieces. With `donate = Some((k, o))`, output `o` is
/// written into input `k`'s buffer when that input is contiguous and no
/// one else holds it (it is read tile by tile before being overwritten).
pub fn run_elementwise(
    prog: &TileProgram,
    shape: &[usize],
    inputs: Vec<Array>,
    donate: Option<(usize, usize)>,
) -> Vec<Array> {
    debug_assert_eq!(prog.inputs.len(), inputs.len());
    let n = numel(shape);
    let mut inputs: Vec<Option<Array>> = inputs.into_iter().map(Some).collect();
    let mut donated: Option<(usize, OutVec)> = None;
    if let Some((k, o)) = donate {
        let a = inputs[k].take().expect("inputs are present");
        match OutVec::from_array(a, n) {
            Ok(v) if prog.outputs[o] == v.lane() => donated = Some((o, v)),
            Ok(v) => inputs[k] = Some(v.into_array(shape)),
            Err(a) => inputs[k] = Some(a),
        }
    }
    let donor = donated.as_ref().map(|(o, _)| *o);
    let mut outs: Vec<OutVec> = vec![];
    let mut donated = donated.map(|(_, v)| v);
    for (o, &l) in prog.outputs.iter().enumerate() {
        match (donor, donated.take()) {
            (Some(d), Some(v)) if d == o => outs.push(v),
            (_, v) => {
                donated = v;
                outs.push(OutVec::new(l, n));
            }
        }
    }
    let refs: Vec<Option<&Array>> = inputs.iter().map(Option::as_ref).collect();
    if n > 0 {
        let walk = Walk::new(shape, &refs);
        let native = native_kernel(prog, &walk, &refs);
        let native = native.as_deref();
        if n >= PARALLEL_THRESHOLD {
            let mut tasks: Vec<Vec<OutSlice>> = (0..n.div_ceil(CHUNK)).map(|_| vec![]).collect();
            for o in outs.iter_mut() {
                for (t, c) in o.chunks(CHUNK).into_iter().enumerate() {
                    tasks[t].push(c);
                }
            }
            par_items(tasks, |t, mut o| {
                let start = t * CHUNK;
                let end = (start + CHUNK).min(n);
                with_scratch(|s| {
                    run_range(prog, &walk, &refs, start, end, &mut o, donor, s, native)
                });
            });
        } else {
            let mut o: Vec<OutSlice> = outs.iter_mut().map(|o| o.chunks(n).remove(0)).collect();
            with_scratch(|s| run_range(prog, &walk, &refs, 0, n, &mut o, donor, s, native));
        }
    }
    outs.into_iter().map(|o| o.into_array(shape)).collect()
}
