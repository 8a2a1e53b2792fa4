//! Linear algebra: `matmul` (NumPy semantics), `dot`, `outer` and `einsum`.
//!
//! Everything lowers to [`Primitive::Matmul`] on operands with equal batch
//! dims, plus views (reshape, permute, broadcast) and sums. Bool operands
//! compute in `i64` (the Matmul primitive takes numeric dtypes only), so
//! `matmul`, `dot` and `einsum` of bools give counts rather than NumPy's
//! logical "any"; other dtypes are promoted as for `+`.

use super::misuse;
use crate::dtype::DType;
use crate::primitive::{Primitive, ReduceOp};
use crate::shape::{broadcast_shapes, numel};
use crate::tensor::{describe, Tensor};

/// The dtype a product of `a` and `b` computes in: their promotion, with
/// bool widened to the default int.
pub(crate) fn product_dtype(a: DType, b: DType) -> DType {
    match a.promote(b) {
        DType::Bool => DType::DEFAULT_INT,
        d => d,
    }
}

impl Tensor {
    /// Matrix product with NumPy's `matmul` semantics; see [`matmul`].
    #[track_caller]
    pub fn matmul(&self, other: &Tensor) -> Tensor {
        matmul(self, other)
    }

    /// NumPy's `dot`; see [`dot`].
    #[track_caller]
    pub fn dot(&self, other: &Tensor) -> Tensor {
        dot(self, other)
    }

    /// Outer product of the flattened tensors; see [`outer`].
    #[track_caller]
    pub fn outer(&self, other: &Tensor) -> Tensor {
        outer(self, other)
    }
}

/// Matrix product with NumPy's `matmul` (`@`) semantics.
///
/// - 2-D x 2-D: `[m, k] x [k, n] -> [m, n]`.
/// - 1-D x 1-D: the inner product, a rank-0 tensor.
/// - A 1-D left operand is treated as `[1, k]` and the 1 removed from the
///   result; a 1-D right operand as `[k, 1]` and the 1 removed.
/// - Dims before the last two are batch dims and broadcast against each
///   other (`[2, 1, m, k] x [3, k, n] -> [2, 3, m, n]`).
/// - Dtypes are promoted as for `+`; bool operands compute in `i64`.
///
/// Panics on rank-0 operands (as NumPy does: use `*`), on mismatched inner
/// dims and on batch dims that do not broadcast.
#[track_caller]
pub fn matmul(a: &Tensor, b: &Tensor) -> Tensor {
    if a.ndim() == 0 || b.ndim() == 0 {
        misuse(
            "matmul",
            format!(
                "operands must have rank >= 1, got {}",
                describe(&[a.clone(), b.clone()])
            ),
        );
    }
    let dtype = product_dtype(a.dtype(), b.dtype());
    let (a_vec, b_vec) = (a.ndim() == 1, b.ndim() == 1);
    let a2 = if a_vec {
        a.reshape([1, a.shape()[0]])
    } else {
        a.clone()
    };
    let b2 = if b_vec {
        b.reshape([b.shape()[0], 1])
    } else {
        b.clone()
    };
    let (ra, rb) = (a2.ndim(), b2.ndim());
    let (m, k) = (a2.shape()[ra - 2], a2.shape()[ra - 1]);
    let (k2, n) = (b2.shape()[rb - 2], b2.shape()[rb - 1]);
    if k != k2 {
        misuse(
            "matmul",
            format!(
                "inner dims differ ({k} vs {k2}): {}",
                describe(&[a.clone(), b.clone()])
            ),
        );
    }
    let (a_batch, b_batch) = (&a2.shape()[..ra - 2], &b2.shape()[..rb - 2]);
    // A `match`, not `unwrap_or_else`: closures do not forward
    // `#[track_caller]`, and the panic must name the user's line.
    let batch = match broadcast_shapes(a_batch, b_batch) {
        Some(batch) => batch,
        None => misuse(
            "matmul",
            format!(
                "batch dims {a_batch:?} and {b_batch:?} do not broadcast: {}",
                describe(&[a.clone(), b.clone()])
            ),
        ),
    };
    let (a2, b2) = (a2.astype(dtype), b2.astype(dtype));
    let mut out_shape = batch.clone();
    out_shape.extend([m, n]);
    let y = if b_batch.is_empty() && !a_batch.is_empty() {
        // `[..., m, k] x [k, n]` (a linear layer): one 2-D product over the
        // stacked rows, no broadcast copy of the right operand.
        let rows = numel(&batch) * m;
        let y = Tensor::from_op(Primitive::Matmul, vec![a2.reshape([rows, k]), b2]);
        y.reshape(out_shape.clone())
    } else {
        let mut sa = batch.clone();
        sa.extend([m, k]);
        let mut sb = batch.clone();
        sb.extend([k, n]);
        Tensor::from_op(
            Primitive::Matmul,
            vec![a2.broadcast_to(&sa), b2.broadcast_to(&sb)],
        )
    };
    let r = out_shape.len();
    let mut final_shape = out_shape[..r - 2].to_vec();
    if !a_vec {
        final_shape.push(m);
    }
    if !b_vec {
        final_shape.push(n);
    }
    y.reshape(final_shape)
}

