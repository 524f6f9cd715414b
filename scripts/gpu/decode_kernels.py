"""Kernels and time of one decode step of a sequence preset, the eager block step beside the fused
one (``Mamba(step_backend=...)``: "reference" steps eagerly, "auto" runs the fused kernels).

    python scripts/gpu/decode_kernels.py OUT [--models mamba] [--batches 1,3,16]
        [--dtypes fp32,bf16]

For each case it counts the CUDA kernels of one model step, of one layer's block step and of one
replay of the step's CUDA graph (torch.profiler), with the summed device time of the layer's
kernels, and times decoding from the graph as ``python -m tsssm.bench generation`` does (a
context of 1024, 256 steps). Writes OUT/decode_kernels.md and OUT/decode_kernels.json. Needs a
GPU and hydra.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from tsssm.benchmarks.generation import (DTYPES, VOCAB_SIZE, Clock, GenerationRow, measure,
                                         preset_language_model)

BACKENDS = ("reference", "auto")
CONTEXT, NEW_TOKENS = 1024, 256
PROMPT = 64  # the kernel counts' prompt; its states have room for as many steps


def kernels_of(run: Callable[[], object]) -> tuple[Counter, float]:
    """The kernels one call of ``run`` launches (name -> count) and their summed device µs."""
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        run()
        torch.cuda.synchronize()
    names: Counter = Counter()
    busy_us = 0.0
    for event in prof.events():
        if event.device_type == torch.autograd.DeviceType.CUDA:
            names[event.name] += 1
            busy_us += event.device_time
    return names, busy_us


@torch.no_grad()
def case(name: str, backend: str, batch: int, dtype: str) -> dict[str, object]:
    torch.manual_seed(0)
    override = f"model.backbone.mixers.m.step_backend={backend}"
    model = preset_language_model(name, [override]).to("cuda", DTYPES[dtype]).eval()
    row = GenerationRow(name, sum(p.numel() for p in model.parameters()), batch, CONTEXT,
                        NEW_TOKENS)
    measure(model, row, Clock(torch.device("cuda")), torch.Generator().manual_seed(0))
    ids = torch.randint(VOCAB_SIZE, (batch, PROMPT), device="cuda")
    logits, states = model.prefill(ids, capacity=2 * PROMPT)
    next_ids = logits.argmax(-1)
    model.step(next_ids, states)
    model_kernels, _ = kernels_of(lambda: model.step(next_ids, states))
    x = model.embed(next_ids)
    layer_kernels, layer_us = kernels_of(lambda: model.backbone.blocks[0].step(x, states[0]))
    graphed = model.decoder(next_ids, states, PROMPT + 3)  # two model steps, one of layer 0
    graph_kernels, _ = kernels_of(lambda: graphed(next_ids, states))
    return {"model": name, "step_backend": backend, "batch": batch, "dtype": dtype,
            "layers": len(model.backbone.blocks), "model_step_kernels": sum(model_kernels.values()),
            "layer_step_kernels": sum(layer_kernels.values()), "layer_kernel_us": layer_us,
            "layer_kernel_names": dict(layer_kernels),
            "graph_replay_kernels": sum(graph_kernels.values()),
            "graph_ms_per_step": row.step_ms, "note": row.note}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--models", default="mamba")
    parser.add_argument("--batches", default="1,3,16")
    parser.add_argument("--dtypes", default="fp32,bf16")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    lines = ["| model | dtype | batch | step backend | kernels / model step | kernels / layer step "
             "| layer kernels µs | kernels / graph replay | ms / step (graph) |",
             "|---|---|---:|---|---:|---:|---:|---:|---:|"]
    for name in args.models.split(","):
        for dtype in args.dtypes.split(","):
            for batch in map(int, args.batches.split(",")):
                for backend in BACKENDS:
                    row = case(name, backend, batch, dtype)
                    rows.append(row)
                    step_ms = row["graph_ms_per_step"]
                    lines.append(
                        f"| {name} | {dtype} | {batch} | {backend} | {row['model_step_kernels']} "
                        f"| {row['layer_step_kernels']} | {row['layer_kernel_us']:.1f} "
                        f"| {row['graph_replay_kernels']} "
                        f"| {'-' if step_ms is None else f'{step_ms:.4f}'} |")
                    print(lines[-1], flush=True)
    (args.out / "decode_kernels.md").write_text("\n".join(lines) + "\n")
    (args.out / "decode_kernels.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
