"""Task: what every kind of run answers for itself, so that the code around the tasks never asks
which kind of run it is in.

A task is a LightningModule around a network (``net``) trained with an optimizer recipe
(``optim``). Besides Lightning's hooks, each kind of task (forecasting, sequence modelling) says:

- which data it trains on (``data_kind``, told apart by ``data_attribute``: ``accepts``) and
  what that data decides about the network and the task (``data_inputs``: a forecaster's shape and
  scaler, a language model's vocabulary and unit);
- what its checkpoints keep of the training data (``checkpoint_record``) and how the network is
  rebuilt from that record alone (``record_inputs``), where a task can do without its data;
- how its runs are named (``run_horizon``), what a run measures at its start (``start_metrics``)
  and which figures it draws at its end (``figures``);
- which tensors of a training batch its network reads (``network_input``: what a CUDA graph of
  the network's step is captured on);
- the layout of one window's ``predict_step`` output (``prediction_axes``, ``prediction_value``),
  and whether its checkpoints answer a DataFrame of series (``serves_frames``: logged as an
  MLflow model);
- what a checkpoint of it holds and how such a run is configured, for messages (``kind``,
  ``trained_with``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import lightning as L
from omegaconf import DictConfig
from torch import Tensor, nn

from tsssm.tasks.optim import OptimizerRecipe


class Task(L.LightningModule, ABC):
    """A LightningModule around ``net``, optimised by the recipe ``optim`` (``model.optim``'s
    fields; absent ones take ``OptimizerRecipe``'s defaults); see the module docstring."""

    kind: ClassVar[str] = "task"
    data_kind: ClassVar[str]
    data_attribute: ClassVar[str]
    trained_with: ClassVar[str]
    prediction_axes: ClassVar[tuple[str, ...]]
    prediction_value: ClassVar[str]
    serves_frames: ClassVar[bool] = False  # forecasts a DataFrame of series (an MLflow model)

    def __init__(self, net: nn.Module, optim: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.net = net
        self.recipe = OptimizerRecipe.from_config(optim)

    def forward(self, *inputs: Tensor) -> Tensor:
        return self.net(*inputs)

    def configure_optimizers(self) -> dict:
        return self.recipe.configure(self.net, self.trainer)

    @abstractmethod
    def network_input(self, batch: object) -> Tensor | tuple[Tensor, ...]:
        """The tensor (or tensors, in order) of a training ``batch`` that ``training_step``
        passes to ``net``."""

    @classmethod
    def accepts(cls, datamodule: L.LightningDataModule) -> bool:
        """Whether ``datamodule`` (not yet set up) gives the ``data_kind`` this task trains on: it
        has the ``data_attribute`` that every data module of that kind has."""
        return hasattr(datamodule, cls.data_attribute)

    @classmethod
    @abstractmethod
    def data_inputs(cls, cfg: DictConfig, datamodule: L.LightningDataModule
                    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """What the set-up ``datamodule`` decides about the network (keyword arguments of
        ``cfg.task.net``) and about the task (keyword arguments of ``cfg.task``)."""

    @classmethod
    def checkpoint_record(cls, datamodule: L.LightningDataModule) -> dict[str, Any] | None:
        """What the task's checkpoints keep of the training data; None: nothing."""
        return None

    @classmethod
    def record_inputs(cls, cfg: DictConfig, record: Mapping[str, Any] | None
                      ) -> tuple[dict[str, Any], dict[str, Any]]:
        """``data_inputs`` from a checkpoint's config and ``checkpoint_record``, without the data; a
        ValueError that says why where the record cannot stand in for the data."""
        raise ValueError(f"a {cls.kind} is built with its data module: its checkpoints keep no "
                         "record of their training data")

    @abstractmethod
    def run_horizon(self, datamodule: L.LightningDataModule) -> int | str:
        """What a run's name and its horizon tag call its horizon, telling it apart from the other
        runs of its model on its dataset: a forecaster's horizon (``96``), a sequence model's
        window (``L1024``)."""

    def start_metrics(self, datamodule: L.LightningDataModule) -> dict[str, int]:
        """Sizes of the run logged at its start, beside the parameter count; none by default."""
        return {}

    def figures(self, datamodule: L.LightningDataModule, folder: Path, title: str,
                n_windows: int) -> list[Path]:
        """The figures a finished run logs, drawn into ``folder``; none by default."""
        return []
