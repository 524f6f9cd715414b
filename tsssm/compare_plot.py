"""The figure of a comparison (``python -m tsssm.compare``): one panel per metric; in each, the
models of every dataset x horizon side by side, each seed a point and the mean over seeds a mark
with its 95% t-interval (``tsssm.compare.summarise``).

The y-axis spans the data (the points and the intervals) with a margin, not from zero: models
often differ by a few percent of the value. The legend sits outside the panels. A bare
``Figure`` renders with Agg and touches no pyplot state, so no display is ever needed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

MARGIN = 0.08  # of the data's span, above and below it


def group_labels(frame: pd.DataFrame) -> pd.Series:
    """``dataset`` and ``h=horizon`` of each row, on two lines: the x-axis' groups."""
    return frame["dataset"] + "\nh=" + frame["horizon"].astype(str)


def fitted_limits(values: np.ndarray) -> tuple[float, float]:
    """The y-range of ``values`` (NaNs ignored) widened by ``MARGIN`` on each side; a single value
    gets a range of a tenth of itself (or 1 around 0)."""
    finite = values[np.isfinite(values)]
    low, high = float(finite.min()), float(finite.max())
    span = high - low or 0.1 * abs(high) or 1.0
    return low - MARGIN * span, high + MARGIN * span


def comparison_figure(seeds: pd.DataFrame, table: pd.DataFrame, metrics: Sequence[str],
                      title: str) -> Figure:
    """Panels of ``metrics`` (module docstring) from ``seeds`` (``per_seed``: one row per run) and
    ``table`` (``summarise``: one row per dataset x horizon x model)."""
    labels, seed_labels = group_labels(table), group_labels(seeds)
    groups = list(dict.fromkeys(labels))
    models = sorted(table["model"].unique())
    width = 0.8 / len(models)
    fig = Figure(figsize=(min(18.0, max(6.0, 0.6 * len(groups) * (len(models) + 1))),
                          1.0 + 2.6 * len(metrics)), layout="constrained")
    axes = fig.subplots(len(metrics), 1, sharex=True, squeeze=False)[:, 0]
    for ax, metric in zip(axes, metrics):
        mean, interval = table[f"{metric}_mean"], table[f"{metric}_ci95"].fillna(0.0)
        for i, model in enumerate(models):
            offset = (i - (len(models) - 1) / 2) * width
            rows = table["model"] == model
            ax.errorbar([groups.index(g) + offset for g in labels[rows]], mean[rows],
                        yerr=interval[rows], fmt="_", markersize=14, capsize=4, color=f"C{i}",
                        label=model)
            runs = seeds["model"] == model
            ax.scatter([groups.index(g) + offset for g in seed_labels[runs]], seeds.loc[runs, metric],
                       s=16, alpha=0.55, color=f"C{i}", edgecolors="none")
        extent = np.concatenate([seeds[metric].to_numpy(float), (mean - interval).to_numpy(float),
                                 (mean + interval).to_numpy(float)])
        ax.set_ylim(*fitted_limits(extent))
        ax.set_ylabel(metric)
        ax.grid(axis="y", alpha=0.3)
    axes[-1].set_xticks(range(len(groups)), groups)
    axes[-1].set_xlim(-0.5, len(groups) - 0.5)
    fig.suptitle(title)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside right upper", fontsize="small",
               title="model\n(dots: seeds;\nmark: mean, 95% CI)", title_fontsize="small")
    return fig
