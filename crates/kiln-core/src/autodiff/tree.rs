//! Trees of tensors: the argument and result structures that `grad`,
//! `value_and_grad`, `vjp` and `jit` accept and give back.
//!
//! Under `jit` a walk over a tree also records its structure (lengths,
//! `Some`/`None`, map keys, [`Static`] values) as part of the cache key,
//! and [`Const`] parts are traced like any other tensors (they are only
//! excluded from differentiation).

use crate::tensor::Tensor;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::hash::{Hash, Hasher};

/// One piece of a tree's structure that `jit` keys its cache on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KeyPart {
    /// The length of a `Vec` or map.
    Len(usize),
    /// Whether an `Option` holds a value.
    Some(bool),
    /// A hash of a map's keys.
    Keys(u64),
    /// A [`Static`] value, by its `Debug` text.
    Static(String),
}

thread_local! {
    /// The structure recorded by the `jit` walk in progress, if any.
    static JIT_WALK: RefCell<Option<Vec<KeyPart>>> = const { RefCell::new(None) };
}

/// Runs `f` as a `jit` walk: [`Const`] parts show their tensors and the
/// structure met is recorded and returned.
pub fn jit_walk<R>(f: impl FnOnce() -> R) -> (R, Vec<KeyPart>) {
    let saved = JIT_WALK.with(|w| w.borrow_mut().replace(vec![]));
    let r = f();
    let parts = JIT_WALK.with(|w| std::mem::replace(&mut *w.borrow_mut(), saved));
    (r, parts.unwrap_or_default())
}

fn in_jit_walk() -> bool {
    JIT_WALK.with(|w| w.borrow().is_some())
}

fn record(part: KeyPart) {
    JIT_WALK.with(|w| {
        if let Some(parts) = w.borrow_mut().as_mut() {
            parts.push(part);
        }
    });
}

/// A structure holding tensors at its leaves: a tensor, a tuple, a `Vec`,
/// an array, a map, an `Option`, a [`Const`], or a user struct implementing
/// this trait (two short methods; see `docs/ARCHITECTURE.md`).
pub trait Tree: Sized {
    /// Appends the tensors of this tree, in a fixed order.
    fn leaves(&self, out: &mut Vec<Tensor>);
    /// A tree of the same structure whose tensors are taken, in order, from
    /// `leaves` (non-tensor parts are cloned).
    fn rebuild(&self, leaves: &mut dyn Iterator<Item = Tensor>) -> Self;

    /// The tensors of this tree as a vector.
    fn flatten(&self) -> Vec<Tensor> {
        let mut v = vec![];
        self.leaves(&mut v);
        v
    }

    /// This tree with every tensor replaced by `f(tensor)`.
    fn map_tensors(&self, f: &mut dyn FnMut(&Tensor) -> Tensor) -> Self {
        let mapped: Vec<Tensor> = self.flatten().iter().map(&mut *f).collect();
        self.rebuild(&mut mapped.into_iter())
    }
}

impl Tree for Tensor {
    fn leaves(&self, out: &mut Vec<Tensor>) {
        out.push(self.clone());
    }
    fn rebuild(&self, leaves: &mut dyn Iterator<Item = Tensor>) -> Self {
        leaves
            .next()
            .expect("kiln: tree rebuilt from too few tensors")
    }
}

impl Tree for () {
    fn leaves(&self, _: &mut Vec<Tensor>) {}
    fn rebuild(&self, _: &mut dyn Iterator<Item = Tensor>) -> Self {}
}

/// A part of the arguments that is not differentiated: data, labels,
/// integer tensors. Under `jit` its tensors are traced like the others (use
/// [`Static`] for values the trace should depend on).
#[derive(Clone, Debug)]
pub struct Const<T>(pub T);

impl<T: Tree + Clone> Tree for Const<T> {
    fn leaves(&self, out: &mut Vec<Tensor>) {
        if in_jit_walk() {
            self.0.leaves(out);
        }
    }
    fn rebuild(&self, leaves: &mut dyn Iterator<Item = Tensor>) -> Self {
        if in_jit_walk() {
            Const(self.0.rebuild(leaves))
        } else {
            self.clone()
        }
    }
}

