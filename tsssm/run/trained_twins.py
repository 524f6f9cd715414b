"""Jobs that differ only in how the trained model is tested share one training.

A sweep over a test condition (C7 tests FSDD models trained at 8 kHz on recordings at 4, 8 and
16 kHz: ``data.test_sample_rate``) would train the same model once per condition. The config's
``test_only`` names such keys. Every run is tagged with its *training key* (``tsssm.training``):
its job key with the ``test_only`` keys and the run's tags left out. A job whose experiment holds a
FINISHED run of the same training key that trained (no ``tsssm.trained_in`` tag) and logged its
checkpoint tests that checkpoint instead of training, tagged ``tsssm.trained_in`` with that run's
id. Its conditions are then paired on the same weights, and a study trains each model and seed
once. Where no such run is found (the first job, a run without its checkpoint) the job trains as
any other.

The keys named must exist in the config and change nothing before the test; the runs live in an
MLflow store, where the twin is looked up.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from tsssm.run import tracking
from tsssm.run.finished_jobs import job_key, lies_under, tagged_runs

TAG_TRAINING = "tsssm.training"
TAG_TRAINED_IN = "tsssm.trained_in"
CHECKPOINTS = "checkpoints"  # the artifact folder of a run's best checkpoint (tsssm.run.training)


def check_test_only(test_only: Sequence[str], resolved: Mapping[str, Any],
                    logger: Mapping[str, Any]) -> None:
    """Each name of ``test_only`` is a key of the config, and the runs go to MLflow."""
    keys = tracking.flatten_config(resolved)
    for name in test_only:
        if not any(lies_under(key, name) for key in keys):
            raise ValueError(f"test_only names {name!r}, which the config does not have; expected "
                             "keys that change only the test, e.g. data.test_sample_rate")
    if test_only and "_target_" in logger:
        raise ValueError(f"test_only {list(test_only)} shares trainings through the MLflow store, "
                         f"but logger {logger['_target_']} is not MLflow: use logger=mlflow")


def training_key(resolved: Mapping[str, Any], test_only: Sequence[str]) -> str:
    """The job key of ``resolved`` with the ``test_only`` keys left out, and the run's ``tags``:
    labels (a study's axis, such as the rate tested at) that train nothing themselves."""
    return job_key(resolved, [*test_only, "tags"])


def trained_twin(tracking_uri: str, experiment: str, key: str) -> Run | None:
    """The latest FINISHED run of ``experiment`` with training key ``key`` that trained itself;
    None where there is none."""
    runs = tagged_runs(tracking_uri, experiment, TAG_TRAINING, key)
    trained = [run for run in runs if TAG_TRAINED_IN not in run.data.tags]
    return trained[0] if trained else None


def twin_checkpoint(tracking_uri: str, twin: Run, folder: Path) -> Path | None:
    """``twin``'s logged best checkpoint, downloaded into a new folder under ``folder``; None where
    it logged none."""
    client = MlflowClient(tracking_uri)
    logged = [item.path for item in client.list_artifacts(twin.info.run_id, CHECKPOINTS)
              if item.path.endswith(".ckpt")]
    if not logged:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    target = tempfile.mkdtemp(prefix="trained-in-", dir=folder)
    return Path(client.download_artifacts(twin.info.run_id, logged[0], target))
