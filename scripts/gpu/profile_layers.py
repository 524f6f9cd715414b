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
from collections import defaultdict
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from tsssm.benchmarks.mixer import layers

WARMUP, STEPS, TOP = 3, 5, 14


def training_step(layer: torch.nn.Module, x: torch.Tensor, grad: torch.Tensor) -> None:
    layer(x).backward(grad)


def profile_step(layer: torch.nn.Module, length: int) -> list[str]:
    """Markdown lines for one layer at one length."""
    x = torch.randn(1, length, 1024, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    grad = torch.randn_like(x)
    for _ in range(WARMUP):
        training_step(layer, x, grad)
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        start.record()
        for _ in range(STEPS):
            training_step(layer, x, grad)
        end.record()
        torch.cuda.synchronize()
    wall_ms = start.elapsed_time(end) / STEPS
    kernels: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    for event in prof.events():
        if event.device_type == torch.autograd.DeviceType.CUDA:
            kernels[event.name][0] += event.device_time / 1e3 / STEPS
            kernels[event.name][1] += 1 / STEPS
    busy_ms = sum(total for total, _ in kernels.values())
    launches = sum(count for _, count in kernels.values())
    lines = [f"### {type(layer).__name__} L {length}", "",
             f"step {wall_ms:.3f} ms wall; kernels {busy_ms:.3f} ms ({busy_ms / wall_ms:.0%} busy), "
             f"{launches:.0f} kernels per step", "",
             "| kernel | ms per step | calls per step |", "|---|---:|---:|"]
    ranked = sorted(kernels.items(), key=lambda item: -item[1][0])
    lines += [f"| `{name[:110]}` | {total:.3f} | {count:.0f} |" for name, (total, count)
              in ranked[:TOP]]
    return lines + [""]


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
            lines += profile_step(layer, length)
            print("\n".join(lines[-TOP - 8:]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "profile.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
