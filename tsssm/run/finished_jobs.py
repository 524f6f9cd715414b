"""Jobs already done: a study launched again skips every job whose run is FINISHED in the store.

A job is known by its key, a hash of its resolved config without what differs between two launches
of the same job and does not change what it computes (where its outputs and store are, what it
resumes from, how many windows it draws, whether it shows a progress bar, whether its steps'
kernels launch one by one or replay from CUDA graphs, ``callbacks.graphed_step``: the same
kernels, dropout drawing other random numbers; whether it may test a twin's training instead of
training alike, ``test_only``: ``tsssm.run.trained_twins``; the name of the search that tuned
its recipe, ``tuned_by``, and whether its study runs tuned models only, ``tuned_only``), tagged on its run (``tsssm.job``). A
job finds its own finished run by that tag, in its experiment, and returns the run's metrics
instead of training again, so that a sweeper still receives its objective.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from tsssm.run import tracking

TAG_JOB = "tsssm.job"
UNKEYED = ("logger", "resume", "plot_windows", "data.root", "callbacks.checkpoint.dirpath",
           "trainer.enable_progress_bar", "callbacks.graphed_step", "test_only", "tuned_by",
           "tuned_only")
"""Config keys (and the keys under them) that two launches of one job may set differently."""


def lies_under(key: str, name: str) -> bool:
    """Whether the dotted config ``key`` is ``name`` or a key under it."""
    return key == name or key.startswith(f"{name}.")


def job_key(resolved: Mapping[str, Any], unkeyed: Sequence[str] = ()) -> str:
    """16 hex digits of the sha256 of the resolved config's keyed fields (module docstring),
    ``unkeyed`` left out as well as ``UNKEYED``."""
    left_out = (*UNKEYED, *unkeyed)
    fields = {key: value for key, value in tracking.flatten_config(resolved).items()
              if not any(lies_under(key, name) for name in left_out)}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def finished_run(tracking_uri: str, experiment: str, key: str) -> Run | None:
    """The latest FINISHED run of job ``key`` in ``experiment``; None where there is none."""
    runs = tagged_runs(tracking_uri, experiment, TAG_JOB, key, max_results=1)
    return runs[0] if runs else None


def tagged_runs(tracking_uri: str, experiment: str, tag: str, value: str,
                max_results: int = 1000, finished: bool = True) -> list[Run]:
    """The runs of ``experiment`` tagged ``tag`` = ``value`` that are FINISHED (with ``finished``
    False: those in any other state, cut off or failed), latest first; none where the experiment
    or the store does not exist (a sqlite store is left uncreated)."""
    database = tracking.sqlite_database(tracking_uri)
    if database not in (None, "", ":memory:") and not Path(database).is_file():
        return []
    client = MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    return client.search_runs([found.experiment_id],
                              f"tags.`{tag}` = '{value}' and attributes.status "
                              f"{'=' if finished else '!='} 'FINISHED'",
                              order_by=["attributes.start_time DESC"], max_results=max_results)
