//! Autodiff behaviour: backward() and grad agree, higher order, trees,
//! no_grad, retain_graph, custom VJPs, checkpointing, errors, and memory.

use kiln_core::autodiff::{
    checkpoint, custom_vjp, grad, value_and_grad, value_and_grad_with_aux, vjp, Const,
};
use kiln_core::dtype::DType;
use kiln_core::{no_grad, Tensor};
use std::collections::BTreeMap;

fn t64(v: &[f64], shape: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), shape).unwrap()
}

fn close(a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= tol * y.abs().max(1.0), "{a:?} != {b:?}");
    }
}

#[test]
fn grad_of_grad_of_cube_is_6x() {
    let cube = |x: &Tensor| (x * x * x).sum(.., false);
    let d1 = grad(cube);
    let d2 = grad(move |x: &Tensor| d1(x).unwrap().sum(.., false));
    let x = t64(&[0.5, -2.0, 3.0], &[3]);
    close(
        &d2(&x).unwrap().to_f64_vec().unwrap(),
        &[3.0, -12.0, 18.0],
        1e-12,
    );
    let d1 = grad(cube);
    close(
        &d1(&x).unwrap().to_f64_vec().unwrap(),
        &[0.75, 12.0, 27.0],
        1e-12,
    );
}

#[test]
fn third_derivative_of_sin() {
    let f = |x: &Tensor| x.sin().sum(.., false);
    let d1 = grad(f);
    let d2 = grad(move |x: &Tensor| d1(x).unwrap().sum(.., false));
    let d3 = grad(move |x: &Tensor| d2(x).unwrap().sum(.., false));
    let x = t64(&[0.3, 1.1], &[2]);
    close(
        &d3(&x).unwrap().to_f64_vec().unwrap(),
        &[-(0.3f64.cos()), -(1.1f64.cos())],
        1e-12,
    );
}

fn mlp_loss(w1: &Tensor, w2: &Tensor, x: &Tensor, y: &Tensor) -> Tensor {
    let h = x.matmul(w1).tanh();
    let out = h.matmul(w2);
    (&out - y).square().mean(.., false)
}

#[test]
fn backward_and_grad_give_identical_gradients() {
    use kiln_core::ops::creation::normal;
    use kiln_core::random::Key;
    let w1 = normal(&[4, 5], 0.0, 1.0, DType::F64, Some(Key::new(1)));
    let w2 = normal(&[5, 2], 0.0, 1.0, DType::F64, Some(Key::new(2)));
    let x = normal(&[3, 4], 0.0, 1.0, DType::F64, Some(Key::new(3)));
    let y = normal(&[3, 2], 0.0, 1.0, DType::F64, Some(Key::new(4)));
    let g = grad(|(a, b, c): &(Tensor, Tensor, Const<(Tensor, Tensor)>)| {
        mlp_loss(a, b, &c.0 .0, &c.0 .1)
    });
    let (g1, g2, _) = g(&(w1.clone(), w2.clone(), Const((x.clone(), y.clone())))).unwrap();
    let p1 = Tensor::from_array(w1.array().unwrap()).requires_grad(true);
    let p2 = Tensor::from_array(w2.array().unwrap()).requires_grad(true);
    mlp_loss(&p1, &p2, &x, &y).backward().unwrap();
    assert_eq!(
        p1.grad().unwrap().to_f64_vec().unwrap(),
        g1.to_f64_vec().unwrap()
    );
    assert_eq!(
        p2.grad().unwrap().to_f64_vec().unwrap(),
        g2.to_f64_vec().unwrap()
    );
}

#[test]
fn backward_accumulates_and_zero_grad_clears() {
    let w = t64(&[1.0, 2.0], &[2]).requires_grad(true);
    (&w * 3.0).sum(.., false).backward().unwrap();
    (&w * &w).sum(.., false).backward().unwrap();
    assert_eq!(w.grad().unwrap().to_f64_vec().unwrap(), vec![5.0, 7.0]);
    w.zero_grad();
    assert!(w.grad().is_none());
}

#[test]
fn graph_is_freed_after_backward_unless_retained() {
    let w = t64(&[1.0, 2.0], &[2]).requires_grad(true);
    let loss = w.exp().sum(.., false);
    loss.backward().unwrap();
    let err = loss.backward().unwrap_err().to_string();
    assert!(err.contains("already freed"), "{err}");
    let loss = w.exp().sum(.., false);
    loss.backward_with(&Tensor::scalar(1.0f64), true).unwrap();
    loss.backward().unwrap();
}

