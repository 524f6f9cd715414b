"""Launching tsssm's Triton kernels with as little host Python as a launch allows.

A scan kernel takes ~50-70 arguments. Through its decorators (``scan_tuning``) every launch
would first pass Triton's autotuner, which builds dicts of all of them to look up its key (one
of them by a list search per argument), then its heuristics, which build another to compute
``EVEN_D``, then the JIT function, which binds them, computes their specialization
(``triton_specialization``), turns it into a string key and looks the compiled kernel up by
it: at batch 1 the host took longer to issue a call than the GPU took to run it.

``TunedLaunch`` sends the first launch of each key through that stack and records the
meta-parameters the JIT function received (its pre-run hook: the config the autotuner chose, its
warps and stages, the heuristics' values); the key holds everything the autotuner, its pruner
and the heuristics read, so a recorded config is the one they would choose again. Later launches
of the key skip the decorators. On a GPU they skip the JIT function too: the first of them for
each specialization class of the arguments (and device, and the debug and instrumentation knobs,
which Triton's key holds) goes through ``JITFunction.run``, which returns the compiled kernel;
it is recorded, and later launches call its launcher directly with the arguments the binder
would have passed. While a launch hook is set (a profiler's) launches go through the JIT
function, which gives the hook its metadata; an empty hook chain (Triton's default) counts as
none. Not repeated per direct launch: Triton's check that the globals a kernel read kept their
values (made at the launches through the JIT function).

A launch returns the meta-parameters it ran with (those recorded for its key): a launcher that
reads the chosen config (SSD's backward sums as many slots of partial sums as its dx and pair
kernels had row tiles) reads it there, not from the autotuner's ``best_config``, which a launch
of another key changes and a recorded launch does not set.

The scan's, the causal conv's, the fused Mamba step's, S4's and SSD's kernels launch so (the
plain JIT functions among them with an empty key).

Under Triton's interpreter (``INTERPRETED``) there is no compiled kernel: every launch after
the first of its key goes through the JIT function; this choice is made once, in ``__init__``.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter

from torch import Tensor
from triton import knobs
from triton.runtime import driver

from tsssm.kernels.triton_common import INTERPRETED
from tsssm.kernels.triton_specialization import (launch_tail, parameter_modes, scalar_class,
                                                 tensor_alignment)

_DTYPE = attrgetter("dtype")
_SET_BY_RUN = ("debug", "instrumentation_mode")  # options the JIT function fills in itself
_KNOWN_SCALARS = 4096  # scalar tuples whose classes a launch remembers before it forgets all


Grid = Callable[[dict], tuple[int, ...]] | tuple[int, ...]


def blocks(grid: Grid, meta: dict) -> tuple[int, ...]:
    """``grid``'s block counts for a launch with the meta-parameters ``meta``."""
    return grid(meta) if callable(grid) else grid


def _is_set(hook) -> bool:
    """Whether a launch hook knob holds a hook: a function, or a chain (Triton's default, which
    the JIT function calls even when empty) with one."""
    return hook is not None and bool(getattr(hook, "calls", True))


