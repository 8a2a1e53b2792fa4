//! How a fused kernel walks its inputs: dimensions merged across all
//! operands, rows of the merged layout cut into tiles, and each input of a
//! tile resolved to a slice (unit stride), one repeated value (stride 0) or
//! a gathered copy (any other stride).

use super::tile::{InView, OutSlice, View, TILE};
use crate::array::Array;
use crate::buffer::BufferElement;

/// Inputs walked in lockstep over one iteration shape, with dimensions
/// merged wherever every input allows it (sizes of 1 dropped, then
/// neighbours merged when `stride[d] == stride[d + 1] * size[d + 1]` for
/// all inputs). A contiguous input and a fresh output then walk as one row.
pub struct Walk {
    /// Merged dims; the last one is the row.
    pub dims: Vec<usize>,
    /// Per input: strides over `dims`.
    pub strides: Vec<Vec<isize>>,
    /// Per input: buffer offset of element 0.
    pub offsets: Vec<usize>,
    /// Per input: true when every stride is 0 (one value repeated).
    pub scalar: Vec<bool>,
}

impl Walk {
    /// The merged walk of `inputs` (each of shape `shape`; `None` stands
    /// for a contiguous input, e.g. one read from a donated buffer).
    pub fn new(shape: &[usize], inputs: &[Option<&Array>]) -> Walk {
        let contiguous = crate::shape::contiguous_strides(shape);
        let strides_of = |a: &Option<&Array>| -> Vec<isize> {
            a.map_or_else(|| contiguous.clone(), |a| a.strides().to_vec())
        };
        let all: Vec<Vec<isize>> = inputs.iter().map(strides_of).collect();
        let keep: Vec<usize> = (0..shape.len()).filter(|&d| shape[d] != 1).collect();
        let mut dims: Vec<usize> = vec![];
        let mut strides: Vec<Vec<isize>> = vec![vec![]; inputs.len()];
        for &d in &keep {
            let mergeable = !dims.is_empty()
                && all.iter().enumerate().all(|(k, a)| {
                    let prev = *strides[k].last().expect("merged dims exist");
                    prev == a[d] * shape[d] as isize
                });
            if mergeable {
                *dims.last_mut().expect("merged dims exist") *= shape[d];
                for (k, a) in all.iter().enumerate() {
                    *strides[k].last_mut().expect("merged dims exist") = a[d];
                }
            } else {
                dims.push(shape[d]);
                for (k, a) in all.iter().enumerate() {
                    strides[k].push(a[d]);
                }
            }
        }
        if dims.is_empty() {
            dims.push(1);
            strides.iter_mut().for_each(|s| s.push(0));
        }
        let scalar = strides.iter().map(|s| s.iter().all(|&x| x == 0)).collect();
        Walk {
            dims,
            strides,
            offsets: inputs.iter().map(|a| a.map_or(0, |a| a.offset())).collect(),
            scalar,
        }
    }

    /// Length of a row (the last merged dim).
    pub fn row_len(&self) -> usize {
        *self.dims.last().expect("a walk has at least one dim")
    }

    /// Buffer position of input `k` at the start of row `row` (rows are
    /// numbered row-major over all dims but the last).
    pub fn row_offset(&self, k: usize, mut row: usize) -> isize {
        let st = &self.strides[k];
        let mut off = self.offsets[k] as isize;
        if self.scalar[k] {
            return off;
        }
        for d in (0..self.dims.len() - 1).rev() {
            let n = self.dims[d];
            off += (row % n) as isize * st[d];
            row /= n;
        }
        off
    }

    /// Calls `f(row, col, len)` for every tile of flat positions
    /// `start..end`: tiles never cross a row and hold at most [`TILE`]
    /// elements.
    pub fn for_each_tile(&self, start: usize, end: usize, mut f: impl FnMut(usize, usize, usize)) {
        let row_len = self.row_len();
        let mut pos = start;
        while pos < end {
            let (row, col) = (pos / row_len, pos % row_len);
            let len = TILE.min(row_len - col).min(end - pos);
            f(row, col, len);
            pos += len;
        }
    }
}

/// Rows shorter than this are walked several at a time by
/// [`Walk::for_each_group`]: per-tile overhead over rows of a few elements
/// (the 2 x 2 windows of a pooling gradient) would otherwise dwarf the
/// work.
pub const SHORT_ROW: usize = 64;

