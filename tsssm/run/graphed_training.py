"""The network's forward and backward of a training step replayed from CUDA graphs.

A small network's step is a few hundred kernels of microseconds each: from Python the host takes
longer to launch them than the GPU to run them, and where several runs share a GPU (a search's
processes side by side), a process's launch gaps are GPU time lost inside its time slice.
Captured once, at the first training batch (``torch.cuda.make_graphed_callables``: one graph for
the forward, one for the backward), a step launches each graph once.

Only batches of the captured shape and dtype, with the network in training mode and gradients
on, replay the graphs; every other call (an epoch's ragged last batch, validation, test,
prediction) runs the network as it is. The loss, gradient clipping and the optimizer step stay
eager (a few launches each). Dropout draws from the graph-safe generator, so a graphed run's
random draws differ from an eager run's with the same seed. Where a graph cannot stand in for
the step, the run trains eagerly and says why in one log line: on a CPU, under mixed precision
(a graph would freeze autocast's casts), across several processes (DDP's gradient hooks), and
for a network whose step waits on the host (a ``.item()``, a solver's error check): a capture of
it would fail and leave the CUDA generator unusable for the rest of the process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import lightning as L
import torch
from torch import Tensor, nn

from tsssm.models.graphed_step import on_warmup_stream
from tsssm.tasks.base import Task

log = logging.getLogger("tsssm.fit")

WARMUP_STEPS = 3
"""Eager forward and backward passes before the capture, on a side stream: they compile and
autotune the kernels (work a graph cannot record) and leave the parameters' gradients alone."""


def eager_reason(trainer: L.Trainer) -> str | None:
    """Why this trainer's steps cannot replay a graph, or None if they can."""
    if trainer.strategy.root_device.type != "cuda":
        return f"the {trainer.strategy.root_device.type} trains eagerly (graphs need CUDA)"
    if str(trainer.precision) not in ("32-true", "32", "64-true"):
        return f"precision {trainer.precision} (a graph would freeze autocast's casts)"
    if trainer.world_size > 1:
        return f"{trainer.world_size} processes (DDP's gradient hooks run outside a graph)"
    return None


def as_inputs(x: Tensor | tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """A network's input as ``Task.network_input`` gives it (a tensor or a tuple), as a tuple."""
    return x if isinstance(x, tuple) else (x,)


def warm_up(net: nn.Module, inputs: tuple[Tensor, ...], steps: int) -> None:
    """``steps`` forward and backward passes of ``net`` on ``inputs`` on the side stream,
    gradients taken with ``torch.autograd.grad`` so that no parameter's ``.grad`` changes."""
    params = [p for p in net.parameters() if p.requires_grad]
    with on_warmup_stream(inputs[0].device.index):
        for _ in range(steps):
            out = net(*inputs)
            torch.autograd.grad(out, params, torch.ones_like(out), allow_unused=True)


SYNC_ERROR = "called a synchronizing CUDA operation"
"""What torch raises, in sync-debug error mode, at a call that waits on the GPU."""


class HostWait(RuntimeError):
    """The network's step synchronises with the host, so no CUDA graph can hold it."""


def host_wait(net: nn.Module, inputs: tuple[Tensor, ...]) -> str | None:
    """One more warm-up pass with synchronising CUDA calls made errors (after the kernels'
    autotuning, which does synchronise): the first line of the error raised, or None."""
    previous = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode("error")
    try:
        warm_up(net, inputs, 1)
    except RuntimeError as error:
        if SYNC_ERROR not in str(error):
            raise
        return str(error).strip().splitlines()[0]
    finally:
        torch.cuda.set_sync_debug_mode(previous)
    return None


def graphed_forward(net: nn.Module, x: Tensor | tuple[Tensor, ...],
                    warmup_steps: int = WARMUP_STEPS) -> Callable[..., Tensor]:
    """``net``'s forward for its training steps: inputs shaped as ``x`` (a tensor (B, ...) or a
    tuple of them, as ``Task.network_input`` gives) on its device, in training mode with
    gradients on, replay the captured graphs; the rest run eagerly. Raises ``HostWait`` (before
    any capture) if the step waits on the host."""
    eager = net.forward
    captured = as_inputs(x)
    with torch.enable_grad():
        warm_up(net, captured, warmup_steps)
        waits = host_wait(net, captured)
        if waits is not None:
            raise HostWait(f"the network's step waits on the host ({waits})")
        torch.cuda.make_graphed_callables(net, captured, num_warmup_iters=0,
                                          allow_unused_input=True)
    replay = net.forward
    layout = [(t.shape, t.dtype, t.device) for t in captured]

    def forward(*inputs: Tensor) -> Tensor:
        if ([(t.shape, t.dtype, t.device) for t in inputs] == layout
                and net.training and torch.is_grad_enabled()):
            return replay(*inputs)
        return eager(*inputs)

    return forward


class GraphedTrainingStep(L.Callback):
    """Replays a task's network (``Task.net``, on ``Task.network_input`` of each batch) from CUDA
    graphs in training steps (module docstring); enabled with ``callbacks=graphed``."""

    def __init__(self, warmup_steps: int = WARMUP_STEPS) -> None:
        self.warmup_steps = warmup_steps
        self.decided = False

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: Task, batch: object,
                             batch_idx: int) -> None:
        if self.decided:
            return
        self.decided = True
        reason = eager_reason(trainer)
        if reason is None:
            x = pl_module.network_input(batch)
            try:
                pl_module.net.forward = graphed_forward(pl_module.net, x, self.warmup_steps)
            except HostWait as waits:
                reason = str(waits)
            else:
                shapes = [tuple(t.shape) for t in as_inputs(x)]
                log.info("training steps of shape %s replay CUDA graphs of the network's "
                         "forward and backward", ", ".join(map(str, shapes)))
                return
        log.info("training steps run eagerly, not from CUDA graphs: %s", reason)

    def on_fit_end(self, trainer: L.Trainer, pl_module: Task) -> None:
        """The network's own forward again: its graphs (and their memory pool) go with the
        replacing function, so a search's next trial in the process does not keep them."""
        pl_module.net.__dict__.pop("forward", None)
