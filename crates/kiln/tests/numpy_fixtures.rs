//! Kiln's public API checked against NumPy.
//!
//! `scripts/gen_numpy_fixtures.py` computed every case once with NumPy and
//! wrote `tests/fixtures/numpy_ops.json` (committed; regenerate with
//! `python3 scripts/gen_numpy_fixtures.py` from the repository root). This
//! test needs no Python: it rebuilds each case's inputs with Kiln (including
//! non-contiguous views: transposed, strided, flipped), runs the op through
//! the public API and compares shape, dtype and values.
//!
//! There is one test per op family. Each runs every case of its family,
//! collects the failures (a wrong value, shape or dtype, or a panic), and
//! panics listing all of them, so one bug does not hide the others.

use kiln::ops::shape::SliceArg;
use kiln::ops::{creation, elementwise, linalg, nn, shape, Axes};
use kiln::{DType, Tensor};
use serde_json::Value;
use std::cell::RefCell;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Once, OnceLock};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/numpy_ops.json");

struct Case {
    name: String,
    family: String,
    op: String,
    inputs: Vec<Value>,
    args: Value,
    expected: Value,
}

fn cases() -> &'static [Case] {
    static CASES: OnceLock<Vec<Case>> = OnceLock::new();
    CASES.get_or_init(|| {
        let text = std::fs::read_to_string(FIXTURES)
            .unwrap_or_else(|e| panic!("cannot read {FIXTURES}: {e}"));
        let doc: Value = serde_json::from_str(&text).expect("fixtures are not valid JSON");
        doc["cases"]
            .as_array()
            .expect("fixtures have no `cases` array")
            .iter()
            .map(|c| Case {
                name: c["name"].as_str().unwrap().to_string(),
                family: c["family"].as_str().unwrap().to_string(),
                op: c["op"].as_str().unwrap().to_string(),
                inputs: c["inputs"].as_array().unwrap().clone(),
                args: c["args"].clone(),
                expected: c["expected"].clone(),
            })
            .collect()
    })
}

// ---------------------------------------------------------------------------
// decoding

fn num(v: &Value) -> f64 {
    match v {
        Value::Bool(b) => *b as u8 as f64,
        Value::Number(n) => n.as_f64().unwrap(),
        Value::String(s) => match s.as_str() {
            "nan" => f64::NAN,
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            _ => panic!("bad number {s:?}"),
        },
        _ => panic!("bad number {v}"),
    }
}

fn dims(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect()
}

fn dtype(v: &Value) -> DType {
    let s = v.as_str().unwrap();
    DType::from_name(s).unwrap_or_else(|| panic!("unknown dtype {s}"))
}

/// An input tensor, rebuilt as the view the fixture asks for.
fn tensor(v: &Value) -> Tensor {
    let shape = dims(&v["shape"]);
    let data: Vec<f64> = v["data"].as_array().unwrap().iter().map(num).collect();
    let t = creation::from_f64(&data, &shape, dtype(&v["dtype"])).unwrap();
    match v.get("view").and_then(Value::as_str) {
        None => t,
        Some("transpose") => t.t(),
        Some("flip0") => t.flip(0i64),
        Some("stride2") => {
            let mut args: Vec<SliceArg> = vec![(..).into(); t.ndim()];
            *args.last_mut().unwrap() = SliceArg::from(..).step(2);
            t.slice(&args)
        }
        Some(other) => panic!("unknown view {other}"),
    }
}