/// A non-tensor argument of a jitted function (a flag, a size, a mode):
/// the function sees the plain value while tracing, and each distinct
/// value gets its own trace. The value's `Debug` text is its cache key, so
/// values that print the same must behave the same.
///
/// ```
/// use kiln_core::autodiff::Static;
/// let training = Static(true);
/// assert!(training.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Static<T>(pub T);

impl<T: Debug + Clone> Tree for Static<T> {
    fn leaves(&self, _: &mut Vec<Tensor>) {
        if in_jit_walk() {
            record(KeyPart::Static(format!("{:?}", self.0)));
        }
    }
    fn rebuild(&self, _: &mut dyn Iterator<Item = Tensor>) -> Self {
        self.clone()
    }
}

impl<T: Tree> Tree for Vec<T> {
    fn leaves(&self, out: &mut Vec<Tensor>) {
        record(KeyPart::Len(self.len()));
        self.iter().for_each(|t| t.leaves(out));
    }
    fn rebuild(&self, leaves: &mut dyn Iterator<Item = Tensor>) -> Self {
        self.iter().map(|t| t.rebuild(leaves)).collect()
    }
}

impl<T: Tree, const N: usize> Tree for [T; N] {
    fn leaves(&self, out: &mut Vec<Tensor>) {
        self.iter().for_each(|t| t.leaves(out));
    }
    fn rebuild(&self, leaves: &mut dyn Iterator<Item = Tensor>) -> Self {
        std::array::from_fn(|i| self[i].rebuild(leaves))
    }
}

impl<T: Tree> Tree for Option<T> {
    fn leaves(&self, out: &mut Vec<Tensor>) {
        record(KeyPart::Some(self.is_some()));
        if let Some(t) = self {
            t.leaves(out);
        }
    }
    fn rebuild(&self, leaves: &mut dyn Iterator<Item = Tensor>) -> Self {
        self.as_ref().map(|t| t.rebuild(leaves))
    }
}

/// A hash of map keys (in the order given), for the jit key.
fn keys_hash<'a, K: Hash + 'a>(keys: impl Iterator<Item = &'a K>) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    keys.for_each(|k| k.hash(&mut h));
    h.finish()
}

impl<K: Ord + Clone + Hash, T: Tree> Tree for BTreeMap<K, T> {
    fn leaves(&self, out: &mut Vec<Tensor>) {
        if in_jit_walk() {
            record(KeyPart::Len(self.len()));
            record(KeyPart::Keys(keys_hash(self.keys())));
        }
        self.values().for_each(|t| t.leaves(out));
    }
    fn rebuild(&self, leaves: &mut dyn Iterator<Item = Tensor>) -> Self {
        self.iter()
            .map(|(k, t)| (k.clone(), t.rebuild(leaves)))
            .collect()
    }
}

impl<K: std::hash::Hash + Eq + Clone + Ord, T: Tree> Tree for HashMap<K, T> {
    /// Leaves in sorted key order, so the order never depends on hashing.
    fn leaves(&self, out: &mut Vec<Tensor>) {
        let mut keys: Vec<&K> = self.keys().collect();
        keys.sort();
        if in_jit_walk() {
            record(KeyPart::Len(keys.len()));
            record(KeyPart::Keys(keys_hash(keys.iter().copied())));
        }
        keys.into_iter().for_each(|k| self[k].leaves(out));
    }
    fn rebuild(&self, leaves: &mut dyn Iterator<Item = Tensor>) -> Self {
        let mut keys: Vec<&K> = self.keys().collect();
        keys.sort();
        keys.into_iter()
            .map(|k| (k.clone(), self[k].rebuild(leaves)))
            .collect()
    }
}

macro_rules! tuple_tree {
    ($($name:ident $idx:tt),+) => {
        impl<$($name: Tree),+> Tree for ($($name,)+) {
            fn leaves(&self, out: &mut Vec<Tensor>) {
                $(self.$idx.leaves(out);)+
            }
            fn rebuild(&self, leaves: &mut dyn Iterator<Item = Tensor>) -> Self {
                ($(self.$idx.rebuild(leaves),)+)
            }
        }
    };
}
tuple_tree!(A 0);
tuple_tree!(A 0, B 1);
tuple_tree!(A 0, B 1, C 2);
tuple_tree!(A 0, B 1, C 2, D 3);
tuple_tree!(A 0, B 1, C 2, D 3, E 4);
