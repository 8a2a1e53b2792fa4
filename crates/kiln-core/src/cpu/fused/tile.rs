//! The tile interpreter: runs a [`TileProgram`] over one tile of elements.
//!
//! Every instruction is one SIMD loop (the dispatched loops of
//! [`crate::cpu::simd`]) over at most [`TILE`] elements, reading registers
//! or kernel inputs and writing a register or an output. Registers are
//! L1-sized, so a chain of ops touches memory only to read its inputs and
//! write its outputs. The per-element semantics are the ones the unfused
//! kernels use ([`crate::cpu::scalar`]), so fused results are bitwise equal
//! to op-by-op results.

use super::program::{Affine, Clamp, Dst, Instr, Lane, Src, TileProgram};
use crate::cpu::scalar::{FloatCompute, Num, Ordered, Real};
use crate::cpu::simd;
use crate::primitive::{BinaryOp, CompareOp, UnaryOp};

/// Elements per tile: 8 KiB of f32 per register.
pub const TILE: usize = 2048;

/// One operand for one tile: a slice of `len` elements or one value
/// repeated.
#[derive(Clone, Copy)]
pub enum View<'a, T> {
    Slice(&'a [T]),
    Splat(T),
}

/// An input operand of any lane type for one tile.
#[derive(Clone, Copy)]
pub enum InView<'a> {
    F32(View<'a, f32>),
    F64(View<'a, f64>),
    Bool(View<'a, bool>),
}

/// A kernel output's slice for one tile (or for a task's range).
#[derive(Default)]
pub enum OutSlice<'a> {
    /// Taken (while an instruction writes it).
    #[default]
    None,
    F32(&'a mut [f32]),
    F64(&'a mut [f64]),
    Bool(&'a mut [bool]),
}

/// Registers of one task: `TILE` elements each, by lane type.
#[derive(Default)]
pub struct Regs {
    f32: Vec<Vec<f32>>,
    f64: Vec<Vec<f64>>,
    bool: Vec<Vec<bool>>,
}

impl Regs {
    /// Makes sure there are at least `counts` registers of each lane type.
    pub fn reserve(&mut self, counts: [usize; 3]) {
        fn grow<T: Default + Clone>(v: &mut Vec<Vec<T>>, n: usize) {
            while v.len() < n {
                v.push(vec![T::default(); TILE]);
            }
        }
        grow(&mut self.f32, counts[0]);
        grow(&mut self.f64, counts[1]);
        grow(&mut self.bool, counts[2]);
    }
}

/// A lane type's access to registers, inputs and outputs.
pub trait LaneType: Copy + Default + Send + Sync + Ordered + 'static {
    fn regs(r: &mut Regs) -> &mut Vec<Vec<Self>>;
    fn regs_ref(r: &Regs) -> &Vec<Vec<Self>>;
    fn input<'a>(v: &InView<'a>) -> View<'a, Self>;
    fn out<'s, 'a>(o: &'s mut OutSlice<'a>) -> &'s mut [Self];
}

macro_rules! lane_type {
    ($t:ty, $field:ident, $variant:ident) => {
        impl LaneType for $t {
            #[inline]
            fn regs(r: &mut Regs) -> &mut Vec<Vec<Self>> {
                &mut r.$field
            }
            #[inline]
            fn regs_ref(r: &Regs) -> &Vec<Vec<Self>> {
                &r.$field
            }
            #[inline]
            fn input<'a>(v: &InView<'a>) -> View<'a, Self> {
                match v {
                    InView::$variant(x) => *x,
                    _ => panic!("kiln internal error: fused input of the wrong lane type"),
                }
            }
            #[inline]
            fn out<'s, 'a>(o: &'s mut OutSlice<'a>) -> &'s mut [Self] {
                match o {
                    OutSlice::$variant(x) => x,
                    _ => panic!("kiln internal error: fused output of the wrong lane type"),
                }
            }
        }
    };
}
lane_type!(f32, f32, F32);
lane_type!(f64, f64, F64);
lane_type!(bool, bool, Bool);

/// The state one instruction runs against: registers, this tile's input
/// views, this tile's output slices and the tile length.
pub struct TileCtx<'r, 'a> {
    pub regs: &'r mut Regs,
    pub inputs: &'r [InView<'a>],
    pub outs: &'r mut [OutSlice<'a>],
    pub len: usize,
}