fn arg<'a>(c: &'a Case, key: &str) -> &'a Value {
    c.args
        .get(key)
        .unwrap_or_else(|| panic!("case {} has no arg {key}", c.name))
}
fn i64_arg(c: &Case, key: &str) -> i64 {
    arg(c, key).as_i64().unwrap()
}
fn usize_arg(c: &Case, key: &str) -> usize {
    arg(c, key).as_u64().unwrap() as usize
}
fn f64_arg(c: &Case, key: &str) -> f64 {
    num(arg(c, key))
}
fn bool_arg(c: &Case, key: &str) -> bool {
    arg(c, key).as_bool().unwrap()
}
fn opt_f64_arg(c: &Case, key: &str) -> Option<f64> {
    let v = arg(c, key);
    if v.is_null() {
        None
    } else {
        Some(num(v))
    }
}
fn i64s(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}
fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}
fn pair(v: &Value) -> (usize, usize) {
    let p = usizes(v);
    (p[0], p[1])
}
/// `null` = all axes, an int, or a list of ints.
fn axes_arg(c: &Case, key: &str) -> Axes {
    let v = arg(c, key);
    if v.is_null() {
        Axes::All
    } else if let Some(a) = v.as_i64() {
        Axes::These(vec![a])
    } else {
        Axes::These(i64s(v))
    }
}

// ---------------------------------------------------------------------------
// comparing

/// `(rtol, atol)` for a dtype; ints and bools compare exactly.
fn tolerance(d: DType) -> (f64, f64) {
    match d {
        DType::F64 => (1e-12, 1e-12),
        DType::F32 => (1e-5, 1e-6),
        DType::F16 => (2e-3, 1e-3),
        DType::BF16 => (1e-2, 1e-2),
        _ => (0.0, 0.0),
    }
}

fn compare(got: &Tensor, want: &Value) -> Result<(), String> {
    let (shape, dt) = (dims(&want["shape"]), dtype(&want["dtype"]));
    if got.shape() != shape.as_slice() || got.dtype() != dt {
        return Err(format!(
            "expected {dt}{shape:?}, got {}{:?}",
            got.dtype(),
            got.shape()
        ));
    }
    let want: Vec<f64> = want["data"].as_array().unwrap().iter().map(num).collect();
    let got = got
        .to_f64_vec()
        .map_err(|e| format!("evaluation failed: {e}"))?;
    if got.len() != want.len() {
        return Err(format!("{} elements, expected {}", got.len(), want.len()));
    }
    let (rtol, atol) = tolerance(dt);
    let (mut bad, mut first, mut max_err) = (0, None, 0.0f64);
    for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
        let ok = if w.is_nan() || g.is_nan() {
            w.is_nan() && g.is_nan()
        } else if w.is_infinite() || g.is_infinite() {
            g == w
        } else {
            let err = (g - w).abs();
            max_err = max_err.max(err);
            err <= atol + rtol * w.abs()
        };
        if !ok {
            bad += 1;
            first.get_or_insert((i, g, w));
        }
    }
    match first {
        None => Ok(()),
        Some((i, g, w)) => Err(format!(
            "{bad}/{} elements differ (max abs error {max_err:.3e}); first at flat index {i}: \
             expected {w}, got {g}",
            want.len()
        )),
    }
}

// Panics inside a case are caught and reported as failures; this hook keeps
// their messages out of the output (they are listed in the summary) while
// leaving every other panic to the default hook.
thread_local!(static CAPTURE: RefCell<Option<String>> = const { RefCell::new(None) });

fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let captured = CAPTURE.with(|c| {
                let mut c = c.borrow_mut();
                match c.as_mut() {
                    Some(slot) => {
                        let msg = info
                            .payload()
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| {
                                info.payload().downcast_ref::<&str>().map(|s| s.to_string())
                            })
                            .unwrap_or_else(|| "panic".into());
                        *slot = msg;
                        true
                    }
                    None => false,
                }
            });
            if !captured {
                default(info);
            }
        }));
    });
}

type Dispatch = fn(&Case, &[Tensor]) -> Option<Vec<Tensor>>;

