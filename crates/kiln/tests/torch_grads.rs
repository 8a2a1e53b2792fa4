//! Gradients of composite functions checked against PyTorch.
//!
//! `scripts/gen_torch_grad_fixtures.py` computed every case once with PyTorch
//! (float64, CPU) and wrote `tests/fixtures/torch_grads.json` (committed;
//! regenerate with `python3 scripts/gen_torch_grad_fixtures.py` from the
//! repository root after `pip install torch numpy`). This test needs no
//! Python: it rebuilds each function with Kiln's public API (softmax
//! cross-entropy, layer norm, conv2d, a 2-layer MLP, pools, softmax /
//! log-softmax, GELU), differentiates it and compares the loss or output and
//! every gradient with PyTorch's.
//!
//! Every gradient is computed twice, through both autodiff front ends: the
//! functional `value_and_grad` (JAX style, over a tree of tensors with the
//! non-differentiated data wrapped in `Const`) and `loss.backward()` +
//! `.grad()` on leaves created with `requires_grad(true)` (PyTorch style).
//! Both must match PyTorch.
//!
//! Tolerance: every element must satisfy `|got - want| <= RTOL * max(|want|,
//! FLOOR * max|want|)` with `RTOL = 1e-10` (float64), i.e. relative per
//! element, with a floor at `FLOOR = 1e-3` of the tensor's largest magnitude
//! so that an element that is (nearly) zero by cancellation is judged on the
//! tensor's scale rather than on its own rounding noise. The floor matters
//! in one place: GELU-tanh gradients in the far negative tail (x ~ -5, where
//! the gradient is ~1e-7 and both libraries compute `1 + tanh(u)` with
//! tanh(u) ~ -1) differ between Kiln and PyTorch by up to ~2e-10 relative to
//! the element, while each is ~4e-9 relative away from the exact value
//! (checked with mpmath); everything else agrees to ~1e-13 per element.
//!
//! There is one test per kind of case. Each runs all its cases, collects the
//! failures (a wrong value or shape, or a panic) and panics listing all of
//! them, so one bug does not hide the others.

use kiln::autodiff::{value_and_grad, Const};
use kiln::ops::{creation, nn};
use kiln::{DType, Tensor};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/torch_grads.json"
);

/// Relative tolerance (float64).
const RTOL: f64 = 1e-10;
/// Elements smaller than this fraction of the tensor's largest magnitude are
/// compared on that scale.
const FLOOR: f64 = 1e-3;

/// A fixture tensor: shape and flat row-major values.
#[derive(Clone, Debug)]
struct Flat {
    shape: Vec<usize>,
    data: Vec<f64>,
}

struct Case {
    name: String,
    kind: String,
    args: Value,
    inputs: BTreeMap<String, Flat>,
    expected: BTreeMap<String, Flat>,
}

struct Fixtures {
    torch_version: String,
    cases: Vec<Case>,
}

fn flat(v: &Value) -> Flat {
    let shape = v["shape"]
        .as_array()
        .expect("tensor without shape")
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    let data = v["data"]
        .as_array()
        .expect("tensor without data")
        .iter()
        .map(|x| x.as_f64().expect("non-numeric fixture value"))
        .collect();
    Flat { shape, data }
}

fn tensors(v: &Value) -> BTreeMap<String, Flat> {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, t)| (k.clone(), flat(t)))
        .collect()
}

fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let text = std::fs::read_to_string(FIXTURES)
            .unwrap_or_else(|e| panic!("cannot read {FIXTURES}: {e}"));
        let doc: Value = serde_json::from_str(&text).expect("fixtures are not valid JSON");
        let cases = doc["cases"]
            .as_array()
            .expect("fixtures have no `cases` array")
            .iter()
            .map(|c| Case {
                name: c["name"].as_str().unwrap().to_string(),
                kind: c["kind"].as_str().unwrap().to_string(),
                args: c["args"].clone(),
                inputs: tensors(&c["inputs"]),
                expected: tensors(&c["expected"]),
            })
            .collect();
        Fixtures {
            torch_version: doc["torch_version"].as_str().unwrap_or("?").to_string(),
            cases,
        }
    })
}

// ---------------------------------------------------------------------------
// case access