/// NumPy's `dot`.
///
/// - Either operand rank 0: elementwise product (`a * b`).
/// - 1-D x 1-D: inner product (rank 0). 2-D x 2-D: matrix product.
/// - N-D x 1-D: sum product over the last axis of `a` and `b`.
/// - N-D x M-D (M >= 2): sum product over the last axis of `a` and the
///   second-to-last of `b`: `dot(a, b)[i.., j.., n] = sum_k a[i.., k] * b[j.., k, n]`
///   (NumPy's rule, which differs from `matmul`: batch dims do not pair up
///   but are all kept).
///
/// Dtypes are promoted; bools compute in `i64`.
#[track_caller]
pub fn dot(a: &Tensor, b: &Tensor) -> Tensor {
    let dtype = product_dtype(a.dtype(), b.dtype());
    if a.ndim() == 0 || b.ndim() == 0 {
        return a.astype(dtype) * b.astype(dtype);
    }
    if b.ndim() <= 2 {
        return matmul(a, b);
    }
    let k = a.shape()[a.ndim() - 1];
    let rb = b.ndim();
    if b.shape()[rb - 2] != k {
        misuse(
            "dot",
            format!(
                "last axis of a ({k}) differs from second-to-last of b ({}): {}",
                b.shape()[rb - 2],
                describe(&[a.clone(), b.clone()])
            ),
        );
    }
    // b: [j.., k, n] -> [k, j.., n] -> [k, J*n]; a: [i.., k] -> [I, k].
    let mut perm: Vec<i64> = vec![rb as i64 - 2];
    perm.extend((0..rb as i64 - 2).chain([rb as i64 - 1]));
    let bt = b.permute(&perm).reshape([k as i64, -1]);
    let at = a.reshape([-1, k as i64]);
    let mut out: Vec<usize> = a.shape()[..a.ndim() - 1].to_vec();
    out.extend_from_slice(&b.shape()[..rb - 2]);
    out.push(b.shape()[rb - 1]);
    matmul(&at, &bt).reshape(out)
}

/// Outer product of the flattened operands: `[a.numel(), b.numel()]` with
/// `out[i, j] = a[i] * b[j]` (NumPy `outer`; dtypes promoted as for `*`).
#[track_caller]
pub fn outer(a: &Tensor, b: &Tensor) -> Tensor {
    let a = a.reshape([a.numel(), 1]);
    let b = b.reshape([1, b.numel()]);
    a * b
}

/// One operand's labels during an einsum: one label per axis.
#[derive(Clone)]
struct Term {
    t: Tensor,
    labels: Vec<char>,
}

/// The labels standing for the dims of an ellipsis: characters from a
/// private-use range, right-aligned so that broadcasting pairs them up.
fn ellipsis_label(i_from_right: usize) -> char {
    char::from_u32(0xF0000 + i_from_right as u32).expect("valid private-use char")
}

fn is_ellipsis_label(c: char) -> bool {
    c as u32 >= 0xF0000
}

/// Parses one term (`"ij"`, `"...ij"`, `"b...j"`) against an operand of
/// `rank`: one label per axis, the ellipsis expanded.
#[track_caller]
fn parse_term(spec: &str, term: &str, rank: usize, which: &str) -> Vec<char> {
    let parts: Vec<&str> = term.split("...").collect();
    if parts.len() > 2 {
        misuse(
            "einsum",
            format!("'{spec}': {which} has more than one '...'"),
        );
    }
    for p in &parts {
        if let Some(c) = p.chars().find(|c| !c.is_ascii_alphabetic()) {
            misuse(
                "einsum",
                format!("'{spec}': bad character {c:?} in {which} (labels are ASCII letters)"),
            );
        }
    }
    let named: usize = parts.iter().map(|p| p.len()).sum();
    if parts.len() == 1 {
        if named != rank {
            misuse(
                "einsum",
                format!(
                    "'{spec}': {which} '{term}' has {named} labels but its operand has rank {rank}"
                ),
            );
        }
        return term.chars().collect();
    }
    if named > rank {
        misuse(
            "einsum",
            format!(
                "'{spec}': {which} '{term}' has {named} labels but its operand has rank {rank}"
            ),
        );
    }
    let ell = rank - named;
    let mut labels: Vec<char> = parts[0].chars().collect();
    labels.extend((0..ell).rev().map(ellipsis_label));
    labels.extend(parts[1].chars());
    labels
}

/// Sums `t` over the axes at `axes` (dropping them).
#[track_caller]
fn sum_out(term: Term, drop: &[usize]) -> Term {
    if drop.is_empty() {
        return term;
    }
    let keep: Vec<usize> = (0..term.labels.len())
        .filter(|i| !drop.contains(i))
        .collect();
    let summed = Tensor::from_op(
        Primitive::Reduce {
            op: ReduceOp::Sum,
            axes: drop.to_vec(),
        },
        vec![term.t],
    );
    let shape: Vec<usize> = keep.iter().map(|&i| summed.shape()[i]).collect();
    Term {
        t: summed.reshape(shape),
        labels: keep.iter().map(|&i| term.labels[i]).collect(),
    }
}

