"""S4's Triton kernels (Vandermonde, Cauchy) against the reference: values and every gradient.

Each check runs the Triton kernel on complex64 inputs and the reference in complex128 on upcast
copies of the same inputs, and compares the output and each gradient by ‖out − ref‖ / ‖ref‖.
Every buffer the Triton wrappers allocate starts as NaN, so an element no program writes fails
the check. Without a GPU the kernels run in Triton's interpreter (``tests/conftest.py``) at tiny
shapes; the ``gpu`` tests repeat the comparisons at training sizes.
"""

from __future__ import annotations

import math

import pytest
import torch

from tests.kernels.numerics import poisoned_allocations, relative_error
from tsssm.kernels.s4 import cauchy_kernel, vandermonde_kernel
from tsssm.kernels import triton_common
from tsssm.kernels.s4.reference import cauchy_kernel_ref, vandermonde_kernel_ref
from tsssm.mixers.s4 import S4

CUDA = torch.cuda.is_available()
DEVICE = "cuda" if CUDA else "cpu"
# fp32 terms and sums; exp, cos and sin only of range-reduced arguments.
TOLERANCE = 1e-5
H, N = 3, 8
LENGTHS = [1, 37, 64]


def complex_normal(*shape: int, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.complex128, generator=generator)


def s4d_exponents(heads: int, modes: int, generator: torch.Generator) -> torch.Tensor:
    """Δλ as S4D has them: λ_n ≈ -1/2 + iπn (jittered), Δ log-uniform in [1e-3, 1e-1]."""
    dt = torch.empty(heads, 1, dtype=torch.float64).uniform_(-6.9, -2.3, generator=generator)
    jitter = 0.1 * complex_normal(heads, modes, generator=generator)
    modes_lin = torch.complex(torch.full((modes,), -0.5, dtype=torch.float64),
                              torch.pi * torch.arange(modes, dtype=torch.float64))
    eigenvalues = modes_lin + jitter
    eigenvalues = torch.complex(-eigenvalues.real.abs(), eigenvalues.imag)
    return eigenvalues * torch.exp(dt)