impl<'r, 'a> TileCtx<'r, 'a> {
    fn view<T: LaneType>(&self, s: Src) -> View<'_, T> {
        match s {
            Src::Reg(r) => View::Slice(&T::regs_ref(self.regs)[r as usize][..self.len]),
            Src::In(k) => match T::input(&self.inputs[k as usize]) {
                View::Slice(x) => View::Slice(x),
                View::Splat(v) => View::Splat(v),
            },
        }
    }

    /// The value of input `k` when it is one value repeated (`absent`
    /// when there is no `k`).
    fn splat<T: LaneType>(&self, k: Option<u16>, absent: T) -> Option<T> {
        match k {
            None => Some(absent),
            Some(k) => match T::input(&self.inputs[k as usize]) {
                View::Splat(v) => Some(v),
                View::Slice(_) => None,
            },
        }
    }

    /// The bounds `(lo, hi)` of a clamp (absent ones are -inf and +inf),
    /// if every present bound is one value repeated and not NaN.
    fn clamp_values<T: LaneType>(&self, c: Clamp) -> Option<(T, T)> {
        let lo = self.splat(c.lo, T::from_f64(f64::NEG_INFINITY))?;
        let hi = self.splat(c.hi, T::from_f64(f64::INFINITY))?;
        (!lo.is_nan() && !hi.is_nan()).then_some((lo, hi))
    }

    /// `(m, a)` with `post(y) = y * m + a` (absent parts are 1 and -0, which
    /// change no value; `y - k` is `y + (-k)` exactly), if every present
    /// operand is one value repeated.
    fn affine_values<T: LaneType>(&self, p: Affine) -> Option<(T, T)> {
        let m = self.splat(p.mul, T::from_f64(1.0))?;
        let a = self.splat(p.add, T::from_f64(-0.0))?;
        Some((m, if p.sub { T::from_f64(-a.to_f64()) } else { a }))
    }

    /// Runs `f(ctx, dst)` with `dst` the destination slice taken out of
    /// the context (so `f` can read other registers and inputs).
    fn with_dst<T: LaneType>(&mut self, d: Dst, f: impl FnOnce(&Self, &mut [T])) {
        let len = self.len;
        match d {
            Dst::Reg(r) => {
                let mut reg = std::mem::take(&mut T::regs(self.regs)[r as usize]);
                f(self, &mut reg[..len]);
                T::regs(self.regs)[r as usize] = reg;
            }
            Dst::Out(k) => {
                let mut o = std::mem::take(&mut self.outs[k as usize]);
                f(self, &mut T::out(&mut o)[..len]);
                self.outs[k as usize] = o;
            }
        }
    }
}

/// Runs every instruction of `prog` on one tile.
pub fn run_tile(prog: &TileProgram, ctx: &mut TileCtx) {
    for instr in &prog.code {
        run_instr(instr, ctx);
    }
}

macro_rules! by_lane {
    ($t:expr, $T:ident, $body:block) => {
        match $t {
            Lane::F32 => {
                type $T = f32;
                $body
            }
            Lane::F64 => {
                type $T = f64;
                $body
            }
            Lane::Bool => {
                type $T = bool;
                $body
            }
        }
    };
}

macro_rules! by_float_lane {
    ($t:expr, $T:ident, $body:block) => {
        match $t {
            Lane::F32 => {
                type $T = f32;
                $body
            }
            Lane::F64 => {
                type $T = f64;
                $body
            }
            Lane::Bool => unreachable!("kiln internal error: float op on bool lanes"),
        }
    };
}

