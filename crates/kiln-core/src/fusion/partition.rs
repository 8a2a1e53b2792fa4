//! Grouping equations into fused kernels.
//!
//! Elementwise equations over one shape (f32/f64/bool, see
//! [`is_fusible`](crate::cpu::fused::is_fusible)) join the group of an
//! elementwise producer; a reduction joins the group that produces its
//! input (that group becomes its prologue), and elementwise equations over
//! the reduced shape that read the reduction join it as the epilogue.
//! Everything else (matmul, convolution pieces, gather/scatter, sort,
//! views, the single-pass row kernels) is a boundary and runs on its own.
//!
//! A group runs as one step at the position of its last member, so no
//! equation outside it may read a member before that position; every join
//! and merge checks this (which also keeps the unit graph acyclic).

use crate::cpu::fused::{is_fusible, reduce::split};
use crate::ir::Ir;
use crate::primitive::{Primitive, ReduceOp};

/// At most this many equations per group (keeps the convexity checks and
/// the tile programs small).
const MAX_GROUP: usize = 96;

/// A group of equations that runs as one fused kernel.
#[derive(Clone, Debug, Default)]
pub struct Group {
    /// Elementwise equations over the iteration shape, in order.
    pub prologue: Vec<usize>,
    /// The reduction, if any.
    pub reduce: Option<usize>,
    /// Elementwise equations over the reduced shape, in order.
    pub epilogue: Vec<usize>,
}

impl Group {
    /// Every equation of the group, in order.
    pub fn members(&self) -> Vec<usize> {
        let mut m = self.prologue.clone();
        m.extend(self.reduce);
        m.extend(&self.epilogue);
        m
    }

    fn len(&self) -> usize {
        self.prologue.len() + self.reduce.is_some() as usize + self.epilogue.len()
    }
}

/// A unit of execution: one equation or one fused group.
#[derive(Clone, Debug)]
pub enum Unit {
    Single(usize),
    Fused(Group),
}

impl Unit {
    /// The equations of the unit, in order.
    pub fn members(&self) -> Vec<usize> {
        match self {
            Unit::Single(i) => vec![*i],
            Unit::Fused(g) => g.members(),
        }
    }
}

/// True for elementwise equations fused kernels implement.
pub fn fusible_elementwise(ir: &Ir, i: usize) -> bool {
    let e = &ir.eqns[i];
    e.prim.is_elementwise()
        && is_fusible(
            &e.prim,
            &e.inputs
                .iter()
                .map(|&v| ir.vars[v].dtype)
                .collect::<Vec<_>>(),
            ir.vars[e.out].dtype,
        )
}

/// True for reductions fused kernels implement (f32/f64 sum, product,
/// max, min over axes that are consecutive once size-1 dims are ignored).
pub fn fusible_reduce(ir: &Ir, i: usize) -> bool {
    let e = &ir.eqns[i];
    match &e.prim {
        Primitive::Reduce { op, axes } => {
            let x = &ir.vars[e.inputs[0]];
            matches!(x.dtype, crate::DType::F32 | crate::DType::F64)
                && matches!(
                    op,
                    ReduceOp::Sum | ReduceOp::Prod | ReduceOp::Max | ReduceOp::Min
                )
                && split(&x.shape, axes).is_some()
        }
        _ => false,
    }
}

struct Partition<'a> {
    ir: &'a Ir,
    /// Producing equation of each variable.
    producer: Vec<Option<usize>>,
    /// Equations reading each variable.
    readers: Vec<Vec<usize>>,
    /// Group of each equation.
    group_of: Vec<Option<usize>>,
    groups: Vec<Option<Group>>,
}

impl Partition<'_> {
    /// True if the group `members` can run as one step at the position of
    /// its last member `i` (in equation order): no equation before `i`
    /// outside the group reads a member. Groups then run in the order of
    /// their last members, which is a valid schedule (every outside input
    /// of a group is made earlier, every outside reader runs later).
    fn schedulable(&self, members: &[usize], i: usize) -> bool {
        members.iter().all(|&m| {
            self.readers[self.ir.eqns[m].out]
                .iter()
                .all(|&r| r > i || members.contains(&r))
        })
    }

    /// True if group `g` can run as one kernel: convex, and no epilogue
    /// member reads a prologue value (those have the input shape, except
    /// around size-1 reductions, and exist only as stores).
    fn valid(&self, g: &Group) -> bool {
        let reads_prologue = g.epilogue.iter().any(|&m| {
            self.ir.eqns[m]
                .inputs
                .iter()
                .any(|&u| self.producer[u].is_some_and(|q| g.prologue.contains(&q)))
        });
        let members = g.members();
        let last = members.iter().copied().max().unwrap_or(0);
        !reads_prologue && self.schedulable(&members, last)
    }

    fn shape(&self, i: usize) -> &[usize] {
        &self.ir.vars[self.ir.eqns[i].out].shape
    }

    /// Where elementwise equation `i` could join group `g` through an input
    /// produced by `p`: `Some(true)` for the epilogue, `Some(false)` for
    /// the prologue.
    fn join_side(&self, g: &Group, p: usize, i: usize) -> Option<bool> {
        match g.reduce {
            None => (self.shape(p) == self.shape(i)).then_some(false),
            Some(r) => ((p == r || g.epilogue.contains(&p)) && self.shape(r) == self.shape(i))
                .then_some(true),
        }
    }
}