impl Case {
    fn flat_input(&self, name: &str) -> &Flat {
        self.inputs
            .get(name)
            .unwrap_or_else(|| panic!("case {} has no input {name}", self.name))
    }

    /// A float64 input.
    fn input(&self, name: &str) -> Tensor {
        let f = self.flat_input(name);
        creation::from_f64(&f.data, &f.shape, DType::F64).unwrap()
    }

    /// An integer (class label) input, as i64.
    fn labels(&self, name: &str) -> Tensor {
        let f = self.flat_input(name);
        creation::from_f64(&f.data, &f.shape, DType::I64).unwrap()
    }

    fn want(&self, name: &str) -> &Flat {
        self.expected
            .get(name)
            .unwrap_or_else(|| panic!("case {} has no expected {name}", self.name))
    }

    fn arg(&self, key: &str) -> &Value {
        self.args
            .get(key)
            .unwrap_or_else(|| panic!("case {} has no arg {key}", self.name))
    }
    fn f64_arg(&self, key: &str) -> f64 {
        self.arg(key).as_f64().unwrap()
    }
    fn usize_arg(&self, key: &str) -> usize {
        self.arg(key).as_u64().unwrap() as usize
    }
    fn pair_arg(&self, key: &str) -> (usize, usize) {
        let v = self.arg(key).as_array().unwrap();
        (
            v[0].as_u64().unwrap() as usize,
            v[1].as_u64().unwrap() as usize,
        )
    }
    fn dims_arg(&self, key: &str) -> Vec<usize> {
        self.arg(key)
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect()
    }
}

// ---------------------------------------------------------------------------
// comparison

/// Compares `got` with the fixture tensor `want`; `what` names it in errors.
fn compare(what: &str, got: &Tensor, want: &Flat) -> Result<(), String> {
    if got.shape() != want.shape.as_slice() {
        return Err(format!(
            "{what}: shape {:?}, expected {:?}",
            got.shape(),
            want.shape
        ));
    }
    if got.dtype() != DType::F64 {
        return Err(format!("{what}: dtype {}, expected f64", got.dtype()));
    }
    let g = got
        .to_f64_vec()
        .map_err(|e| format!("{what}: evaluation failed: {e}"))?;
    let scale = want.data.iter().fold(0.0f64, |m, w| m.max(w.abs()));
    let mut worst: Option<(usize, f64)> = None;
    let mut bad = 0;
    for (i, (&gv, &wv)) in g.iter().zip(&want.data).enumerate() {
        let denom = wv.abs().max(FLOOR * scale).max(f64::MIN_POSITIVE);
        let rel = (gv - wv).abs() / denom;
        if rel.is_nan() || rel > RTOL {
            bad += 1;
            if worst.is_none_or(|(_, r)| rel.is_nan() || rel > r) {
                worst = Some((i, rel));
            }
        }
    }
    match worst {
        None => Ok(()),
        Some((i, rel)) => Err(format!(
            "{what}: {bad} of {} elements differ; worst at flat index {i}: got {}, expected {} \
             (relative error {rel:.3e}, tolerance {RTOL:e})",
            g.len(),
            g[i],
            want.data[i]
        )),
    }
}

/// Compares several `(name, got)` pairs against the case's expected values,
/// prefixing errors with `path`.
fn compare_all(c: &Case, path: &str, pairs: &[(&str, &Tensor)]) -> Vec<String> {
    pairs
        .iter()
        .filter_map(|(name, got)| compare(&format!("{path} {name}"), got, c.want(name)).err())
        .collect()
}

// ---------------------------------------------------------------------------
// the two autodiff front ends

/// `(loss, d loss / d params)` of `f` at `params`, through `value_and_grad`
/// over a `Vec` of tensors.
fn functional(f: &dyn Fn(&[Tensor]) -> Tensor, params: &[Tensor]) -> (Tensor, Vec<Tensor>) {
    let vg = value_and_grad(|p: &Vec<Tensor>| f(p));
    vg(&params.to_vec()).expect("value_and_grad failed")
}

