"""A job whose run was cut off continues from its last checkpoint when its study is launched
again; checkpoints that record another run, or cannot be read, are passed over."""

from __future__ import annotations

from pathlib import Path

import torch
from mlflow.tracking import MlflowClient

from tests import cli
from tests.compose import FAST
from tsssm.run.finished_jobs import TAG_JOB
from tsssm.run.interrupted_jobs import CHECKPOINT_FOLDER, interrupted_checkpoint
from tsssm.run.record import RECORD_KEY
from tsssm.run.tracked_run import TAG_RESUMED_FROM

KEY = "0123456789abcdef"


def logged_run(client: MlflowClient, experiment_id: str, folder: Path, status: str) -> str:
    """A run of job KEY that logged ``folder`` as its checkpoints' folder, left in ``status``."""
    run = client.create_run(experiment_id, tags={TAG_JOB: KEY})
    client.log_param(run.info.run_id, CHECKPOINT_FOLDER, str(folder))
    if status != "RUNNING":
        client.set_terminated(run.info.run_id, status)
    return run.info.run_id


def write_last(folder: Path, run_id: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({RECORD_KEY: {"run_id": run_id}, "state_dict": {}}, folder / "last.ckpt")
    return folder / "last.ckpt"


def test_the_latest_unfinished_run_whose_checkpoint_records_it_is_resumed(tmp_path: Path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    experiment_id = client.create_experiment("e")
    assert interrupted_checkpoint(uri, "e", KEY) is None
    done = logged_run(client, experiment_id, tmp_path / "done", "FINISHED")
    write_last(tmp_path / "done", done)
    assert interrupted_checkpoint(uri, "e", KEY) is None  # a finished run is not resumed
    cut = logged_run(client, experiment_id, tmp_path / "cut", "RUNNING")
    last = write_last(tmp_path / "cut", cut)
    assert interrupted_checkpoint(uri, "e", KEY) == last
    # A later launch, cut before its first epoch, logged the same folder: its checkpoint is the
    # first launch's, which still resumes the first run.
    logged_run(client, experiment_id, tmp_path / "cut", "FAILED")
    assert interrupted_checkpoint(uri, "e", KEY) == last
    assert interrupted_checkpoint(uri, "e", "another job") is None


def test_an_unreadable_or_foreign_checkpoint_is_passed_over(tmp_path: Path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    experiment_id = client.create_experiment("e")
    first = logged_run(client, experiment_id, tmp_path / "a", "KILLED")
    write_last(tmp_path / "a", "a run of another store")
    assert interrupted_checkpoint(uri, "e", KEY) is None
    logged_run(client, experiment_id, tmp_path / "b", "FAILED")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "last.ckpt").write_bytes(b"cut off while written")
    assert interrupted_checkpoint(uri, "e", KEY) is None
    write_last(tmp_path / "a", first)
    assert interrupted_checkpoint(uri, "e", KEY) == tmp_path / "a" / "last.ckpt"


def test_a_study_launched_again_continues_its_cut_off_job_on_the_same_run(tmp_path: Path):
    """The job's run marked cut off after its training (as a killed process leaves it, status
    RUNNING): the second launch resumes from its last.ckpt into the same run and folder, trains
    no further step, tests and marks the run FINISHED."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    args = ["model=dlinear", "skip_finished=true", f"logger.tracking_uri={uri}", *FAST]
    first = cli.run_module("tsssm.fit", [*args, "hydra.run.dir=first"], tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("default").experiment_id])
    client.update_run(run.info.run_id, status="RUNNING")
    second = cli.run_module("tsssm.fit", [*args, "hydra.run.dir=second"], tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    folder = tmp_path / "first" / "checkpoints"
    assert f"continues from {folder / 'last.ckpt'}" in second.stdout
    (again,) = client.search_runs([client.get_experiment_by_name("default").experiment_id])
    assert again.info.run_id == run.info.run_id and again.info.status == "FINISHED"
    assert again.data.tags[TAG_RESUMED_FROM] == str(folder / "last.ckpt")
    assert again.data.metrics["trained_steps"] == run.data.metrics["trained_steps"]
    assert not (tmp_path / "second" / "checkpoints").exists()
