"""GSS: its FFT convolution equals the diagonal recurrence written out, step loop = forward,
the widths of the paper, causality, `rate`, gradients and errors."""

from __future__ import annotations

import math

import pytest
import torch

from tests.mixers.stepping import step_through
from tsssm.mixers.base import state_nbytes
from tsssm.mixers.gss import GSS

B, D, N = 2, 16, 8
F64 = torch.float64


def _gss(**kwargs) -> GSS:
    torch.manual_seed(0)
    return GSS(D, **{"d_state": N, "dt_min": 0.01, "dt_max": 0.5, **kwargs}).double().eval()


def _x(length: int, width: int = D, seed: int = 1) -> torch.Tensor:
    return torch.randn(B, length, width, dtype=F64, generator=torch.Generator().manual_seed(seed))


def diagonal_recurrence(gss: GSS, u: torch.Tensor) -> torch.Tensor:
    """``x_t = exp(Δλ) x_{t-1} + (exp(Δλ) - 1)/λ · u_t``, ``y_t = 2 Re C x_t + D u_t`` step by
    step from the parameters: u (B, L, H') -> y (B, L, H')."""
    ssm = gss.ssm
    eigenvalues = torch.complex(-torch.exp(ssm.log_a_real), ssm.a_imag)  # (H', N/2)
    dt_a = eigenvalues * (torch.exp(ssm.log_dt) * gss.rate)[:, None]
    b_bar, c = (torch.exp(dt_a) - 1) / eigenvalues, torch.view_as_complex(ssm.c)[0]
    state = torch.zeros(u.shape[0], *eigenvalues.shape, dtype=eigenvalues.dtype)
    ys = []
    for t in range(u.shape[1]):
        state = torch.exp(dt_a) * state + b_bar * u[:, t, :, None]
        ys.append(2 * (c * state).sum(-1).real + gss.D * u[:, t])
    return torch.stack(ys, dim=1)


@pytest.mark.parametrize("length", [1, 17, 64])
@pytest.mark.parametrize("rate", [1.0, 2.5])
def test_fft_convolution_equals_the_diagonal_recurrence(length, rate):
    gss, u = _gss(rate=rate), _x(length, width=D // 4)
    with torch.no_grad():
        assert (gss.convolve(u) - diagonal_recurrence(gss, u)).abs().max().item() <= 1e-10


@pytest.mark.parametrize("length", [1, 23])
def test_forward_is_the_gated_unit_of_the_paper(length):
    """``W_o ((W_up SSM(σ(W_u x))) ⊙ σ(W_v x))`` with the SSM run as its recurrence."""
    gss, x = _gss(bias=True), _x(length)
    gelu = torch.nn.functional.gelu
    with torch.no_grad():
        y = gss.up(diagonal_recurrence(gss, gelu(gss.down(x))))
        expected = gss.out(y * gelu(gss.gate(x)))
        assert (gss(x) - expected).abs().max().item() <= 1e-10


@pytest.mark.parametrize("length, rate", [(1, 1.0), (13, 1.0), (40, 1.0), (13, 2.5)])
def test_step_loop_and_prefill_match_forward(length, rate):
    gss, x = _gss(rate=rate), _x(length)
    with torch.no_grad():
        y = gss(x)
        stepped, state = step_through(gss, x)
        prefilled, prefill_state = gss.prefill(x)
    assert y.shape == x.shape
    assert (stepped - y).abs().max().item() <= 1e-10
    assert (prefilled - y).abs().max().item() <= 1e-10
    assert (prefill_state - state).abs().max().item() <= 1e-10


def test_state_is_the_narrow_ssms_whatever_the_length():
    gss = _gss(ssm_ratio=0.5)
    assert gss.init_state(3).shape == (3, D // 2, N // 2)
    assert gss.init_state(3).dtype == torch.complex128
    assert gss.init_state(1, dtype=torch.float32).dtype == torch.complex64
    with torch.no_grad():
        sizes = {state_nbytes(gss.prefill(_x(length))[1]) for length in (3, 50)}
    assert sizes == {state_nbytes(gss.init_state(B))}


def test_output_at_t_reads_only_inputs_up_to_t():
    gss, x = _gss(), _x(20)
    changed = x.clone()
    changed[:, 12] += 1.0
    with torch.no_grad():
        difference = (gss(changed) - gss(x)).abs().amax(dim=(0, 2))
    assert (difference[:12] <= 1e-14).all() and (difference[12:] > 1e-6).all()  # FFT rounding


def test_widths_follow_expand_and_ssm_ratio():
    gss = GSS(64, expand=2, ssm_ratio=0.5, d_state=16, bias=False)
    shapes = {name: tuple(p.shape) for name, p in gss.named_parameters()}
    assert shapes == {"gate.weight": (128, 64), "down.weight": (32, 64), "up.weight": (128, 32),
                      "out.weight": (64, 128), "D": (32,), "ssm.log_dt": (32,),
                      "ssm.log_a_real": (32, 8), "ssm.a_imag": (32, 8), "ssm.c": (1, 32, 8, 2)}
    flagged = {name for name, p in gss.named_parameters() if getattr(p, "_no_weight_decay", False)}
    assert flagged == {"D", "ssm.log_dt", "ssm.log_a_real", "ssm.a_imag", "ssm.c"}


def test_rate_scales_the_step_size():
    slow, fast = _gss(rate=3.0), _gss()
    with torch.no_grad():
        fast.ssm.log_dt.add_(math.log(3.0))
        x = _x(25)
        assert (slow(x) - fast(x)).abs().max().item() <= 1e-12


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    gss = GSS(D, d_state=N)
    gss(torch.randn(2, 11, D)).square().sum().backward()
    for name, param in gss.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name


def test_bad_configs_and_inputs_are_refused():
    with pytest.raises(ValueError, match=r"ssm_ratio \* d_model = 0.3 \* 16"):
        GSS(16, ssm_ratio=0.3)
    with pytest.raises(ValueError, match=r"expand \* d_model = 0 \* 16"):
        GSS(16, expand=0)
    with pytest.raises(ValueError, match="d_state must be even"):
        GSS(16, d_state=7)
    with pytest.raises(ValueError, match="rate must be a positive"):
        GSS(16, rate=0)
    with pytest.raises(ValueError, match="kernel_backend must be one of"):
        GSS(16, kernel_backend="cuda")
    gss = GSS(16, d_state=N)
    with pytest.raises(ValueError, match=r"forward: expected input \(B, L, d_model=16\)"):
        gss(torch.zeros(2, 5, 8))
    with pytest.raises(ValueError, match=r"step: expected input \(B, d_model=16\)"):
        gss.step(torch.zeros(2, 1, 16), gss.init_state(2))
