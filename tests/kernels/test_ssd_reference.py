"""The chunked SSD reference against the step-by-step recurrence, and its decode step."""

from __future__ import annotations

import pytest
import torch

from tsssm.kernels.ssd import ssd, ssd_state_update
from tsssm.kernels.ssd.reference import ssd_loop, ssd_ref, ssd_state_update_ref

F64 = torch.float64
EXACT = 1e-10


def make_inputs(length: int, groups: int = 1, batch: int = 2, heads: int = 4, head_dim: int = 3,
                state_dim: int = 5, dtype: torch.dtype = F64, seed: int = 0) -> dict:
    """Random scan inputs whose decays (dt A in about [-1.5, -0.05]) carry across chunks."""
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen, dtype=F64).to(dtype)

    return dict(
        x=randn(batch, length, heads, head_dim),
        dt=(0.1 + 0.4 * torch.rand(batch, length, heads, generator=gen, dtype=F64)).to(dtype),
        A=-(0.5 + 2.5 * torch.rand(heads, generator=gen, dtype=F64)).to(dtype),
        B=randn(batch, length, groups, state_dim),
        C=randn(batch, length, groups, state_dim),
    )


def make_options(inputs: dict, D: str, z: bool, dt_bias: bool, initial_state: bool) -> dict:
    """The optional arguments, each on or off; D is "none", "head" (H,) or "channel" (H, P)."""
    gen = torch.Generator().manual_seed(1)
    batch, length, heads, head_dim = inputs["x"].shape
    state_dim = inputs["B"].shape[-1]
    options: dict = {}
    if D != "none":
        options["D"] = torch.randn((heads,) if D == "head" else (heads, head_dim), generator=gen,
                                   dtype=F64)
    if z:
        options["z"] = torch.randn(batch, length, heads, head_dim, generator=gen, dtype=F64)
    if dt_bias:
        options["dt_bias"] = torch.randn(heads, generator=gen, dtype=F64) - 1.0
        options["dt_softplus"] = True
    if initial_state:
        options["initial_state"] = torch.randn(batch, heads, head_dim, state_dim, generator=gen,
                                               dtype=F64)
    return options


TIME_KEYS = ("x", "dt", "B", "C", "z")


def at_times(args: dict, index) -> dict:
    """The arguments at time ``index`` (an int or a slice) where they have a time axis."""
    return {k: v[:, index] if k in TIME_KEYS else v for k, v in args.items()}


@pytest.mark.parametrize("length, chunk_size", [(37, 16), (5, 16), (32, 16), (1, 8)])
@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("D", ["none", "head", "channel"])
@pytest.mark.parametrize("z", [False, True])
@pytest.mark.parametrize("dt_bias", [False, True])
@pytest.mark.parametrize("initial_state", [False, True])
def test_chunked_matches_recurrence(length, chunk_size, groups, D, z, dt_bias, initial_state):
    inputs = make_inputs(length, groups)
    options = make_options(inputs, D, z, dt_bias, initial_state)
    y, state = ssd_ref(**inputs, chunk_size=chunk_size, **options, return_final_state=True)
    y_loop, state_loop = ssd_loop(**inputs, **options, return_final_state=True)
    assert y.shape == inputs["x"].shape and state.shape == (2, 4, 3, 5)
    assert (y - y_loop).abs().max() <= EXACT
    # a padded last chunk (37 = 2 * 16 + 5) must leave the final state untouched
    assert (state - state_loop).abs().max() <= EXACT


def test_chunk_size_does_not_change_the_result():
    inputs = make_inputs(29, groups=2)
    options = make_options(inputs, "head", z=True, dt_bias=True, initial_state=True)
    y0, state0 = ssd_ref(**inputs, chunk_size=29, **options, return_final_state=True)
    for chunk_size in (1, 4, 7, 64):
        y, state = ssd_ref(**inputs, chunk_size=chunk_size, **options, return_final_state=True)
        assert (y - y0).abs().max() <= EXACT, chunk_size
        assert (state - state0).abs().max() <= EXACT, chunk_size


@pytest.mark.parametrize("split", [1, 13, 16, 30])
def test_split_sequence_with_carried_state_matches_whole(split):
    args = {**make_inputs(31, groups=2), "D": torch.ones(4, dtype=F64), "chunk_size": 8,
            "return_final_state": True}
    y_whole, state_whole = ssd_ref(**args)
    y1, state1 = ssd_ref(**at_times(args, slice(None, split)))
    y2, state2 = ssd_ref(**at_times(args, slice(split, None)), initial_state=state1)
    assert (torch.cat([y1, y2], dim=1) - y_whole).abs().max() <= EXACT
    assert (state2 - state_whole).abs().max() <= EXACT


def test_gradients_match_recurrence():
    """The -inf decay mask must give exact zeros, not NaNs, in the backward pass."""
    inputs = make_inputs(21, groups=2)
    options = make_options(inputs, "channel", z=True, dt_bias=True, initial_state=True)
    leaves = {k: v.requires_grad_() for k, v in {**inputs, **options}.items()
              if isinstance(v, torch.Tensor)}
    weight = torch.randn(2, 21, 4, 3, dtype=F64)
    state_weight = torch.randn(2, 4, 3, 5, dtype=F64)

    def grads(fn, **kw):
        y, state = fn(**inputs, **options, **kw, return_final_state=True)
        return torch.autograd.grad((y * weight).sum() + (state * state_weight).sum(),
                                   list(leaves.values()))

    for name, g_ref, g_loop in zip(leaves, grads(ssd_ref, chunk_size=8), grads(ssd_loop)):
        assert torch.isfinite(g_ref).all(), name
        assert (g_ref - g_loop).abs().max() <= 1e-9, name


