"""A quality goal held against a comparison's runs: per dataset, the best of the candidate models
by its metric averaged over the dataset's horizons, against a published figure.

C3's goal: the best state-space model's test MSE, averaged over the four horizons, against the
best fair re-evaluation published (every test window evaluated, no ``drop_last``). A model counts
on a dataset once it has every horizon at ``MIN_SEEDS`` seeds or more; its average is taken per
seed over the horizons, then as a mean with its 95% interval over those seeds.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from tsssm.claims.runs import DATASET, HORIZON
from tsssm.claims.spec import ENTITY, SEED
from tsssm.claims.stats import MIN_SEEDS, Interval, mean_interval

HEADER = ["dataset", "goal", "best candidate", "its average", "against the goal", "best of all"]


@dataclass(frozen=True)
class QualityGoal:
    """``targets`` (dataset -> the goal for the metric's average over ``horizons[dataset]``),
    held against the best of ``candidates`` in the runs of the study named ``study``."""

    name: str
    study: str
    metric: str
    targets: dict[str, float]
    horizons: dict[str, tuple[int, ...]]
    candidates: tuple[str, ...]
    source: str

    def averages(self, frame: pd.DataFrame, dataset: str) -> dict[str, Interval]:
        """Each model with every horizon of ``dataset`` at ``MIN_SEEDS`` seeds or more: its
        per-seed average over the horizons, as an interval over the seeds that ran them all."""
        runs = frame[frame[DATASET.name] == dataset]
        wanted = list(self.horizons[dataset])
        found = {}
        for model, rows in runs.groupby(ENTITY):
            by_seed = rows.pivot_table(index=SEED, columns=HORIZON.name, values=self.metric)
            by_seed = by_seed.reindex(columns=wanted).dropna()
            if len(by_seed) >= MIN_SEEDS:
                found[str(model)] = mean_interval(by_seed.mean(axis=1).to_numpy())
        return found

    def rows(self, frame: pd.DataFrame) -> list[list[str]]:
        """One row per dataset: its goal, the best candidate's average and how far it is from
        the goal, and the best model of all for reference."""
        return [self._row(dataset, goal, self.averages(frame, dataset))
                for dataset, goal in self.targets.items()]

    def _row(self, dataset: str, goal: float, found: dict[str, Interval]) -> list[str]:
        overall = _best(found)
        everyone = "-" if overall is None else f"{overall[0]} {_average(overall[1])}"
        candidate = _best({m: i for m, i in found.items() if m in self.candidates})
        if candidate is None:
            return [dataset, f"{goal:g}", "-", "-",
                    f"no candidate with every horizon at {MIN_SEEDS} seeds yet", everyone]
        model, interval = candidate
        return [dataset, f"{goal:g}", model, _average(interval), _against(interval, goal),
                everyone]


def _best(found: dict[str, Interval]) -> tuple[str, Interval] | None:
    return min(found.items(), key=lambda item: item[1].mean, default=None)


def _average(interval: Interval) -> str:
    return f"{interval.mean:.4g} ± {interval.half_width:.2g} ({interval.n})"


def _against(interval: Interval, goal: float) -> str:
    """Below the goal or missing it by how much, and whether the seeds' interval holds it."""
    gap = interval.mean - goal
    words = (f"reaches it, {-gap:.3g} below" if gap < 0 else
             f"misses it by {gap:.3g} ({gap / goal:.1%})")
    if interval.lo <= goal <= interval.hi:
        words += "; the interval holds the goal"
    return words
