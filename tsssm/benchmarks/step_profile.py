"""Where a step's time goes on the GPU: a callable run a few times under ``torch.profiler``, its
kernels tallied. When their summed time is far below the step's wall time, the GPU waits for the
host to launch them; when not, the kernels at the top of the tally are what to make faster.
Used by ``scripts/gpu/profile_layers.py`` (a mixer layer) and ``scripts/gpu/profile_fit_step.py``
(a training step as fit composes it).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.profiler import ProfilerActivity, profile


@dataclass(frozen=True)
class StepProfile:
    """``wall_ms`` per step, and per kernel name its milliseconds and launches per step (no
    kernels on a CPU)."""

    wall_ms: float
    kernels: dict[str, tuple[float, float]]

    @property
    def busy_ms(self) -> float:
        return sum(total for total, _ in self.kernels.values())

    @property
    def launches(self) -> float:
        return sum(count for _, count in self.kernels.values())

    def markdown(self, title: str, top: int) -> list[str]:
        """A section: the wall time, the kernels' share of it, and the ``top`` kernels by time."""
        busy = f" ({self.busy_ms / self.wall_ms:.0%} busy)" if self.wall_ms > 0 else ""
        lines = [f"### {title}", "",
                 f"step {self.wall_ms:.3f} ms wall; kernels {self.busy_ms:.3f} ms{busy}, "
                 f"{self.launches:.0f} kernels per step", "",
                 "| kernel | ms per step | calls per step |", "|---|---:|---:|"]
        ranked = sorted(self.kernels.items(), key=lambda item: -item[1][0])
        return lines + [f"| `{name[:110]}` | {total:.3f} | {count:.0f} |"
                        for name, (total, count) in ranked[:top]] + [""]


def profile_step(step: Callable[[], object], steps: int = 5, warmup: int = 3) -> StepProfile:
    """``step`` run ``warmup`` times, then ``steps`` times under the profiler: the mean wall time
    (CUDA events where a GPU is present) and the kernels' times and launches per step."""
    cuda = torch.cuda.is_available()
    for _ in range(warmup):
        step()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    if cuda:
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    with profile(activities=activities) as prof:
        if cuda:
            start.record()
        began = time.perf_counter()
        for _ in range(steps):
            step()
        if cuda:
            end.record()
            torch.cuda.synchronize()
        seconds = time.perf_counter() - began
    wall_ms = start.elapsed_time(end) / steps if cuda else seconds * 1e3 / steps
    kernels: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for event in prof.events():
        if event.device_type == torch.autograd.DeviceType.CUDA:
            kernels[event.name][0] += event.device_time / 1e3 / steps
            kernels[event.name][1] += 1 / steps
    return StepProfile(wall_ms, {name: (total, count) for name, (total, count) in kernels.items()})
