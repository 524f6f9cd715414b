"""Launching the scan kernels with as little host Python as a launch allows.

A scan kernel takes ~50-70 arguments. Through its decorators (``scan_tuning``) every launch
would first pass Triton's autotuner, which builds dicts of all of them to look up its key (one
of them by a list search per argument), then its heuristics, which build another to compute
``EVEN_D``, before the JIT function binds them: at batch 1 the host took longer to issue a
call than the GPU took to run it. ``TunedLaunch`` sends the first launch of each key through
that stack, records the meta-parameters the JIT function received (its pre-run hook: the
config the autotuner chose, its warps and stages, the heuristics' values) and launches later
calls of the key with them, straight into the JIT function. The key holds everything the
autotuner and the heuristics read, so a recorded config is the one they would choose again.

``cdiv`` and ``next_power_of_2`` are the host's integer helpers: Triton's own are constexpr
functions, which unwrap their arguments on every call.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter

from torch import Tensor

_DTYPE = attrgetter("dtype")
_SET_BY_RUN = ("debug", "instrumentation_mode")  # options the JIT function fills in itself


def cdiv(a: int, b: int) -> int:
    """``ceil(a / b)`` for positive ints."""
    return -(-a // b)


def next_power_of_2(n: int) -> int:
    """The smallest power of two ``>= n`` (1 for n <= 1)."""
    return 1 << max(0, n - 1).bit_length()


class TunedLaunch:
    """A decorated scan kernel (autotuner or heuristics over a JIT function) whose config is
    looked up once per key, then launched directly."""

    def __init__(self, kernel) -> None:
        self.kernel = kernel
        jit = kernel
        while not hasattr(jit, "pre_run_hooks"):
            jit = jit.fn
        self.jit = jit
        self.meta: dict[tuple, dict] = {}

    def __call__(self, grid: Callable[[dict], tuple[int, ...]], tensors: tuple[Tensor, ...],
                 scalars: tuple, key: tuple, **constexprs) -> None:
        """Launch over ``grid`` (a function of the meta-parameters) with ``tensors`` and then
        ``scalars`` as the positional arguments and ``constexprs`` by name.

        ``key``: the scalars the autotuner keys on or the heuristics read; the constexprs and
        the tensors' dtypes are added here."""
        full_key = (key, tuple(constexprs.values()), tuple(map(_DTYPE, tensors)))
        meta = self.meta.get(full_key)
        if meta is not None:
            self.jit.run(*tensors, *scalars, grid=grid(meta), warmup=False, **constexprs, **meta)
            return
        seen: list[dict] = []

        def record(*args, **kwargs) -> None:
            seen.append(kwargs)

        self.jit.pre_run_hooks.append(record)
        try:
            self.kernel[grid](*tensors, *scalars, **constexprs)
        finally:
            self.jit.pre_run_hooks.remove(record)
        self.meta[full_key] = {name: value for name, value in seen[-1].items()
                               if name not in constexprs and name not in _SET_BY_RUN}
