"""The SSD scan's entering states from ``chain_states_kernel`` (one program along the chunks,
from ``CHAIN_MIN_SEQUENCES`` sequences on) against those of ``chunk_outer_kernel`` and the
state pass, and the whole scan with them against the float64 reference. The GPU's run of it is
``test_ssd_triton.py::test_scan_matches_reference_on_gpu_with_chained_states``."""

from __future__ import annotations

import pytest
import torch

from tests.kernels.numerics import poisoned_allocations, relative_error
from tests.kernels.test_ssd_triton import (CPU_CASES, DEVICE, RAGGED_CHUNK, RAGGED_HEAD_DIM,
                                           RAGGED_HEADS, RAGGED_STATE, compare_with_reference,
                                           force_configs, make_inputs)
from tsssm.kernels.ssd import triton as ssdt
from tsssm.kernels.ssd.triton_states import CHAIN_CONFIGS


def both_ways(batch: int, length: int, heads: int, groups: int, head_dim: int, state: int,
              chunk: int, dtype: torch.dtype, features: set[str],
              seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(entering states, final state) of ``make_inputs``' scan inputs (``features``: "h0",
    "steep"), per-chunk first, then chained."""
    inputs = make_inputs(batch, length, heads, groups, head_dim, state, dtype, features, seed)
    results = []
    with torch.no_grad():
        dt_eff, cs = ssdt._dt_cumsum(inputs["dt"], inputs["A"], None, False, chunk)
        for chained in (False, True):
            final = torch.full((batch, heads, head_dim, state), float("nan"), device=DEVICE)
            with poisoned_allocations():
                entering = ssdt._entering_states(inputs["x"], inputs["B"], cs, dt_eff,
                                                 inputs["initial_state"], final, dtype, chained)
            results.append((entering, final))
    return results


@pytest.mark.parametrize("length,chunk,with_init", [(37, 16, True), (64, 32, False)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_chained_states_are_the_per_chunk_kernels_states(length, chunk, with_init, dtype):
    """A ragged last chunk and whole ones, with and without an initial state, entering states
    in fp32 (as the backward recomputes them) and in bf16 (as the forward keeps them), P and N
    spanning several of the interpreter's tiles."""
    (apart, apart_final), (chained, chained_final) = both_ways(
        2, length, 4, 2, 24, 40, chunk, dtype, {"h0"} if with_init else set(), seed=length)
    assert chained.dtype == dtype and chained.shape == apart.shape
    assert relative_error(chained_final, apart_final) <= 1e-5
    assert relative_error(chained.float(), apart.float()) <= (1e-5 if dtype == torch.float32
                                                              else 1e-2)


@pytest.mark.parametrize("length", [RAGGED_CHUNK + 80, 2 * RAGGED_CHUNK])
@pytest.mark.parametrize("index", range(len(CHAIN_CONFIGS)))
def test_chained_states_under_every_gpu_config(index, length):
    """Each block size the GPU's autotuner may pick (capped by its pruner, recorded by the
    launch), along a ragged last chunk whose log-decay runs far below -88 and along whole
    chunks: the steps' weights and the running state's decay must underflow to 0, not NaN."""
    shape = {"CHUNK": RAGGED_CHUNK, "P": RAGGED_HEAD_DIM, "N": RAGGED_STATE}
    launch = ssdt._CHAIN
    with pytest.MonkeyPatch.context() as patch:
        force_configs(patch, launch, launch.kernel.early_config_prune([CHAIN_CONFIGS[index]],
                                                                      shape))
        (apart, apart_final), (chained, chained_final) = both_ways(
            1, length, RAGGED_HEADS, 1, RAGGED_HEAD_DIM, RAGGED_STATE, RAGGED_CHUNK,
            torch.float32, {"h0", "steep"}, seed=13)
        forced = launch.kernel.configs[0].kwargs.items()
        assert launch.meta and all(meta.items() >= forced for meta in launch.meta.values())
    assert relative_error(chained_final, apart_final) <= 1e-5
    assert relative_error(chained, apart) <= 1e-5


@pytest.mark.parametrize("dtype,case", [(torch.float32, 0), (torch.float32, 2),
                                        (torch.bfloat16, 0)])
def test_scan_with_chained_states_matches_reference(dtype, case):
    """The whole scan, forward and backward, with its entering states chained (forced here)."""
    length, heads, groups, head_dim, state, chunk, features = CPU_CASES[case]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ssdt, "CHAIN_MIN_SEQUENCES", 1)
        compare_with_reference(2, length, heads, groups, head_dim, state, chunk, dtype, features,
                               seed=5 * length + case)
        assert ssdt._CHAIN.meta
