#!/usr/bin/env python3
"""Generates the NumPy reference fixtures that `crates/kiln/tests/numpy_fixtures.rs`
checks Kiln's public API against.

Run once (from the repository root) and commit the output:

    python3 scripts/gen_numpy_fixtures.py

It writes `crates/kiln/tests/fixtures/numpy_ops.json`; `cargo test` reads that
file and needs no Python. The output is deterministic: every random input comes
from `np.random.default_rng(0)`, and the NumPy version used is recorded in the
file.

File format
-----------
`{"generator", "numpy_version", "cases": [case, ...]}` where a case is

    {"name": unique id, "family": test family, "op": the Kiln op,
     "inputs": [tensor, ...], "args": {...}, "expected": tensor | [tensor, ...]}

and a tensor is `{"shape": [...], "dtype": "f32"|..., "data": [flat, row-major]}`
(floats that are NaN or infinite are the strings "nan", "inf", "-inf"; bools
are JSON booleans). An input may carry `"view"`, meaning the Rust side must
build it as a non-contiguous view whose values are the logical input:

* `"transpose"`: `data`/`shape` hold the input transposed (all axes reversed);
  Rust builds that tensor and calls `.t()`.
* `"stride2"`: the stored last axis is twice as long and the input is every
  other element of it (odd positions hold junk); Rust slices `..;2` on it.
* `"flip0"`: the stored data is the input reversed along axis 0; Rust calls
  `.flip(0)` (a negative-stride view).

Expected values are computed in float64 from the exact input values and
rounded once to the output dtype (so the reference is the correctly rounded
answer), except integer arithmetic, which is done in the integer dtype.

Type promotion
--------------
NumPy's promotion differs from Kiln's. Kiln follows JAX's lattice with the
rules written in `crates/kiln-core/src/dtype.rs` (`DType::promote`,
`promote_weak`, `to_float`): an int meeting a float takes the float (NumPy:
int32 + float16 -> float64, Kiln: float16); two ints of different signedness
widen to a signed int holding both; f16 + bf16 -> f32; float math on ints and
true division of ints compute in the default float f32 (NumPy: f64); bool -
bool, bool ** bool, bool % bool compute in the default int i64 (NumPy
refuses). So the expected dtype of every mixed-dtype case below is computed by
`promote()` here, a transcription of `dtype.rs`, NOT by NumPy; NumPy then
computes the values with both operands cast to that dtype.
"""

import json
import math
import os
import sys
import warnings

import numpy as np

RNG = np.random.default_rng(0)
OUT = os.path.join(
    os.path.dirname(os.path.abspath(__file__)),
    "..",
    "crates",
    "kiln",
    "tests",
    "fixtures",
    "numpy_ops.json",
)

# ---------------------------------------------------------------------------
# dtypes and Kiln's promotion rules (transcribed from crates/kiln-core/src/dtype.rs)

ORDER = ["bool", "u8", "u32", "i8", "i16", "i32", "i64", "f16", "bf16", "f32", "f64"]
SIZE = {"bool": 1, "u8": 1, "i8": 1, "i16": 2, "f16": 2, "bf16": 2, "u32": 4, "i32": 4,
        "f32": 4, "i64": 8, "f64": 8}
INTS = {"u8", "u32", "i8", "i16", "i32", "i64"}
FLOATS = {"f16", "bf16", "f32", "f64"}
NP = {"bool": np.bool_, "u8": np.uint8, "u32": np.uint32, "i8": np.int8, "i16": np.int16,
      "i32": np.int32, "i64": np.int64, "f16": np.float16, "f32": np.float32,
      "f64": np.float64}
DEFAULT_FLOAT = "f32"
DEFAULT_INT = "i64"


def kind(d):
    return 0 if d == "bool" else (1 if d in INTS else 2)


def promote(a, b):
    """`DType::promote`."""
    if a == b:
        return a
    if ORDER.index(a) > ORDER.index(b):
        a, b = b, a
    ka, kb = kind(a), kind(b)
    if ka == 0:
        return b
    if ka == 1 and kb == 2:
        return b
    if ka == 2 and kb == 2:
        return "f32" if (a, b) == ("f16", "bf16") else b
    au, bu = a.startswith("u"), b.startswith("u")
    if au == bu:
        return b
    u, s = (a, b) if au else (b, a)
    need = max(SIZE[u] * 2, SIZE[s])
    return {1: "i8", 2: "i16", 4: "i32"}.get(need, "i64")


def promote_weak(d, scalar_kind):
    """`DType::promote_weak` (scalar_kind: 0 bool, 1 int, 2 float)."""
    if scalar_kind <= kind(d):
        return d
    return {2: DEFAULT_FLOAT, 1: DEFAULT_INT, 0: "bool"}[scalar_kind]


def to_float(d):
    return d if d in FLOATS else DEFAULT_FLOAT


def dname(arr):
    return {np.dtype(v): k for k, v in NP.items()}[arr.dtype]


# ---------------------------------------------------------------------------
# encoding

def enc_data(arr, dtype):
    flat = np.asarray(arr).reshape(-1)
    if dtype == "bool":
        return [bool(v) for v in flat]
    if dtype in INTS:
        return [int(v) for v in flat]
    out = []
    for v in flat:
        f = float(v)
        if math.isnan(f):
            out.append("nan")
        elif math.isinf(f):
            out.append("inf" if f > 0 else "-inf")
        elif dtype == "f32":
            out.append(float(str(np.float32(f))))  # shortest repr that round-trips
        elif dtype == "f16":
            out.append(float(str(np.float16(f))))
        else:
            out.append(f)
    return out


def cast(arr, dtype):
    """Casts to a NumPy dtype (bf16 values are kept in f32: only small exact values are used)."""
    return np.asarray(arr).astype(np.float32 if dtype == "bf16" else NP[dtype])


def tensor(arr, dtype=None):
    arr = np.asarray(arr)
    dtype = dtype or dname(arr)
    return {"shape": list(arr.shape), "dtype": dtype, "data": enc_data(cast(arr, dtype), dtype)}


def inp(arr, dtype=None, view=None):
    """An input tensor; `view` makes the Rust side build it as a strided view."""
    arr = np.asarray(arr)
    dtype = dtype or dname(arr)
    arr = cast(arr, dtype)
    if view is None:
        return tensor(arr, dtype)
    if view == "transpose":
        assert arr.ndim >= 2
        t = tensor(np.ascontiguousarray(arr.T), dtype)
    elif view == "stride2":
        assert arr.ndim >= 1
        shape = arr.shape[:-1] + (arr.shape[-1] * 2,)
        store = cast(np.full(shape, 7), dtype)
        store[..., ::2] = arr
        t = tensor(store, dtype)
    elif view == "flip0":
        assert arr.ndim >= 1
        t = tensor(np.ascontiguousarray(np.flip(arr, 0)), dtype)
    else:
        raise ValueError(view)
    t["view"] = view
    return t


CASES = []
NAMES = set()


def add(family, name, op, inputs, args, expected):
    assert name not in NAMES, name
    NAMES.add(name)
    CASES.append({"name": name, "family": family, "op": op, "inputs": inputs,
                  "args": args, "expected": expected})


def sh(shape):
    return "x".join(map(str, shape)) if shape else "scalar"


# ---------------------------------------------------------------------------
# random inputs

def rand(shape, dtype, lo=None, hi=None):
    shape = tuple(shape)
    if dtype == "bool":
        return RNG.random(shape) < 0.5
    if dtype in INTS:
        lo = (0 if dtype.startswith("u") else -5) if lo is None else lo
        hi = 6 if hi is None else hi
        return RNG.integers(lo, hi, size=shape).astype(NP[dtype])
    if lo is not None:
        x = RNG.uniform(lo, hi, size=shape)
    else:
        x = RNG.standard_normal(shape) * 2.0
    return cast(x, dtype)


def f64(a):
    return np.asarray(a).astype(np.float64)


def out(arr_f64, dtype):
    """Rounds a float64 result once to `dtype` and encodes it."""
    with np.errstate(all="ignore"):
        return tensor(cast(arr_f64, dtype), dtype)


# ---------------------------------------------------------------------------
# elementwise

erf_v = np.vectorize(math.erf, otypes=[np.float64])


def sigmoid(x):
    with np.errstate(all="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


UNARY_FLOAT = {
    "exp": np.exp, "log": np.log, "log1p": np.log1p, "expm1": np.expm1, "sqrt": np.sqrt,
    "rsqrt": lambda x: 1.0 / np.sqrt(x), "sin": np.sin, "cos": np.cos, "tan": np.tan,
    "tanh": np.tanh, "sigmoid": sigmoid, "erf": erf_v,
}
POSITIVE = {"log", "sqrt", "rsqrt", "log1p"}


def unary_expected(op, x, d):
    """Kiln's result of a unary op on `x` of dtype `d`."""
    with np.errstate(all="ignore"):
        if op in UNARY_FLOAT:
            od = to_float(d)
            return out(UNARY_FLOAT[op](f64(x)), od)
        if op in ("neg", "abs", "sign"):
            od = DEFAULT_INT if d == "bool" else d
            fn = {"neg": np.negative, "abs": np.abs, "sign": np.sign}[op]
            if od in INTS:
                return tensor(fn(cast(x, od)), od)
            return out(fn(f64(x)), od)
        if op == "square":
            od = DEFAULT_INT if d == "bool" else d  # bool*bool is logical and
            if d == "bool":
                return tensor(x, "bool")
            if od in INTS:
                return tensor(cast(x, od) * cast(x, od), od)
            return out(f64(x) ** 2, od)
        if op in ("floor", "ceil", "round"):
            if d not in FLOATS:
                return tensor(x, d)
            fn = {"floor": np.floor, "ceil": np.ceil, "round": np.round}[op]
            return out(fn(f64(x)), d)
        if op in ("isnan", "isinf", "isfinite"):
            fn = {"isnan": np.isnan, "isinf": np.isinf, "isfinite": np.isfinite}[op]
            return tensor(fn(f64(x)), "bool")
        if op == "logical_not":
            return tensor(np.logical_not(x), "bool")
    raise ValueError(op)


BINARY = ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "remainder", "floor_divide"]
COMPARE = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
           "gt": np.greater, "ge": np.greater_equal}


