"""Jobs cut off part way: a study or search launched again continues each of them from its last
checkpoint instead of training it afresh.

A job's run that did not finish (its process killed with the machine or the call's time limit,
or stopped by an error) logged where its checkpoints went, the param
``callbacks.checkpoint.dirpath``; Lightning's ``last.ckpt`` there holds the epochs it completed
with the optimizer's, early stopping's and the best checkpoint's state. Where that checkpoint
records the same run (``tsssm.run.record.RunRecord``), the job resumes from it as ``fit resume=``
does, on the same run, writing its checkpoints into the same folder (so the best one found
before the cut still counts). A checkpoint that cannot be read or records another run (a later
launch of the job that was cut before its first epoch shares the folder) is passed over. One
whose weights no longer fit the model (its code changed since) fails the job as ``fit resume=``
would: deleting it trains the job afresh.
"""

from __future__ import annotations

import logging
from pathlib import Path

from tsssm.run.checkpoint import read_checkpoint
from tsssm.run.finished_jobs import TAG_JOB, tagged_runs
from tsssm.run.record import RECORD_KEY
from tsssm.run.safe_load import CheckpointError

log = logging.getLogger(__name__)

CHECKPOINT_FOLDER = "callbacks.checkpoint.dirpath"
"""The param a run logs its checkpoints' folder under (its config key:
``tracking.config_params``)."""
LAST = "last.ckpt"


def interrupted_checkpoint(tracking_uri: str, experiment: str, key: str) -> Path | None:
    """The ``last.ckpt`` to resume job ``key`` from: that of its latest unfinished run in
    ``experiment`` whose checkpoint records that run; None where there is none."""
    for run in tagged_runs(tracking_uri, experiment, TAG_JOB, key, finished=False):
        folder = run.data.params.get(CHECKPOINT_FOLDER)
        last = None if folder is None else Path(folder) / LAST
        if last is None or not last.is_file():
            continue
        try:
            recorded = read_checkpoint(last)[RECORD_KEY].get("run_id")
        except CheckpointError as error:
            log.info("not resumed from %s: %s", last, error)
            continue
        if recorded == run.info.run_id:
            return last
    return None