@pytest.mark.parametrize("dtype, rtol", [(torch.float32, 1e-5), (torch.bfloat16, 1e-2)])
def test_low_precision_accumulates_in_fp32(dtype, rtol):
    low = make_inputs(40, groups=2, dtype=dtype)
    y_exact, state_exact = ssd_loop(**{k: v.to(F64) for k, v in low.items()},
                                    return_final_state=True)
    y, state = ssd_ref(**low, chunk_size=16, return_final_state=True)
    assert y.dtype == dtype and state.dtype == torch.float32
    assert (y.to(F64) - y_exact).abs().max() <= rtol * y_exact.abs().max()
    assert (state.to(F64) - state_exact).abs().max() <= rtol * state_exact.abs().max()


@pytest.mark.parametrize("groups", [1, 2])
def test_state_update_is_one_recurrence_step(groups):
    inputs = make_inputs(12, groups)
    args = {**inputs, **make_options(inputs, "head", z=True, dt_bias=True, initial_state=False)}
    _, state = ssd_ref(**at_times(args, slice(None, 11)), chunk_size=4, return_final_state=True)
    y_whole, state_whole = ssd_ref(**args, chunk_size=4, return_final_state=True)
    y_loop, state_loop = ssd_loop(**at_times(args, slice(11, None)), initial_state=state.clone(),
                                  return_final_state=True)
    held = state
    y = ssd_state_update_ref(state, **at_times(args, 11))
    assert held is state, "the state must be updated in place"
    assert (y - y_whole[:, 11]).abs().max() <= EXACT
    assert (y - y_loop[:, 0]).abs().max() <= EXACT
    assert (state - state_whole).abs().max() <= EXACT
    assert (state - state_loop).abs().max() <= EXACT


def test_public_entry_points_run_the_reference_and_name_their_backends():
    inputs = make_inputs(9)
    assert torch.equal(ssd(**inputs, chunk_size=4, backend="reference"),
                       ssd_ref(**inputs, chunk_size=4))
    assert torch.equal(ssd(**inputs, chunk_size=4), ssd_ref(**inputs, chunk_size=4))
    state = torch.zeros(2, 4, 3, 5, dtype=F64)
    token = at_times(inputs, 0)
    assert torch.equal(ssd_state_update(state.clone(), **token, backend="reference"),
                       ssd_state_update_ref(state.clone(), **token))
    with pytest.raises(ValueError, match="backend='triton' cannot run these inputs"):
        ssd(**inputs, backend="triton")
    with pytest.raises(ValueError, match="backend"):
        ssd(**inputs, backend="cuda")
    with pytest.raises(ValueError, match="backend"):
        ssd_state_update(state, **token, backend="fast")


def _with(**changes) -> dict:
    """Valid inputs (H=4 heads, G=2 groups) with some arguments replaced."""
    return {**make_inputs(6, groups=2), **changes}


@pytest.mark.parametrize("kwargs, message", [
    (_with(B=torch.randn(2, 6, 3, 5, dtype=F64), C=torch.randn(2, 6, 3, 5, dtype=F64)),
     "multiple of the number of groups"),
    (_with(B=torch.randn(2, 6, 10, dtype=F64)), "B must have 4 dims"),
    (_with(C=torch.randn(2, 6, 2, 4, dtype=F64)), "C must have shape"),
    (_with(dt=torch.rand(2, 6, 3, dtype=F64)), "dt must have shape"),
    (_with(A=-torch.rand(4, 1, dtype=F64)), "A must have shape"),
    (_with(x=torch.randn(2, 6, 12, dtype=F64)), "x must have 4 dims"),
    (_with(x=torch.ones(2, 6, 4, 3, dtype=torch.long)), "floating-point"),
    (_with(D=torch.ones(3, dtype=F64)), "D must have shape"),
    (_with(z=torch.ones(2, 6, 4, 2, dtype=F64)), "z must have shape"),
    (_with(dt_bias=torch.ones(2, dtype=F64)), "dt_bias must have shape"),
    (_with(initial_state=torch.ones(2, 4, 3, 6, dtype=F64)), "initial_state"),
    (_with(chunk_size=0), "chunk_size"),
    (make_inputs(0), "no time steps"),
])
def test_bad_shapes_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ssd_ref(**kwargs)


@pytest.mark.parametrize("changes, message", [
    ({"state": torch.zeros(2, 4, 3, 4, dtype=F64)}, "state must have shape"),
    ({"dt": torch.rand(2, 1, 4, dtype=F64)}, "dt must have shape"),
    ({"C": torch.randn(2, 2, 4, dtype=F64)}, "C must have shape"),
    ({"B": torch.randn(2, 3, 5, dtype=F64), "C": torch.randn(2, 3, 5, dtype=F64)},
     "multiple of the number of groups"),
    ({"z": torch.randn(2, 4, 2, dtype=F64)}, "z must have shape"),
    ({"x": torch.randn(2, 4, 3, 1, dtype=F64)}, "x must have 3 dims"),
])
def test_state_update_bad_shapes_are_named(changes, message):
    args = {"state": torch.zeros(2, 4, 3, 5, dtype=F64), **at_times(make_inputs(3, groups=2), 0),
            **changes}
    with pytest.raises(ValueError, match=message):
        ssd_state_update_ref(**args)