/// Sums out the labels of `term` that nothing after it needs.
#[track_caller]
fn sum_unneeded(term: Term, needed: &dyn Fn(char) -> bool) -> Term {
    let drop: Vec<usize> = (0..term.labels.len())
        .filter(|&i| !needed(term.labels[i]))
        .collect();
    sum_out(term, &drop)
}

/// Drops the size-1 axes of `term` whose label has a larger size in `other`
/// (broadcasting): the product then broadcasts them for free.
#[track_caller]
fn squeeze_broadcast(term: Term, other: &Term) -> Term {
    let mut shape = vec![];
    let mut labels = vec![];
    for (i, &l) in term.labels.iter().enumerate() {
        let n = term.t.shape()[i];
        let bigger = other
            .labels
            .iter()
            .position(|&o| o == l)
            .is_some_and(|j| other.t.shape()[j] != 1);
        if !(n == 1 && bigger) {
            shape.push(n);
            labels.push(l);
        }
    }
    Term {
        t: term.t.reshape(shape),
        labels,
    }
}

/// The size of label `l` in `t`.
fn label_size(t: &Term, l: char) -> usize {
    t.t.shape()[t
        .labels
        .iter()
        .position(|&x| x == l)
        .expect("label of the term")]
}

/// `t` permuted so that its labels follow the groups of `order`, each group
/// then merged into one dim.
#[track_caller]
fn arrange(t: &Term, order: &[&[char]]) -> Tensor {
    let perm: Vec<i64> = order
        .iter()
        .flat_map(|g| g.iter())
        .map(|&l| {
            t.labels
                .iter()
                .position(|&x| x == l)
                .expect("label of the term") as i64
        })
        .collect();
    let dims: Vec<usize> = order
        .iter()
        .map(|g| g.iter().map(|&l| label_size(t, l)).product())
        .collect();
    t.t.permute(&perm).reshape(dims)
}

/// The product of two terms keeping the labels in `keep` (and summing the
/// shared ones not kept), as one batched Matmul: each operand is permuted to
/// `[batch, free, contracted]` order and reshaped to 3-D.
#[track_caller]
fn contract_pair(a: Term, b: Term, keep: &dyn Fn(char) -> bool) -> Term {
    let a = squeeze_broadcast(a, &b);
    let b = squeeze_broadcast(b, &a);
    // Labels of one operand only that nothing later needs are summed first
    // (this removes no shared label).
    let (la, lb) = (a.labels.clone(), b.labels.clone());
    let a = sum_unneeded(a, &|l| keep(l) || lb.contains(&l));
    let b = sum_unneeded(b, &|l| keep(l) || la.contains(&l));
    let in_a = |l: &char| a.labels.contains(l);
    let in_b = |l: &char| b.labels.contains(l);
    let pick = |t: &Term, f: &dyn Fn(&char) -> bool| -> Vec<char> {
        t.labels.iter().copied().filter(|l| f(l)).collect()
    };
    let batch = pick(&a, &|l| in_b(l) && keep(*l));
    let contracted = pick(&a, &|l| in_b(l) && !keep(*l));
    let a_free = pick(&a, &|l| !in_b(l));
    let b_free = pick(&b, &|l| !in_a(l));
    let x = arrange(&a, &[&batch, &a_free, &contracted]);
    let y = arrange(&b, &[&batch, &contracted, &b_free]);
    let z = Tensor::from_op(Primitive::Matmul, vec![x, y]);
    let mut labels = batch.clone();
    labels.extend(&a_free);
    labels.extend(&b_free);
    let shape: Vec<usize> = batch
        .iter()
        .map(|&l| label_size(&a, l))
        .chain(a_free.iter().map(|&l| label_size(&a, l)))
        .chain(b_free.iter().map(|&l| label_size(&b, l)))
        .collect();
    Term {
        t: z.reshape(shape),
        labels,
    }
}

