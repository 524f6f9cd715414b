"""Section ``ssd``: Mamba-2's SSD scan (``tsssm.kernels.ssd``), bf16, one group of B and C.

Per state size N: compile and tune at the tuning shape, check against the reference, then time
forward (inference) and forward+backward. The reference is timed where it fits in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

import torch
from torch import Tensor

from tsssm.benchmarks.cases import TUNE_SHAPE, SSDCase, ssd_cases
from tsssm.benchmarks.checks import check_against_reference
from tsssm.benchmarks.floors import ssd_bytes
from tsssm.benchmarks.results import Check, Row
from tsssm.benchmarks.timing import Bench, KernelCall, Timed, kernel_setup
from tsssm.kernels.ssd import ssd

DTYPES = {"bf16": torch.bfloat16}
MODES = ("fwd", "fwd+bwd")
CHECK_SHAPE = (1, 304)
"""(batch, length): no chunk size divides the length; a multiple of 16, as every timed length is,
so the check reuses the kernels compiled for the timings (Triton specializes on it)."""


def ssd_inputs(case: SSDCase, requires_grad: bool) -> dict[str, Tensor]:
    """Random inputs on the GPU: x, B, C normal; dt in [1e-3, 0.1]; A (H,) in [-8, -1], fp32."""
    dtype = DTYPES[case.dtype]
    b, length, heads = case.batch, case.length, case.heads

    def normal(*shape: int) -> Tensor:
        return torch.randn(*shape, device="cuda", dtype=dtype)

    tensors = {"x": normal(b, length, heads, case.head_dim),
               "dt": torch.empty(b, length, heads, device="cuda", dtype=dtype).uniform_(1e-3, 0.1),
               "A": -torch.empty(heads, device="cuda").uniform_(1.0, 8.0),
               "B": normal(b, length, case.groups, case.state),
               "C": normal(b, length, case.groups, case.state)}
    return {name: t.requires_grad_(requires_grad) for name, t in tensors.items()}


def _caller(chunk: int) -> KernelCall:
    def call(inputs: dict[str, Tensor], backend: str) -> Tensor:
        return ssd(**inputs, chunk_size=chunk, backend=backend)

    return call


def setup_for(case: SSDCase, mode: str, chunk: int, with_reference: bool) -> Callable[[], Timed]:
    """Fresh random inputs of ``case``, timed through Triton (and the reference)."""
    return kernel_setup(lambda grad: ssd_inputs(case, grad), _caller(chunk), mode, with_reference)


def tuning_setups(state: int, chunk: int,
                  modes: tuple[str, ...] = MODES) -> list[Callable[[], Timed]]:
    """First calls at the tuning shape, which pick the block sizes of every later call
    (``cases.TUNE_SHAPE``); the step section makes them too before its small SSD calls."""
    return [setup_for(SSDCase(*TUNE_SHAPE, state), mode, chunk, False) for mode in modes]


def _case(bench: Bench, case: SSDCase, mode: str,
          chunk: int) -> tuple[Row, Callable[[], Timed]]:
    """The row of ``case`` in ``mode`` and the setup that times it."""
    dims = (case.batch, case.length, case.heads, case.head_dim, case.groups, case.state,
            DTYPES[case.dtype].itemsize)
    forward_floor = bench.floor(ssd_bytes(*dims))
    shape = {**{k: v for k, v in asdict(case).items() if k != "dtype"}, "chunk": chunk}
    row = Row("ssd", case.label, case.dtype, mode, case.batch * case.length, shape,
              floor_ms=forward_floor.ms, floor_bound=forward_floor.bound,
              nbytes=ssd_bytes(*dims, backward=mode == "fwd+bwd"))
    return row, setup_for(case, mode, chunk, case.reference_fits)


def _check(state: int, chunk: int) -> Check:
    case = SSDCase(*CHECK_SHAPE, state)
    call = _caller(chunk)
    return check_against_reference(f"ssd {case.dtype} chunk {chunk}", case.label, case.dtype,
                                   ssd_inputs(case, requires_grad=False),
                                   lambda t: call(t, "triton"), lambda t: call(t, "reference"))


def run(bench: Bench) -> None:
    chunk = bench.ssd_chunk
    cases = ssd_cases(bench.quick)
    for state in dict.fromkeys(case.state for case in cases):
        bench.run_group(f"ssd N{state} chunk {chunk}", tuning_setups(state, chunk),
                        lambda: _check(state, chunk),
                        [_case(bench, case, mode, chunk) for case in cases if case.state == state
                         for mode in MODES])
