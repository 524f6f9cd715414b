"""S4 and S4D: H independent linear state-space models, one per channel, run as long convolutions.

Each channel h is a continuous-time SSM ``x'(t) = A x(t) + B u(t)``, ``y = C x + D u`` with an
N-dimensional real state. Discretised with step size Δ, it is both a recurrence (for streaming,
``step``) and a convolution with the kernel ``K_l = C Ā^l B̄`` (for training, ``forward``, done by
FFT in O(L log L)). Two ways to parameterise A, chosen by ``mode``:

- ``"diag"`` (S4D): A diagonal, S4D-Lin init ``λ_n = -1/2 + iπn``, zero-order hold, kernel as a
  Vandermonde sum. B is folded into C (one weight per mode).
- ``"dplr"`` (S4): A = Λ - p p* (normal plus rank one, written in A's eigenbasis), initialised to
  HiPPO-LegS, bilinear discretisation, kernel from its generating function at the roots of unity:
  a Cauchy sum with a Woodbury correction for the rank-one term.

A real N-dimensional state is kept as N/2 complex modes whose conjugate twins are implicit, so the
state is ``(B, H, N/2)`` complex: N real numbers per channel, whatever the length.

``rate`` multiplies Δ: a model trained on a signal sampled every τ seconds runs on one sampled
every 2τ with ``rate=2.0``. Kernels are computed from the parameters at each call, so changing
``rate`` (or the length) never meets a stale cache.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tsssm.kernels.s4 import BACKENDS, cauchy_kernel, vandermonde_kernel
from tsssm.mixers.base import Mixer

MODES = ("diag", "dplr")


def ssm_parameter(value: Tensor) -> nn.Parameter:
    """A parameter of the SSM itself: excluded from weight decay, as in S4."""
    parameter = nn.Parameter(value)
    parameter._no_weight_decay = True
    return parameter


def _complex_parameter(value: Tensor) -> nn.Parameter:
    """A complex SSM parameter stored as its real view ``(..., 2)``, so ``.double()`` and
    optimisers treat it like any real parameter."""
    return ssm_parameter(torch.view_as_real(value).clone(memory_format=torch.contiguous_format))


def _with_twins(modes: Tensor) -> Tensor:
    """``(..., N/2)`` modes -> ``(..., N)``: the modes, then their conjugates (the real system's
    other half)."""
    return torch.cat([modes, modes.conj()], dim=-1)


def fft_convolve(u: Tensor, taps: Tensor) -> Tensor:
    """``y_t = Σ_k taps_k u_{t-k}`` for ``t < L`` by FFT in O(L log L): u (..., L), taps (..., L)
    (causal), or (..., 2L) whose last L taps, read circularly, are lags -L..-1 (the future).
    Zero-padding to 2L keeps the circular convolution from wrapping the end onto the start."""
    length = u.shape[-1]
    spectrum = torch.fft.rfft(u, n=2 * length) * torch.fft.rfft(taps, n=2 * length)
    return torch.fft.irfft(spectrum, n=2 * length)[..., :length]


def hippo_legs_nplr(d_state: int) -> tuple[Tensor, Tensor, Tensor]:
    """HiPPO-LegS ``A = S - P Pᵀ`` diagonalised: the eigenvalues of the normal part S and
    P, B in its eigenbasis, keeping the N/2 modes of positive frequency (the rest are their
    conjugates).

    LegS: ``A[n, k] = -sqrt((2n+1)(2k+1))`` below the diagonal, ``-(n+1)`` on it; ``B[n] =
    sqrt(2n+1)``; ``P[n] = sqrt(n+1/2)`` makes ``S = A + P Pᵀ = -I/2 + skew-symmetric``.

    Returns:
        eigenvalues, p, b: (N/2,) complex128 each.
    """
    n = torch.arange(d_state, dtype=torch.float64)
    root = torch.sqrt(2 * n + 1)
    a = -torch.tril(root[:, None] * root[None, :], diagonal=-1) - torch.diag(n + 1)
    p = torch.sqrt(n + 0.5)
    skew = a + p[:, None] * p[None, :] + 0.5 * torch.eye(d_state, dtype=torch.float64)
    frequencies, vectors = torch.linalg.eigh(-1j * skew.to(torch.complex128))
    keep = slice(d_state // 2, None)  # eigh sorts ascending: the positive frequencies
    basis = vectors[:, keep].conj().T
    eigenvalues = torch.complex(torch.full_like(frequencies[keep], -0.5), frequencies[keep])
    return eigenvalues, basis @ p.to(torch.complex128), basis @ root.to(torch.complex128)


class ModalSSM(nn.Module):
    """What both modes share: ``copies x H`` SSMs with eigenvalues λ and step Δ per channel,
    the copies differing only in their readout C.

    Parameters: ``log_dt`` (H,); ``log_a_real``, ``a_imag`` (H, N/2) with ``λ = -exp(log_a_real)
    + i a_imag``, so Re λ < 0 and every discretisation is stable; ``c`` (copies, H, N/2) complex.
    """

    def __init__(self, d_model: int, eigenvalues: Tensor, copies: int, dt_min: float,
                 dt_max: float) -> None:
        super().__init__()
        eigenvalues = eigenvalues.expand(d_model, -1)
        log_dt = torch.empty(d_model).uniform_(math.log(dt_min), math.log(dt_max))
        self.log_dt = ssm_parameter(log_dt)
        self.log_a_real = ssm_parameter(torch.log(-eigenvalues.real).float())
        self.a_imag = ssm_parameter(eigenvalues.imag.float())
        self.c = _complex_parameter(torch.randn(copies, *eigenvalues.shape, dtype=torch.cfloat))

    def step_size(self, rate: float) -> Tensor:
        """Δ: (H,)."""
        return torch.exp(self.log_dt) * rate

    def eigenvalues(self) -> Tensor:
        """λ: (H, N/2) complex."""
        return torch.complex(-torch.exp(self.log_a_real), self.a_imag)

    def readout(self) -> Tensor:
        """C: (copies, H, N/2) complex."""
        return torch.view_as_complex(self.c)

    def init_state(self, batch: int, device: torch.device | str | None = None,
                   dtype: torch.dtype | None = None) -> Tensor:
        """Zeros ``(batch, H, N/2)``, complex128 for a float64 ``dtype`` and complex64 otherwise;
        device and dtype default to the parameters'."""
        real_dtype = dtype if dtype is not None else self.log_dt.dtype
        complex_dtype = torch.complex128 if real_dtype == torch.float64 else torch.complex64
        return torch.zeros(batch, *self.a_imag.shape, dtype=complex_dtype,
                           device=device if device is not None else self.log_dt.device)