def binary_expected(op, a, da, b, db):
    d = promote(da, db)
    with np.errstate(all="ignore"):
        if op in COMPARE:
            if d in FLOATS:
                return tensor(COMPARE[op](f64(cast(a, d)), f64(cast(b, d))), "bool")
            return tensor(COMPARE[op](cast(a, d), cast(b, d)), "bool")
        if op in ("logical_and", "logical_or"):
            fn = np.logical_and if op == "logical_and" else np.logical_or
            return tensor(fn(a != 0, b != 0), "bool")
        if d == "bool":
            if op in ("add", "maximum"):
                return tensor(np.logical_or(a, b), "bool")
            if op in ("mul", "minimum"):
                return tensor(np.logical_and(a, b), "bool")
            d = DEFAULT_INT
        if op == "div":
            d = to_float(d)
        fn = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
              "pow": np.power, "maximum": np.maximum, "minimum": np.minimum,
              "remainder": np.remainder, "floor_divide": np.floor_divide}[op]
        if d in INTS:
            return tensor(fn(cast(a, d), cast(b, d)), d)
        # Operands are first rounded to d (Kiln casts before computing).
        return out(fn(f64(cast(a, d)), f64(cast(b, d))), d)


def gen_elementwise():
    fam = "elementwise"
    shapes = [(), (5,), (2, 3), (2, 3, 4), (0, 3)]
    dtypes = ["f32", "f64", "f16", "i32", "i64", "u8", "bool"]
    # unary ops over every dtype and shape
    for op in list(UNARY_FLOAT) + ["neg", "abs", "sign", "square", "floor", "ceil", "round",
                                   "isnan", "isinf", "isfinite", "logical_not"]:
        for d in dtypes:
            if d == "bool" and op in ("neg", "abs", "sign", "floor", "ceil", "round") and False:
                continue
            for s in (shapes if d in ("f32",) else [(), (2, 3)]):
                if op in POSITIVE and d in FLOATS:
                    x = rand(s, d, 0.05, 4.0)
                elif op in POSITIVE and d in INTS:
                    x = rand(s, d, 0, 9)
                elif op == "tan" and d in FLOATS:
                    x = rand(s, d, -1.4, 1.4)
                elif op in ("floor", "ceil", "round") and d in FLOATS:
                    x = cast(np.round(f64(rand(s, d)) * 4) / 4, d)  # many exact halves
                else:
                    x = rand(s, d)
                add(fam, f"{op}_{d}_{sh(s)}", op, [inp(x, d)], {}, unary_expected(op, x, d))
    # non-contiguous unary inputs
    for view in ("transpose", "stride2", "flip0"):
        for op in ("exp", "neg", "abs", "sqrt", "sigmoid", "round"):
            x = rand((3, 4), "f32", 0.1, 3.0) if op == "sqrt" else rand((3, 4), "f32")
            add(fam, f"{op}_f32_3x4_{view}", op, [inp(x, "f32", view)], {},
                unary_expected(op, x, "f32"))
    # special values
    special = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 1e-7, 88.0,
                        -100.0])
    for d in ("f32", "f64", "f16"):
        x = cast(special, d)
        for op in list(UNARY_FLOAT) + ["neg", "abs", "sign", "square", "floor", "ceil",
                                       "round", "isnan", "isinf", "isfinite", "logical_not"]:
            add(fam, f"{op}_{d}_special", op, [inp(x, d)], {}, unary_expected(op, x, d))
    # round half to even
    halves = np.array([-3.5, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, 4.5, 0.49999997, -0.51, 2.675])
    for d in ("f32", "f64", "f16"):
        x = cast(halves, d)
        add(fam, f"round_{d}_halves", "round", [inp(x, d)], {}, unary_expected("round", x, d))

    # binary ops: same dtype over shapes incl. broadcasting
    pairs = [((2, 3), (2, 3)), ((2, 3), (3,)), ((2, 1), (1, 4)), ((), (2, 3)), ((3, 1, 2), (4, 1)),
             ((0, 3), (3,)), ((2, 0), (1, 1)), ((), ())]
    for op in BINARY + list(COMPARE) + ["logical_and", "logical_or"]:
        for d in dtypes:
            for sa, sb in (pairs if d in ("f32", "i32") else pairs[:3]):
                a, b = operands(op, sa, sb, d, d)
                add(fam, f"{op}_{d}_{sh(sa)}_{sh(sb)}", op, [inp(a, d), inp(b, d)], {},
                    binary_expected(op, a, d, b, d))
    # binary ops: mixed dtypes (Kiln promotion)
    mixed = [("i32", "f32"), ("u8", "i32"), ("bool", "f32"), ("bool", "i32"), ("i64", "f64"),
             ("f16", "f32"), ("i32", "f16"), ("u8", "f16"), ("u8", "bool"), ("i64", "f32"),
             ("u8", "i64"), ("f32", "f64")]
    for op in BINARY + list(COMPARE):
        for da, db in mixed:
            a, b = operands(op, (2, 3), (3,), da, db)
            add(fam, f"{op}_{da}_{db}_mixed", op, [inp(a, da), inp(b, db)], {},
                binary_expected(op, a, da, b, db))
    # binary ops on non-contiguous inputs
    for view in ("transpose", "stride2", "flip0"):
        for op in ("add", "mul", "sub", "div", "maximum", "lt"):
            a, b = operands(op, (3, 4), (3, 4), "f32", "f32")
            add(fam, f"{op}_f32_{view}", op, [inp(a, "f32", view), inp(b, "f32")], {},
                binary_expected(op, a, "f32", b, "f32"))
            ai, bi = operands(op, (3, 4), (4,), "i32", "i32")
            add(fam, f"{op}_i32_{view}", op, [inp(ai, "i32", view), inp(bi, "i32")], {},
                binary_expected(op, ai, "i32", bi, "i32"))
    # NaN / inf through binary ops
    sa = np.array([np.nan, 1.0, np.inf, -np.inf, 0.0, 2.0, np.nan, -0.0])
    sb = np.array([1.0, np.nan, np.inf, 1.0, 0.0, -np.inf, np.nan, 3.0])
    for d in ("f32", "f64"):
        for op in BINARY + list(COMPARE):
            a, b = cast(sa, d), cast(sb, d)
            add(fam, f"{op}_{d}_special", op, [inp(a, d), inp(b, d)], {},
                binary_expected(op, a, d, b, d))

    # clip
    for d, lo, hi in [("f32", -1.0, 1.0), ("f64", -0.5, None), ("f16", None, 0.25),
                      ("i32", -2.0, 3.0), ("i64", 0.0, None), ("u8", None, 4.0)]:
        for s in ((2, 3), (), (0,)):
            x = rand(s, d)
            with np.errstate(all="ignore"):
                e = np.clip(cast(x, d), lo, hi)
            add(fam, f"clip_{d}_{sh(s)}_{lo}_{hi}", "clip", [inp(x, d)], {"min": lo, "max": hi},
                tensor(e, d))
    x = cast(special, "f32")
    add(fam, "clip_f32_special", "clip", [inp(x, "f32")], {"min": -1.0, "max": 1.0},
        tensor(np.clip(x, np.float32(-1.0), np.float32(1.0)), "f32"))

    # where
    for (sc, sa, sb), (da, db) in [(((2, 3), (2, 3), (2, 3)), ("f32", "f32")),
                                   (((2, 3), (3,), ()), ("f32", "f32")),
                                   (((2, 1), (1, 3), (2, 3)), ("i32", "i64")),
                                   (((), (2, 2), (2, 2)), ("f64", "f64")),
                                   (((3,), (3,), (3,)), ("i32", "f16")),
                                   (((2, 3), (2, 3), (1,)), ("bool", "u8")),
                                   (((0, 2), (2,), (0, 2)), ("f32", "f32"))]:
        c = rand(sc, "bool")
        a, b = rand(sa, da), rand(sb, db)
        d = promote(da, db)
        e = np.where(c, cast(a, d), cast(b, d))
        add(fam, f"where_{sh(sc)}_{sh(sa)}_{sh(sb)}_{da}_{db}", "where",
            [inp(c, "bool"), inp(a, da), inp(b, db)], {}, tensor(e, d))
    c = rand((3, 4), "bool")
    a, b = rand((3, 4), "f32"), rand((3, 4), "f32")
    add(fam, "where_f32_transposed", "where",
        [inp(c, "bool", "transpose"), inp(a, "f32", "stride2"), inp(b, "f32", "flip0")], {},
        tensor(np.where(c, a, b), "f32"))
    # non-bool condition (Kiln casts to bool: nonzero)
    c = rand((2, 3), "i32")
    a, b = rand((2, 3), "f32"), rand((2, 3), "f32")
    add(fam, "where_i32_cond", "where", [inp(c, "i32"), inp(a, "f32"), inp(b, "f32")], {},
        tensor(np.where(c != 0, a, b), "f32"))

    # weak scalars: tensor op rust-scalar (dtype by promote_weak)
    for d in ("f32", "f16", "i32", "u8", "bool", "f64"):
        for sk, sv in ((2, 2.5), (1, 3), (0, True)):
            x = rand((2, 3), d)
            od = promote_weak(d, sk)
            for op in ("add", "mul", "sub", "maximum"):
                bd = {2: "f64", 1: "i64", 0: "bool"}[sk]
                res_d = od
                if res_d == "bool":
                    if op == "sub":
                        res_d = DEFAULT_INT
                    e = binary_expected(op, cast(x, od), od, np.array(sv), "bool") \
                        if res_d == "bool" else None
                if res_d != "bool":
                    with np.errstate(all="ignore"):
                        fn = {"add": np.add, "mul": np.multiply, "sub": np.subtract,
                              "maximum": np.maximum}[op]
                        if res_d in INTS:
                            e = tensor(fn(cast(x, res_d), cast(np.array(sv), res_d)), res_d)
                        else:
                            e = out(fn(f64(cast(x, res_d)), f64(cast(np.array(sv), res_d))),
                                    res_d)
                add(fam, f"{op}_scalar_{d}_{bd}", f"{op}_scalar", [inp(x, d)],
                    {"scalar": sv if sk != 0 else bool(sv),
                     "kind": {2: "float", 1: "int", 0: "bool"}[sk]}, e)


