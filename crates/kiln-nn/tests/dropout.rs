//! Dropout draws its mask from the global generator inside kiln-core
//! (`key: None`). Its own test binary: the global generator is shared by
//! every test of a binary, and this one depends on its exact state.

use kiln_core::ops::creation::bernoulli;
use kiln_core::random::{self, next_key};
use kiln_core::DType;
use kiln_nn::layers::Dropout;
use kiln_nn::Module;

#[test]
fn dropout_mask_comes_from_the_global_generator() {
    let x = kiln_core::ops::creation::linspace(-3.0, 3.0, 777, DType::F32).reshape([7, 111]);
    let d = Dropout::new(0.3);
    random::seed(1234);
    let before = random::global_state();
    let got: Vec<Vec<u32>> = (0..3)
        .map(|_| {
            let y = d.forward(&x);
            y.to_vec::<f32>()
                .unwrap()
                .iter()
                .map(|v| v.to_bits())
                .collect()
        })
        .collect();
    // One key per forward call.
    assert_eq!(random::global_state().1, before.1 + 3);

    // The same numbers as drawing the key explicitly from the generator
    // (what Dropout did before), bit for bit.
    random::seed(1234);
    for g in &got {
        let keep = bernoulli(x.shape(), 1.0 - 0.3, Some(next_key()));
        let want: Vec<u32> = (&x * keep.astype(DType::F32) * (1.0 / (1.0 - 0.3)))
            .to_vec::<f32>()
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect();
        assert_eq!(g, &want);
    }
    assert_ne!(got[0], got[1], "a new key on every call");
    let zeros = got[0].iter().filter(|&&b| f32::from_bits(b) == 0.0).count();
    assert!((150..=320).contains(&zeros), "{zeros} of 777 dropped");
}