/// `(loss, d loss / d params)` of `f` at `params`, through `backward()` on
/// fresh leaves created with `requires_grad(true)`.
fn backward(f: &dyn Fn(&[Tensor]) -> Tensor, params: &[Tensor]) -> (Tensor, Vec<Tensor>) {
    let leaves: Vec<Tensor> = params
        .iter()
        .map(|p| Tensor::from_array(p.array().unwrap()).requires_grad(true))
        .collect();
    let loss = f(&leaves);
    loss.backward().expect("backward() failed");
    let grads = leaves
        .iter()
        .enumerate()
        .map(|(i, l)| {
            l.grad()
                .unwrap_or_else(|| panic!("backward() left no .grad() on parameter {i}"))
        })
        .collect();
    (loss, grads)
}

/// Differentiates `f` both ways and compares with the case's `grad_<name>`
/// for each of `names` (and `loss` when `check_loss`).
fn check_grads(
    c: &Case,
    f: &dyn Fn(&[Tensor]) -> Tensor,
    names: &[&str],
    check_loss: bool,
) -> Vec<String> {
    let params: Vec<Tensor> = names.iter().map(|n| c.input(n)).collect();
    let grad_names: Vec<String> = names.iter().map(|n| format!("grad_{n}")).collect();
    let mut errs = vec![];
    for (path, (loss, grads)) in [
        ("value_and_grad", functional(f, &params)),
        ("backward", backward(f, &params)),
    ] {
        if grads.len() != names.len() {
            errs.push(format!(
                "{path}: {} gradients for {} parameters",
                grads.len(),
                names.len()
            ));
            continue;
        }
        let mut pairs: Vec<(&str, &Tensor)> = grad_names
            .iter()
            .map(String::as_str)
            .zip(grads.iter())
            .collect();
        if check_loss {
            pairs.insert(0, ("loss", &loss));
        }
        errs.extend(compare_all(c, path, &pairs));
    }
    errs
}

/// For the `out`-and-cotangent cases: checks the forward output of `op` on
/// the case's inputs `names`, then the gradients of `(op(..) * cot).sum()`.
fn check_op_with_cotangent(
    c: &Case,
    names: &[&str],
    op: &dyn Fn(&[Tensor]) -> Tensor,
) -> Vec<String> {
    let inputs: Vec<Tensor> = names.iter().map(|n| c.input(n)).collect();
    let mut errs = compare_all(c, "forward", &[("out", &op(&inputs))]);
    let cot = c.input("cot");
    let loss = move |p: &[Tensor]| (op(p) * &cot).sum(.., false);
    errs.extend(check_grads(c, &loss, names, false));
    errs
}

// ---------------------------------------------------------------------------
// the functions under test, built from Kiln ops

/// Softmax cross-entropy with integer class labels, mean over the batch
/// (`torch.nn.functional.cross_entropy`, `reduction="mean"`), with optional
/// label smoothing `eps`: `(1 - eps) * nll + eps * mean_c(-log p_c)`.
fn cross_entropy(logits: &Tensor, labels: &Tensor, eps: f64) -> Tensor {
    let n = logits.shape()[0];
    let logp = nn::log_softmax(logits, -1);
    let picked = logp.take_along_axis(&labels.reshape([n, 1]), 1);
    let nll = -picked.mean(.., false);
    if eps == 0.0 {
        nll
    } else {
        // The mean over [N, C] is the batch mean of the per-row class mean.
        let smooth = -logp.mean(.., false);
        nll * (1.0 - eps) + smooth * eps
    }
}

/// PyTorch's `Linear`: `x @ W.T + b` with `W: [out, in]`.
fn linear(x: &Tensor, w: &Tensor, b: &Tensor) -> Tensor {
    x.matmul(&w.t()) + b
}

fn activation(name: &str, x: &Tensor) -> Tensor {
    match name {
        "relu" => nn::relu(x),
        "tanh" => x.tanh(),
        "gelu" => nn::gelu(x, false),
        other => panic!("unknown activation {other}"),
    }
}

/// The MLP's loss: `cross_entropy(linear(act(linear(x, W1, b1)), W2, b2))`.
fn mlp_loss(
    act: &str,
    (w1, b1, w2, b2): (&Tensor, &Tensor, &Tensor, &Tensor),
    x: &Tensor,
    labels: &Tensor,
) -> Tensor {
    let h = activation(act, &linear(x, w1, b1));
    cross_entropy(&linear(&h, w2, b2), labels, 0.0)
}

