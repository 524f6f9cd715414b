"""What every fast-kernel test compares with: relative error against a float64 (complex128)
reference, and allocations poisoned so an element no program wrote cannot pass as a value."""

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