impl Walk {
    /// Like [`for_each_tile`](Walk::for_each_tile), but when rows are
    /// shorter than [`SHORT_ROW`] a tile may hold several whole rows
    /// (`col == 0`, `len` a multiple of the row length, at most
    /// [`TILE`]); [`tile_views`] gathers each input of such a tile row by
    /// row. Only for the interpreter: a native kernel treats an input
    /// repeated along the row as one value, which it is not over several
    /// rows.
    pub fn for_each_group(&self, start: usize, end: usize, mut f: impl FnMut(usize, usize, usize)) {
        let row_len = self.row_len();
        if row_len >= SHORT_ROW {
            return self.for_each_tile(start, end, f);
        }
        let mut pos = start;
        while pos < end {
            let (row, col) = (pos / row_len, pos % row_len);
            let rows = (TILE / row_len).min((end - pos) / row_len);
            let len = if col == 0 && rows >= 2 {
                rows * row_len
            } else {
                (row_len - col).min(end - pos)
            };
            f(row, col, len);
            pos += len;
        }
    }
}

/// Gather space for inputs that are neither unit-stride nor repeated.
#[derive(Default)]
pub struct Gathered {
    f32: Vec<Vec<f32>>,
    f64: Vec<Vec<f64>>,
    bool: Vec<Vec<bool>>,
}

impl Gathered {
    /// Makes room for `n` gathered inputs.
    pub fn reserve(&mut self, n: usize) {
        fn grow<T: Default + Clone>(v: &mut Vec<Vec<T>>, n: usize) {
            while v.len() < n {
                v.push(vec![T::default(); TILE]);
            }
        }
        grow(&mut self.f32, n);
        grow(&mut self.f64, n);
        grow(&mut self.bool, n);
    }
}

/// Copies `len` elements starting at `pos` with stride `step` into `dst`.
fn gather<T: Copy>(src: &[T], pos: isize, step: isize, dst: &mut [T]) {
    let mut p = pos;
    for d in dst.iter_mut() {
        *d = src[p as usize];
        p += step;
    }
}

/// The view of `len` elements of `src` starting at buffer position `pos`
/// with stride `step` (`scratch` holds a gathered copy when needed).
fn view_of<'a, T: BufferElement>(
    src: &'a [T],
    pos: isize,
    step: isize,
    len: usize,
    scratch: &'a mut [T],
) -> View<'a, T> {
    match step {
        1 => View::Slice(&src[pos as usize..pos as usize + len]),
        0 => View::Splat(src[pos as usize]),
        _ => {
            gather(src, pos, step, &mut scratch[..len]);
            View::Slice(&scratch[..len])
        }
    }
}

/// The view of `rows` consecutive whole rows of input `k` from row `row`
/// on, gathered row by row into `scratch`.
fn rows_view<'a, T: BufferElement>(
    walk: &Walk,
    k: usize,
    src: &'a [T],
    row: usize,
    rows: usize,
    scratch: &'a mut [T],
) -> View<'a, T> {
    let (row_len, last) = (walk.row_len(), walk.dims.len() - 1);
    let (dims, st) = (&walk.dims[..last], &walk.strides[k]);
    let step = st[last];
    // Row `row`'s index over the outer dims, then an odometer from there.
    let mut idx = vec![0usize; last];
    let (mut rest, mut pos) = (row, walk.offsets[k] as isize);
    for d in (0..last).rev() {
        idx[d] = rest % dims[d];
        rest /= dims[d];
        pos += idx[d] as isize * st[d];
    }
    for dst in scratch[..rows * row_len].chunks_exact_mut(row_len) {
        match step {
            1 => dst.copy_from_slice(&src[pos as usize..pos as usize + row_len]),
            _ => gather(src, pos, step, dst),
        }
        for d in (0..last).rev() {
            idx[d] += 1;
            pos += st[d];
            if idx[d] < dims[d] {
                break;
            }
            pos -= st[d] * dims[d] as isize;
            idx[d] = 0;
        }
    }
    View::Slice(&scratch[..rows * row_len])
}