class TunedLaunch:
    """A kernel (a JIT function, or an autotuner or heuristics over one) whose config is looked
    up once per key, then launched directly: into its compiled kernel's launcher on a GPU, into
    its JIT function under the interpreter. Every instance is listed in ``instances``, so what
    the autotuners chose can be read back (``kept_configs``)."""

    instances: list[TunedLaunch] = []

    def __init__(self, kernel) -> None:
        TunedLaunch.instances.append(self)
        self.kernel = kernel
        jit = kernel
        while not hasattr(jit, "pre_run_hooks"):
            jit = jit.fn
        self.jit = jit
        self.meta: dict[tuple, dict] = {}
        self.compiled: dict[tuple, tuple] = {}
        """(key, device, knobs, tensor alignments, scalar classes) -> (launcher, function,
        packed metadata, arguments after the positional ones)."""
        self.scalar_classes: dict[tuple, tuple] = {}
        """(tensor count, scalars) -> their classes: the same strides and sizes recur."""
        if INTERPRETED:
            self._launch = self._jit_launch
        else:
            self.modes = parameter_modes(jit)
            self._launch = self._direct_launch

    def __call__(self, grid: Grid, tensors: tuple[Tensor, ...],
                 scalars: tuple, key: tuple, **constexprs) -> dict:
        """Launch over ``grid`` (block counts, or a function of the meta-parameters giving
        them, as ``kernel[grid]`` takes) with ``tensors`` and then
        ``scalars`` (ints, floats, bools, None) as the positional arguments and
        ``constexprs`` by name; return the meta-parameters it launched with, on a GPU and
        under the interpreter alike: the config's blocks and the heuristics' values (and on a
        GPU the config's warps and stages, which the interpreter drops); the recorded dict, to
        be read, not changed.

        ``key``: the scalars the autotuner keys on or its pruner or the heuristics read; the
        constexprs and the tensors' dtypes are added here."""
        full_key = (key, tuple(constexprs.values()), tuple(map(_DTYPE, tensors)))
        meta = self.meta.get(full_key)
        if meta is None:
            return self._tune(grid, (*tensors, *scalars), full_key, constexprs)
        self._launch(grid, tensors, scalars, full_key, meta, constexprs)
        return meta

    def _tune(self, grid, args: tuple, full_key: tuple, constexprs: dict) -> dict:
        """Launch through the decorators; record the meta-parameters they chose and return
        them."""
        seen: list[dict] = []

        def record(*args, **kwargs) -> None:
            seen.append(kwargs)

        self.jit.pre_run_hooks.append(record)
        try:
            self.kernel[grid](*args, **constexprs)
        finally:
            self.jit.pre_run_hooks.remove(record)
        meta = {name: value for name, value in seen[-1].items()
                if name not in constexprs and name not in _SET_BY_RUN}
        self.meta[full_key] = meta
        return meta

    def _jit_launch(self, grid, tensors: tuple, scalars: tuple, full_key: tuple, meta: dict,
                    constexprs: dict):
        """Launch through the JIT function with the recorded meta-parameters; returns what it
        returns (the compiled kernel on a GPU)."""
        return self.jit.run(*tensors, *scalars, grid=blocks(grid, meta), warmup=False,
                            **constexprs, **meta)

    def _direct_launch(self, grid, tensors: tuple, scalars: tuple, full_key: tuple, meta: dict,
                       constexprs: dict) -> None:
        """Launch the compiled kernel of the arguments' specialization, recording it first."""
        runtime = knobs.runtime
        if _is_set(runtime.launch_enter_hook) or _is_set(runtime.launch_exit_hook):
            self._jit_launch(grid, tensors, scalars, full_key, meta, constexprs)
            return
        active = driver.active
        device = active.get_current_device()
        scalar_key = (len(tensors), scalars)
        classes = self.scalar_classes.get(scalar_key)
        if classes is None:
            classes = self._classify(scalar_key)
        entry_key = (full_key, device, runtime.debug, knobs.compilation.instrumentation_mode,
                     tensor_alignment(tensors), classes)
        entry = self.compiled.get(entry_key)
        if entry is None:
            compiled = self._jit_launch(grid, tensors, scalars, full_key, meta, constexprs)
            if compiled is None:  # a compile hook kept Triton from compiling
                return
            tail = launch_tail(self.jit, len(tensors) + len(scalars), constexprs | meta)
            self.compiled[entry_key] = (compiled.run, compiled.function,
                                        compiled.packed_metadata, tail)
            return
        launcher, function, packed_metadata, tail = entry
        x, y, z, *_ = (*blocks(grid, meta), 1, 1)
        launcher(x, y, z, active.get_current_stream(device), function,
                 packed_metadata, None, None, None, *tensors, *scalars, *tail)

    def _classify(self, scalar_key: tuple[int, tuple]) -> tuple:
        """The classes of the scalars after ``scalar_key[0]`` tensors, remembered."""
        if len(self.scalar_classes) >= _KNOWN_SCALARS:
            self.scalar_classes.clear()
        first, scalars = scalar_key
        classes = tuple(map(scalar_class, self.modes[first:], scalars))
        self.scalar_classes[scalar_key] = classes
        return classes


def kept_configs() -> list[dict[str, object]]:
    """Every config recorded so far, one dict per kernel and key: ``kernel`` (the JIT
    function's name), ``key`` (the key, the constexprs' values and the tensors' dtypes, as
    text) and ``config`` (the meta-parameters it launches with: blocks, warps, stages and the
    heuristics' values; any value other than a number, string or None as text), in the order
    the launches met them."""
    return [{"kernel": launch.jit.fn.__name__, "key": repr(full_key),
             "config": {name: value if isinstance(value, (int, float, str, type(None)))
                        else repr(value) for name, value in meta.items()}}
            for launch in TunedLaunch.instances for full_key, meta in launch.meta.items()]
