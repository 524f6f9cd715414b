"""Scores of a backtest, per cutoff and over all of them, in original units.

For each model column of a backtest table (``backtest.Backtest``): MSE and MAE of its point
forecast (a quantile model's median) over every series, channel and step; MASE, each series'
MAE divided by its seasonal-naive scale up to the cutoff (``Backtest.scales``), averaged over
series (and cutoffs, overall); and for a model with intervals the coverage of each level, the
fraction of ``y`` inside ``[<model>-lo-N, <model>-hi-N]``. These are utilsforecast's ``mse``,
``mae`` and ``coverage`` averaged over series, and its ``mase`` with each cutoff's own history.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

OVERALL = "overall"


def interval_levels(columns: Sequence[str], model: str) -> list[int]:
    """The levels of ``model``'s interval columns (``<model>-lo-80`` ...), ascending."""
    lower = re.compile(rf"{re.escape(model)}-lo-(\d+)")
    return sorted(int(found.group(1)) for c in columns if (found := lower.fullmatch(c)))


def model_scores(rows: pd.DataFrame, scales: pd.DataFrame, model: str,
                 levels: Sequence[int]) -> dict[str, float]:
    """MSE, MAE, MASE and coverage per level of ``model`` over ``rows`` (module docstring)."""
    error = rows[model] - rows["y"]
    by_series = error.abs().groupby([rows["unique_id"], rows["cutoff"]]).mean()
    scale = scales.set_index(["unique_id", "cutoff"])["scale"].reindex(by_series.index)
    with np.errstate(divide="ignore"):
        found = {"mse": float((error ** 2).mean()), "mae": float(error.abs().mean()),
                 "mase": float((by_series / scale).mean())}
    for level in levels:
        inside = (rows[f"{model}-lo-{level}"] <= rows["y"]) & (rows["y"] <= rows[f"{model}-hi-{level}"])
        found[f"coverage_{level}"] = float(inside.mean())
    return found


def backtest_scores(table: pd.DataFrame, scales: pd.DataFrame,
                    models: Sequence[str]) -> pd.DataFrame:
    """``cutoff, metric, <model>...``: each cutoff's scores (the cutoff as text), then the
    overall ones (``cutoff`` = ``overall``); NaN where a model has no interval of a level."""
    levels = {model: interval_levels(table.columns, model) for model in models}
    groups = [(str(cutoff), rows) for cutoff, rows in table.groupby("cutoff", sort=True)]
    found = {}
    for label, rows in [*groups, (OVERALL, table)]:
        for model in models:
            for metric, value in model_scores(rows, scales, model, levels[model]).items():
                found.setdefault((label, metric), {})[model] = value
    frame = pd.DataFrame.from_dict(found, orient="index", columns=list(models))
    frame.index = pd.MultiIndex.from_tuples(frame.index, names=["cutoff", "metric"])
    return frame.reset_index()
