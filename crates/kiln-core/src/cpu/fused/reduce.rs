//! Fused reductions: an elementwise prologue computed tile by tile and
//! folded straight into accumulators (its intermediates never reach
//! memory), then an elementwise epilogue over the (small) result.
//!
//! The input shape is seen as `[outer, reduced, inner]` (the reduced axes
//! must be consecutive once size-1 dims are ignored; see [`split`]). Rows
//! (`inner == 1`) fold into [`LANES`] lane accumulators as the unfused
//! kernel does; columns (`inner > 1`) accumulate whole tiles, reduced row
//! after reduced row.

use super::layout::Walk;
use super::program::{Lane, TileProgram};
use super::tile::{OutSlice, TILE};
use super::{chunk_slice, run_elementwise, run_range, sub, with_scratch, OutVec, Scratch};
use crate::array::Array;
use crate::cpu::elementwise::PARALLEL_THRESHOLD;
use crate::cpu::scalar::{Num, Ordered};
use crate::cpu::simd::{self, LANES};
use crate::cpu::workers::par_items;
use crate::primitive::ReduceOp;
use crate::shape::numel;
use std::sync::Arc;

/// A fused reduction kernel.
#[derive(Clone, Debug)]
pub struct ReduceKernel {
    /// Runs over the input shape; its output 0 is the value reduced, its
    /// other outputs are stored (intermediates needed elsewhere).
    pub prologue: Arc<TileProgram>,
    /// The reduction.
    pub op: ReduceOp,
    /// Runs over the output shape with input 0 the reduced value and the
    /// kernel's epilogue inputs after it.
    pub epilogue: Option<Arc<TileProgram>>,
}

/// `shape` reduced over `axes` seen as `(outer, reduced, inner)` element
/// counts, if the axes are consecutive once size-1 dims are ignored.
pub fn split(shape: &[usize], axes: &[usize]) -> Option<(usize, usize, usize)> {
    let (mut o, mut r, mut i) = (1usize, 1usize, 1usize);
    let mut phase = 0; // 0: outer, 1: reduced, 2: inner
    for (d, &n) in shape.iter().enumerate() {
        if n == 1 {
            continue;
        }
        let reduced = axes.contains(&d);
        match (phase, reduced) {
            (0, false) => o *= n,
            (0 | 1, true) => {
                phase = 1;
                r *= n;
            }
            (1 | 2, false) => {
                phase = 2;
                i *= n;
            }
            (2, true) => return None,
            _ => unreachable!(),
        }
    }
    Some((o, r, i))
}

/// Elements per part when few long rows are split over threads (as the
/// unfused kernel splits them, so sums agree bitwise).
const PART: usize = 1 << 15;

/// Runs a fused reduction. `shape` is the prologue's iteration shape,
/// `layout` its [`split`], `out_shape` the reduced shape (axes kept with
/// size 1). Returns the prologue's stored outputs, then the reduced value,
/// then the epilogue's outputs.
pub fn run_reduce(
    k: &ReduceKernel,
    shape: &[usize],
    layout: (usize, usize, usize),
    out_shape: &[usize],
    inputs: &[&Array],
    epilogue_inputs: &[&Array],
) -> Vec<Array> {
    let lane = k.prologue.outputs[0];
    let mut stores: Vec<OutVec> = k.prologue.outputs[1..]
        .iter()
        .map(|&l| OutVec::new(l, numel(shape)))
        .collect();
    let refs: Vec<Option<&Array>> = inputs.iter().map(|&a| Some(a)).collect();
    let walk = Walk::new(shape, &refs);
    let reduced = match lane {
        Lane::F32 => OutVec::F32(fold::<f32>(k, &walk, layout, &refs, &mut stores)),
        Lane::F64 => OutVec::F64(fold::<f64>(k, &walk, layout, &refs, &mut stores)),
        Lane::Bool => unreachable!("kiln internal error: fused bool reduction"),
    };
    let mut out: Vec<Array> = stores.into_iter().map(|s| s.into_array(shape)).collect();
    let reduced = reduced.into_array(out_shape);
    if let Some(epi) = &k.epilogue {
        let mut ins = vec![reduced.clone()];
        ins.extend(epilogue_inputs.iter().map(|&a| a.clone()));
        let epi_out = run_elementwise(epi, out_shape, ins, None);
        out.push(reduced.clone());
        out.extend(epi_out);
    } else {
        out.push(reduced);
    }
    out
}

/// Lane types a reduction folds: f32 and f64.
trait Reduced: Num + super::tile::LaneType + crate::buffer::BufferElement {
    fn out_slice(s: &mut [Self]) -> OutSlice<'_>;
}
impl Reduced for f32 {
    fn out_slice(s: &mut [Self]) -> OutSlice<'_> {
        OutSlice::F32(s)
    }
}
impl Reduced for f64 {
    fn out_slice(s: &mut [Self]) -> OutSlice<'_> {
        OutSlice::F64(s)
    }
}