/// Runs every case of `family`, then panics listing all failures. Also
/// fails when fewer than `floor` cases ran (the fixtures went missing).
fn run_family(family: &str, floor: usize, dispatch: Dispatch) {
    install_hook();
    let mut failures = vec![];
    let mut ran = 0;
    for c in cases().iter().filter(|c| c.family == family) {
        ran += 1;
        CAPTURE.with(|s| *s.borrow_mut() = Some(String::new()));
        let result = catch_unwind(AssertUnwindSafe(|| -> Result<(), String> {
            let inputs: Vec<Tensor> = c.inputs.iter().map(tensor).collect();
            let outs = dispatch(c, &inputs).ok_or_else(|| format!("unknown op {:?}", c.op))?;
            let wants: Vec<&Value> = match &c.expected {
                Value::Array(list) => list.iter().collect(),
                one => vec![one],
            };
            if outs.len() != wants.len() {
                return Err(format!("{} outputs, expected {}", outs.len(), wants.len()));
            }
            for (k, (got, want)) in outs.iter().zip(wants).enumerate() {
                compare(got, want).map_err(|e| {
                    if outs.len() > 1 {
                        format!("output {k}: {e}")
                    } else {
                        e
                    }
                })?;
            }
            Ok(())
        }));
        let msg = CAPTURE.with(|s| s.borrow_mut().take()).unwrap_or_default();
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(format!("{}: {e}", c.name)),
            Err(_) => failures.push(format!("{}: panicked: {msg}", c.name)),
        }
    }
    let passed = ran - failures.len();
    // Written to the real stderr (not the captured test output), so the count
    // shows up in plain `cargo test` output.
    let _ = writeln!(
        std::io::stderr(),
        "numpy fixtures [{family}]: {passed} cases passed, {} failed",
        failures.len()
    );
    assert!(
        ran >= floor,
        "numpy fixtures [{family}]: only {ran} cases ran (expected at least {floor}); \
         regenerate with `python3 scripts/gen_numpy_fixtures.py`"
    );
    if !failures.is_empty() {
        panic!(
            "numpy fixtures [{family}]: {} of {ran} cases failed:\n  {}",
            failures.len(),
            failures.join("\n  ")
        );
    }
}

fn one(t: Tensor) -> Option<Vec<Tensor>> {
    Some(vec![t])
}

// ---------------------------------------------------------------------------
// families

fn unary(op: &str, x: &Tensor) -> Option<Tensor> {
    Some(match op {
        "exp" => x.exp(),
        "log" => x.log(),
        "log1p" => x.log1p(),
        "expm1" => x.expm1(),
        "sqrt" => x.sqrt(),
        "rsqrt" => x.rsqrt(),
        "sin" => x.sin(),
        "cos" => x.cos(),
        "tan" => x.tan(),
        "tanh" => x.tanh(),
        "sigmoid" => x.sigmoid(),
        "erf" => x.erf(),
        "neg" => -x,
        "abs" => x.abs(),
        "sign" => x.sign(),
        "square" => x.square(),
        "floor" => x.floor(),
        "ceil" => x.ceil(),
        "round" => x.round(),
        "isnan" => x.isnan(),
        "isinf" => x.isinf(),
        "isfinite" => x.isfinite(),
        "logical_not" => x.logical_not(),
        _ => return None,
    })
}

/// Binary ops through the methods (`operators` uses `+ - * / %` instead).
fn binary(op: &str, a: &Tensor, b: &Tensor, operators: bool) -> Option<Tensor> {
    Some(match op {
        "add" if operators => a + b,
        "sub" if operators => a - b,
        "mul" if operators => a * b,
        "div" if operators => a / b,
        "remainder" if operators => a % b,
        "add" => a.add(b),
        "sub" => a.sub(b),
        "mul" => a.mul(b),
        "div" => a.div(b),
        "remainder" => a.remainder(b),
        "floor_divide" => a.floor_divide(b),
        "pow" => a.pow(b),
        "maximum" => a.maximum(b),
        "minimum" => a.minimum(b),
        "eq" => a.eq(b),
        "ne" => a.ne(b),
        "lt" => a.lt(b),
        "le" => a.le(b),
        "gt" => a.gt(b),
        "ge" => a.ge(b),
        "logical_and" => a.logical_and(b),
        "logical_or" => a.logical_or(b),
        _ => return None,
    })
}

