//! Runtime element types, the Rust types behind them, and type promotion.
//!
//! Promotion follows JAX's lattice (documented in `docs/ARCHITECTURE.md`):
//! `bool < unsigned/signed ints < floats`; two ints of different signedness
//! widen to a signed int that holds both; an int meeting a float takes the
//! float; `f16` meeting `bf16` gives `f32`. Rust scalars are *weak*: they take
//! the tensor's dtype unless they are of a higher kind (a float scalar with an
//! int tensor gives the default float, `f32`).

use half::{bf16, f16};
use std::fmt;

/// The element type of a tensor, chosen at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    Bool,
    U8,
    U32,
    I8,
    I16,
    I32,
    I64,
    F16,
    BF16,
    F32,
    F64,
}

/// Every dtype, in a fixed order (handy for tests).
pub const ALL_DTYPES: [DType; 11] = [
    DType::Bool,
    DType::U8,
    DType::U32,
    DType::I8,
    DType::I16,
    DType::I32,
    DType::I64,
    DType::F16,
    DType::BF16,
    DType::F32,
    DType::F64,
];

/// The kind of a dtype: what promotion compares first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Bool,
    Int,
    Float,
}

impl DType {
    /// The default float dtype (`f32`).
    pub const DEFAULT_FLOAT: DType = DType::F32;
    /// The default integer dtype (`i64`, as in PyTorch and NumPy).
    pub const DEFAULT_INT: DType = DType::I64;

    /// Size of one element in bytes.
    pub fn size_in_bytes(self) -> usize {
        match self {
            DType::Bool | DType::U8 | DType::I8 => 1,
            DType::I16 | DType::F16 | DType::BF16 => 2,
            DType::U32 | DType::I32 | DType::F32 => 4,
            DType::I64 | DType::F64 => 8,
        }
    }

    /// Bool, integer or float.
    pub fn kind(self) -> Kind {
        match self {
            DType::Bool => Kind::Bool,
            DType::U8 | DType::U32 | DType::I8 | DType::I16 | DType::I32 | DType::I64 => Kind::Int,
            DType::F16 | DType::BF16 | DType::F32 | DType::F64 => Kind::Float,
        }
    }

    /// True for f16, bf16, f32 and f64.
    pub fn is_float(self) -> bool {
        self.kind() == Kind::Float
    }

    /// True for the signed and unsigned integer dtypes (not bool).
    pub fn is_int(self) -> bool {
        self.kind() == Kind::Int
    }

    /// True for the unsigned integer dtypes.
    pub fn is_unsigned(self) -> bool {
        matches!(self, DType::U8 | DType::U32)
    }

    /// Short name as used in printing and in the IR (`f32`, `i64`, `bool`...).
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::U8 => "u8",
            DType::U32 => "u32",
            DType::I8 => "i8",
            DType::I16 => "i16",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::F32 => "f32",
            DType::F64 => "f64",
        }
    }

    /// Parses a name produced by [`DType::name`] (also accepts NumPy spellings
    /// such as `float32`).
    pub fn from_name(name: &str) -> Option<DType> {
        Some(match name {
            "bool" => DType::Bool,
            "u8" | "uint8" => DType::U8,
            "u32" | "uint32" => DType::U32,
            "i8" | "int8" => DType::I8,
            "i16" | "int16" => DType::I16,
            "i32" | "int32" => DType::I32,
            "i64" | "int64" => DType::I64,
            "f16" | "float16" => DType::F16,
            "bf16" | "bfloat16" => DType::BF16,
            "f32" | "float32" => DType::F32,
            "f64" | "float64" => DType::F64,
            _ => return None,
        })
    }

    /// The dtype that both `self` and `other` promote to.
    pub fn promote(self, other: DType) -> DType {
        use DType::*;
        if self == other {
            return self;
        }
        let (a, b) = if self <= other {
            (self, other)
        } else {
            (other, self)
        };
        match (a.kind(), b.kind()) {
            (Kind::Bool, _) => b,
            (Kind::Int, Kind::Float) => b,
            (Kind::Float, Kind::Float) => match (a, b) {
                (F16, BF16) => F32,
                _ => b,
            },
            (Kind::Int, Kind::Int) => {
                let (au, bu) = (a.is_unsigned(), b.is_unsigned());
                if au == bu {
                    // Same signedness: the wider one (the enum is ordered by width
                    // within each signedness).
                    b
                } else {
                    let (u, s) = if au { (a, b) } else { (b, a) };
                    let need = u.size_in_bytes() * 2; // a signed type holding u
                    let have = s.size_in_bytes();
                    match need.max(have) {
                        1 => I8,
                        2 => I16,
                        4 => I32,
                        _ => I64,
                    }
                }
            }
            (Kind::Float, _) | (Kind::Int, Kind::Bool) => unreachable!("ordered pair"),
        }
    }

    /// The dtype of `tensor op scalar` where the scalar is a weakly typed Rust
    /// value of kind `scalar`.
    pub fn promote_weak(self, scalar: Kind) -> DType {
        if scalar <= self.kind() {
            self
        } else {
            match scalar {
                Kind::Float => DType::DEFAULT_FLOAT,
                Kind::Int => DType::DEFAULT_INT,
                Kind::Bool => DType::Bool,
            }
        }
    }

    /// The float dtype a math function (exp, sin, mean...) computes in:
    /// floats stay, everything else becomes the default float.
    pub fn to_float(self) -> DType {
        if self.is_float() {
            self
        } else {
            DType::DEFAULT_FLOAT
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A Rust type that can be the element of a tensor.
///
/// Conversions go through `f64` (exact for every dtype except `i64`/`u32`
/// values beyond 2^53, which the reference evaluator never produces in tests).
pub trait Element: Copy + Send + Sync + PartialOrd + Default + fmt::Debug + 'static {
    /// The runtime dtype of this Rust type.
    const DTYPE: DType;
    /// Widens to `f64` (bool: 0 or 1).
    fn to_f64(self) -> f64;
    /// Narrows from `f64` with the semantics of a cast: floats round to
    /// nearest, ints truncate toward zero and saturate, bool is `v != 0`.
    fn from_f64(v: f64) -> Self;
    /// Zero.
    fn zero() -> Self {
        Self::default()
    }
    /// One.
    fn one() -> Self {
        Self::from_f64(1.0)
    }
}

macro_rules! impl_element_int {
    ($t:ty, $d:expr) => {
        impl Element for $t {
            const DTYPE: DType = $d;
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
        }
    };
}

impl_element_int!(u8, DType::U8);
impl_element_int!(u32, DType::U32);
impl_element_int!(i8, DType::I8);
impl_element_int!(i16, DType::I16);
impl_element_int!(i32, DType::I32);
impl_element_int!(i64, DType::I64);

impl Element for f32 {
    const DTYPE: DType = DType::F32;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
}

impl Element for f64 {
    const DTYPE: DType = DType::F64;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v
    }
}

