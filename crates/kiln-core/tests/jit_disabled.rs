//! The switch that disables jit (its own test binary: it is process-wide).

use kiln_core::jit::{jit, set_disabled};
use kiln_core::Tensor;
use std::cell::Cell;

#[test]
fn disabled_jit_runs_the_function_eagerly_every_call() {
    let runs = Cell::new(0);
    let f = jit(|x: &Tensor| -> kiln_core::Result<Tensor> {
        runs.set(runs.get() + 1);
        // A concrete value is fine when jit is off (handy for debugging).
        let s: f32 = x.sum(.., false).item()?;
        Ok(x * s as f64)
    });
    let x = Tensor::from_vec(vec![1.0f32, 2.0], &[2]).unwrap();
    set_disabled(true);
    for _ in 0..3 {
        assert_eq!(f.call(&x).unwrap().to_vec::<f32>().unwrap(), vec![3.0, 6.0]);
    }
    assert_eq!((runs.get(), f.stats().traces), (3, 0));
    set_disabled(false);
    assert!(f.call(&x).is_err(), "traced again, item() is an error");
}
