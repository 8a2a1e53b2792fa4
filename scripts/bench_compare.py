#!/usr/bin/env python3
"""Compare Kiln with NumPy and PyTorch on the kiln-bench workloads.

Runs the workloads of `crates/kiln-bench` (matmul, elementwise, reduce, conv
and the copy reference) with NumPy and, if importable, PyTorch, using the
same timing method as kiln-bench (warm-up calls, then samples until at least
5 samples and 0.3 s, ~5 samples for slow cases; median and min). It also
runs `cargo run --release -p kiln-bench -- --json --threads N` and prints a
Markdown table: workload | unit | Kiln | NumPy | PyTorch, plus ratios.

Usage:
    python3 scripts/bench_compare.py [--threads N] [--no-kiln] [--no-torch]
                                     [--json-out FILE]

Thread counts are fixed through OPENBLAS_NUM_THREADS / OMP_NUM_THREADS /
MKL_NUM_THREADS (set before NumPy is imported) and torch.set_num_threads.
Set CARGO_TARGET_DIR in the environment to choose Kiln's build directory.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
REPO = Path(__file__).resolve().parent.parent

M = 1 << 20
FLAT = 16 * M  # 16M f32 = 64 MiB, the copy reference and the big arrays
SIDE = 4096
CONV = (32, 64, 56, 56)
F32 = 4


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2, help="threads for every library (default 2)")
    p.add_argument("--no-kiln", action="store_true", help="skip running kiln-bench through cargo")
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch even if importable")
    p.add_argument("--json-out", metavar="FILE", help="write every result as JSON to FILE")
    return p.parse_args()


ARGS = parse_args()
# Before NumPy (and its BLAS) is imported.
for var in THREAD_VARS:
    os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402

try:
    if ARGS.no_torch:
        raise ImportError("--no-torch")
    import torch  # noqa: E402
    import torch.nn.functional as F  # noqa: E402

    torch.set_num_threads(ARGS.threads)
except ImportError:
    torch = None


# ---------------------------------------------------------------- workloads

class Workload:
    """One benchmark case, keyed like kiln-bench's JSON rows."""

    def __init__(self, suite, name, dtype, shape, unit, work, slow=False, label=None):
        self.suite, self.name, self.dtype, self.shape = suite, name, dtype, tuple(shape)
        self.unit = unit  # "gflops" or "gbps"
        self.work = work  # flops or bytes per call
        self.slow = slow
        self.label = label or f"{name} {dtype} {'x'.join(map(str, shape))}"

    @property
    def key(self):
        return (self.suite, self.name, self.dtype, self.shape)


