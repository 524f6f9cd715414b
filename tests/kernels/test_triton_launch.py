"""Direct launches of tuned Triton kernels (``triton_launch``) and the specialization key they
are cached by (``triton_specialization``), on the CPU: the key against Triton's own binder
(which runs without a GPU), every launched kernel's parameters (tensors first), the cache's
entries with a stand-in compiled kernel, the meta-parameters a launch returns, and the
interpreter's path."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest
import torch
import triton
import triton.language as tl
from triton import knobs
from triton.backends.compiler import GPUTarget
from triton.compiler import make_backend
from triton.runtime.jit import JITFunction, create_function_from_signature

from tsssm.kernels import triton_launch
from tsssm.kernels.causal_conv import triton as conv
from tsssm.kernels.mamba_step import triton as mamba_step
from tsssm.kernels.s4 import triton as s4
from tsssm.kernels.selective_scan import triton as sst
from tsssm.kernels.ssd import triton as ssd
from tsssm.kernels.ssd import triton_gram, triton_pairs
from tsssm.kernels.triton_launch import TunedLaunch
from tsssm.kernels.triton_specialization import (NOT_ALIGNED, NOT_SPECIALIZED, SPECIALIZED,
                                                 launch_tail, parameter_modes, scalar_class,
                                                 tensor_alignment)

LAUNCHES = (sst._FORWARD, sst._BACKWARD, sst._ENDS, sst._ADJOINTS, sst._STEP, conv._FORWARD,
            conv._GRAD, mamba_step._STEP_IN, mamba_step._STEP_OUT, s4._VANDERMONDE_FWD,
            s4._VANDERMONDE_BWD, s4._CAUCHY_FWD, s4._CAUCHY_BWD, ssd._CUMSUM_FWD,
            ssd._CUMSUM_BWD, ssd._OUTER, ssd._PASS, ssd._PASS_BWD, ssd._GATE_BWD, ssd._SCAN_FWD,
            ssd._SCAN_DX, ssd._DBC, ssd._STEP, triton_gram._GRAM, triton_pairs._PAIRS)
"""Every kernel tsssm launches through ``TunedLaunch``."""
INTS = (0, 1, 2, 8, 16, 17, 48, -16, (1 << 31) - 16, 1 << 31, (1 << 63) + 16, (1 << 63) + 1)


def launch_id(launch: TunedLaunch) -> str:
    """The op and the kernel's name (two ops have a ``state_update_kernel``)."""
    return f"{launch.jit.fn.__module__.split('.')[2]}.{launch.jit.__name__}"


def tiny(x_ptr, y_ptr, n, m, BLOCK: tl.constexpr, FLAG: tl.constexpr = True):
    """A kernel's signature (never compiled): two pointers, a specialized int, an int under
    ``do_not_specialize``, a constexpr and a constexpr with a default."""


def compiled_jit(kernel) -> JITFunction:
    """The JIT function Triton builds on a GPU for a kernel (built here from the interpreted
    kernel's function where the tests run interpreted)."""
    if isinstance(kernel, JITFunction):
        return kernel
    return JITFunction(kernel.fn, **kernel.kwargs)


def triton_binder(jit: JITFunction):
    """Triton's binder for ``jit`` on an sm_90 GPU: ``(bound arguments, specialization,
    options)`` of a call."""
    return create_function_from_signature(jit.signature, jit.params,
                                          make_backend(GPUTarget("cuda", 90, 32)))


def test_ints_are_classed_by_one_divisibility_and_width():
    classes = {value: scalar_class(SPECIALIZED, value) for value in INTS}
    assert classes[16] == classes[48] == classes[0] == classes[-16] != classes[17]
    assert classes[2] == classes[8] == classes[17] != classes[1]
    assert len({classes[16], classes[1 << 31], classes[(1 << 63) + 16]}) == 3
    assert classes[(1 << 31) - 16] == classes[16]
    assert scalar_class(SPECIALIZED, 1 << 64) != classes[(1 << 63) + 16]


