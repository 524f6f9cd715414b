"""What a forecasting network needs to know about its data, and nothing else."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ForecastShape:
    """Sizes every forecaster is built from: ``(B, lookback, n_channels) -> (B, horizon, n_channels)``,
    or ``(B, horizon, n_channels, n_quantiles)`` for a model of several quantiles (quantile loss).

    ``period`` is the dominant seasonal period in steps (24 for hourly data), used by seasonal naive.
    """

    lookback: int
    horizon: int
    n_channels: int
    period: int | None = None
    n_quantiles: int = 1

    @property
    def outputs(self) -> tuple[int, ...]:
        """The trailing dimensions of one channel's forecast: ``(horizon,)``, or
        ``(horizon, n_quantiles)`` for a quantile model."""
        return (self.horizon,) if self.n_quantiles == 1 else (self.horizon, self.n_quantiles)

    def __post_init__(self) -> None:
        for field in ("lookback", "horizon", "n_channels", "n_quantiles"):
            if getattr(self, field) <= 0:
                raise ValueError(f"ForecastShape.{field} must be positive, got {getattr(self, field)}")
