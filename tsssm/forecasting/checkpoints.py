"""A forecasting checkpoint as a named forecaster: its task, the channels and frequency of its
training data, and the column name its forecasts go under.

A column is named by the model config the checkpoint was trained with (``mamba``, ``dlinear``),
numbered when several checkpoints share a name (``mamba``, ``mamba-2``), or by the user's alias.
Checkpoints forecasting together must agree on what a forecast row is: horizon, frequency and
channels.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from omegaconf import ListConfig

from tsssm.run.checkpoint import load_task
from tsssm.tasks.forecast import ForecastTask
from tsssm.tasks.quantiles import QuantileLevels

RESERVED_COLUMNS = ("unique_id", "ds", "channel", "cutoff", "y")
INTERVAL_NAME = re.compile(r"-(lo|hi)-\d+$")  # the suffix of an interval column


@dataclass(frozen=True)
class ForecastCheckpoint:
    """What forecasting needs of a checkpoint: its task (eval mode, on its device), the channel
    names, frequency and seasonal period of its training data, and its column name."""

    task: ForecastTask
    channels: list[str]
    freq: str | None
    seasonal_period: int | None
    name: str
    path: Path

    @property
    def lookback(self) -> int:
        return self.task.shape.lookback

    @property
    def horizon(self) -> int:
        return self.task.shape.horizon

    @property
    def quantiles(self) -> QuantileLevels | None:
        return self.task.quantiles


def as_list(value: str | Sequence[str] | None) -> list[str] | None:
    """A config value that is one item or a list of them, as a list (None stays None)."""
    if value is None:
        return None
    return [str(v) for v in value] if isinstance(value, (list, tuple, ListConfig)) else [str(value)]


def checkpoint_paths(checkpoint: str | Path | Sequence[str | Path]) -> list[Path]:
    """The checkpoint paths a command was given (one, or a list); an empty one is refused before
    it can stand for the current folder."""
    paths = as_list(checkpoint) or []
    if not paths or any(not p.strip() for p in paths):
        raise ValueError(f"checkpoint is empty ({checkpoint!r}): give checkpoint=PATH or a list "
                         "checkpoint=[A,B] of .ckpt files written by tsssm.fit")
    return [Path(p) for p in paths]


def load_forecaster(path: str | Path, device: torch.device | str = "cpu",
                    name: str | None = None) -> ForecastCheckpoint:
    """The task of a forecasting checkpoint, weights and scaler loaded, built without its data;
    named ``name``, else by its model config."""
    loaded = load_task(path, expect=ForecastTask, stage=None)
    data = loaded.record["data"]
    return ForecastCheckpoint(loaded.task.to(device), list(data["channel_names"]), data["freq"],
                              data.get("seasonal_period"),
                              name or str(loaded.config.model.get("name") or "model"), Path(path))


def unique_names(names: Sequence[str]) -> list[str]:
    """``names`` with the second and later uses of a name numbered: mamba, mamba-2, mamba-3."""
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return unique


def check_names(names: Sequence[str]) -> None:
    """Column names distinct, none a key column, none looking like an interval column."""
    for name in names:
        if not name or name in RESERVED_COLUMNS or INTERVAL_NAME.search(name):
            raise ValueError(f"model name {name!r} cannot name a forecast column: it must be "
                             f"non-empty, none of {list(RESERVED_COLUMNS)} and not end in "
                             "-lo-N or -hi-N; give another alias")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"aliases {repeated} name several checkpoints; give each its own")


def check_agreement(models: Sequence[ForecastCheckpoint]) -> None:
    """Checkpoints forecasting together must agree on horizon, frequency and channels."""
    first = models[0]
    for model in models[1:]:
        for what in ("horizon", "freq", "channels"):
            if getattr(model, what) != getattr(first, what):
                raise ValueError(f"checkpoints {first.path} and {model.path} disagree on {what} "
                                 f"({getattr(first, what)!r} vs {getattr(model, what)!r}); "
                                 "checkpoints forecasting together need the same horizon, "
                                 "frequency and channels")


def load_forecasters(paths: Sequence[str | Path], device: torch.device | str = "cpu",
                     aliases: Sequence[str] | None = None) -> list[ForecastCheckpoint]:
    """Every checkpoint of ``paths``, named (module docstring) and checked to agree."""
    if not paths:
        raise ValueError("checkpoint: give at least one checkpoint")
    if aliases is not None and len(aliases) != len(paths):
        raise ValueError(f"alias: {len(aliases)} names for {len(paths)} checkpoints; give one "
                         "name per checkpoint")
    models = [load_forecaster(path, device, None if aliases is None else str(alias))
              for path, alias in zip(paths, aliases or [None] * len(paths))]
    names = [m.name for m in models] if aliases else unique_names([m.name for m in models])
    check_names(names)
    check_agreement(models)
    return [replace(model, name=name) for model, name in zip(models, names)]
