#!/usr/bin/env python3
"""PyTorch baseline of Kiln's main job, for the Kiln-vs-PyTorch comparison in
the README.

It does what `cargo run --release --example mnist` does (see
`crates/kiln/examples/mnist.rs` and `crates/kiln-data/src/mnist.rs`), with
PyTorch on the CPU:

* data: the SAME bundled files, `data/mnist/{train,t10k}-{images-idx3,
  labels-idx1}-ubyte.gz` (or `$KILN_DATA_DIR/mnist`), read with gzip + NumPy
  (IDX format: big-endian header, magic 2051 for images, 2049 for labels); no
  torchvision, no download. Pixels are scaled to [0, 1], then normalized with
  mean 0.1307 / std 0.3081;
* model: 784-256-10 MLP with ReLU, PyTorch's default `nn.Linear` init;
* training: cross-entropy (mean), Adam lr 1e-3 with PyTorch's defaults
  (betas 0.9/0.999, eps 1e-8, no weight decay), batch 64, reshuffled every
  epoch, last partial batch kept, 3 epochs;
* report: after every epoch, the train loss (mean over samples), the test
  accuracy (test batches of 1000, no grad) and the epoch's training time and
  throughput, in the same format as Kiln's example, e.g.

      epoch 1: train loss 0.2225  test accuracy 96.60%  (6.7 s, 9005 samples/s)

The seed fixes torch's RNG (init) and the shuffling generator; Kiln's RNG is
different, so the two runs agree statistically (accuracy within the seed
spread), not bit for bit. Thread count defaults to 2 to match a small CPU box.

Run from anywhere (the CPU build of torch from PyPI is enough):

    pip install torch numpy && python3 scripts/train_mnist_torch.py
    python3 scripts/train_mnist_torch.py --epochs 1 --batch-size 128 --seed 7 --threads 4
"""

import argparse
import gzip
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN, STD = 0.1307, 0.3081
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049


def data_dir() -> Path:
    """`$KILN_DATA_DIR/mnist` when set, else the repository's `data/mnist`."""
    env = os.environ.get("KILN_DATA_DIR")
    base = Path(env) if env else Path(__file__).resolve().parent.parent / "data"
    return base / "mnist"


def read_idx(path: Path, magic: int) -> np.ndarray:
    """Reads a gzipped (or plain, if only that exists) IDX file of uint8."""
    if not path.exists() and path.with_suffix("").exists():
        path = path.with_suffix("")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    got = int.from_bytes(raw[0:4], "big")
    if got != magic:
        raise ValueError(f"{path}: magic {got}, expected {magic}")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: {data.size} bytes of data for shape {shape}")
    return data.reshape(shape)


def load(split: str, d: Path):
    """Images float32 [N, 784] normalized, labels int64 [N]."""
    images = read_idx(d / f"{split}-images-idx3-ubyte.gz", IMAGES_MAGIC)
    labels = read_idx(d / f"{split}-labels-idx1-ubyte.gz", LABELS_MAGIC)
    if images.ndim != 3 or images.shape[1] * images.shape[2] != 784:
        raise ValueError(f"{split} images have shape {images.shape}, expected [N, 28, 28]")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{split}: {images.shape[0]} images but {labels.shape[0]} labels")
    x = (images.reshape(-1, 784).astype(np.float32) / 255.0 - MEAN) / STD
    return torch.from_numpy(x), torch.from_numpy(labels.astype(np.int64))


class Mlp(nn.Module):
    """784-256-10 with ReLU."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 256)
        self.fc2 = nn.Linear(256, 10)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


@torch.no_grad()
def evaluate(model, x, y, batch=1000) -> float:
    correct = 0
    for i in range(0, len(y), batch):
        correct += (model(x[i : i + batch]).argmax(-1) == y[i : i + batch]).sum().item()
    return correct / len(y)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    a = p.parse_args()
    if a.batch_size <= 0:
        p.error("batch size must be positive")

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    d = data_dir()
    print(f"Loading MNIST from {d}")
    x_train, y_train = load("train", d)
    x_test, y_test = load("t10k", d)
    n_train = len(y_train)

    model = Mlp()
    n_params = sum(t.numel() for t in model.parameters())
    lr = 1e-3
    print(
        f"Model mlp with {n_params} parameters; Adam lr {lr}, batch {a.batch_size}, "
        f"{a.epochs} epochs, seed {a.seed} (torch {torch.__version__}, {a.threads} threads)"
    )
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    shuffle = torch.Generator().manual_seed(a.seed)

    for epoch in range(a.epochs):
        model.train()
        start = time.perf_counter()
        loss_sum, seen = 0.0, 0
        perm = torch.randperm(n_train, generator=shuffle)
        for i in range(0, n_train, a.batch_size):  # no drop_last
            idx = perm[i : i + a.batch_size]
            x, y = x_train[idx], y_train[idx]
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(y)
            seen += len(y)
        secs = time.perf_counter() - start
        model.eval()
        acc = evaluate(model, x_test, y_test)
        print(
            f"epoch {epoch + 1}: train loss {loss_sum / seen:.4f}  "
            f"test accuracy {100 * acc:.2f}%  ({secs:.1f} s, {n_train / secs:.0f} samples/s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
