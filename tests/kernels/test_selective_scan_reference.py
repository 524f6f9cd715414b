"""The chunked selective-scan reference against the step-by-step loop, and its decode step."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from tsssm.kernels.selective_scan import selective_scan, selective_state_update
from tsssm.kernels.selective_scan.reference import (CHUNK_BYTES, MAX_CHUNK, chunk_steps,
                                                    selective_scan_loop, selective_scan_ref,
                                                    selective_state_update_ref)

F64 = torch.float64
EXACT = 1e-10


def make_inputs(length: int, groups: int = 1, batch: int = 2, dim: int = 6, state: int = 4,
                dtype: torch.dtype = F64, seed: int = 0) -> dict:
    """Random scan inputs whose decays (delta A in about [-1.5, -0.05]) carry across chunks."""
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen, dtype=F64).to(dtype)

    return dict(
        u=randn(batch, length, dim),
        delta=(0.1 + 0.4 * torch.rand(batch, length, dim, generator=gen, dtype=F64)).to(dtype),
        A=-(0.5 + 2.5 * torch.rand(dim, state, generator=gen, dtype=F64)).to(dtype),
        B=randn(batch, length, groups, state),
        C=randn(batch, length, groups, state),
    )


def make_options(inputs: dict, D: bool, z: bool, bias: bool, initial_state: bool) -> dict:
    """The optional arguments, each on or off; ``bias`` also turns on the softplus."""
    gen = torch.Generator().manual_seed(1)
    batch, length, dim = inputs["u"].shape
    state = inputs["A"].shape[1]
    options: dict = {}
    if D:
        options["D"] = torch.randn(dim, generator=gen, dtype=F64)
    if z:
        options["z"] = torch.randn(batch, length, dim, generator=gen, dtype=F64)
    if bias:
        options["delta_bias"] = torch.randn(dim, generator=gen, dtype=F64)
        options["delta_softplus"] = True
    if initial_state:
        options["initial_state"] = torch.randn(batch, dim, state, generator=gen, dtype=F64)
    return options


OPTION_FLAGS = list(itertools.product([False, True], repeat=4))


@pytest.mark.parametrize("D, z, bias, initial_state", OPTION_FLAGS)
@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("length, chunk_size", [(1, 8), (37, 8), (37, 64), (16, 16)])
def test_chunked_reference_matches_loop(D, z, bias, initial_state, groups, length, chunk_size):
    inputs = make_inputs(length, groups)
    options = make_options(inputs, D, z, bias, initial_state)
    y, h = selective_scan_ref(**inputs, **options, return_final_state=True, chunk_size=chunk_size)
    y_loop, h_loop = selective_scan_loop(**inputs, **options, return_final_state=True)
    assert y.shape == inputs["u"].shape and h.shape == (2, 6, 4)
    assert (y - y_loop).abs().max() <= EXACT
    assert (h - h_loop).abs().max() <= EXACT


@pytest.mark.parametrize("split", [1, 7, 8, 20, 36])
def test_split_sequence_carries_the_state(split):
    inputs = make_inputs(37, groups=2)
    options = make_options(inputs, D=True, z=True, bias=True, initial_state=True)
    y, h = selective_scan_ref(**inputs, **options, return_final_state=True, chunk_size=8)

    def part(tensor: torch.Tensor, first: bool) -> torch.Tensor:
        return tensor[:, :split] if first else tensor[:, split:]

    sequence_args = ("u", "delta", "B", "C")
    first = {**inputs, **options, **{k: part(inputs[k], True) for k in sequence_args},
             "z": part(options["z"], True)}
    y1, h1 = selective_scan_ref(**first, return_final_state=True, chunk_size=8)
    second = {**inputs, **options, **{k: part(inputs[k], False) for k in sequence_args},
              "z": part(options["z"], False), "initial_state": h1}
    y2, h2 = selective_scan_ref(**second, return_final_state=True, chunk_size=8)
    assert (torch.cat([y1, y2], 1) - y).abs().max() <= EXACT
    assert (h2 - h).abs().max() <= EXACT


def test_chunk_size_changes_nothing():
    inputs = make_inputs(37, groups=2)
    options = make_options(inputs, D=True, z=True, bias=True, initial_state=True)
    y = selective_scan_ref(**inputs, **options, chunk_size=37)
    for chunk_size in (1, 5, 100):
        y_chunked = selective_scan_ref(**inputs, **options, chunk_size=chunk_size)
        assert (y_chunked - y).abs().max() <= EXACT


@pytest.mark.parametrize(("batch", "dim", "state", "dtype", "steps"), [
    (2, 6, 4, F64, MAX_CHUNK),                    # a tiny state: the longest chunk
    (112, 128, 16, torch.float32, 2),             # 896 KiB a step: two steps in 2 MiB
    (8, 256, 16, torch.float32, 16),
    (8, 256, 16, F64, 8),                          # twice the bytes, half the steps
    (64, 1024, 16, torch.float32, 1),             # a step past the budget: one at a time
])
def test_chunk_steps_keeps_a_chunk_within_its_bytes(batch, dim, state, dtype, steps):
    assert chunk_steps(batch, dim, state, dtype) == steps
    item = torch.finfo(dtype).bits // 8
    assert steps == 1 or steps * batch * dim * state * item <= CHUNK_BYTES


def test_the_automatic_chunk_gives_the_loops_result_where_it_is_short():
    inputs = make_inputs(21, batch=64, dim=64, state=16)  # 512 KiB a step: chunks of 4
    assert chunk_steps(64, 64, 16, F64) == 4
    options = make_options(inputs, D=True, z=True, bias=True, initial_state=True)
    y, h = selective_scan_ref(**inputs, **options, return_final_state=True)
    y_loop, h_loop = selective_scan_loop(**inputs, **options, return_final_state=True)
    assert (y - y_loop).abs().max() <= EXACT and (h - h_loop).abs().max() <= EXACT


@pytest.mark.parametrize("groups", [1, 2])
def test_state_update_matches_the_formula_written_out(groups):
    """One step against scalar arithmetic, channel by channel, independent of the torch code."""
    batch, dim, state_size = 2, 4, 3
    inputs = make_inputs(1, groups, batch=batch, dim=dim, state=state_size)
    options = make_options(inputs, D=True, z=True, bias=True, initial_state=True)
    state = options["initial_state"].clone()
    x, dt, z = inputs["u"][:, 0], inputs["delta"][:, 0], options["z"][:, 0]
    B, C, A = inputs["B"][:, 0], inputs["C"][:, 0], inputs["A"]
    D, bias = options["D"], options["delta_bias"]

    expected_y = torch.zeros(batch, dim, dtype=F64)
    expected_state = torch.zeros(batch, dim, state_size, dtype=F64)
    for b, d in itertools.product(range(batch), range(dim)):
        g = d // (dim // groups)
        step = math.log1p(math.exp(dt[b, d].item() + bias[d].item()))
        acc = 0.0
        for n in range(state_size):
            h = (math.exp(step * A[d, n].item()) * state[b, d, n].item()
                 + step * B[b, g, n].item() * x[b, d].item())
            expected_state[b, d, n] = h
            acc += C[b, g, n].item() * h
        gate = z[b, d].item() / (1 + math.exp(-z[b, d].item()))
        expected_y[b, d] = (acc + D[d].item() * x[b, d].item()) * gate

    y = selective_state_update_ref(state, x, dt, A, B, C, D, z=z, dt_bias=bias, dt_softplus=True)
    assert (y - expected_y).abs().max() <= EXACT
    assert (state - expected_state).abs().max() <= EXACT  # updated in place


def test_huge_steps_stay_finite():
    """delta * A of -1e4 must decay to zero, not overflow: only exp of non-positive values."""
    inputs = make_inputs(20, groups=2)
    inputs["delta"] = inputs["delta"] * 1e4
    y = selective_scan_ref(**inputs, chunk_size=8)
    assert torch.isfinite(y).all()
    assert (y - selective_scan_loop(**inputs)).abs().max() <= 1e-10 * y.abs().max()


@pytest.mark.parametrize("dtype, tolerance", [(torch.float32, 1e-5), (torch.bfloat16, 1e-2)])
def test_low_precision_inputs_compute_in_float32(dtype, tolerance):
    inputs = make_inputs(37, groups=2, dtype=dtype)
    y, h = selective_scan_ref(**inputs, return_final_state=True, chunk_size=8)
    assert y.dtype == dtype and h.dtype == torch.float32
    y_exact, h_exact = selective_scan_loop(**{k: v.to(F64) for k, v in inputs.items()},
                                           return_final_state=True)
    scale = y_exact.abs().max()
    assert (y.to(F64) - y_exact).abs().max() <= tolerance * scale
    assert (h.to(F64) - h_exact).abs().max() <= tolerance * h_exact.abs().max()


def test_gradients_match_finite_differences():
    inputs = make_inputs(7, groups=2, batch=1, dim=4, state=2)
    options = make_options(inputs, D=True, z=True, bias=True, initial_state=True)
    names = [*inputs, "D", "z", "delta_bias", "initial_state"]
    tensors = [t.clone().requires_grad_() for t in [*inputs.values(), options["D"], options["z"],
                                                     options["delta_bias"],
                                                     options["initial_state"]]]

    def scan(*args: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return selective_scan_ref(**dict(zip(names, args)), delta_softplus=True,
                                  return_final_state=True, chunk_size=3)

    assert torch.autograd.gradcheck(scan, tuple(tensors))


def test_public_entry_points_run_the_reference():
    inputs = make_inputs(9, groups=2)
    options = make_options(inputs, D=True, z=True, bias=True, initial_state=True)
    expected = selective_scan_ref(**inputs, **options)
    for backend in ("auto", "reference"):
        assert torch.equal(selective_scan(**inputs, **options, backend=backend), expected)
    state = options["initial_state"].clone()
    y = selective_state_update(state, inputs["u"][:, 0], inputs["delta"][:, 0], inputs["A"],
                               inputs["B"][:, 0], inputs["C"][:, 0], backend="reference")
    y_loop, h_loop = selective_scan_loop(**{k: v[:, :1] if v.dim() > 2 else v
                                            for k, v in inputs.items()},
                                         initial_state=options["initial_state"],
                                         return_final_state=True)
    assert (y - y_loop[:, 0]).abs().max() <= EXACT and (state - h_loop).abs().max() <= EXACT
    with pytest.raises(ValueError, match="backend must be one of"):
        selective_scan(**inputs, backend="cuda")


def _replace(inputs: dict, **changes) -> dict:
    return {**inputs, **changes}


@pytest.mark.parametrize("changes, message", [
    (dict(B=torch.randn(2, 9, 4, 4, dtype=F64)), "divisible by the number of B/C groups G=4"),
    (dict(B=torch.randn(2, 8, 2, 4, dtype=F64)), r"B must have shape \(batch=2, L=9, G=2, N=4\)"),
    (dict(C=torch.randn(2, 9, 1, 4, dtype=F64)), r"C must have shape \(batch=2, L=9, G=2, N=4\)"),
    (dict(A=torch.randn(5, 4, dtype=F64)), r"A must have shape \(D=6, N\)"),
    (dict(delta=torch.rand(2, 9, 5, dtype=F64)), r"delta must have shape"),
    (dict(u=torch.randn(2, 0, 6, dtype=F64)), "L >= 1"),
    (dict(D=torch.ones(5, dtype=F64)), r"D must have shape \(D=6\)"),
    (dict(initial_state=torch.zeros(2, 6, 3, dtype=F64)), "initial_state must have shape"),
    (dict(u=torch.ones(2, 9, 6, dtype=torch.int64)), "u must be a real floating-point tensor"),
])
def test_bad_scan_arguments_are_named(changes, message):
    inputs = _replace(make_inputs(9, groups=2), **changes)
    error = TypeError if "floating" in message else ValueError
    for scan in (selective_scan_ref, selective_scan_loop):
        with pytest.raises(error, match=message):
            scan(**inputs)


def test_bad_step_arguments_and_chunk_size_are_named():
    inputs = make_inputs(1, groups=2)
    state = torch.zeros(2, 6, 4, dtype=F64)
    step_args = (inputs["u"][:, 0], inputs["delta"][:, 0], inputs["A"])
    with pytest.raises(ValueError, match="D=6 must be divisible by the number of B/C groups G=4"):
        selective_state_update_ref(state, *step_args, torch.randn(2, 4, 4, dtype=F64),
                                   torch.randn(2, 4, 4, dtype=F64))
    with pytest.raises(ValueError, match=r"state must have shape \(batch=2, D=6, N=4\)"):
        selective_state_update_ref(state[:, :, :3], *step_args, inputs["B"][:, 0],
                                   inputs["C"][:, 0])
    with pytest.raises(ValueError, match="chunk_size must be positive"):
        selective_scan_ref(**inputs, chunk_size=0)
