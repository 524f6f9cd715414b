"""Figures logged with runs: forecasts against the truth on test windows."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def plot_forecasts(history: np.ndarray, truth: np.ndarray, forecast: np.ndarray,
                   channel_name: str, path: Path, title: str) -> Path:
    """One panel per window: lookback, truth and forecast of one channel, in original units.

    ``history (W, L)``, ``truth (W, H)`` and ``forecast (W, H)`` hold W windows.
    """
    windows, lookback = history.shape
    horizon = truth.shape[1]
    fig, axes = plt.subplots(windows, 1, figsize=(9, 2.2 * windows), squeeze=False)
    past, future = np.arange(lookback), np.arange(lookback, lookback + horizon)
    for row, ax in enumerate(axes[:, 0]):
        ax.plot(past, history[row], color="0.4", lw=1, label="input")
        ax.plot(future, truth[row], color="black", lw=1, label="truth")
        ax.plot(future, forecast[row], color="tab:red", lw=1.2, label="forecast")
        ax.axvline(lookback - 0.5, color="0.7", lw=0.8, ls="--")
        ax.set_ylabel(channel_name)
    axes[0, 0].set_title(title)
    axes[0, 0].legend(loc="upper left", fontsize=8, ncol=3)
    axes[-1, 0].set_xlabel("time step")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
