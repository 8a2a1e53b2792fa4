//! Kiln's data layer: datasets, batching and shuffling loaders, and readers
//! for the IDX (MNIST) and CSV formats.
//!
//! - [`dataset`]: the [`Dataset`] trait and the in-memory [`TensorDataset`];
//! - [`loader`]: [`DataLoader`], batches in a seeded, reproducible order;
//! - [`idx`]: the IDX format of MNIST / Fashion-MNIST, gzipped or not;
//! - [`mnist`]: [`Mnist::load`], MNIST as a [`TensorDataset`];
//! - [`csv`]: numeric CSV tables with a label column (iris-style);
//! - [`paths`]: where the bundled data folder is.
//!
//! ```no_run
//! use kiln_data::{DataLoader, Mnist, Split};
//!
//! # fn main() -> kiln_core::Result<()> {
//! let train = Mnist::load(Mnist::default_dir(), Split::Train)?;
//! let loader = DataLoader::new(train, 64).shuffle(0).drop_last(true);
//! for epoch in 0..2 {
//!     for batch in loader.epoch(epoch)? {
//!         let (images, labels) = batch?; // f32 [64, 784], i64 [64]
//!         # let _ = (images, labels);
//!     }
//! }
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod csv;
pub mod dataset;
pub mod idx;
pub mod loader;
pub mod mnist;
pub mod paths;

pub use csv::{CsvHeader, CsvTable};
pub use dataset::{Dataset, TensorDataset};
pub use idx::IdxArray;
pub use loader::{Batches, DataLoader};
pub use mnist::{Mnist, Split};
pub use paths::data_dir;
