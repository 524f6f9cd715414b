"""Section ``scan``: Mamba-1's selective scan (``tsssm.kernels.selective_scan``).

The anchors' setting: one group of B and C, real A, no z, no D, Δ given directly (no softplus).
Per dtype: compile and tune at the tuning shape, check against the reference, then time every
case forward (inference: no checkpoints written) and forward+backward.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

import torch
from torch import Tensor

from tsssm.benchmarks.cases import TUNE_SHAPE, ScanCase, scan_cases
from tsssm.benchmarks.checks import check_against_reference
from tsssm.benchmarks.floors import scan_bytes, scan_exps
from tsssm.benchmarks.results import Check, Row
from tsssm.benchmarks.timing import Bench, Timed, kernel_setup
from tsssm.kernels.selective_scan import selective_scan

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
MODES = ("fwd", "fwd+bwd")
CHECK_SHAPE = (2, 304)
"""(batch, length): no chunk size divides the length; a multiple of 16, as every timed length is,
so the check reuses the kernels compiled for the timings (Triton specializes on it)."""


def scan_inputs(case: ScanCase, requires_grad: bool) -> dict[str, Tensor]:
    """Random inputs on the GPU: u, B, C normal; Δ in [1e-3, 0.1], the step sizes Mamba's
    softplus gives; A (D, N) in [-8, -0.5], fp32 as a parameter is."""
    dtype = DTYPES[case.dtype]
    b, length, dim, groups, state = case.batch, case.length, case.dim, case.groups, case.state

    def normal(*shape: int) -> Tensor:
        return torch.randn(*shape, device="cuda", dtype=dtype)

    tensors = {"u": normal(b, length, dim),
               "delta": torch.empty(b, length, dim, device="cuda", dtype=dtype).uniform_(1e-3, 0.1),
               "A": -torch.empty(dim, state, device="cuda").uniform_(0.5, 8.0),
               "B": normal(b, length, groups, state),
               "C": normal(b, length, groups, state)}
    return {name: t.requires_grad_(requires_grad) for name, t in tensors.items()}


def _call(inputs: dict[str, Tensor], backend: str) -> Tensor:
    return selective_scan(**inputs, backend=backend)


def _case(bench: Bench, case: ScanCase, mode: str,
          with_reference: bool = True) -> tuple[Row, Callable[[], Timed]]:
    """The row of ``case`` in ``mode`` and the setup that times it."""
    itemsize = DTYPES[case.dtype].itemsize
    dims = (case.batch, case.length, case.dim, case.groups, case.state)
    forward_floor = bench.floor(scan_bytes(*dims, itemsize),
                                scan_exps(case.batch, case.length, case.dim, case.state))
    shape = {k: v for k, v in asdict(case).items() if k != "dtype"}
    row = Row("scan", case.label, case.dtype, mode, case.batch * case.length, shape,
              floor_ms=forward_floor.ms, floor_bound=forward_floor.bound,
              nbytes=scan_bytes(*dims, itemsize, backward=mode == "fwd+bwd"))
    setup = kernel_setup(lambda grad: scan_inputs(case, grad), _call, mode,
                         with_reference and case.reference_fits)
    return row, setup


def _check(dtype: str) -> Check:
    case = ScanCase(dtype, *CHECK_SHAPE)
    return check_against_reference(f"selective_scan {dtype}", case.label, dtype,
                                   scan_inputs(case, requires_grad=False),
                                   lambda t: _call(t, "triton"), lambda t: _call(t, "reference"))


def run(bench: Bench) -> None:
    cases = scan_cases(bench.quick)
    for dtype in DTYPES:
        tuning = ScanCase(dtype, *TUNE_SHAPE)
        bench.run_group(f"scan {dtype}",
                        [_case(bench, tuning, mode, with_reference=False)[1] for mode in MODES],
                        lambda: _check(dtype),
                        [_case(bench, case, mode) for case in cases if case.dtype == dtype
                         for mode in MODES])
