//! Kiln's neural-network layer: modules ([`Module`], [`layers`]), losses
//! ([`loss`]), optimizers and learning-rate schedules ([`optim`]).
//!
//! Parameters are leaf tensors created with `requires_grad(true)`; a
//! training step is `loss.backward()`, then [`optim::Optimizer::step`], which
//! updates each parameter in place with [`kiln_core::Tensor::assign`] so that
//! every handle to it (in the model, in the optimizer) stays valid.
//!
//! ```ignore
//! use kiln_nn::{layers::*, loss, optim::{Adam, Optimizer}, Module};
//! let key = kiln_core::random::Key::new(0);
//! let ks = key.split(2);
//! let model = Sequential::new()
//!     .add(Linear::new(2, 8, true, ks[0]))
//!     .add(Tanh)
//!     .add(Linear::new(8, 1, true, ks[1]));
//! let mut opt = Adam::new(model.parameters(), 1e-2);
//! let l = loss::mse_loss(&model.forward(&x), &y, loss::Reduction::Mean);
//! opt.zero_grad();
//! l.backward()?;
//! opt.step()?;
//! ```

pub mod init;
pub mod layers;
pub mod loss;
pub mod module;
pub mod optim;

pub use module::{load_state_dict, state_dict, Module};
