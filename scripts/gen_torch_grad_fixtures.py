#!/usr/bin/env python3
"""Generates the PyTorch gradient fixtures that `crates/kiln/tests/torch_grads.rs`
checks Kiln's autodiff against.

Run once (from the repository root) and commit the output:

    pip install torch numpy        # CPU build from PyPI is enough
    python3 scripts/gen_torch_grad_fixtures.py

It writes `crates/kiln/tests/fixtures/torch_grads.json`; `cargo test` reads that
file and needs no Python. The output is deterministic: every random input comes
from `np.random.default_rng(SEED)`, every computation runs in float64 on the
CPU, and the torch and NumPy versions used are recorded in the file.

What is covered (each with several random cases):

* `cross_entropy`: `F.cross_entropy(logits [N, C], labels [N])`, mean
  reduction, optionally `label_smoothing`; loss and d loss / d logits.
* `mlp`: `x [N, D] -> Linear(D, H) -> relu|tanh -> Linear(H, C) ->
  cross_entropy` (mean), PyTorch's Linear convention `y = x @ W.T + b` with
  `W [out, in]`; loss and the gradients of W1, b1, W2, b2.
* `layer_norm`: `F.layer_norm(x, normalized_shape, weight, bias, eps)`; the
  output and, for `loss = (out * cot).sum()` with a fixed random cotangent
  `cot`, the gradients of x, weight and bias.
* `conv2d`: `F.conv2d(x, w, b, stride, padding, dilation, groups)`; the
  output and the gradients of x, w, b for `loss = (out * cot).sum()`.
* `max_pool2d`, `avg_pool2d` (`ceil_mode=False`, `count_include_pad=True`):
  the output and the gradient of x for `loss = (out * cot).sum()`.
* `softmax`, `log_softmax` along an axis, `gelu` (`approximate="none"` and
  `"tanh"`): the output and the gradient of x for `loss = (out * cot).sum()`.

File format
-----------
`{"generator", "torch_version", "numpy_version", "seed", "cases": [case, ...]}`
where a case is

    {"name": unique id, "kind": one of the kinds above, "args": {...},
     "inputs": {name: tensor}, "expected": {name: tensor}}

and a tensor is `{"shape": [...], "data": [flat, row-major]}` (float64 values
written with Python's shortest round-trip repr; labels are integers). Expected
entries named `grad_<input>` are d loss / d input; `loss` is the scalar loss
(shape `[]`); `out` is the op's output. The cotangent, when a case has one, is
the input named `cot` and is not differentiated.
"""

import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

SEED = 20240611
RNG = np.random.default_rng(SEED)
OUT = os.path.join(
    os.path.dirname(os.path.abspath(__file__)),
    "..",
    "crates",
    "kiln",
    "tests",
    "fixtures",
    "torch_grads.json",
)

torch.manual_seed(SEED)
torch.use_deterministic_algorithms(True)
torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)

CASES = []


# ---------------------------------------------------------------------------
# helpers

def enc(t):
    """A tensor (torch or NumPy) as `{"shape", "data"}`."""
    if isinstance(t, torch.Tensor):
        t = t.detach().cpu().numpy()
    a = np.asarray(t)
    if a.dtype.kind in "iu":
        data = [int(v) for v in a.reshape(-1)]
    else:
        assert a.dtype == np.float64, a.dtype
        data = [float(v) for v in a.reshape(-1)]
        assert all(np.isfinite(data)), "fixture values must be finite"
    return {"shape": [int(d) for d in a.shape], "data": data}


def randn(*shape, scale=1.0):
    return RNG.standard_normal(shape) * scale


def leaf(a):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


def add(name, kind, args, inputs, expected):
    assert name not in {c["name"] for c in CASES}, name
    CASES.append(
        {
            "name": name,
            "kind": kind,
            "args": args,
            "inputs": {k: enc(v) for k, v in inputs.items()},
            "expected": {k: enc(v) for k, v in expected.items()},
        }
    )


def grads_of(loss, **leaves):
    """`{"grad_<name>": d loss / d leaf}` for the named leaves."""
    names = list(leaves)
    gs = torch.autograd.grad(loss, [leaves[n] for n in names])
    return {"grad_" + n: g for n, g in zip(names, gs)}


# ---------------------------------------------------------------------------
# (a) softmax cross-entropy