fn run_instr(instr: &Instr, ctx: &mut TileCtx) {
    match *instr {
        Instr::Unary {
            op,
            t,
            x,
            pre,
            post,
            dst,
        } => match op {
            UnaryOp::LogicalNot => {
                ctx.with_dst::<bool>(dst, |c, d| map1(c.view::<bool>(x), d, |v: bool| !v))
            }
            UnaryOp::IsNan => by_float_lane!(t, T, {
                ctx.with_dst::<bool>(dst, |c, d| map1(c.view::<T>(x), d, |v: T| v.is_nan()))
            }),
            UnaryOp::IsInf => by_float_lane!(t, T, {
                ctx.with_dst::<bool>(dst, |c, d| {
                    map1(c.view::<T>(x), d, |v: T| {
                        crate::dtype::Element::to_f64(v).is_infinite()
                    })
                })
            }),
            _ => by_float_lane!(t, T, {
                ctx.with_dst::<T>(dst, |c, d| staged_unary::<T>(op, c, x, pre, post, d))
            }),
        },
        Instr::Binary { op, t, a, b, dst } => match t {
            Lane::Bool => {
                ctx.with_dst::<bool>(dst, |c, d| bool_binary(op, c.view(a), c.view(b), d))
            }
            _ => by_float_lane!(t, T, {
                ctx.with_dst::<T>(dst, |c, d| float_binary::<T>(op, c.view(a), c.view(b), d))
            }),
        },
        Instr::Compare { op, t, a, b, dst } => by_lane!(t, T, {
            ctx.with_dst::<bool>(dst, |c, d| compare::<T>(op, c.view(a), c.view(b), d))
        }),
        Instr::Select { t, c, a, b, dst } => by_lane!(t, T, {
            ctx.with_dst::<T>(dst, |cx, d| {
                map3(
                    cx.view::<bool>(c),
                    cx.view::<T>(a),
                    cx.view::<T>(b),
                    d,
                    |c: bool, p: T, q: T| if c { p } else { q },
                )
            })
        }),
        Instr::Cast { from, to, x, dst } => by_lane!(from, S, {
            by_lane!(to, D, {
                ctx.with_dst::<D>(dst, |c, d| {
                    map1(c.view::<S>(x), d, |v: S| {
                        <D as crate::dtype::Element>::from_f64(crate::dtype::Element::to_f64(v))
                    })
                })
            })
        }),
        Instr::CmpSelect {
            op,
            t,
            a,
            b,
            x,
            y,
            post,
            dst,
        } => {
            if post.is_none() {
                by_lane!(t, T, {
                    ctx.with_dst::<T>(dst, |c, d| {
                        let (a, b, x, y) = (c.view(a), c.view(b), c.view(x), c.view(y));
                        cmp_select::<T>(op, a, b, x, y, d, identity)
                    })
                })
            } else {
                by_float_lane!(t, T, {
                    ctx.with_dst::<T>(dst, |c, d| {
                        let (a, b, x, y) = (c.view(a), c.view(b), c.view(x), c.view(y));
                        match c.affine_values::<T>(post) {
                            Some(p) => cmp_select::<T>(op, a, b, x, y, d, affine(p)),
                            None => {
                                cmp_select::<T>(op, a, b, x, y, d, identity);
                                affine_passes(c, post, d);
                            }
                        }
                    })
                })
            }
        }
        Instr::Copy { t, x, dst } => by_lane!(t, T, {
            ctx.with_dst::<T>(dst, |c, d| match c.view::<T>(x) {
                View::Slice(s) => d.copy_from_slice(s),
                View::Splat(v) => d.fill(v),
            })
        }),
    }
}

/// `dst[i] = f(x[i])`.
#[inline(always)]
fn map1<T: Copy, U: Copy>(x: View<T>, dst: &mut [U], f: impl Fn(T) -> U) {
    match x {
        View::Slice(s) => simd::map_slice(s, dst, &f),
        View::Splat(v) => dst.fill(f(v)),
    }
}

/// `dst[i] = f(a[i], b[i])`.
#[inline(always)]
fn map2<T: Copy, V: Copy, U: Copy>(a: View<T>, b: View<V>, dst: &mut [U], f: impl Fn(T, V) -> U) {
    match (a, b) {
        (View::Slice(x), View::Slice(y)) => simd::zip_slice(x, y, dst, &f),
        (View::Slice(x), View::Splat(q)) => simd::map_slice(x, dst, &|p| f(p, q)),
        (View::Splat(p), View::Slice(y)) => simd::map_slice(y, dst, &|q| f(p, q)),
        (View::Splat(p), View::Splat(q)) => dst.fill(f(p, q)),
    }
}

/// `dst[i] = f(a[i], b[i], c[i])`.
#[inline(always)]
fn map3<A: Copy, B: Copy, C: Copy, U: Copy>(
    a: View<A>,
    b: View<B>,
    c: View<C>,
    dst: &mut [U],
    f: impl Fn(A, B, C) -> U,
) {
    use View::{Slice, Splat};
    match (a, b, c) {
        (Slice(x), Slice(y), Slice(z)) => simd::zip3_slice(x, y, z, dst, &f),
        (Slice(x), Slice(y), Splat(r)) => simd::zip_slice(x, y, dst, &|p, q| f(p, q, r)),
        (Slice(x), Splat(q), Slice(z)) => simd::zip_slice(x, z, dst, &|p, r| f(p, q, r)),
        (Splat(p), Slice(y), Slice(z)) => simd::zip_slice(y, z, dst, &|q, r| f(p, q, r)),
        (Slice(x), Splat(q), Splat(r)) => simd::map_slice(x, dst, &|p| f(p, q, r)),
        (Splat(p), Slice(y), Splat(r)) => simd::map_slice(y, dst, &|q| f(p, q, r)),
        (Splat(p), Splat(q), Slice(z)) => simd::map_slice(z, dst, &|r| f(p, q, r)),
        (Splat(p), Splat(q), Splat(r)) => dst.fill(f(p, q, r)),
    }
}

