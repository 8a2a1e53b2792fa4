//! Fused elementwise subgraphs and the tile programs they compile to.
//!
//! A [`FusedGraph`] is a small dataflow graph of elementwise primitives over
//! one iteration shape: what the fusion pass hands the CPU backend. It is
//! also the key of the kernel cache, so it holds no shapes, only structure
//! and dtypes. [`compile`] turns it into a [`TileProgram`]: a list of
//! register instructions, each of which the tile interpreter
//! ([`super::tile`]) runs over one tile of elements at a time, so
//! intermediates live in L1-sized registers instead of DRAM.

use crate::dtype::DType;
use crate::primitive::{BinaryOp, CompareOp, Primitive, UnaryOp};
use std::fmt;

/// Where an op of a [`FusedGraph`] reads a value from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operand {
    /// Input `k` of the kernel (an array of the iteration shape).
    Input(usize),
    /// The result of op `i` of the graph (an earlier op).
    Op(usize),
}

/// One elementwise op of a fused graph.
#[derive(Clone, Debug, PartialEq)]
pub struct FusedOp {
    /// An elementwise primitive (see [`is_fusible`]).
    pub prim: Primitive,
    /// Its operands, in the primitive's order.
    pub args: Vec<Operand>,
    /// The dtype of its result.
    pub dtype: DType,
}

/// A fused elementwise subgraph: inputs of the iteration shape, ops in
/// dependency order, and the values the kernel writes out.
#[derive(Clone, Debug, PartialEq)]
pub struct FusedGraph {
    /// Dtypes of the kernel's inputs.
    pub inputs: Vec<DType>,
    /// The ops; each reads inputs and earlier ops.
    pub ops: Vec<FusedOp>,
    /// The values written to the kernel's outputs, in order.
    pub outputs: Vec<Operand>,
}

impl Eq for FusedGraph {}

impl std::hash::Hash for FusedGraph {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.inputs.hash(h);
        for op in &self.ops {
            // Elementwise primitives print every parameter (`cast[dtype=f32]`).
            op.prim.to_string().hash(h);
            op.args.hash(h);
            op.dtype.hash(h);
        }
        self.outputs.hash(h);
    }
}

/// The element types a fused kernel computes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lane {
    F32,
    F64,
    Bool,
}

impl Lane {
    /// The lane type of a dtype, if fused kernels handle it.
    pub fn of(dtype: DType) -> Option<Lane> {
        match dtype {
            DType::F32 => Some(Lane::F32),
            DType::F64 => Some(Lane::F64),
            DType::Bool => Some(Lane::Bool),
            _ => None,
        }
    }

    /// The dtype of this lane type.
    pub fn dtype(self) -> DType {
        match self {
            Lane::F32 => DType::F32,
            Lane::F64 => DType::F64,
            Lane::Bool => DType::Bool,
        }
    }
}

/// True if fused kernels implement `prim` with these input dtypes and
/// output dtype (f32, f64 and bool elementwise ops).
pub fn is_fusible(prim: &Primitive, inputs: &[DType], out: DType) -> bool {
    let float = |d: DType| matches!(d, DType::F32 | DType::F64);
    let lanes_ok = inputs.iter().chain([&out]).all(|&d| Lane::of(d).is_some());
    if !lanes_ok {
        return false;
    }
    match prim {
        Primitive::Unary(UnaryOp::LogicalNot) => true,
        Primitive::Unary(UnaryOp::IsNan | UnaryOp::IsInf) => float(inputs[0]),
        Primitive::Unary(_) => float(inputs[0]),
        Primitive::Binary(BinaryOp::LogicalAnd | BinaryOp::LogicalOr) => true,
        Primitive::Binary(BinaryOp::Maximum | BinaryOp::Minimum) => true,
        Primitive::Binary(_) => float(inputs[0]),
        Primitive::Compare(_) | Primitive::Select | Primitive::Cast(_) => true,
        _ => false,
    }
}

