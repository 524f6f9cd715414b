"""S4 / S4D: kernels against their recurrences and dense matrices, step loop = forward, `rate`,
bidirectional wiring, the HiPPO-LegS init, gradients and errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tests.mixers.stepping import step_through
from tsssm.mixers.base import state_nbytes
from tsssm.mixers.s4 import S4, hippo_legs_nplr

B, L, D, N = 2, 37, 6, 8
MODES = ["diag", "dplr"]


def _s4(mode: str, dtype: torch.dtype = torch.float64, **kwargs) -> S4:
    torch.manual_seed(0)
    kwargs = {"d_state": N, "dt_min": 0.01, "dt_max": 0.5, **kwargs}
    return S4(D, mode=mode, **kwargs).to(dtype).eval()


def _x(length: int = L, dtype: torch.dtype = torch.float64, seed: int = 1) -> torch.Tensor:
    return torch.randn(B, length, D, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def _twins(modes: torch.Tensor) -> torch.Tensor:
    return torch.cat([modes, modes.conj()], dim=-1)


def _complex(parameter: torch.Tensor) -> torch.Tensor:
    return torch.view_as_complex(parameter.detach())


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("length", [1, 16, L])
def test_step_loop_matches_forward(mode: str, length: int) -> None:
    """Even lengths include ω = -1 among the roots of unity; every prefix of the step loop must
    match the length-L kernel (for dplr that is the C̃ = C(I - Ā^L) correction)."""
    s4, x = _s4(mode), _x(length)
    with torch.no_grad():
        stepped, state = step_through(s4, x)
        assert (stepped - s4(x)).abs().max().item() <= 1e-10
    assert state.shape == (B, D, N // 2) and state.dtype == torch.complex128


def test_dplr_step_loop_matches_forward_at_default_size() -> None:
    s4, x = _s4("dplr", d_state=64, dt_min=1e-3, dt_max=1e-1), _x()
    with torch.no_grad():
        assert (step_through(s4, x)[0] - s4(x)).abs().max().item() <= 1e-10


@pytest.mark.parametrize("length", [16, L])
@pytest.mark.parametrize("rate", [1.0, 3.0])
def test_dplr_kernel_equals_powers_of_the_dense_bilinear_transition(length: int,
                                                                     rate: float) -> None:
    ssm = _s4("dplr", d_state=4).ssm
    dt = torch.exp(ssm.log_dt.detach()) * rate
    eigenvalues = torch.complex(-torch.exp(ssm.log_a_real.detach()), ssm.a_imag.detach())
    p, b, c = (_twins(_complex(v)) for v in (ssm.p, ssm.b, ssm.c))
    a = torch.diag_embed(_twins(eigenvalues)) - p[..., :, None] * p.conj()[..., None, :]
    identity = torch.eye(4, dtype=a.dtype)
    backward = torch.linalg.inv(identity - dt[:, None, None] / 2 * a)
    a_bar = backward @ (identity + dt[:, None, None] / 2 * a)
    x = backward @ (dt[:, None] * b).unsqueeze(-1)  # B̄: (H, N, 1)
    taps = []
    for _ in range(length):
        taps.append((c.unsqueeze(-2) @ x)[..., 0, 0])
        x = a_bar @ x
    expected = torch.stack(taps, dim=-1)
    assert expected.imag.abs().max().item() <= 1e-12  # conjugate twins make the system real
    with torch.no_grad():
        kernel = ssm.kernel(length, rate)
    assert kernel.shape == (1, D, length)
    assert (kernel - expected.real).abs().max().item() <= 1e-10


def test_diag_kernel_is_the_zero_order_hold_of_the_continuous_system() -> None:
    """Van Loan: exp([[λΔ, Δ], [0, 0]]) = [[exp(λΔ), B̄], [0, 1]], B̄ the exact ZOH input map."""
    ssm = _s4("diag").ssm
    dt = torch.exp(ssm.log_dt.detach())[:, None].to(torch.complex128).expand(D, N // 2)
    eigenvalues = torch.complex(-torch.exp(ssm.log_a_real.detach()), ssm.a_imag.detach())
    block = torch.zeros(D, N // 2, 2, 2, dtype=torch.complex128)
    block[..., 0, 0], block[..., 0, 1] = eigenvalues * dt, dt
    held = torch.linalg.matrix_exp(block)
    a_bar, b_bar = held[..., 0, 0], held[..., 0, 1]
    powers = a_bar.unsqueeze(-1) ** torch.arange(L)
    expected = 2 * (_complex(ssm.c)[0] * b_bar).unsqueeze(-1).mul(powers).sum(-2).real
    with torch.no_grad():
        assert (ssm.kernel(L, 1.0)[0] - expected).abs().max().item() <= 1e-10


def test_hippo_legs_in_normal_plus_low_rank_form() -> None:
    """diag(λ) - p p* over the modes and their twins is LegS in another orthonormal basis: same
    eigenvalues -1..-N, and the same basis-free products Pᵀ Aᵏ B and Bᵀ Aᵏ B."""
    n_state = 8
    eigenvalues, p, b = (_twins(v) for v in hippo_legs_nplr(n_state))
    a = torch.diag_embed(eigenvalues) - p[:, None] * p.conj()[None, :]
    spectrum = torch.sort(torch.linalg.eigvals(a).real).values
    assert torch.allclose(spectrum, -torch.arange(n_state, 0, -1, dtype=torch.float64), atol=1e-8)
    n = torch.arange(n_state, dtype=torch.float64)
    legs_a = torch.where(n[:, None] > n[None, :], -torch.sqrt((2 * n[:, None] + 1) * (2 * n + 1)),
                         torch.diag(-(n + 1)))
    legs_b, legs_p = torch.sqrt(2 * n + 1), torch.sqrt(n + 0.5)
    for k in range(3):
        power, legs_power = torch.linalg.matrix_power(a, k), torch.linalg.matrix_power(legs_a, k)
        for left, legs_left in ((p, legs_p), (b, legs_b)):
            value = left.conj() @ power @ b
            assert abs(value - legs_left @ legs_power @ legs_b).item() <= 1e-8 * (1 + abs(value))


@pytest.mark.parametrize("mode", MODES)
def test_float32_shapes_dtypes_and_fixed_state(mode: str) -> None:
    s4, x = _s4(mode, torch.float32), _x(dtype=torch.float32)
    with torch.no_grad():
        y = s4(x)
        stepped, state = step_through(s4, x)
    assert y.shape == x.shape and y.dtype == torch.float32 and stepped.dtype == torch.float32
    assert state.shape == (B, D, N // 2) and state.dtype == torch.complex64
    assert state_nbytes(state) == B * D * N * 4  # N real numbers per channel, whatever L
    assert torch.allclose(stepped, y, rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        prefilled, prefill_state = s4.prefill(x)
    assert prefilled.dtype == torch.float32 and prefill_state.dtype == torch.complex64
    assert torch.allclose(prefill_state, state, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("chunk", [None, 1, 4, 5, 64])
@pytest.mark.parametrize("rate", [1.0, 3.0])
def test_dplr_final_state_in_chunks_is_the_stepped_state(chunk: int | None, rate: float) -> None:
    """Every chunking (one step each, ragged, longer than the sequence, the default) reaches the
    state the step loop reaches, at the default state size where Ā is far from normal."""
    s4, x = _s4("dplr", d_state=64, dt_min=1e-3, dt_max=1e-1, rate=rate), _x()
    with torch.no_grad():
        _, stepped = step_through(s4, x)
        chunked = s4.ssm.final_state(x.transpose(1, 2), rate, chunk)
    assert (chunked - stepped).abs().max().item() <= 1e-10 * stepped.abs().max().item()


def test_prefill_of_a_bidirectional_layer_and_an_empty_prompt_are_refused() -> None:
    with pytest.raises(NotImplementedError, match="bidirectional=True"):
        S4(D, d_state=N, bidirectional=True).prefill(_x(dtype=torch.float32))
    dplr = S4(D, d_state=N, mode="dplr")
    with pytest.raises(ValueError, match=r"S4.prefill: expected input \(B, L >= 1"):
        dplr.prefill(torch.zeros(B, 0, D))


@pytest.mark.parametrize("mode", MODES)
def test_rate_scales_the_step_size_and_caches_nothing(mode: str) -> None:
    x = _x()
    default, explicit = _s4(mode), _s4(mode, rate=1.0)
    with torch.no_grad():
        base = default(x)
        assert torch.equal(base, explicit(x))
        default.rate = 2.0
        assert (default(x) - base).abs().max().item() > 1e-3
        default.rate = 1
        assert torch.equal(default(x), base)
    with pytest.raises(ValueError, match="rate"):
        default.rate = 0.0


def test_rate_two_is_exact_on_a_signal_held_for_two_samples() -> None:
    """Zero-order hold is exact for piecewise-constant input: one step of 2Δ on a sample equals
    two steps of Δ on that sample repeated, so S4D at rate 2 reads the half-rate signal exactly."""
    s4, coarse = _s4("diag"), _x(19)
    with torch.no_grad():
        fine = s4(coarse.repeat_interleave(2, dim=1))
        s4.rate = 2.0
        assert (s4(coarse) - fine[:, 1::2]).abs().max().item() <= 1e-10


@pytest.mark.parametrize("mode", MODES)
def test_bidirectional_adds_an_anticausal_kernel_and_cannot_step(mode: str) -> None:
    s4, x = _s4(mode, bidirectional=True), _x()
    assert not s4.causal
    with torch.no_grad():
        kernel = s4.ssm.kernel(L, s4.rate)  # (2, H, L): forward and backward readouts
        u = x.transpose(1, 2)
        pre = s4.D[:, None] * u
        for t in range(L):
            for s in range(t + 1):
                pre[..., t] += kernel[0, :, s] * u[..., t - s]
            for j in range(L - t - 1):
                pre[..., t] += kernel[1, :, j] * u[..., t + 1 + j]
        expected = F.glu(s4.output(F.gelu(pre.transpose(1, 2))))
        assert (s4(x) - expected).abs().max().item() <= 1e-10
    with pytest.raises(NotImplementedError, match="bidirectional"):
        s4.init_state(B)
    with pytest.raises(NotImplementedError, match="bidirectional"):
        s4.step(x[:, 0], None)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_future_input_reaches_the_past_only_when_bidirectional(mode: str,
                                                               bidirectional: bool) -> None:
    s4, x = _s4(mode, bidirectional=bidirectional), _x()
    nudged = x.clone()
    nudged[:, -1] += 1.0
    with torch.no_grad():
        change = (s4(nudged) - s4(x))[:, :-1].abs().max().item()
    assert (change > 1e-6) if bidirectional else (change <= 1e-12)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_gradient_reaches_every_parameter(mode: str, bidirectional: bool) -> None:
    s4 = _s4(mode, bidirectional=bidirectional).train()
    s4(_x()).square().mean().backward()
    for name, parameter in s4.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all() and parameter.grad.abs().max() > 0, name


@pytest.mark.parametrize("mode", MODES)
def test_ssm_parameters_skip_weight_decay(mode: str) -> None:
    flagged = {name for name, p in _s4(mode).named_parameters()
               if getattr(p, "_no_weight_decay", False)}
    expected = {"D", "ssm.log_dt", "ssm.log_a_real", "ssm.a_imag", "ssm.c"}
    assert flagged == expected | ({"ssm.p", "ssm.b"} if mode == "dplr" else set())


def test_bad_configuration_and_input_are_named() -> None:
    with pytest.raises(ValueError, match="mode must be one of"):
        S4(D, mode="s5")
    with pytest.raises(ValueError, match="d_state must be even"):
        S4(D, d_state=7)
    with pytest.raises(ValueError, match="dt_min"):
        S4(D, dt_min=0.1, dt_max=0.01)
    with pytest.raises(ValueError, match=r"expected input \(B, L, 6\)"):
        S4(D)(torch.randn(B, L, D + 1))
