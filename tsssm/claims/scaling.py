"""Studies of how cost grows with length (C1 time and memory against L, C2 decoding against
context): power-law exponents fitted on log-log axes, judged against a threshold.

For each model and measure, the lengths from ``fit_from`` on that have ``MIN_SEEDS`` seeds each
are fitted: least squares of the seeds' mean log value on log length (``stats.power_law_fit``).
Shorter lengths are tabulated and plotted but not fitted: there, fixed costs (kernel launches,
the weights' memory) hide the growth the claim is about. The claim holds for a model when its
exponent's 95% interval lies entirely below the threshold (e.g. 1.5: nearer linear than
quadratic), fails when it lies entirely above.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from tsssm.claims.plots import log_log
from tsssm.claims.spec import ENTITY, Analysis, Metric, Study
from tsssm.claims.stats import MIN_SEEDS, PowerFit, power_law_fit
from tsssm.claims.verdicts import Cell, Factor, Outcome, not_enough_seeds

OOM = "oom"
"""Metric of a benchmark run that ran out of memory: 1, with no measurement."""
OVER_TIME = "over_time"
"""Metric of a benchmark case not run because the same model and seed's step at a shorter length
already took over the run's time cap: 1, with no measurement."""
UNMEASURED = {OOM: "ran out of memory", OVER_TIME: "not run (a shorter length's step took over "
                                                   "the time cap)"}
MIN_LENGTHS = 3
MEASURE = Factor("measure", "for")


@dataclass(frozen=True)
class Measure:
    """A metric whose growth is fitted; ``threshold`` splits holds (exponent below) from fails
    (above); None: fitted and shown, not judged."""

    metric: Metric
    threshold: float | None = None


@dataclass(frozen=True)
class Growth:
    """One model's fitted growth in one metric: the fit (None when too few lengths or seeds),
    the lengths fitted, the fewest seeds among them, and why there is no fit."""

    fit: PowerFit | None
    lengths: list[int]
    seeds: int
    shortfall: str = ""


@dataclass(frozen=True, kw_only=True)
class Scaling(Study):
    """``measures`` of ``claimed`` and ``shown`` models against the length (the one condition),
    expected at every one of ``lengths``; fitted from ``fit_from`` on."""

    measures: tuple[Measure, ...]
    claimed: tuple[str, ...]
    shown: tuple[str, ...] = ()
    lengths: tuple[int, ...]
    fit_from: int

    @property
    def metrics(self) -> tuple[Metric, ...]:
        return tuple(measure.metric for measure in self.measures)

    @property
    def entities(self) -> tuple[str, ...]:
        return self.claimed + self.shown

    @property
    def blocks(self) -> tuple[tuple[int], ...]:
        return tuple((length,) for length in self.lengths)

    @property
    def extra_metrics(self) -> tuple[str, ...]:
        return tuple(UNMEASURED)

    @property
    def axis(self) -> str:
        return self.conditions[0].name

    def growth(self, frame: pd.DataFrame) -> dict[tuple[str, str], Growth]:
        """Fitted growth per (metric key, entity) with a measurement from ``fit_from`` on."""
        growth = {}
        fitted = frame[frame[self.axis] >= self.fit_from]
        for metric in self.metrics:
            for entity, runs in fitted.dropna(subset=[metric.key]).groupby(ENTITY, sort=False):
                growth[metric.key, entity] = self._fit(runs.groupby(self.axis)[metric.key])
        return growth

    def _fit(self, per_length) -> Growth:
        counts = per_length.count()
        usable = counts[counts >= MIN_SEEDS].index.tolist()
        if len(usable) < MIN_LENGTHS:
            if counts.max() < MIN_SEEDS:
                return Growth(None, usable, int(counts.max()), not_enough_seeds(int(counts.max())))
            return Growth(None, usable, MIN_SEEDS, f"not enough lengths with {MIN_SEEDS} seeds "
                                                   f"from {self.fit_from} on ({len(usable)})")
        log_means = per_length.apply(lambda values: np.log(values).mean()).loc[usable]
        fit = power_law_fit(usable, np.exp(log_means.to_numpy()))
        return Growth(fit, usable, int(counts.loc[usable].min()))

    def analyse(self, frame: pd.DataFrame) -> Analysis:
        growth = self.growth(frame)
        cells, rows = [], []
        for measure in self.measures:
            metric = measure.metric
            for entity in dict.fromkeys([*self.entities, *frame[ENTITY]]):
                if (metric.key, entity) not in growth:
                    continue
                found = growth[metric.key, entity]
                judged = measure.threshold is not None and entity in self.claimed
                cell = self._cell(entity, metric, measure.threshold, found) if judged else None
                if cell is not None:
                    cells.append(cell)
                span = f"{found.lengths[0]}-{found.lengths[-1]}" if found.lengths else "-"
                rows.append([entity, metric.label, found.fit.text() if found.fit else "-", span,
                             str(found.seeds), (cell.shortfall or cell.outcome.value) if cell
                             else found.shortfall or "shown, not judged"])
        header = [self.entity_name, MEASURE.name, "exponent [95% interval]",
                  f"fitted on {self.axis}", "seeds (fewest)", "outcome"]
        factors = [Factor(self.entity_name, self.entity[0].preposition), MEASURE]
        undecided = "undecided at {seeds} seeds (an exponent interval spans its threshold)"
        return Analysis(cells, factors, undecided, header, rows, self._unmeasured(frame))

    def _cell(self, entity: str, metric: Metric, threshold: float, found: Growth) -> Cell:
        levels = ((self.entity_name, entity), (MEASURE.name, metric.label))
        if found.fit is None:
            return Cell(levels, Outcome.TOO_FEW, found.seeds, f"{entity} {metric.label}: "
                        f"{found.shortfall}", shortfall=found.shortfall)
        fit = found.fit
        evidence = (f"{entity} {metric.label} ∝ {self.axis}^{fit.text()} over {self.axis} "
                    f"{found.lengths[0]}-{found.lengths[-1]} ({fit.n} lengths, {found.seeds} "
                    f"seeds; threshold {threshold:g})")
        outcome = (Outcome.HOLDS if fit.hi < threshold else
                   Outcome.FAILS if fit.lo > threshold else Outcome.UNDECIDED)
        margin = max(threshold - fit.hi, fit.lo - threshold)
        return Cell(levels, outcome, found.seeds, evidence, margin=margin)

    def _unmeasured(self, frame: pd.DataFrame) -> list[str]:
        """A note per model and reason (``UNMEASURED``) naming the lengths it was not measured
        at."""
        notes = []
        for metric, reason in UNMEASURED.items():
            notes += [f"{entity} {reason} at {self.axis} "
                      f"{', '.join(str(v) for v in sorted(runs[self.axis].unique()))}"
                      for entity, runs in frame[frame[metric] == 1].groupby(ENTITY, sort=False)]
        return notes

    def figure(self, frame: pd.DataFrame, summary: pd.DataFrame) -> Figure:
        fits = {key: (found.fit, found.lengths[0], found.lengths[-1])
                for key, found in self.growth(frame).items() if found.fit is not None}
        labels = {metric.key: metric.label for metric in self.metrics}
        return log_log(summary, self.axis, labels, fits, f"{self.name} ({self.experiment})")
