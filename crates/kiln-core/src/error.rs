//! Kiln's error type: what goes wrong with data users hand in.
//!
//! Misuse of an op in code (incompatible shapes, a bad axis) panics at the
//! caller's line instead; see `docs/ARCHITECTURE.md`.

use crate::dtype::DType;
use std::fmt;

/// Errors returned by Kiln.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Data of the wrong length for a shape.
    DataLength {
        /// The shape asked for.
        shape: Vec<usize>,
        /// Elements the shape holds.
        expected: usize,
        /// Elements given.
        got: usize,
    },
    /// `item()` on a tensor that does not hold exactly one element.
    NotScalar {
        /// The tensor's shape.
        shape: Vec<usize>,
    },
    /// Reading or writing a tensor as the wrong element type.
    DType {
        /// The dtype required.
        expected: DType,
        /// The dtype found.
        got: DType,
        /// What was being done.
        context: String,
    },
    /// Evaluating a primitive failed on the data (e.g. an index out of range).
    Eval {
        /// The primitive's name.
        op: &'static str,
        /// What went wrong.
        message: String,
        /// Where the op was created (`file:line:col`).
        location: String,
    },
    /// An argument that is not valid, with an explanation.
    Invalid(String),
    /// Misuse of a traced value under `jit` (a concrete value asked for
    /// while tracing, a tracer used after its trace), with the fix.
    Trace(String),
    /// An I/O error, with the path involved.
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::DataLength {
                shape,
                expected,
                got,
            } => write!(
                f,
                "data has {got} elements but shape {shape:?} needs {expected}"
            ),
            Error::NotScalar { shape } => write!(
                f,
                "item() needs a tensor with exactly one element, got shape {shape:?}"
            ),
            Error::DType {
                expected,
                got,
                context,
            } => write!(f, "{context}: expected dtype {expected}, got {got}"),
            Error::Eval {
                op,
                message,
                location,
            } => write!(f, "{op} (created at {location}): {message}"),
            Error::Invalid(m) | Error::Trace(m) => f.write_str(m),
            Error::Io { path, source } => write!(f, "{path}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
