"""A job's key: the same for two launches of one job, different for a job that computes otherwise;
a store that does not exist is not created by looking for a job in it."""

from __future__ import annotations

import copy

from tsssm.run.finished_jobs import finished_run, job_key

JOB = {"model": {"name": "mamba"}, "seed": 1, "data": {"root": "/data", "horizon": 96},
       "logger": {"tracking_uri": "sqlite:///a.db"}, "resume": None, "plot_windows": 4,
       "callbacks": {"checkpoint": {"dirpath": "/outputs/0/checkpoints", "monitor": "val/mse"}}}


def test_a_job_key_ignores_where_a_job_writes_and_changes_with_what_it_computes():
    moved = copy.deepcopy(JOB)
    moved["data"]["root"], moved["logger"]["tracking_uri"] = "/elsewhere", "sqlite:///b.db"
    moved["callbacks"]["checkpoint"]["dirpath"], moved["plot_windows"] = "/outputs/7/checkpoints", 1
    moved["callbacks"]["graphed_step"] = {"_target_": "GraphedTrainingStep"}  # graphs, same job
    assert job_key(moved) == job_key(JOB)
    assert job_key({**JOB, "seed": 2}) != job_key(JOB)
    assert job_key({**JOB, "data": {"root": "/data", "horizon": 192}}) != job_key(JOB)


def test_looking_in_a_missing_store_leaves_it_missing(tmp_path):
    assert finished_run(f"sqlite:///{tmp_path}/none.db", "default", job_key(JOB)) is None
    assert not (tmp_path / "none.db").exists()
