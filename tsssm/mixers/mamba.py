"""Mamba (Gu & Dao, 2023): a selective state-space mixer whose dynamics depend on the input.

Per layer, with E = expand * d_model inner channels and N = d_state::

    x, z  = in_proj(u)                    # (B, L, E) each; z is the output gate
    x     = silu(causal depthwise conv(x))  # short local mixing, kernel d_conv
    dt, B, C = x_proj(x)                  # (B, L, R), (B, L, N), (B, L, N); R = dt_rank
    dt    = dt_proj(dt)                   # (B, L, E); softplus(dt + bias) inside the scan
    y     = selective_scan(x, dt, A, B, C, D, z)   # A = -exp(A_log), (E, N)
    out   = out_proj(y)

B and C are shared by all E channels (one group). The recurrent state is fixed in size,
(B, E, d_conv - 1) for the convolution plus (B, E, N) for the scan, however long the sequence.

Decoding on the GPU runs the whole pre-norm block's step, ``u + mixer(rmsnorm(u))``, in two fused
kernels (``residual_step``, ``tsssm.kernels.mamba_step``) instead of some fifteen small ones;
``step_backend`` picks them as the kernels' ``backend`` does ("reference" keeps the eager step).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tsssm.kernels.dispatch import BACKENDS
from tsssm.kernels.mamba_step import MambaBlockWeights, mamba_block_step
from tsssm.kernels.selective_scan import selective_scan, selective_state_update
from tsssm.mixers.base import Mixer, State
from tsssm.mixers.conv import CausalDepthwiseConv


class MambaState(NamedTuple):
    """Streaming state of one Mamba layer (a tuple, so ``state_nbytes`` counts it).

    conv: (batch, E, d_conv - 1) the last d_conv - 1 conv inputs, oldest first
        (``CausalDepthwiseConv``'s state).
    ssm: (batch, E, N) the scan state, float32 (float64 for a float64 model).
    """

    conv: Tensor
    ssm: Tensor


def _inverse_softplus(y: Tensor) -> Tensor:
    """x with softplus(x) = y, for y > 0: ``y + log(1 - exp(-y))``, stable for small y."""
    return y + torch.log(-torch.expm1(-y))


class Mamba(Mixer):
    """Mamba-1 mixer ``(B, L, d_model) -> (B, L, d_model)``; ``step`` streams one token,
    ``prefill`` runs a prompt in parallel and returns the state after it. ``step_backend``:
    "auto", "triton" or "reference" for the fused block step (module docstring)."""

    causal = True

    def __init__(self, d_model: int, d_state: int = 16, d_conv: int = 4, expand: float = 2,
                 dt_rank: int | str = "auto", dt_min: float = 1e-3, dt_max: float = 1e-1,
                 dt_init_floor: float = 1e-4, conv_bias: bool = True, bias: bool = False,
                 step_backend: str = "auto") -> None:
        super().__init__(d_model)
        if d_state < 1 or d_conv < 1:
            raise ValueError(f"Mamba: d_state and d_conv must be positive, got d_state={d_state}, "
                             f"d_conv={d_conv}")
        d_inner = int(expand * d_model)
        if d_inner < 1:
            raise ValueError(f"Mamba: expand * d_model must be at least 1, got expand={expand}, "
                             f"d_model={d_model}")
        if dt_rank == "auto":
            dt_rank = math.ceil(d_model / 16)
        if not isinstance(dt_rank, int) or dt_rank < 1:
            raise ValueError(f"Mamba: dt_rank must be 'auto' or a positive int, got {dt_rank!r}")
        if not 0 < dt_min <= dt_max or dt_init_floor <= 0:
            raise ValueError(f"Mamba: need 0 < dt_min <= dt_max and dt_init_floor > 0, got "
                             f"dt_min={dt_min}, dt_max={dt_max}, dt_init_floor={dt_init_floor}")
        if step_backend not in BACKENDS:
            raise ValueError(f"Mamba: step_backend must be one of {BACKENDS}, got {step_backend!r}")
        self.d_state, self.d_conv, self.d_inner, self.dt_rank = d_state, d_conv, d_inner, dt_rank
        self.step_backend = step_backend

        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=bias)
        self.conv1d = CausalDepthwiseConv(d_inner, d_conv, bias=conv_bias)
        self.x_proj = nn.Linear(d_inner, dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(dt_rank, d_inner, bias=True)
        self.out_proj = nn.Linear(d_inner, d_model, bias=bias)

        # dt_proj keeps the variance of its input; its bias puts softplus(bias) log-uniformly in
        # [dt_min, dt_max], so channels start with time scales spread over two decades.
        nn.init.uniform_(self.dt_proj.weight, -dt_rank ** -0.5, dt_rank ** -0.5)
        log_dt = torch.rand(d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        with torch.no_grad():
            self.dt_proj.bias.copy_(_inverse_softplus(log_dt.exp().clamp(min=dt_init_floor)))
        self.dt_proj.bias._no_weight_decay = True

        # S4D-real: A[d, n] = -(n + 1), decay rates spread like the HiPPO spectrum.
        a = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(d_inner, 1)
        self.A_log = nn.Parameter(torch.log(a))
        self.A_log._no_weight_decay = True
        self.D = nn.Parameter(torch.ones(d_inner))
        self.D._no_weight_decay = True

    def _scan_inputs(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """From conv output x (..., E): dt (..., E) before bias/softplus, B and C (..., N)."""
        dt, B, C = self.x_proj(x).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        return F.linear(dt, self.dt_proj.weight), B, C

    def forward(self, u: Tensor) -> Tensor:
        """``u (B, L, d_model) -> (B, L, d_model)``."""
        return self._parallel(u, "forward", keep_state=False)[0]

    def prefill(self, u: Tensor, capacity: int | None = None) -> tuple[Tensor, MambaState]:
        """``u (B, L, d_model)`` -> ``forward``'s output and the state after the last position:
        the conv's last d_conv - 1 inputs and the scan's final state, in parallel."""
        return self._parallel(u, "prefill", keep_state=True)

    def _parallel(self, u: Tensor, caller: str,
                  keep_state: bool) -> tuple[Tensor, MambaState | None]:
        """The whole-sequence pass behind ``forward`` and ``prefill``."""
        if u.dim() != 3 or u.shape[-1] != self.d_model:
            raise ValueError(f"Mamba.{caller}: expected input (batch, L, d_model={self.d_model}), "
                             f"got {tuple(u.shape)}")
        x, z = self.in_proj(u).chunk(2, dim=-1)
        x, conv_state = (self.conv1d.prefill(x, activation="silu") if keep_state  # (B, L, E)
                         else (self.conv1d(x, activation="silu"), None))
        dt, B, C = self._scan_inputs(x)
        scanned = selective_scan(x, dt, -torch.exp(self.A_log), B.unsqueeze(2), C.unsqueeze(2),
                                 self.D, z=z, delta_bias=self.dt_proj.bias, delta_softplus=True,
                                 return_final_state=keep_state)
        y, state = ((scanned[0], MambaState(conv=conv_state, ssm=scanned[1])) if keep_state
                    else (scanned, None))
        return self.out_proj(y), state

    def init_state(self, batch: int, device: torch.device | str | None = None,
                   dtype: torch.dtype | None = None, capacity: int | None = None) -> MambaState:
        """Zeros: ``conv (batch, E, d_conv - 1)`` in ``dtype``, ``ssm (batch, E, N)`` in float32
        (float64 when ``dtype`` is float64). ``dtype``/``device`` default to the parameters'."""
        device = self.A_log.device if device is None else device
        dtype = self.A_log.dtype if dtype is None else dtype
        ssm_dtype = torch.float64 if dtype == torch.float64 else torch.float32
        return MambaState(
            conv=self.conv1d.init_state(batch, device, dtype),
            ssm=torch.zeros(batch, self.d_inner, self.d_state, device=device, dtype=ssm_dtype))

    def step(self, u: Tensor, state: MambaState) -> tuple[Tensor, MambaState]:
        """``u (B, d_model) -> (B, d_model)``; ``state`` is updated in place and returned."""
        if u.dim() != 2 or u.shape[-1] != self.d_model:
            raise ValueError(f"Mamba.step: expected input (batch, d_model={self.d_model}), "
                             f"got {tuple(u.shape)}")
        conv, ssm = state
        x, z = self.in_proj(u).chunk(2, dim=-1)                             # (B, E) each
        x = F.silu(self.conv1d.step(x, conv)[0])
        dt, B, C = self._scan_inputs(x)
        y = selective_state_update(ssm, x, dt, -torch.exp(self.A_log), B.unsqueeze(1),
                                   C.unsqueeze(1), self.D, z=z, dt_bias=self.dt_proj.bias,
                                   dt_softplus=True)
        return self.out_proj(y), state

    def residual_step(self, u: Tensor, state: State, norm: nn.Module) -> Tensor | None:
        """``u + step(norm(u))`` in the fused kernels, the state updated in place; None where they
        do not run: ``step_backend`` "reference", off CUDA or in float64 under "auto", a norm
        other than RMSNorm, or autograd recording (the kernels have no backward)."""
        if self.step_backend == "reference":
            return None
        problem = self._fused_step_problem(u, norm)
        if problem is not None:
            if self.step_backend == "triton":
                raise ValueError(f"Mamba.residual_step: step_backend='triton' cannot run: "
                                 f"{problem}")
            return None
        weights = MambaBlockWeights(
            norm.weight, norm.eps, self.in_proj.weight, self.in_proj.bias, self.conv1d.weight,
            self.conv1d.bias, self.x_proj.weight, self.dt_proj.weight, self.dt_proj.bias,
            self.A_log, self.D, self.out_proj.weight, self.out_proj.bias)
        conv, ssm = state
        return mamba_block_step(u, weights, conv, ssm, self.step_backend)

    def _fused_step_problem(self, u: Tensor, norm: nn.Module) -> str | None:
        """Why the fused block step cannot stand in for this block's eager one, or None."""
        if not isinstance(norm, nn.RMSNorm) or norm.weight is None:
            return f"the block's norm must be an nn.RMSNorm with a weight, got {norm}"
        if torch.is_grad_enabled() and (u.requires_grad or self.A_log.requires_grad):
            return "autograd is recording and the fused step has no backward"
        return None
