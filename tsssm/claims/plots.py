"""The report's figures: grouped points with 95% interval bars, and log-log scaling plots with
fitted power laws. Bare ``Figure`` objects (Agg, no pyplot state); the caller saves them.

Every y axis is fitted to the data (matplotlib's autoscaling, never forced to start at 0), so
differences of a few percent stay visible.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from tsssm.claims.spec import ENTITY, format_value
from tsssm.claims.stats import PowerFit

PANEL_WIDTH, PANEL_HEIGHT, MAX_COLUMNS = 5.0, 3.6, 3


def _panels(count: int, title: str) -> tuple[Figure, list[Axes]]:
    """A figure of ``count`` panels, at most ``MAX_COLUMNS`` a row; unused axes hidden."""
    columns = min(MAX_COLUMNS, max(1, count))
    rows = math.ceil(max(1, count) / columns)
    fig = Figure(figsize=(PANEL_WIDTH * columns, PANEL_HEIGHT * rows + 0.5), layout="constrained")
    axes = list(fig.subplots(rows, columns, squeeze=False).flat)
    for ax in axes[count:]:
        ax.set_visible(False)
    fig.suptitle(title)
    return fig, axes[:max(1, count)]


def _interval_bars(rows: pd.DataFrame) -> np.ndarray:
    """``(2, n)`` distances from each mean down to ``lo`` and up to ``hi``; 0 without an interval."""
    return np.nan_to_num(np.stack([rows["mean"] - rows["lo"], rows["hi"] - rows["mean"]]))


def _groups(summary: pd.DataFrame, keys: Sequence[str]) -> Iterator[tuple[str, pd.DataFrame]]:
    """(title, rows) per combination of ``keys``' values; the whole table once without keys."""
    if not keys:
        yield "", summary
        return
    for values, rows in summary.groupby(list(keys), sort=False):
        yield ", ".join(f"{k} {format_value(v)}" for k, v in zip(keys, values)), rows


def grouped_points(summary: pd.DataFrame, condition_names: Sequence[str], ylabel: str,
                   title: str) -> Figure:
    """One panel per value of every condition but the last, the last on x (evenly spaced, in
    order), one series per entity side by side, mean with its 95% interval as a bar."""
    *panel_keys, x_name = condition_names
    panels = list(_groups(summary, panel_keys))
    entities = list(dict.fromkeys(summary[ENTITY]))
    width = 0.6 / max(1, len(entities))
    fig, axes = _panels(len(panels), title)
    for ax, (panel_title, rows) in zip(axes, panels):
        xs = sorted(rows[x_name].unique())
        for i, entity in enumerate(entities):
            points = rows[rows[ENTITY] == entity].sort_values(x_name)
            offset = (i - (len(entities) - 1) / 2) * width
            positions = [xs.index(value) + offset for value in points[x_name]]
            ax.errorbar(positions, points["mean"], yerr=_interval_bars(points), fmt="o-", lw=0.8,
                        ms=4, capsize=3, color=f"C{i % 10}", label=entity)
        ax.set_xticks(range(len(xs)), [format_value(value) for value in xs])
        ax.set_xlim(-0.5, len(xs) - 0.5)
        ax.set_xlabel(x_name)
        ax.set_ylabel(ylabel)
        ax.set_title(panel_title, fontsize="medium")
    axes[0].legend(fontsize="small")
    return fig


def log_log(summary: pd.DataFrame, axis: str, labels: Mapping[str, str],
            fits: Mapping[tuple[str, str], tuple[PowerFit, float, float]], title: str) -> Figure:
    """One panel per metric (``labels``: key -> axis label): each entity's mean against ``axis``
    on log-log axes with its 95% interval, and its fitted power law ``fits[(metric, entity)] =
    (fit, first x, last x)`` as a dashed line over the lengths it was fitted on."""
    fig, axes = _panels(len(labels), title)
    entities = list(dict.fromkeys(summary[ENTITY]))
    for ax, (key, label) in zip(axes, labels.items()):
        for i, entity in enumerate(entities):
            points = summary[(summary["metric"] == key) & (summary[ENTITY] == entity)]
            if points.empty:
                continue
            bars = _interval_bars(points)
            bars[0] = np.minimum(bars[0], 0.9 * points["mean"].to_numpy())  # stay above 0 on a log axis
            ax.errorbar(points[axis], points["mean"], yerr=bars, fmt="o", ms=4, capsize=3,
                        color=f"C{i % 10}", label=entity)
            if (key, entity) in fits:
                fit, first, last = fits[key, entity]
                x = np.geomspace(first, last, 32)
                ax.plot(x, fit.coefficient * x ** fit.exponent, "--", lw=1, color=f"C{i % 10}",
                        label=f"{entity}: ∝ {axis}^{fit.text()}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(axis)
        ax.set_ylabel(label)
        if ax.get_legend_handles_labels()[0]:  # a metric with no runs yet (memory on a CPU) has none
            ax.legend(fontsize="x-small")
    return fig