/// Einstein summation (NumPy `einsum`), e.g. `einsum("bij,bjk->bik", &[&a, &b])`.
///
/// - Explicit mode `"ij,jk->ik"`: the output has the labels after `->`, in
///   that order; every other label is summed.
/// - Implicit mode `"ij,jk"`: the output has the labels that appear exactly
///   once, in alphabetical (ASCII) order, as NumPy.
/// - Labels are ASCII letters. `...` stands for the remaining dims of an
///   operand; ellipsis dims pair up right-aligned and come first in
///   implicit mode. As in NumPy, an explicit output must contain `...` when
///   an operand has dims under it.
/// - As in NumPy, a dim of size 1 broadcasts against the same label (or
///   ellipsis position) of size n in another operand.
/// - Any number of operands (>= 1); they are contracted left to right, each
///   pair with one batched matmul, labels being summed as soon as nothing
///   later needs them.
///
/// Dtypes are promoted across operands (bools compute in `i64`). Panics on
/// a label repeated within one operand (traces and diagonals are not
/// supported), on output labels that are repeated or missing from the
/// inputs, and on dims of one label that differ.
#[track_caller]
pub fn einsum(spec: &str, operands: &[&Tensor]) -> Tensor {
    let compact: String = spec.chars().filter(|c| !c.is_whitespace()).collect();
    let (lhs, rhs) = match compact.split_once("->") {
        Some((l, r)) => (l, Some(r)),
        None => (compact.as_str(), None),
    };
    let terms: Vec<&str> = lhs.split(',').collect();
    if operands.is_empty() {
        misuse("einsum", format!("'{spec}': needs at least one operand"));
    }
    if terms.len() != operands.len() {
        misuse(
            "einsum",
            format!(
                "'{spec}' has {} operand terms but {} operands were given",
                terms.len(),
                operands.len()
            ),
        );
    }
    let dtype = operands
        .iter()
        .skip(1)
        .fold(operands[0].dtype(), |d, t| d.promote(t.dtype()));
    let dtype = if dtype == DType::Bool {
        DType::DEFAULT_INT
    } else {
        dtype
    };
    let mut parsed: Vec<Term> = Vec::with_capacity(terms.len());
    let mut max_ell = 0;
    for (i, (term, t)) in terms.iter().zip(operands).enumerate() {
        let labels = parse_term(spec, term, t.ndim(), &format!("operand {i}"));
        for (j, l) in labels.iter().enumerate() {
            if labels[..j].contains(l) {
                misuse(
                    "einsum",
                    format!(
                        "'{spec}': label '{l}' repeats within operand {i}; traces and diagonals \
                         are not supported (use diagonal/sum)"
                    ),
                );
            }
        }
        max_ell = max_ell.max(labels.iter().filter(|&&l| is_ellipsis_label(l)).count());
        parsed.push(Term {
            t: t.astype(dtype),
            labels,
        });
    }
    // Sizes of each label: equal, or (ellipsis labels only) 1 and n.
    let mut sizes: Vec<(char, usize)> = vec![];
    for (i, term) in parsed.iter().enumerate() {
        for (&l, &n) in term.labels.iter().zip(term.t.shape()) {
            match sizes.iter_mut().find(|(x, _)| *x == l) {
                None => sizes.push((l, n)),
                Some((_, m)) if *m == n => {}
                Some((_, m)) if *m == 1 || n == 1 => *m = (*m).max(n),
                Some((_, m)) => {
                    let name = if is_ellipsis_label(l) {
                        "an ellipsis dim".to_string()
                    } else {
                        format!("label '{l}'")
                    };
                    misuse(
                        "einsum",
                        format!(
                            "'{spec}': {name} has size {m} in an earlier operand and {n} in operand {i} ({})",
                            describe(&operands.iter().map(|t| (*t).clone()).collect::<Vec<_>>())
                        ),
                    )
                }
            }
        }
    }
    let ell_labels: Vec<char> = (0..max_ell).rev().map(ellipsis_label).collect();
    let output: Vec<char> = match rhs {
        Some(r) => {
            let parts: Vec<&str> = r.split("...").collect();
            if parts.len() > 2 {
                misuse(
                    "einsum",
                    format!("'{spec}': the output has more than one '...'"),
                );
            }
            let mut out: Vec<char> = parts[0].chars().collect();
            if parts.len() == 2 {
                out.extend(&ell_labels);
                out.extend(parts[1].chars());
            } else if max_ell > 0 {
                misuse(
                    "einsum",
                    format!(
                        "'{spec}': the operands have dims under '...' but the output has no '...' \
                         (sum them explicitly)"
                    ),
                );
            }
            for (j, &l) in out.iter().enumerate() {
                if !is_ellipsis_label(l) && !l.is_ascii_alphabetic() {
                    misuse(
                        "einsum",
                        format!("'{spec}': bad character {l:?} in the output"),
                    );
                }
                if out[..j].contains(&l) {
                    misuse("einsum", format!("'{spec}': output label '{l}' repeats"));
                }
                if !is_ellipsis_label(l) && !sizes.iter().any(|(x, _)| *x == l) {
                    misuse(
                        "einsum",
                        format!("'{spec}': output label '{l}' is in no operand"),
                    );
                }
            }
            out
        }
        None => {
            let mut once: Vec<char> = sizes
                .iter()
                .map(|&(l, _)| l)
                .filter(|&l| !is_ellipsis_label(l))
                .filter(|&l| {
                    parsed
                        .iter()
                        .map(|t| t.labels.iter().filter(|&&x| x == l).count())
                        .sum::<usize>()
                        == 1
                })
                .collect();
            once.sort_unstable();
            let mut out = ell_labels.clone();
            out.extend(once);
            out
        }
    };
    // Contract left to right.
    let mut rest = parsed.into_iter();
    let mut acc = rest.next().expect("at least one operand");
    let later: Vec<Term> = rest.collect();
    for (i, next) in later.iter().enumerate() {
        let needed =
            |l: char| output.contains(&l) || later[i + 1..].iter().any(|t| t.labels.contains(&l));
        acc = contract_pair(acc, next.clone(), &needed);
    }
    let acc = sum_unneeded(acc, &|l| output.contains(&l));
    // Every output label survived (a label is summed only when unneeded,
    // and squeezed only where another operand keeps it): permute into the
    // output order.
    let perm: Vec<i64> = output
        .iter()
        .map(|l| {
            acc.labels
                .iter()
                .position(|x| x == l)
                .expect("output label in the result") as i64
        })
        .collect();
    acc.t.permute(&perm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::creation::arange;
    use crate::ops::testutil::{check_grad, rnd};

    fn close(a: &Tensor, b: &Tensor) {
        assert_eq!(a.shape(), b.shape(), "shapes differ");
        let (x, y) = (a.to_f64_vec().unwrap(), b.to_f64_vec().unwrap());
        for (i, (p, q)) in x.iter().zip(&y).enumerate() {
            assert!(
                (p - q).abs() <= 1e-9 * (1.0 + q.abs()),
                "element {i}: {p} vs {q}"
            );
        }
    }

    /// A naive batched matmul over f64 vectors for checking.
    fn naive_mm(a: &[f64], b: &[f64], batch: usize, m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut out = vec![0.0; batch * m * n];
        for z in 0..batch {
            for i in 0..m {
                for j in 0..n {
                    out[z * m * n + i * n + j] = (0..k)
                        .map(|p| a[z * m * k + i * k + p] * b[z * k * n + p * n + j])
                        .sum();
                }
            }
        }
        out
    }

    #[test]
    fn matmul_2d_values() {
        let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]).unwrap();
        let b = Tensor::from_vec(vec![7.0f32, 8.0, 9.0, 10.0, 11.0, 12.0], &[3, 2]).unwrap();
        let c = a.matmul(&b);
        assert_eq!(c.shape(), &[2, 2]);
        assert_eq!(c.to_vec::<f32>().unwrap(), vec![58.0, 64.0, 139.0, 154.0]);
    }

    #[test]
    fn matmul_vector_cases() {
        let v = arange(0.0, 3.0, 1.0, DType::F32);
        let m = arange(0.0, 6.0, 1.0, DType::F32).reshape([3, 2]);
        let s = v.matmul(&v);
        assert_eq!(s.shape(), &[] as &[usize]);
        assert_eq!(s.item::<f32>().unwrap(), 5.0);
        let r = v.matmul(&m); // [3] x [3, 2] -> [2]
        assert_eq!(r.shape(), &[2]);
        assert_eq!(r.to_vec::<f32>().unwrap(), vec![10.0, 13.0]);
        let mt = m.t(); // [2, 3] x [3] -> [2]
        let r = mt.matmul(&v);
        assert_eq!(r.shape(), &[2]);
        assert_eq!(r.to_vec::<f32>().unwrap(), vec![10.0, 13.0]);
        // Batched matrix times a vector: [4, 2, 3] x [3] -> [4, 2].
        let bm = rnd(&[4, 2, 3], 1);
        let r = bm.matmul(&v.astype(DType::F64));
        assert_eq!(r.shape(), &[4, 2]);
        // Vector times a batch: [3] x [4, 3, 5] -> [4, 5].
        let r = v.matmul(&rnd(&[4, 3, 5], 2));
        assert_eq!(r.shape(), &[4, 5]);
        assert_eq!(r.dtype(), DType::F64);
    }

    #[test]
    fn matmul_broadcasts_batches() {
        let a = rnd(&[2, 1, 3, 4], 3);
        let b = rnd(&[5, 4, 2], 4);
        let c = a.matmul(&b);
        assert_eq!(c.shape(), &[2, 5, 3, 2]);
        let (av, bv, cv) = (
            a.to_f64_vec().unwrap(),
            b.to_f64_vec().unwrap(),
            c.to_f64_vec().unwrap(),
        );
        for i in 0..2 {
            for j in 0..5 {
                let want = naive_mm(
                    &av[i * 12..(i + 1) * 12],
                    &bv[j * 8..(j + 1) * 8],
                    1,
                    3,
                    4,
                    2,
                );
                let got = &cv[(i * 5 + j) * 6..(i * 5 + j + 1) * 6];
                for (p, q) in got.iter().zip(&want) {
                    assert!((p - q).abs() < 1e-12);
                }
            }
        }
        // Batched left, 2-D right (the folded path).
        let a = rnd(&[3, 2, 4], 5);
        let w = rnd(&[4, 6], 6);
        let y = a.matmul(&w);
        assert_eq!(y.shape(), &[3, 2, 6]);
        let wv = w.to_f64_vec().unwrap();
        let want: Vec<f64> = (0..3)
            .flat_map(|z| {
                naive_mm(
                    &a.to_f64_vec().unwrap()[z * 8..(z + 1) * 8],
                    &wv,
                    1,
                    2,
                    4,
                    6,
                )
            })
            .collect();
        close(&y, &Tensor::from_vec(want, &[3, 2, 6]).unwrap());
        // 2-D left, batched right.
        let y = w.t().matmul(&rnd(&[3, 4, 2], 7));
        assert_eq!(y.shape(), &[3, 6, 2]);
    }

    #[test]
    fn matmul_promotes_dtypes() {
        let a = Tensor::from_vec(vec![1i32, 2, 3, 4], &[2, 2]).unwrap();
        let b = Tensor::from_vec(vec![0.5f32, 1.0, 1.5, 2.0], &[2, 2]).unwrap();
        let c = a.matmul(&b);
        assert_eq!(c.dtype(), DType::F32);
        assert_eq!(c.to_vec::<f32>().unwrap(), vec![3.5, 5.0, 7.5, 11.0]);
        let t = Tensor::from_vec(vec![true, true, false, true], &[2, 2]).unwrap();
        let c = t.matmul(&t);
        assert_eq!(c.dtype(), DType::I64);
        assert_eq!(c.to_vec::<i64>().unwrap(), vec![1, 2, 0, 1]);
        let c = a.matmul(&a);
        assert_eq!(c.dtype(), DType::I32);
        assert_eq!(c.to_vec::<i32>().unwrap(), vec![7, 10, 15, 22]);
    }

    #[test]
    #[should_panic(expected = "matmul: operands must have rank >= 1")]
    fn matmul_rejects_scalars() {
        let _ = Tensor::scalar(1.0f32).matmul(&Tensor::scalar(2.0f32));
    }

    #[test]
    #[should_panic(expected = "matmul: inner dims differ (3 vs 4)")]
    fn matmul_rejects_mismatch() {
        let _ = rnd(&[2, 3], 0).matmul(&rnd(&[4, 2], 1));
    }

    #[test]
    #[should_panic(expected = "do not broadcast")]
    fn matmul_rejects_bad_batch() {
        let _ = rnd(&[2, 3, 4], 0).matmul(&rnd(&[3, 4, 2], 1));
    }

    #[test]
    fn dot_and_outer() {
        let v = arange(1.0, 4.0, 1.0, DType::F64);
        assert_eq!(v.dot(&v).item::<f64>().unwrap(), 14.0);
        let s = v.dot(&Tensor::scalar(2.0f64));
        assert_eq!(s.to_vec::<f64>().unwrap(), vec![2.0, 4.0, 6.0]);
        // N-D dot: dot(a, b)[i, j, l, n] = sum_k a[i, j, k] b[l, k, n].
        let a = rnd(&[2, 3, 4], 8);
        let b = rnd(&[5, 4, 6], 9);
        let d = a.dot(&b);
        assert_eq!(d.shape(), &[2, 3, 5, 6]);
        close(&d, &einsum("ijk,lkn->ijln", &[&a, &b]));
        let (av, bv, dv) = (
            a.to_f64_vec().unwrap(),
            b.to_f64_vec().unwrap(),
            d.to_f64_vec().unwrap(),
        );
        let want: f64 = (0..4)
            .map(|k| av[12 + 2 * 4 + k] * bv[3 * 24 + k * 6 + 5])
            .sum();
        assert!((dv[((3 + 2) * 5 + 3) * 6 + 5] - want).abs() < 1e-12);
        let o = outer(&v, &arange(0.0, 2.0, 1.0, DType::F64));
        assert_eq!(o.shape(), &[3, 2]);
        assert_eq!(
            o.to_vec::<f64>().unwrap(),
            vec![0.0, 1.0, 0.0, 2.0, 0.0, 3.0]
        );
        let o = rnd(&[2, 2], 1).outer(&rnd(&[3], 2));
        assert_eq!(o.shape(), &[4, 3]);
    }

    #[test]
    fn einsum_matches_matmul_and_transpose() {
        let a = rnd(&[3, 4], 10);
        let b = rnd(&[4, 5], 11);
        close(&einsum("ij,jk->ik", &[&a, &b]), &a.matmul(&b));
        close(&einsum("ij,jk", &[&a, &b]), &a.matmul(&b));
        close(&einsum("ij->ji", &[&a]), &a.t());
        close(&einsum("ji", &[&a]), &a.t());
        close(&einsum("ij,kj->ik", &[&a, &b.t()]), &a.matmul(&b));
        close(&einsum("ij,jk->ki", &[&a, &b]), &a.matmul(&b).t());
        let x = rnd(&[2, 3, 4], 12);
        let y = rnd(&[2, 4, 5], 13);
        close(&einsum("bij,bjk->bik", &[&x, &y]), &x.matmul(&y));
        close(&einsum("...ij,...jk->...ik", &[&x, &y]), &x.matmul(&y));
        close(
            &einsum("bij,bjk->bki", &[&x, &y]),
            &x.matmul(&y).swapaxes(1, 2),
        );
    }

    #[test]
    fn einsum_sums_outer_dot() {
        let a = rnd(&[3, 4], 14);
        let av = a.to_f64_vec().unwrap();
        let rows: Vec<f64> = (0..3)
            .map(|i| av[i * 4..(i + 1) * 4].iter().sum())
            .collect();
        close(
            &einsum("ij->i", &[&a]),
            &Tensor::from_vec(rows, &[3]).unwrap(),
        );
        let total: f64 = av.iter().sum();
        let s = einsum("ij->", &[&a]);
        assert_eq!(s.shape(), &[] as &[usize]);
        assert!((s.item::<f64>().unwrap() - total).abs() < 1e-12);
        let u = rnd(&[3], 15);
        let v = rnd(&[4], 16);
        close(&einsum("i,j->ij", &[&u, &v]), &outer(&u, &v));
        close(&einsum("i,j", &[&u, &v]), &outer(&u, &v));
        let w = rnd(&[3], 17);
        close(&einsum("i,i->", &[&u, &w]), &u.dot(&w));
        close(&einsum("i,i", &[&u, &w]), &u.dot(&w));
        // An index summed in one operand only: "ij,j->" = sum_i (a @ v).
        let s = einsum("ij,j->", &[&a, &v]);
        let want: f64 = a.matmul(&v).to_f64_vec().unwrap().iter().sum();
        assert!((s.item::<f64>().unwrap() - want).abs() < 1e-12);
        // "ij,k->ik": j summed in a, k free in b.
        let r = einsum("ij,k->ik", &[&a, &v]);
        let want = outer(&Tensor::from_vec(rows_of(&av), &[3]).unwrap(), &v);
        close(&r, &want);
        // Matrix-vector and elementwise products with batch labels.
        close(&einsum("ij,j->i", &[&a, &v]), &a.matmul(&v));
        close(&einsum("ij,ij->ij", &[&a, &a]), &(&a * &a));
    }

    fn rows_of(av: &[f64]) -> Vec<f64> {
        (0..3)
            .map(|i| av[i * 4..(i + 1) * 4].iter().sum())
            .collect()
    }

    #[test]
    fn einsum_three_operands_and_broadcast() {
        // Bilinear form: out[b, a] = sum_nm x[b, n] w[a, n, m] y[b, m].
        let x = rnd(&[2, 3], 20);
        let w = rnd(&[4, 3, 5], 21);
        let y = rnd(&[2, 5], 22);
        let out = einsum("bn,anm,bm->ba", &[&x, &w, &y]);
        assert_eq!(out.shape(), &[2, 4]);
        let (xv, wv, yv) = (
            x.to_f64_vec().unwrap(),
            w.to_f64_vec().unwrap(),
            y.to_f64_vec().unwrap(),
        );
        let mut want = vec![0.0; 8];
        for b in 0..2 {
            for a in 0..4 {
                for n in 0..3 {
                    for m in 0..5 {
                        want[b * 4 + a] += xv[b * 3 + n] * wv[a * 15 + n * 5 + m] * yv[b * 5 + m];
                    }
                }
            }
        }
        close(&out, &Tensor::from_vec(want, &[2, 4]).unwrap());
        // Ellipsis dims broadcast: [2, 1, 3, 4] x [5, 4, 2].
        let a = rnd(&[2, 1, 3, 4], 23);
        let b = rnd(&[5, 4, 2], 24);
        close(&einsum("...ij,...jk->...ik", &[&a, &b]), &a.matmul(&b));
        close(&einsum("...ij,...jk", &[&a, &b]), &a.matmul(&b));
        // Size-1 dims of named labels broadcast too (NumPy): [3, 1] x [4, 5].
        let p = rnd(&[3, 1], 25);
        let q = rnd(&[4, 5], 26);
        let want = p.broadcast_to(&[3, 4]).matmul(&q);
        close(&einsum("ij,jk", &[&p, &q]), &want);
        // Ellipsis covering no dims needs no '...' in the output.
        close(&einsum("...ij->ji", &[&p]), &p.t());
    }

    #[test]
    fn einsum_promotes() {
        let a = Tensor::from_vec(vec![1i32, 2, 3], &[3]).unwrap();
        let b = Tensor::from_vec(vec![1.5f32, 1.0, 2.0], &[3]).unwrap();
        let s = einsum("i,i->", &[&a, &b]);
        assert_eq!(s.dtype(), DType::F32);
        assert_eq!(s.item::<f32>().unwrap(), 9.5);
        let t = Tensor::from_vec(vec![true, false, true], &[3]).unwrap();
        assert_eq!(einsum("i->", &[&t]).item::<i64>().unwrap(), 2);
    }

    #[test]
    #[should_panic(expected = "traces and diagonals are not supported")]
    fn einsum_rejects_trace() {
        let _ = einsum("ii->", &[&rnd(&[3, 3], 0)]);
    }

    #[test]
    #[should_panic(expected = "label 'j' has size 4 in an earlier operand and 5")]
    fn einsum_rejects_size_mismatch() {
        let _ = einsum("ij,jk->ik", &[&rnd(&[3, 4], 0), &rnd(&[5, 2], 1)]);
    }

    #[test]
    #[should_panic(expected = "has 2 labels but its operand has rank 3")]
    fn einsum_rejects_rank_mismatch() {
        let _ = einsum("ij->i", &[&rnd(&[3, 4, 5], 0)]);
    }

    #[test]
    #[should_panic(expected = "the output has no '...'")]
    fn einsum_rejects_dropped_ellipsis() {
        let _ = einsum("...ij->ij", &[&rnd(&[2, 3, 4], 0)]);
    }

    #[test]
    #[should_panic(expected = "output label 'k' is in no operand")]
    fn einsum_rejects_unknown_output() {
        let _ = einsum("ij->k", &[&rnd(&[3, 4], 0)]);
    }

    fn panic_message(r: std::thread::Result<Tensor>) -> String {
        let e = r.expect_err("should panic");
        e.downcast_ref::<String>().cloned().unwrap_or_default()
    }

    #[test]
    fn misuse_names_the_callers_line() {
        use std::panic::catch_unwind;
        let (a, b) = (rnd(&[2, 3, 4], 0), rnd(&[3, 4, 2], 1));
        let line = line!() + 1;
        let r = catch_unwind(|| a.matmul(&b));
        let msg = panic_message(r);
        assert!(msg.contains(&format!("{}:{line}:", file!())), "{msg}");
        let line = line!() + 1;
        let r = catch_unwind(|| einsum("ij,jk->ik", &[&a, &b]));
        let msg = panic_message(r);
        assert!(msg.contains(&format!("{}:{line}:", file!())), "{msg}");
        let line = line!() + 1;
        let r = catch_unwind(|| einsum("ijk,ljk->il", &[&a, &b]));
        let msg = panic_message(r);
        assert!(msg.contains(&format!("{}:{line}:", file!())), "{msg}");
    }

    /// Naive einsum over explicit specs without ellipsis: loops over every
    /// assignment of every label.
    fn naive_einsum(spec: &str, ops: &[&Tensor]) -> Tensor {
        let (lhs, out) = spec.split_once("->").unwrap();
        let terms: Vec<Vec<char>> = lhs.split(',').map(|t| t.chars().collect()).collect();
        let out: Vec<char> = out.chars().collect();
        let mut labels: Vec<(char, usize)> = vec![];
        for (t, op) in terms.iter().zip(ops) {
            for (&l, &n) in t.iter().zip(op.shape()) {
                if !labels.iter().any(|&(x, _)| x == l) {
                    labels.push((l, n));
                }
            }
        }
        let data: Vec<Vec<f64>> = ops.iter().map(|t| t.to_f64_vec().unwrap()).collect();
        let size = |l: char| labels.iter().find(|&&(x, _)| x == l).unwrap().1;
        let out_shape: Vec<usize> = out.iter().map(|&l| size(l)).collect();
        let mut result = vec![0.0; numel(&out_shape)];
        let total: usize = labels.iter().map(|&(_, n)| n).product();
        let flat = |idx: &[usize], ls: &[char]| -> usize {
            ls.iter().fold(0, |acc, &l| {
                let p = labels.iter().position(|&(x, _)| x == l).unwrap();
                acc * size(l) + idx[p]
            })
        };
        for mut f in 0..total {
            let mut idx = vec![0; labels.len()];
            for p in (0..labels.len()).rev() {
                idx[p] = f % labels[p].1;
                f /= labels[p].1;
            }
            let prod: f64 = terms
                .iter()
                .zip(&data)
                .map(|(t, d)| d[flat(&idx, t)])
                .product();
            result[flat(&idx, &out)] += prod;
        }
        Tensor::from_vec(result, &out_shape).unwrap()
    }

    #[test]
    fn einsum_matches_naive_loops() {
        let cases: &[(&str, &[&[usize]])] = &[
            ("ij,jk->ik", &[&[3, 4], &[4, 2]]),
            ("bij,bjk->bik", &[&[2, 3, 4], &[2, 4, 5]]),
            ("ijk,kj->i", &[&[2, 3, 4], &[4, 3]]),
            ("abc,cd,db->ad", &[&[2, 3, 4], &[4, 5], &[5, 3]]),
            ("i,j,k->kji", &[&[2], &[3], &[4]]),
            ("ab,ab->", &[&[3, 4], &[3, 4]]),
            ("abcd,dcba->ad", &[&[2, 3, 2, 3], &[3, 2, 3, 2]]),
            ("bhqd,bhkd->bhqk", &[&[2, 2, 3, 4], &[2, 2, 5, 4]]),
            ("bqk,bkd->qbd", &[&[2, 3, 4], &[2, 4, 5]]),
            ("ijk->kij", &[&[2, 3, 4]]),
            ("ijk->j", &[&[2, 3, 4]]),
            ("ij,kl->ljki", &[&[2, 3], &[4, 5]]),
        ];
        for (c, (spec, shapes)) in cases.iter().enumerate() {
            let ts: Vec<Tensor> = shapes
                .iter()
                .enumerate()
                .map(|(i, s)| rnd(s, 100 + 10 * c as u64 + i as u64))
                .collect();
            let refs: Vec<&Tensor> = ts.iter().collect();
            let got = einsum(spec, &refs);
            let want = naive_einsum(spec, &refs);
            close(&got, &want);
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let a = rnd(&[2, 1, 3, 4], 200);
        let b = rnd(&[5, 4, 2], 201);
        check_grad(|t| t[0].matmul(&t[1]), &[a.clone(), b], 1);
        check_grad(
            |t| t[0].matmul(&t[1]),
            &[rnd(&[3, 2, 4], 202), rnd(&[4, 3], 203)],
            2,
        );
        check_grad(
            |t| t[0].matmul(&t[1]),
            &[rnd(&[4], 204), rnd(&[2, 4, 3], 205)],
            3,
        );
        check_grad(
            |t| t[0].dot(&t[1]),
            &[rnd(&[2, 3], 206), rnd(&[4, 3, 2], 207)],
            4,
        );
        check_grad(
            |t| outer(&t[0], &t[1]),
            &[rnd(&[3], 208), rnd(&[2, 2], 209)],
            5,
        );
        let (x, w, y) = (rnd(&[2, 3], 210), rnd(&[4, 3, 5], 211), rnd(&[2, 5], 212));
        check_grad(
            |t| einsum("bn,anm,bm->ba", &[&t[0], &t[1], &t[2]]),
            &[x, w, y],
            6,
        );
        check_grad(
            |t| einsum("...ij,...jk", &[&t[0], &t[1]]),
            &[a, rnd(&[5, 4, 2], 213)],
            7,
        );
        check_grad(|t| einsum("ijk->kj", &[&t[0]]), &[rnd(&[2, 3, 4], 214)], 8);
    }
}
