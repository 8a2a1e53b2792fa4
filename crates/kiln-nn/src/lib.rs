//! Kiln's neural-network layer: modules ([`Module`], [`layers`]), losses
//! ([`loss`]), optimizers and learning-rate schedules ([`optim`]).
//!
//! Parameters are leaf tensors created with `requires_grad(true)`; a
//! training step is `loss.backward()`, then [`optim::Optimizer::step`], which
//! updates each parameter in place with [`kiln_core::Tensor::assign`] so that
//! every handle to it (in the model, in the optimizer) stays valid.
//!
//! ```
//! use kiln_core::{random::Key, Tensor};
//! use kiln_nn::layers::{Linear, Sequential, Tanh};
//! use kiln_nn::loss::{mse_loss, Reduction};
//! use kiln_nn::optim::{Adam, Optimizer};
//! use kiln_nn::Module;
//!
//! # fn main() -> kiln_core::Result<()> {
//! let ks = Key::new(0).split(2);
//! let model = Sequential::new()
//!     .add(Linear::new(2, 8, true, ks[0]))
//!     .add(Tanh)
//!     .add(Linear::new(8, 1, true, ks[1]));
//! let x = Tensor::from_vec(vec![0.0f32, 1.0, 1.0, 0.0], &[2, 2])?;
//! let y = Tensor::from_vec(vec![1.0f32, -1.0], &[2, 1])?;
//! let mut opt = Adam::new(model.parameters(), 1e-2);
//! for _ in 0..3 {
//!     opt.zero_grad();
//!     let loss = mse_loss(&model.forward(&x), &y, Reduction::Mean);
//!     loss.backward()?;
//!     opt.step()?;
//! }
//! # Ok(())
//! # }
//! ```

pub mod init;
pub mod layers;
pub mod loss;
pub mod metrics;
pub mod module;
pub mod optim;
pub mod serialize;

pub use module::{load_state_dict, state_dict, Module};
