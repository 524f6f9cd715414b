"""What every fast-kernel test compares with: relative error against a float64 (complex128)
reference, allocations poisoned so an element no program wrote cannot pass as a value, and the
gradients of a random linear loss, the same for a kernel and its reference."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
import torch


def relative_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    """‖out − ref‖ / ‖ref‖ at the reference's precision; a NaN or inf anywhere fails the test."""
    out = out.detach().to(ref.dtype)
    values = torch.view_as_real(out) if out.is_complex() else out
    assert torch.isfinite(values).all(), "non-finite values (an element left unwritten?)"
    return ((out - ref.detach()).norm() / ref.detach().norm().clamp_min(1e-30)).item()


@contextlib.contextmanager
def poisoned_allocations() -> Iterator[None]:
    """Every tensor made by ``torch.empty(_like)`` inside starts as NaN (-1 for integers)."""
    empty, empty_like = torch.empty, torch.empty_like

    def poison(t: torch.Tensor) -> torch.Tensor:
        return t.fill_(float("nan") if t.is_floating_point() or t.is_complex() else -1)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch, "empty", lambda *a, **k: poison(empty(*a, **k)))
        patch.setattr(torch, "empty_like", lambda *a, **k: poison(empty_like(*a, **k)))
        yield


def loss_gradients(outputs: tuple[torch.Tensor, ...], inputs: dict, names: tuple[str, ...],
                   seed: int) -> dict[str, torch.Tensor]:
    """Gradients of ``Σ_i <outputs_i, W_i>`` (W_i random from ``seed``, in float64) with respect
    to each of ``names`` that ``inputs`` holds (not None)."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    weights = [torch.randn(o.shape, generator=gen).to(o.device, torch.float64) for o in outputs]
    loss = sum((o.double() * w).sum() for o, w in zip(outputs, weights))
    given = [name for name in names if inputs[name] is not None]
    return dict(zip(given, torch.autograd.grad(loss, [inputs[name] for name in given])))
