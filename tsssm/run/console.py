"""What a job shows: the libraries' log lines routed into the job's log, their known noise quieted.

Lightning and MLflow give their loggers handlers of their own when imported (and stop them
propagating), so their lines reach the console but never the job's log file that Hydra configures
(``conf/hydra/job_logging/tsssm.yaml``). ``route_library_logs`` hands them back to the root
logger, and Python warnings go through logging too. ``quiet_known_noise`` is the one place that
silences what tells a tsssm user nothing:

- MLflow's schema lines ("Creating initial MLflow database tables", "Updating database tables",
  alembic's migration steps) on every new store;
- Lightning's advertisement for LitLogger ("Tip: ... litlogger");
- Lightning's deprecation of its own ``LeafSpec`` use (``_pytree``), a matter between Lightning
  and torch;
- "does not have many workers": every data config sets ``num_workers``, a choice that stands;
- Ray Data's lines on each dataset it executes (``forecast engine=ray``: plan, progress, timing),
  by ``quiet_ray_data`` once Ray Data is imported (its import sets its own levels);
- MLflow's note that a fit's model has no signature (its columns are the series' channels, in
  either layout: ``tsssm.run.pyfunc_model``) and its bars while it copies the model's files.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import warnings

LIBRARY_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric", "mlflow", "alembic")
QUIETED_LOGGERS = ("mlflow.store.db.utils", "alembic")
RAY_DATA_LOGGER = "ray.data"
RANK_ZERO_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")
IGNORED_WARNINGS = (r".*isinstance\(treespec, LeafSpec\)", r"The '\w+' does not have many workers")


class DropMessages(logging.Filter):
    """Drops records whose message matches ``pattern`` (``re.search``)."""

    def __init__(self, pattern: str) -> None:
        super().__init__()
        self.pattern = re.compile(pattern)

    def filter(self, record: logging.LogRecord) -> bool:
        return self.pattern.search(record.getMessage()) is None


LITLOGGER_TIP = DropMessages(r"Tip: .*litlogger")
NO_SIGNATURE = DropMessages(r"^Failed to infer model signature: Type hint")
MLFLOW_PROGRESS_BARS = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"


def route_library_logs() -> None:
    """Lightning's and MLflow's loggers propagate to the root logger (the job's handlers) instead
    of writing to handlers of their own; warnings are logged (logger ``py.warnings``)."""
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.captureWarnings(True)


def quiet_known_noise() -> None:
    """Silence the known noise of the module docstring; calling it again changes nothing."""
    for name in QUIETED_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in RANK_ZERO_LOGGERS:
        logging.getLogger(name).addFilter(LITLOGGER_TIP)
    logging.getLogger("mlflow.pyfunc").addFilter(NO_SIGNATURE)
    os.environ.setdefault(MLFLOW_PROGRESS_BARS, "false")
    for message in IGNORED_WARNINGS:
        warnings.filterwarnings("ignore", message=message)


def quiet_ray_data() -> None:
    """Ray Data's INFO lines silenced (module docstring); its warnings and errors still show."""
    logging.getLogger(RAY_DATA_LOGGER).setLevel(logging.WARNING)


def on_terminal() -> bool:
    """Whether stdout is a terminal: a progress bar there, one line per epoch elsewhere (a log file,
    a pipe, a batch job's output)."""
    return sys.stdout.isatty()
