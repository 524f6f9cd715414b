"""The exponentials per second the GPU actually takes: the measured side of the scan's exp floor.

    python scripts/gpu/exp_rate.py OUT [--iterations 4096]

``tsssm.benchmarks.floors`` rates the special-function units at 16 exponentials per clock per SM
(the device's SM count × its clock × 16), a figure from the architecture, not a measurement. Here
a Triton kernel takes ``exp2`` as the scan does (``exp(ΔA)`` is ``exp2(ΔA · log2 e)``, one MUFU
instruction) over ``CHAINS`` independent chains per element, ``--iterations`` times each, on enough
programs to fill every SM; the rate is its exponentials over its ``do_bench`` median. Writes
``OUT/exp_rate.md`` beside the architectural figure. Needs a GPU; no hydra or mlflow.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import triton
import triton.language as tl

from tsssm.benchmarks.floors import exp_rate

CHAINS = 4
"""Independent exp2 chains per element: enough in flight that the MUFU's latency hides."""
BLOCK = 1024
DECAY = -0.75
"""A step is ``x ← exp2(DECAY · x)``: from starts in [0, 1.75] the chains stay in (0.35, 1]."""


@triton.jit
def exp_chains_kernel(out_ptr, iterations, DECAY: tl.constexpr, BLOCK: tl.constexpr):
    """Four chains of ``x ← exp2(DECAY · x)`` per element, summed into ``out`` (so they
    are not compiled away): ``iterations · CHAINS`` exponentials per element."""
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    start = (offsets % 97).to(tl.float32) / 97.0
    a, b, c, d = start, start + 0.25, start + 0.5, start + 0.75
    for _ in range(iterations):
        a = tl.exp2(a * DECAY)
        b = tl.exp2(b * DECAY)
        c = tl.exp2(c * DECAY)
        d = tl.exp2(d * DECAY)
    tl.store(out_ptr + offsets, a + b + c + d)


def expected_sums(n: int, iterations: int) -> torch.Tensor:
    """What the kernel writes for ``n`` elements, computed by torch in float64."""
    start = (torch.arange(n, dtype=torch.float64) % 97) / 97.0
    chains = torch.stack([start + 0.25 * k for k in range(CHAINS)])
    for _ in range(iterations):
        chains = torch.exp2(chains * DECAY)
    return chains.sum(0)


def run(out: torch.Tensor, iterations: int) -> None:
    """Launch over ``out``'s elements, one program per ``BLOCK`` of them."""
    grid = (triton.cdiv(out.numel(), BLOCK),)
    exp_chains_kernel[grid](out, iterations, DECAY=DECAY, BLOCK=BLOCK)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--iterations", type=int, default=4096)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    props = torch.cuda.get_device_properties(0)
    programs = props.multi_processor_count * 16
    out = torch.empty(programs * BLOCK, device="cuda")
    run(out, args.iterations)
    torch.testing.assert_close(out.double().cpu(), expected_sums(out.numel(), args.iterations),
                               rtol=1e-4, atol=1e-4)
    ms = triton.testing.do_bench(lambda: run(out, args.iterations))
    measured = out.numel() * args.iterations * CHAINS / (ms * 1e-3)
    figure, source = exp_rate(props.multi_processor_count, getattr(props, "clock_rate", None))
    lines = [f"# Exponentials per second on {torch.cuda.get_device_name()}", "",
             f"`python scripts/gpu/exp_rate.py OUT --iterations {args.iterations}`; torch "
             f"{torch.__version__}, triton {triton.__version__}; {programs} programs × {BLOCK} "
             f"elements × {CHAINS} chains × {args.iterations} exp2, do_bench median {ms:.3f} ms.",
             "", "| rate | exp/s |", "|---|---:|",
             f"| measured (`tl.exp2`, fp32) | {measured:.3e} |",
             f"| architectural: {source} | {figure:.3e} |"]
    (args.out / "exp_rate.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
