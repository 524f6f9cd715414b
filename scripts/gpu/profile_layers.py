"""Where a layer's time goes on the GPU: the kernels of one training step of a Mamba layer and an
attention layer (the kernel benchmark's mixer section: d_model 1024, bf16, batch 1).

    python scripts/gpu/profile_layers.py OUT [--lengths 2048,8192,65536]

For each layer and length it runs forward+backward a few times under ``torch.profiler`` and writes
``OUT/profile.md``: the wall time of a step (CUDA events), the summed time of its kernels (when the
sum is far below the wall time, the GPU waits for Python to launch them), and its kernels by total
time. Needs a GPU; no hydra or mlflow.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from tsssm.benchmarks.mixer import layers
from tsssm.benchmarks.step_profile import profile_step

WARMUP, STEPS, TOP = 3, 5, 14


def training_step(layer: torch.nn.Module, x: torch.Tensor, grad: torch.Tensor) -> None:
    """Gradients start unset, as after an optimizer's ``zero_grad`` and in the benchmark's rows
    (``grad_to_none``): accumulating them would add one elementwise sum a parameter."""
    layer.zero_grad(set_to_none=True)
    x.grad = None
    layer(x).backward(grad)


def layer_step(layer: torch.nn.Module, length: int) -> list[str]:
    """Markdown lines for one layer at one length."""
    x = torch.randn(1, length, 1024, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    grad = torch.randn_like(x)
    found = profile_step(lambda: training_step(layer, x, grad), STEPS, WARMUP)
    return found.markdown(f"{type(layer).__name__} L {length}", TOP)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--lengths", default="2048,8192,65536")
    args = parser.parse_args()
    lengths = [int(item) for item in args.lengths.split(",")]
    lines = [f"# Layer profiles on {torch.cuda.get_device_name()}", "",
             f"`python scripts/gpu/profile_layers.py OUT --lengths {args.lengths}`; torch "
             f"{torch.__version__}; forward+backward of batch 1, bf16, d_model 1024, mean of "
             f"{STEPS} steps after {WARMUP}.", ""]
    for kind, layer in layers().items():
        for length in lengths:
            lines += layer_step(layer, length)
            print("\n".join(lines[-TOP - 8:]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "profile.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
