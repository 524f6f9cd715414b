"""MLflow set-up and run queries shared by the entry points (fit writes runs, compare reads them,
generate adds its samples to the run that trained its checkpoint).

One convention holds both sides together: a run is named ``{model}-{dataset}-h{horizon}-s{seed}`` and
carries the tags in ``RUN_TAGS``, so ``compare`` groups runs by tags and never depends on how the config
(logged as dotted params) happens to be laid out.

The tracking store is an explicit sqlite database (MLflow >= 3.7 rejects the old ./mlruns file store by
default); artifacts go to ``mlartifacts/`` beside that database, not wherever the process happens to run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import pandas as pd
from mlflow.entities import Param
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH, MAX_PARAMS_TAGS_PER_BATCH
from omegaconf import DictConfig, ListConfig, OmegaConf

if TYPE_CHECKING:  # Lightning pulls in torch: seconds that compare, which only reads runs, need not pay
    from lightning.pytorch.loggers import MLFlowLogger

TAG_MODEL = "tsssm.model"
TAG_DATASET = "tsssm.dataset"
TAG_HORIZON = "tsssm.horizon"
TAG_SEED = "tsssm.seed"
RUN_TAGS = (TAG_MODEL, TAG_DATASET, TAG_HORIZON, TAG_SEED)
TAG_COMPARED = "tsssm.compared"  # on compare's own runs: the experiments it compared

TRUNCATION_MARKER = "...[truncated]"
NODE_LINK = re.compile(r"^\$\{\s*[A-Za-z_][\w.]*\s*\}$")  # ${model.backbone}: another node, no resolver


class RunLookupError(LookupError):
    """The runs asked for are not in the tracking store; the message says what is there instead."""


def default_tracking_uri() -> str:
    """``sqlite:///<absolute cwd>/mlflow.db``: absolute, so a process that changes directory keeps its store.

    ``MLFLOW_TRACKING_URI`` is deliberately not consulted: MLflow sets it in-process on every
    ``set_tracking_uri``, so it would carry one run's store into the next (configs may read it with
    ``${oc.env:MLFLOW_TRACKING_URI,null}``).
    """
    return f"sqlite:///{Path.cwd().resolve() / 'mlflow.db'}"


def configured_tracking_uri(logger: Mapping[str, Any]) -> str:
    """The store a ``logger`` config (conf/logger/) names in ``tracking_uri``, else the default
    store (``default_tracking_uri``)."""
    return logger.get("tracking_uri") or default_tracking_uri()


def sqlite_database(tracking_uri: str) -> str | None:
    """The database file of a ``sqlite:///PATH`` store (its query string left out); None for any
    other store."""
    prefix = "sqlite:///"
    return tracking_uri[len(prefix):].split("?", 1)[0] if tracking_uri.startswith(prefix) else None


def default_artifact_location(tracking_uri: str) -> str | None:
    """``file://.../mlartifacts`` beside a sqlite database; None (the server decides) for any other store."""
    database = sqlite_database(tracking_uri)
    if database in (None, "", ":memory:"):
        return None
    return (Path(database).resolve().parent / "mlartifacts").as_uri()


def run_tags(model: str, dataset: str, horizon: int | str, seed: int) -> dict[str, str]:
    """The tags ``compare`` groups by: model x dataset x horizon, aggregated over seed.

    Sequence models predict one step ahead; their "horizon" tag holds their window instead
    (``L1024``), so runs at different lengths (an MQAR length sweep) are not averaged together.
    """
    return {TAG_MODEL: str(model), TAG_DATASET: str(dataset), TAG_HORIZON: str(horizon), TAG_SEED: str(seed)}


def format_run_name(model: str, dataset: str, horizon: int | str, seed: int) -> str:
    """``{model}-{dataset}-h{horizon}-s{seed}``, e.g. ``mamba-etth1-h96-s1``; a window tag such as
    ``L1024`` is used as it is: ``mamba-tinyshakespeare-L1024-s1``."""
    setting = horizon if str(horizon).startswith("L") else f"h{horizon}"
    return f"{model}-{dataset}-{setting}-s{seed}"


def flatten_config(cfg: Mapping[str, Any]) -> dict[str, str]:
    """A nested config as ``{"model.name": "mamba", "data.horizon": "96", ...}``, every value a string.

    OmegaConf interpolations are resolved first, and a missing mandatory value (``???``) raises, naming
    its key. Lists stay one value (``"[1, 2]"``) because their items rarely mean anything on their own.
    """
    if isinstance(cfg, DictConfig):
        cfg = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    if not isinstance(cfg, Mapping):
        raise TypeError(f"flatten_config expects a mapping (a dict or DictConfig), got {type(cfg).__name__}")
    flat: dict[str, str] = {}
    for key, value in cfg.items():
        _flatten_into(flat, str(key), value)
    return flat


def _flatten_into(flat: dict[str, str], key: str, value: Any) -> None:
    if isinstance(value, (DictConfig, ListConfig)):
        value = OmegaConf.to_container(value, resolve=True, throw_on_missing=True)
    if isinstance(value, Mapping) and value:
        for sub_key, item in value.items():
            _flatten_into(flat, f"{key}.{sub_key}", item)
    else:
        flat[key] = str(value)