simd::dispatched! {
    /// Folds `src` into lane accumulators (`acc[i]` takes elements `i, i +
    /// LANES, ...`, the tail goes to lane 0), as the unfused row kernel does.
    fn fold_lanes_into<T, F>(acc: &mut [T; LANES], src: &[T], f: &F)
    where [T: Copy, F: Fn(T, T) -> T]
    {
        let chunks = src.chunks_exact(LANES);
        let tail = chunks.remainder();
        for c in chunks {
            for i in 0..LANES {
                acc[i] = f(acc[i], c[i]);
            }
        }
        for &x in tail {
            acc[0] = f(acc[0], x);
        }
    }
}

/// Runs the prologue over flat positions `start..end` tile by tile, handing
/// each tile's reduced values to `sink(flat_position, values)`. `stores`
/// cover flat positions from `store_base`.
#[allow(clippy::too_many_arguments)]
fn prologue_tiles<T: Reduced>(
    prog: &TileProgram,
    walk: &Walk,
    inputs: &[Option<&Array>],
    (start, end): (usize, usize),
    stores: &mut [OutSlice],
    store_base: usize,
    scratch: &mut Scratch,
    mut sink: impl FnMut(usize, &[T]),
) {
    let mut tile = [T::default(); TILE];
    walk.for_each_group(start, end, |row, col, len| {
        let pos = row * walk.row_len() + col;
        {
            let mut outs: Vec<OutSlice> = Vec::with_capacity(stores.len() + 1);
            outs.push(T::out_slice(&mut tile[..len]));
            for s in stores.iter_mut() {
                outs.push(sub(s, pos - store_base, len));
            }
            run_range(
                prog,
                walk,
                inputs,
                pos,
                pos + len,
                &mut outs,
                None,
                scratch,
                None,
            );
        }
        sink(pos, &tile[..len]);
    });
}

/// Splits a task's stored outputs into per-piece slices of `chunk` elements.
fn split_stores<'a>(
    stores: Vec<OutSlice<'a>>,
    chunk: usize,
    pieces: usize,
) -> Vec<Vec<OutSlice<'a>>> {
    let mut out: Vec<Vec<OutSlice>> = (0..pieces).map(|_| vec![]).collect();
    for s in stores {
        for (p, c) in chunk_slice(s, chunk).into_iter().enumerate() {
            out[p].push(c);
        }
    }
    out
}

/// The reduction for lane type `T`, dispatched on the op so each fold loop
/// is monomorphised.
fn fold<T: Reduced>(
    k: &ReduceKernel,
    walk: &Walk,
    layout: (usize, usize, usize),
    inputs: &[Option<&Array>],
    stores: &mut [OutVec],
) -> Vec<T> {
    let args = (&*k.prologue, walk, layout, inputs);
    match k.op {
        ReduceOp::Sum => fold_with(args, stores, T::zero(), <T as Num>::add),
        ReduceOp::Prod => fold_with(args, stores, T::one(), <T as Num>::mul),
        ReduceOp::Max => fold_with(args, stores, T::lowest(), <T as Ordered>::max_nan),
        ReduceOp::Min => fold_with(args, stores, T::highest(), <T as Ordered>::min_nan),
    }
}

type FoldArgs<'p, 'a> = (
    &'p TileProgram,
    &'p Walk,
    (usize, usize, usize),
    &'p [Option<&'a Array>],
);

