"""The Triton causal depthwise convolution against the plain-torch reference.

Every check compares the output and the gradients of x, weight and bias with
``causal_conv1d_ref`` run in float64 on upcast copies of the same inputs, by
``‖out − ref‖ / ‖ref‖``, with every ``torch.empty`` poisoned with NaN so that an element no
program wrote fails. Without a GPU the kernels run in Triton's interpreter (``conftest.py``) at
tiny shapes with small tiles (8 steps × 4 channels, 16 steps per gradient program), so the
cases below cross step, channel and span blocks and mask the last of each; the ``gpu`` tests
repeat the comparison at a training-sized shape.
"""

from __future__ import annotations

import pytest
import torch

from tests.kernels.numerics import poisoned_allocations, relative_error
from tsssm.kernels.causal_conv import causal_conv1d
from tsssm.kernels.causal_conv import triton as cct
from tsssm.kernels.causal_conv.reference import causal_conv1d_ref

CUDA = torch.cuda.is_available()
DEVICE = "cuda" if CUDA else "cpu"
# fp32: sums of K products, and of the sequence for dweight and dbias; bf16 / fp16: inputs,
# outputs and the stored gradient at the activation rounded.
TOLERANCE = {torch.float32: 1e-4, torch.bfloat16: 1e-2, torch.float16: 1e-2}


def make_leaves(batch: int, length: int, channels: int, taps: int, dtype: torch.dtype,
                bias: bool, seed: int, weight_dtype: torch.dtype | None = None,
                strided: bool = False, device: str = DEVICE) -> dict[str, torch.Tensor]:
    """Random leaves requiring grad: "x" (batch, L, C), "weight" (C, K) and, with ``bias``,
    "bias" (C,). With ``strided``, "projection" (batch, L, 2C) and "weight_t" (K, C) instead of
    x and weight, which ``views`` takes as non-contiguous views of them."""
    gen = torch.Generator(device="cpu").manual_seed(seed)

    def rand(*shape: int, kind: torch.dtype = dtype) -> torch.Tensor:
        return torch.randn(*shape, generator=gen).to(device, kind).requires_grad_(True)

    weight_dtype = dtype if weight_dtype is None else weight_dtype
    leaves = ({"projection": rand(batch, length, 2 * channels),
               "weight_t": rand(taps, channels, kind=weight_dtype)} if strided
              else {"x": rand(batch, length, channels),
                    "weight": rand(channels, taps, kind=weight_dtype)})
    return leaves | ({"bias": rand(channels, kind=weight_dtype)} if bias else {})