/// A register or kernel input read by an instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Src {
    /// Register `r` of the instruction's lane type.
    Reg(u16),
    /// Kernel input `k`.
    In(u16),
}

/// Where an instruction writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dst {
    /// Register `r` of the result's lane type.
    Reg(u16),
    /// Kernel output `k` (written directly, no copy).
    Out(u16),
}

/// A clamp folded into a unary instruction before its op:
/// `min(max(x, lo), hi)`, each bound a kernel input (in the common case a
/// constant: one value repeated). `None` bounds are absent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Clamp {
    /// Input holding the lower bound (`maximum(x, lo)`).
    pub lo: Option<u16>,
    /// Input holding the upper bound (`minimum(.., hi)`, after `lo`).
    pub hi: Option<u16>,
}

/// An affine map folded into an instruction after its op:
/// `y * mul` then `+ add` (or `- add`), each operand a kernel input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Affine {
    /// Input multiplied in first.
    pub mul: Option<u16>,
    /// Input added (or subtracted, with `sub`) after `mul`.
    pub add: Option<u16>,
    /// `y - add` instead of `y + add`.
    pub sub: bool,
}

impl Clamp {
    /// True when no bound is folded in.
    pub fn is_none(&self) -> bool {
        self.lo.is_none() && self.hi.is_none()
    }
}

impl Affine {
    /// True when nothing is folded in.
    pub fn is_none(&self) -> bool {
        self.mul.is_none() && self.add.is_none()
    }
}

/// One instruction of a tile program. `t` is the lane type of the operands
/// (for `Cast`, of the source; the destination has the result's type).
#[derive(Clone, Debug, PartialEq)]
pub enum Instr {
    /// `post(op(pre(x)))`: the neighbouring clamp and affine ops run in
    /// the same loop (float lanes only; both are empty otherwise).
    Unary {
        op: UnaryOp,
        t: Lane,
        x: Src,
        pre: Clamp,
        post: Affine,
        dst: Dst,
    },
    Binary {
        op: BinaryOp,
        t: Lane,
        a: Src,
        b: Src,
        dst: Dst,
    },
    Compare {
        op: CompareOp,
        t: Lane,
        a: Src,
        b: Src,
        dst: Dst,
    },
    Select {
        t: Lane,
        c: Src,
        a: Src,
        b: Src,
        dst: Dst,
    },
    Cast {
        from: Lane,
        to: Lane,
        x: Src,
        dst: Dst,
    },
    /// Copies a value to an output (a value that is also read later).
    Copy { t: Lane, x: Src, dst: Dst },
    /// `post(select(a op b, x, y))` in one pass, for a comparison read
    /// only by that select (`where_(x > 0, ..)`): no bool register in
    /// between. `t` is the lane type of all four operands; `post` is empty
    /// on bool lanes.
    CmpSelect {
        op: CompareOp,
        t: Lane,
        a: Src,
        b: Src,
        x: Src,
        y: Src,
        post: Affine,
        dst: Dst,
    },
}

/// A compiled fused kernel: instructions over typed tile registers.
#[derive(Clone, Debug, PartialEq)]
pub struct TileProgram {
    /// Lane types of the inputs.
    pub inputs: Vec<Lane>,
    /// Lane types of the outputs.
    pub outputs: Vec<Lane>,
    /// Registers needed per lane type: `[f32, f64, bool]`.
    pub regs: [usize; 3],
    /// The instructions, run in order on every tile; together they write
    /// every output.
    pub code: Vec<Instr>,
    /// Machine code for this program, compiled on first use per set of
    /// splat inputs (see [`super::native`]).
    pub native: super::native::NativeCache,
}

fn slot(l: Lane) -> usize {
    match l {
        Lane::F32 => 0,
        Lane::F64 => 1,
        Lane::Bool => 2,
    }
}

