//! jit semantics: traces per key, static arguments, retrace explanations,
//! the concrete-value and leaked-tracer errors, side effects once per
//! trace, state captured from outside the trace, random keys, debug
//! prints, and composition with grad.

use kiln_core::autodiff::{grad, value_and_grad, Const, Static};
use kiln_core::jit::{jit, make_ir, Passes};
use kiln_core::ops::creation::rand;
use kiln_core::ops::elementwise::where_;
use kiln_core::{DType, Error, Tensor};
use std::cell::{Cell, RefCell};

fn t(v: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), shape).unwrap()
}

fn close(a: &Tensor, b: &Tensor, tol: f64) {
    let (x, y) = (a.to_f64_vec().unwrap(), b.to_f64_vec().unwrap());
    assert_eq!(a.shape(), b.shape());
    for (p, q) in x.iter().zip(&y) {
        assert!(
            (p - q).abs() <= tol * p.abs().max(q.abs()).max(1.0),
            "{p} vs {q}"
        );
    }
}

#[test]
fn traces_once_per_key_and_never_on_a_hit() {
    let runs = Cell::new(0);
    let f = jit(|x: &Tensor| {
        runs.set(runs.get() + 1);
        x.selu() * 2.0 + 1.0
    });
    let x = t(&[-1.0, 0.5, 2.0], &[3]);
    let want = x.selu() * 2.0 + 1.0;
    for _ in 0..5 {
        close(&f.call(&x).unwrap(), &want, 0.0);
    }
    assert_eq!(runs.get(), 1, "the Rust code runs once per trace");
    let s = f.stats();
    assert_eq!((s.traces, s.misses, s.hits, s.entries), (1, 1, 4, 1));
    // Same shape, new values: still a hit.
    f.call(&t(&[3.0, 4.0, 5.0], &[3])).unwrap();
    assert_eq!(f.stats().traces, 1);
    // A new shape traces again; the old entry stays.
    f.call(&t(&[1.0, 2.0], &[2])).unwrap();
    f.call(&x).unwrap();
    let s = f.stats();
    assert_eq!((s.traces, s.entries, runs.get()), (2, 2, 2));
    f.clear();
    f.call(&x).unwrap();
    assert_eq!(f.stats().traces, 3);
}

#[test]
fn static_arguments_are_plain_values_and_part_of_the_key() {
    let f = jit(|(x, scale, relu): &(Tensor, Static<usize>, Static<bool>)| {
        let y = x * scale.0 as f64;
        if relu.0 {
            y.relu()
        } else {
            y
        }
    });
    let x = t(&[-1.0, 2.0], &[2]);
    let a = f.call(&(x.clone(), Static(3), Static(true))).unwrap();
    assert_eq!(a.to_vec::<f32>().unwrap(), vec![0.0, 6.0]);
    let b = f.call(&(x.clone(), Static(3), Static(false))).unwrap();
    assert_eq!(b.to_vec::<f32>().unwrap(), vec![-3.0, 6.0]);
    let c = f.call(&(x.clone(), Static(2), Static(false))).unwrap();
    assert_eq!(c.to_vec::<f32>().unwrap(), vec![-2.0, 4.0]);
    assert_eq!(f.stats().traces, 3);
    f.call(&(x, Static(3), Static(true))).unwrap();
    assert_eq!(f.stats().traces, 3, "a repeated static value hits");
}

