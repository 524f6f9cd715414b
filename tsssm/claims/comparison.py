"""Studies that compare models at matched conditions (C3-C7): paired differences over seeds.

Each claimed entity is compared with each ``against`` entity in every block of conditions where
both have runs; runs are paired by seed, so a seed that helps every model (an easy split, a lucky
initialisation) cancels out. The claim holds in a block when the difference's 95% interval lies
entirely on the better side of 0, fails when it lies entirely on the worse side, and in either case
only when the paired t-test's p-value, adjusted by Holm's method over all the study's comparisons,
is at most ``FAMILY_ERROR``: of 37 comparisons judged one by one at 95%, about two would be
decided by luck alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from tsssm.claims.plots import grouped_points
from tsssm.claims.spec import ENTITY, SEED, Analysis, Metric, Study, format_value
from tsssm.claims.stats import FAMILY_ERROR, MIN_SEEDS, Interval, holm_adjusted, paired_difference
from tsssm.claims.verdicts import Cell, Factor, Outcome, not_enough_seeds

BASELINE = Factor("baseline", "against")


@dataclass(frozen=True, kw_only=True)
class Comparison(Study):
    """``claimed`` entities against ``against`` ones on ``metric``; ``shown`` ones are tabulated
    and plotted but not judged. ``expected`` lists the blocks of condition values every entity
    should have runs in. With ``change_from``, entities are compared on their change from that
    value of the last condition (same entity, other conditions and seed): how much a model loses
    when, say, the sampling rate moves away from the one it was trained at."""

    metric: Metric
    claimed: tuple[str, ...]
    against: tuple[str, ...]
    shown: tuple[str, ...] = ()
    expected: tuple[tuple[Any, ...], ...] = ()
    change_from: Any = None

    @property
    def metrics(self) -> tuple[Metric, ...]:
        return (self.metric,)

    @property
    def entities(self) -> tuple[str, ...]:
        return self.claimed + self.against + self.shown

    @property
    def blocks(self) -> tuple[tuple[Any, ...], ...]:
        return self.expected

    @property
    def compared(self) -> str:
        """What the differences are of, e.g. ``test MSE`` or ``test bits/sample change from 8000``."""
        if self.change_from is None:
            return self.metric.label
        return f"{self.metric.label} change from {self.conditions[-1].name} {format_value(self.change_from)}"

    def analyse(self, frame: pd.DataFrame) -> Analysis:
        values = frame.dropna(subset=[self.metric.key])
        if self.change_from is not None:
            values = self._changes(values)
        pairs = self._pairs(values)
        raw = {i: interval.p_value() for i, (*_, interval) in enumerate(pairs)
               if interval.n >= MIN_SEEDS}
        adjusted = dict(zip(raw, holm_adjusted(list(raw.values()))))
        cells, rows = [], []
        for i, (claimed, against, conditions, interval) in enumerate(pairs):
            p = None if i not in raw else (raw[i], adjusted[i])
            cell = self._cell(claimed, against, conditions, interval, p, len(raw))
            cells.append(cell)
            rows.append([f"{claimed} - {against}", *map(format_value, conditions), interval.text(),
                         "-" if i not in adjusted else f"{adjusted[i]:.2g}",
                         cell.shortfall or cell.outcome.value])
        factors = [Factor(self.entity_name, self.entity[0].preposition), BASELINE,
                   *(Factor(c.name, c.preposition) for c in self.conditions)]
        header = [f"{self.entity_name} - {BASELINE.name}", *self.condition_names,
                  f"difference in {self.compared} [95% interval] (pairs)",
                  f"Holm p ({len(raw)})", "outcome"]
        return Analysis(cells, factors, "no difference detected at {seeds} seeds", header, rows)

    def _pairs(self, values: pd.DataFrame) -> list[tuple[str, str, tuple[Any, ...], Interval]]:
        """(claimed, against, conditions, paired difference) wherever both entities have runs."""
        pairs = []
        for conditions, group in values.groupby(self.condition_names, sort=True):
            by_entity = {entity: runs.set_index(SEED)[self.metric.key]
                         for entity, runs in group.groupby(ENTITY)}
            for claimed in self.claimed:
                for against in self.against:
                    if claimed in by_entity and against in by_entity:
                        interval = paired_difference(by_entity[claimed], by_entity[against])
                        if interval is not None:
                            pairs.append((claimed, against, conditions, interval))
        return pairs

    def _changes(self, values: pd.DataFrame) -> pd.DataFrame:
        """Each value minus the same entity's and seed's value at ``change_from`` (those rows go)."""
        axis = self.conditions[-1].name
        keys = [ENTITY, *self.condition_names[:-1], SEED]
        at_reference = values[axis] == self.change_from
        reference = values.loc[at_reference].set_index(keys)[self.metric.key]
        rest = values.loc[~at_reference]
        base = reference.reindex(pd.MultiIndex.from_frame(rest[keys])).to_numpy()
        return rest.assign(**{self.metric.key: rest[self.metric.key].to_numpy() - base}).dropna(
            subset=[self.metric.key])

    def _cell(self, claimed: str, against: str, conditions: tuple[Any, ...], interval: Interval,
              p: tuple[float, float] | None, family: int) -> Cell:
        """The comparison's cell; ``p``, its p-value and that adjusted among ``family``
        comparisons (None: too few seeds to be judged)."""
        where = ", ".join(f"{name} {format_value(value)}"
                          for name, value in zip(self.condition_names, conditions))
        evidence = f"{claimed} - {against} in {self.compared} at {where}: {interval.text()}"
        levels = ((self.entity_name, claimed), (BASELINE.name, against),
                  *((name, format_value(value)) for name, value in zip(self.condition_names, conditions)))
        if p is None:
            return Cell(levels, Outcome.TOO_FEW, interval.n, evidence, shortfall=not_enough_seeds(interval.n))
        raw_p, holm_p = p
        evidence = f"{evidence}, Holm p {holm_p:.2g} of {family}"
        better = (interval.side_of_zero() * (-1 if self.metric.lower_is_better else 1)
                  if holm_p <= FAMILY_ERROR else 0)
        outcome = {1: Outcome.HOLDS, -1: Outcome.FAILS, 0: Outcome.UNDECIDED}[better]
        return Cell(levels, outcome, interval.n, evidence, margin=-raw_p)

    def figure(self, frame: pd.DataFrame, summary: pd.DataFrame) -> Figure:
        return grouped_points(summary, self.condition_names, self.metric.label,
                              f"{self.name} ({self.experiment})")
