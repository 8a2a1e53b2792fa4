//! Kiln: the user-facing crate.
pub use kiln_core::*;
