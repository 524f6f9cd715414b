"""tsssm: S4, Mamba and Transformer sequence models on continuous signals, measured side by side.

``tsssm.load("best.ckpt").predict(frame)`` forecasts the series of a DataFrame with a trained
checkpoint (``tsssm.forecasting``); importing ``tsssm`` itself loads neither torch nor Lightning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from tsssm.forecasting.model import ForecastModel

__version__ = "0.1.0"


def load(checkpoint: str | Path | Sequence[str | Path], alias: str | Sequence[str] | None = None,
         device: str = "cpu") -> ForecastModel:
    """A forecaster of one checkpoint or several (``tsssm.forecasting.model.load``): its
    ``predict(frame)`` returns the long table ``unique_id, ds, <model>...``."""
    from tsssm.forecasting.model import load as load_model

    return load_model(checkpoint, alias, device)
