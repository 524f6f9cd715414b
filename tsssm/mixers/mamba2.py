"""Mamba-2: a selective SSM whose decay is one scalar per head, computed by the SSD chunked scan.

One input projection gives, per time step, the gate ``z``, the SSM input ``x`` (H heads of head dim
P), the input/output projections ``B``/``C`` (G groups of state size N) and the step size ``dt`` of
each head. ``x, B, C`` go through a short causal depthwise convolution and SiLU, then the scan
``h_t = exp(dt_t A) h_{t-1} + dt_t x_t ⊗ B_t``, ``y_t = h_t C_t + D x_t``; the output is
``out_proj(rmsnorm(y · silu(z)))``. The decode state is the convolution's last ``d_conv - 1``
inputs (B, conv_dim, d_conv - 1) plus the scan state (B, H, P, N): a fixed size, whatever the
length; ``prefill`` gets both from a whole prompt in parallel.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tsssm.kernels.ssd import ssd, ssd_state_update
from tsssm.mixers.base import Mixer
from tsssm.mixers.conv import CausalDepthwiseConv
from tsssm.mixers.gated_norm import GatedRMSNorm


class Mamba2(Mixer):
    """Mamba-2 mixer ``(B, L, d_model) -> (B, L, d_model)``.

    ``expand * d_model`` channels are split into ``H = expand * d_model / headdim`` heads; B and C
    are shared by the heads of each of ``ngroups`` groups. ``dt`` is initialised log-uniform in
    ``[dt_min, dt_max]`` (floored at ``dt_init_floor``) through its bias, ``-A`` uniform in
    ``A_init_range``, as in the Mamba-2 paper.
    """

    causal = True

    def __init__(self, d_model: int, d_state: int = 64, d_conv: int = 4, expand: float = 2,
                 headdim: int = 32, ngroups: int = 1, chunk_size: int = 64, dt_min: float = 1e-3,
                 dt_max: float = 1e-1, dt_init_floor: float = 1e-4,
                 A_init_range: tuple[float, float] = (1, 16), conv_bias: bool = True,
                 bias: bool = False) -> None:
        super().__init__(d_model)
        d_inner = expand * d_model
        if d_inner != int(d_inner) or d_inner <= 0:
            raise ValueError(f"Mamba2: expand * d_model = {expand} * {d_model} must be a positive "
                             f"whole number of channels")
        d_inner = int(d_inner)
        if headdim <= 0 or d_inner % headdim:
            raise ValueError(f"Mamba2: expand * d_model = {d_inner} must be divisible by "
                             f"headdim={headdim}")
        nheads = d_inner // headdim
        if ngroups <= 0 or nheads % ngroups:
            raise ValueError(f"Mamba2: the number of heads {nheads} (expand * d_model / headdim) "
                             f"must be divisible by ngroups={ngroups}")
        for name, value in (("d_state", d_state), ("d_conv", d_conv), ("chunk_size", chunk_size)):
            if value <= 0:
                raise ValueError(f"Mamba2: {name} must be positive, got {value}")
        if not 0 < dt_min <= dt_max:
            raise ValueError(f"Mamba2: need 0 < dt_min <= dt_max, got dt_min={dt_min}, "
                             f"dt_max={dt_max}")
        if not 0 < A_init_range[0] <= A_init_range[1]:
            raise ValueError(f"Mamba2: A_init_range must be (low, high) with 0 < low <= high, "
                             f"got {A_init_range}")
        self.d_inner, self.d_state, self.d_conv = d_inner, d_state, d_conv
        self.headdim, self.nheads, self.ngroups = headdim, nheads, ngroups
        self.chunk_size = chunk_size
        self.conv_dim = d_inner + 2 * ngroups * d_state  # x, B and C are convolved together

        self.in_proj = nn.Linear(d_model, d_inner + self.conv_dim + nheads, bias=bias)  # z, xBC, dt
        self.conv1d = CausalDepthwiseConv(self.conv_dim, d_conv, bias=conv_bias)

        dt = torch.exp(torch.empty(nheads).uniform_(math.log(dt_min), math.log(dt_max)))
        dt = dt.clamp(min=dt_init_floor)
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))  # softplus(dt_bias) = dt
        self.A_log = nn.Parameter(torch.empty(nheads).uniform_(*A_init_range).log())
        self.D = nn.Parameter(torch.ones(nheads))
        for param in (self.dt_bias, self.A_log, self.D):
            param._no_weight_decay = True

        self.norm = GatedRMSNorm(d_inner, group_size=d_inner // ngroups)
        self.out_proj = nn.Linear(d_inner, d_model, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        """``x (B, L, d_model) -> (B, L, d_model)``."""
        return self._parallel(x, "forward", keep_state=False)[0]

    def prefill(self, x: Tensor, capacity: int | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """``x (B, L, d_model)`` -> ``forward``'s output and ``(conv_state, ssm_state)`` after the
        last position (the layout of ``init_state``), from the SSD scan's final state."""
        return self._parallel(x, "prefill", keep_state=True)

    def _parallel(self, x: Tensor, caller: str,
                  keep_state: bool) -> tuple[Tensor, tuple[Tensor, Tensor] | None]:
        """The whole-sequence pass behind ``forward`` and ``prefill``."""
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"Mamba2.{caller}: x must have shape (B, L, d_model={self.d_model}), "
                             f"got {tuple(x.shape)}")
        z, xbc, dt = self._split_projection(self.in_proj(x))
        xbc, conv_state = (self.conv1d.prefill(xbc, activation="silu") if keep_state
                           else (self.conv1d(xbc, activation="silu"), None))
        u, B, C = self._split_heads(xbc)
        scanned = ssd(u, dt, self._A(), B, C, self.chunk_size, D=self.D, dt_bias=self.dt_bias,
                      dt_softplus=True, return_final_state=keep_state)
        y, state = (scanned[0], (conv_state, scanned[1])) if keep_state else (scanned, None)
        return self.out_proj(self.norm(y.flatten(-2), z)), state

    def init_state(self, batch: int, device: torch.device | str | None = None,
                   dtype: torch.dtype | None = None,
                   capacity: int | None = None) -> tuple[Tensor, Tensor]:
        """``(conv_state (B, conv_dim, d_conv - 1), ssm_state (B, H, P, N))``, both zeros.

        The scan state is kept in fp32 at least (float64 for float64 models): it accumulates
        over the whole sequence and bf16 would drift.
        """
        device = self.in_proj.weight.device if device is None else device
        dtype = self.in_proj.weight.dtype if dtype is None else dtype
        conv_state = self.conv1d.init_state(batch, device, dtype)
        ssm_state = torch.zeros(batch, self.nheads, self.headdim, self.d_state, device=device,
                                dtype=torch.promote_types(dtype, torch.float32))
        return conv_state, ssm_state

    def step(self, x: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """One token ``x (B, d_model) -> y (B, d_model)``; both state tensors are updated in place
        (constant memory while decoding) and returned."""
        if x.dim() != 2 or x.shape[-1] != self.d_model:
            raise ValueError(f"Mamba2.step: x must have shape (B, d_model={self.d_model}), "
                             f"got {tuple(x.shape)}")
        conv_state, ssm_state = state
        z, xbc, dt = self._split_projection(self.in_proj(x))
        xbc, conv_state = self.conv1d.step(xbc, conv_state)
        u, B, C = self._split_heads(F.silu(xbc))
        y = ssd_state_update(ssm_state, u, dt, self._A(), B, C, D=self.D, dt_bias=self.dt_bias,
                             dt_softplus=True)
        return self.out_proj(self.norm(y.flatten(-2), z)), (conv_state, ssm_state)

    def _split_projection(self, zxbcdt: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(..., d_inner + conv_dim + H) -> z (..., d_inner), xBC (..., conv_dim), dt (..., H)."""
        return zxbcdt.split([self.d_inner, self.conv_dim, self.nheads], dim=-1)

    def _split_heads(self, xbc: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(..., conv_dim) -> x (..., H, P), B (..., G, N), C (..., G, N)."""
        group_width = self.ngroups * self.d_state
        u, B, C = xbc.split([self.d_inner, group_width, group_width], dim=-1)
        return (u.unflatten(-1, (self.nheads, self.headdim)),
                B.unflatten(-1, (self.ngroups, self.d_state)),
                C.unflatten(-1, (self.ngroups, self.d_state)))

    def _A(self) -> Tensor:
        """(H,) negative decay rates, in fp32 at least so that low-precision weights keep them."""
        return -torch.exp(self.A_log.to(torch.promote_types(self.A_log.dtype, torch.float32)))
