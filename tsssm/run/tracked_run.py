"""The MLflow run of a fit, kept coherent through faults: one run per training, whatever happens.

- Opening: MLflow creates the tables of an empty sqlite database when a client first opens it, and
  a fit creates its experiment when it is missing; two fits doing either at once fail ("table ...
  already exists", a duplicate experiment). So the store is opened and the experiment made under an
  exclusive lock (``fcntl.flock``) on the database's folder, one process at a time. Other stores (a
  tracking server) order their writers themselves.
- Resuming: checkpoints record their run id (``tsssm.run.checkpoint.RunRecord``); ``fit resume=CKPT``
  continues that run when the store holds it, so one run holds every epoch. Params already logged
  keep their first value (MLflow never changes one), and the run is tagged with the checkpoint.
- Status: the run is RUNNING while the job's body runs, then FINISHED when it returns and FAILED
  when it raises or is interrupted, also where Lightning does not finalise its logger (under
  ``fast_dev_run`` it logs to a dummy) and for errors raised outside Lightning's loops.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import MLFlowLogger
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from tsssm.run import tracking
from tsssm.run.record import RECORD_KEY

TAG_RESUMED_FROM = "tsssm.resumed_from"


@contextlib.contextmanager
def store_lock(tracking_uri: str) -> Iterator[None]:
    """Exclusive use of a sqlite store's folder for the block; no lock for other stores."""
    database = tracking.sqlite_database(tracking_uri)
    if database in (None, "", ":memory:"):
        yield
        return
    parent = Path(database).resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    folder = os.open(parent, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        yield
    finally:
        os.close(folder)  # releases the lock


def opened_store(tracking_uri: str, experiment: str) -> MlflowClient:
    """A client of the store, its ``experiment`` created (with our artifact root) when missing;
    call it under ``store_lock``."""
    client = MlflowClient(tracking_uri)
    if client.get_experiment_by_name(experiment) is None:
        client.create_experiment(experiment, tracking.default_artifact_location(tracking_uri))
    return client


def open_run(experiment: str, run_name: str, tracking_uri: str, tags: Mapping[str, str],
             resumed: Mapping[str, Any] | None = None,
             resumed_path: str | Path | None = None) -> MLFlowLogger:
    """The fit's logger: on the run of ``resumed`` (a checkpoint read back, from ``resumed_path``)
    when this store holds it, else on a new run, started lazily; the store opened under the lock."""
    with store_lock(tracking_uri):
        client = opened_store(tracking_uri, experiment)
        run_id = continued_run(client, resumed, resumed_path, tracking_uri)
        logger = tracking.make_mlflow_logger(experiment, run_name, tracking_uri, tags, run_id)
    if run_id is not None:
        logger.experiment.set_tag(run_id, TAG_RESUMED_FROM, str(Path(resumed_path).absolute()))
    return logger


def continued_run(client: MlflowClient, resumed: Mapping[str, Any] | None,
                  resumed_path: str | Path | None, tracking_uri: str) -> str | None:
    """The run id recorded in ``resumed`` if this store holds that run (active); None otherwise,
    with a note on stderr when a recorded run is not here."""
    run_id = (resumed or {}).get(RECORD_KEY, {}).get("run_id")
    if run_id is None:
        return None
    try:
        active = client.get_run(run_id).info.lifecycle_stage == "active"
    except MlflowException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        active = False
    if not active:
        print(f"note: the run {run_id} of checkpoint {resumed_path} is not in {tracking_uri}; "
              "the resumed training is logged to a new run", file=sys.stderr)
        return None
    return run_id


def log_new_params(logger: MLFlowLogger, params: Mapping[str, str]) -> None:
    """Log the params the run does not hold yet (a resumed run keeps its first values)."""
    held = logger.experiment.get_run(logger.run_id).data.params
    tracking.log_params(logger, {key: value for key, value in params.items() if key not in held})


@contextlib.contextmanager
def run_status(logger: MLFlowLogger) -> Iterator[None]:
    """RUNNING inside the block, then FINISHED, or FAILED when it raises (module docstring)."""
    logger.experiment.update_run(logger.run_id, status="RUNNING")
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):  # marking the run never hides what made it fail
            logger.experiment.set_terminated(logger.run_id, "FAILED")
        raise
    logger.experiment.set_terminated(logger.run_id, "FINISHED")
