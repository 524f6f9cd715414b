"""Figures logged with runs: forecasts against the truth on test windows; spectrograms of audio."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
import torchaudio.transforms as T

SPECTROGRAM_WINDOW_S = 0.032
SPECTROGRAM_RANGE_DB = 80.0


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


def plot_spectrogram(wave: torch.Tensor, sample_rate: int, path: Path, title: str) -> Path:
    """Power spectrogram in dB of a mono ``wave (n,)`` in [-1, 1], time in seconds against Hz.

    Windows of about 32 ms (the next power of two in samples), hop a quarter window: short enough
    to see pitch and formant tracks in speech. The colour range is the loudest 80 dB, so silence
    (``-inf`` dB) does not stretch the scale. A wave shorter than one window is padded with zeros.
    """
    n_fft = 1 << max(1, math.ceil(math.log2(SPECTROGRAM_WINDOW_S * sample_rate)))
    hop = n_fft // 4
    wave = wave.detach().float().cpu().flatten()
    wave = torch.nn.functional.pad(wave, (0, max(0, n_fft - wave.shape[0])))
    power = T.Spectrogram(n_fft=n_fft, hop_length=hop, power=2.0)(wave)  # (n_fft / 2 + 1, frames)
    decibels = 10 * torch.log10(power.clamp(min=1e-12))
    decibels = decibels.clamp(min=decibels.max() - SPECTROGRAM_RANGE_DB).numpy()
    fig, ax = plt.subplots(figsize=(9, 3.2))
    extent = (0.0, wave.shape[0] / sample_rate, 0.0, sample_rate / 2)
    image = ax.imshow(decibels, origin="lower", aspect="auto", extent=extent, cmap="magma")
    fig.colorbar(image, ax=ax, label="dB")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    ax.set_title(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)
    return path