// ---------------------------------------------------------------------------
// per-kind checks

fn run_cross_entropy(c: &Case) -> Vec<String> {
    let labels = c.labels("labels");
    let eps = c.f64_arg("label_smoothing");
    let f = move |p: &[Tensor]| cross_entropy(&p[0], &labels, eps);
    check_grads(c, &f, &["logits"], true)
}

fn run_layer_norm(c: &Case) -> Vec<String> {
    let ns = c.dims_arg("normalized_shape");
    let eps = c.f64_arg("eps");
    let op = move |p: &[Tensor]| nn::layer_norm(&p[0], &ns, Some(&p[1]), Some(&p[2]), eps);
    check_op_with_cotangent(c, &["x", "weight", "bias"], &op)
}

fn run_conv2d(c: &Case) -> Vec<String> {
    let (stride, padding, dilation) = (
        c.pair_arg("stride"),
        c.pair_arg("padding"),
        c.pair_arg("dilation"),
    );
    let groups = c.usize_arg("groups");
    let op = move |p: &[Tensor]| {
        nn::conv2d(&p[0], &p[1], Some(&p[2]), stride, padding, dilation, groups)
    };
    check_op_with_cotangent(c, &["x", "weight", "bias"], &op)
}

fn run_pool(c: &Case) -> Vec<String> {
    let (k, s, p) = (
        c.pair_arg("kernel"),
        c.pair_arg("stride"),
        c.pair_arg("padding"),
    );
    let max = c.kind == "max_pool2d";
    let op = move |x: &[Tensor]| {
        if max {
            nn::max_pool2d(&x[0], k, s, p)
        } else {
            nn::avg_pool2d(&x[0], k, s, p)
        }
    };
    check_op_with_cotangent(c, &["x"], &op)
}

fn run_softmax(c: &Case) -> Vec<String> {
    let axis = c.arg("axis").as_i64().unwrap();
    let log = c.kind == "log_softmax";
    let op = move |x: &[Tensor]| {
        if log {
            nn::log_softmax(&x[0], axis)
        } else {
            nn::softmax(&x[0], axis)
        }
    };
    check_op_with_cotangent(c, &["x"], &op)
}

fn run_gelu(c: &Case) -> Vec<String> {
    let approximate = c.arg("approximate").as_bool().unwrap();
    let op = move |x: &[Tensor]| nn::gelu(&x[0], approximate);
    check_op_with_cotangent(c, &["x"], &op)
}

/// The MLP through both front ends, each written the way a user would:
/// `value_and_grad` over `(W1, b1, W2, b2, Const((x, labels)))`, and
/// `loss.backward()` on parameters created with `requires_grad(true)`.
fn run_mlp(c: &Case) -> Vec<String> {
    let act = c.arg("activation").as_str().unwrap().to_string();
    let (x, labels) = (c.input("x"), c.labels("labels"));
    let params = (c.input("w1"), c.input("b1"), c.input("w2"), c.input("b2"));
    let names = ["grad_w1", "grad_b1", "grad_w2", "grad_b2"];
    let mut errs = vec![];

    type Args = (Tensor, Tensor, Tensor, Tensor, Const<(Tensor, Tensor)>);
    let vg = value_and_grad(|(w1, b1, w2, b2, data): &Args| {
        mlp_loss(&act, (w1, b1, w2, b2), &data.0 .0, &data.0 .1)
    });
    let args: Args = (
        params.0.clone(),
        params.1.clone(),
        params.2.clone(),
        params.3.clone(),
        Const((x.clone(), labels.clone())),
    );
    let (loss, (g1, gb1, g2, gb2, _)) = vg(&args).expect("value_and_grad failed");
    errs.extend(compare_all(
        c,
        "value_and_grad",
        &[
            ("loss", &loss),
            (names[0], &g1),
            (names[1], &gb1),
            (names[2], &g2),
            (names[3], &gb2),
        ],
    ));

    let leaf = |t: &Tensor| Tensor::from_array(t.array().unwrap()).requires_grad(true);
    let (w1, b1, w2, b2) = (
        leaf(&params.0),
        leaf(&params.1),
        leaf(&params.2),
        leaf(&params.3),
    );
    let loss = mlp_loss(&act, (&w1, &b1, &w2, &b2), &x, &labels);
    loss.backward().expect("backward() failed");
    let grads: Vec<Tensor> = [&w1, &b1, &w2, &b2]
        .iter()
        .map(|p| p.grad().expect("backward() left no .grad()"))
        .collect();
    errs.extend(compare_all(
        c,
        "backward",
        &[
            ("loss", &loss),
            (names[0], &grads[0]),
            (names[1], &grads[1]),
            (names[2], &grads[2]),
            (names[3], &grads[3]),
        ],
    ));
    errs
}

