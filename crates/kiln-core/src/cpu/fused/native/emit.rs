//! Code generation: a [`TileProgram`] over f32 lanes becomes one AVX-512
//! loop that computes every instruction for 16 elements in registers,
//! then moves on (the tile interpreter runs each instruction over a whole
//! tile instead). The element functions mirror the interpreter's exactly,
//! operation for operation (the same IEEE operations in the same order,
//! `mul_add` as one FMA), so results are bitwise equal.
//!
//! The generated function is `extern "sysv64" fn(args: *const *mut u8,
//! n: usize)`: `args` holds one pointer per kernel input (to its `n`
//! elements, or to its one value when the input is a splat) followed by
//! one per output. Program registers live in `zmm` registers, bool
//! registers in mask registers `k2..k6`; `k1` masks the last partial
//! vector, `k7` is scratch. The pointers of the first three streamed
//! arguments stay in `r8..r10`; others are reloaded from the table through
//! `r11`. A trial run of the loop body decides whether loaded inputs stay
//! in registers for the rest of the body and which broadcast constants are
//! hoisted out of the loop (into registers the body never needs).

use super::asm::{self, Asm, Mem, Rm, R11, RAX};
use crate::cpu::fused::program::{Affine, Clamp, Dst, Instr, Lane, Src, TileProgram};
use crate::cpu::vmath;
use crate::primitive::{BinaryOp, CompareOp, UnaryOp};

/// The tail mask.
const TAIL: u8 = 1;
/// Scratch mask.
const KTMP: u8 = 7;
/// General-purpose registers (r8, r9, r10) that hold the pointers of the
/// first streamed inputs and outputs for the whole call.
const POINTER_REGS: [u8; 3] = [8, 9, 10];
/// How far ahead (bytes) the loop prefetches each streamed input: the
/// hardware prefetcher alone leaves a loop this busy waiting on memory
/// once its inputs are not in cache (SELU over 16M f32 took 1.6x longer
/// without it here).
const PREFETCH_AHEAD: i32 = 2048;
/// Mask registers holding bool program registers.
const BOOL_REGS: [u8; 5] = [2, 3, 4, 5, 6];

// vcmpps predicates (quiet; the signalling ones give the same results).
const EQ_OQ: u8 = 0x00;
const NEQ_UQ: u8 = 0x04;
const UNORD_Q: u8 = 0x03;
const ORD_Q: u8 = 0x07;
const LT_OQ: u8 = 0x11;
const LE_OQ: u8 = 0x12;
const NLE_UQ: u8 = 0x16;
const NGE_UQ: u8 = 0x19;
const GE_OQ: u8 = 0x1D;
const GT_OQ: u8 = 0x1E;

/// True if `prog` is one the generator handles: f32 inputs and outputs,
/// no f64 registers, at most five bool registers, and only instructions
/// with an emitted form (others, e.g. `log` or `erf`, keep the whole
/// program on the interpreter).
pub fn supported(prog: &TileProgram) -> bool {
    let f32_only = |l: &Lane| *l == Lane::F32;
    let unary_ok = |op: UnaryOp| {
        use UnaryOp::*;
        matches!(
            op,
            Neg | Abs | Sqrt | Rsqrt | Recip | Exp | Expm1 | Tanh | Sigmoid
        )
    };
    let binary_ok = |op: BinaryOp| {
        use BinaryOp::*;
        matches!(op, Add | Sub | Mul | Div | Maximum | Minimum)
    };
    let instr_ok = |i: &Instr| match *i {
        Instr::Unary { op, t, .. } => t == Lane::F32 && unary_ok(op),
        Instr::Binary { op, t, .. } => t == Lane::F32 && binary_ok(op),
        Instr::Compare { t, dst, .. } => t == Lane::F32 && matches!(dst, Dst::Reg(_)),
        Instr::Select { t, c, .. } => t == Lane::F32 && matches!(c, Src::Reg(_)),
        Instr::CmpSelect { t, .. } | Instr::Copy { t, .. } => t == Lane::F32,
        Instr::Cast { .. } => false,
    };
    prog.inputs.iter().all(f32_only)
        && prog.outputs.iter().all(f32_only)
        && prog.inputs.len() <= super::MAX_INPUTS
        && prog.regs[1] == 0
        && prog.regs[2] <= BOOL_REGS.len()
        && prog.code.iter().all(instr_ok)
}