def views(leaves: dict[str, torch.Tensor]
          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(x, weight, bias) from ``make_leaves``' leaves; x the second half of the projection's
    columns (as Mamba's ``in_proj(u).chunk(2, dim=-1)``), weight the transpose of weight_t."""
    x = leaves["projection"].chunk(2, dim=-1)[1] if "projection" in leaves else leaves["x"]
    weight = leaves["weight_t"].t() if "weight_t" in leaves else leaves["weight"]
    return x, weight, leaves.get("bias")


def run_and_differentiate(conv, leaves: dict[str, torch.Tensor], activation: str | None,
                          seed: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(y, the gradient of every leaf) of a random linear loss of y."""
    y = conv(*views(leaves), activation)
    gen = torch.Generator(device="cpu").manual_seed(seed + 1)
    weights = torch.randn(y.shape, generator=gen, dtype=torch.float64).to(y.device)
    grads = torch.autograd.grad((y.double() * weights).sum(), list(leaves.values()))
    return y, dict(zip(leaves, grads))


def compare_with_reference(batch: int, length: int, channels: int, taps: int,
                           dtype: torch.dtype, bias: bool, activation: str | None, seed: int,
                           **options) -> None:
    leaves = make_leaves(batch, length, channels, taps, dtype, bias, seed, **options)
    with poisoned_allocations():
        y, grads = run_and_differentiate(cct.causal_conv1d_triton, leaves, activation, seed)
    exact = {name: t.detach().double().requires_grad_(True) for name, t in leaves.items()}
    ref_y, ref_grads = run_and_differentiate(causal_conv1d_ref, exact, activation, seed)
    assert y.dtype == dtype and y.shape == (batch, length, channels)
    assert all(grads[name].dtype == leaves[name].dtype for name in grads)
    errors = {"y": relative_error(y, ref_y)}
    errors |= {f"d{name}": relative_error(grads[name], ref_grads[name]) for name in grads}
    tol = TOLERANCE[dtype]
    bad = {name: err for name, err in errors.items() if not err <= tol}
    assert not bad, f"relative errors above {tol}: {bad}"


# (length, channels, taps): a single step, odd lengths across several 8-step tiles and 16-step
# gradient spans (the last of each partial), channels across 4-channel blocks (the last one
# partial), a sequence shorter than the filter, every tap count up to 8.
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("activation", [None, "silu"])
@pytest.mark.parametrize("length,channels,taps", [(1, 6, 4), (37, 6, 4), (3, 5, 4)])
def test_matches_reference_fp32(length, channels, taps, bias, activation):
    compare_with_reference(2, length, channels, taps, torch.float32, bias, activation,
                           seed=length + channels)


@pytest.mark.parametrize("taps", [1, 2, 3, 5, 8])
def test_matches_reference_across_tap_counts(taps):
    compare_with_reference(1, 21, 7, taps, torch.float32, True, "silu", seed=taps)


def test_reads_and_writes_through_strides():
    """x a column half of a projection, weight transposed: values and gradients right."""
    compare_with_reference(2, 19, 6, 4, torch.float32, True, "silu", seed=5, strided=True)


@pytest.mark.parametrize("dtype,weight_dtype", [(torch.bfloat16, torch.bfloat16),
                                                (torch.bfloat16, torch.float32),
                                                (torch.float16, torch.float16)])
def test_matches_reference_low_precision(dtype, weight_dtype):
    """bf16 / fp16 x, with weights of the same dtype or fp32 (as under autocast)."""
    compare_with_reference(2, 29, 6, 4, dtype, True, "silu", seed=6, weight_dtype=weight_dtype)


@pytest.mark.parametrize("needed", ["x", "weight"])
def test_computes_only_the_gradients_asked_for(needed):
    """One input requiring grad: without SiLU and x's gradient alone the gradient kernel is
    skipped (dy goes straight into the time-reversed convolution); weight's alone skips dx."""
    leaves = make_leaves(1, 13, 5, 4, torch.float32, False, seed=7)
    for name, leaf in leaves.items():
        leaf.requires_grad_(name == needed)
    exact = {name: t.detach().double().requires_grad_(name == needed)
             for name, t in leaves.items()}
    with poisoned_allocations():
        y = cct.causal_conv1d_triton(*views(leaves))
    ref_y = causal_conv1d_ref(*views(exact))
    dy = torch.randn(y.shape, generator=torch.Generator().manual_seed(8)).to(DEVICE)
    (grad,) = torch.autograd.grad(y, leaves[needed], dy)
    (ref_grad,) = torch.autograd.grad(ref_y, exact[needed], dy.double())
    assert relative_error(grad, ref_grad) <= TOLERANCE[torch.float32]


def test_triton_backend_through_the_dispatcher():
    leaves = make_leaves(1, 9, 3, 4, torch.float32, True, seed=9)
    x, weight, bias = (t.detach() for t in views(leaves))
    y = causal_conv1d(x, weight, bias, "silu", backend="triton")
    assert relative_error(y, causal_conv1d_ref(x.double(), weight.double(), bias.double(),
                                               "silu")) <= TOLERANCE[torch.float32]


def test_rejects_inputs_it_cannot_compute():
    x, weight = torch.randn(1, 4, 3, device=DEVICE), torch.randn(3, 4, device=DEVICE)
    with pytest.raises(ValueError, match="x must be float32, bfloat16 or float16, got "
                                         "torch.float64"):
        cct.causal_conv1d_triton(x.double(), weight)
    with pytest.raises(ValueError, match="K=9 taps"):
        cct.causal_conv1d_triton(x, torch.randn(3, 9, device=DEVICE))
    with pytest.raises(ValueError, match="backend='triton' cannot run these inputs: weight must "
                                         "be float32"):
        causal_conv1d(x, weight.double(), backend="triton")
    with pytest.raises(ValueError, match=r"causal_conv1d_triton: bias must have shape \(C,\)"):
        cct.causal_conv1d_triton(x, weight, torch.randn(4, device=DEVICE))


# ------------------------------------------------------------------------------------------
# On the GPU, at a training-sized shape
# ------------------------------------------------------------------------------------------

needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_matches_reference_on_gpu(dtype):
    compare_with_reference(2, 4096, 2048, 4, dtype, True, "silu", seed=10, strided=True)


@pytest.mark.gpu
@needs_cuda
def test_matches_reference_on_gpu_odd_shape_no_options():
    compare_with_reference(3, 1031, 1000, 4, torch.float32, False, None, seed=11)


@pytest.mark.gpu
@needs_cuda
def test_auto_backend_picks_triton_on_gpu():
    x, weight, bias = (t.detach() for t in views(
        make_leaves(2, 300, 256, 4, torch.bfloat16, True, seed=12, device="cuda")))
    assert torch.equal(causal_conv1d(x, weight, bias, "silu"),
                       cct.causal_conv1d_triton(x, weight, bias, "silu"))