fn fold_with<T: Reduced, F: Fn(T, T) -> T + Sync + Send + Copy>(
    (prog, walk, (outer, red, inner), inputs): FoldArgs,
    stores: &mut [OutVec],
    init: T,
    step: F,
) -> Vec<T> {
    let n_out = outer * inner;
    let mut out = crate::pool::take::<T>(n_out);
    let total = outer * red * inner;
    let parallel = total >= PARALLEL_THRESHOLD;
    if red == 0 || total == 0 {
        out.iter_mut().for_each(|o| *o = init);
        return out;
    }
    let merge = |acc: [T; LANES]| acc.into_iter().reduce(step).unwrap_or(init);
    // Folds flat positions `range` (part of one row) into fresh lanes.
    let fold_part = |range: (usize, usize), st: &mut [OutSlice], base: usize| {
        let mut acc = [init; LANES];
        with_scratch(|s| {
            prologue_tiles::<T>(prog, walk, inputs, range, st, base, s, |_, v| {
                fold_lanes_into(&mut acc, v, &step)
            })
        });
        merge(acc)
    };
    let store_slices: Vec<Vec<OutSlice>> = stores.iter_mut().map(|s| s.chunks(total)).collect();
    let stores: Vec<OutSlice> = store_slices.into_iter().map(|mut v| v.remove(0)).collect();
    if inner == 1 && parallel && outer < 2 * crate::cpu::workers::threads() {
        // Few long rows: split each row over threads in PART pieces and
        // merge the pieces in order (as the unfused kernel does).
        let rows = split_stores(stores, red, outer);
        for (o, (dst, row_stores)) in out.iter_mut().zip(rows).enumerate() {
            let pieces = red.div_ceil(PART);
            let parts = split_stores(row_stores, PART, pieces);
            let mut partial = vec![init; pieces];
            let items: Vec<_> = parts.into_iter().zip(partial.iter_mut()).collect();
            par_items(items, |p, (mut st, slot)| {
                let start = o * red + p * PART;
                let end = (start + PART).min((o + 1) * red);
                *slot = fold_part((start, end), &mut st, start);
            });
            *dst = partial.into_iter().reduce(step).unwrap_or(init);
        }
    } else if inner == 1 {
        // Rows: output o folds flat positions o*red .. (o+1)*red.
        let per_task = if parallel { (PART / red).max(1) } else { outer };
        let tasks = split_stores(stores, per_task * red, outer.div_ceil(per_task));
        let run = |t: usize, (dst, mut st): (&mut [T], Vec<OutSlice>)| {
            let base = t * per_task * red;
            if red > TILE / 2 {
                for (j, d) in dst.iter_mut().enumerate() {
                    let o = t * per_task + j;
                    *d = fold_part((o * red, (o + 1) * red), &mut st, base);
                }
                return;
            }
            // Short rows: the prologue runs over a tile of whole rows at a
            // time, and each row folds from the tile.
            let batch = TILE / red;
            let mut vals = [T::default(); TILE];
            with_scratch(|s| {
                for (b, dsts) in dst.chunks_mut(batch).enumerate() {
                    let o = t * per_task + b * batch;
                    let range = (o * red, (o + dsts.len()) * red);
                    prologue_tiles::<T>(prog, walk, inputs, range, &mut st, base, s, |pos, v| {
                        let at = pos - range.0;
                        vals[at..at + v.len()].copy_from_slice(v)
                    });
                    for (d, row) in dsts.iter_mut().zip(vals.chunks_exact(red)) {
                        let mut acc = [init; LANES];
                        fold_lanes_into(&mut acc, row, &step);
                        *d = merge(acc);
                    }
                }
            });
        };
        let items: Vec<_> = out.chunks_mut(per_task).zip(tasks).collect();
        if parallel {
            par_items(items, run);
        } else {
            items.into_iter().enumerate().for_each(|(t, i)| run(t, i));
        }
    } else {
        // Columns: out[o, i] folds flat positions (o*red + r)*inner + i over
        // r, a tile of i at a time.
        let has_stores = !stores.is_empty();
        let column_block =
            |o: usize, i0: usize, dst: &mut [T], st: &mut [OutSlice], base: usize| {
                let mut acc = [init; TILE];
                let acc = &mut acc[..dst.len()];
                with_scratch(|s| {
                    for r in 0..red {
                        let start = (o * red + r) * inner + i0;
                        let range = (start, start + dst.len());
                        prologue_tiles::<T>(prog, walk, inputs, range, st, base, s, |pos, v| {
                            let at = pos - start;
                            simd::update_slice(&mut acc[at..at + v.len()], v, &step)
                        });
                    }
                });
                dst.copy_from_slice(acc);
            };
        // With stored intermediates each task owns whole outer blocks;
        // otherwise column tiles are split over threads too.
        let tasks = split_stores(stores, red * inner, outer);
        if parallel && !has_stores {
            let blocks: Vec<(usize, usize, &mut [T])> = out
                .chunks_mut(inner)
                .enumerate()
                .flat_map(|(o, orow)| {
                    orow.chunks_mut(TILE)
                        .enumerate()
                        .map(move |(c, dst)| (o, c * TILE, dst))
                })
                .collect();
            par_items(blocks, |_, (o, i0, dst)| {
                column_block(o, i0, dst, &mut [], 0)
            });
        } else {
            let run = |o: usize, (orow, mut st): (&mut [T], Vec<OutSlice>)| {
                for (c, dst) in orow.chunks_mut(TILE).enumerate() {
                    column_block(o, c * TILE, dst, &mut st, o * red * inner);
                }
            };
            let items: Vec<_> = out.chunks_mut(inner).zip(tasks).collect();
            if parallel {
                par_items(items, run);
            } else {
                items.into_iter().enumerate().for_each(|(o, i)| run(o, i));
            }
        }
    }
    out
}