/// The machine code of `prog` for inputs where bit `k` of `splats` says
/// input `k` is one value repeated; `None` when the program is not
/// [`supported`] or needs more vector registers than there are. With
/// `stream`, the loop writes its outputs with non-temporal stores, which
/// needs every output pointer 64-byte aligned (the masked last vector
/// stores normally).
pub fn emit(prog: &TileProgram, splats: u64, stream: bool) -> Option<Vec<u8>> {
    if !supported(prog) {
        return None;
    }
    let mut e = Emitter {
        a: Asm::default(),
        prog,
        reg: (0..prog.regs[0] as u8).collect(),
        splat: vec![None; prog.inputs.len()],
        free: vec![],
        mask: 0,
        out_of_regs: false,
        keep_loads: true,
        loaded: vec![None; prog.inputs.len()],
        hoisted: vec![],
        wanted: vec![],
        low_water: 32,
        pinned: vec![],
        nan_masks: vec![],
        stream,
    };
    let mut next = prog.regs[0] as u8;
    for k in 0..prog.inputs.len() {
        if splats >> k & 1 == 1 {
            if next >= 32 {
                return None;
            }
            e.a.load_ptr(R11, k);
            e.a.broadcast(next, Mem::BaseDisp { base: R11, disp: 0 });
            e.splat[k] = Some(next);
            next += 1;
        }
    }
    e.free = (next..32).rev().collect();
    // Splat clamp bounds get a mask of their NaN lanes (all or none) in a
    // mask register no bool register uses, for the two-instruction clamp.
    let mut spare_masks = BOOL_REGS[prog.regs[2]..].iter().copied();
    for instr in &prog.code {
        if let Instr::Unary { pre, .. } = instr {
            for k in [pre.lo, pre.hi].into_iter().flatten() {
                let k = k as usize;
                let Some(z) = e.splat[k] else { continue };
                if e.nan_masks.iter().any(|(i, _)| *i == k) {
                    continue;
                }
                let Some(m) = spare_masks.next() else { break };
                e.a.cmp(m, z, Rm::Zmm(z), UNORD_Q, 0);
                e.nan_masks.push((k, m));
            }
        }
    }
    // The first three streamed slots keep their pointers in r8..r10.
    let streamed = (0..prog.inputs.len())
        .filter(|&k| e.splat[k].is_none())
        .chain(prog.inputs.len()..prog.inputs.len() + prog.outputs.len());
    for (slot, gpr) in streamed.zip(POINTER_REGS) {
        e.a.load_ptr(gpr, slot);
        e.pinned.push((slot, gpr));
    }
    // A trial run of the loop body: keep each loaded input in a register
    // for the whole body if registers allow, and hoist the constants it
    // broadcasts into the registers it never needed.
    let mut trial = e.fork();
    trial.body();
    if trial.out_of_regs {
        e.keep_loads = false;
        trial = e.fork();
        trial.body();
    }
    for &bits in trial.wanted.iter().take(trial.low_water) {
        let z = e.take();
        let m = e.a.constant(bits);
        e.a.broadcast(z, m);
        e.hoisted.push((bits, z));
    }
    let skip_loop = e.a.loop_start();
    let top = e.a.here();
    e.body();
    e.a.loop_end(top);
    e.a.patch_jump(skip_loop);
    let skip_tail = e.a.tail_mask(TAIL);
    e.mask = TAIL;
    e.body();
    e.a.patch_jump(skip_tail);
    if stream {
        e.a.sfence();
    }
    e.a.ret();
    (!e.out_of_regs).then(|| e.a.finish())
}