#[test]
fn a_retrace_is_explained_down_to_the_dimension() {
    let f = jit(|(x, s): &(Tensor, Static<bool>)| if s.0 { x.exp() } else { x.clone() });
    let x = Tensor::from_vec(vec![0.0f32; 64 * 784], &[64, 784]).unwrap();
    assert_eq!(
        f.why_retrace(&(x.clone(), Static(true))).as_deref(),
        Some("first call: nothing cached yet")
    );
    f.call(&(x.clone(), Static(true))).unwrap();
    assert_eq!(f.why_retrace(&(x.clone(), Static(true))), None);
    let y = Tensor::from_vec(vec![0.0f32; 32 * 784], &[32, 784]).unwrap();
    let why = f.why_retrace(&(y, Static(true))).unwrap();
    assert_eq!(
        why,
        "argument leaf 0 has shape [32, 784], was [64, 784]: dim 0 is 32, was 64"
    );
    let why = f
        .why_retrace(&(x.astype(DType::F64), Static(true)))
        .unwrap();
    assert_eq!(why, "argument leaf 0 has dtype f64, was f32");
    let why = f.why_retrace(&(x, Static(false))).unwrap();
    assert_eq!(why, "a static argument is false, was true");
}

#[test]
fn asking_a_traced_tensor_for_a_value_names_the_line_and_the_fix() {
    let line = Cell::new(0);
    let f = jit(|x: &Tensor| -> kiln_core::Result<Tensor> {
        line.set(line!() + 1);
        if x.sum(.., false).to_bool()? {
            Ok(x * 2.0)
        } else {
            Ok(x.clone())
        }
    });
    let err = f.call(&t(&[1.0, 2.0], &[2])).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Trace(_)), "{msg}");
    let at = format!("tests/jit.rs:{}", line.get());
    assert!(msg.contains(&at), "names the user's line {at}: {msg}");
    assert!(
        msg.contains("jit(") && msg.contains("created at"),
        "names the function: {msg}"
    );
    assert!(
        msg.contains("where_") && msg.contains("Static"),
        "says what to do: {msg}"
    );
    assert!(msg.contains("argument leaf 0"), "says which input: {msg}");
    // item() too, and the trace is cleaned up: the next call works eagerly.
    let g = jit(|x: &Tensor| -> kiln_core::Result<Tensor> {
        let v: f32 = x.item()?;
        Ok(x * v as f64)
    });
    assert!(g.call(&Tensor::scalar(2.0f32)).is_err());
    assert_eq!((t(&[1.0], &[1]) * 3.0).to_vec::<f32>().unwrap(), vec![3.0]);
}

#[test]
fn a_leaked_tracer_is_a_clear_error_later() {
    let stash: RefCell<Option<Tensor>> = RefCell::new(None);
    let f = jit(|x: &Tensor| {
        let y = x.exp();
        *stash.borrow_mut() = Some(y.clone());
        y * 2.0
    });
    f.call(&t(&[0.0], &[1])).unwrap();
    let leaked = stash.borrow().clone().unwrap();
    let err = leaked.to_vec::<f32>().unwrap_err().to_string();
    assert!(err.contains("leaked tracer"), "{err}");
    assert!(err.contains("Return it from the jitted function"), "{err}");
    // Used inside a later trace of another function: also an error.
    let g = jit(|x: &Tensor| x + &leaked);
    let err = g.call(&t(&[0.0], &[1])).unwrap_err().to_string();
    assert!(err.contains("leaked tracer"), "{err}");
}

#[test]
fn side_effects_run_once_per_trace_and_debug_prints_every_call() {
    let log = RefCell::new(vec![]);
    let f = jit(|x: &Tensor| {
        log.borrow_mut().push("traced");
        let y = kiln_core::jit::debug_print("y = {}", &(x + 1.0));
        y * 2.0
    });
    let x = t(&[1.0, 2.0], &[2]);
    for _ in 0..3 {
        assert_eq!(f.call(&x).unwrap().to_vec::<f32>().unwrap(), vec![4.0, 6.0]);
    }
    assert_eq!(*log.borrow(), vec!["traced"]);
    let ir = f.ir(&x).unwrap().to_string();
    assert!(ir.contains("debug_print"), "{ir}");
    // An unused debug print is kept (it is an effect).
    let g = jit(|x: &Tensor| {
        kiln_core::jit::debug_print("unused {}", x);
        x * 3.0
    });
    assert!(g.ir(&x).unwrap().to_string().contains("debug_print"));
}

