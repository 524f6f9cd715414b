"""What a batch of either kind of data holds, for callbacks that count samples (throughput)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor


def batch_size(batch: Any) -> int:
    """Windows in a batch: ``(x, y)`` tuples of series, or ``{"input": ...}`` token batches."""
    if isinstance(batch, Mapping) and isinstance(batch.get("input"), Tensor):
        return len(batch["input"])
    if isinstance(batch, Sequence) and batch and isinstance(batch[0], Tensor):
        return len(batch[0])
    raise TypeError(f"cannot count the windows of a batch of type {type(batch).__name__}: expected "
                    "an (x, y) tuple of tensors or a dict with an 'input' tensor")