struct Emitter<'p> {
    a: Asm,
    prog: &'p TileProgram,
    /// Per f32 program register: its zmm.
    reg: Vec<u8>,
    /// Per input: the zmm holding its value when it is a splat.
    splat: Vec<Option<u8>>,
    /// Free scratch zmm registers.
    free: Vec<u8>,
    /// The mask of loads and stores: `k0` (none) in the loop, the tail
    /// mask after it.
    mask: u8,
    out_of_regs: bool,
    /// Keep an input loaded once per body in a register for later reads.
    keep_loads: bool,
    /// Per input: the register it is loaded in during this body.
    loaded: Vec<Option<u8>>,
    /// Constants broadcast into registers before the loop: `(bits, zmm)`.
    hoisted: Vec<(u32, u8)>,
    /// Constants the body broadcast, in order of first use.
    wanted: Vec<u32>,
    /// The fewest free registers seen.
    low_water: usize,
    /// Slots whose pointer stays in a register: `(slot, gpr)`.
    pinned: Vec<(usize, u8)>,
    /// Splat inputs with a mask register of their NaN lanes: `(input, k)`.
    nan_masks: Vec<(usize, u8)>,
    /// Non-temporal stores in the loop.
    stream: bool,
}

impl<'p> Emitter<'p> {
    /// A copy of the allocation state with an empty assembler (for a
    /// trial run).
    fn fork(&self) -> Emitter<'p> {
        Emitter {
            a: Asm::default(),
            prog: self.prog,
            reg: self.reg.clone(),
            splat: self.splat.clone(),
            free: self.free.clone(),
            mask: self.mask,
            out_of_regs: false,
            keep_loads: self.keep_loads,
            loaded: self.loaded.clone(),
            hoisted: self.hoisted.clone(),
            wanted: vec![],
            low_water: self.free.len(),
            pinned: self.pinned.clone(),
            nan_masks: self.nan_masks.clone(),
            stream: self.stream,
        }
    }

    fn take(&mut self) -> u8 {
        let z = self.free.pop().unwrap_or_else(|| {
            self.out_of_regs = true;
            0
        });
        self.low_water = self.low_water.min(self.free.len());
        z
    }

    /// The constant with these bits as the last operand of an
    /// instruction: its hoisted register, else the pool entry broadcast.
    fn operand(&mut self, bits: u32) -> Rm {
        if let Some(&(_, z)) = self.hoisted.iter().find(|(b, _)| *b == bits) {
            return Rm::Zmm(z);
        }
        if !self.wanted.contains(&bits) {
            self.wanted.push(bits);
        }
        Rm::Mem(self.a.constant(bits))
    }

    /// A register holding the f32 constant with these bits in all lanes
    /// (a hoisted one, or a scratch broadcast to give back).
    fn konst(&mut self, bits: u32) -> (u8, bool) {
        match self.operand(bits) {
            Rm::Zmm(z) => (z, false),
            Rm::Mem(m) => {
                let z = self.take();
                self.a.broadcast(z, m);
                (z, true)
            }
        }
    }

    fn give(&mut self, z: u8) {
        self.free.push(z);
    }

    /// The current vector of argument `slot`: through its pinned
    /// pointer register, or through r11 loaded from the table.
    fn slot_mem(&mut self, slot: usize) -> Mem {
        let base = match self.pinned.iter().find(|(s, _)| *s == slot) {
            Some(&(_, gpr)) => gpr,
            None => {
                self.a.load_ptr(R11, slot);
                R11
            }
        };
        Mem::BaseIndex { base, index: RAX }
    }

    /// The zmm holding `s`, and whether it is a scratch copy to give back.
    fn get(&mut self, s: Src) -> (u8, bool) {
        match s {
            Src::Reg(r) => (self.reg[r as usize], false),
            Src::In(k) => match self.splat[k as usize] {
                Some(z) => (z, false),
                None => {
                    if let Some(z) = self.loaded[k as usize] {
                        return (z, false);
                    }
                    let z = self.take();
                    let m = self.slot_mem(k as usize);
                    self.a.load(z, m, self.mask);
                    if self.keep_loads {
                        self.loaded[k as usize] = Some(z);
                        return (z, false);
                    }
                    (z, true)
                }
            },
        }
    }

    fn release(&mut self, (z, temp): (u8, bool)) {
        if temp {
            self.give(z);
        }
    }

    /// Writes `v` to `d`.
    fn put(&mut self, d: Dst, v: u8) {
        match d {
            Dst::Reg(r) => self.a.mov(self.reg[r as usize], v),
            Dst::Out(k) => {
                let m = self.slot_mem(self.prog.inputs.len() + k as usize);
                if self.mask == 0 && self.stream {
                    self.a.store_streaming(m, v);
                } else {
                    self.a.store(m, v, self.mask);
                }
            }
        }
    }

    fn body(&mut self) {
        if self.mask == 0 {
            for k in 0..self.prog.inputs.len() {
                if self.splat[k].is_none() {
                    if let Mem::BaseIndex { base, index } = self.slot_mem(k) {
                        self.a.prefetch(base, index, PREFETCH_AHEAD);
                    }
                }
            }
        }
        for instr in &self.prog.code {
            self.instr(instr);
        }
        for k in 0..self.loaded.len() {
            if let Some(z) = self.loaded[k].take() {
                self.give(z);
            }
        }
    }

    fn instr(&mut self, instr: &Instr) {
        let t = self.take();
        let dst = match *instr {
            Instr::Unary {
                op,
                x,
                pre,
                post,
                dst,
                ..
            } => {
                let x = self.get(x);
                let v = self.clamp(t, x.0, pre);
                self.unary(op, t, v);
                self.release(x);
                self.affine(t, post);
                dst
            }
            Instr::Binary { op, a, b, dst, .. } => {
                let (a, b) = (self.get(a), self.get(b));
                self.binary(op, t, a.0, b.0);
                self.release(a);
                self.release(b);
                dst
            }
            Instr::Compare { op, a, b, dst, .. } => {
                let (a, b) = (self.get(a), self.get(b));
                let Dst::Reg(r) = dst else {
                    unreachable!("checked by `supported`")
                };
                self.a
                    .cmp(BOOL_REGS[r as usize], a.0, Rm::Zmm(b.0), predicate(op), 0);
                self.release(a);
                self.release(b);
                self.give(t);
                return;
            }
            Instr::Select { c, a, b, dst, .. } => {
                let Src::Reg(c) = c else {
                    unreachable!("checked by `supported`")
                };
                let (a, b) = (self.get(a), self.get(b));
                self.a.blend(t, BOOL_REGS[c as usize], b.0, a.0);
                self.release(a);
                self.release(b);
                dst
            }
            Instr::CmpSelect {
                op,
                a,
                b,
                x,
                y,
                post,
                dst,
                ..
            } => {
                let (a, b) = (self.get(a), self.get(b));
                self.a.cmp(KTMP, a.0, Rm::Zmm(b.0), predicate(op), 0);
                self.release(a);
                self.release(b);
                let (x, y) = (self.get(x), self.get(y));
                self.a.blend(t, KTMP, y.0, x.0);
                self.release(x);
                self.release(y);
                self.affine(t, post);
                dst
            }
            Instr::Copy { x, dst, .. } => {
                let x = self.get(x);
                self.a.mov(t, x.0);
                self.release(x);
                dst
            }
            Instr::Cast { .. } => unreachable!("checked by `supported`"),
        };
        self.put(dst, t);
        self.give(t);
    }

    /// `t = clamp(x)` when `c` has bounds (returning `t`), else `x`.
    fn clamp(&mut self, t: u8, x: u8, c: Clamp) -> u8 {
        let mut v = x;
        for (bound, max) in [(c.lo, true), (c.hi, false)] {
            if let Some(k) = bound {
                let b = self.get(Src::In(k));
                match self.nan_masks.iter().find(|(i, _)| *i == k as usize) {
                    // A splat bound: `lo > v ? lo : v` (`vmaxps lo, v`
                    // returns `v` when `v` is NaN) is `max_nan(v, lo)`
                    // unless `lo` is NaN, and then the answer is `lo`:
                    // its NaN mask, computed before the loop, picks it.
                    Some(&(_, nan)) => {
                        let op = if max { asm::VMAXPS } else { asm::VMINPS };
                        self.a.v3(op, t, b.0, Rm::Zmm(v));
                        self.a.blend(t, nan, t, b.0);
                    }
                    None => self.max_min(t, v, b.0, max),
                }
                self.release(b);
                v = t;
            }
        }
        v
    }

    /// `t = post(t)`.
    fn affine(&mut self, t: u8, p: Affine) {
        if let Some(k) = p.mul {
            let m = self.get(Src::In(k));
            self.a.v3(asm::VMULPS, t, t, Rm::Zmm(m.0));
            self.release(m);
        }
        if let Some(k) = p.add {
            let s = self.get(Src::In(k));
            let op = if p.sub { asm::VSUBPS } else { asm::VADDPS };
            self.a.v3(op, t, t, Rm::Zmm(s.0));
            self.release(s);
        }
    }

    /// `d = max_nan(a, b)` (or `min_nan`): `a` if `a` is NaN or `a >= b`
    /// (`<=`), else `b`.
    fn max_min(&mut self, d: u8, a: u8, b: u8, max: bool) {
        self.a.cmp(KTMP, a, Rm::Zmm(a), ORD_Q, 0);
        let pred = if max { NGE_UQ } else { NLE_UQ };
        self.a.cmp(KTMP, a, Rm::Zmm(b), pred, KTMP);
        self.a.blend(d, KTMP, a, b);
    }

    fn binary(&mut self, op: BinaryOp, d: u8, a: u8, b: u8) {
        use BinaryOp::*;
        let code = match op {
            Add => asm::VADDPS,
            Sub => asm::VSUBPS,
            Mul => asm::VMULPS,
            Div => asm::VDIVPS,
            Maximum | Minimum => return self.max_min(d, a, b, op == Maximum),
            _ => unreachable!("checked by `supported`"),
        };
        self.a.v3(code, d, a, Rm::Zmm(b));
    }

    /// `d = op(x)` (`d` may be `x`).
    fn unary(&mut self, op: UnaryOp, d: u8, x: u8) {
        use UnaryOp::*;
        match op {
            Neg => {
                let m = self.operand(0x8000_0000);
                self.a.v3(asm::VPXORD, d, x, m);
            }
            Abs => {
                let m = self.operand(0x7FFF_FFFF);
                self.a.v3(asm::VPANDD, d, x, m);
            }
            Sqrt => self.a.v3(asm::VSQRTPS, d, 0, Rm::Zmm(x)),
            Recip => self.divide_one(d, x),
            Rsqrt => {
                let s = self.take();
                self.a.v3(asm::VSQRTPS, s, 0, Rm::Zmm(x));
                self.divide_one(d, s);
                self.give(s);
            }
            Exp => self.exp(d, x, false),
            Expm1 => self.exp(d, x, true),
            Tanh => self.tanh(d, x),
            Sigmoid => self.sigmoid(d, x),
            _ => unreachable!("checked by `supported`"),
        }
    }

    /// `d = 1 / x`.
    fn divide_one(&mut self, d: u8, x: u8) {
        let one = self.konst(1f32.to_bits());
        self.a.v3(asm::VDIVPS, d, one.0, Rm::Zmm(x));
        self.release(one);
    }

    /// `d = lo_or_hi <op> v` with the constant as the first operand
    /// (`vminps`/`vmaxps` return the second operand on NaN).
    fn const_first(&mut self, op: asm::Op, d: u8, k: f32, v: u8) {
        let c = self.konst(k.to_bits());
        self.a.v3(op, d, c.0, Rm::Zmm(v));
        self.release(c);
    }

    /// `d = vmath::exp(x)`, or `vmath::expm1(x)` with `m1`: the same
    /// operations in the same order (see `crate::cpu::vmath`).
    fn exp(&mut self, d: u8, x: u8, m1: bool) {
        let (hi, lo) = if m1 { (89.0, -18.0) } else { (89.0, -110.0) };
        // c = if x > hi { hi } else { x }; c = if c < lo { lo } else { c }
        let c = self.take();
        self.const_first(asm::VMINPS, c, hi, x);
        self.const_first(asm::VMAXPS, c, lo, c);
        // reduce_ln2: t = fma(c, LOG2E, MAGIC), nf = t - MAGIC,
        // r = fma(-nf, LN2_HI, c), r = fma(-nf, LN2_LO, r)
        let nf = self.take();
        self.a.mov(nf, c);
        let log2e = self.konst(vmath::LOG2E.to_bits());
        let magic = self.operand(vmath::MAGIC.to_bits());
        self.a.v3(asm::VFMADD213PS, nf, log2e.0, magic);
        self.release(log2e);
        self.a.v3(asm::VSUBPS, nf, nf, magic);
        let r = c;
        let hi_part = self.operand(vmath::LN2_HI.to_bits());
        let lo_part = self.operand(vmath::LN2_LO.to_bits());
        self.a.v3(asm::VFNMADD231PS, r, nf, hi_part);
        self.a.v3(asm::VFNMADD231PS, r, nf, lo_part);
        // p = exp_poly(r)
        let p = self.take();
        let [c0, rest @ ..] = vmath::EXP_POLY;
        let c0 = self.konst(c0.to_bits());
        self.a.mov(p, c0.0);
        self.release(c0);
        for ck in rest {
            let ck = self.operand(ck.to_bits());
            self.a.v3(asm::VFMADD213PS, p, r, ck);
        }
        let rr = self.take();
        self.a.v3(asm::VMULPS, rr, r, Rm::Zmm(r));
        // exp: y = fma(p, rr, r) + 1; expm1: q = fma(rr, p, r): both rr * p + r.
        self.a.v3(asm::VFMADD213PS, p, rr, Rm::Zmm(r));
        self.give(rr);
        self.give(r);
        // vmath builds each power of two 2^k from the bits of the integer
        // k and multiplies by it; `vscalefps` (y * 2^k in one rounding) is
        // the same product. Every k here is the exponent of a normal
        // float, so y * 2^k is exact unless the result is subnormal or
        // overflows, where both round it once.
        let one = self.operand(1f32.to_bits());
        if m1 {
            // n1 = min(n, 126); s1 = 2^n1; y = fma(s1, q, s1 - 1) * 2^(n - n1)
            let n1 = self.take();
            self.const_first(asm::VMINPS, n1, 126.0, nf);
            self.a.v3(asm::VSUBPS, nf, nf, Rm::Zmm(n1));
            let one_reg = self.konst(1f32.to_bits());
            self.a.v3(asm::VSCALEFPS, n1, one_reg.0, Rm::Zmm(n1));
            self.release(one_reg);
            let s1m1 = self.take();
            self.a.v3(asm::VSUBPS, s1m1, n1, one);
            self.a.v3(asm::VFMADD213PS, p, n1, Rm::Zmm(s1m1));
            self.give(s1m1);
            self.give(n1);
            self.a.v3(asm::VSCALEFPS, p, p, Rm::Zmm(nf));
            // if x == 0 { x } else { y }
            let zero = self.operand(0f32.to_bits());
            self.a.cmp(KTMP, x, zero, EQ_OQ, 0);
            self.a.blend(d, KTMP, p, x);
        } else {
            // y = (fma(p, rr, r) + 1) * 2^n
            self.a.v3(asm::VADDPS, p, p, one);
            self.a.v3(asm::VSCALEFPS, d, p, Rm::Zmm(nf));
        }
        self.give(p);
        self.give(nf);
    }

    /// `d = vmath::sigmoid(x)`: `e = exp(-|x|)`, then
    /// `(x >= 0 ? 1 : e) / (1 + e)`.
    fn sigmoid(&mut self, d: u8, x: u8) {
        let e = self.take();
        let sign = self.operand(0x8000_0000);
        // -|x|: the sign bit set (neg of abs, bit for bit).
        self.a.v3(asm::VPORD, e, x, sign);
        self.exp(e, e, false);
        let one = self.konst(1f32.to_bits());
        let zero = self.operand(0f32.to_bits());
        self.a.cmp(KTMP, x, zero, GE_OQ, 0);
        let num = self.take();
        self.a.blend(num, KTMP, e, one.0);
        self.a.v3(asm::VADDPS, e, e, Rm::Zmm(one.0));
        self.release(one);
        self.a.v3(asm::VDIVPS, d, num, Rm::Zmm(e));
        self.give(num);
        self.give(e);
    }

    /// `d = vmath::tanh(x)`: the same clamp, polynomials, division and
    /// saturation as the Rust function.
    fn tanh(&mut self, d: u8, x: u8) {
        let clamp = vmath::TANH_CLAMP;
        let c = self.take();
        self.const_first(asm::VMINPS, c, clamp, x);
        self.const_first(asm::VMAXPS, c, -clamp, c);
        let z = self.take();
        self.a.v3(asm::VMULPS, z, c, Rm::Zmm(c));
        let p = self.poly(&vmath::TANH_P, z);
        let q = self.poly(&vmath::TANH_Q, z);
        self.a.v3(asm::VDIVPS, p, p, Rm::Zmm(q));
        self.a.v3(asm::VMULPS, c, c, Rm::Zmm(p));
        self.give(q);
        self.give(p);
        // |x| >= CLAMP (false for NaN): copysign(1, x) = (x & sign) | 1.
        let mask = self.operand(0x7FFF_FFFF);
        self.a.v3(asm::VPANDD, z, x, mask);
        let lim = self.operand(clamp.to_bits());
        self.a.cmp(KTMP, z, lim, GE_OQ, 0);
        let sign = self.operand(0x8000_0000);
        self.a.v3(asm::VPANDD, z, x, sign);
        let one = self.operand(1f32.to_bits());
        self.a.v3(asm::VPORD, z, z, one);
        self.a.blend(d, KTMP, c, z);
        self.give(z);
        self.give(c);
    }

    /// A new register with the polynomial `coeffs` (highest degree first)
    /// at `z`, by Horner's rule with one FMA per step.
    fn poly(&mut self, coeffs: &[f32], z: u8) -> u8 {
        let p = self.take();
        let c0 = self.konst(coeffs[0].to_bits());
        self.a.mov(p, c0.0);
        self.release(c0);
        for &ck in &coeffs[1..] {
            let ck = self.operand(ck.to_bits());
            self.a.v3(asm::VFMADD213PS, p, z, ck);
        }
        p
    }
}

fn predicate(op: CompareOp) -> u8 {
    match op {
        CompareOp::Eq => EQ_OQ,
        CompareOp::Ne => NEQ_UQ,
        CompareOp::Lt => LT_OQ,
        CompareOp::Le => LE_OQ,
        CompareOp::Gt => GT_OQ,
        CompareOp::Ge => GE_OQ,
    }
}