#[test]
fn captured_tensors_are_read_and_assigned_at_every_call() {
    let w = t(&[1.0, 2.0], &[2]);
    let count = Tensor::scalar(0.0f32);
    let step = jit(|x: &Tensor| {
        let y = x * &w;
        w.assign(&(&w + 1.0)).unwrap();
        count.assign(&(&count + 1.0)).unwrap();
        // After the assign, `w` reads its new value inside the trace too.
        (y, &w * 10.0)
    });
    let x = t(&[1.0, 1.0], &[2]);
    let (y1, w1) = step.call(&x).unwrap();
    assert_eq!(y1.to_vec::<f32>().unwrap(), vec![1.0, 2.0]);
    assert_eq!(w1.to_vec::<f32>().unwrap(), vec![20.0, 30.0]);
    let (y2, _) = step.call(&x).unwrap();
    assert_eq!(y2.to_vec::<f32>().unwrap(), vec![2.0, 3.0]);
    assert_eq!(w.to_vec::<f32>().unwrap(), vec![3.0, 4.0]);
    assert_eq!(count.item::<f32>().unwrap(), 2.0);
    // A change made outside is seen by the next call.
    w.assign(&t(&[0.0, 0.0], &[2])).unwrap();
    let (y3, _) = step.call(&x).unwrap();
    assert_eq!(y3.to_vec::<f32>().unwrap(), vec![0.0, 0.0]);
    assert_eq!(step.stats().traces, 1);
}

#[test]
fn random_numbers_are_fresh_every_call_and_match_eager() {
    let f = jit(|x: &Tensor| x + rand(x.shape(), DType::F32));
    let x = Tensor::from_vec(vec![0.0f32; 8], &[8]).unwrap();
    kiln_core::random::seed(7);
    let a = f.call(&x).unwrap().to_vec::<f32>().unwrap();
    let b = f.call(&x).unwrap().to_vec::<f32>().unwrap();
    assert_ne!(a, b, "a fresh key per call");
    kiln_core::random::seed(7);
    let ea = rand(&[8], DType::F32).to_vec::<f32>().unwrap();
    let eb = rand(&[8], DType::F32).to_vec::<f32>().unwrap();
    assert_eq!((a, b), (ea, eb), "the same stream as eager code");
}

#[test]
fn grad_of_jit_and_jit_of_grad_match_grad() {
    let loss = |w: &Tensor| (w.tanh() * w).sum(.., false);
    let w = Tensor::from_vec(vec![0.3f64, -1.2, 2.0], &[3]).unwrap();
    let want = grad(loss)(&w).unwrap();
    let jg = jit(grad(loss));
    close(&jg.call(&w).unwrap(), &want, 1e-12);
    close(&jg.call(&w).unwrap(), &want, 1e-12);
    assert_eq!(jg.stats().traces, 1);
    let jl = jit(loss);
    let gj = grad(|w: &Tensor| jl.call(w).unwrap());
    close(&gj(&w).unwrap(), &want, 1e-12);
    close(&gj(&w).unwrap(), &want, 1e-12);
    assert_eq!(
        jl.stats().traces,
        1,
        "grad(jit(f)) replays the cached trace"
    );
    // value_and_grad with a Const part, jitted.
    let vg = jit(value_and_grad(|(w, x): &(Tensor, Const<Tensor>)| {
        (w * &x.0).sum(.., false)
    }));
    let x = Tensor::from_vec(vec![1.0f64, 2.0, 3.0], &[3]).unwrap();
    let (v, (g, _)) = vg.call(&(w.clone(), Const(x.clone()))).unwrap();
    close(&v, &(&w * &x).sum(.., false), 1e-12);
    close(&g, &x, 0.0);
    // A new Const tensor is an input, not a baked-in constant.
    let x2 = Tensor::from_vec(vec![5.0f64, 5.0, 5.0], &[3]).unwrap();
    let (_, (g2, _)) = vg.call(&(w, Const(x2.clone()))).unwrap();
    close(&g2, &x2, 0.0);
    assert_eq!(vg.stats().traces, 1);
}

