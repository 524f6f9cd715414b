"""Runs a report exported (``runs/<study>.csv``, ``tsssm.claims.write``), read back as a study's
tidy frame, so that a report regenerated from a store that lacks them still counts them.

A study's runs outlive the store they were logged to only as the report's exports: a GPU machine's
store is gone with the machine, a CPU's with its checkout. Read together with a store
(``python -m tsssm.claims --runs docs/claims/runs``), the exports come first and a stored run of the
same entity, conditions and seed supersedes the exported one, as a seed run again does in the store.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tsssm.claims.spec import ENTITY, SEED, Study


class ExportError(ValueError):
    """An exported runs file that is not the study's export: unreadable, or with missing,
    unexpected or unparsable columns."""


def export_path(study: Study, runs_dir: Path) -> Path:
    """Where a report writes the study's runs, e.g. ``runs/c3-ltsf.csv``."""
    return runs_dir / f"{study.slug}.csv"


def exported_frame(study: Study, runs_dir: Path) -> pd.DataFrame:
    """The study's exported runs as ``tsssm.claims.runs.study_frame`` gives them: columns
    ``entity``, each condition, ``seed``, the setting chosen on validation (if the study has one)
    and one per metric key; empty when nothing was exported."""
    keys = study.metric_keys
    path = export_path(study, runs_dir)
    if not path.is_file():
        return pd.DataFrame(columns=[*study.run_columns, *study.chosen_columns, *keys])
    fields = [study.entity_name, *study.condition_names, SEED, *study.chosen_columns]
    try:
        table = pd.read_csv(path, dtype={name: str for name in fields}, keep_default_na=False,
                            na_values={key: ["", "nan", "NaN"] for key in keys})
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ExportError(f"cannot read the exported runs {path}: {first_line}") from error
    missing = [name for name in fields if name not in table.columns]
    unexpected = [name for name in table.columns if name not in fields + keys]
    if missing or unexpected:
        raise ExportError(f"{path}: columns {list(table.columns)} are not study {study.name!r}'s "
                          f"export; expected {fields} and metrics among {keys}")
    kinds = ([type(value) for value in study.blocks[0]] if study.blocks
             else [str] * len(study.condition_names))
    chosen_kinds = [float] * len(study.chosen_columns)  # a setting such as a learning rate
    frame = pd.DataFrame({ENTITY: table[study.entity_name]})
    for name, kind in zip(fields[1:], [*kinds, int, *chosen_kinds], strict=True):
        frame[name] = [_parse(path, name, kind, text) for text in table[name]]
    for key in keys:
        frame[key] = ([_parse(path, key, float, text) for text in table[key]] if key in table
                      else float("nan"))
    repeated = frame.duplicated(study.run_columns, keep=False)
    if repeated.any():
        rows = ", ".join(str(row + 2) for row in frame.index[repeated][:4])
        raise ExportError(f"{path}: lines {rows} are runs of the same {study.entity_name}, "
                          "conditions and seed; an export holds one run of each")
    return frame


def _parse(path: Path, column: str, kind: type, text: str | float) -> object:
    """A field as ``kind``: a non-empty name, a float (a metric pandas read already, NaN where
    not logged), or a whole number."""
    try:
        if kind is str:
            if text:
                return text
        else:
            value = float(text)
            if kind is float:
                return value
            if value.is_integer():
                return int(value)
    except ValueError:
        pass
    raise ExportError(f"{path}: column {column!r} holds {text!r}; expected a {kind.__name__}")


def with_exported(exported: pd.DataFrame, stored: pd.DataFrame,
                  study: Study) -> tuple[pd.DataFrame, list[str]]:
    """Exported runs and the store's in one frame, a stored run superseding an exported one of the
    same entity, conditions and seed; and a note on how many it superseded with other numbers (an
    exported run that is still in the store is the same run, not superseded, even where the
    store tells more of it, such as its validation history)."""
    frames = [frame for frame in (exported, stored) if not frame.empty]
    if not frames:
        return stored, []
    both = pd.concat(frames, ignore_index=True)
    numbers = [*study.run_columns, *study.chosen_columns, *study.reported_keys]
    distinct = both.drop_duplicates(numbers, keep="last")  # exported and still stored: once
    latest = distinct.drop_duplicates(study.run_columns, keep="last").reset_index(drop=True)
    superseded = len(distinct) - len(latest)
    notes = [f"{superseded} exported run(s) superseded by the store's run of the same "
             f"{study.entity_name}, conditions and seed"] if superseded else []
    return latest, notes