fn elementwise_case(c: &Case, x: &[Tensor]) -> Option<Vec<Tensor>> {
    let op = c.op.as_str();
    if let Some(base) = op.strip_suffix("_scalar") {
        // tensor op weakly typed Rust scalar
        let v = arg(c, "scalar");
        let t = &x[0];
        let r = match (arg(c, "kind").as_str().unwrap(), base) {
            ("float", "add") => t.add(v.as_f64().unwrap()),
            ("float", "sub") => t.sub(v.as_f64().unwrap()),
            ("float", "mul") => t.mul(v.as_f64().unwrap()),
            ("float", "maximum") => t.maximum(v.as_f64().unwrap()),
            ("int", "add") => t.add(v.as_i64().unwrap()),
            ("int", "sub") => t.sub(v.as_i64().unwrap()),
            ("int", "mul") => t.mul(v.as_i64().unwrap()),
            ("int", "maximum") => t.maximum(v.as_i64().unwrap()),
            ("bool", "add") => t.add(v.as_bool().unwrap()),
            ("bool", "sub") => t.sub(v.as_bool().unwrap()),
            ("bool", "mul") => t.mul(v.as_bool().unwrap()),
            ("bool", "maximum") => t.maximum(v.as_bool().unwrap()),
            _ => return None,
        };
        return one(r);
    }
    match (op, x.len()) {
        ("clip", 1) => one(x[0].clip(opt_f64_arg(c, "min"), opt_f64_arg(c, "max"))),
        ("where", 3) => one(elementwise::where_(&x[0], &x[1], &x[2])),
        (_, 1) => one(unary(op, &x[0])?),
        (_, 2) => one(binary(op, &x[0], &x[1], true)?),
        _ => None,
    }
}

fn promotion_case(c: &Case, x: &[Tensor]) -> Option<Vec<Tensor>> {
    match x.len() {
        1 => one(unary(&c.op, &x[0])?),
        2 => one(binary(&c.op, &x[0], &x[1], false)?),
        _ => None,
    }
}

fn shape_case(c: &Case, x: &[Tensor]) -> Option<Vec<Tensor>> {
    let t = x.first();
    Some(match c.op.as_str() {
        "reshape" => vec![t?.reshape(i64s(arg(c, "shape")))],
        "permute" => vec![t?.permute(&i64s(arg(c, "perm")))],
        "t" => vec![t?.t()],
        "swapaxes" => vec![t?.swapaxes(i64_arg(c, "a"), i64_arg(c, "b"))],
        "moveaxis" => vec![t?.moveaxis(i64_arg(c, "src"), i64_arg(c, "dst"))],
        "squeeze" => vec![t?.squeeze(axes_arg(c, "axes"))],
        "expand_dims" => vec![t?.expand_dims(i64_arg(c, "axis"))],
        "broadcast_to" => vec![t?.broadcast_to(&dims(arg(c, "shape")))],
        "flatten" => vec![t?.flatten(i64_arg(c, "start"), i64_arg(c, "end"))],
        "concat" => vec![shape::concat(x, i64_arg(c, "axis"))],
        "stack" => vec![shape::stack(x, i64_arg(c, "axis"))],
        "split" => t?.split(&usizes(arg(c, "sizes")), i64_arg(c, "axis")),
        "chunk" => t?.chunk(usize_arg(c, "n"), i64_arg(c, "axis")),
        "narrow" => vec![t?.narrow(
            i64_arg(c, "axis"),
            usize_arg(c, "start"),
            usize_arg(c, "len"),
        )],
        "flip" => vec![t?.flip(axes_arg(c, "axes"))],
        "pad" => {
            let widths: Vec<(usize, usize)> = arg(c, "widths")
                .as_array()
                .unwrap()
                .iter()
                .map(pair)
                .collect();
            vec![t?.pad(&widths, f64_arg(c, "value"))]
        }
        "tile" => vec![t?.tile(&usizes(arg(c, "reps")))],
        "repeat" => vec![t?.repeat(usize_arg(c, "repeats"), i64_arg(c, "axis"))],
        "tril" => vec![t?.tril(i64_arg(c, "k"))],
        "triu" => vec![t?.triu(i64_arg(c, "k"))],
        "slice" => {
            let args: Vec<SliceArg> = arg(c, "args")
                .as_array()
                .unwrap()
                .iter()
                .map(|a| {
                    if a.as_str() == Some("newaxis") {
                        SliceArg::NewAxis
                    } else if let Some(i) = a.get("index") {
                        SliceArg::Index(i.as_i64().unwrap())
                    } else {
                        SliceArg::Range {
                            start: a["start"].as_i64(),
                            stop: a["stop"].as_i64(),
                            step: a["step"].as_i64().unwrap(),
                        }
                    }
                })
                .collect();
            vec![t?.slice(&args)]
        }
        _ => return None,
    })
}

