//! The tensor handle's contract: laziness, evaluation, memory release,
//! errors for bad user data, promotion of operands, and panics that point
//! at the caller's line.

use kiln_core::dtype::DType;
use kiln_core::ops::creation::{arange, full, ones, zeros};
use kiln_core::{Error, Tensor};
use std::sync::Arc;

fn t(v: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), shape).unwrap()
}

#[test]
fn tensors_are_send_sync_and_cheap_to_clone() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Tensor>();
    let a = t(&[1.0, 2.0], &[2]);
    let b = a.clone();
    assert_eq!(a.id(), b.id());
}

#[test]
fn ops_are_lazy_until_read() {
    let a = t(&[1.0, 2.0, 3.0], &[3]);
    let b = &a * 2.0 + 1.0;
    assert_eq!(b.shape(), &[3]);
    assert_eq!(b.dtype(), DType::F32);
    assert!(!b.is_evaluated());
    assert!(b.op().is_some());
    assert_eq!(b.to_vec::<f32>().unwrap(), vec![3.0, 5.0, 7.0]);
    assert!(b.is_evaluated());
    // After evaluation the node keeps its data and drops its inputs.
    assert!(b.op().is_none());
}

#[test]
fn evaluation_releases_intermediate_buffers() {
    let a = t(&[1.0; 1000], &[1000]);
    let mid = a.exp();
    let weak = {
        let out = (&mid + 1.0).sum(.., false);
        out.eval().unwrap();
        // `mid` is still held by the user: its data is kept.
        assert!(mid.is_evaluated());
        let buf = mid.array().unwrap().buffer().clone();
        Arc::downgrade(&buf)
    };
    assert!(weak.upgrade().is_some());
    drop(mid);
    assert!(
        weak.upgrade().is_none(),
        "dropping the last handle frees the buffer"
    );
}

#[test]
fn deep_graphs_evaluate_and_drop_without_recursion() {
    let mut x = t(&[0.0], &[1]);
    for _ in 0..100_000 {
        x = &x + 1.0;
    }
    assert_eq!(x.to_vec::<f32>().unwrap(), vec![100_000.0]);
    let mut y = t(&[0.0], &[1]);
    for _ in 0..200_000 {
        y = &y + 1.0;
    }
    drop(y); // never evaluated: the whole chain is dropped iteratively
}

#[test]
fn user_data_errors_are_results() {
    let e = Tensor::from_vec(vec![1.0f32, 2.0], &[3]).unwrap_err();
    assert!(
        matches!(
            e,
            Error::DataLength {
                expected: 3,
                got: 2,
                ..
            }
        ),
        "{e}"
    );
    let x = t(&[1.0, 2.0], &[2]);
    let e = x.item::<f32>().unwrap_err();
    assert!(e.to_string().contains("exactly one element"), "{e}");
    let e = x.to_vec::<f64>().unwrap_err();
    assert!(e.to_string().contains("expected dtype f32, got f64"), "{e}");
    assert_eq!(t(&[4.0], &[1, 1]).item::<f32>().unwrap(), 4.0);
    assert_eq!(Tensor::scalar(3i32).item_f64().unwrap(), 3.0);
}

#[test]
fn scalars_are_weakly_typed() {
    let h = t(&[1.0, 2.0], &[2]).astype(DType::F16);
    assert_eq!((&h * 2.0).dtype(), DType::F16);
    let i = arange(0.0, 3.0, 1.0, DType::I32);
    assert_eq!((&i + 1).dtype(), DType::I32);
    assert_eq!((&i * 1.5).dtype(), DType::F32);
    assert_eq!((&i / 2).dtype(), DType::F32, "true division");
    assert_eq!(i.floor_divide(2).to_vec::<i32>().unwrap(), vec![0, 0, 1]);
    let b = Tensor::from_vec(vec![true, false], &[2]).unwrap();
    assert_eq!((&b + 1).dtype(), DType::I64);
    assert_eq!((2.0 - &h).to_f64_vec().unwrap(), vec![1.0, 0.0]);
}

