r"""The embedded default: seeded multivariate signals that need no download.

Why: a fresh checkout (and CI) must be able to train and forecast something real-shaped without the
network. The signals have what forecasting models should exploit — several seasonalities, a trend,
correlated channels and persistent noise — with known structure, so a model's gain is checkable.

Generating process, for t = 0..T-1, channels c = 1..C and periods p_1..p_K (default 24 and 168, i.e.
daily and weekly at an hourly step):

    s_k(t)  = sin(2π t / p_k + φ_k)                      shared seasonal factors, φ_k ~ U[0, 2π)
    g(t)    = t / T - 1/2                                 shared slow trend
    ε_c(t)  = a ε_c(t-1) + σ √(1 - a²) η_c(t)             AR(1) noise, ε_c(0) = σ η_c(0), η ~ N(0, 1)
    x_c(t)  = μ_c + τ β_c g(t) + Σ_k w_{c,k} s_k(t) + ε_c(t)

with per-channel level μ_c ~ N(0, 1), trend slope β_c ~ N(0, 1) scaled by `trend` = τ, and mixing
weights w_{c,k} ~ N(0, 1): every channel mixes the same factors differently. The noise is stationary with
standard deviation σ (`noise_std`) and lag-1 correlation a (`ar_coef`). All draws come from one
`numpy.random.Generator(seed)` in a fixed order, so a seed gives the same frame on every machine.
"""

import numpy as np
import pandas as pd


def synthetic_frame(
    n_rows: int = 4000,
    n_channels: int = 4,
    periods: tuple[int, ...] = (24, 168),
    trend: float = 1.0,
    noise_std: float = 0.3,
    ar_coef: float = 0.7,
    seed: int = 0,
    start: str = "2016-07-01",
    freq: str = "h",
) -> pd.DataFrame:
    """A wide frame like a CSV: a "date" column then channels "x0".."x{C-1}" (float64), T rows."""
    periods = tuple(int(p) for p in periods)
    if n_rows < 1 or n_channels < 1:
        raise ValueError(f"synthetic: n_rows and n_channels must be >= 1, got {n_rows} and {n_channels}")
    if any(p < 2 for p in periods):
        raise ValueError(f"synthetic: every period must be >= 2 steps, got {periods}")
    if not -1.0 < ar_coef < 1.0 or noise_std < 0:
        raise ValueError(f"synthetic: need |ar_coef| < 1 and noise_std >= 0, got {ar_coef} and {noise_std}")
    rng = np.random.default_rng(seed)
    t = np.arange(n_rows, dtype=np.float64)
    phases = rng.uniform(0.0, 2 * np.pi, size=len(periods))
    levels = rng.normal(size=n_channels)
    slopes = rng.normal(size=n_channels)
    weights = rng.normal(size=(n_channels, len(periods)))
    innovations = rng.normal(size=(n_rows, n_channels))

    seasonal = np.sin(2 * np.pi * t[:, None] / np.asarray(periods, dtype=np.float64) + phases)  # (T, K)
    trend_factor = t / n_rows - 0.5  # (T,)
    noise = np.empty((n_rows, n_channels))
    noise[0] = noise_std * innovations[0]
    scale = noise_std * np.sqrt(1.0 - ar_coef**2)
    for step in range(1, n_rows):
        noise[step] = ar_coef * noise[step - 1] + scale * innovations[step]

    values = levels + trend * slopes * trend_factor[:, None] + seasonal @ weights.T + noise  # (T, C)
    frame = pd.DataFrame(values, columns=[f"x{c}" for c in range(n_channels)])
    frame.insert(0, "date", pd.date_range(start, periods=n_rows, freq=freq))
    return frame
