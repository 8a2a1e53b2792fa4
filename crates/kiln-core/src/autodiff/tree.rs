//! Trees of tensors: the argument and result structures that `grad`,
//! `value_and_grad`, `vjp` (and later `jit`) accept and give back.

use crate::tensor::Tensor;
use std::collections::{BTreeMap, HashMap};

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

/// A part of the arguments that is not differentiated (and, under `jit`,
/// not traced): data, labels, integer tensors, configuration.
#[derive(Clone, Debug)]
pub struct Const<T>(pub T);

impl<T: Clone> Tree for Const<T> {
    fn leaves(&self, _: &mut Vec<Tensor>) {}
    fn rebuild(&self, _: &mut dyn Iterator<Item = Tensor>) -> Self {
        self.clone()
    }
}

impl<T: Tree> Tree for Vec<T> {
    fn leaves(&self, out: &mut Vec<Tensor>) {
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
        if let Some(t) = self {
            t.leaves(out);
        }
    }
    fn rebuild(&self, leaves: &mut dyn Iterator<Item = Tensor>) -> Self {
        self.as_ref().map(|t| t.rebuild(leaves))
    }
}

impl<K: Ord + Clone, T: Tree> Tree for BTreeMap<K, T> {
    fn leaves(&self, out: &mut Vec<Tensor>) {
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