/// How the ops of a graph group into instructions: an op either heads an
/// instruction or is computed inside another op's instruction.
struct Folding {
    /// Per op: true when another op's instruction computes it.
    absorbed: Vec<bool>,
    /// Per op: the operands its instruction reads (empty when absorbed).
    reads: Vec<Vec<Operand>>,
    /// Per op: the op whose value its instruction produces (itself, or the
    /// last op of a folded affine map).
    produces: Vec<usize>,
    /// Per op: the clamp folded in before it (unary ops).
    pre: Vec<Clamp>,
    /// Per op: the affine map folded in after it (unary ops and selects).
    post: Vec<Affine>,
}

impl Folding {
    /// Marks op `j` as computed inside another op's instruction.
    fn absorb(&mut self, j: usize) {
        self.absorbed[j] = true;
        self.reads[j].clear();
    }
}

/// Groups ops into instructions:
/// - a comparison whose only use is the condition of one select of the
///   same lane type joins it ([`Instr::CmpSelect`]);
/// - a float unary op absorbs `maximum(x, lo)` / `minimum(x, hi)` (or
///   `minimum(maximum(x, lo), hi)`) of its operand, when each is read only
///   by it and its bound is a kernel input;
/// - a float unary op or compare-select absorbs a following `* k` and then
///   `+ k` / `- k` when it is their only operand read and each `k` is a
///   kernel input (as constants are).
///
/// Absorbed ops are never written out. The folded ops compute what the
/// separate ops compute, in the same order, so results are bitwise equal.
fn fold(g: &FusedGraph, out_uses: &[Vec<usize>]) -> Folding {
    let n = g.ops.len();
    let mut readers = vec![vec![]; n];
    for (i, op) in g.ops.iter().enumerate() {
        for a in &op.args {
            if let Operand::Op(j) = *a {
                readers[j].push(i);
            }
        }
    }
    // The one op that reads op j's value, if j is read once and not written out.
    let sole_reader = |j: usize| match readers[j][..] {
        [r] if out_uses[j].is_empty() => Some(r),
        _ => None,
    };
    let only_for = |j: usize, i: usize| sole_reader(j) == Some(i);
    let float_lane = |d: DType| matches!(Lane::of(d), Some(Lane::F32 | Lane::F64));
    let binary = |j: usize, b: BinaryOp| {
        matches!(g.ops[j].prim, Primitive::Binary(o) if o == b) && g.ops[j].dtype.is_float()
    };
    let input = |a: Operand| match a {
        Operand::Input(k) => Some(k as u16),
        Operand::Op(_) => None,
    };
    let mut f = Folding {
        absorbed: vec![false; n],
        reads: g.ops.iter().map(|op| op.args.clone()).collect(),
        produces: (0..n).collect(),
        pre: vec![Clamp::default(); n],
        post: vec![Affine::default(); n],
    };
    for (i, op) in g.ops.iter().enumerate() {
        let staged = match op.prim {
            Primitive::Unary(u) => {
                !matches!(u, UnaryOp::LogicalNot | UnaryOp::IsNan | UnaryOp::IsInf)
                    && float_lane(op.dtype)
            }
            Primitive::Select => {
                // A comparison read only here becomes part of the select.
                let Operand::Op(j) = op.args[0] else {
                    continue;
                };
                let cmp = &g.ops[j];
                let folds = matches!(cmp.prim, Primitive::Compare(_))
                    && only_for(j, i)
                    && Lane::of(arg_dtype(g, &cmp.args[0])) == Lane::of(op.dtype);
                if !folds {
                    continue;
                }
                f.absorb(j);
                f.reads[i] = vec![cmp.args[0], cmp.args[1], op.args[1], op.args[2]];
                float_lane(op.dtype)
            }
            _ => false,
        };
        if !staged {
            continue;
        }
        if let Primitive::Unary(_) = op.prim {
            // The clamp before: minimum(maximum(x, lo), hi), either part.
            let mut x = op.args[0];
            let mut pre = Clamp::default();
            let absorb = |j: usize, x: &mut Operand, f: &mut Folding| {
                f.absorb(j);
                *x = g.ops[j].args[0];
            };
            // The op reading `x` (the unary op, or the absorbed minimum).
            let mut reader = i;
            if let Operand::Op(j) = x {
                if binary(j, BinaryOp::Minimum) && only_for(j, i) {
                    if let Some(k) = input(g.ops[j].args[1]) {
                        pre.hi = Some(k);
                        absorb(j, &mut x, &mut f);
                        reader = j;
                    }
                }
            }
            if let Operand::Op(j) = x {
                if binary(j, BinaryOp::Maximum) && only_for(j, reader) {
                    if let Some(k) = input(g.ops[j].args[1]) {
                        pre.lo = Some(k);
                        absorb(j, &mut x, &mut f);
                    }
                }
            }
            f.pre[i] = pre;
            f.reads[i] = vec![x];
        }
        // The affine map after: `* k`, then `+ k` or `- k`.
        let mut cur = i;
        let mut post = Affine::default();
        let other = |p: usize, cur: usize| {
            let a = &g.ops[p].args;
            match (a[0], a[1]) {
                (Operand::Op(c), k) if c == cur => input(k).map(|k| (k, false)),
                (k, Operand::Op(c)) if c == cur => input(k).map(|k| (k, true)),
                _ => None,
            }
        };
        if let Some(p) = sole_reader(cur) {
            if binary(p, BinaryOp::Mul) {
                if let Some((k, _)) = other(p, cur) {
                    post.mul = Some(k);
                    f.absorb(p);
                    cur = p;
                }
            }
        }
        if let Some(p) = sole_reader(cur) {
            let add = binary(p, BinaryOp::Add);
            if add || binary(p, BinaryOp::Sub) {
                match other(p, cur) {
                    // `k - y` is not `y * m + a`: left as its own op.
                    Some((k, swapped)) if add || !swapped => {
                        post.add = Some(k);
                        post.sub = !add;
                        f.absorb(p);
                        cur = p;
                    }
                    _ => {}
                }
            }
        }
        f.post[i] = post;
        f.produces[i] = cur;
    }
    f
}