impl Element for f16 {
    const DTYPE: DType = DType::F16;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self.to_f64()
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        f16::from_f64(v)
    }
}

impl Element for bf16 {
    const DTYPE: DType = DType::BF16;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self.to_f64()
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        bf16::from_f64(v)
    }
}

impl Element for bool {
    const DTYPE: DType = DType::Bool;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        if self {
            1.0
        } else {
            0.0
        }
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v != 0.0
    }
}

/// Float element types: the math kernels compute in `f32` for the half types
/// and natively for `f32`/`f64`.
pub trait FloatElement: Element {
    /// Widening to the compute type.
    fn to_f32(self) -> f32;
    /// Narrowing from the compute type (round to nearest even).
    fn from_f32(v: f32) -> Self;
}

impl FloatElement for f32 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        v
    }
}
impl FloatElement for f64 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self as f32
    }
    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        v as f64
    }
}
impl FloatElement for f16 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self.to_f32()
    }
    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        f16::from_f32(v)
    }
}
impl FloatElement for bf16 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self.to_f32()
    }
    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        bf16::from_f32(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DType::*;

    #[test]
    fn promotion_table() {
        let cases = [
            (F32, F32, F32),
            (Bool, I8, I8),
            (Bool, F16, F16),
            (U8, I8, I16),
            (U8, I16, I16),
            (U8, I32, I32),
            (U32, I32, I64),
            (U32, I8, I64),
            (U8, U32, U32),
            (I8, I64, I64),
            (I32, F16, F16),
            (I64, F32, F32),
            (F16, BF16, F32),
            (BF16, F32, F32),
            (F32, F64, F64),
        ];
        for (a, b, want) in cases {
            assert_eq!(a.promote(b), want, "{a} + {b}");
            assert_eq!(b.promote(a), want, "{b} + {a}");
        }
    }

    #[test]
    fn promotion_is_commutative_and_idempotent() {
        for a in ALL_DTYPES {
            assert_eq!(a.promote(a), a);
            for b in ALL_DTYPES {
                assert_eq!(a.promote(b), b.promote(a));
                // The result holds both operands' kinds.
                assert!(a.promote(b).kind() >= a.kind().max(b.kind()));
            }
        }
    }

    #[test]
    fn weak_scalars() {
        assert_eq!(F16.promote_weak(Kind::Float), F16);
        assert_eq!(I32.promote_weak(Kind::Float), F32);
        assert_eq!(I32.promote_weak(Kind::Int), I32);
        assert_eq!(Bool.promote_weak(Kind::Int), I64);
        assert_eq!(U8.promote_weak(Kind::Bool), U8);
    }

    #[test]
    fn names_round_trip() {
        for d in ALL_DTYPES {
            assert_eq!(DType::from_name(d.name()), Some(d));
        }
    }
}