// ---------------------------------------------------------------------------
// driver

fn panic_text(e: &(dyn std::any::Any + Send)) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

/// Runs every case of the given kinds, then panics listing all failures.
/// Also fails when fewer than `floor` cases ran (the fixtures went missing).
fn run_kinds(kinds: &[&str], floor: usize, run: fn(&Case) -> Vec<String>) {
    let fx = fixtures();
    let mut failures = vec![];
    let mut ran = 0;
    for c in fx.cases.iter().filter(|c| kinds.contains(&c.kind.as_str())) {
        ran += 1;
        match catch_unwind(AssertUnwindSafe(|| run(c))) {
            Ok(errs) => failures.extend(errs.into_iter().map(|e| format!("{}: {e}", c.name))),
            Err(p) => failures.push(format!("{}: panicked: {}", c.name, panic_text(&*p))),
        }
    }
    let failed_cases = {
        let mut names: Vec<&str> = failures
            .iter()
            .map(|f| f.split(':').next().unwrap())
            .collect();
        names.dedup();
        names.len()
    };
    let label = kinds.join(", ");
    // Written to the real stderr (not the captured test output), so the count
    // shows up in plain `cargo test` output.
    let _ = writeln!(
        std::io::stderr(),
        "torch gradient fixtures [{label}]: {} cases passed, {failed_cases} failed (torch {})",
        ran - failed_cases,
        fx.torch_version
    );
    assert!(
        ran >= floor,
        "torch gradient fixtures [{label}]: only {ran} cases ran (expected at least {floor}); \
         regenerate with `python3 scripts/gen_torch_grad_fixtures.py`"
    );
    assert!(
        failures.is_empty(),
        "torch gradient fixtures [{label}]: {failed_cases} of {ran} cases failed:\n  {}",
        failures.join("\n  ")
    );
}

#[test]
fn fixture_file_is_complete() {
    let fx = fixtures();
    let known = [
        "cross_entropy",
        "layer_norm",
        "conv2d",
        "mlp",
        "max_pool2d",
        "avg_pool2d",
        "softmax",
        "log_softmax",
        "gelu",
    ];
    for c in &fx.cases {
        assert!(
            known.contains(&c.kind.as_str()),
            "case {} has unknown kind {}",
            c.name,
            c.kind
        );
    }
    let mut names: Vec<&str> = fx.cases.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), fx.cases.len(), "duplicate case names");
    let _ = writeln!(
        std::io::stderr(),
        "torch gradient fixtures: {} cases in the file (torch {})",
        fx.cases.len(),
        fx.torch_version
    );
}

#[test]
fn cross_entropy_matches_torch() {
    run_kinds(&["cross_entropy"], 5, run_cross_entropy);
}

#[test]
fn layer_norm_matches_torch() {
    run_kinds(&["layer_norm"], 4, run_layer_norm);
}

#[test]
fn conv2d_matches_torch() {
    run_kinds(&["conv2d"], 4, run_conv2d);
}

#[test]
fn mlp_matches_torch() {
    run_kinds(&["mlp"], 4, run_mlp);
}

#[test]
fn pools_match_torch() {
    run_kinds(&["max_pool2d", "avg_pool2d"], 6, run_pool);
}

#[test]
fn softmax_matches_torch() {
    run_kinds(&["softmax", "log_softmax"], 6, run_softmax);
}

#[test]
fn gelu_matches_torch() {
    run_kinds(&["gelu"], 4, run_gelu);
}