/// Appends to `views` the input views of one tile: row `row`, columns
/// `col..col + len` of the walk (or, when `len` runs past the row, whole
/// rows from `row` on: see [`Walk::for_each_group`]), for every input;
/// strided inputs are gathered into `gathered`. The input that is `None` (at most one: a
/// donated buffer) is copied from `donor`, this tile's slice of the output
/// that took its buffer.
pub fn tile_views<'a>(
    walk: &Walk,
    inputs: &[Option<&'a Array>],
    (row, col, len): (usize, usize, usize),
    gathered: &'a mut Gathered,
    donor: Option<&OutSlice>,
    views: &mut Vec<InView<'a>>,
) {
    let last = walk.dims.len() - 1;
    let mut g32 = gathered.f32.iter_mut();
    let mut g64 = gathered.f64.iter_mut();
    let mut gb = gathered.bool.iter_mut();
    views.extend(inputs.iter().enumerate().map(|(k, a)| {
        let Some(a) = a else {
            let src = donor.expect("a donated input has its output");
            return match src {
                OutSlice::F32(s) => {
                    let g = g32.next().expect("gather space reserved");
                    g[..len].copy_from_slice(&s[..len]);
                    InView::F32(View::Slice(&g[..len]))
                }
                OutSlice::F64(s) => {
                    let g = g64.next().expect("gather space reserved");
                    g[..len].copy_from_slice(&s[..len]);
                    InView::F64(View::Slice(&g[..len]))
                }
                OutSlice::Bool(s) => {
                    let g = gb.next().expect("gather space reserved");
                    g[..len].copy_from_slice(&s[..len]);
                    InView::Bool(View::Slice(&g[..len]))
                }
                OutSlice::None => unreachable!("kiln internal error: donor output taken"),
            };
        };
        let buf = a.buffer();
        if col + len > walk.row_len() && !walk.scalar[k] {
            let rows = len / walk.row_len();
            return match a.dtype() {
                crate::dtype::DType::F32 => {
                    let g = g32.next().expect("gather space reserved");
                    InView::F32(rows_view(walk, k, buf.as_slice::<f32>(), row, rows, g))
                }
                crate::dtype::DType::F64 => {
                    let g = g64.next().expect("gather space reserved");
                    InView::F64(rows_view(walk, k, buf.as_slice::<f64>(), row, rows, g))
                }
                crate::dtype::DType::Bool => {
                    let g = gb.next().expect("gather space reserved");
                    InView::Bool(rows_view(walk, k, buf.as_slice::<bool>(), row, rows, g))
                }
                d => panic!("kiln internal error: fused input of dtype {d}"),
            };
        }
        let step = walk.strides[k][last];
        let pos = walk.row_offset(k, row) + col as isize * step;
        match a.dtype() {
            crate::dtype::DType::F32 => InView::F32(view_of(
                buf.as_slice::<f32>(),
                pos,
                step,
                len,
                g32.next().expect("gather space reserved"),
            )),
            crate::dtype::DType::F64 => InView::F64(view_of(
                buf.as_slice::<f64>(),
                pos,
                step,
                len,
                g64.next().expect("gather space reserved"),
            )),
            crate::dtype::DType::Bool => InView::Bool(view_of(
                buf.as_slice::<bool>(),
                pos,
                step,
                len,
                gb.next().expect("gather space reserved"),
            )),
            d => panic!("kiln internal error: fused input of dtype {d}"),
        }
    }));
}

/// `v` emptied, as a vector of another lifetime: per-tile vectors of
/// borrowed views keep one allocation for a whole range.
pub fn recycle<T, U>(mut v: Vec<T>) -> Vec<U> {
    v.clear();
    // An empty `IntoIter` mapped to a type of the same layout collects in
    // place (the standard library reuses the allocation).
    v.into_iter()
        .map(|_| unreachable!("the vector is empty"))
        .collect()
}

/// Asks the CPU to start loading the memory that follows each of this
/// tile's input slices: for a contiguous walk, the next tile's inputs.
/// A fused program reads its inputs in one burst at the start of a tile
/// and then computes in registers for a while; without this the hardware
/// prefetcher idles during the compute and every tile waits on memory
/// (measured: min+expm1 over 16M f32, 1.8x slower per element than over
/// 1M, single thread). Outputs are not prefetched: that doubled the burst
/// of misses and made short chains over 1M slower (compare-select + mul:
/// 0.24 vs 0.15 ms). Prefetches never fault, so running past a buffer's
/// end is harmless.
pub fn prefetch_following(inputs: &[InView]) {
    fn after<T>(s: &[T]) {
        let bytes = std::mem::size_of_val(s);
        let end = s.as_ptr_range().end as *const u8;
        let mut off = 0;
        while off < bytes {
            prefetch(end.wrapping_add(off));
            off += 64;
        }
    }
    for v in inputs {
        match v {
            InView::F32(View::Slice(s)) => after(s),
            InView::F64(View::Slice(s)) => after(s),
            InView::Bool(View::Slice(s)) => after(s),
            _ => {}
        }
    }
}

#[inline(always)]
fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