def leaves(*tensors: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """complex64 leaves on DEVICE, and complex128 copies of their values, all requiring grad."""
    low = [t.to(DEVICE, torch.complex64).requires_grad_() for t in tensors]
    high = [t.detach().to(torch.complex128).requires_grad_() for t in low]
    return low, high


def check_vandermonde(lead: tuple[int, ...], heads: int, modes: int, length: int,
                      seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    (c, dt_a), (c_ref, dt_a_ref) = leaves(complex_normal(*lead, heads, modes, generator=gen),
                                          s4d_exponents(heads, modes, gen))
    weights = torch.randn(*lead, heads, length, dtype=torch.float64, generator=gen).to(DEVICE)
    with poisoned_allocations():
        out = vandermonde_kernel(c, dt_a, length, backend="triton")
        grads = torch.autograd.grad((out.double() * weights).sum(), [c, dt_a])
    ref = vandermonde_kernel_ref(c_ref, dt_a_ref, length)
    grads_ref = torch.autograd.grad((ref * weights).sum(), [c_ref, dt_a_ref])
    assert out.shape == ref.shape and out.dtype == torch.float32
    errors = {"K": relative_error(out, ref), "dc": relative_error(grads[0], grads_ref[0]),
              "ddt_a": relative_error(grads[1], grads_ref[1])}
    assert max(errors.values()) <= TOLERANCE, errors


def check_cauchy(v_shape: tuple[int, ...], w_shape: tuple[int, ...], length: int,
                 seed: int) -> None:
    """Poles as S4 places them, ``(1 - x) / (1 + x)`` with ``x = Δλ/2``, outside the unit
    circle; points the L-th roots of unity."""
    gen = torch.Generator().manual_seed(seed)
    half_steps = torch.stack([s4d_exponents(*w_shape[-2:], gen) / 2
                              for _ in range(math.prod(w_shape[:-2]))])
    poles = ((1 - half_steps) / (1 + half_steps)).reshape(w_shape)
    points = torch.polar(torch.ones(length, dtype=torch.float64),
                         -2 * torch.pi * torch.arange(length, dtype=torch.float64) / length)
    (v, w), (v_ref, w_ref) = leaves(complex_normal(*v_shape, generator=gen), poles)
    z = points.to(DEVICE, torch.complex64)
    with poisoned_allocations():
        out = cauchy_kernel(v, z, w, backend="triton")
        weights = complex_normal(*out.shape, generator=gen).to(DEVICE)
        grads = torch.autograd.grad((out.to(torch.complex128) * weights.conj()).real.sum(),
                                    [v, w])
    ref = cauchy_kernel_ref(v_ref, z.to(torch.complex128), w_ref)
    grads_ref = torch.autograd.grad((ref * weights.conj()).real.sum(), [v_ref, w_ref])
    assert out.shape == ref.shape and out.dtype == torch.complex64
    errors = {"out": relative_error(out, ref), "dv": relative_error(grads[0], grads_ref[0]),
              "dw": relative_error(grads[1], grads_ref[1])}
    assert max(errors.values()) <= TOLERANCE, errors


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("lead", [(), (2,)], ids=["HN", "RHN"])
def test_vandermonde_matches_reference(lead: tuple[int, ...], length: int) -> None:
    check_vandermonde(lead, H, N, length, seed=length)


def test_vandermonde_over_many_chunks_spans_and_mode_blocks() -> None:
    """20 modes: a full and a partial block of 16 (two programs per row); 600 taps: chunks of
    256 taps in the interpreter, over more than one span."""
    check_vandermonde((), H, 20, 600, seed=1)


CAUCHY_LAYOUTS = {
    "shared-poles": ((2, H, N), (H, N)),  # S4: several numerators, one set of poles
    "batched-poles": ((2, H, N), (2, H, N)),
}
CAUCHY_EXTRA_LAYOUTS = {
    "unbatched": ((H, N), (H, N)),
    "three-rows-shared-poles": ((3, H, N), (1, H, N)),  # rows over more than one row block
    "broadcast-numerators": ((H, N), (2, H, N)),
    "partial-mode-block": ((2, H, 5), (H, 5)),
}


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("layout", sorted(CAUCHY_LAYOUTS))
def test_cauchy_matches_reference(layout: str, length: int) -> None:
    check_cauchy(*CAUCHY_LAYOUTS[layout], length, seed=length)


@pytest.mark.parametrize("layout", sorted(CAUCHY_EXTRA_LAYOUTS))
def test_cauchy_layouts(layout: str) -> None:
    check_cauchy(*CAUCHY_EXTRA_LAYOUTS[layout], 37, seed=2)


def test_vandermonde_keeps_fp32_accuracy_at_large_phases() -> None:
    """Im(Δλ) l up to 1.6e5 rad with almost no decay: formed in fp32 (the complex64
    reference) the phase is off by ~0.01 rad; the kernel forms it in float64."""
    gen = torch.Generator().manual_seed(3)
    heads, modes, length = 2, 4, 4096
    dt_a = torch.complex(-1e-4 * torch.rand(heads, modes, dtype=torch.float64, generator=gen),
                         20 + 20 * torch.rand(heads, modes, dtype=torch.float64, generator=gen))
    c = complex_normal(heads, modes, generator=gen)
    (c32, dt_a32), (c64, dt_a64) = leaves(c, dt_a)
    exact = vandermonde_kernel_ref(c64, dt_a64, length)
    with torch.no_grad():
        single = vandermonde_kernel_ref(c32, dt_a32, length)
        out = vandermonde_kernel(c32, dt_a32, length, backend="triton")
    assert relative_error(single, exact) > 100 * TOLERANCE  # the case is hard in fp32
    assert relative_error(out, exact) <= TOLERANCE


@pytest.mark.gpu
@pytest.mark.parametrize("lead, modes, length", [((2,), 64, 4096), ((), 200, 1000)])
def test_vandermonde_matches_reference_at_training_size(lead: tuple[int, ...], modes: int,
                                                        length: int) -> None:
    check_vandermonde(lead, 256, modes, length, seed=4)


@pytest.mark.gpu
@pytest.mark.parametrize("v_shape, w_shape", [((2, 256, 64), (256, 64)),
                                              ((6, 256, 64), (256, 64)),
                                              ((2, 64, 200), (2, 64, 200))])
def test_cauchy_matches_reference_at_training_size(v_shape: tuple[int, ...],
                                                   w_shape: tuple[int, ...]) -> None:
    check_cauchy(v_shape, w_shape, 4096, seed=5)


def _run_s4(mode: str, bidirectional: bool, backend: str,
            dtype: torch.dtype) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Output and parameter gradients of one S4 layer (same init whatever the backend)."""
    torch.manual_seed(0)
    layer = S4(6, d_state=N, mode=mode, dt_min=0.01, dt_max=0.5, bidirectional=bidirectional,
               kernel_backend=backend).to(DEVICE, dtype)
    x = torch.randn(2, 37, 6, generator=torch.Generator().manual_seed(6)).to(DEVICE, dtype)
    y = layer(x)
    names, parameters = zip(*layer.named_parameters())
    return y, dict(zip(names, torch.autograd.grad(y.square().sum(), parameters)))


@pytest.mark.parametrize("bidirectional", [False, True], ids=["causal", "bidirectional"])
@pytest.mark.parametrize("mode", ["diag", "dplr"])
def test_s4_mixer_is_the_same_on_both_backends(mode: str, bidirectional: bool) -> None:
    """An fp32 layer forced onto the Triton kernels gives the reference layer's output, and
    gradients as close to the float64 layer's as the fp32 reference's are, within a factor of
    three: the fp32 layer around the kernels, its matrix powers above all, costs ~1e-5 on log_dt
    by itself, and the two backends sum in different orders (on a CPU with AVX-512 the kernels'
    log_dt error of the causal DPLR layer measured 3.2x the reference's, 2.8e-5)."""
    y, grads = _run_s4(mode, bidirectional, "triton", torch.float32)
    y_ref, grads_ref = _run_s4(mode, bidirectional, "reference", torch.float32)
    _, grads_exact = _run_s4(mode, bidirectional, "reference", torch.float64)
    assert relative_error(y, y_ref.double()) <= TOLERANCE
    for name, exact in grads_exact.items():
        error, error_ref = (relative_error(grads[name], exact),
                            relative_error(grads_ref[name], exact))
        assert error <= TOLERANCE + 3 * error_ref, (name, error, error_ref)


def test_auto_runs_the_reference_on_cpu_and_for_complex128() -> None:
    gen = torch.Generator().manual_seed(7)
    c, dt_a, z = (complex_normal(H, N, generator=gen), s4d_exponents(H, N, gen),
                  complex_normal(11, generator=gen))
    for dtype in ([torch.complex128] if CUDA else [torch.complex64, torch.complex128]):
        c_, dt_a_, z_ = (t.to(DEVICE, dtype) for t in (c, dt_a, z))
        assert torch.equal(vandermonde_kernel(c_, dt_a_, 11),
                           vandermonde_kernel_ref(c_, dt_a_, 11))
        assert torch.equal(cauchy_kernel(c_, z_, dt_a_), cauchy_kernel_ref(c_, z_, dt_a_))


@pytest.mark.gpu
def test_auto_runs_triton_for_complex64_on_cuda() -> None:
    gen = torch.Generator().manual_seed(10)
    c, dt_a, z = (complex_normal(H, N, generator=gen).to(DEVICE, torch.complex64),
                  s4d_exponents(H, N, gen).to(DEVICE, torch.complex64),
                  complex_normal(11, generator=gen).to(DEVICE, torch.complex64))
    assert torch.equal(vandermonde_kernel(c, dt_a, 11),
                       vandermonde_kernel(c, dt_a, 11, backend="triton"))
    assert torch.equal(cauchy_kernel(c, z, dt_a), cauchy_kernel(c, z, dt_a, backend="triton"))


def test_forced_triton_says_why_it_cannot_run(monkeypatch: pytest.MonkeyPatch) -> None:
    gen = torch.Generator().manual_seed(8)
    c, dt_a, z = (complex_normal(H, N, generator=gen).to(DEVICE),
                  s4d_exponents(H, N, gen).to(DEVICE), complex_normal(11, generator=gen).to(DEVICE))
    with pytest.raises(ValueError, match="take complex64, got c of dtype torch.complex128"):
        vandermonde_kernel(c, dt_a, 11, backend="triton")
    low = [t.to(DEVICE, torch.complex64) for t in (c, dt_a, z)]
    with pytest.raises(ValueError, match="z requires grad"):
        cauchy_kernel(low[0], low[2].requires_grad_(), low[1], backend="triton")
    with pytest.raises(ValueError, match="backend must be one of"):
        cauchy_kernel(low[0], low[2], low[1], backend="cuda")
    with pytest.raises(TypeError, match="dt_a must be a complex tensor"):
        vandermonde_kernel(low[0], low[1].real, 11, backend="triton")
    monkeypatch.setattr(triton_common, "INTERPRETED", False)
    cpu = [t.to("cpu", torch.complex64) for t in (c, dt_a)]
    with pytest.raises(ValueError, match="need CUDA tensors"):
        vandermonde_kernel(*cpu, 11, backend="triton")
    with pytest.raises(ValueError, match="kernel_backend must be one of"):
        S4(6, kernel_backend="cuda")


def test_auto_sends_a_z_that_needs_grad_to_the_reference() -> None:
    gen = torch.Generator().manual_seed(9)
    v, w, z = (complex_normal(H, N, generator=gen).to(DEVICE, torch.complex64),
               s4d_exponents(H, N, gen).to(DEVICE, torch.complex64),
               complex_normal(11, generator=gen).to(DEVICE, torch.complex64).requires_grad_())
    out = cauchy_kernel(v, z, w)
    (dz,) = torch.autograd.grad(out.real.sum(), [z])
    (dz_ref,) = torch.autograd.grad(cauchy_kernel_ref(v, z, w).real.sum(), [z])
    assert torch.equal(dz, dz_ref)
