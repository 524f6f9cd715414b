"""Causal linear attention: attention whose softmax is replaced by a kernel ``φ(q) · φ(k)``, so it
runs as a recurrence with a fixed-size state, with an optional decay per head (RetNet).

Per head, with feature map φ (``feature_maps.py``), keys and queries mapped to N features and
values of width d_v, and ``γ`` the head's decay (1 without decay)::

    S_t = γ S_{t-1} + v_t φ(k_t)ᵀ          (d_v × N)
    z_t = γ z_{t-1} + φ(k_t)               (N,) the normaliser
    y_t = S_t φ(q_t) / (z_t · φ(q_t) + ε)  "denominator" (Katharopoulos et al., 2020), or
    y_t = GroupNorm_h(S_t φ(q_t))          "groupnorm" (RetNet: each head normalised on its own)

and ``out_t = W_o y_t``. Unrolled, ``S_t φ(q_t) = Σ_{s<=t} γ^{t-s} (φ(q_t) · φ(k_s)) v_s``: the
masked quadratic form, attention with the decay ``γ^{t-s}`` in place of softmax.

This is exactly the SSD scan of Mamba-2 (``tsssm.kernels.ssd``), ``h_t = exp(dt_t A) h_{t-1} +
dt_t x_t ⊗ B_t``, ``y_t = h_t C_t``, with ``dt = 1``, ``A = log γ`` (0 without decay), ``B = φ(k)``,
``C = φ(q)``, one group per head, and ``x = v`` with a column of ones appended when the
denominator is used: that column's state is z, so numerator and denominator come out of one
scan, with ``P = d_v + 1``. So ``forward`` runs SSD's chunked form (masked quadratic inside each
chunk, one state passed between chunks): its Triton kernels on CUDA, its torch reference
elsewhere, through the kernel's own dispatch. ``step`` is SSD's decode step on the state
``(B, H, P, N)``, fixed whatever the length.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from tsssm.kernels.ssd import BACKENDS, ssd, ssd_state_update
from tsssm.mixers.base import Mixer
from tsssm.mixers.feature_maps import make_feature_map

DECAYS = ("none", "fixed", "learned")
NORMALIZATIONS = ("denominator", "groupnorm")


def retnet_decay_rates(n_heads: int) -> Tensor:
    """``-log γ_h`` for RetNet's per-head decays ``γ_h = 1 - 2^(-5-h)``: (H,) float64, from a
    memory of ~32 steps in head 0 to twice as long in each next head."""
    return -torch.log1p(-torch.exp2(-5.0 - torch.arange(n_heads, dtype=torch.float64)))


class LinearAttention(Mixer):
    """Multi-head causal linear attention ``(B, L, d_model) -> (B, L, d_model)``.

    Args:
        d_model: D, split into ``n_heads`` heads of ``D / n_heads`` channels for q, k and v.
        n_heads: H.
        feature_map: "elu" (elu + 1) or "hedgehog" (learned softmax features, twice as many).
        decay: "none" (γ = 1, Katharopoulos), "fixed" (RetNet's γ_h = 1 - 2^(-5-h)) or
            "learned" (from RetNet's values; ``γ = exp(-exp(log_decay_rate))`` stays in (0, 1)).
        normalization: "denominator" (divide by ``z_t · φ(q_t) + eps``) or "groupnorm" (RetNet).
        chunk_size: steps per chunk of the scan; the Triton kernels need a power of two >= 16
            (others run on the reference); does not change the result.
        eps: added to the denominator.
        bias: biases on the q/k/v and output projections.
        kernel_backend: the scan's backend, "auto", "reference" or "triton" (``tsssm.kernels.ssd``).
    """

    causal = True

    def __init__(self, d_model: int, n_heads: int = 4, feature_map: str = "elu",
                 decay: str = "fixed", normalization: str = "denominator", chunk_size: int = 64,
                 eps: float = 1e-6, bias: bool = False, kernel_backend: str = "auto") -> None:
        super().__init__(d_model)
        if n_heads <= 0 or d_model % n_heads:
            raise ValueError(f"LinearAttention: d_model={d_model} must be divisible by "
                             f"n_heads={n_heads} (a positive number of heads)")
        for name, value, allowed in (("decay", decay, DECAYS),
                                     ("normalization", normalization, NORMALIZATIONS),
                                     ("kernel_backend", kernel_backend, BACKENDS)):
            if value not in allowed:
                raise ValueError(f"LinearAttention: {name} must be one of {allowed}, got {value!r}")
        if not isinstance(chunk_size, int) or chunk_size <= 0:
            raise ValueError(f"LinearAttention: chunk_size must be a positive int, "
                             f"got {chunk_size!r}")
        if not eps > 0:
            raise ValueError(f"LinearAttention: eps must be positive, got {eps}")
        self.n_heads, self.head_dim = n_heads, d_model // n_heads
        self.decay, self.normalization = decay, normalization
        self.chunk_size, self.eps, self.kernel_backend = chunk_size, eps, kernel_backend

        self.qkv = nn.Linear(d_model, 3 * d_model, bias=bias)
        self.feature_map = make_feature_map(feature_map, n_heads, self.head_dim)
        rates = retnet_decay_rates(n_heads).float()
        if decay == "learned":
            self.log_decay_rate = nn.Parameter(rates.log())
            self.log_decay_rate._no_weight_decay = True
        else:
            self.register_buffer("decay_rate", rates if decay == "fixed" else torch.zeros(n_heads),
                                 persistent=False)
        self.norm = nn.GroupNorm(n_heads, d_model) if normalization == "groupnorm" else None
        self.out = nn.Linear(d_model, d_model, bias=bias)

    @property
    def value_width(self) -> int:
        """P, the scan's head dim: d_v, plus the normaliser's column of ones."""
        return self.head_dim + (self.normalization == "denominator")

    def log_decay(self) -> Tensor:
        """``log γ`` per head, the scan's A: (H,), <= 0, in fp32 at least."""
        rate = torch.exp(self.log_decay_rate) if self.decay == "learned" else self.decay_rate
        return -rate.to(torch.promote_types(rate.dtype, torch.float32))

    def scan_inputs(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``x (..., D)`` -> the scan's ``x = v`` (..., H, P), ``B = φ(k)`` and ``C = φ(q)``
        (..., H, N), all three in one dtype as the Triton scan needs (autocast runs softmax in
        fp32, the projection in bf16)."""
        q, k, v = self.qkv(x).unflatten(-1, (3, self.n_heads, self.head_dim)).unbind(-3)
        if self.normalization == "denominator":
            v = torch.cat([v, v.new_ones(*v.shape[:-1], 1)], dim=-1)
        return v, self.feature_map(k).to(v.dtype), self.feature_map(q).to(v.dtype)

    def read_out(self, y: Tensor) -> Tensor:
        """The scan's ``y (..., H, P)`` -> normalised, through the output projection (..., D)."""
        if self.norm is None:
            y = y[..., :-1] / (y[..., -1:] + self.eps)
            return self.out(y.flatten(-2))
        y = y.flatten(-2)
        return self.out(self.norm(y.reshape(-1, self.d_model)).view_as(y))

    def forward(self, x: Tensor) -> Tensor:
        """``x (B, L, D) -> (B, L, D)``."""
        return self._parallel(x, "forward", keep_state=False)[0]

    def prefill(self, x: Tensor, capacity: int | None = None) -> tuple[Tensor, Tensor]:
        """``x (B, L, D)`` -> ``forward``'s output and the scan's final state (B, H, P, N)."""
        return self._parallel(x, "prefill", keep_state=True)

    def _parallel(self, x: Tensor, caller: str, keep_state: bool) -> tuple[Tensor, Tensor | None]:
        """The chunked scan behind ``forward`` and ``prefill``."""
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"LinearAttention.{caller}: expected input (B, L, d_model="
                             f"{self.d_model}), got {tuple(x.shape)}")
        v, k, q = self.scan_inputs(x)
        scanned = ssd(v, v.new_ones(v.shape[:-1]), self.log_decay(), k, q, self.chunk_size,
                      return_final_state=keep_state, backend=self.kernel_backend)
        y, state = scanned if keep_state else (scanned, None)
        return self.read_out(y), state

    def init_state(self, batch: int, device: torch.device | str | None = None,
                   dtype: torch.dtype | None = None, capacity: int | None = None) -> Tensor:
        """Zeros ``(batch, H, P, N)``: per head the ``d_v × N`` state S, and with the denominator
        the normaliser z as row P - 1. fp32 at least (float64 for float64 models): it sums over
        the whole sequence."""
        weight = self.qkv.weight
        dtype = torch.promote_types(weight.dtype if dtype is None else dtype, torch.float32)
        return torch.zeros(batch, self.n_heads, self.value_width, self.feature_map.dim,
                           device=weight.device if device is None else device, dtype=dtype)

    def step(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """One token ``x (B, D) -> y (B, D)``; ``state (B, H, P, N)`` is updated in place and
        returned."""
        if x.dim() != 2 or x.shape[-1] != self.d_model:
            raise ValueError(f"LinearAttention.step: expected input (B, d_model={self.d_model}), "
                             f"got {tuple(x.shape)}")
        v, k, q = self.scan_inputs(x)
        y = ssd_state_update(state, v, v.new_ones(v.shape[:-1]), self.log_decay(), k, q,
                             backend=self.kernel_backend)
        return self.read_out(y), state

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, n_heads={self.n_heads}, decay={self.decay!r}, "
                f"normalization={self.normalization!r}, chunk_size={self.chunk_size}")
