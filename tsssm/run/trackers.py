"""Where a fit is tracked: an MLflow run (``logger=mlflow``, the default) or another Lightning
logger (``logger=csv``, ``logger=tensorboard``), behind one interface, so that ``fit`` never asks
which.

An MLflow run is what the rest of tsssm reads back: checkpoints record its id (``generate`` logs
its samples to it, ``resume`` continues it), ``compare`` and the claims read its metrics, and the
trained model is logged to it (``tsssm.run.pyfunc_model``). A CSV or TensorBoard log keeps the
params and metrics in the run folder, beside the checkpoints and plots; checkpoints of such a run
name no MLflow run, which ``generate`` says when it has no run to log to.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from lightning.pytorch.loggers import Logger, MLFlowLogger
from omegaconf import DictConfig, OmegaConf

from tsssm.run import tracking
from tsssm.run.errors import root_cause
from tsssm.run.pyfunc_model import log_forecast_model
from tsssm.run.tracked_run import log_new_params, open_run, run_status

TSSSM_KEYS = ("log_model",)  # logger config fields read by tsssm, not passed to the logger


class Tracker:
    """A fit's tracking through a Lightning ``logger`` that keeps its files in the run folder:
    params and metrics go to it; artifacts are already in the run folder; no MLflow run."""

    run_id: str | None = None
    tracking_uri: str | None = None

    def __init__(self, logger: Logger) -> None:
        self.logger = logger

    def status(self) -> contextlib.AbstractContextManager:
        """The run's state through the fit's body; a logger without one has nothing to mark."""
        return contextlib.nullcontext()

    def log_params(self, params: Mapping[str, str]) -> None:
        """The run's params, logged once, at its start."""
        self.logger.log_hyperparams(dict(params))

    def log_metrics(self, metrics: Mapping[str, float]) -> None:
        self.logger.log_metrics(dict(metrics))

    def log_artifact(self, path: Path, folder: str | None = None) -> None:
        """Nothing to copy: the file already lies in the run folder, where this logger writes."""

    def log_model(self, checkpoint: Path, config: Path) -> str:
        """The checkpoint as an MLflow model; only an MLflow run holds one (``open_tracker``
        refuses ``log_model`` for other loggers)."""
        raise ValueError("logger.log_model needs an MLflow run (logger=mlflow)")

    def where(self) -> str:
        """The line that says where the run's logs are."""
        return f"Logs: {self.logger.log_dir}"


class MLflowTracker(Tracker):
    """A fit's MLflow run (``tsssm.run.tracked_run``): RUNNING, then FINISHED or FAILED; params
    kept at their first value when resumed; artifacts copied into the run."""

    logger: MLFlowLogger

    def __init__(self, logger: MLFlowLogger, experiment: str, tracking_uri: str) -> None:
        super().__init__(logger)
        self.experiment = experiment
        self.tracking_uri = tracking_uri

    @property
    def run_id(self) -> str | None:
        return self.logger.run_id

    def status(self) -> contextlib.AbstractContextManager:
        return run_status(self.logger)

    def log_params(self, params: Mapping[str, str]) -> None:
        log_new_params(self.logger, params)

    def log_artifact(self, path: Path, folder: str | None = None) -> None:
        tracking.log_artifact(self.logger, path, folder)

    def log_model(self, checkpoint: Path, config: Path) -> str:
        """The forecaster of ``checkpoint`` as the run's MLflow model (``tsssm.run.pyfunc_model``);
        returns its URI."""
        return log_forecast_model(self.tracking_uri, self.run_id, checkpoint, config)

    def where(self) -> str:
        return (f"MLflow: experiment '{self.experiment}', run {self.run_id}, "
                f"tracking URI {self.tracking_uri}")


def open_tracker(config: DictConfig, experiment: str, run_name: str, tags: Mapping[str, str],
                 resumed: Mapping[str, Any] | None = None,
                 resumed_path: str | Path | None = None) -> Tracker:
    """The tracking ``config`` (the ``logger`` group) describes: a Lightning logger where it names
    one (``_target_``), else the MLflow run of ``conf/logger/mlflow.yaml``."""
    if "_target_" not in config:
        uri = tracking.configured_tracking_uri(config)
        logger = open_run(experiment, run_name, uri, tags, resumed, resumed_path)
        return MLflowTracker(logger, experiment, uri)
    if config.get("log_model"):
        raise ValueError(f"logger.log_model=true needs an MLflow run, but logger {config._target_} "
                         "is not MLflow: use logger=mlflow, or set logger.log_model=false")
    options = {key: value for key, value in OmegaConf.to_container(config, resolve=True).items()
               if key not in TSSSM_KEYS}
    try:
        return Tracker(instantiate(options))
    except Exception as error:
        cause = root_cause(error)
        if isinstance(cause, ImportError):
            raise ValueError(f"logger {config._target_} needs a package that is not installed "
                             f"({' '.join(str(cause).split())}); install it or pick "
                             "logger=mlflow or logger=csv") from error
        raise
