"""Section ``step``: one decode step after a short and a long context.

An SSM's state has a fixed size whatever the context, so its step should cost the same after 1K
and 128K tokens. The state is built by a scan over that context (random inputs), then the step
kernel is timed on it: Mamba's selective-scan step with the Mamba layer's flags (D, z, Δ bias,
softplus; d_inner 2048, N 16), and SSD's step at the SSD sweep's shape (24 heads × 64, N 128).
Attention decodes over a KV cache holding the whole context (SDPA, 16 heads × 64), so its step
grows with the context. ``step`` rows time one call from Python (launch cost included) and the
reference; ``step-graph`` rows replay the call from a CUDA graph (the GPU's time alone).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from tsssm.benchmarks.cases import (ATTENTION_HEADS, MIXER_WIDTH, SCAN_STATE, SSD_HEAD_DIM,
                                    SSD_HEADS, SSD_SWEEP_STATE, STEP_CONTEXTS, length_label,
                                    step_label)
from tsssm.benchmarks import ssd as ssd_bench
from tsssm.benchmarks.checks import TOLERANCE, relative_error
from tsssm.benchmarks.floors import attention_bytes, scan_step_bytes, ssd_step_bytes
from tsssm.benchmarks.results import Check, Row
from tsssm.benchmarks.timing import Bench, Timed
from tsssm.kernels.selective_scan import selective_scan, selective_state_update
from tsssm.kernels.ssd import ssd, ssd_state_update

MODES = ("step", "step-graph")
D_INNER, HEAD_DIM, DTYPE = 2 * MIXER_WIDTH, MIXER_WIDTH // ATTENTION_HEADS, torch.bfloat16
Step = Callable[[str], Tensor]
"""``backend -> y``: one decode step, updating its state in place."""


def _normal(*shape: int) -> Tensor:
    return torch.randn(*shape, device="cuda", dtype=DTYPE)


def _uniform(low: float, high: float, *shape: int, dtype: torch.dtype = DTYPE) -> Tensor:
    return torch.empty(*shape, device="cuda", dtype=dtype).uniform_(low, high)


def mamba_params() -> dict[str, Tensor]:
    """A (D, N) in [-8, -0.5]; skip D; Δ bias with softplus(bias) in about [0.02, 0.13]; bf16 as in
    a bf16 Mamba layer."""
    return {"A": -_uniform(0.5, 8.0, D_INNER, SCAN_STATE), "D": _normal(D_INNER),
            "dt_bias": _uniform(-4.0, -2.0, D_INNER)}


@torch.no_grad()
def mamba_state_after(context: int, params: dict[str, Tensor]) -> Tensor:
    """The fp32 scan state (1, D, N) after a random sequence of ``context`` tokens."""
    _, state = selective_scan(_normal(1, context, D_INNER), _normal(1, context, D_INNER),
                              params["A"], _normal(1, context, 1, SCAN_STATE),
                              _normal(1, context, 1, SCAN_STATE), params["D"],
                              z=_normal(1, context, D_INNER), delta_bias=params["dt_bias"],
                              delta_softplus=True, return_final_state=True, backend="triton")
    return state


def mamba_token() -> dict[str, Tensor]:
    """One random token's x, dt, z (1, D) and B, C (1, 1, N)."""
    return {"x": _normal(1, D_INNER), "dt": _normal(1, D_INNER), "z": _normal(1, D_INNER),
            "B": _normal(1, 1, SCAN_STATE), "C": _normal(1, 1, SCAN_STATE)}


def mamba_step(state: Tensor, params: dict[str, Tensor], token: dict[str, Tensor]) -> Step:
    def step(backend: str) -> Tensor:
        return selective_state_update(state, token["x"], token["dt"], params["A"], token["B"],
                                      token["C"], params["D"], token["z"], params["dt_bias"],
                                      dt_softplus=True, backend=backend)

    return step


@torch.no_grad()
def ssd_state_after(context: int, A: Tensor, chunk: int) -> Tensor:
    """The fp32 SSD state (1, H, P, N) after a random sequence of ``context`` tokens."""
    _, state = ssd(_normal(1, context, SSD_HEADS, SSD_HEAD_DIM),
                   _uniform(1e-3, 0.1, 1, context, SSD_HEADS), A,
                   _normal(1, context, 1, SSD_SWEEP_STATE), _normal(1, context, 1, SSD_SWEEP_STATE),
                   chunk_size=chunk, return_final_state=True, backend="triton")
    return state


def ssd_token() -> dict[str, Tensor]:
    """One random token's x (1, H, P), dt (1, H) and B, C (1, 1, N)."""
    return {"x": _normal(1, SSD_HEADS, SSD_HEAD_DIM), "dt": _uniform(1e-3, 0.1, 1, SSD_HEADS),
            "B": _normal(1, 1, SSD_SWEEP_STATE), "C": _normal(1, 1, SSD_SWEEP_STATE)}


def ssd_step(state: Tensor, A: Tensor, token: dict[str, Tensor]) -> Step:
    return lambda backend: ssd_state_update(state, token["x"], token["dt"], A, token["B"],
                                            token["C"], backend=backend)


