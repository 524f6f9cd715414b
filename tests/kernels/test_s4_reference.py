"""S4's reference kernels: Vandermonde = a diagonal recurrence's impulse response, Cauchy = the
direct sum; backends and input errors."""

from __future__ import annotations

import pytest
import torch

from tsssm.kernels.s4 import cauchy_kernel, vandermonde_kernel

H, N, L = 3, 5, 37


def _complex(*shape: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, dtype=torch.complex128, generator=generator)


def _stable_exponents(seed: int) -> torch.Tensor:
    """Δλ with Re < 0, as a discretised stable SSM has."""
    z = _complex(H, N, seed=seed)
    return torch.complex(-z.real.abs() * 0.3, z.imag)


@pytest.mark.parametrize("copies", [None, 2])
def test_vandermonde_is_the_impulse_response_of_the_diagonal_recurrence(copies: int | None) -> None:
    dt_a = _stable_exponents(seed=0)
    c = _complex(*(() if copies is None else (copies,)), H, N, seed=1)
    state = torch.ones(H, N, dtype=torch.complex128)  # x_0 = B̄ u_0 with B̄ folded into c
    response = []
    for _ in range(L):
        response.append(2 * (c * state).sum(-1).real)
        state = torch.exp(dt_a) * state
    expected = torch.stack(response, dim=-1)
    kernel = vandermonde_kernel(c, dt_a, L)
    assert kernel.shape == expected.shape and kernel.dtype == torch.float64
    assert (kernel - expected).abs().max().item() <= 1e-10


@pytest.mark.parametrize("copies", [None, 4])
def test_cauchy_equals_the_direct_sum(copies: int | None) -> None:
    lead = () if copies is None else (copies,)
    v, w, z = _complex(*lead, H, N, seed=2), _complex(H, N, seed=3), _complex(L, seed=4)
    out = cauchy_kernel(v, z, w)
    assert out.shape == (*lead, H, L) and out.dtype == torch.complex128
    flat_v = v.reshape(-1, H, N)
    for r in range(flat_v.shape[0]):
        for h in range(H):
            for l in range(L):
                direct = sum(flat_v[r, h, n] / (z[l] - w[h, n]) for n in range(N))
                assert abs(out.reshape(-1, H, L)[r, h, l] - direct).item() <= 1e-10


def test_cauchy_accepts_batched_poles() -> None:
    v, w, z = _complex(2, H, N, seed=5), _complex(2, H, N, seed=6), _complex(L, seed=7)
    out = cauchy_kernel(v, z, w)
    for r in range(2):
        assert torch.allclose(out[r], cauchy_kernel(v[r], z, w[r]), rtol=0, atol=1e-12)


def test_float32_shapes_and_dtypes() -> None:
    c, dt_a = _complex(H, N, seed=8).to(torch.complex64), _stable_exponents(9).to(torch.complex64)
    assert vandermonde_kernel(c, dt_a, 7).dtype == torch.float32
    assert cauchy_kernel(c, _complex(7, seed=10).to(torch.complex64), dt_a).shape == (H, 7)


def test_backends() -> None:
    c, dt_a = _complex(H, N, seed=11), _stable_exponents(12)
    z = _complex(L, seed=13)
    assert torch.equal(vandermonde_kernel(c, dt_a, L, backend="reference"),
                       vandermonde_kernel(c, dt_a, L))
    assert torch.equal(cauchy_kernel(c, z, dt_a, backend="reference"), cauchy_kernel(c, z, dt_a))
    with pytest.raises(ValueError, match="complex64"):
        vandermonde_kernel(c, dt_a, L, backend="triton")
    with pytest.raises(ValueError, match="complex64"):
        cauchy_kernel(c, z, dt_a, backend="triton")
    with pytest.raises(ValueError, match="backend"):
        cauchy_kernel(c, z, dt_a, backend="cuda")


def test_bad_inputs_name_the_problem() -> None:
    c, dt_a, z = _complex(H, N, seed=14), _stable_exponents(15), _complex(L, seed=16)
    with pytest.raises(TypeError, match="dt_a must be a complex tensor"):
        vandermonde_kernel(c, dt_a.real, L)
    with pytest.raises(ValueError, match="c must end in dt_a's shape"):
        vandermonde_kernel(c[:, :2], dt_a, L)
    with pytest.raises(ValueError, match="length"):
        vandermonde_kernel(c, dt_a, 0)
    with pytest.raises(ValueError, match="z must be 1-D"):
        cauchy_kernel(c, z[None], dt_a)
    with pytest.raises(ValueError, match="do not broadcast"):
        cauchy_kernel(c, z, dt_a[:, :2])