fn creation_case(c: &Case, _: &[Tensor]) -> Option<Vec<Tensor>> {
    let d = dtype(arg(c, "dtype"));
    one(match c.op.as_str() {
        "arange" => creation::arange(
            f64_arg(c, "start"),
            f64_arg(c, "stop"),
            f64_arg(c, "step"),
            d,
        ),
        "linspace" => creation::linspace(
            f64_arg(c, "start"),
            f64_arg(c, "stop"),
            usize_arg(c, "num"),
            d,
        ),
        "eye" => creation::eye(usize_arg(c, "n"), usize_arg(c, "m"), i64_arg(c, "k"), d),
        "zeros" => creation::zeros(&dims(arg(c, "shape")), d),
        "ones" => creation::ones(&dims(arg(c, "shape")), d),
        "full" => creation::full(&dims(arg(c, "shape")), f64_arg(c, "value"), d),
        _ => return None,
    })
}

fn reduce_case(c: &Case, x: &[Tensor]) -> Option<Vec<Tensor>> {
    let t = x.first()?;
    let keep = || bool_arg(c, "keepdims");
    let ax = || axes_arg(c, "axes");
    let ddof = || usize_arg(c, "ddof");
    one(match c.op.as_str() {
        "sum" => t.sum(ax(), keep()),
        "mean" => t.mean(ax(), keep()),
        "prod" => t.prod(ax(), keep()),
        "max" => t.max(ax(), keep()),
        "min" => t.min(ax(), keep()),
        "var" => t.var(ax(), ddof(), keep()),
        "std" => t.std(ax(), ddof(), keep()),
        "logsumexp" => t.logsumexp(ax(), keep()),
        "all" => t.all(ax(), keep()),
        "any" => t.any(ax(), keep()),
        "argmax" => t.argmax(i64_arg(c, "axis"), keep()),
        "argmin" => t.argmin(i64_arg(c, "axis"), keep()),
        "cumsum" => t.cumsum(i64_arg(c, "axis")),
        "cumprod" => t.cumprod(i64_arg(c, "axis")),
        _ => return None,
    })
}

fn index_case(c: &Case, x: &[Tensor]) -> Option<Vec<Tensor>> {
    let t = x.first()?;
    let axis = || i64_arg(c, "axis");
    Some(match c.op.as_str() {
        "take" => vec![t.take(&x[1], arg(c, "axis").as_i64())],
        "index_select" => vec![t.index_select(axis(), &x[1])],
        "take_along_axis" => vec![t.take_along_axis(&x[1], axis())],
        "one_hot" => vec![t.one_hot(usize_arg(c, "n"), dtype(arg(c, "dtype")))],
        "sort" => vec![t.sort(axis(), bool_arg(c, "descending"))],
        "argsort" => vec![t.argsort(axis(), bool_arg(c, "descending"))],
        "topk" => {
            let (v, i) = t.topk(usize_arg(c, "k"), axis(), bool_arg(c, "largest"));
            vec![v, i]
        }
        "scatter_add" => vec![t.scatter_add(axis(), &x[1], &x[2])],
        _ => return None,
    })
}