def test_unspecialized_ints_keep_only_their_width_and_unaligned_ones_their_one():
    assert scalar_class(NOT_SPECIALIZED, 1) == scalar_class(NOT_SPECIALIZED, 16) \
        == scalar_class(NOT_SPECIALIZED, 17)
    assert scalar_class(NOT_SPECIALIZED, 16) != scalar_class(NOT_SPECIALIZED, 1 << 31)
    assert scalar_class(NOT_ALIGNED, 16) == scalar_class(NOT_ALIGNED, 17) \
        != scalar_class(NOT_ALIGNED, 1)


def test_tensors_are_keyed_by_alignment_and_other_arguments_by_type():
    base = torch.zeros(64)
    assert tensor_alignment((base, base[4:], base[1:], base[2:], torch.nn.Parameter(base),
                             base.to(torch.bfloat16)[8:])) == (True, True, False, False, True,
                                                               True)
    assert len({scalar_class(SPECIALIZED, v) for v in (True, 1, 1.0, None)}) == 4
    with pytest.raises(TypeError, match="got Tensor"):
        scalar_class(SPECIALIZED, base)


def test_do_not_specialize_lists_give_the_parameters_modes():
    jit = JITFunction(tiny, do_not_specialize=["m"], do_not_specialize_on_alignment=["y_ptr"])
    assert parameter_modes(jit) == (SPECIALIZED, NOT_ALIGNED, SPECIALIZED, NOT_SPECIALIZED,
                                    SPECIALIZED, SPECIALIZED)


STORAGE = {dtype: torch.zeros(64, dtype=dtype) for dtype in (torch.float32, torch.bfloat16)}
VIEWS = tuple(storage[offset:] for storage in STORAGE.values() for offset in (0, 1, 4, 8))
"""fp32 and bf16 tensors at aligned and unaligned offsets."""


def random_arguments(jit: JITFunction, rng: random.Random) -> tuple[tuple, dict]:
    """Random runtime arguments of a kernel (from ``VIEWS`` for its ``*_ptr`` parameters,
    from ``INTS`` for the others) and its constexprs by name."""
    args = []
    for param in jit.params:
        if param.is_constexpr:
            break
        args.append(rng.choice(VIEWS if param.name.endswith("_ptr") else INTS))
    named = {param.name: 4 for param in jit.params[len(args):]} | {"num_warps": 4}
    return tuple(args), named


@pytest.mark.parametrize("launch", LAUNCHES, ids=launch_id)
def test_the_key_changes_exactly_where_tritons_specialization_does(launch):
    """From random argument tuples of each kernel, every argument replaced by each value of
    its kind in turn: the key (classes and dtypes, as ``TunedLaunch`` keys them) changes iff
    Triton's binder specializes the new tuple differently (the scan kernels' segment
    arguments not specialized)."""
    jit = compiled_jit(launch.jit)
    binder, modes = triton_binder(jit), parameter_modes(jit)

    def key_and_specialization(args: tuple) -> tuple[tuple, tuple]:
        tensors = tuple(a for a in args if isinstance(a, torch.Tensor))
        key = (tensor_alignment(tensors), tuple(a.dtype for a in tensors),
               tuple(map(scalar_class, modes[len(tensors):], args[len(tensors):])))
        return key, tuple(binder(*args, **named)[1])

    rng = random.Random(7)
    for _ in range(3):
        args, named = random_arguments(jit, rng)
        key, specialization = key_and_specialization(args)
        for i, arg in enumerate(args):
            for other in VIEWS if isinstance(arg, torch.Tensor) else INTS:
                other_key, other_specialization = key_and_specialization(
                    args[:i] + (other,) + args[i + 1:])
                assert (other_key == key) == (other_specialization == specialization), \
                    (jit.params[i].name, arg, other)


@pytest.mark.parametrize("launch", LAUNCHES, ids=launch_id)
def test_kernels_take_their_tensors_first(launch):
    """A launch passes its tensors, then its scalars, as the leading positional parameters:
    every pointer parameter comes before every runtime scalar."""
    pointers = [param.name.endswith("_ptr") for param in compiled_jit(launch.jit).params
                if not param.is_constexpr]
    assert pointers == sorted(pointers, reverse=True)