def operands(op, sa, sb, da, db):
    """Random operands suited to `op` (no zero divisors, small int powers)."""
    a, b = rand(sa, da), rand(sb, db)
    if op in ("div", "remainder", "floor_divide"):
        if db in FLOATS:
            b = cast(np.where(np.abs(f64(b)) < 0.25, 1.5, f64(b)), db)
        elif db in INTS:
            b = cast(np.where(b == 0, 3, b), db)
        elif db == "bool":
            b = np.ones(sb, dtype=bool)
    if op == "pow":
        if da in FLOATS:
            a = cast(np.abs(f64(a)) + 0.25, da)
        if db in FLOATS:
            b = cast(np.clip(f64(b), -2.0, 2.0), db)
        elif db in INTS:
            b = cast(np.abs(f64(b)) % 4, db)
    if op in COMPARE or op in ("maximum", "minimum"):
        # make some elements equal
        if da == db and a.size and b.size and a.shape == b.shape:
            a = a.copy()
            a.reshape(-1)[::3] = b.reshape(-1)[::3]
    return a, b


# ---------------------------------------------------------------------------
# type promotion table (expected dtype from dtype.rs, not NumPy)

def gen_promotion():
    fam = "promotion"
    for da in ORDER:
        for db in ORDER:
            a = np.array([0, 1, 1, 0]) if da == "bool" else np.array([0, 1, 2, 3])
            b = np.array([0, 0, 1, 1]) if db == "bool" else np.array([1, 2, 0, 3])
            d = promote(da, db)
            if d == "bool":
                e = np.logical_or(a, b)
            else:
                e = a + b
            add(fam, f"promote_{da}_{db}", "add", [inp(a, da), inp(b, db)], {}, tensor(e, d))
    # true division and math functions on ints compute in the default float
    for da in ("bool", "u8", "i32", "i64"):
        a = np.array([0, 1, 1, 0]) if da == "bool" else np.array([1, 2, 3, 4])
        b = np.array([1, 1, 1, 1]) if da == "bool" else np.array([2, 2, 4, 4])
        add(fam, f"promote_div_{da}", "div", [inp(a, da), inp(b, da)], {},
            out(f64(a) / f64(b), DEFAULT_FLOAT))
        add(fam, f"promote_exp_{da}", "exp", [inp(a, da)], {}, out(np.exp(f64(a)), DEFAULT_FLOAT))


# ---------------------------------------------------------------------------
# reductions

def red_axes(ax, ndim):
    if ax is None:
        return tuple(range(ndim))
    if isinstance(ax, int):
        return (ax,)
    return tuple(ax)


def reduce_out_dtype(op, d):
    if op in ("sum", "prod", "cumsum", "cumprod"):
        return DEFAULT_INT if d == "bool" else d
    if op in ("mean", "var", "std", "logsumexp"):
        return to_float(d)
    if op in ("max", "min"):
        return d
    if op in ("all", "any"):
        return "bool"
    if op in ("argmax", "argmin"):
        return "i64"
    raise ValueError(op)


def reduce_expected(op, x, d, args):
    od = reduce_out_dtype(op, d)
    keep = args.get("keepdims", False)
    with np.errstate(all="ignore"):
        if op in ("argmax", "argmin"):
            fn = np.argmax if op == "argmax" else np.argmin
            r = fn(f64(x), axis=args["axis"], keepdims=keep)
            return tensor(r, "i64")
        if op in ("cumsum", "cumprod"):
            fn = np.cumsum if op == "cumsum" else np.cumprod
            if od in INTS:
                return tensor(fn(cast(x, od), axis=args["axis"]), od)
            return out(fn(f64(x), axis=args["axis"]), od)
        ax = red_axes(args.get("axes"), x.ndim)
        if op == "all":
            return tensor(np.all(x != 0, axis=ax, keepdims=keep), "bool")
        if op == "any":
            return tensor(np.any(x != 0, axis=ax, keepdims=keep), "bool")
        if od in INTS or od == "bool":
            fn = {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min}[op]
            return tensor(fn(cast(x, od), axis=ax, keepdims=keep).astype(NP[od]), od)
        xf = f64(x)
        if op == "sum":
            r = np.sum(xf, axis=ax, keepdims=keep)
        elif op == "prod":
            r = np.prod(xf, axis=ax, keepdims=keep)
        elif op == "mean":
            r = np.mean(xf, axis=ax, keepdims=keep)
        elif op == "max":
            r = np.max(xf, axis=ax, keepdims=keep)
        elif op == "min":
            r = np.min(xf, axis=ax, keepdims=keep)
        elif op == "var":
            r = np.var(xf, axis=ax, ddof=args["ddof"], keepdims=keep)
        elif op == "std":
            r = np.std(xf, axis=ax, ddof=args["ddof"], keepdims=keep)
        elif op == "logsumexp":
            m = np.max(xf, axis=ax, keepdims=True)
            m = np.where(np.isfinite(m), m, 0.0)
            r = np.log(np.sum(np.exp(xf - m), axis=ax, keepdims=True)) + m
            if not keep:
                r = np.squeeze(r, axis=ax)
        else:
            raise ValueError(op)
        return out(r, od)


def gen_reduce():
    fam = "reduce"
    axes_sets = {
        (2, 3, 4): [None, 0, 1, 2, -1, -2, [0, 2], [-1, 0], [0, 1, 2]],
        (5,): [None, 0, -1],
        (): [None],
        (3, 0): [None, 0, 1],
        (1, 3): [None, 0, 1],
    }
    for op in ("sum", "mean", "prod", "max", "min", "var", "std", "logsumexp", "all", "any"):
        for d in ("f32", "f64", "f16", "i32", "i64", "u8", "bool"):
            if op in ("var", "std", "logsumexp", "mean") and d in ("bool", "u8"):
                continue
            if op in ("var", "std", "logsumexp") and d in ("i64",):
                continue
            full = d == "f32"
            for shape, axes in axes_sets.items():
                if not full and shape not in ((2, 3, 4), ()):
                    continue
                for ax in (axes if full else axes[:4]):
                    n_red = int(np.prod([shape[a] for a in red_axes(ax, len(shape))]))
                    if n_red == 0 and op in ("max", "min", "logsumexp", "var", "std", "mean"):
                        continue  # NumPy errors / NaN conventions differ: not compared
                    for keep in ((False, True) if full or ax is None else (False,)):
                        ddofs = (0, 1) if op in ("var", "std") else (None,)
                        for ddof in ddofs:
                            if ddof == 1 and n_red <= 1:
                                continue
                            if op == "prod" and d in FLOATS:
                                x = rand(shape, d, 0.5, 1.5)
                            elif op == "prod" and d in INTS:
                                x = rand(shape, d, 1, 3) if d != "u8" else rand(shape, d, 1, 3)
                            else:
                                x = rand(shape, d)
                            args = {"axes": ax, "keepdims": keep}
                            if ddof is not None:
                                args["ddof"] = ddof
                            name = f"{op}_{d}_{sh(shape)}_ax{ax}_k{int(keep)}"
                            if ddof is not None:
                                name += f"_ddof{ddof}"
                            name = name.replace(" ", "").replace("[", "").replace("]", "") \
                                .replace(",", ".")
                            add(fam, name, op, [inp(x, d)], args, reduce_expected(op, x, d, args))
    # non-contiguous inputs
    for view in ("transpose", "stride2", "flip0"):
        for op, args in (("sum", {"axes": 0, "keepdims": False}),
                         ("max", {"axes": [0, 1], "keepdims": True}),
                         ("mean", {"axes": -1, "keepdims": False}),
                         ("var", {"axes": 1, "keepdims": False, "ddof": 1}),
                         ("logsumexp", {"axes": 0, "keepdims": True}),
                         ("argmax", {"axis": 1, "keepdims": False}),
                         ("cumsum", {"axis": 0})):
            x = rand((3, 4), "f32")
            add(fam, f"{op}_f32_{view}", op, [inp(x, "f32", view)], args,
                reduce_expected(op, x, "f32", args))
    # NaN propagation
    xs = np.array([[1.0, np.nan, 3.0], [4.0, 5.0, -np.inf]])
    for op in ("sum", "max", "min", "mean"):
        args = {"axes": 1, "keepdims": False}
        add(fam, f"{op}_f32_nan", op, [inp(xs, "f32")], args, reduce_expected(op, xs, "f32", args))
    for op in ("argmax", "argmin"):
        args = {"axis": 1, "keepdims": False}
        add(fam, f"{op}_f32_nan", op, [inp(xs, "f32")], args, reduce_expected(op, xs, "f32", args))
    # argmax / argmin (first occurrence of ties)
    for op in ("argmax", "argmin"):
        for d in ("f32", "f64", "f16", "i32", "i64", "u8", "bool"):
            for shape, axes in (((2, 3, 4), [0, 1, 2, -1]), ((5,), [0, -1]), ((1, 3), [0, 1])):
                for ax in (axes if d in ("f32", "i32") else axes[:1]):
                    for keep in (False, True):
                        x = rand(shape, d, 0, 3) if d in INTS else rand(shape, d)
                        args = {"axis": ax, "keepdims": keep}
                        add(fam, f"{op}_{d}_{sh(shape)}_ax{ax}_k{int(keep)}", op, [inp(x, d)],
                            args, reduce_expected(op, x, d, args))
    # scans
    for op in ("cumsum", "cumprod"):
        for d in ("f32", "f64", "f16", "i32", "i64", "u8", "bool"):
            for shape, axes in (((2, 3, 4), [0, 1, 2, -1]), ((5,), [0]), ((3, 0), [0, 1])):
                if d == "bool" and op == "cumprod":
                    continue
                for ax in (axes if d in ("f32", "i32") else axes[:1]):
                    if op == "cumprod":
                        x = rand(shape, d, 0.5, 1.5) if d in FLOATS else rand(shape, d, 1, 3)
                    else:
                        x = rand(shape, d)
                    args = {"axis": ax}
                    add(fam, f"{op}_{d}_{sh(shape)}_ax{ax}", op, [inp(x, d)], args,
                        reduce_expected(op, x, d, args))