/// `dst = post(op(pre(x)))` for a float unary op with its folded clamp
/// and affine map: one loop when every folded operand is one value
/// repeated (constants), else the same steps as separate passes.
fn staged_unary<T: LaneType + FloatCompute + Num>(
    op: UnaryOp,
    c: &TileCtx,
    x: Src,
    pre: Clamp,
    post: Affine,
    dst: &mut [T],
) {
    let xv = c.view::<T>(x);
    match (pre.is_none(), post.is_none()) {
        (true, true) => return float_unary(op, xv, dst, identity, identity),
        (false, true) => {
            if let Some(b) = c.clamp_values::<T>(pre) {
                return float_unary(op, xv, dst, clamp(b), identity);
            }
        }
        (true, false) => {
            if let Some(p) = c.affine_values::<T>(post) {
                return float_unary(op, xv, dst, identity, affine(p));
            }
        }
        (false, false) => {
            if let (Some(b), Some(p)) = (c.clamp_values::<T>(pre), c.affine_values::<T>(post)) {
                return float_unary(op, xv, dst, clamp(b), affine(p));
            }
        }
    }
    // Some folded operand varies: one pass per step, as op by op.
    let mut tmp = [T::default(); TILE];
    let xv = if pre.is_none() {
        xv
    } else {
        let t = &mut tmp[..dst.len()];
        match pre.lo {
            Some(k) => map2(xv, c.view(Src::In(k)), t, T::max_nan),
            None => map1(xv, t, |v| v),
        }
        if let Some(k) = pre.hi {
            in_place(t, c.view(Src::In(k)), T::min_nan);
        }
        View::Slice(&tmp[..dst.len()])
    };
    float_unary(op, xv, dst, identity, identity);
    affine_passes(c, post, dst);
}

/// The stage that changes nothing (one function item, so every plain
/// loop is one monomorphised copy).
fn identity<T>(v: T) -> T {
    v
}

/// A folded clamp with bounds that are not NaN: `max_nan(v, lo)` is then
/// `lo > v ? lo : v` (NaN `v` and `v == lo` keep `v`), one SIMD max, and
/// likewise the min.
fn clamp<T: Ordered>((lo, hi): (T, T)) -> impl Fn(T) -> T + Copy {
    move |v: T| {
        let v = if lo > v { lo } else { v };
        if hi < v {
            hi
        } else {
            v
        }
    }
}

/// A folded affine map `y * m + k` (two roundings, as the separate ops).
fn affine<T: Num>((m, k): (T, T)) -> impl Fn(T) -> T + Copy {
    move |v: T| <T as Num>::add(<T as Num>::mul(v, m), k)
}

/// Applies a folded affine map to `dst` in place, one pass per part.
fn affine_passes<T: LaneType + Num>(c: &TileCtx, post: Affine, dst: &mut [T]) {
    if let Some(k) = post.mul {
        in_place(dst, c.view(Src::In(k)), <T as Num>::mul);
    }
    if let Some(k) = post.add {
        let f = if post.sub {
            <T as Num>::sub
        } else {
            <T as Num>::add
        };
        in_place(dst, c.view(Src::In(k)), f);
    }
}

/// `dst[i] = f(dst[i], b[i])`.
fn in_place<T: Copy>(dst: &mut [T], b: View<T>, f: impl Fn(T, T) -> T) {
    match b {
        View::Slice(s) => simd::update_slice(dst, s, &f),
        View::Splat(q) => simd::map_in_place(dst, &|p| f(p, q)),
    }
}

/// `dst[i] = post(op(pre(x[i])))` for float math unary ops, one
/// monomorphised loop per common op (and per pair of stage closures).
fn float_unary<T: LaneType + FloatCompute>(
    op: UnaryOp,
    x: View<T>,
    dst: &mut [T],
    pre: impl Fn(T) -> T + Copy,
    post: impl Fn(T) -> T + Copy,
) {
    use UnaryOp::*;
    macro_rules! per_op {
        ($($o:ident),*) => {
            match op {
                $($o => map1(x, dst, |v: T| {
                    post(T::down(<T as FloatCompute>::C::apply($o, pre(v).up())))
                }),)*
                _ => map1(x, dst, |v: T| {
                    post(T::down(<T as FloatCompute>::C::apply(op, pre(v).up())))
                }),
            }
        };
    }
    per_op!(Exp, Expm1, Log, Sqrt, Rsqrt, Tanh, Sigmoid, Recip, Neg, Abs, Erf)
}

