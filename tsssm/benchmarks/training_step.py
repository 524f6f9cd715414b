"""The cost of one training step of a sequence model against the sequence length (claim C1).

A step is what a trainer does per batch: the forward pass on random tokens ``(batch, length)``,
the cross-entropy against the next tokens, the backward pass and an AdamW update. Its time is the
median of ``repeats`` steps after one warm-up step (which compiles and autotunes the kernels), in
CUDA-synchronised wall time; its memory is the peak allocated during a step, the counter reset
before each (None on the CPU, which has no allocator statistics).
"""

from __future__ import annotations

import statistics

import torch
import torch.nn.functional as F

from tsssm.benchmarks.generation import VOCAB_SIZE, Clock
from tsssm.benchmarks.timing import release
from tsssm.models.language_model import LanguageModel


def step_cost(model: LanguageModel, length: int, batch: int, clock: Clock,
              generator: torch.Generator, repeats: int = 5) -> tuple[float, int | None]:
    """Median seconds of a training step at ``length`` tokens and the step's peak memory in
    bytes (module docstring); an out-of-memory error goes to the caller."""
    device = next(model.parameters()).device
    ids = torch.randint(VOCAB_SIZE, (batch, length + 1), generator=generator).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        logits = model(ids[:, :-1])
        F.cross_entropy(logits.flatten(0, 1).float(), ids[:, 1:].flatten()).backward()
        optimizer.step()

    try:
        step()
        seconds, peaks = [], []
        for _ in range(repeats):
            clock.reset_peak()
            start = clock.now()
            step()
            seconds.append(clock.now() - start)
            peaks.append(clock.peak_bytes())
    finally:
        optimizer.zero_grad(set_to_none=True)
        release()
    return statistics.median(seconds), peaks[-1] if peaks[-1] is None else max(peaks)