fn linalg_case(c: &Case, x: &[Tensor]) -> Option<Vec<Tensor>> {
    one(match c.op.as_str() {
        "matmul" => x[0].matmul(&x[1]),
        "dot" => linalg::dot(&x[0], &x[1]),
        "outer" => x[0].outer(&x[1]),
        "einsum" => {
            let refs: Vec<&Tensor> = x.iter().collect();
            linalg::einsum(arg(c, "spec").as_str().unwrap(), &refs)
        }
        _ => return None,
    })
}

fn nn_case(c: &Case, x: &[Tensor]) -> Option<Vec<Tensor>> {
    let t = &x[0];
    let tuple = |k: &str| pair(arg(c, k));
    one(match c.op.as_str() {
        "relu" => t.relu(),
        "gelu" => t.gelu(bool_arg(c, "approximate")),
        "silu" => t.silu(),
        "leaky_relu" => t.leaky_relu(f64_arg(c, "slope")),
        "elu" => t.elu(f64_arg(c, "alpha")),
        "selu" => t.selu(),
        "softmax" => t.softmax(i64_arg(c, "axis")),
        "log_softmax" => t.log_softmax(i64_arg(c, "axis")),
        "layer_norm" => {
            let last = [t.dim(-1)];
            nn::layer_norm(t, &last, x.get(1), x.get(2), f64_arg(c, "eps"))
        }
        "rms_norm" => {
            let last = [t.dim(-1)];
            nn::rms_norm(t, &last, x.get(1), Some(f64_arg(c, "eps")))
        }
        "conv1d" => nn::conv1d(
            t,
            &x[1],
            x.get(2),
            usize_arg(c, "stride"),
            usize_arg(c, "padding"),
            usize_arg(c, "dilation"),
            usize_arg(c, "groups"),
        ),
        "conv2d" => nn::conv2d(
            t,
            &x[1],
            x.get(2),
            tuple("stride"),
            tuple("padding"),
            tuple("dilation"),
            usize_arg(c, "groups"),
        ),
        "max_pool2d" => nn::max_pool2d(t, tuple("kernel"), tuple("stride"), tuple("padding")),
        "avg_pool2d" => nn::avg_pool2d(t, tuple("kernel"), tuple("stride"), tuple("padding")),
        _ => return None,
    })
}

#[test]
fn numpy_elementwise() {
    run_family("elementwise", 1000, elementwise_case);
}

#[test]
fn numpy_type_promotion() {
    run_family("promotion", 121, promotion_case);
}

#[test]
fn numpy_shape_ops() {
    run_family("shape", 150, shape_case);
}

#[test]
fn numpy_creation() {
    run_family("creation", 30, creation_case);
}

#[test]
fn numpy_reductions() {
    run_family("reduce", 800, reduce_case);
}

#[test]
fn numpy_indexing() {
    run_family("index", 200, index_case);
}

#[test]
fn numpy_linalg() {
    run_family("linalg", 60, linalg_case);
}

#[test]
fn numpy_nn() {
    run_family("nn", 120, nn_case);
}

/// Every case in the file belongs to a family that a test above runs.
#[test]
fn numpy_fixture_families_are_all_tested() {
    let known = [
        "elementwise",
        "promotion",
        "shape",
        "creation",
        "reduce",
        "index",
        "linalg",
        "nn",
    ];
    let all = cases();
    assert!(all.len() > 2500, "only {} fixture cases", all.len());
    let stray: Vec<&str> = all
        .iter()
        .filter(|c| !known.contains(&c.family.as_str()))
        .map(|c| c.name.as_str())
        .collect();
    assert!(stray.is_empty(), "cases of untested families: {stray:?}");
}