#[test]
fn backward_errors_are_clear() {
    let w = t64(&[1.0, 2.0], &[2]).requires_grad(true);
    let e = (&w * 2.0).backward().unwrap_err().to_string();
    assert!(e.contains("needs a scalar"), "{e}");
    let plain = t64(&[1.0], &[1]);
    let e = plain
        .exp()
        .sum(.., false)
        .backward()
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not require grad"), "{e}");
    let n = no_grad(|| w.exp().sum(.., false));
    assert!(!n.tracks_grad());
}

#[test]
fn functional_errors_are_clear() {
    let ints = Tensor::from_vec(vec![1i64, 2], &[2]).unwrap();
    let e = grad(|x: &Tensor| x.astype(DType::F32).sum(.., false))(&ints)
        .unwrap_err()
        .to_string();
    assert!(e.contains("integer") || e.contains("i64"), "{e}");
    let e = grad(|x: &Tensor| x * 2.0)(&t64(&[1.0, 2.0], &[2]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("float scalar"), "{e}");
    let e = grad(|x: &Tensor| x.sum(.., false).astype(DType::I64))(&t64(&[1.0], &[1]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("float scalar"), "{e}");
}

#[test]
fn gradients_come_back_in_the_argument_structure() {
    let mut params = BTreeMap::new();
    params.insert("a".to_string(), t64(&[2.0], &[1]));
    params.insert("b".to_string(), t64(&[3.0, 4.0], &[2]));
    let f = |p: &BTreeMap<String, Tensor>| (&p["a"] * p["b"].sum(.., false)).sum(.., false);
    let (v, g) = value_and_grad(f)(&params).unwrap();
    assert_eq!(v.item_f64().unwrap(), 14.0);
    assert_eq!(g["a"].to_f64_vec().unwrap(), vec![7.0]);
    assert_eq!(g["b"].to_f64_vec().unwrap(), vec![2.0, 2.0]);
    // An unused input gets a zero gradient.
    let g = grad(|v: &Vec<Tensor>| v[0].sum(.., false))(&vec![
        t64(&[1.0], &[1]),
        t64(&[1.0, 1.0], &[2]),
    ])
    .unwrap();
    assert_eq!(g[1].to_f64_vec().unwrap(), vec![0.0, 0.0]);
}

#[test]
fn aux_outputs_are_returned_not_differentiated() {
    let f = |x: &Tensor| {
        let y = x.square();
        (y.sum(.., false), y.max(.., false))
    };
    let ((loss, aux), g) = value_and_grad_with_aux(f)(&t64(&[1.0, 3.0], &[2])).unwrap();
    assert_eq!(loss.item_f64().unwrap(), 10.0);
    assert_eq!(aux.item_f64().unwrap(), 9.0);
    assert_eq!(g.to_f64_vec().unwrap(), vec![2.0, 6.0]);
}

#[test]
fn vjp_of_a_vector_function() {
    let x = t64(&[1.0, 2.0, 3.0], &[3]);
    let (y, pull) = vjp(|x: &Tensor| x * x, &x).unwrap();
    assert_eq!(y.to_f64_vec().unwrap(), vec![1.0, 4.0, 9.0]);
    let g = pull.apply(&t64(&[1.0, 0.0, 2.0], &[3])).unwrap();
    assert_eq!(g.to_f64_vec().unwrap(), vec![2.0, 0.0, 12.0]);
}

#[test]
fn custom_vjp_replaces_the_gradient() {
    // A straight-through rounding: forward rounds, backward passes through.
    let x = t64(&[0.4, 1.6], &[2]);
    let g = grad(|x: &Tensor| {
        custom_vjp(
            "straight_through",
            std::slice::from_ref(x),
            |xs| xs[0].round(),
            |_xs, _y, g| vec![Some(g.clone())],
        )
        .sum(.., false)
    })(&x)
    .unwrap();
    assert_eq!(g.to_f64_vec().unwrap(), vec![1.0, 1.0]);
}

#[test]
fn checkpoint_gives_the_same_gradient() {
    let f = |xs: &[Tensor]| (xs[0].sin() * &xs[1]).exp();
    let a = t64(&[0.1, 0.2, 0.3], &[3]);
    let b = t64(&[1.0, -1.0, 0.5], &[3]);
    let plain = grad(|(a, b): &(Tensor, Tensor)| f(&[a.clone(), b.clone()]).sum(.., false))(&(
        a.clone(),
        b.clone(),
    ))
    .unwrap();
    let ck =
        grad(|(a, b): &(Tensor, Tensor)| checkpoint(f, &[a.clone(), b.clone()]).sum(.., false))(&(
            a, b,
        ))
        .unwrap();
    close(
        &ck.0.to_f64_vec().unwrap(),
        &plain.0.to_f64_vec().unwrap(),
        1e-14,
    );
    close(
        &ck.1.to_f64_vec().unwrap(),
        &plain.1.to_f64_vec().unwrap(),
        1e-14,
    );
}

#[test]
fn max_splits_ties_evenly() {
    let x = t64(&[1.0, 3.0, 3.0], &[3]);
    let g = grad(|x: &Tensor| x.max(.., false))(&x).unwrap();
    assert_eq!(g.to_f64_vec().unwrap(), vec![0.0, 0.5, 0.5]);
    let g = grad(|x: &Tensor| x.maximum(2.0).sum(.., false))(&t64(&[1.0, 2.0, 3.0], &[3])).unwrap();
    assert_eq!(g.to_f64_vec().unwrap(), vec![0.0, 0.5, 1.0]);
}

/// A user's parameter struct: two short methods make it a tree.
struct Params {
    w: Tensor,
    b: Tensor,
    name: &'static str,
}

impl kiln_core::autodiff::Tree for Params {
    fn leaves(&self, out: &mut Vec<Tensor>) {
        out.push(self.w.clone());
        out.push(self.b.clone());
    }
    fn rebuild(&self, leaves: &mut dyn Iterator<Item = Tensor>) -> Self {
        Params {
            w: leaves.next().unwrap(),
            b: leaves.next().unwrap(),
            name: self.name,
        }
    }
}

#[test]
fn user_structs_are_trees() {
    let p = Params {
        w: t64(&[1.0, 2.0], &[2]),
        b: t64(&[0.5], &[1]),
        name: "linear",
    };
    let x = t64(&[3.0, 4.0], &[2]);
    let g = grad(|(p, x): &(Params, Const<Tensor>)| {
        ((&p.w * &x.0).sum(.., false) + &p.b).sum(.., false)
    })(&(p, Const(x)))
    .unwrap();
    assert_eq!(g.0.name, "linear");
    assert_eq!(g.0.w.to_f64_vec().unwrap(), vec![3.0, 4.0]);
    assert_eq!(g.0.b.to_f64_vec().unwrap(), vec![1.0]);
}

#[test]
fn no_grad_inside_a_transform_acts_like_detach() {
    // no_grad inside a transformed function stops gradient flow like detach.
    let g = grad(|x: &Tensor| {
        let frozen = no_grad(|| x * 10.0);
        (x * &frozen).sum(.., false)
    })(&t64(&[2.0], &[1]))
    .unwrap();
    assert_eq!(g.to_f64_vec().unwrap(), vec![20.0]);
}

#[test]
fn products_have_exact_gradients_at_zero() {
    // d/dx sum(cumprod([0, 2, 3])) = [1 + 2 + 6, 0 + 0, 0] = [9, 0, 0].
    let x = t64(&[0.0, 2.0, 3.0], &[3]);
    let g = grad(|x: &Tensor| x.cumprod(0).sum(.., false))(&x).unwrap();
    assert_eq!(g.to_f64_vec().unwrap(), vec![9.0, 0.0, 0.0]);
    // The reverse scan: f = x2 + x1*x2 + x0*x1*x2, so df = [x1*x2, x2 + x0*x2, 1 + x1 + x0*x1].
    let rev = |x: &Tensor| {
        let prim = kiln_core::primitive::Primitive::Scan {
            op: kiln_core::primitive::ScanOp::Prod,
            axis: 0,
            reverse: true,
        };
        Tensor::from_op(prim, vec![x.clone()]).sum(.., false)
    };
    assert_eq!(
        grad(rev)(&x).unwrap().to_f64_vec().unwrap(),
        vec![6.0, 3.0, 3.0]
    );
    // Second order of a product with a zero: H of x0*x1 at (0, 2) times [1, 1].
    let hv = grad(|x: &Tensor| {
        grad(|x: &Tensor| x.prod(.., false))(x)
            .unwrap()
            .sum(.., false)
    })(&t64(&[0.0, 2.0], &[2]))
    .unwrap();
    assert_eq!(hv.to_f64_vec().unwrap(), vec![1.0, 1.0]);
}