def cross_entropy_cases():
    specs = [
        # (N, C, logit scale, label_smoothing)
        (4, 5, 1.0, 0.0),
        (8, 10, 2.0, 0.0),
        (1, 3, 1.0, 0.0),
        (16, 7, 0.5, 0.0),
        (6, 4, 30.0, 0.0),  # large logits: needs a stable log_softmax
        (5, 6, 1.0, 0.1),
        (12, 9, 3.0, 0.1),
    ]
    for i, (n, c, scale, ls) in enumerate(specs):
        logits_np = randn(n, c, scale=scale)
        labels = RNG.integers(0, c, size=n).astype(np.int64)
        logits = leaf(logits_np)
        loss = F.cross_entropy(
            logits, torch.from_numpy(labels), reduction="mean", label_smoothing=ls
        )
        add(
            f"cross_entropy_{i}_n{n}_c{c}" + (f"_ls{ls}" if ls else ""),
            "cross_entropy",
            {"label_smoothing": ls},
            {"logits": logits_np, "labels": labels},
            {"loss": loss, **grads_of(loss, logits=logits)},
        )


# ---------------------------------------------------------------------------
# (b) layer norm

def layer_norm_cases():
    specs = [
        # (x shape, number of normalized trailing dims, eps)
        ((4, 8), 1, 1e-5),
        ((2, 3, 6), 1, 1e-5),
        ((5, 16), 1, 1e-3),
        ((3, 1, 5), 1, 1e-5),
        ((2, 3, 4), 2, 1e-5),  # normalized over the last two dims
    ]
    for i, (shape, k, eps) in enumerate(specs):
        ns = shape[len(shape) - k:]
        x_np = randn(*shape, scale=2.0) + 0.5
        w_np = 1.0 + 0.3 * randn(*ns)
        b_np = 0.3 * randn(*ns)
        cot = randn(*shape)
        x, w, b = leaf(x_np), leaf(w_np), leaf(b_np)
        out = F.layer_norm(x, ns, w, b, eps)
        loss = (out * torch.from_numpy(cot)).sum()
        add(
            f"layer_norm_{i}_" + "x".join(map(str, shape)) + f"_k{k}",
            "layer_norm",
            {"normalized_shape": list(ns), "eps": eps},
            {"x": x_np, "weight": w_np, "bias": b_np, "cot": cot},
            {"out": out, **grads_of(loss, x=x, weight=w, bias=b)},
        )


# ---------------------------------------------------------------------------
# (c) conv2d

def conv2d_cases():
    specs = [
        # (x shape, w shape, stride, padding, dilation, groups)
        ((2, 3, 7, 7), (4, 3, 3, 3), (2, 2), (1, 1), (1, 1), 1),
        ((1, 2, 6, 5), (3, 2, 3, 3), (2, 2), (1, 1), (1, 1), 1),
        ((2, 4, 6, 6), (6, 2, 3, 3), (2, 2), (1, 1), (1, 1), 2),  # grouped
        ((2, 2, 9, 8), (3, 2, 3, 3), (1, 1), (1, 1), (2, 2), 1),  # dilated
        ((1, 4, 8, 7), (4, 2, 2, 3), (2, 1), (1, 0), (2, 1), 2),  # mixed
        ((2, 3, 5, 5), (2, 3, 1, 1), (1, 1), (0, 0), (1, 1), 1),  # 1x1
    ]
    for i, (xs, ws, stride, pad, dil, groups) in enumerate(specs):
        x_np = randn(*xs)
        w_np = randn(*ws, scale=0.5)
        b_np = randn(ws[0], scale=0.5)
        x, w, b = leaf(x_np), leaf(w_np), leaf(b_np)
        out = F.conv2d(x, w, b, stride=stride, padding=pad, dilation=dil, groups=groups)
        cot = randn(*out.shape)
        loss = (out * torch.from_numpy(cot)).sum()
        add(
            f"conv2d_{i}_s{stride[0]}{stride[1]}_p{pad[0]}{pad[1]}"
            f"_d{dil[0]}{dil[1]}_g{groups}",
            "conv2d",
            {
                "stride": list(stride),
                "padding": list(pad),
                "dilation": list(dil),
                "groups": groups,
            },
            {"x": x_np, "weight": w_np, "bias": b_np, "cot": cot},
            {"out": out, **grads_of(loss, x=x, weight=w, bias=b)},
        )


# ---------------------------------------------------------------------------
# (d) 2-layer MLP with cross-entropy

def mlp_cases():
    specs = [
        # (N, D, H, C, activation)
        (8, 5, 16, 4, "relu"),
        (8, 5, 16, 4, "tanh"),
        (3, 7, 6, 3, "relu"),
        (16, 10, 32, 10, "tanh"),
        (5, 4, 9, 6, "gelu"),
    ]
    acts = {"relu": torch.relu, "tanh": torch.tanh, "gelu": F.gelu}
    for i, (n, d, h, c, act) in enumerate(specs):
        x_np = randn(n, d)
        labels = RNG.integers(0, c, size=n).astype(np.int64)
        w1_np = randn(h, d, scale=1.0 / np.sqrt(d))
        b1_np = randn(h, scale=0.1)
        w2_np = randn(c, h, scale=1.0 / np.sqrt(h))
        b2_np = randn(c, scale=0.1)
        w1, b1, w2, b2 = leaf(w1_np), leaf(b1_np), leaf(w2_np), leaf(b2_np)
        hidden = acts[act](F.linear(torch.from_numpy(x_np), w1, b1))
        logits = F.linear(hidden, w2, b2)
        loss = F.cross_entropy(logits, torch.from_numpy(labels), reduction="mean")
        add(
            f"mlp_{i}_{act}_n{n}_d{d}_h{h}_c{c}",
            "mlp",
            {"activation": act},
            {
                "x": x_np,
                "labels": labels,
                "w1": w1_np,
                "b1": b1_np,
                "w2": w2_np,
                "b2": b2_np,
            },
            {"loss": loss, **grads_of(loss, w1=w1, b1=b1, w2=w2, b2=b2)},
        )