/// Binary ops on float lanes, one monomorphised loop per op.
fn float_binary<T: LaneType + Num>(op: BinaryOp, a: View<T>, b: View<T>, dst: &mut [T]) {
    use BinaryOp::*;
    match op {
        Add => map2(a, b, dst, <T as Num>::add),
        Sub => map2(a, b, dst, <T as Num>::sub),
        Mul => map2(a, b, dst, <T as Num>::mul),
        Div => map2(a, b, dst, <T as Num>::div),
        Rem => map2(a, b, dst, <T as Num>::rem),
        FloorDiv => map2(a, b, dst, <T as Num>::floor_div),
        Pow => map2(a, b, dst, <T as Num>::pow),
        Maximum => map2(a, b, dst, T::max_nan),
        Minimum => map2(a, b, dst, T::min_nan),
        LogicalAnd | LogicalOr => unreachable!("kiln internal error: logical op on float lanes"),
    }
}

/// Binary ops on bool lanes: logical and/or, max/min (or/and).
fn bool_binary(op: BinaryOp, a: View<bool>, b: View<bool>, dst: &mut [bool]) {
    match op {
        BinaryOp::LogicalAnd | BinaryOp::Minimum => map2(a, b, dst, |x: bool, y: bool| x & y),
        BinaryOp::LogicalOr | BinaryOp::Maximum => map2(a, b, dst, |x: bool, y: bool| x | y),
        _ => unreachable!("kiln internal error: arithmetic on bool lanes"),
    }
}

// Generic over every lane type (bool included), so some comparisons are
// trivial for one of the types.
#[allow(clippy::bool_comparison)]
/// Comparisons (bool result), one monomorphised loop per op.
fn compare<T: LaneType>(op: CompareOp, a: View<T>, b: View<T>, dst: &mut [bool]) {
    use CompareOp::*;
    match op {
        Eq => map2(a, b, dst, |x: T, y: T| x == y),
        Ne => map2(a, b, dst, |x: T, y: T| x != y),
        Lt => map2(a, b, dst, |x: T, y: T| x < y),
        Le => map2(a, b, dst, |x: T, y: T| x <= y),
        Gt => map2(a, b, dst, |x: T, y: T| x > y),
        Ge => map2(a, b, dst, |x: T, y: T| x >= y),
    }
}

/// `dst[i] = if a[i] op b[i] { x[i] } else { y[i] }`, one monomorphised
/// loop per comparison.
#[allow(clippy::bool_comparison)]
fn cmp_select<T: LaneType>(
    op: CompareOp,
    a: View<T>,
    b: View<T>,
    x: View<T>,
    y: View<T>,
    dst: &mut [T],
    post: impl Fn(T) -> T + Copy,
) {
    use CompareOp::*;
    match op {
        Eq => cmp_select_with(a, b, x, y, dst, |p: T, q: T| p == q, post),
        Ne => cmp_select_with(a, b, x, y, dst, |p: T, q: T| p != q, post),
        Lt => cmp_select_with(a, b, x, y, dst, |p: T, q: T| p < q, post),
        Le => cmp_select_with(a, b, x, y, dst, |p: T, q: T| p <= q, post),
        Gt => cmp_select_with(a, b, x, y, dst, |p: T, q: T| p > q, post),
        Ge => cmp_select_with(a, b, x, y, dst, |p: T, q: T| p >= q, post),
    }
}

#[inline(always)]
fn cmp_select_with<T: LaneType>(
    a: View<T>,
    b: View<T>,
    x: View<T>,
    y: View<T>,
    dst: &mut [T],
    cmp: impl Fn(T, T) -> bool + Copy,
    post: impl Fn(T) -> T + Copy,
) {
    let pick = move |c: bool, u: T, v: T| post(if c { u } else { v });
    match (a, b) {
        (_, View::Splat(q)) => map3(a, x, y, dst, |p, u, v| pick(cmp(p, q), u, v)),
        (View::Splat(p), _) => map3(b, x, y, dst, |q, u, v| pick(cmp(p, q), u, v)),
        (View::Slice(p), View::Slice(q)) => {
            // Both compared operands vary: splatted branches (rare) are
            // spelled out into stack tiles.
            let len = dst.len();
            let (tx, ty): ([T; TILE], [T; TILE]);
            let xs: &[T] = match x {
                View::Slice(s) => s,
                View::Splat(v) => {
                    tx = [v; TILE];
                    &tx[..len]
                }
            };
            let ys: &[T] = match y {
                View::Slice(s) => s,
                View::Splat(v) => {
                    ty = [v; TILE];
                    &ty[..len]
                }
            };
            simd::zip4_slice(p, q, xs, ys, dst, &|p, q, u, v| pick(cmp(p, q), u, v))
        }
    }
}