class DiagonalSSM(ModalSSM):
    """S4D: diagonal A with the S4D-Lin init ``λ_n = -1/2 + iπn``; B = 1 folded into C."""

    def __init__(self, d_model: int, d_state: int, copies: int, dt_min: float,
                 dt_max: float) -> None:
        modes = torch.arange(d_state // 2, dtype=torch.float64)
        s4d_lin = torch.complex(torch.full_like(modes, -0.5), math.pi * modes)
        super().__init__(d_model, s4d_lin, copies, dt_min, dt_max)

    def _zero_order_hold(self, rate: float) -> tuple[Tensor, Tensor]:
        """``Δλ`` and ``B̄ = (exp(Δλ) - 1) / λ``: (H, N/2) complex each."""
        eigenvalues = self.eigenvalues()
        dt_a = eigenvalues * self.step_size(rate)[:, None]
        return dt_a, (torch.exp(dt_a) - 1) / eigenvalues

    def kernel(self, length: int, rate: float, backend: str = "auto") -> Tensor:
        """``K_l = 2 Re sum_n C_n B̄_n exp(Δλ_n l)``: (copies, H, L) real."""
        dt_a, b_bar = self._zero_order_hold(rate)
        return vandermonde_kernel(self.readout() * b_bar, dt_a, length, backend=backend)

    def step(self, u: Tensor, state: Tensor, rate: float) -> tuple[Tensor, Tensor]:
        """``x ← exp(Δλ) x + B̄ u``, ``y = 2 Re C x``: u (B, H) real, state (B, H, N/2)."""
        dt_a, b_bar = self._zero_order_hold(rate)
        state = torch.exp(dt_a) * state + b_bar * u.unsqueeze(-1)
        return 2 * (self.readout()[0] * state).sum(-1).real, state

    def final_state(self, u: Tensor, rate: float) -> Tensor:
        """The state ``step`` reaches after ``u (B, H, L)`` from zeros, in closed form:
        ``x_L = B̄ Σ_k exp(Δλ (L-1-k)) u_k``: (B, H, N/2). Builds the (H, N/2, L) powers at once."""
        dt_a, b_bar = self._zero_order_hold(rate)
        lags = torch.arange(u.shape[-1] - 1, -1, -1, device=u.device, dtype=u.dtype)
        powers = torch.exp(dt_a.unsqueeze(-1) * lags)
        return b_bar * torch.einsum("hnl,bhl->bhn", powers, u.to(powers.dtype))


class DPLRSSM(ModalSSM):
    """S4: ``A = Λ - p p*`` (diagonal plus rank one), per channel, HiPPO-LegS at init.

    Adds ``p`` and ``b`` (H, N/2) complex to the shared parameters; the full N-dimensional
    vectors are the modes followed by their conjugates (``_with_twins``).
    """

    def __init__(self, d_model: int, d_state: int, copies: int, dt_min: float,
                 dt_max: float) -> None:
        eigenvalues, p, b = hippo_legs_nplr(d_state)
        super().__init__(d_model, eigenvalues, copies, dt_min, dt_max)
        self.p = _complex_parameter(p.to(torch.cfloat).expand(d_model, -1))
        self.b = _complex_parameter(b.to(torch.cfloat).expand(d_model, -1))

    def low_rank(self) -> tuple[Tensor, Tensor]:
        """p and B: (H, N/2) complex each."""
        return torch.view_as_complex(self.p), torch.view_as_complex(self.b)

    def transition(self, rate: float) -> Tensor:
        """Bilinear ``Ā = (I - Δ/2 A)⁻¹ (I + Δ/2 A)`` on the full N-dimensional state: (H, N, N)."""
        return self._bilinear(rate)[0]

    def _bilinear(self, rate: float) -> tuple[Tensor, Tensor]:
        """Ā (H, N, N) and ``B̄ = (I - Δ/2 A)⁻¹ Δ B`` (H, N) on the full N-dimensional state.

        ``I - Δ/2 A = Q + Δ/2 p p*`` with ``Q = I - Δ/2 Λ`` diagonal, so its inverse is
        Woodbury's: ``Q⁻¹ - Q⁻¹p (Δ/2) p*Q⁻¹ / (1 + Δ/2 p*Q⁻¹p)``. Elementwise ops and one
        product, where a batched solve would sync with the host (no CUDA graph could hold it)."""
        eigenvalues, p = _with_twins(self.eigenvalues()), _with_twins(self.low_rank()[0])
        a = torch.diag_embed(eigenvalues) - p.unsqueeze(-1) * p.conj().unsqueeze(-2)
        half_dt = self.step_size(rate)[:, None] / 2                          # (H, 1)
        identity = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
        b = _with_twins(self.low_rank()[1])
        diagonal = 1 - half_dt * eigenvalues                                 # Q: (H, N)
        rhs = torch.cat([identity + half_dt.unsqueeze(-1) * a, (2 * half_dt * b).unsqueeze(-1)],
                        dim=-1) / diagonal.unsqueeze(-1)                     # Q⁻¹ [..]: (H, N, N+1)
        p_scaled = p / diagonal                                              # Q⁻¹p
        gain = half_dt / (1 + half_dt * (p.conj() * p_scaled).sum(-1, keepdim=True))
        solved = rhs - (gain * p_scaled).unsqueeze(-1) * (p.conj().unsqueeze(-2) @ rhs)
        return solved[..., :-1], solved[..., -1]

    def kernel(self, length: int, rate: float, backend: str = "auto") -> Tensor:
        """``K_l = C Ā^l B̄`` for ``l < L``: (copies, H, L) real.

        Its DFT is the truncated generating function ``K̂(ω) = C̃ (I - Āω)⁻¹ B̄`` at ``ω^L = 1``,
        with ``C̃ = C (I - Ā^L)`` (the truncation: without it the kernel would be the infinite
        impulse response folded onto L taps, and ``step`` would not reproduce ``forward``).
        For the bilinear Ā and a diagonal A, ``K̂ = r(C̃, B)`` with
        ``r(a, b) = Δ Σ_n a_n b_n / ((1-ω) - w_n(1+ω))``, ``w = Δλ/2``: a Cauchy sum at ``z = ω``
        with poles ``(1-w)/(1+w)`` outside the unit circle (Re λ < 0), so no point is singular,
        ω = -1 included. The rank-one term enters by Woodbury, with r00 = r(C̃, B),
        r01 = r(C̃, p), r10 = r(p*, B), r11 = r(p*, p):
        ``K̂ = r00 - r01 r10 (1+ω) / (2 + (1+ω) r11)``. The sums run over all N modes (twins
        included), which the reference spells out and a fused kernel can halve.
        """
        dt = self.step_size(rate)
        eigenvalues = _with_twins(self.eigenvalues())
        p, b = (_with_twins(v) for v in self.low_rank())
        c = _with_twins(self.readout())
        c_tilde = c - (c.unsqueeze(-2) @ torch.linalg.matrix_power(self.transition(rate), length)
                       ).squeeze(-2)
        w = eigenvalues * dt[:, None] / 2
        numerators = torch.cat([c_tilde * b, c_tilde * p,
                                torch.stack([p.conj() * b, p.conj() * p])]) / (1 + w)
        frequencies = torch.arange(length // 2 + 1, device=dt.device, dtype=dt.dtype)
        omega = torch.polar(torch.ones_like(frequencies), -2 * math.pi * frequencies / length)
        r = -dt[:, None] * cauchy_kernel(numerators, omega, (1 - w) / (1 + w), backend=backend)
        copies = c.shape[0]
        r00, r01, r10, r11 = r[:copies], r[copies:2 * copies], r[-2], r[-1]
        k_hat = r00 - r01 * r10 * (1 + omega) / (2 + (1 + omega) * r11)
        return torch.fft.irfft(k_hat, n=length)

    def step(self, u: Tensor, state: Tensor, rate: float) -> tuple[Tensor, Tensor]:
        """Bilinear step ``(I - Δ/2 A) x' = (I + Δ/2 A) x + Δ B u`` in O(N) by Woodbury.

        On the half state, ``p* x`` over all N modes is ``s(x) = 2 Re Σ conj(p) x``, a real
        scalar, so the rank-one solve closes on the N/2 kept modes. u (B, H), state (B, H, N/2).
        """
        half_dt = self.step_size(rate)[:, None] / 2
        eigenvalues = self.eigenvalues()
        p, b = self.low_rank()

        def project(x: Tensor) -> Tensor:
            return 2 * (p.conj() * x).sum(-1, keepdim=True).real

        explicit = state + half_dt * (eigenvalues * state - p * project(state)) \
            + 2 * half_dt * b * u.unsqueeze(-1)
        diagonal = 1 - half_dt * eigenvalues
        rank_one = project(explicit / diagonal) / (1 + half_dt * project(p / diagonal))
        state = (explicit - half_dt * p * rank_one) / diagonal
        return 2 * (self.readout()[0] * state).sum(-1).real, state

    def final_state(self, u: Tensor, rate: float, chunk: int | None = None) -> Tensor:
        """The state ``step`` reaches after ``u (B, H, L)`` from zeros, ``x_L = Σ_k Ā^(L-1-k) B̄
        u_k``, in parallel over the sequence: (B, H, N/2).

        Ā has no well-conditioned eigenbasis, so its powers come from products, never from
        diagonalising it. The sequence is cut into chunks of ``chunk`` steps (default: a power of
        two near √L): the responses ``Ā^j B̄`` for j < chunk by doubling (log2(chunk) products),
        every chunk's sum from them in one contraction, then the chunks folded in order with
        ``Ā^chunk``: O(√L) small sequential products instead of L steps.
        """
        transition, b_bar = self._bilinear(rate)
        length = u.shape[-1]
        chunk = chunk or 1 << (length.bit_length() + 1) // 2
        responses, power = b_bar.unsqueeze(1), transition          # (H, 1, N); Ā
        while responses.shape[1] < chunk:                           # Ā^k B̄ for k < 2^i
            responses = torch.cat([responses, responses @ power.transpose(-1, -2)], dim=1)
            power = power @ power
        responses = responses[:, :chunk]
        chunk_power = torch.linalg.matrix_power(transition, chunk)
        chunks = -(-length // chunk)
        padded = F.pad(u, (chunks * chunk - length, 0)).to(responses.dtype)  # leading zeros
        sums = torch.einsum("htn,bhct->bchn", responses.flip(1),
                            padded.unflatten(-1, (chunks, chunk)))
        state = sums[:, 0]
        for c in range(1, chunks):
            state = (chunk_power @ state.unsqueeze(-1)).squeeze(-1) + sums[:, c]
        return state[..., :state.shape[-1] // 2]


class S4(Mixer):
    """S4 / S4D layer: per-channel SSM convolution, D skip, GELU, then a GLU output projection.

    Args:
        d_model: H, channels; each is its own SSM.
        d_state: N, the real state size per channel (even: N/2 complex modes).
        mode: "diag" (S4D: S4D-Lin, ZOH, Vandermonde) or "dplr" (S4: HiPPO-LegS, bilinear, Cauchy).
        dt_min, dt_max: the step sizes Δ start log-uniform in this range, one per channel.
        bidirectional: add a second kernel run backwards in time (same A, own C); not causal.
        dropout: after the GELU.
        rate: multiplies Δ (settable later: ``layer.rate = 2.0``).
        kernel_backend: backend of the Vandermonde / Cauchy kernel ("auto", "reference" or
            "triton"; see ``tsssm.kernels.s4``).
    """

    def __init__(self, d_model: int, d_state: int = 64, mode: str = "diag", dt_min: float = 1e-3,
                 dt_max: float = 1e-1, bidirectional: bool = False, dropout: float = 0.0,
                 rate: float = 1.0, kernel_backend: str = "auto") -> None:
        super().__init__(d_model)
        if mode not in MODES:
            raise ValueError(f"S4: mode must be one of {MODES}, got {mode!r}")
        if d_state < 2 or d_state % 2:
            raise ValueError(f"S4: d_state must be even and >= 2 (N/2 complex modes), "
                             f"got {d_state}")
        if not 0 < dt_min <= dt_max:
            raise ValueError(f"S4: need 0 < dt_min <= dt_max, got dt_min={dt_min}, dt_max={dt_max}")
        if kernel_backend not in BACKENDS:
            raise ValueError(f"S4: kernel_backend must be one of {BACKENDS}, "
                             f"got {kernel_backend!r}")
        self.mode = mode
        self.kernel_backend = kernel_backend
        self.d_state = d_state
        self.causal = not bidirectional
        self.rate = rate
        ssm_class = DiagonalSSM if mode == "diag" else DPLRSSM
        self.ssm = ssm_class(d_model, d_state, 1 if self.causal else 2, dt_min, dt_max)
        self.D = ssm_parameter(torch.randn(d_model))
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(d_model, 2 * d_model)

    @property
    def rate(self) -> float:
        return self._rate

    @rate.setter
    def rate(self, value: float) -> None:
        if not value > 0:
            raise ValueError(f"S4: rate must be a positive step-size multiplier, got {value}")
        self._rate = float(value)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, L, H) -> (B, L, H)``."""
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"S4: expected input (B, L, {self.d_model}), got {tuple(x.shape)}")
        length = x.shape[1]
        kernel = self.ssm.kernel(length, self.rate, self.kernel_backend)  # (copies, H, L)
        u = x.transpose(1, 2).to(kernel.dtype)  # (B, H, L)
        taps = kernel[0]
        if not self.causal:  # the second kernel reads u[t+1:], reversed, from the circular end
            taps = F.pad(taps, (0, length)) + F.pad(kernel[1].flip(-1), (length, 0))
        y = fft_convolve(u, taps) + self.D.unsqueeze(-1) * u
        return self._mix(y.transpose(1, 2).to(x.dtype))

    def prefill(self, x: Tensor, capacity: int | None = None) -> tuple[Tensor, Tensor]:
        """``x (B, L, H)`` -> ``forward``'s output and the ``(B, H, N/2)`` state after it, both
        in parallel over the sequence: S4D's state in closed form, S4's by chunks
        (``DPLRSSM.final_state``)."""
        self._require_causal()
        if x.dim() != 3 or x.shape[-1] != self.d_model or x.shape[1] == 0:
            raise ValueError(f"S4.prefill: expected input (B, L >= 1, d_model={self.d_model}), "
                             f"got {tuple(x.shape)}")
        y = self.forward(x)
        return y, self.ssm.final_state(x.transpose(1, 2).to(self.D.dtype), self.rate)

    def init_state(self, batch: int, device: torch.device | str | None = None,
                   dtype: torch.dtype | None = None, capacity: int | None = None) -> Tensor:
        """Zeros ``(batch, H, N/2)``, complex128 for float64 and complex64 otherwise."""
        self._require_causal()
        return self.ssm.init_state(batch, device, dtype)

    def step(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """One sample: ``x (B, H) -> y (B, H)`` and the next ``(B, H, N/2)`` state."""
        self._require_causal()
        u = x.to(self.D.dtype)
        y, state = self.ssm.step(u, state, self.rate)
        return self._mix((y + self.D * u).to(x.dtype)), state

    def _mix(self, y: Tensor) -> Tensor:
        """GELU, dropout, then ``Linear(H, 2H)`` gated by GLU back to H: (..., H) -> (..., H)."""
        return F.glu(self.output(self.dropout(F.gelu(y))), dim=-1)

    def _require_causal(self) -> None:
        if not self.causal:
            raise NotImplementedError("S4 with bidirectional=True reads the future and cannot be "
                                      "stepped; build it with bidirectional=False to stream")