def config_params(written: Mapping[str, Any], resolved: Mapping[str, Any]) -> dict[str, str]:
    """The run's config as dotted params (``flatten_config`` of ``resolved``), each value once.

    ``written`` is the same config before resolving. A node that only links to another one
    (``task.net: ${model.net}``, ``model.net.backbone: ${model.backbone}``) is left out with
    everything under it: its values are logged where they are defined.
    """
    links = [key for key, value in flatten_config(written).items() if NODE_LINK.match(value)]
    return {key: value for key, value in flatten_config(resolved).items()
            if not any(key == link or key.startswith(link + ".") for link in links)}


def make_mlflow_logger(experiment: str, run_name: str, tracking_uri: str | None,
                       tags: Mapping[str, str], run_id: str | None = None) -> MLFlowLogger:
    """Lightning's MLflow logger on an explicit store; it creates a missing experiment with our artifact root.

    ``tracking_uri=None`` means ``default_tracking_uri()``. An experiment that already exists keeps its own
    artifact location. ``run_id`` continues that run instead of starting a new one.
    """
    from lightning.pytorch.loggers import MLFlowLogger

    uri = tracking_uri or default_tracking_uri()
    return MLFlowLogger(experiment_name=experiment, run_name=run_name, tracking_uri=uri, tags=dict(tags),
                        artifact_location=default_artifact_location(uri), run_id=run_id)


def log_params(logger: MLFlowLogger, params: Mapping[str, str]) -> None:
    """Log params in batches MLflow accepts, values cut to its length limit with a visible marker.

    Lightning's own ``log_hyperparams`` silently cuts values to 250 characters; a resolved model config
    is often longer than that.
    """
    entries = [Param(key, _fit_param_value(str(value))) for key, value in params.items()]
    for start in range(0, len(entries), MAX_PARAMS_TAGS_PER_BATCH):
        logger.experiment.log_batch(logger.run_id, params=entries[start:start + MAX_PARAMS_TAGS_PER_BATCH])


def _fit_param_value(value: str) -> str:
    if len(value) <= MAX_PARAM_VAL_LENGTH:
        return value
    return value[:MAX_PARAM_VAL_LENGTH - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER


def log_artifact(logger: MLFlowLogger, path: str | os.PathLike, artifact_path: str | None = None) -> None:
    """Copy a local file into the run's artifacts, under the folder ``artifact_path`` (None: the root)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"cannot log artifact {path}: no such file")
    logger.experiment.log_artifact(logger.run_id, os.fspath(path), artifact_path)


def search_runs(experiment: str | Iterable[str], tracking_uri: str | None = None) -> pd.DataFrame:
    """Finished runs of one or more experiments, one row each (``mlflow.search_runs``' pandas layout).

    Sets MLflow's global tracking URI, as Lightning's logger does. An unknown experiment raises
    ``RunLookupError`` listing the experiments the store has. Runs that failed or still run are left
    out, and so are compare's own runs (tagged ``TAG_COMPARED``), which trained nothing.
    """
    names = [experiment] if isinstance(experiment, str) else list(experiment)
    uri = tracking_uri or default_tracking_uri()
    client = MlflowClient(uri)
    ids = []
    for name in names:
        found = client.get_experiment_by_name(name)
        if found is None or found.lifecycle_stage != "active":
            existing = sorted(e.name for e in client.search_experiments())
            raise RunLookupError(f"experiment {name!r} not found in {uri}; experiments there: {existing}")
        ids.append(found.experiment_id)
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_ids=ids, filter_string="attributes.status = 'FINISHED'",
                              output_format="pandas")
    compared = f"tags.{TAG_COMPARED}"
    return runs[runs[compared].isna()].reset_index(drop=True) if compared in runs else runs


def log_new_run(experiment: str, tracking_uri: str | None, run_name: str, tags: Mapping[str, str],
                files: list[Path]) -> str:
    """A new FINISHED run of ``experiment`` holding ``files`` as artifacts; returns its id."""
    client = MlflowClient(tracking_uri or default_tracking_uri())
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise RunLookupError(f"experiment {experiment!r} not found in {tracking_uri}")
    run = client.create_run(found.experiment_id, run_name=run_name, tags=dict(tags))
    for path in files:
        client.log_artifact(run.info.run_id, str(path))
    client.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id


def log_to_training_run(run_id: str | None, tracking_uri: str | None, files: list[Path],
                        artifact_path: str) -> str:
    """Log ``files`` under ``artifact_path`` to the run that trained a checkpoint, where the
    checkpoint names one and its store can be reached (a sqlite store is never created here);
    says what it did."""
    if not run_id or not tracking_uri:
        return "not logged to MLflow: the checkpoint names no training run"
    database = sqlite_database(tracking_uri)
    if database is not None and not Path(database).is_file():
        return f"not logged to MLflow: the tracking database {database} does not exist here"
    client = MlflowClient(tracking_uri)
    try:
        client.get_run(run_id)
        for path in files:
            client.log_artifact(run_id, str(path), artifact_path)
    except (MlflowException, OSError) as error:
        return f"not logged to MLflow run {run_id} at {tracking_uri}: {error}"
    return (f"logged {len(files)} files to MLflow run {run_id} (artifact path "
            f"{artifact_path}/), tracking URI {tracking_uri}")