def workloads():
    out = [Workload("ref", "copy", "f32", [FLAT], "gbps", 2 * FLAT * F32, label="copy 64 MiB (ref)")]
    for n in (256, 1024, 2048):
        for dt in ("f32", "bf16", "f16"):
            out.append(Workload("matmul", "matmul", dt, [n, n], "gflops", 2.0 * n ** 3,
                                slow=n >= 1024, label=f"matmul {dt} n={n}"))
    for n, tag in ((M, "1M"), (FLAT, "16M")):
        for op, inputs in (("add", 2), ("mul", 2), ("exp", 1), ("tanh", 1), ("selu", 1)):
            out.append(Workload("elementwise", op, "f32", [n], "gbps", (inputs + 1) * n * F32,
                                label=f"{op} f32 {tag}"))
    whole, line = SIDE * SIDE * F32, SIDE * F32
    out += [
        Workload("reduce", "sum_all", "f32", [FLAT], "gbps", FLAT * F32, label="sum f32 16M"),
        Workload("reduce", "sum_rows", "f32", [SIDE, SIDE], "gbps", whole + line,
                 label="sum rows 4096x4096"),
        Workload("reduce", "sum_cols", "f32", [SIDE, SIDE], "gbps", whole + line,
                 label="sum cols 4096x4096"),
        Workload("reduce", "softmax_rows", "f32", [SIDE, SIDE], "gbps", 2 * whole,
                 label="softmax rows 4096x4096"),
        Workload("reduce", "logsumexp_rows", "f32", [SIDE, SIDE], "gbps", whole + line,
                 label="logsumexp rows 4096x4096"),
    ]
    n, c, h, w = CONV
    out += [
        Workload("conv", "conv2d_3x3", "f32", CONV, "gflops", 2.0 * n * c * c * 9 * h * w,
                 slow=True, label="conv2d 3x3 32x64x56x56"),
        Workload("conv", "max_pool2d_2x2", "f32", CONV, "gbps",
                 (n * c * h * w + n * c * (h // 2) * (w // 2)) * F32, label="max_pool2d 2x2"),
    ]
    return out


# ------------------------------------------------------------------- timing

def measure(fn, slow):
    """kiln-bench's method: warm-up, then samples until >= 5 and >= 0.3 s
    (max 200), or 5 samples for slow cases; stop after 3 once past the time
    cap. A single call over 10 s is reported as one sample."""
    warmup, min_samples, max_samples, min_time, max_time = (
        (1, 5, 5, 0.0, 4.0) if slow else (2, 5, 200, 0.3, 3.0))
    t = time.perf_counter()
    fn()
    first = time.perf_counter() - t
    if first > 10.0:
        return [first]
    for _ in range(warmup - 1):
        fn()
    samples = []
    start = time.perf_counter()
    while True:
        spent = time.perf_counter() - start
        n = len(samples)
        if n >= max_samples or (n >= min_samples and spent >= min_time) or (
                n >= min(3, min_samples) and spent >= max_time):
            break
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return samples


def row(backend, wl, samples):
    s = sorted(samples)
    k = len(s)
    median = s[k // 2] if k % 2 else (s[k // 2 - 1] + s[k // 2]) / 2
    return {
        "backend": backend, "suite": wl.suite, "name": wl.name, "dtype": wl.dtype,
        "shape": list(wl.shape), "threads": ARGS.threads, "median_s": median, "min_s": s[0],
        "samples": k, wl.unit: wl.work / median / 1e9,
    }


# -------------------------------------------------------------------- NumPy

SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805


def numpy_case(wl, rng):
    """A zero-argument callable running `wl` with NumPy, or None."""
    f32 = np.float32
    if wl.suite == "ref":
        src = rng.standard_normal(FLAT, dtype=f32)
        dst = np.empty_like(src)
        dst.fill(1.0)  # fault the pages in
        return lambda: np.copyto(dst, src)
    if wl.suite == "matmul":
        n = wl.shape[0]
        if wl.dtype == "bf16" or (wl.dtype == "f16" and n > 256):
            return None  # no bf16; f16 matmul has no BLAS path and is very slow
        dt = f32 if wl.dtype == "f32" else np.float16
        a = rng.standard_normal((n, n), dtype=f32).astype(dt)
        b = rng.standard_normal((n, n), dtype=f32).astype(dt)
        return lambda: a @ b
    if wl.suite == "elementwise":
        x = rng.standard_normal(wl.shape, dtype=f32)
        y = rng.standard_normal(wl.shape, dtype=f32)
        return {
            "add": lambda: x + y,
            "mul": lambda: x * y,
            "exp": lambda: np.exp(x),
            "tanh": lambda: np.tanh(x),
            "selu": lambda: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * (np.exp(x) - 1)),
        }[wl.name]
    if wl.suite == "reduce":
        x = rng.standard_normal(wl.shape, dtype=f32)

        def softmax():
            e = np.exp(x - x.max(axis=-1, keepdims=True))
            return e / e.sum(axis=-1, keepdims=True)

        def logsumexp():
            m = x.max(axis=-1, keepdims=True)
            return np.log(np.exp(x - m).sum(axis=-1)) + m[:, 0]

        return {
            "sum_all": lambda: x.sum(),
            "sum_rows": lambda: x.sum(axis=1),
            "sum_cols": lambda: x.sum(axis=0),
            "softmax_rows": softmax,
            "logsumexp_rows": logsumexp,
        }[wl.name]
    if wl.suite == "conv" and wl.name == "max_pool2d_2x2":
        n, c, h, w = wl.shape
        x = rng.standard_normal(wl.shape, dtype=f32)
        return lambda: x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))
    return None  # conv2d: NumPy has none


# ------------------------------------------------------------------ PyTorch

def torch_case(wl, gen):
    """A zero-argument callable running `wl` with PyTorch, or None."""
    dtypes = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}

    def randn(shape, dtype="f32"):
        return torch.randn(tuple(shape), generator=gen).to(dtypes[dtype]).contiguous()

    if wl.suite == "ref":
        src = randn([FLAT])
        dst = torch.ones_like(src)
        return lambda: dst.copy_(src)
    if wl.suite == "matmul":
        a, b = randn(wl.shape, wl.dtype), randn(wl.shape, wl.dtype)
        return lambda: torch.matmul(a, b)
    if wl.suite == "elementwise":
        x, y = randn(wl.shape), randn(wl.shape)
        return {
            "add": lambda: torch.add(x, y),
            "mul": lambda: torch.mul(x, y),
            "exp": lambda: torch.exp(x),
            "tanh": lambda: torch.tanh(x),
            "selu": lambda: F.selu(x),
        }[wl.name]
    if wl.suite == "reduce":
        x = randn(wl.shape)
        return {
            "sum_all": lambda: x.sum(),
            "sum_rows": lambda: x.sum(dim=1),
            "sum_cols": lambda: x.sum(dim=0),
            "softmax_rows": lambda: torch.softmax(x, dim=-1),
            "logsumexp_rows": lambda: torch.logsumexp(x, dim=-1),
        }[wl.name]
    if wl.suite == "conv":
        x = randn(wl.shape)
        if wl.name == "conv2d_3x3":
            w = randn([64, 64, 3, 3])
            return lambda: F.conv2d(x, w, padding=1)
        return lambda: F.max_pool2d(x, 2)
    return None