/// Compiles a fused graph: one instruction per op (a comparison read only
/// by a select joins it in one [`Instr::CmpSelect`]), registers allocated
/// by liveness (a register is reused once its last reader ran; an
/// instruction never writes a register it reads), and values that are only
/// written out go straight to their output.
///
/// Panics on a graph that [`is_fusible`] would reject (an internal error).
pub fn compile(g: &FusedGraph) -> TileProgram {
    let lane = |d: DType| Lane::of(d).expect("fused graphs hold f32/f64/bool values");
    let n = g.ops.len();
    let mut out_uses = vec![vec![]; n];
    for (k, o) in g.outputs.iter().enumerate() {
        if let Operand::Op(j) = *o {
            out_uses[j].push(k);
        }
    }
    let Folding {
        absorbed,
        reads,
        produces,
        pre,
        post,
    } = fold(g, &out_uses);
    // Last op that reads each op's value (None = never).
    let mut last_read = vec![None; n];
    for (i, args) in reads.iter().enumerate() {
        for a in args {
            if let Operand::Op(j) = *a {
                last_read[j] = Some(i);
            }
        }
    }
    let mut free: [Vec<u16>; 3] = Default::default();
    let mut count = [0usize; 3];
    let mut loc: Vec<Option<Src>> = vec![None; n];
    let mut code = Vec::with_capacity(n + g.outputs.len());
    for (i, op) in g.ops.iter().enumerate() {
        if absorbed[i] {
            continue; // computed inside another op's instruction
        }
        let src = |a: &Operand, loc: &[Option<Src>]| match *a {
            Operand::Input(k) => Src::In(k as u16),
            Operand::Op(j) => loc[j].expect("operands precede their readers"),
        };
        let args: Vec<Src> = reads[i].iter().map(|a| src(a, &loc)).collect();
        let t_out = lane(op.dtype);
        // The value this instruction produces (op i's, or that of the
        // last op folded in after it).
        let v = produces[i];
        // Written out once and never read again: straight to the output.
        let dst = if last_read[v].is_none() && out_uses[v].len() == 1 {
            Dst::Out(out_uses[v][0] as u16)
        } else {
            let s = slot(t_out);
            let r = free[s].pop().unwrap_or_else(|| {
                count[s] += 1;
                (count[s] - 1) as u16
            });
            loc[v] = Some(Src::Reg(r));
            Dst::Reg(r)
        };
        let t_in = |k: usize| lane(arg_dtype(g, &op.args[k]));
        code.push(match &op.prim {
            Primitive::Unary(u) => Instr::Unary {
                op: *u,
                t: t_in(0),
                x: args[0],
                pre: pre[i],
                post: post[i],
                dst,
            },
            Primitive::Binary(b) => Instr::Binary {
                op: *b,
                t: t_in(0),
                a: args[0],
                b: args[1],
                dst,
            },
            Primitive::Compare(c) => Instr::Compare {
                op: *c,
                t: t_in(0),
                a: args[0],
                b: args[1],
                dst,
            },
            Primitive::Select if args.len() == 4 => {
                let Operand::Op(j) = op.args[0] else {
                    unreachable!("a folded select reads a comparison")
                };
                let Primitive::Compare(c) = g.ops[j].prim else {
                    unreachable!("a folded select reads a comparison")
                };
                Instr::CmpSelect {
                    op: c,
                    t: t_out,
                    a: args[0],
                    b: args[1],
                    x: args[2],
                    y: args[3],
                    post: post[i],
                    dst,
                }
            }
            Primitive::Select => Instr::Select {
                t: t_in(1),
                c: args[0],
                a: args[1],
                b: args[2],
                dst,
            },
            Primitive::Cast(_) => Instr::Cast {
                from: t_in(0),
                to: t_out,
                x: args[0],
                dst,
            },
            p => panic!(
                "kiln internal error: {} is not a fused elementwise op",
                p.name()
            ),
        });
        // Copies for values that are written out and also read later (or
        // written out more than once).
        if let Dst::Reg(r) = dst {
            for &k in &out_uses[v] {
                code.push(Instr::Copy {
                    t: t_out,
                    x: Src::Reg(r),
                    dst: Dst::Out(k as u16),
                });
            }
        }
        // Registers whose last reader was this op are free again.
        for a in &reads[i] {
            if let Operand::Op(j) = *a {
                if last_read[j] == Some(i) {
                    if let Some(Src::Reg(r)) = loc[j].take() {
                        let s = slot(lane(g.ops[j].dtype));
                        if !free[s].contains(&r) {
                            free[s].push(r);
                        }
                    }
                }
            }
        }
    }
    // Outputs that are kernel inputs are copies of them.
    for (k, o) in g.outputs.iter().enumerate() {
        if let Operand::Input(j) = *o {
            code.push(Instr::Copy {
                t: lane(g.inputs[j]),
                x: Src::In(j as u16),
                dst: Dst::Out(k as u16),
            });
        }
    }
    TileProgram {
        inputs: g.inputs.iter().map(|&d| lane(d)).collect(),
        outputs: g.outputs.iter().map(|o| lane(arg_dtype(g, o))).collect(),
        regs: count,
        code,
        native: Default::default(),
    }
}