# ---------------------------------------------------------------------------
# pooling

def pool_cases():
    specs = [
        # (x shape, kernel, stride, padding)
        ((2, 3, 6, 6), (2, 2), (2, 2), (0, 0)),
        ((1, 2, 7, 8), (3, 3), (2, 2), (1, 1)),  # overlapping, padded
        ((2, 2, 5, 7), (3, 2), (1, 2), (1, 0)),
        ((1, 1, 6, 6), (3, 3), (1, 1), (0, 0)),  # heavily overlapping
    ]
    for kind, fn in (("max_pool2d", F.max_pool2d), ("avg_pool2d", F.avg_pool2d)):
        for i, (xs, k, s, p) in enumerate(specs):
            x_np = randn(*xs)
            x = leaf(x_np)
            if kind == "max_pool2d":
                out = fn(x, k, s, p, ceil_mode=False)
            else:
                out = fn(x, k, s, p, ceil_mode=False, count_include_pad=True)
            cot = randn(*out.shape)
            loss = (out * torch.from_numpy(cot)).sum()
            add(
                f"{kind}_{i}_k{k[0]}{k[1]}_s{s[0]}{s[1]}_p{p[0]}{p[1]}",
                kind,
                {"kernel": list(k), "stride": list(s), "padding": list(p)},
                {"x": x_np, "cot": cot},
                {"out": out, **grads_of(loss, x=x)},
            )


# ---------------------------------------------------------------------------
# softmax / log_softmax / gelu

def softmax_cases():
    specs = [
        # (shape, axis, scale)
        ((4, 6), -1, 1.0),
        ((4, 6), 0, 2.0),
        ((2, 3, 5), 1, 1.0),
        ((3, 5), -1, 40.0),  # large inputs
        ((7,), 0, 1.0),
    ]
    for kind, fn in (("softmax", F.softmax), ("log_softmax", F.log_softmax)):
        for i, (shape, axis, scale) in enumerate(specs):
            x_np = randn(*shape, scale=scale)
            cot = randn(*shape)
            x = leaf(x_np)
            out = fn(x, dim=axis)
            loss = (out * torch.from_numpy(cot)).sum()
            add(
                f"{kind}_{i}_" + "x".join(map(str, shape)) + f"_axis{axis}",
                kind,
                {"axis": axis},
                {"x": x_np, "cot": cot},
                {"out": out, **grads_of(loss, x=x)},
            )


def gelu_cases():
    specs = [((5, 7), 1.0), ((3, 4, 2), 3.0), ((32,), 6.0)]
    for approximate in ("none", "tanh"):
        for i, (shape, scale) in enumerate(specs):
            x_np = randn(*shape, scale=scale)
            cot = randn(*shape)
            x = leaf(x_np)
            out = F.gelu(x, approximate=approximate)
            loss = (out * torch.from_numpy(cot)).sum()
            add(
                f"gelu_{approximate}_{i}_" + "x".join(map(str, shape)),
                "gelu",
                {"approximate": approximate == "tanh"},
                {"x": x_np, "cot": cot},
                {"out": out, **grads_of(loss, x=x)},
            )


def main():
    cross_entropy_cases()
    layer_norm_cases()
    conv2d_cases()
    mlp_cases()
    pool_cases()
    softmax_cases()
    gelu_cases()
    doc = {
        "generator": "scripts/gen_torch_grad_fixtures.py",
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "seed": SEED,
        "cases": CASES,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    # One case per line, so a regeneration diffs case by case.
    head = json.dumps({k: v for k, v in doc.items() if k != "cases"}, separators=(",", ":"))
    lines = [json.dumps(c, separators=(",", ":"), allow_nan=False) for c in CASES]
    with open(OUT, "w") as f:
        f.write(head[:-1] + ',"cases":[\n' + ",\n".join(lines) + "\n]}\n")
    kinds = {}
    for c in CASES:
        kinds[c["kind"]] = kinds.get(c["kind"], 0) + 1
    summary = ", ".join(f"{k} {v}" for k, v in kinds.items())
    print(f"wrote {len(CASES)} cases ({summary}) to {os.path.normpath(OUT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