def _timed(step: Step, mode: str) -> Timed:
    if mode == "step-graph":
        return Timed(lambda: step("triton"), graph=True)
    return Timed(lambda: step("triton"), reference=lambda: step("reference"))


def _mamba_setup(context: int, mode: str) -> Callable[[], Timed]:
    def setup() -> Timed:
        params = mamba_params()
        return _timed(mamba_step(mamba_state_after(context, params), params, mamba_token()), mode)

    return setup


def _ssd_setup(context: int, mode: str, chunk: int) -> Callable[[], Timed]:
    def setup() -> Timed:
        A = -_uniform(1.0, 8.0, SSD_HEADS, dtype=torch.float32)
        return _timed(ssd_step(ssd_state_after(context, A, chunk), A, ssd_token()), mode)

    return setup


def _sdpa_setup(context: int, mode: str) -> Callable[[], Timed]:
    def setup() -> Timed:
        q = _normal(1, ATTENTION_HEADS, 1, HEAD_DIM)
        k, v = (_normal(1, ATTENTION_HEADS, context, HEAD_DIM) for _ in range(2))
        return Timed(lambda: F.scaled_dot_product_attention(q, k, v), graph=mode == "step-graph")

    return setup


def _wide(tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    return {name: t.double() for name, t in tensors.items()}


def _compare(kernel: str, y: Tensor, y_ref: Tensor, state: Tensor, wide_state: Tensor) -> Check:
    return Check(kernel, f"after {length_label(STEP_CONTEXTS[0])} tokens",
                 {"y": relative_error(y, y_ref), "state": relative_error(state, wide_state)},
                 TOLERANCE["bf16"])


def _check_mamba() -> Check:
    """Mamba's step through Triton against the reference in float64, from the same state."""
    params, token = mamba_params(), mamba_token()
    state = mamba_state_after(STEP_CONTEXTS[0], params)
    wide_state = state.double()
    y_ref = mamba_step(wide_state, _wide(params), _wide(token))("reference")
    y = mamba_step(state, params, token)("triton")
    return _compare(f"selective_state_update bf16 D{D_INNER} N{SCAN_STATE}", y, y_ref, state,
                    wide_state)


def _check_ssd(chunk: int) -> Check:
    """SSD's step through Triton against the reference in float64, from the same state."""
    A, token = -_uniform(1.0, 8.0, SSD_HEADS, dtype=torch.float32), ssd_token()
    state = ssd_state_after(STEP_CONTEXTS[0], A, chunk)
    wide_state = state.double()
    y_ref = ssd_step(wide_state, A.double(), _wide(token))("reference")
    y = ssd_step(state, A, token)("triton")
    return _compare(f"ssd_state_update bf16 H{SSD_HEADS}x{SSD_HEAD_DIM} N{SSD_SWEEP_STATE}", y,
                    y_ref, state, wide_state)


def _row(bench: Bench, kind: str, context: int, mode: str, nbytes: int,
         shape: dict[str, int]) -> Row:
    return Row("step", step_label(kind, context), "bf16", mode, 1,
               {"batch": 1, "context": context, **shape}, floor_ms=bench.floor(nbytes).ms,
               floor_bound="memory", nbytes=nbytes)


def _cases(bench: Bench, context: int, mode: str) -> list[tuple[Row, Callable[[], Timed]]]:
    itemsize = DTYPE.itemsize
    mamba_bytes = scan_step_bytes(1, D_INNER, 1, SCAN_STATE, itemsize)
    ssd_bytes = ssd_step_bytes(1, SSD_HEADS, SSD_HEAD_DIM, 1, SSD_SWEEP_STATE, itemsize)
    sdpa_bytes = attention_bytes(1, ATTENTION_HEADS, 1, context, HEAD_DIM, itemsize)
    return [
        (_row(bench, "mamba", context, mode, mamba_bytes, {"dim": D_INNER, "state": SCAN_STATE}),
         _mamba_setup(context, mode)),
        (_row(bench, "ssd", context, mode, ssd_bytes,
              {"heads": SSD_HEADS, "head_dim": SSD_HEAD_DIM, "state": SSD_SWEEP_STATE}),
         _ssd_setup(context, mode, bench.ssd_chunk)),
        (_row(bench, "sdpa", context, mode, sdpa_bytes,
              {"heads": ATTENTION_HEADS, "head_dim": HEAD_DIM}),
         _sdpa_setup(context, mode)),
    ]


def run(bench: Bench) -> None:
    short = STEP_CONTEXTS[0]
    if bench.tune("step mamba", [_mamba_setup(short, "step")]):
        bench.check("step mamba", _check_mamba)
    chunk = bench.ssd_chunk
    forward_at_tuning_shape = ssd_bench.tuning_setups(SSD_SWEEP_STATE, chunk, modes=("fwd",))
    if bench.tune(f"step ssd chunk {chunk}",
                  forward_at_tuning_shape + [_ssd_setup(short, "step", chunk)]):
        bench.check("step ssd", lambda: _check_ssd(chunk))
    for context in STEP_CONTEXTS:
        for mode in MODES:
            for row, setup in _cases(bench, context, mode):
                bench.time(row, setup)
