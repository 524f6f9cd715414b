"""How many segments the selective scan should run side by side (``triton_segments``): the
forward and forward+backward times of a few short-grid shapes at forced segment counts.

    python scripts/gpu/segment_sweep.py OUT

Writes ``OUT/segments.md``: one row per shape and count, bf16, Mamba's options (D skip, gate z,
Δ bias and softplus), ``triton.testing.do_bench`` medians. ``default`` is what
``segments_for`` picks for each pass. Needs a GPU; no hydra or mlflow.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import triton.testing

from tsssm.kernels.selective_scan import triton as sst

SHAPES = ((1, 2048, 1024), (1, 2048, 8192), (1, 2048, 65536), (1, 1536, 65536),
          (2, 2048, 16384), (4, 1536, 65536))
COUNTS = (1, 2, 4, 8, 16, 32)


def inputs(batch: int, dim: int, length: int) -> dict[str, torch.Tensor]:
    def normal(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, device="cuda", dtype=torch.bfloat16, requires_grad=True)

    return {"u": normal(batch, length, dim), "delta": normal(batch, length, dim),
            "A": -torch.rand(dim, 16, device="cuda").add(0.5).requires_grad_(True),
            "B": normal(batch, length, 1, 16), "C": normal(batch, length, 1, 16),
            "D": torch.ones(dim, device="cuda", requires_grad=True), "z": normal(batch, length, dim),
            "delta_bias": torch.zeros(dim, device="cuda", requires_grad=True)}


def times(tensors: dict[str, torch.Tensor], segments: int | None) -> tuple[float, float]:
    """(forward ms, forward+backward ms)."""
    def forward() -> torch.Tensor:
        return sst.selective_scan_triton(**tensors, delta_softplus=True, segments=segments)

    grad = torch.randn_like(tensors["u"])
    with torch.no_grad():
        fwd = triton.testing.do_bench(forward, warmup=25, rep=100)
    both = triton.testing.do_bench(lambda: forward().backward(grad), warmup=25, rep=100,
                                   grad_to_none=list(tensors.values()))
    return fwd, both


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    lines = [f"# Selective scan segments on {torch.cuda.get_device_name()}", "",
             "`python scripts/gpu/segment_sweep.py OUT`; bf16, N 16, chunk 16, D skip, gate, "
             "Δ bias + softplus; do_bench medians (ms).", "",
             "| B | D | L | segments | fwd ms | fwd+bwd ms |", "|---:|---:|---:|---|---:|---:|"]
    for batch, dim, length in SHAPES:
        tensors = inputs(batch, dim, length)
        defaults = (sst.segments_for(batch, dim, length, 16, sst.FORWARD),
                    sst.segments_for(batch, dim, length, 16, sst.BACKWARD))
        for count in (*COUNTS, None):
            fwd, both = times(tensors, count)
            label = f"default ({defaults[0]} / {defaults[1]})" if count is None else str(count)
            lines.append(f"| {batch} | {dim} | {length} | {label} | {fwd:.3f} | {both:.3f} |")
            print(lines[-1], flush=True)
        del tensors
        torch.cuda.empty_cache()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "segments.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
