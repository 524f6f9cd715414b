"""Quantile forecasts: which quantiles a model predicts for interval levels, and their pinball loss.

A model trained with ``task.loss=quantile task.levels=[80, 90]`` predicts, for every step and
channel, the median and the bounds of a central interval per level: quantiles
``0.05, 0.10, 0.50, 0.90, 0.95`` (lowest first), so that an 80% interval is ``[q0.10, q0.90]``.
Forecast tables name them as neuralforecast does: ``<model>`` (the median), ``<model>-lo-80``,
``<model>-hi-80``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

LOSSES = ("mse", "quantile")


@dataclass(frozen=True)
class QuantileLevels:
    """The interval levels (percent, ascending) of a quantile model, and its quantiles."""

    levels: tuple[int, ...]

    @classmethod
    def from_config(cls, loss: str, levels: Sequence[int] | None) -> QuantileLevels | None:
        """The quantiles of ``task.loss`` and ``task.levels``; None for a point (MSE) model."""
        levels = list(levels or [])
        if loss not in LOSSES:
            raise ValueError(f"task.loss must be one of {LOSSES}, got {loss!r}")
        if loss == "mse":
            if levels:
                raise ValueError(f"task.levels={levels} needs task.loss=quantile: an MSE model "
                                 "forecasts one value per step, without intervals")
            return None
        bad = [level for level in levels if isinstance(level, bool) or not isinstance(level, int)
               or not 0 < level < 100]
        if bad or len(set(levels)) != len(levels):
            raise ValueError(f"task.levels must be distinct integers between 1 and 99 (interval "
                             f"coverage in percent), got {levels}")
        return cls(tuple(sorted(levels)))

    @property
    def fractions(self) -> list[float]:
        """The ``2 * len(levels) + 1`` quantiles, ascending: lower bounds (widest interval
        first), the median, upper bounds (narrowest first)."""
        lower = [(100 - level) / 200 for level in reversed(self.levels)]
        return [*lower, 0.5, *(1 - q for q in reversed(lower))]

    @property
    def median(self) -> int:
        """Index of the median among ``fractions``."""
        return len(self.levels)

    def bounds(self, level: int) -> tuple[int, int]:
        """Indices of the lower and upper quantile of the ``level`` interval."""
        offset = self.levels.index(level) + 1  # wider intervals lie further from the median
        return self.median - offset, self.median + offset


def pinball_loss(prediction: Tensor, target: Tensor, fractions: Sequence[float]) -> Tensor:
    """Mean pinball loss of quantile forecasts ``prediction (..., Q)`` of ``target (...)``:
    ``max(q * e, (q - 1) * e)`` with ``e = target - prediction``, averaged over every element and
    quantile (for the median alone it is half the MAE)."""
    q = torch.as_tensor(fractions, dtype=prediction.dtype, device=prediction.device)
    error = target.unsqueeze(-1) - prediction
    return torch.maximum(q * error, (q - 1) * error).mean()