# ---------------------------------------------------------------------------
# shape ops

def gen_shape():
    fam = "shape"
    x = rand((2, 3, 4), "f32")
    for shape in ([6, 4], [-1], [4, -1], [2, -1, 2], [24], [1, 2, 1, 12, 1], [3, 2, 4]):
        add(fam, f"reshape_{'_'.join(map(str, shape))}", "reshape", [inp(x, "f32")],
            {"shape": shape}, tensor(x.reshape(shape)))
    for d in ("i32", "u8", "bool", "f16", "f64", "i64"):
        y = rand((2, 6), d)
        add(fam, f"reshape_{d}", "reshape", [inp(y, d)], {"shape": [3, -1]},
            tensor(y.reshape(3, -1), d))
    y = rand((3, 4), "f32")
    add(fam, "reshape_transposed", "reshape", [inp(y, "f32", "transpose")], {"shape": [-1]},
        tensor(y.reshape(-1)))
    add(fam, "reshape_stride2", "reshape", [inp(y, "f32", "stride2")], {"shape": [6, 2]},
        tensor(y.reshape(6, 2)))
    add(fam, "reshape_scalar", "reshape", [inp(np.float32(3.5), "f32")], {"shape": [1, 1]},
        tensor(np.float32(3.5).reshape(1, 1)))
    z = rand((0, 3), "f32")
    add(fam, "reshape_empty", "reshape", [inp(z, "f32")], {"shape": [3, 0]},
        tensor(z.reshape(3, 0)))
    for perm in ([0, 1, 2], [2, 0, 1], [1, 0, 2], [-1, 0, 1], [2, 1, 0]):
        add(fam, f"permute_{'_'.join(map(str, perm))}", "permute", [inp(x, "f32")],
            {"perm": perm}, tensor(np.transpose(x, perm)))
    add(fam, "permute_transposed", "permute", [inp(x, "f32", "transpose")], {"perm": [1, 2, 0]},
        tensor(np.transpose(x, [1, 2, 0])))
    add(fam, "permute_i64_empty", "permute", [inp(rand((2, 0, 3), "i64"), "i64")],
        {"perm": [2, 0, 1]}, tensor(np.zeros((3, 2, 0), np.int64)))
    for s in ((), (4,), (2, 3), (2, 3, 4)):
        y = rand(s, "f32")
        add(fam, f"t_{sh(s)}", "t", [inp(y, "f32")], {}, tensor(y.T))
    for a, b in ((0, 1), (0, 2), (-1, 0), (1, 1)):
        add(fam, f"swapaxes_{a}_{b}", "swapaxes", [inp(x, "f32")], {"a": a, "b": b},
            tensor(np.swapaxes(x, a, b)))
    for s, dd in ((0, 2), (2, 0), (-1, 1), (1, -1)):
        add(fam, f"moveaxis_{s}_{dd}", "moveaxis", [inp(x, "f32")], {"src": s, "dst": dd},
            tensor(np.moveaxis(x, s, dd)))
    y = rand((1, 3, 1, 2), "f32")
    for axes in (None, [0], [2], [0, 2], [-2]):
        add(fam, f"squeeze_{axes}".replace(" ", ""), "squeeze", [inp(y, "f32")], {"axes": axes},
            tensor(np.squeeze(y, axis=None if axes is None else tuple(axes))))
    add(fam, "squeeze_scalar", "squeeze", [inp(np.float32(2.0), "f32")], {"axes": None},
        tensor(np.float32(2.0)))
    for s in ((), (3,), (2, 3)):
        for ax in range(-len(s) - 1, len(s) + 1):
            y = rand(s, "i32")
            add(fam, f"expand_dims_{sh(s)}_{ax}", "expand_dims", [inp(y, "i32")], {"axis": ax},
                tensor(np.expand_dims(y, ax), "i32"))
    for s, t in (((), (2, 3)), ((3,), (2, 3)), ((2, 1), (2, 4)), ((1, 3), (2, 2, 3)),
                 ((1,), (0,)), ((2, 1), (2, 0))):
        y = rand(s, "f32")
        add(fam, f"broadcast_to_{sh(s)}_{sh(t)}", "broadcast_to", [inp(y, "f32")],
            {"shape": list(t)}, tensor(np.broadcast_to(y, t)))
    y = rand((1, 3), "f32")
    add(fam, "broadcast_to_transposed", "broadcast_to", [inp(y, "f32", "transpose")],
        {"shape": [2, 1, 3]}, tensor(np.broadcast_to(y, (2, 1, 3))))
    y = rand((2, 3, 4, 5), "f32")
    for s, e in ((0, -1), (1, 2), (0, 0), (2, 3), (-2, -1)):
        ee = e % 4 + 1
        ss = s % 4
        shp = y.shape[:ss] + (int(np.prod(y.shape[ss:ee])),) + y.shape[ee:]
        add(fam, f"flatten_{s}_{e}", "flatten", [inp(y, "f32")], {"start": s, "end": e},
            tensor(y.reshape(shp)))
    add(fam, "flatten_transposed", "flatten", [inp(x, "f32", "transpose")],
        {"start": 0, "end": -1}, tensor(x.reshape(-1)))
    add(fam, "flatten_scalar", "flatten", [inp(np.float32(1.5), "f32")], {"start": 0, "end": -1},
        tensor(np.array([1.5], np.float32)))
    # concat / stack
    for axis in (0, 1, -1):
        parts = []
        for k in (1, 2, 3):
            s = [2, 3]
            s[axis] = k
            parts.append(rand(s, "f32"))
        add(fam, f"concat_f32_ax{axis}", "concat", [inp(p, "f32") for p in parts], {"axis": axis},
            tensor(np.concatenate(parts, axis=axis)))
    a, b = rand((2, 3), "i32"), rand((1, 3), "f32")
    add(fam, "concat_promote_i32_f32", "concat", [inp(a, "i32"), inp(b, "f32")], {"axis": 0},
        tensor(np.concatenate([a.astype(np.float32), b]), "f32"))
    a, b = rand((2, 0), "f32"), rand((2, 3), "f32")
    add(fam, "concat_empty", "concat", [inp(a, "f32"), inp(b, "f32")], {"axis": 1},
        tensor(np.concatenate([a, b], axis=1)))
    a, b = rand((3, 2), "f32"), rand((2, 2), "f32")
    add(fam, "concat_views", "concat", [inp(a, "f32", "transpose"), inp(b, "f32", "flip0")],
        {"axis": 0}, tensor(np.concatenate([a, b], axis=0)))
    a = rand((3,), "f32")
    add(fam, "concat_single", "concat", [inp(a, "f32")], {"axis": 0}, tensor(a))
    for axis in (0, 1, 2, -1):
        parts = [rand((2, 3), "f64") for _ in range(3)]
        add(fam, f"stack_ax{axis}", "stack", [inp(p, "f64") for p in parts], {"axis": axis},
            tensor(np.stack(parts, axis=axis)))
    parts = [np.float32(1.0), np.float32(2.0)]
    add(fam, "stack_scalars", "stack", [inp(p, "f32") for p in parts], {"axis": 0},
        tensor(np.stack(parts)))
    parts = [rand((2, 2), "u8"), rand((2, 2), "u8")]
    add(fam, "stack_u8_view", "stack", [inp(parts[0], "u8", "transpose"), inp(parts[1], "u8")],
        {"axis": 1}, tensor(np.stack(parts, axis=1), "u8"))
    # split / chunk
    y = rand((6, 4), "f32")
    for sizes, axis in (([2, 4], 0), ([1, 1, 4], 0), ([3, 1], 1), ([0, 6], 0), ([4], -1)):
        idx = np.cumsum(sizes)[:-1]
        parts = np.split(y, idx, axis=axis)
        add(fam, f"split_{'_'.join(map(str, sizes))}_ax{axis}", "split", [inp(y, "f32")],
            {"sizes": sizes, "axis": axis}, [tensor(p) for p in parts])
    for n, axis in ((3, 0), (4, 0), (2, 1), (3, 1)):
        size = -(-y.shape[axis] // n)
        idx = list(range(size, y.shape[axis], size))
        parts = np.split(y, idx, axis=axis)
        add(fam, f"chunk_{n}_ax{axis}", "chunk", [inp(y, "f32")], {"n": n, "axis": axis},
            [tensor(p) for p in parts])
    # slicing
    y = rand((5, 6, 4), "f32")

    def R(start=None, stop=None, step=1):
        return {"start": start, "stop": stop, "step": step}

    def py(a):
        if a == "newaxis":
            return None
        if "index" in a:
            return a["index"]
        return slice(a["start"], a["stop"], a["step"])

    slices = {
        "basic": [R(1, 3)],
        "step2": [R(None, None, 2), R(1, None, 2)],
        "neg_step": [R(None, None, -1)],
        "neg_step2": [R(4, 0, -2), R(None, None, -3)],
        "neg_start_stop": [R(-3, -1), R(-5, None)],
        "index": [{"index": 2}, R(1, 4)],
        "neg_index": [R(), {"index": -1}],
        "newaxis": ["newaxis", R(0, 2), "newaxis"],
        "empty": [R(3, 1)],
        "out_of_range": [R(-100, 100), R(2, 100, 3)],
        "neg_step_bounds": [R(100, -100, -2)],
        "all_index": [{"index": 0}, {"index": 1}, {"index": -1}],
        "mixed": [R(None, None, -1), {"index": 3}, R(None, None, 2)],
    }
    for name, args in slices.items():
        e = y[tuple(py(a) for a in args)]
        add(fam, f"slice_{name}", "slice", [inp(y, "f32")], {"args": args}, tensor(e))
    y2 = rand((4, 6), "i64")
    for name, args in (("t_basic", [R(1, 3), R(None, None, -2)]), ("t_index", [{"index": -2}])):
        e = y2[tuple(py(a) for a in args)]
        add(fam, f"slice_{name}", "slice", [inp(y2, "i64", "transpose")], {"args": args},
            tensor(e, "i64"))
        add(fam, f"slice_{name}_flip0", "slice", [inp(y2, "i64", "flip0")], {"args": args},
            tensor(e, "i64"))
    # narrow
    for axis, start, length in ((0, 1, 3), (1, 0, 0), (-1, 2, 2)):
        e = np.take(y, np.arange(start, start + length), axis=axis)
        add(fam, f"narrow_{axis}_{start}_{length}", "narrow", [inp(y, "f32")],
            {"axis": axis, "start": start, "len": length}, tensor(e))
    # flip
    for axes in (None, [0], [1], [-1], [0, 2]):
        e = np.flip(y, axis=None if axes is None else tuple(axes))
        add(fam, f"flip_{axes}".replace(" ", ""), "flip", [inp(y, "f32")], {"axes": axes},
            tensor(e))
    add(fam, "flip_transposed", "flip", [inp(y2, "i64", "transpose")], {"axes": [0]},
        tensor(np.flip(y2, 0), "i64"))
    # pad
    for widths, value, d in (([[1, 2], [0, 1]], 0.0, "f32"), ([[0, 0], [3, 0]], -1.5, "f32"),
                             ([[2, 2], [2, 2]], 7.0, "i32"), ([[1, 0], [0, 0]], 1.0, "bool"),
                             ([[0, 1], [1, 0]], 2.0, "f16")):
        z = rand((2, 3), d)
        e = np.pad(cast(z, d), widths, constant_values=cast(np.array(value), d))
        add(fam, f"pad_{d}_{value}", "pad", [inp(z, d)], {"widths": widths, "value": value},
            tensor(e, d))
    z = rand((0, 2), "f32")
    add(fam, "pad_empty", "pad", [inp(z, "f32")], {"widths": [[1, 1], [0, 0]], "value": 3.0},
        tensor(np.pad(z, [[1, 1], [0, 0]], constant_values=3.0)))
    z = rand((3, 2), "f32")
    add(fam, "pad_transposed", "pad", [inp(z, "f32", "transpose")],
        {"widths": [[1, 0], [0, 2]], "value": 0.5},
        tensor(np.pad(z, [[1, 0], [0, 2]], constant_values=0.5)))
    # tile / repeat
    z = rand((2, 3), "f32")
    for reps in ([2], [2, 1], [1, 3], [2, 1, 2], [0, 1]):
        add(fam, f"tile_{'_'.join(map(str, reps))}", "tile", [inp(z, "f32")], {"reps": reps},
            tensor(np.tile(z, reps)))
    add(fam, "tile_scalar", "tile", [inp(np.float32(1.25), "f32")], {"reps": [3]},
        tensor(np.tile(np.float32(1.25), [3])))
    for n, axis in ((2, 0), (3, 1), (1, -1), (0, 0)):
        add(fam, f"repeat_{n}_ax{axis}", "repeat", [inp(z, "f32")], {"repeats": n, "axis": axis},
            tensor(np.repeat(z, n, axis=axis)))
    add(fam, "repeat_transposed", "repeat", [inp(z, "f32", "transpose")],
        {"repeats": 2, "axis": 0}, tensor(np.repeat(z, 2, axis=0)))
    # tril / triu
    for s in ((4, 4), (3, 5), (2, 3, 4)):
        for k in (-1, 0, 1, 2):
            for d in ("f32", "i32"):
                z = rand(s, d)
                add(fam, f"tril_{d}_{sh(s)}_k{k}", "tril", [inp(z, d)], {"k": k},
                    tensor(np.tril(z, k), d))
                add(fam, f"triu_{d}_{sh(s)}_k{k}", "triu", [inp(z, d)], {"k": k},
                    tensor(np.triu(z, k), d))
    z = rand((4, 3), "bool")
    add(fam, "tril_bool", "tril", [inp(z, "bool")], {"k": 0}, tensor(np.tril(z), "bool"))
    z = rand((4, 3), "f32")
    add(fam, "triu_transposed", "triu", [inp(z, "f32", "transpose")], {"k": 0},
        tensor(np.triu(z)))


# ---------------------------------------------------------------------------
# creation

def gen_creation():
    fam = "creation"
    for start, stop, step, d in ((0, 5, 1, "i64"), (0, 5, 1, "f32"), (1, 2, 0.1, "f64"),
                                 (1, 2, 0.25, "f32"), (5, 0, -1, "i32"), (0, 0, 1, "f32"),
                                 (-3, 3, 2, "f16"), (0, 10, 3, "u8"), (0.5, 4, 1, "f64")):
        e = np.arange(start, stop, step, dtype=np.float64)
        add(fam, f"arange_{start}_{stop}_{step}_{d}", "arange", [],
            {"start": start, "stop": stop, "step": step, "dtype": d}, out(e, d)
            if d in FLOATS else tensor(cast(e, d), d))
    for start, stop, num, d in ((0, 1, 5, "f32"), (0, 1, 5, "f64"), (-1, 1, 1, "f32"),
                                (2, 3, 0, "f64"), (1, 0, 4, "f64"), (0, 10, 11, "i32")):
        e = np.linspace(start, stop, num)
        add(fam, f"linspace_{start}_{stop}_{num}_{d}", "linspace", [],
            {"start": start, "stop": stop, "num": num, "dtype": d},
            out(e, d) if d in FLOATS else tensor(cast(e, d), d))
    for n, m, k, d in ((3, 3, 0, "f32"), (2, 4, 1, "i64"), (4, 2, -1, "f64"), (3, 3, 5, "f32"),
                       (0, 2, 0, "f32"), (3, 3, 0, "bool")):
        add(fam, f"eye_{n}_{m}_{k}_{d}", "eye", [], {"n": n, "m": m, "k": k, "dtype": d},
            tensor(cast(np.eye(n, m, k), d), d))
    for op, v in (("zeros", 0.0), ("ones", 1.0), ("full", 2.5), ("full", -3.0)):
        for s, d in (((2, 3), "f32"), ((), "i32"), ((0, 2), "f64"), ((4,), "bool"), ((2,), "u8")):
            if op == "full" and d in ("u8", "bool") and v < 0:
                continue
            val = v
            e = cast(np.full(s, val), d)
            add(fam, f"{op}_{val}_{sh(s)}_{d}", op, [], {"shape": list(s), "value": val, "dtype": d},
                tensor(e, d))


# ---------------------------------------------------------------------------
# indexing

def stable_argsort(x, axis, descending):
    if descending:
        # stable descending: ties keep their order; NaNs first (Kiln's contract)
        xf = f64(x)
        key = np.where(np.isnan(xf), -np.inf, -xf)
        order = np.argsort(key, axis=axis, kind="stable")
        # -inf keys: NaNs must come before real -inf values (-(+inf)); handle exactly
        if np.isnan(xf).any():
            raise ValueError("NaN with descending sort not generated")
        return order
    return np.argsort(f64(x), axis=axis, kind="stable")


def gen_index():
    fam = "index"
    x = rand((4, 5), "f32")
    for d in ("f32", "i64", "bool", "f16"):
        xx = rand((4, 5), d)
        for axis in (None, 0, 1, -1):
            for ishape in ((3,), (2, 2), ()):
                n = xx.size if axis is None else xx.shape[axis]
                idx = RNG.integers(0, n, size=ishape)
                for idt in ("i64", "i32") if d == "f32" else ("i64",):
                    e = np.take(xx, idx, axis=axis)
                    add(fam, f"take_{d}_ax{axis}_{sh(ishape)}_{idt}", "take",
                        [inp(xx, d), inp(idx, idt)], {"axis": axis}, tensor(e, d))
    idx = RNG.integers(0, 4, size=(3,))
    add(fam, "take_transposed", "take", [inp(x, "f32", "transpose"), inp(idx, "i64")],
        {"axis": 0}, tensor(np.take(x, idx, axis=0)))
    idx = RNG.integers(0, 5, size=(0,))
    add(fam, "take_empty_idx", "take", [inp(x, "f32"), inp(idx, "i64")], {"axis": 1},
        tensor(np.take(x, idx, axis=1)))
    # index_select (np.take with an axis, 1-D index)
    for axis in (0, 1, -1):
        for d in ("f32", "i32", "f64"):
            xx = rand((4, 5), d)
            idx = RNG.integers(0, xx.shape[axis], size=(6,))
            add(fam, f"index_select_{d}_ax{axis}", "index_select", [inp(xx, d), inp(idx, "i64")],
                {"axis": axis}, tensor(np.take(xx, idx, axis=axis), d))
    xx = rand((2, 3, 4), "f32")
    idx = np.array([2, 0, 2], np.int64)
    add(fam, "index_select_3d_ax1", "index_select", [inp(xx, "f32", "flip0"), inp(idx, "i64")],
        {"axis": 1}, tensor(np.take(xx, idx, axis=1)))
    # take_along_axis
    for s, axis, ishape in (((4, 5), 0, (2, 5)), ((4, 5), 1, (4, 3)), ((4, 5), -1, (4, 1)),
                            ((2, 3, 4), 1, (2, 5, 4)), ((3,), 0, (6,)), ((4, 5), 1, (4, 0))):
        for d in ("f32", "i64"):
            xx = rand(s, d)
            idx = RNG.integers(0, s[axis], size=ishape)
            add(fam, f"take_along_axis_{d}_{sh(s)}_ax{axis}_{sh(ishape)}", "take_along_axis",
                [inp(xx, d), inp(idx, "i64")], {"axis": axis},
                tensor(np.take_along_axis(xx, idx, axis=axis), d))
    xx = rand((4, 5), "f32")
    idx = np.argsort(xx, axis=0)
    add(fam, "take_along_axis_views", "take_along_axis",
        [inp(xx, "f32", "transpose"), inp(idx, "i64", "flip0")], {"axis": 0},
        tensor(np.take_along_axis(xx, idx, axis=0)))
    # one_hot
    for ishape, n, d in (((5,), 4, "f32"), ((2, 3), 5, "i64"), ((), 3, "f32"), ((0,), 3, "f32"),
                         ((4,), 4, "bool"), ((3,), 2, "i32")):
        idx = RNG.integers(0, n, size=ishape)
        e = cast(np.eye(n)[idx], d)
        add(fam, f"one_hot_{sh(ishape)}_{n}_{d}", "one_hot", [inp(idx, "i64")],
            {"n": n, "dtype": d}, tensor(e, d))
    # sort / argsort
    for d in ("f32", "f64", "i32", "i64", "u8", "f16", "bool"):
        for s, axes in (((7,), (0,)), ((3, 6), (0, 1, -1)), ((2, 3, 4), (1,)), ((4, 0), (1,))):
            for axis in (axes if d in ("f32", "i32") else axes[:1]):
                for desc in (False, True):
                    xx = rand(s, d, 0, 4) if d in INTS else rand(s, d)
                    if d in FLOATS:
                        xx = cast(np.round(f64(xx)), d)  # ties
                    order = stable_argsort(xx, axis, desc)
                    vals = np.take_along_axis(xx, order, axis=axis)
                    nm = f"{d}_{sh(s)}_ax{axis}_{'desc' if desc else 'asc'}"
                    add(fam, f"argsort_{nm}", "argsort", [inp(xx, d)],
                        {"axis": axis, "descending": desc}, tensor(order, "i64"))
                    add(fam, f"sort_{nm}", "sort", [inp(xx, d)],
                        {"axis": axis, "descending": desc}, tensor(vals, d))
    xn = np.array([3.0, np.nan, -1.0, np.inf, np.nan, -np.inf, 0.0, 3.0])
    order = np.argsort(xn, kind="stable")
    add(fam, "argsort_f32_nan_asc", "argsort", [inp(xn, "f32")], {"axis": 0, "descending": False},
        tensor(order, "i64"))
    add(fam, "sort_f32_nan_asc", "sort", [inp(xn, "f32")], {"axis": 0, "descending": False},
        tensor(xn[order], "f32"))
    # NaN first in descending order, then the rest descending, ties stable
    nan_pos = [i for i in range(len(xn)) if math.isnan(xn[i])]
    rest = [i for i in range(len(xn)) if not math.isnan(xn[i])]
    rest = sorted(rest, key=lambda i: -xn[i])  # Python's sort is stable
    order = np.array(nan_pos + rest)
    add(fam, "argsort_f32_nan_desc", "argsort", [inp(xn, "f32")], {"axis": 0, "descending": True},
        tensor(order, "i64"))
    xx = rand((3, 5), "f32")
    add(fam, "argsort_transposed", "argsort", [inp(xx, "f32", "transpose")],
        {"axis": 1, "descending": False}, tensor(np.argsort(xx, axis=1, kind="stable"), "i64"))
    add(fam, "sort_scalar", "sort", [inp(np.float32(2.0), "f32")], {"axis": 0, "descending": False},
        tensor(np.float32(2.0)))
    # topk (distinct values, so the order is unambiguous)
    for s, axis, k in (((8,), 0, 3), ((3, 6), 1, 2), ((3, 6), 0, 3), ((3, 6), -1, 6),
                       ((2, 3, 4), 1, 1), ((5,), 0, 0)):
        for largest in (True, False):
            for d in ("f32", "i64"):
                n = int(np.prod(s))
                xx = cast((RNG.permutation(n) - n // 2).reshape(s), d)
                key = -f64(xx) if largest else f64(xx)
                order = np.argsort(key, axis=axis, kind="stable")
                order = np.take(order, np.arange(k), axis=axis)
                vals = np.take_along_axis(xx, order, axis=axis)
                add(fam, f"topk_{d}_{sh(s)}_ax{axis}_k{k}_{'max' if largest else 'min'}", "topk",
                    [inp(xx, d)], {"k": k, "axis": axis, "largest": largest},
                    [tensor(vals, d), tensor(order, "i64")])
    # scatter_add
    for bs, axis, ishape in (((4, 3), 0, (5, 3)), ((4, 3), 1, (4, 6)), ((3,), 0, (7,)),
                             ((2, 3, 2), 1, (2, 4, 2))):
        for d in ("f32", "i64"):
            base = rand(bs, d)
            idx = RNG.integers(0, bs[axis], size=ishape)
            src = rand(ishape, d)
            e = base.copy()
            it = np.ndindex(*ishape)
            for p in it:
                q = list(p)
                q[axis] = idx[p]
                e[tuple(q)] += src[p]
            add(fam, f"scatter_add_{d}_{sh(bs)}_ax{axis}", "scatter_add",
                [inp(base, d), inp(idx, "i64"), inp(src, d)], {"axis": axis}, tensor(e, d))


# ---------------------------------------------------------------------------
# linalg

def gen_linalg():
    fam = "linalg"
    shapes = [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)), ((1, 1), (1, 1)),
              ((2, 2, 3), (2, 3, 4)), ((2, 2, 3), (3, 4)), ((3,), (2, 3, 4)), ((2, 1, 2, 3), (3, 3, 2)),
              ((2, 0), (0, 3)), ((0, 3), (3, 2)), ((5, 7), (7, 6))]
    for sa, sb in shapes:
        for d in ("f32", "f64", "f16", "i32", "i64"):
            if d not in ("f32",) and len(sa) > 2:
                continue
            a, b = rand(sa, d), rand(sb, d)
            if d in INTS:
                e = tensor(np.matmul(a, b), d)
            else:
                e = out(np.matmul(f64(a), f64(b)), d)
            add(fam, f"matmul_{d}_{sh(sa)}_{sh(sb)}", "matmul", [inp(a, d), inp(b, d)], {}, e)
    a, b = rand((3, 4), "f32"), rand((4, 5), "f32")
    add(fam, "matmul_transposed", "matmul", [inp(a, "f32", "transpose"), inp(b, "f32", "transpose")],
        {}, out(np.matmul(f64(a), f64(b)), "f32"))
    a, b = rand((3, 4), "f32"), rand((4, 2), "f32")
    add(fam, "matmul_stride2_flip", "matmul", [inp(a, "f32", "stride2"), inp(b, "f32", "flip0")],
        {}, out(np.matmul(f64(a), f64(b)), "f32"))
    a, b = rand((2, 3), "i32"), rand((3, 2), "f32")
    add(fam, "matmul_promote_i32_f32", "matmul", [inp(a, "i32"), inp(b, "f32")], {},
        out(np.matmul(f64(a), f64(b)), "f32"))
    # dot (1-D inner product, 2-D matmul)
    for sa, sb, d in (((4,), (4,), "f32"), ((4,), (4,), "i64"), ((2, 3), (3, 2), "f64"),
                      ((0,), (0,), "f32")):
        a, b = rand(sa, d), rand(sb, d)
        e = tensor(np.dot(a, b), d) if d in INTS else out(np.dot(f64(a), f64(b)), d)
        add(fam, f"dot_{d}_{sh(sa)}_{sh(sb)}", "dot", [inp(a, d), inp(b, d)], {}, e)
    for sa, sb, d in (((3,), (4,), "f32"), ((2,), (3,), "i32"), ((0,), (2,), "f64")):
        a, b = rand(sa, d), rand(sb, d)
        e = tensor(np.outer(a, b), d) if d in INTS else out(np.outer(f64(a), f64(b)), d)
        add(fam, f"outer_{d}_{sh(sa)}_{sh(sb)}", "outer", [inp(a, d), inp(b, d)], {}, e)
    for spec, shapes_ in (("ij,jk->ik", [(2, 3), (3, 4)]), ("bij,bjk->bik", [(2, 2, 3), (2, 3, 4)]),
                          ("ij->ji", [(2, 3)]), ("i,i->", [(5,), (5,)]), ("i,j->ij", [(3,), (4,)]),
                          ("ij->i", [(3, 4)]), ("ij->j", [(3, 4)]),
                          ("ij,ij->ij", [(2, 3), (2, 3)]), ("bij,bkj->bik", [(2, 3, 4), (2, 5, 4)])):
        for d in ("f32", "f64"):
            ops = [rand(s, d) for s in shapes_]
            e = out(np.einsum(spec, *[f64(o) for o in ops]), d)
            add(fam, f"einsum_{spec}_{d}", "einsum", [inp(o, d) for o in ops], {"spec": spec}, e)
    a, b = rand((2, 3), "f32"), rand((3, 4), "f32")
    add(fam, "einsum_ij,jk->ik_transposed", "einsum", [inp(a, "f32", "transpose"), inp(b, "f32")],
        {"spec": "ij,jk->ik"}, out(np.einsum("ij,jk->ik", f64(a), f64(b)), "f32"))
    a, b = rand((2, 3), "f32"), rand((3, 4), "f32")
    add(fam, "einsum_ij,jk->ik_strided", "einsum", [inp(a, "f32", "stride2"), inp(b, "f32", "flip0")],
        {"spec": "ij,jk->ik"}, out(np.einsum("ij,jk->ik", f64(a), f64(b)), "f32"))


# ---------------------------------------------------------------------------
# nn

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def conv_nd(x, w, b, stride, padding, dilation, groups):
    """Naive cross-correlation (PyTorch conv semantics), x: [N, C, *S], w: [O, C/g, *K]."""
    nd = x.ndim - 2
    x = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding])
    n, c = x.shape[:2]
    o = w.shape[0]
    k = w.shape[2:]
    cg, og = c // groups, o // groups
    osz = [(x.shape[2 + i] - dilation[i] * (k[i] - 1) - 1) // stride[i] + 1 for i in range(nd)]
    y = np.zeros((n, o, *osz))
    for bi in range(n):
        for oc in range(o):
            g = oc // og
            for pos in np.ndindex(*osz):
                acc = 0.0
                for ic in range(cg):
                    for kp in np.ndindex(*k):
                        src = tuple(pos[i] * stride[i] + kp[i] * dilation[i] for i in range(nd))
                        acc += x[(bi, g * cg + ic) + src] * w[(oc, ic) + kp]
                y[(bi, oc) + pos] = acc + (b[oc] if b is not None else 0.0)
    return y


def pool2d(x, kernel, stride, padding, kind_):
    pad_val = -np.inf if kind_ == "max" else 0.0
    x = np.pad(x, [(0, 0), (0, 0), (padding[0], padding[0]), (padding[1], padding[1])],
               constant_values=pad_val)
    n, c, h, w = x.shape
    oh = (h - kernel[0]) // stride[0] + 1
    ow = (w - kernel[1]) // stride[1] + 1
    y = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            win = x[:, :, i * stride[0]:i * stride[0] + kernel[0],
                    j * stride[1]:j * stride[1] + kernel[1]]
            y[:, :, i, j] = win.max(axis=(2, 3)) if kind_ == "max" else win.mean(axis=(2, 3))
    return y


def gen_nn():
    fam = "nn"
    acts = {
        "relu": (lambda x, a: np.maximum(x, 0.0), [{}]),
        "gelu": (lambda x, a: 0.5 * x * (1.0 + erf_v(x / math.sqrt(2.0))) if not a["approximate"]
                 else 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3))),
                 [{"approximate": False}, {"approximate": True}]),
        "silu": (lambda x, a: x * sigmoid(x), [{}]),
        "leaky_relu": (lambda x, a: np.where(x >= 0, x, x * a["slope"]),
                       [{"slope": 0.01}, {"slope": 0.2}]),
        "elu": (lambda x, a: np.where(x > 0, x, a["alpha"] * np.expm1(np.minimum(x, 0.0))),
                [{"alpha": 1.0}, {"alpha": 0.5}]),
        "selu": (lambda x, a: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0.0))),
                 [{}]),
    }
    for op, (fn, arg_list) in acts.items():
        for args in arg_list:
            for d in ("f32", "f64", "f16"):
                for s in (((), (7,), (2, 3), (0, 2)) if d == "f32" else ((2, 3),)):
                    x = rand(s, d)
                    tag = "_".join(f"{k}{v}" for k, v in args.items())
                    add(fam, f"{op}_{tag}_{d}_{sh(s)}".replace("__", "_"), op, [inp(x, d)], args,
                        out(fn(f64(x), args), d))
            x = rand((3, 4), "f32")
            tag = "_".join(f"{k}{v}" for k, v in args.items())
            add(fam, f"{op}_{tag}_transposed".replace("__", "_"), op, [inp(x, "f32", "transpose")],
                args, out(fn(f64(x), args), "f32"))
    for op in ("softmax", "log_softmax"):
        for d in ("f32", "f64", "f16"):
            for s, axes in (((5,), (0, -1)), ((2, 3, 4), (0, 1, -1)), ((1, 1), (-1,))):
                for axis in (axes if d == "f32" else axes[-1:]):
                    x = rand(s, d)
                    xf = f64(x)
                    m = xf.max(axis=axis, keepdims=True)
                    lse = np.log(np.exp(xf - m).sum(axis=axis, keepdims=True)) + m
                    e = xf - lse if op == "log_softmax" else np.exp(xf - lse)
                    add(fam, f"{op}_{d}_{sh(s)}_ax{axis}", op, [inp(x, d)], {"axis": axis}, out(e, d))
        x = cast(np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1000.0, -1000.0]]), "f32")
        xf = f64(x)
        m = xf.max(axis=-1, keepdims=True)
        lse = np.log(np.exp(xf - m).sum(axis=-1, keepdims=True)) + m
        e = xf - lse if op == "log_softmax" else np.exp(xf - lse)
        add(fam, f"{op}_f32_large", op, [inp(x, "f32")], {"axis": -1}, out(e, "f32"))
        x = rand((4, 3), "f32")
        xf = f64(x)
        lse = np.log(np.exp(xf).sum(axis=0, keepdims=True))
        e = xf - lse if op == "log_softmax" else np.exp(xf - lse)
        add(fam, f"{op}_f32_transposed", op, [inp(x, "f32", "transpose")], {"axis": 0}, out(e, "f32"))
    # layer_norm / rms_norm over the last axis
    for d in ("f32", "f64", "f16"):
        for s in ((2, 5), (3,), (2, 3, 4)):
            for affine in (False, True):
                x = rand(s, d)
                w = rand((s[-1],), d) if affine else None
                b = rand((s[-1],), d) if affine else None
                xf = f64(x)
                eps = 1e-5
                mu = xf.mean(-1, keepdims=True)
                var = ((xf - mu) ** 2).mean(-1, keepdims=True)
                y = (xf - mu) / np.sqrt(var + eps)
                if affine:
                    y = y * f64(w) + f64(b)
                ins = [inp(x, d)] + ([inp(w, d), inp(b, d)] if affine else [])
                add(fam, f"layer_norm_{d}_{sh(s)}_{'affine' if affine else 'plain'}", "layer_norm",
                    ins, {"eps": eps}, out(y, d))
                ms = (xf ** 2).mean(-1, keepdims=True)
                y = xf / np.sqrt(ms + eps)
                if affine:
                    y = y * f64(w)
                ins = [inp(x, d)] + ([inp(w, d)] if affine else [])
                add(fam, f"rms_norm_{d}_{sh(s)}_{'affine' if affine else 'plain'}", "rms_norm",
                    ins, {"eps": eps}, out(y, d))
    # conv1d / conv2d
    conv1 = [dict(n=1, c=2, l=7, o=3, k=3, stride=1, padding=0, dilation=1, groups=1, bias=True),
             dict(n=2, c=4, l=9, o=4, k=3, stride=2, padding=1, dilation=1, groups=2, bias=False),
             dict(n=1, c=3, l=10, o=6, k=2, stride=1, padding=2, dilation=3, groups=3, bias=True),
             dict(n=2, c=1, l=5, o=2, k=5, stride=1, padding=0, dilation=1, groups=1, bias=True)]
    for i, p in enumerate(conv1):
        for d in ("f32", "f64") if i < 2 else ("f32",):
            x = rand((p["n"], p["c"], p["l"]), d)
            w = rand((p["o"], p["c"] // p["groups"], p["k"]), d)
            b = rand((p["o"],), d) if p["bias"] else None
            y = conv_nd(f64(x), f64(w), None if b is None else f64(b), [p["stride"]],
                        [p["padding"]], [p["dilation"]], p["groups"])
            ins = [inp(x, d), inp(w, d)] + ([inp(b, d)] if b is not None else [])
            add(fam, f"conv1d_{i}_{d}", "conv1d", ins,
                {k: p[k] for k in ("stride", "padding", "dilation", "groups")}, out(y, d))
    conv2 = [dict(n=1, c=2, hw=(5, 5), o=3, k=(3, 3), stride=(1, 1), padding=(0, 0),
                  dilation=(1, 1), groups=1, bias=True),
             dict(n=2, c=4, hw=(6, 5), o=2, k=(3, 2), stride=(2, 1), padding=(1, 0),
                  dilation=(1, 1), groups=2, bias=False),
             dict(n=1, c=3, hw=(7, 7), o=3, k=(2, 2), stride=(1, 2), padding=(1, 1),
                  dilation=(2, 2), groups=3, bias=True),
             dict(n=1, c=1, hw=(4, 4), o=2, k=(1, 1), stride=(1, 1), padding=(0, 0),
                  dilation=(1, 1), groups=1, bias=True)]
    for i, p in enumerate(conv2):
        for d in ("f32", "f64") if i < 2 else ("f32",):
            x = rand((p["n"], p["c"]) + p["hw"], d)
            w = rand((p["o"], p["c"] // p["groups"]) + p["k"], d)
            b = rand((p["o"],), d) if p["bias"] else None
            y = conv_nd(f64(x), f64(w), None if b is None else f64(b), p["stride"], p["padding"],
                        p["dilation"], p["groups"])
            ins = [inp(x, d), inp(w, d)] + ([inp(b, d)] if b is not None else [])
            add(fam, f"conv2d_{i}_{d}", "conv2d", ins,
                {k: list(p[k]) if isinstance(p[k], tuple) else p[k]
                 for k in ("stride", "padding", "dilation", "groups")}, out(y, d))
    # pooling
    for i, (s, kernel, stride, padding) in enumerate((((1, 1, 4, 4), (2, 2), (2, 2), (0, 0)),
                                                      ((2, 3, 5, 5), (3, 3), (1, 1), (0, 0)),
                                                      ((1, 2, 6, 5), (2, 3), (2, 1), (0, 0)),
                                                      ((1, 1, 5, 5), (3, 3), (2, 2), (1, 1)))):
        for op in ("max_pool2d", "avg_pool2d"):
            for d in ("f32", "f64") if i < 2 else ("f32",):
                x = rand(s, d)
                y = pool2d(f64(x), kernel, stride, padding, "max" if op == "max_pool2d" else "avg")
                add(fam, f"{op}_{i}_{d}", op, [inp(x, d)],
                    {"kernel": list(kernel), "stride": list(stride), "padding": list(padding)},
                    out(y, d))


def gen_edges():
    """Edge cases: integer wrap-around, degenerate reductions, negative indices, NaN in top-k."""
    # integers wrap as in NumPy
    for op, a, b, d in (("add", [200, 255, 3], [100, 1, 4], "u8"), ("sub", [0, 5], [1, 10], "u8"),
                        ("add", [2147483647, -2147483648], [1, -1], "i32"),
                        ("mul", [65536, 7], [65536, -3], "i32"), ("mul", [16, 15], [16, 17], "u8")):
        a, b = np.array(a, NP[d]), np.array(b, NP[d])
        add("elementwise", f"{op}_{d}_wraps", op, [inp(a, d), inp(b, d)], {},
            binary_expected(op, a, d, b, d))
    # var/std with n - ddof <= 0, mean of nothing, logsumexp of special rows
    x = np.array([1.0, 2.0, 4.0])
    for op in ("var", "std"):
        args = {"axes": 0, "keepdims": False, "ddof": 3}
        add("reduce", f"{op}_f64_ddof_eq_n", op, [inp(x, "f64")], args,
            reduce_expected(op, x, "f64", args))
    args = {"axes": 0, "keepdims": False}
    z = np.zeros((0, 3))
    add("reduce", "mean_f32_empty_axis", "mean", [inp(z, "f32")], args,
        out(np.full((3,), np.nan), "f32"))
    xs = np.array([[-np.inf, -np.inf], [np.inf, 1.0], [np.nan, 1.0], [0.0, -np.inf]])
    for d in ("f32", "f64"):
        args = {"axes": 1, "keepdims": False}
        add("reduce", f"logsumexp_{d}_special_rows", "logsumexp", [inp(xs, d)], args,
            reduce_expected("logsumexp", cast(xs, d), d, args))
    x = rand((8, 8), "f16", 0.0, 1.0)
    for op in ("sum", "mean"):
        args = {"axes": None, "keepdims": False}
        add("reduce", f"{op}_f16_64_elements", op, [inp(x, "f16")], args,
            reduce_expected(op, x, "f16", args))
    # negative indices count from the end (NumPy take / take_along_axis)
    x = rand((4, 5), "f32")
    for idt in ("i64", "i32"):
        idx = np.array([-1, 0, -4, 2])
        add("index", f"take_negative_ax0_{idt}", "take", [inp(x, "f32"), inp(idx, idt)],
            {"axis": 0}, tensor(np.take(x, idx, axis=0)))
        idx = np.array([[-1, -20], [3, -5]])
        add("index", f"take_negative_axNone_{idt}", "take", [inp(x, "f32"), inp(idx, idt)],
            {"axis": None}, tensor(np.take(x, idx)))
        idx = np.array([-5, 4, -1])
        add("index", f"index_select_negative_{idt}", "index_select", [inp(x, "f32"), inp(idx, idt)],
            {"axis": 1}, tensor(np.take(x, idx, axis=1)))
        idx = RNG.integers(-5, 5, size=(4, 3))
        add("index", f"take_along_axis_negative_{idt}", "take_along_axis",
            [inp(x, "f32"), inp(idx, idt)], {"axis": 1},
            tensor(np.take_along_axis(x, idx, axis=1)))
    idx = np.array([3, 0, 3], np.uint8)
    add("index", "take_u8_indices", "take", [inp(x, "f32"), inp(idx, "u8")], {"axis": 0},
        tensor(np.take(x, idx, axis=0)))
    # top-k: NaN counts as the largest value
    x = np.array([1.0, np.nan, 3.0, 2.0, -1.0])
    add("index", "topk_f32_nan_max", "topk", [inp(x, "f32")], {"k": 2, "axis": 0, "largest": True},
        [tensor(np.array([np.nan, 3.0]), "f32"), tensor(np.array([1, 2]), "i64")])
    add("index", "topk_f32_nan_min", "topk", [inp(x, "f32")], {"k": 2, "axis": 0, "largest": False},
        [tensor(np.array([-1.0, 1.0]), "f32"), tensor(np.array([4, 0]), "i64")])
    # nn odds and ends
    x = np.array([[0.0, -np.inf, 1.0], [2.0, 2.0, -np.inf]])
    for op in ("softmax", "log_softmax"):
        with np.errstate(all="ignore"):
            m = x.max(-1, keepdims=True)
            lse = np.log(np.exp(x - m).sum(-1, keepdims=True)) + m
            e = x - lse if op == "log_softmax" else np.exp(x - lse)
        add("nn", f"{op}_f32_neg_inf", op, [inp(x, "f32")], {"axis": -1}, out(e, "f32"))
        xi = rand((2, 3), "i32")
        xf = f64(xi)
        lse = np.log(np.exp(xf - xf.max(-1, keepdims=True)).sum(-1, keepdims=True)) + xf.max(
            -1, keepdims=True)
        e = xf - lse if op == "log_softmax" else np.exp(xf - lse)
        add("nn", f"{op}_i32_to_f32", op, [inp(xi, "i32")], {"axis": -1}, out(e, "f32"))
    x = rand((4, 3), "f32")
    xf = f64(x)
    mu = xf.mean(-1, keepdims=True)
    y = (xf - mu) / np.sqrt(((xf - mu) ** 2).mean(-1, keepdims=True) + 1e-5)
    add("nn", "layer_norm_f32_transposed", "layer_norm", [inp(x, "f32", "transpose")],
        {"eps": 1e-5}, out(y, "f32"))
    y = xf / np.sqrt((xf ** 2).mean(-1, keepdims=True) + 1e-6)
    add("nn", "rms_norm_f32_stride2", "rms_norm", [inp(x, "f32", "stride2")], {"eps": 1e-6},
        out(y, "f32"))


def main():
    # NumPy warns on the degenerate cases on purpose (ddof >= n, log of 0 ...).
    warnings.simplefilter("ignore", RuntimeWarning)
    gen_elementwise()
    gen_promotion()
    gen_reduce()
    gen_shape()
    gen_creation()
    gen_index()
    gen_linalg()
    gen_nn()
    gen_edges()
    doc = {
        "generator": "scripts/gen_numpy_fixtures.py",
        "numpy_version": np.__version__,
        "python_version": sys.version.split()[0],
        "cases": CASES,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(doc, f, separators=(",", ":"), allow_nan=False)
        f.write("\n")
    fams = {}
    for c in CASES:
        fams[c["family"]] = fams.get(c["family"], 0) + 1
    size = os.path.getsize(OUT)
    print(f"wrote {len(CASES)} cases ({size / 1e6:.2f} MB) to {os.path.relpath(OUT)}: {fams}")


if __name__ == "__main__":
    main()