@pytest.mark.parametrize("launch", LAUNCHES, ids=launch_id)
def test_launch_arguments_are_the_binders_bound_arguments(launch):
    jit = compiled_jit(launch.jit)
    args, named = random_arguments(jit, random.Random(3))
    bound = triton_binder(jit)(*args, **named)[0]
    assert tuple(bound.values()) == (*args, *launch_tail(jit, len(args), named))


def test_launch_tail_applies_defaults_and_refuses_missing_or_doubled_parameters():
    jit = JITFunction(tiny)
    assert launch_tail(jit, 4, {"BLOCK": 8, "num_warps": 2}) == (8, True)
    assert launch_tail(jit, 4, {"BLOCK": 8, "FLAG": False}) == (8, False)
    with pytest.raises(ValueError, match=r"\['BLOCK'\]"):
        launch_tail(jit, 4, {})
    with pytest.raises(ValueError, match="positional"):
        launch_tail(jit, 4, {"m": 1, "BLOCK": 8})


class StandIn:
    """What ``JITFunction.run`` gives a ``TunedLaunch``: a compiled kernel per call, whose
    launcher records its arguments."""

    def __init__(self, jit: JITFunction) -> None:
        self.jit, self.runs, self.launches = jit, 0, []

    def run(self, *args, grid, warmup, **kwargs):
        self.runs += 1
        for hook in self.jit.pre_run_hooks:
            hook(*args, **kwargs)
        return SimpleNamespace(run=lambda *launch: self.launches.append(launch),
                               function="function", packed_metadata="metadata")


@pytest.fixture
def stand_in(monkeypatch) -> StandIn:
    """A ``tiny`` JIT function (``m`` not specialized) whose runs ``StandIn`` records, on a
    driver at device 0 whose stream is 7."""
    jit = JITFunction(tiny, do_not_specialize=["m"])
    fake = StandIn(jit)
    monkeypatch.setattr(jit, "run", fake.run)
    stream = SimpleNamespace(get_current_device=lambda: 0, get_current_stream=lambda device: 7)
    monkeypatch.setattr(triton_launch, "driver", SimpleNamespace(active=stream))
    return fake


def test_each_specialization_goes_through_the_jit_function_once_then_launches_directly(
        stand_in, monkeypatch):
    monkeypatch.setattr(triton_launch, "INTERPRETED", False)
    launch = TunedLaunch(stand_in.jit)
    x, y = torch.zeros(64), torch.zeros(64)

    def call(x: torch.Tensor, n: int, m: int) -> tuple[int, int]:
        launch(lambda meta: (3,), (x, y), (n, m), (), BLOCK=8)
        return stand_in.runs, len(stand_in.launches)

    assert call(x, 32, 5) == (1, 0)  # through the decorators: the config is recorded
    assert call(x, 32, 5) == (2, 0)  # through the JIT function: the kernel is recorded
    assert call(x, 32, 5) == (2, 1)
    assert stand_in.launches[-1] == (3, 1, 1, 7, "function", "metadata", None, None, None,
                                     x, y, 32, 5, 8, True)
    assert call(x, 48, 1) == (2, 2)  # the same classes: no new run
    assert call(x, 16, 1 << 20) == (2, 3)
    assert call(x[1:], 32, 5) == (3, 3)  # misaligned: its own entry
    assert call(x[1:], 32, 5) == (3, 4)
    assert call(x, 1, 5) == (4, 4)
    assert call(x, 33, 5) == (5, 4)
    assert call(x, 32, 1 << 40) == (6, 4)  # m's width, though m is not specialized
    assert len(launch.compiled) == 5
    launch((3, 2), (x, y), (32, 5), (), BLOCK=8)  # block counts, as kernel[grid] takes them
    assert stand_in.launches[-1][:3] == (3, 2, 1) and stand_in.runs == 6


