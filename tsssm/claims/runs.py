"""A study's runs, read back from MLflow into one tidy frame: one row per model, conditions and seed.

The only module of ``tsssm.claims`` that talks to the tracking store. The columns every study
shares are the run tags that ``tsssm.run.tracking.run_tags`` writes (model, dataset, horizon, seed);
a study's own axis is a further tag (``tsssm.claims.catalogue``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from tsssm.claims.progress import still_improving
from tsssm.claims.spec import ENTITY, SEED, STILL_IMPROVING, Column, Study
from tsssm.run.tracking import (TAG_DATASET, TAG_HORIZON, TAG_MODEL, TAG_SEED, RunLookupError,
                            default_tracking_uri, search_runs)

SQLITE = "sqlite:///"
START_TIME = "start_time"


class StoreError(RuntimeError):
    """The tracking store cannot be read: missing, unreachable or holding unreadable runs."""


def window_length(tag: str) -> int:
    """A window tag (``L1024``, as sequence runs write their horizon tag) -> 1024."""
    if not tag.startswith("L") or not tag[1:].isdigit():
        raise ValueError(f"expected a window tag such as 'L1024', got {tag!r}")
    return int(tag[1:])


def tag(name: str) -> str:
    """The ``mlflow.search_runs`` column of a run tag."""
    return f"tags.{name}"


MODEL = Column("model", tag(TAG_MODEL), preposition="for")
DATASET = Column("dataset", tag(TAG_DATASET), preposition="on")
HORIZON = Column("horizon", tag(TAG_HORIZON), parse=int)
LENGTH = Column("L", tag(TAG_HORIZON), parse=window_length)
"""Sequence length, context or window: runs of sequences tag their horizon ``L<length>``."""
SEED_COLUMN = Column(SEED, tag(TAG_SEED), parse=int)


def resolve_store(tracking_uri: str | None) -> str:
    """The tracking URI to read (None: ``sqlite:///./mlflow.db``); a sqlite file that does not
    exist is an error, since reading it would create an empty database there."""
    uri = tracking_uri or default_tracking_uri()
    if uri.startswith(SQLITE):
        database = uri[len(SQLITE):].split("?", 1)[0]
        if database not in ("", ":memory:") and not Path(database).is_file():
            raise StoreError(f"no MLflow store at {database} (tracking URI {uri}); expected the "
                             "sqlite database the study runs logged to")
    return uri


def read_experiment(experiment: str, tracking_uri: str) -> pd.DataFrame:
    """The experiment's finished runs; an empty frame when the store has no such experiment."""
    try:
        return search_runs(experiment, tracking_uri)
    except RunLookupError:
        return pd.DataFrame()
    except MlflowException as error:
        first_line = str(error).strip().splitlines()[0]
        raise StoreError(f"cannot read experiment {experiment!r} from {tracking_uri}: "
                         f"{first_line}") from error


def stored_runs(study: Study, tracking_uri: str) -> pd.DataFrame:
    """``read_experiment``'s frame of the study's runs, with a ``metrics.still_improving`` column
    read from each run's history of the study's validation metric, if it has one."""
    runs = read_experiment(study.experiment, tracking_uri)
    if study.validation is None or runs.empty:
        return runs
    client = MlflowClient(tracking_uri)
    flags = []
    for run_id in runs["run_id"]:
        try:
            history = client.get_metric_history(run_id, study.validation.key)
        except MlflowException as error:
            first_line = str(error).strip().splitlines()[0]
            raise StoreError(f"cannot read run {run_id}'s {study.validation.key} history from "
                             f"{tracking_uri}: {first_line}") from error
        checks = sorted(history, key=lambda m: (m.step, m.timestamp))
        flags.append(still_improving([(m.step, m.value) for m in checks], study.validation))
    return runs.assign(**{f"metrics.{STILL_IMPROVING}": flags})


def study_frame(study: Study, runs: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The study's runs as columns ``entity``, each condition, ``seed``, the setting chosen on
    validation (``study.selection``, if any) and one per metric key, and notes on the runs left
    out: untagged ones, ones without any of the study's metrics, older runs of a seed that was run
    again (the latest run counts) and, with a selection, the runs at the settings not chosen.

    ``runs`` is ``mlflow.search_runs``' frame of the study's experiment.
    """
    keys = study.metric_keys
    chosen = [] if study.selection is None else [study.selection.column]
    columns = [*study.entity, *study.conditions, SEED_COLUMN, *chosen]
    output = [*study.run_columns, *study.chosen_columns, *keys]
    if runs.empty:
        return pd.DataFrame(columns=output), []
    sources = runs.reindex(columns=[c.source for c in columns])
    untagged = sources.isna().any(axis=1)
    notes = []
    if untagged.any():
        lacking = [c.source for c in columns if sources.loc[untagged, c.source].isna().any()]
        notes.append(f"{int(untagged.sum())} run(s) without the tag(s) {', '.join(lacking)} left out")
    frame = _fields(columns, pd.concat([sources, runs[["run_id", START_TIME]]], axis=1)
                    .loc[~untagged])
    frame.insert(0, ENTITY, frame[[c.name for c in study.entity]].astype(str).agg("/".join, axis=1))
    for key in keys:
        frame[key] = runs.loc[~untagged].get(f"metrics.{key}", float("nan"))
    reported = study.reported_keys
    measured = frame[reported].notna().any(axis=1)
    if not measured.all():
        notes.append(f"{int((~measured).sum())} run(s) with none of the metrics "
                     f"{', '.join(reported)} left out")
    frame = frame.loc[measured].sort_values(START_TIME, kind="stable")
    latest = frame.drop_duplicates([*study.run_columns, *study.chosen_columns], keep="last")
    if len(latest) < len(frame):
        notes.append(f"{len(frame) - len(latest)} older run(s) of a seed run again left out "
                     "(the latest counts)")
    if study.selection is not None:
        latest, note = best_on_validation(latest, study)
        notes += note
    return latest[output].reset_index(drop=True), notes


def best_on_validation(frame: pd.DataFrame, study: Study) -> tuple[pd.DataFrame, list[str]]:
    """Per entity, conditions and seed, the run whose setting ``study.selection`` chose (the best
    validation value; of equal ones the latest; one without it only if no other has it), and a
    note on how many runs at the other settings were left out."""
    selection = study.selection
    ordered = frame.sort_values(selection.metric.key,
                                ascending=not selection.metric.lower_is_better,
                                na_position="first", kind="stable")
    best = ordered.drop_duplicates(study.run_columns, keep="last").sort_index()
    dropped = len(frame) - len(best)
    notes = [f"{dropped} run(s) at a {selection.column.name} not chosen left out (per "
             f"{study.entity_name}, conditions and seed, the best {selection.metric.label} "
             "counts)"] if dropped else []
    return best, notes


def _fields(columns: list[Column], runs: pd.DataFrame) -> pd.DataFrame:
    """Each column's parsed values, and the runs' start times, on ``runs``' index."""
    fields = {column.name: [_parse(column, value, run_id)
                            for value, run_id in zip(runs[column.source], runs["run_id"])]
              for column in columns}
    return pd.DataFrame({**fields, START_TIME: runs[START_TIME]}, index=runs.index)


def _parse(column: Column, value: object, run_id: str) -> object:
    try:
        return column.parse(str(value))
    except ValueError as error:
        raise StoreError(f"run {run_id}: {column.source} = {value!r} is not a valid {column.name} "
                         f"({error})") from error