/// Splits the equations of `ir` into units of execution, in the order
/// they run (each at the position of its last equation).
pub fn partition(ir: &Ir) -> Vec<Unit> {
    let n = ir.eqns.len();
    let mut producer = vec![None; ir.vars.len()];
    for (i, e) in ir.eqns.iter().enumerate() {
        producer[e.out] = Some(i);
    }
    let mut readers = vec![vec![]; ir.vars.len()];
    for (i, e) in ir.eqns.iter().enumerate() {
        for &v in &e.inputs {
            readers[v].push(i);
        }
    }
    let mut p = Partition {
        ir,
        producer,
        readers,
        group_of: vec![None; n],
        groups: vec![],
    };
    for i in 0..n {
        if fusible_elementwise(ir, i) {
            join_elementwise(&mut p, i);
        } else if fusible_reduce(ir, i) {
            join_reduce(&mut p, i);
        }
    }
    let mut units = vec![];
    let mut placed = vec![false; n];
    for g in p.groups.into_iter().flatten() {
        let trivial = match g.reduce {
            None => g.prologue.len() < 2,
            Some(_) => g.prologue.is_empty() && g.epilogue.is_empty(),
        };
        if trivial {
            continue;
        }
        for m in g.members() {
            placed[m] = true;
        }
        units.push(Unit::Fused(g));
    }
    for (i, done) in placed.into_iter().enumerate() {
        if !done {
            units.push(Unit::Single(i));
        }
    }
    units.sort_by_key(|u| u.members().into_iter().max());
    units
}

fn join_elementwise(p: &mut Partition, i: usize) {
    let ir = p.ir;
    // Candidate groups: those of producers this equation can extend.
    let mut cands: Vec<(usize, bool)> = vec![];
    for &u in &ir.eqns[i].inputs {
        let Some(prod) = p.producer[u] else { continue };
        let Some(g) = p.group_of[prod] else { continue };
        let group = p.groups[g].as_ref().expect("live group");
        if let Some(side) = p.join_side(group, prod, i) {
            if !cands.iter().any(|&(c, _)| c == g) {
                cands.push((g, side));
            }
        }
    }
    // Prefer a reduction's epilogue as the target, then the first group.
    cands.sort_by_key(|&(_, epi)| !epi);
    let Some(&(target, epi)) = cands.first() else {
        new_group(
            p,
            Group {
                prologue: vec![i],
                ..Group::default()
            },
            i,
        );
        return;
    };
    let mut merged = p.groups[target].clone().expect("live group");
    let mut absorbed = vec![];
    for &(c, _) in &cands[1..] {
        let other = p.groups[c].as_ref().expect("live group");
        if other.reduce.is_some() || merged.len() + other.len() > MAX_GROUP {
            continue;
        }
        let mut trial = merged.clone();
        if epi {
            trial.epilogue.extend(&other.prologue);
            trial.epilogue.sort_unstable();
        } else {
            trial.prologue.extend(&other.prologue);
            trial.prologue.sort_unstable();
        }
        let mut with_i = trial.clone();
        if epi {
            with_i.epilogue.push(i);
        } else {
            with_i.prologue.push(i);
        }
        if p.valid(&with_i) {
            merged = trial;
            absorbed.push(c);
        }
    }
    let mut trial = merged.clone();
    if epi {
        trial.epilogue.push(i);
    } else {
        trial.prologue.push(i);
    }
    if trial.len() <= MAX_GROUP && p.valid(&trial) {
        for &c in &absorbed {
            for m in p.groups[c].take().expect("live group").members() {
                p.group_of[m] = Some(target);
            }
        }
        p.group_of[i] = Some(target);
        p.groups[target] = Some(trial);
    } else {
        new_group(
            p,
            Group {
                prologue: vec![i],
                ..Group::default()
            },
            i,
        );
    }
}

fn join_reduce(p: &mut Partition, i: usize) {
    let input = p.ir.eqns[i].inputs[0];
    if let Some(prod) = p.producer[input] {
        if let Some(g) = p.group_of[prod] {
            let group = p.groups[g].as_ref().expect("live group");
            if group.reduce.is_none() && group.len() < MAX_GROUP {
                let mut trial = group.clone();
                trial.reduce = Some(i);
                if p.valid(&trial) {
                    p.group_of[i] = Some(g);
                    p.groups[g] = Some(trial);
                    return;
                }
            }
        }
    }
    new_group(
        p,
        Group {
            reduce: Some(i),
            ..Group::default()
        },
        i,
    );
}

fn new_group(p: &mut Partition, g: Group, i: usize) {
    debug_assert!(g.members() == vec![i]);
    p.groups.push(Some(g));
    p.group_of[i] = Some(p.groups.len() - 1);
}