def test_launches_go_through_the_jit_function_while_a_launch_hook_is_set(stand_in,
                                                                          monkeypatch):
    monkeypatch.setattr(triton_launch, "INTERPRETED", False)
    launch = TunedLaunch(stand_in.jit)
    x = torch.zeros(64)
    for _ in range(3):
        launch(lambda meta: (1,), (x, x), (32, 5), (), BLOCK=8)
    hook = knobs.runtime.launch_enter_hook
    hook.add(print)
    try:
        launch(lambda meta: (1,), (x, x), (32, 5), (), BLOCK=8)
    finally:
        hook.remove(print)
    assert (stand_in.runs, len(stand_in.launches)) == (3, 1)


def test_every_kernel_launches_through_its_jit_function_exactly_under_the_interpreter():
    assert all((launch._launch == launch._jit_launch) == triton_launch.INTERPRETED
               for launch in LAUNCHES)


def test_the_interpreter_launches_every_call_through_the_jit_function(stand_in, monkeypatch):
    monkeypatch.setattr(triton_launch, "INTERPRETED", True)
    launch = TunedLaunch(stand_in.jit)
    x = torch.zeros(64)
    for _ in range(3):
        launch(lambda meta: (1,), (x, x), (32, 5), (), BLOCK=8)
    assert (stand_in.runs, stand_in.launches, launch.compiled) == (3, [], {})


@pytest.mark.parametrize("interpreted", [False, True])
def test_a_launch_returns_the_meta_parameters_it_ran_with(stand_in, monkeypatch, interpreted):
    """The autotuner's config, its warps and stages (not the constexprs passed by name): from
    the launch that records them, and the same dict from each later one of the key, launched
    directly (after the one that records the compiled kernel) or through the JIT function."""
    monkeypatch.setattr(triton_launch, "INTERPRETED", interpreted)
    config = triton.Config({"BLOCK": 16}, num_warps=2, num_stages=3)
    launch = TunedLaunch(triton.autotune([config], key=[])(stand_in.jit))
    x = torch.zeros(64)
    metas = [launch(lambda meta: (1,), (x, x), (32, 5), (), FLAG=False) for _ in range(3)]
    assert metas[0].items() >= {"BLOCK": 16, "num_warps": 2, "num_stages": 3}.items()
    assert "FLAG" not in metas[0] and all(meta is metas[0] for meta in metas)
    assert (stand_in.runs, len(stand_in.launches)) == ((3, 0) if interpreted else (2, 1))
    if not interpreted:
        assert stand_in.launches[-1][-2:] == (16, False)


def test_remembered_scalar_classes_are_forgotten_past_a_bound(stand_in, monkeypatch):
    """The classes of each scalar tuple are remembered until ``_KNOWN_SCALARS`` of them are,
    then forgotten all at once; the launches stay direct where their classes were seen."""
    monkeypatch.setattr(triton_launch, "INTERPRETED", False)
    monkeypatch.setattr(triton_launch, "_KNOWN_SCALARS", 2)
    launch = TunedLaunch(stand_in.jit)
    x = torch.zeros(64)
    for n in (32, 32, 48, 64, 80):
        launch(lambda meta: (1,), (x, x), (n, 5), (), BLOCK=8)
    assert (stand_in.runs, len(stand_in.launches)) == (2, 3)
    assert list(launch.scalar_classes) == [(2, (64, 5)), (2, (80, 5))]


def test_kept_configs_list_each_launchs_recorded_config_by_kernel_and_key(stand_in,
                                                                          monkeypatch):
    """What the benchmark reports as the autotuners' choices: every instance's recorded
    meta-parameters, named by its kernel, one entry per key."""
    monkeypatch.setattr(TunedLaunch, "instances", [])
    config = triton.Config({"BLOCK": 16}, num_warps=2)
    launch = TunedLaunch(triton.autotune([config], key=["n"])(stand_in.jit))
    x = torch.zeros(64)
    for n in (32, 48):
        launch(lambda meta: (1,), (x, x), (n, 5), (n,))
    kept = triton_launch.kept_configs()
    assert [entry["kernel"] for entry in kept] == ["tiny", "tiny"]
    assert kept[0]["key"] != kept[1]["key"] and "32" in kept[0]["key"]
    assert kept[0]["config"] == launch.meta[next(iter(launch.meta))]
    assert kept[0]["config"].items() >= {"BLOCK": 16, "num_warps": 2}.items()