#[test]
fn tensor_operands_promote() {
    let a = arange(0.0, 3.0, 1.0, DType::I32);
    let b = arange(0.0, 3.0, 1.0, DType::U8);
    assert_eq!((&a + &b).dtype(), DType::I32);
    let h = a.astype(DType::F16);
    let bf = a.astype(DType::BF16);
    assert_eq!((&h + &bf).dtype(), DType::F32);
    assert_eq!((&a + &a.astype(DType::F64)).dtype(), DType::F64);
}

#[test]
fn broadcasting_in_arithmetic() {
    let a = t(&[1.0, 2.0, 3.0], &[3, 1]);
    let b = t(&[10.0, 20.0], &[2]);
    let c = &a + &b;
    assert_eq!(c.shape(), &[3, 2]);
    assert_eq!(
        c.to_vec::<f32>().unwrap(),
        vec![11., 21., 12., 22., 13., 23.]
    );
}

#[test]
fn creation_functions() {
    assert_eq!(
        zeros(&[2, 2], DType::I64).to_vec::<i64>().unwrap(),
        vec![0; 4]
    );
    assert_eq!(
        ones(&[3], DType::Bool).to_vec::<bool>().unwrap(),
        vec![true; 3]
    );
    assert_eq!(full(&[], 7.0, DType::U8).item::<u8>().unwrap(), 7);
    assert_eq!(
        arange(1.0, 2.0, 0.25, DType::F64).to_vec::<f64>().unwrap(),
        vec![1.0, 1.25, 1.5, 1.75]
    );
}

#[test]
fn misuse_panics_name_the_op_shapes_and_caller_line() {
    let a = t(&[1.0, 2.0, 3.0], &[3]);
    let b = t(&[1.0, 2.0], &[2]);
    let line = line!() + 1;
    let err = std::panic::catch_unwind(|| &a + &b).unwrap_err();
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(msg.contains("add"), "{msg}");
    assert!(msg.contains("[3]") && msg.contains("[2]"), "{msg}");
    assert!(msg.contains(&format!("tests/tensor.rs:{line}")), "{msg}");
}

#[test]
fn nodes_record_the_callers_location() {
    let a = t(&[1.0], &[1]);
    let line = line!() + 1;
    let b = a.exp();
    assert_eq!(b.location().line(), line);
    assert!(b.location().file().ends_with("tests/tensor.rs"));
}

#[test]
fn random_numbers_are_reproducible_and_thread_independent() {
    use kiln_core::ops::creation::{normal, uniform};
    use kiln_core::random::Key;
    let k = Key::new(123);
    let a = uniform(&[100_000], 0.0, 1.0, DType::F32, Some(k))
        .to_vec::<f32>()
        .unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let b = pool.install(|| {
        uniform(&[100_000], 0.0, 1.0, DType::F32, Some(k))
            .to_vec::<f32>()
            .unwrap()
    });
    assert_eq!(a, b);
    assert!(a.iter().all(|&v| (0.0..1.0).contains(&v)));
    let mean = a.iter().map(|&v| v as f64).sum::<f64>() / a.len() as f64;
    assert!((mean - 0.5).abs() < 0.01, "uniform mean {mean}");
    let z = normal(&[100_000], 0.0, 1.0, DType::F64, Some(k))
        .to_vec::<f64>()
        .unwrap();
    let m = z.iter().sum::<f64>() / z.len() as f64;
    let v = z.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / z.len() as f64;
    assert!(
        m.abs() < 0.02 && (v - 1.0).abs() < 0.02,
        "normal mean {m} var {v}"
    );
    kiln_core::random::seed(5);
    let x = kiln_core::ops::creation::rand(&[4], DType::F32)
        .to_vec::<f32>()
        .unwrap();
    kiln_core::random::seed(5);
    let y = kiln_core::ops::creation::rand(&[4], DType::F32)
        .to_vec::<f32>()
        .unwrap();
    assert_eq!(x, y);
}
