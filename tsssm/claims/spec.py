"""The vocabulary of the claims catalogue: what a study reads from MLflow and how it is judged.

A claim (``Claim``) rests on one or more studies. A study reads the finished runs of one MLflow
experiment into a tidy frame (``tsssm.claims.runs``): one row per run, with the compared entity
(usually the model), the conditions it was run under (dataset, horizon, an axis such as the
training fraction), the seed and the study's metrics. Each kind of study (``Comparison``,
``Scaling``) turns that frame into verdict cells in its own ``analyse``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from tsssm.claims.quality_goal import QualityGoal
    from tsssm.claims.verdicts import Cell, Factor

ENTITY = "entity"
"""The frame's column of the compared entity, e.g. ``mamba`` or ``mamba/bytes``."""
SEED = "seed"
SEEDS = (1, 2, 3)
STILL_IMPROVING = "still_improving"
"""A run's flag, read from its validation history: 1 when its last check still improved on every
earlier one (by ``tsssm.claims.progress.MIN_LAST_GAIN`` of its whole gain), 0 when it did not,
empty when no history was read."""


def format_value(value: Any) -> str:
    """A condition's value as the report writes it: ``96``, ``0.125``, ``ETTh1``, ``1e+16``."""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


@dataclass(frozen=True)
class Column:
    """One field of a study's runs: its name in tables and verdicts, the column of
    ``mlflow.search_runs``' frame it is read from (``tags.tsssm.dataset``), how its text is parsed,
    and the preposition of a verdict that depends on it ("holds *on* ETTh1", "*at* 96")."""

    name: str
    source: str
    parse: Callable[[str], Any] = str
    preposition: str = "at"


@dataclass(frozen=True)
class Metric:
    """An MLflow metric key, how the report names it, and which way is better."""

    key: str
    label: str
    lower_is_better: bool = True


@dataclass(frozen=True)
class Selection:
    """A setting swept in every job and chosen on validation, as a tuning sweep does: of the runs of
    one entity, conditions and seed that differ only in ``column`` (say, the learning rate), the
    one with the best ``metric`` (a validation metric) counts; its test metrics are the study's."""

    column: Column
    metric: Metric


@dataclass(frozen=True)
class Analysis:
    """What a study's numbers say: ``cells`` to judge, the ``factors`` a verdict may depend on,
    how an all-undecided verdict reads (``{seeds}`` for the seed count), an evidence table
    (``header``, ``rows``, as text) citing the cells, and notes (e.g. runs out of memory)."""

    cells: list[Cell]
    factors: list[Factor]
    undecided: str
    header: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class Study(ABC):
    """The runs of one MLflow ``experiment``: ``entity`` columns name what is compared (joined
    with ``/`` when several), ``conditions`` what it is matched on (the last one is the plot's x
    axis), ``blocks`` the condition values expected, each for every entity and seed;
    ``made_by`` the scripts whose runs it reads (``scripts/``), which the report names beside the
    runs still missing. ``validation``: the metric the runs' checkpoints were chosen on, whose
    logged history says which runs were still improving at their last check
    (``tsssm.claims.progress``)."""

    name: str
    experiment: str
    entity: tuple[Column, ...]
    conditions: tuple[Column, ...]
    seeds: tuple[int, ...] = SEEDS
    selection: Selection | None = None
    validation: Metric | None = None
    made_by: tuple[str, ...] = ()

    @property
    def slug(self) -> str:
        """The experiment's last path part: the stem of the study's plot file."""
        return self.experiment.rsplit("/", 1)[-1]

    @property
    def entity_name(self) -> str:
        return "/".join(column.name for column in self.entity)

    @property
    def condition_names(self) -> list[str]:
        return [column.name for column in self.conditions]

    @property
    def run_columns(self) -> list[str]:
        """The columns that make one run of a tidy frame: entity, each condition, seed."""
        return [ENTITY, *self.condition_names, SEED]

    @property
    def chosen_columns(self) -> list[str]:
        """The column of the setting chosen on validation (``selection``), if the study has one:
        kept beside each run, not compared."""
        return [] if self.selection is None else [self.selection.column.name]

    @property
    def reported_keys(self) -> list[str]:
        """The metrics a run is counted for, tabulated ones first: all but the selection's."""
        return [m.key for m in self.metrics] + list(self.extra_metrics)

    @property
    def metric_keys(self) -> list[str]:
        """Every metric the study reads: the reported ones, the selection's, then, with a
        ``validation`` metric, ``STILL_IMPROVING`` (derived from its history)."""
        chosen_by = [] if self.selection is None else [self.selection.metric.key]
        progress = [] if self.validation is None else [STILL_IMPROVING]
        return self.reported_keys + chosen_by + progress

    @property
    @abstractmethod
    def metrics(self) -> tuple[Metric, ...]:
        """Every metric the study tabulates."""

    @property
    @abstractmethod
    def entities(self) -> tuple[str, ...]:
        """Every entity expected, judged ones first."""

    @property
    @abstractmethod
    def blocks(self) -> tuple[tuple[Any, ...], ...]:
        """The condition values expected (parsed, in the order of ``conditions``)."""

    @property
    def extra_metrics(self) -> tuple[str, ...]:
        """Metrics read besides ``metrics`` (not tabulated)."""
        return ()

    @abstractmethod
    def analyse(self, frame: pd.DataFrame) -> Analysis:
        """Cells and evidence from the study's tidy frame (``tsssm.claims.runs.study_frame``)."""

    @abstractmethod
    def figure(self, frame: pd.DataFrame, summary: pd.DataFrame) -> Figure:
        """The study's plot, from its tidy frame and its summary (``tsssm.claims.summary``)."""


@dataclass(frozen=True)
class Claim:
    """A claim made for state-space models, its statement, the studies that test it, and goals
    held against their runs (reported beside the verdict, not part of it)."""

    id: str
    title: str
    statement: str
    studies: tuple[Study, ...]
    goals: tuple[QualityGoal, ...] = ()