/// The dtype of an operand of `g`.
pub fn arg_dtype(g: &FusedGraph, a: &Operand) -> DType {
    match *a {
        Operand::Input(k) => g.inputs[k],
        Operand::Op(j) => g.ops[j].dtype,
    }
}

impl Lane {
    /// Register name prefix: `s` (f32), `d` (f64), `b` (bool).
    fn prefix(self) -> char {
        match self {
            Lane::F32 => 's',
            Lane::F64 => 'd',
            Lane::Bool => 'b',
        }
    }
}

/// `s0` (an f32 register), `in1` (an input).
fn src(s: Src, lane: Lane) -> String {
    match s {
        Src::Reg(r) => format!("{}{r}", lane.prefix()),
        Src::In(k) => format!("in{k}"),
    }
}

/// `d2` (an f64 register), `out0` (an output).
fn dst(d: Dst, lane: Lane) -> String {
    match d {
        Dst::Reg(r) => format!("{}{r}", lane.prefix()),
        Dst::Out(k) => format!("out{k}"),
    }
}

impl fmt::Display for Lane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.dtype().name())
    }
}

impl fmt::Display for Instr {
    /// `s1 = exp s0`: one line per instruction; registers are named by
    /// lane type (`s` f32, `d` f64, `b` bool).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Lane::Bool;
        match self {
            Instr::Unary {
                op,
                t,
                x,
                pre,
                post,
                dst: d,
            } => {
                let out = match op {
                    UnaryOp::IsNan | UnaryOp::IsInf => Bool,
                    _ => *t,
                };
                let name = Primitive::Unary(*op).name();
                let mut arg = src(*x, *t);
                if let Some(k) = pre.lo {
                    arg = format!("(maximum {arg} in{k})");
                }
                if let Some(k) = pre.hi {
                    arg = format!("(minimum {arg} in{k})");
                }
                write!(f, "{} = {name} {arg}{post}", dst(*d, out))
            }
            Instr::Binary {
                op,
                t,
                a,
                b,
                dst: d,
            } => {
                let name = Primitive::Binary(*op).name();
                write!(
                    f,
                    "{} = {name} {} {}",
                    dst(*d, *t),
                    src(*a, *t),
                    src(*b, *t)
                )
            }
            Instr::Compare {
                op,
                t,
                a,
                b,
                dst: d,
            } => {
                let name = Primitive::Compare(*op).name();
                write!(
                    f,
                    "{} = {name} {} {}",
                    dst(*d, Bool),
                    src(*a, *t),
                    src(*b, *t)
                )
            }
            Instr::Select { t, c, a, b, dst: d } => write!(
                f,
                "{} = select {} {} {}",
                dst(*d, *t),
                src(*c, Bool),
                src(*a, *t),
                src(*b, *t)
            ),
            Instr::Cast {
                from,
                to,
                x,
                dst: d,
            } => {
                write!(f, "{} = cast[{to}] {}", dst(*d, *to), src(*x, *from))
            }
            Instr::Copy { t, x, dst: d } => write!(f, "{} = copy {}", dst(*d, *t), src(*x, *t)),
            Instr::CmpSelect {
                op,
                t,
                a,
                b,
                x,
                y,
                post,
                dst: d,
            } => write!(
                f,
                "{} = select ({} {} {}) {} {}{post}",
                dst(*d, *t),
                Primitive::Compare(*op).name(),
                src(*a, *t),
                src(*b, *t),
                src(*x, *t),
                src(*y, *t)
            ),
        }
    }
}

impl fmt::Display for Affine {
    /// ` |> mul in2 |> add in3`: nothing when empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(k) = self.mul {
            write!(f, " |> mul in{k}")?;
        }
        if let Some(k) = self.add {
            let name = if self.sub { "sub" } else { "add" };
            write!(f, " |> {name} in{k}")?;
        }
        Ok(())
    }
}

impl fmt::Display for TileProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ins: Vec<String> = self
            .inputs
            .iter()
            .enumerate()
            .map(|(k, t)| format!("in{k}:{t}"))
            .collect();
        writeln!(
            f,
            "tile program ({}) regs f32={} f64={} bool={}",
            ins.join(", "),
            self.regs[0],
            self.regs[1],
            self.regs[2]
        )?;
        for i in &self.code {
            writeln!(f, "  {i}")?;
        }
        Ok(())
    }
}
