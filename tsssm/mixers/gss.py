"""GSS, the Gated State Space unit (Mehta et al., 2022, "Long Range Language Modeling via Gated
State Spaces"): a narrow diagonal SSM between two wide gated projections.

With GELU ``σ``, input ``x_t`` (D), gate width E and SSM width H' (E > D > H' by default)::

    v_t = σ(W_v x_t)                    (E)   the gate
    u_t = σ(W_u x_t)                    (H')  down to the SSM's width
    y_t = (K * u)_t + D_skip ⊙ u_t      (H')  one diagonal SSM per channel, long convolution
    out_t = W_o ((W_up y_t) ⊙ v_t)      (D)   up to E, gated, back to D

The SSM is S4D's (``tsssm.mixers.s4.DiagonalSSM``: S4D-Lin modes, zero-order hold, the kernel
``K_l = 2 Re Σ_n C_n B̄_n exp(Δλ_n l)`` from ``tsssm.kernels.s4.vandermonde_kernel``), applied by
FFT in O(L log L); the paper's DSS is the same diagonal form. Running the SSM that narrow is
what makes GSS cheap: the FFT and the state cost H', a quarter of D by default, while the gate
carries the width. ``step`` runs the diagonal recurrence ``x ← exp(Δλ) x + B̄ u``,
``y = 2 Re C x`` on a ``(B, H', N/2)`` complex state, fixed whatever the length.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tsssm.kernels.s4 import BACKENDS
from tsssm.mixers.base import Mixer
from tsssm.mixers.s4 import DiagonalSSM, fft_convolve, ssm_parameter


def _width(name: str, ratio: float, d_model: int) -> int:
    """``ratio * d_model`` channels, refused unless a positive whole number."""
    width = ratio * d_model
    if width != int(width) or width <= 0:
        raise ValueError(f"GSS: {name} * d_model = {ratio} * {d_model} must be a positive whole "
                         f"number of channels")
    return int(width)


class GSS(Mixer):
    """Gated State Space mixer ``(B, L, d_model) -> (B, L, d_model)``, causal.

    Args:
        d_model: D.
        expand: E / D, the gate's width (the paper: 4).
        ssm_ratio: H' / D, the SSM's width (the paper: 1/4).
        d_state: N, the real state size per SSM channel (even: N/2 complex modes).
        dt_min, dt_max: the step sizes Δ start log-uniform in this range, one per channel.
        rate: multiplies Δ, to run at another sampling rate than the one trained at.
        bias: biases on the four projections.
        kernel_backend: backend of the Vandermonde kernel ("auto", "reference" or "triton").
    """

    causal = True

    def __init__(self, d_model: int, expand: float = 4, ssm_ratio: float = 0.25,
                 d_state: int = 64, dt_min: float = 1e-3, dt_max: float = 1e-1,
                 rate: float = 1.0, bias: bool = True, kernel_backend: str = "auto") -> None:
        super().__init__(d_model)
        d_gate, d_ssm = _width("expand", expand, d_model), _width("ssm_ratio", ssm_ratio, d_model)
        if d_state < 2 or d_state % 2:
            raise ValueError(f"GSS: d_state must be even and >= 2 (N/2 complex modes), "
                             f"got {d_state}")
        if not 0 < dt_min <= dt_max:
            raise ValueError(f"GSS: need 0 < dt_min <= dt_max, got dt_min={dt_min}, "
                             f"dt_max={dt_max}")
        if not rate > 0:
            raise ValueError(f"GSS: rate must be a positive step-size multiplier, got {rate}")
        if kernel_backend not in BACKENDS:
            raise ValueError(f"GSS: kernel_backend must be one of {BACKENDS}, "
                             f"got {kernel_backend!r}")
        self.d_gate, self.d_ssm, self.d_state = d_gate, d_ssm, d_state
        self.rate, self.kernel_backend = float(rate), kernel_backend
        self.gate = nn.Linear(d_model, d_gate, bias=bias)
        self.down = nn.Linear(d_model, d_ssm, bias=bias)
        self.ssm = DiagonalSSM(d_ssm, d_state, 1, dt_min, dt_max)
        self.D = ssm_parameter(torch.randn(d_ssm))
        self.up = nn.Linear(d_ssm, d_gate, bias=bias)
        self.out = nn.Linear(d_gate, d_model, bias=bias)

    def convolve(self, u: Tensor) -> Tensor:
        """The SSM over a whole sequence: ``u (B, L, H') -> y (B, L, H')``, ``y = K * u + D u``."""
        kernel = self.ssm.kernel(u.shape[1], self.rate, self.kernel_backend)[0]  # (H', L)
        u = u.transpose(1, 2).to(kernel.dtype)  # (B, H', L)
        return (fft_convolve(u, kernel) + self.D.unsqueeze(-1) * u).transpose(1, 2)

    def forward(self, x: Tensor) -> Tensor:
        """``x (B, L, D) -> (B, L, D)``."""
        return self._parallel(x, "forward")[0]

    def prefill(self, x: Tensor, capacity: int | None = None) -> tuple[Tensor, Tensor]:
        """``x (B, L, D)`` -> ``forward``'s output and the ``(B, H', N/2)`` state after it, in
        closed form beside the FFT convolution."""
        y, u = self._parallel(x, "prefill")
        return y, self.ssm.final_state(u.transpose(1, 2).to(self.D.dtype), self.rate)

    def _parallel(self, x: Tensor, caller: str) -> tuple[Tensor, Tensor]:
        """The output ``(B, L, D)`` and the SSM's input ``u (B, L, H')``."""
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"GSS.{caller}: expected input (B, L, d_model={self.d_model}), "
                             f"got {tuple(x.shape)}")
        u = F.gelu(self.down(x))
        return self._gated_output(x, self.convolve(u).to(x.dtype)), u

    def init_state(self, batch: int, device: torch.device | str | None = None,
                   dtype: torch.dtype | None = None, capacity: int | None = None) -> Tensor:
        """Zeros ``(batch, H', N/2)``, complex128 for float64 and complex64 otherwise."""
        return self.ssm.init_state(batch, device, dtype)

    def step(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """One step: ``x (B, D) -> y (B, D)`` and the next ``(B, H', N/2)`` state."""
        if x.dim() != 2 or x.shape[-1] != self.d_model:
            raise ValueError(f"GSS.step: expected input (B, d_model={self.d_model}), "
                             f"got {tuple(x.shape)}")
        u = F.gelu(self.down(x)).to(self.D.dtype)
        y, state = self.ssm.step(u, state, self.rate)
        return self._gated_output(x, (y + self.D * u).to(x.dtype)), state

    def _gated_output(self, x: Tensor, y: Tensor) -> Tensor:
        """``W_o ((W_up y) ⊙ σ(W_v x))``: x (..., D), y (..., H') -> (..., D)."""
        return self.out(self.up(y) * F.gelu(self.gate(x)))

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, d_gate={self.d_gate}, d_ssm={self.d_ssm}, "
                f"d_state={self.d_state}")
