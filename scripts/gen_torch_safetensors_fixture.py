#!/usr/bin/env python3
"""Generate the PyTorch -> Kiln safetensors interop fixture.

Creates a 784-256-10 MLP (Linear, ReLU, Linear) with a fixed seed, saves its
state_dict as crates/kiln-nn/tests/fixtures/torch_mlp.safetensors (names
fc1.weight, fc1.bias, fc2.weight, fc2.bias; f32, little-endian) and a JSON
file torch_mlp.json with a 4x784 input batch and the torch outputs (4x10).

Requires: torch, safetensors (`pip install safetensors`).
Run from the repository root: python3 scripts/gen_torch_safetensors_fixture.py
"""
import json
import os

import torch
from safetensors.torch import save_file

OUT = os.path.join("crates", "kiln-nn", "tests", "fixtures")


class Mlp(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(784, 256)
        self.fc2 = torch.nn.Linear(256, 10)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def main():
    torch.manual_seed(1234)
    model = Mlp().eval()
    x = torch.randn(4, 784, dtype=torch.float32)
    with torch.no_grad():
        y = model(x)
    os.makedirs(OUT, exist_ok=True)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    assert sorted(state) == ["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"]
    save_file(state, os.path.join(OUT, "torch_mlp.safetensors"), metadata={"source": "torch"})
    with open(os.path.join(OUT, "torch_mlp.json"), "w") as f:
        json.dump(
            {
                "input_shape": list(x.shape),
                "input": [float(v) for v in x.flatten().tolist()],
                "output_shape": list(y.shape),
                "output": [float(v) for v in y.flatten().tolist()],
            },
            f,
        )
    print("wrote", OUT, "torch", torch.__version__)


if __name__ == "__main__":
    main()
