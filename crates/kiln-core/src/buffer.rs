//! Typed, owned element storage and the macros that dispatch on dtype.

use crate::dtype::{DType, Element};
use half::{bf16, f16};

/// A contiguous vector of elements of one runtime dtype.
#[derive(Clone, Debug, PartialEq)]
pub enum Buffer {
    Bool(Vec<bool>),
    U8(Vec<u8>),
    U32(Vec<u32>),
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    F16(Vec<f16>),
    BF16(Vec<bf16>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

/// Runs `$body` with `$T` bound to the Rust type of runtime dtype `$dtype`.
#[macro_export]
#[doc(hidden)]
macro_rules! with_dtype {
    ($dtype:expr, $T:ident, $body:block) => {{
        use $crate::dtype::DType as __D;
        match $dtype {
            __D::Bool => {
                type $T = bool;
                $body
            }
            __D::U8 => {
                type $T = u8;
                $body
            }
            __D::U32 => {
                type $T = u32;
                $body
            }
            __D::I8 => {
                type $T = i8;
                $body
            }
            __D::I16 => {
                type $T = i16;
                $body
            }
            __D::I32 => {
                type $T = i32;
                $body
            }
            __D::I64 => {
                type $T = i64;
                $body
            }
            __D::F16 => {
                type $T = half::f16;
                $body
            }
            __D::BF16 => {
                type $T = half::bf16;
                $body
            }
            __D::F32 => {
                type $T = f32;
                $body
            }
            __D::F64 => {
                type $T = f64;
                $body
            }
        }
    }};
}

/// Like [`with_dtype!`] but only for float dtypes; other dtypes run `$else`.
#[macro_export]
#[doc(hidden)]
macro_rules! with_float_dtype {
    ($dtype:expr, $T:ident, $body:block, $else:expr) => {{
        use $crate::dtype::DType as __D;
        match $dtype {
            __D::F16 => {
                type $T = half::f16;
                $body
            }
            __D::BF16 => {
                type $T = half::bf16;
                $body
            }
            __D::F32 => {
                type $T = f32;
                $body
            }
            __D::F64 => {
                type $T = f64;
                $body
            }
            _ => $else,
        }
    }};
}

/// Like [`with_dtype!`] but only for integer dtypes (not bool).
#[macro_export]
#[doc(hidden)]
macro_rules! with_int_dtype {
    ($dtype:expr, $T:ident, $body:block, $else:expr) => {{
        use $crate::dtype::DType as __D;
        match $dtype {
            __D::U8 => {
                type $T = u8;
                $body
            }
            __D::U32 => {
                type $T = u32;
                $body
            }
            __D::I8 => {
                type $T = i8;
                $body
            }
            __D::I16 => {
                type $T = i16;
                $body
            }
            __D::I32 => {
                type $T = i32;
                $body
            }
            __D::I64 => {
                type $T = i64;
                $body
            }
            _ => $else,
        }
    }};
}

/// Like [`with_dtype!`] but for numeric dtypes (everything except bool).
#[macro_export]
#[doc(hidden)]
macro_rules! with_num_dtype {
    ($dtype:expr, $T:ident, $body:block, $else:expr) => {{
        let __d = $dtype;
        if __d.is_float() {
            $crate::with_float_dtype!(__d, $T, $body, unreachable!())
        } else {
            $crate::with_int_dtype!(__d, $T, $body, $else)
        }
    }};
}

/// Conversion between a `Vec<T>` and a [`Buffer`], for each element type.
pub trait BufferElement: Element + crate::pool::Pooled {
    /// Wraps a vector.
    fn into_buffer(v: Vec<Self>) -> Buffer;
    /// Borrows the vector if the buffer holds this type.
    fn slice(b: &Buffer) -> Option<&[Self]>;
    /// Borrows the vector mutably if the buffer holds this type.
    fn vec_mut(b: &mut Buffer) -> Option<&mut Vec<Self>>;
}

macro_rules! impl_buffer_element {
    ($t:ty, $v:ident) => {
        impl BufferElement for $t {
            fn into_buffer(v: Vec<Self>) -> Buffer {
                Buffer::$v(v)
            }
            fn slice(b: &Buffer) -> Option<&[Self]> {
                match b {
                    Buffer::$v(v) => Some(v),
                    _ => None,
                }
            }
            fn vec_mut(b: &mut Buffer) -> Option<&mut Vec<Self>> {
                match b {
                    Buffer::$v(v) => Some(v),
                    _ => None,
                }
            }
        }
    };
}

impl_buffer_element!(bool, Bool);
impl_buffer_element!(u8, U8);
impl_buffer_element!(u32, U32);
impl_buffer_element!(i8, I8);
impl_buffer_element!(i16, I16);
impl_buffer_element!(i32, I32);
impl_buffer_element!(i64, I64);
impl_buffer_element!(f16, F16);
impl_buffer_element!(bf16, BF16);
impl_buffer_element!(f32, F32);
impl_buffer_element!(f64, F64);

/// A dropped buffer hands its vector to the caching allocator
/// ([`crate::pool`]) so the next kernel of the same size reuses its pages.
impl Drop for Buffer {
    fn drop(&mut self) {
        with_dtype!(self.dtype(), T, {
            if let Some(v) = T::vec_mut(self) {
                crate::pool::give(std::mem::take(v));
            }
        })
    }
}

impl Buffer {
    /// The dtype of the elements.
    pub fn dtype(&self) -> DType {
        match self {
            Buffer::Bool(_) => DType::Bool,
            Buffer::U8(_) => DType::U8,
            Buffer::U32(_) => DType::U32,
            Buffer::I8(_) => DType::I8,
            Buffer::I16(_) => DType::I16,
            Buffer::I32(_) => DType::I32,
            Buffer::I64(_) => DType::I64,
            Buffer::F16(_) => DType::F16,
            Buffer::BF16(_) => DType::BF16,
            Buffer::F32(_) => DType::F32,
            Buffer::F64(_) => DType::F64,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        with_dtype!(self.dtype(), T, { self.as_slice::<T>().len() })
    }

    /// True if the buffer holds no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Typed view of the elements. Panics if `T` is not the buffer's type
    /// (an internal error: kernels dispatch on dtype first).
    pub fn as_slice<T: BufferElement>(&self) -> &[T] {
        T::slice(self).unwrap_or_else(|| {
            panic!(
                "kiln internal error: buffer of {} read as {}",
                self.dtype(),
                T::DTYPE
            )
        })
    }

    /// A buffer of `n` copies of `value` cast to `dtype`.
    pub fn filled(dtype: DType, n: usize, value: f64) -> Buffer {
        with_dtype!(dtype, T, { T::into_buffer(vec![T::from_f64(value); n]) })
    }

    /// Every element widened to f64 (for tests, printing and the oracle).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        with_dtype!(self.dtype(), T, {
            self.as_slice::<T>().iter().map(|v| v.to_f64()).collect()
        })
    }

    /// A buffer of `dtype` from f64 values with cast semantics.
    pub fn from_f64_slice(dtype: DType, values: &[f64]) -> Buffer {
        with_dtype!(dtype, T, {
            T::into_buffer(values.iter().map(|&v| T::from_f64(v)).collect())
        })
    }
}
