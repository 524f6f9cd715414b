"""A language model's decoding step captured once as a CUDA graph, then replayed per token.

At the batch sizes of generation a step is a few dozen small kernels, and from Python the GPU
waits on each launch; a graph replays them all with one launch. A graph replays fixed addresses,
so the step's inputs, outputs and states must keep theirs: the token ids and the logits live in
buffers of this class, and the states are the ones passed in, updated in place at every replay
(a mixer whose ``step`` returns new tensors has them copied back inside the graph). Every mixer's
decoding state keeps one size and its addresses: an SSM's is fixed, attention's KV cache is
allocated once for the positions decoding will reach, with its fill a device tensor
(``tsssm.mixers.attention.KVCache``). So every model decodes through the graph on CUDA.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache

import torch
from torch import Tensor

from tsssm.mixers.base import State

WARMUP_STEPS = 2
"""Eager steps before the capture, on scratch states (``Mixer.scratch_state``): they compile and
autotune the kernels (work a graph cannot record) without advancing the real decoding state."""

StepFn = Callable[[Tensor, list[State]], tuple[Tensor, list[State]]]


def state_tensors(state: State) -> list[Tensor]:
    """Every tensor of a state, in a fixed order (tensors inside tuples, lists or dicts)."""
    if isinstance(state, Tensor):
        return [state]
    if isinstance(state, dict):
        return [t for key in sorted(state) for t in state_tensors(state[key])]
    if isinstance(state, (tuple, list)):
        return [t for item in state for t in state_tensors(item)]
    return []


@cache
def warmup_stream(device: int) -> torch.cuda.Stream:
    """The side stream every capture on ``device`` warms up on. One per device, not one per
    capture: cuBLAS keeps a workspace (tens of MiB, counted as allocated) for every stream it
    has run on, for the life of the process, so a stream per capture grows memory per capture."""
    return torch.cuda.Stream(device)


@contextmanager
def on_warmup_stream(device: int) -> Iterator[None]:
    """Run the block on ``device``'s warm-up stream, after the current stream's queued work and
    before what the current stream is given next (also when the block raises): a capture's
    warm-up, as CUDA graphs need."""
    stream = warmup_stream(device)
    stream.wait_stream(torch.cuda.current_stream())
    try:
        with torch.cuda.stream(stream):
            yield
    finally:  # also after an error in the block: what it queued precedes the caller's next work
        torch.cuda.current_stream().wait_stream(stream)


class GraphedStep:
    """``step(ids (B,), states) -> (logits (B, V), states)`` replayed from one CUDA graph.

    ``states`` given at construction are the buffers every replay reads and updates; the logits
    returned are a buffer of this object, overwritten by the next call (read them first).
    ``scratch`` are states the warm-up may step, ``warmup_steps`` times (no more than the states
    have room for) without changing ``states``: ``Backbone.scratch_states``, which copies the
    SSMs' states and shares attention's KV cache.
    """

    def __init__(self, step: StepFn, ids: Tensor, states: list[State], scratch: list[State],
                 warmup_steps: int = WARMUP_STEPS) -> None:
        self.ids = ids.clone()
        self.states = states
        with on_warmup_stream(ids.device.index):
            for _ in range(warmup_steps):
                _, scratch = step(self.ids, scratch)
        del scratch
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.logits, new_states = step(self.ids, states)
            for old, new in zip(state_tensors(states), state_tensors(new_states)):
                if new.data_ptr() != old.data_ptr():
                    old.copy_(new)

    def __call__(self, ids: Tensor, states: list[State]) -> tuple[Tensor, list[State]]:
        """One token per sequence; ``states`` must be the ones the graph was captured on."""
        if states is not self.states:
            raise ValueError("GraphedStep replays the states it was captured on; call it with "
                             "the states it returned")
        self.ids.copy_(ids)
        self.graph.replay()
        return self.logits, self.states
