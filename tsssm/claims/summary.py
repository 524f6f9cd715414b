"""What every study reports, whatever its kind: mean and 95% interval per cell of its grid, and
the blocks of runs still missing from it."""

from __future__ import annotations

import itertools
from typing import Any

import pandas as pd

from tsssm.claims.spec import ENTITY, Study, format_value
from tsssm.claims.stats import mean_interval

METRIC = "metric"
STATS = ["n", "mean", "lo", "hi"]


def summarise(study: Study, frame: pd.DataFrame) -> pd.DataFrame:
    """One row per metric x entity x conditions: ``n`` seeds, ``mean``, 95% interval ``lo``, ``hi``.

    Entities in the study's order (any it does not expect last), conditions ascending.
    """
    keys = [ENTITY, *study.condition_names]
    rows = []
    for metric in study.metrics:
        measured = frame.dropna(subset=[metric.key])
        for values, group in measured.groupby(keys, sort=False):
            interval = mean_interval(group[metric.key].to_numpy())
            rows.append([metric.key, *values, interval.n, interval.mean, interval.lo, interval.hi])
    table = pd.DataFrame(rows, columns=[METRIC, *keys, *STATS])
    rank = {entity: i for i, entity in enumerate(study.entities)}
    table["_metric"] = table[METRIC].map({m.key: i for i, m in enumerate(study.metrics)})
    table["_entity"] = table[ENTITY].map(lambda e: rank.get(e, len(rank)))
    ordered = table.sort_values(["_metric", "_entity", ENTITY, *study.condition_names], kind="stable")
    return ordered.drop(columns=["_metric", "_entity"]).reset_index(drop=True)


def expected_runs(study: Study) -> int:
    """Runs a complete study holds: every entity x block x seed."""
    return len(study.entities) * len(study.blocks) * len(study.seeds)


def missing_blocks(study: Study, frame: pd.DataFrame) -> list[str]:
    """The expected runs (every entity x block x seed) that have no measurement, worded compactly.

    Entities or condition values without any run are one line ("no runs for model lstm, s4d"); the
    rest is listed per entity and conditions with the seeds it lacks. An empty study: no lines
    (its verdict says it has no runs yet).
    """
    if frame.empty:
        return []
    names = [study.entity_name, *study.condition_names]
    observed = set(map(tuple, frame[study.run_columns].itertuples(index=False)))
    expected = [(entity, *block, seed) for entity, block, seed in
                itertools.product(study.entities, study.blocks, study.seeds)]
    missing = [key for key in expected if key not in observed]
    lines, absent = [], set()
    for i, name in enumerate(names):
        seen = {key[i] for key in observed}
        unseen = [level for level in dict.fromkeys(key[i] for key in expected) if level not in seen]
        if unseen:
            lines.append(f"no runs for {name} {', '.join(map(format_value, unseen))}")
            absent.update((i, level) for level in unseen)
    missing = [key for key in missing if not any((i, key[i]) in absent for i in range(len(names)))]
    for block, keys in itertools.groupby(missing, key=lambda key: key[:-1]):
        seeds = ", ".join(str(key[-1]) for key in keys)
        lines.append(f"{_block_text(names, block)}: seed(s) {seeds}")
    return lines


def _block_text(names: list[str], block: tuple[Any, ...]) -> str:
    return ", ".join(f"{name} {format_value(value)}" for name, value in zip(names, block))