# -------------------------------------------------------------------- Kiln

def run_kiln():
    """Runs kiln-bench through cargo; returns (rows, summary lines)."""
    cmd = ["cargo", "run", "--release", "-p", "kiln-bench", "--",
           "--json", "--threads", str(ARGS.threads)]
    print(f"$ {' '.join(cmd)}", file=sys.stderr, flush=True)
    # kiln-bench's human table goes to stderr (shown live); JSON to stdout.
    proc = subprocess.run(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        print(f"kiln-bench exited with {proc.returncode}", file=sys.stderr)
    rows, summary = [], []
    for line in proc.stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        obj = json.loads(line)
        obj["backend"] = "kiln"
        (summary if obj.get("suite") == "summary" else rows).append(obj)
    return rows, summary


def run_python(backend, make_case, seed_obj, wls):
    rows = []
    rates = {}  # (suite, dtype) -> rate of the last case, to project the next
    for wl in wls:
        last = rates.get((wl.suite, wl.dtype))
        if wl.suite == "matmul" and last and wl.work / (last * 1e9) > MAX_PROJECTED_S:
            # e.g. PyTorch bf16/f16 on CPUs without native support: minutes a call.
            print(f"{backend:<6} {wl.label:<28} skipped: projected "
                  f"{wl.work / (last * 1e9):.0f} s a call", file=sys.stderr)
            continue
        fn = make_case(wl, seed_obj)
        if fn is None:
            continue
        try:
            r = row(backend, wl, measure(fn, wl.slow))
        except Exception as e:  # an op a version lacks: skip, say so
            print(f"{backend} {wl.label}: {e}", file=sys.stderr)
            continue
        del fn
        rows.append(r)
        rate = r[wl.unit]
        rates[(wl.suite, wl.dtype)] = rate
        print(f"{backend:<6} {wl.label:<28} {r['median_s'] * 1e3:10.3f} ms "
              f"{rate:9.2f} {UNITS[wl.unit]}", file=sys.stderr, flush=True)
    return rows


# ------------------------------------------------------------------- report

UNITS = {"gflops": "GFLOP/s", "gbps": "GB/s"}
# A matmul whose time a call, projected from the previous size, exceeds this
# is skipped.
MAX_PROJECTED_S = 5.0


def cell(r, wl):
    if r is None:
        return "-"
    return f"{r[wl.unit]:.1f} ({r['median_s'] * 1e3:.2f} ms)"


def ratio(a, b, wl):
    if a is None or b is None:
        return "-"
    return f"{a[wl.unit] / b[wl.unit]:.2f}"


def report(wls, results, kiln_summary):
    index = {b: {(r["suite"], r["name"], r["dtype"], tuple(r["shape"])): r for r in rows}
             for b, rows in results.items()}
    get = lambda b, wl: index.get(b, {}).get(wl.key)  # noqa: E731
    out = [
        f"Threads: {ARGS.threads}. Rates from median times (ms in parentheses); "
        "ratios are Kiln rate / other rate (> 1: Kiln faster).",
        "",
        "| workload | unit | Kiln | NumPy | PyTorch | Kiln/NumPy | Kiln/PyTorch |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for wl in wls:
        k, n, t = get("kiln", wl), get("numpy", wl), get("torch", wl)
        if k is None and n is None and t is None:
            continue
        out.append(f"| {wl.label} | {UNITS[wl.unit]} | {cell(k, wl)} | {cell(n, wl)} | "
                   f"{cell(t, wl)} | {ratio(k, n, wl)} | {ratio(k, t, wl)} |")

    def pct(name, a_backend, b_backend, key):
        wl = next(w for w in wls if w.key == key)
        a, b = get(a_backend, wl), get(b_backend, wl)
        if a is not None and b is not None:
            out.append(f"- {name}: {100 * a[wl.unit] / b[wl.unit]:.0f}%")

    out += ["", "Key ratios:"]
    mm = lambda dt, n: ("matmul", "matmul", dt, (n, n))  # noqa: E731
    pct("Kiln f32 matmul 2048 as % of NumPy (OpenBLAS)", "kiln", "numpy", mm("f32", 2048))
    pct("Kiln f32 matmul 2048 as % of PyTorch", "kiln", "torch", mm("f32", 2048))
    pct("Kiln bf16 matmul 2048 as % of PyTorch bf16", "kiln", "torch", mm("bf16", 2048))
    pct("Kiln f16 matmul 2048 as % of PyTorch f16", "kiln", "torch", mm("f16", 2048))
    pct("Kiln add 16M as % of NumPy", "kiln", "numpy", ("elementwise", "add", "f32", (FLAT,)))
    pct("Kiln exp 16M as % of PyTorch", "kiln", "torch", ("elementwise", "exp", "f32", (FLAT,)))
    pct("Kiln softmax 4096x4096 as % of PyTorch", "kiln", "torch",
        ("reduce", "softmax_rows", "f32", (SIDE, SIDE)))
    pct("Kiln conv2d 3x3 as % of PyTorch", "kiln", "torch", ("conv", "conv2d_3x3", "f32", CONV))
    pct("Kiln copy reference as % of NumPy copyto", "kiln", "numpy", ("ref", "copy", "f32", (FLAT,)))

    if kiln_summary:
        out += ["", "Kiln's own checks (kiln-bench summary):", ""]
        out += ["| check | value | target | verdict |", "| --- | ---: | --- | --- |"]
        for s in kiln_summary:
            if "target" not in s:
                continue
            v = "n/a" if s["value"] is None else f"{s['value']:.3f}"
            verdict = {True: "PASS", False: "MISS", None: "n/a"}[s["pass"]]
            out.append(f"| {s['about']} | {v} | {s['target']} | {verdict} |")
        for s in kiln_summary:
            if "target" not in s:
                out.append(f"- {s['name']}: {s['value']:.2f}")
    return "\n".join(out)


def main():
    wls = workloads()
    results, kiln_summary = {}, []
    if not ARGS.no_kiln:
        results["kiln"], kiln_summary = run_kiln()
    results["numpy"] = run_python("numpy", numpy_case, np.random.default_rng(0), wls)
    if torch is not None:
        gen = torch.Generator().manual_seed(0)
        with torch.inference_mode():
            results["torch"] = run_python("torch", torch_case, gen, wls)
    else:
        print("PyTorch not importable: skipping it", file=sys.stderr)

    print(report(wls, results, kiln_summary))
    if ARGS.json_out:
        versions = {"numpy": np.__version__, "torch": torch.__version__ if torch else None}
        with open(ARGS.json_out, "w") as f:
            json.dump({"threads": ARGS.threads, "versions": versions, "results": results,
                       "kiln_summary": kiln_summary}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
