"""Predictions of every window of a split, gathered from all DDP ranks into one table.

Under DDP each rank predicts its own share of the windows (Lightning's unrepeated sampler for
predict: no padding). ``GatheredPredictions`` saves each rank's (window index, prediction) pairs,
waits for every rank, and rank zero joins them in window order, checks that every window of the
split came back exactly once, and writes one long-format table atomically.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
from lightning.pytorch.callbacks import BasePredictionWriter

from tsssm.data.atomic import write_atomically


def long_frame(index: np.ndarray, values: np.ndarray, axes: Sequence[str], value: str) -> pd.DataFrame:
    """``values (N, *dims)`` of windows ``index (N,)`` as rows ``window, <axes...>, <value>``."""
    if values.ndim != 1 + len(axes):
        raise ValueError(f"predictions have shape {values.shape}; expected (windows, "
                         f"{', '.join(axes)})")
    grids = np.meshgrid(index, *[np.arange(n) for n in values.shape[1:]], indexing="ij")
    columns = {"window": grids[0].ravel()}
    columns.update({axis: grid.ravel() for axis, grid in zip(axes, grids[1:])})
    columns[value] = values.ravel()
    return pd.DataFrame(columns)


class GatheredPredictions(BasePredictionWriter):
    """Writes ``path`` (Parquet): one row per window and position, from every rank.

    ``axes`` names the dimensions of one window's prediction (``("step", "channel")`` for a
    forecast ``(H, C)``), ``value`` the predicted quantity; ``n_windows`` is the split's size.
    """

    def __init__(self, path: str | Path, n_windows: int, axes: Sequence[str], value: str) -> None:
        super().__init__(write_interval="epoch")
        self.path = Path(path)
        self.n_windows = n_windows
        self.axes = tuple(axes)
        self.value = value
        self.parts = self.path.with_name(f".{self.path.name}.ranks")

    def write_on_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           predictions: Sequence[Any], batch_indices: Sequence[Any]) -> None:
        if trainer.is_global_zero:
            shutil.rmtree(self.parts, ignore_errors=True)
            self.parts.mkdir(parents=True)
        trainer.strategy.barrier()
        index = torch.as_tensor([i for batch in batch_indices[0] for i in batch], dtype=torch.long)
        values = torch.cat([p.detach().cpu() for p in predictions]) if predictions else torch.empty(0)
        torch.save({"index": index, "values": values}, self.parts / f"rank{trainer.global_rank}.pt")
        trainer.strategy.barrier()
        if trainer.is_global_zero:
            self._join(trainer.world_size)
        trainer.strategy.barrier()

    def _join(self, world_size: int) -> None:
        parts = [torch.load(self.parts / f"rank{rank}.pt", weights_only=True)
                 for rank in range(world_size)]
        index = torch.cat([p["index"] for p in parts])
        values = torch.cat([p["values"] for p in parts if p["values"].numel()])
        order = torch.argsort(index)
        index, values = index[order], values[order]
        if not torch.equal(index, torch.arange(self.n_windows)):
            missing = sorted(set(range(self.n_windows)) - set(index.tolist()))[:10]
            repeated = index[1:][index[1:] == index[:-1]].tolist()[:10]
            raise RuntimeError(f"predictions cover {len(index)} windows, expected each of the "
                               f"{self.n_windows} exactly once (missing e.g. {missing}, "
                               f"repeated e.g. {repeated})")
        frame = long_frame(index.numpy(), values.float().numpy(), self.axes, self.value)
        write_atomically(self.path, lambda tmp: frame.to_parquet(tmp, index=False))
        shutil.rmtree(self.parts, ignore_errors=True)