#[test]
fn make_ir_prints_like_a_jaxpr() {
    let x = t(&[1.0, -2.0, 3.0], &[3]);
    let ir = make_ir(|x: &Tensor| x.selu())(&x).unwrap().to_string();
    assert!(ir.starts_with("{ lambda ; a:f32[3]. let"), "{ir}");
    assert!(ir.contains("expm1"), "{ir}");
    assert!(
        ir.contains("tests/jit.rs:"),
        "equations carry the user's line: {ir}"
    );
    assert!(ir.trim_end().ends_with(") }"), "{ir}");
    // The jitted plan fuses SELU into one kernel.
    let f = jit(|x: &Tensor| x.selu());
    let plan = f.plan(&x).unwrap().to_string();
    assert!(plan.contains("fused elementwise"), "{plan}");
    assert_eq!(plan.matches("fused").count(), 1, "one kernel: {plan}");
}

#[test]
fn trees_come_back_in_their_structure() {
    let f = jit(|(xs, m): &(Vec<Tensor>, Option<Tensor>)| {
        let s = xs
            .iter()
            .fold(Tensor::scalar(0.0f32), |a, x| a + x.sum(.., false));
        (vec![s.clone(), s * 2.0], m.as_ref().map(|m| m * 3.0))
    });
    let xs = vec![t(&[1.0, 2.0], &[2]), t(&[3.0], &[1])];
    let (v, m) = f.call(&(xs.clone(), Some(t(&[1.0], &[1])))).unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(v[1].item::<f32>().unwrap(), 12.0);
    assert_eq!(m.unwrap().to_vec::<f32>().unwrap(), vec![3.0]);
    let (_, m) = f.call(&(xs.clone(), None)).unwrap();
    assert!(m.is_none());
    f.call(&(vec![xs[0].clone()], None)).unwrap();
    assert_eq!(
        f.stats().traces,
        3,
        "Option and Vec length are part of the key"
    );
}

#[test]
fn where_instead_of_if_works_under_jit() {
    let f = jit(|x: &Tensor| where_(&x.gt(0.0), x, &(x * -0.5)));
    let x = t(&[-2.0, 3.0], &[2]);
    assert_eq!(f.call(&x).unwrap().to_vec::<f32>().unwrap(), vec![1.0, 3.0]);
}

#[test]
fn every_pass_configuration_gives_the_same_results() {
    let x = Tensor::from_vec((0..24).map(|i| i as f32 * 0.1 - 1.0).collect(), &[4, 6]).unwrap();
    let f = |x: &Tensor| {
        let a = x.exp() * 1.0 + x.tanh();
        let b = (&a * &a).sum(1, true) / 6.0;
        (x - &b).relu().softmax(-1) + a.reshape([6, 4]).permute(&[1, 0]).reshape([4, 6])
    };
    let want = f(&x);
    let mut configs = vec![Passes::all(), Passes::none()];
    for k in 0..6 {
        let mut p = Passes::all();
        match k {
            0 => p.dce = false,
            1 => p.cse = false,
            2 => p.fold = false,
            3 => p.simplify = false,
            4 => p.fuse = false,
            _ => p.in_place = false,
        }
        configs.push(p);
    }
    for p in configs {
        let j = jit(f).with_passes(p);
        close(&j.call(&x).unwrap(), &want, 1e-6);
        close(&j.call(&x).unwrap(), &want, 1e-6);
    }
}

#[test]
fn repeated_retraces_warn_once() {
    let f = jit(|x: &Tensor| x * 2.0);
    for n in 1..=kiln_core::jit::RETRACE_WARNING as usize + 2 {
        f.call(&Tensor::from_vec(vec![1.0f32; n], &[n]).unwrap())
            .unwrap();
        assert_eq!(
            f.stats().warned,
            n as u64 >= kiln_core::jit::RETRACE_WARNING
        );
    }
}
