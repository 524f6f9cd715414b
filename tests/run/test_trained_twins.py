"""``test_only`` names keys of the config and needs MLflow; the training key leaves out those keys
and the run's tags, nothing else (the C7 study's sharing itself: tests/claims/test_studies.py)."""

from __future__ import annotations

import pytest

from tsssm.run.finished_jobs import job_key
from tsssm.run.trained_twins import check_test_only, training_key

CONFIG = {"data": {"test_sample_rate": None, "sample_rate": 8000}, "seed": 1,
          "tags": {"tsssm": {"sample_rate": 8000}}}
MLFLOW = {"tracking_uri": "sqlite:///mlflow.db"}


def test_a_key_the_config_has_passes_even_when_null():
    check_test_only(["data.test_sample_rate"], CONFIG, MLFLOW)
    check_test_only(["data"], CONFIG, MLFLOW)


def test_a_key_the_config_lacks_is_named():
    with pytest.raises(ValueError, match="test_only names 'data.test_rate', which the config"):
        check_test_only(["data.test_rate"], CONFIG, MLFLOW)


def test_sharing_trainings_needs_the_mlflow_store():
    with pytest.raises(ValueError, match="logger lightning.pytorch.loggers.CSVLogger is not MLflow"):
        check_test_only(["data.test_sample_rate"], CONFIG,
                        {"_target_": "lightning.pytorch.loggers.CSVLogger"})
    check_test_only([], CONFIG, {"_target_": "lightning.pytorch.loggers.CSVLogger"})


def test_the_training_key_ignores_the_test_only_keys_and_the_tags_alone():
    other_rate = {**CONFIG, "data": {"test_sample_rate": 16000, "sample_rate": 8000},
                  "tags": {"tsssm": {"sample_rate": 16000}}}
    other_seed = {**CONFIG, "seed": 2}
    key = training_key(CONFIG, ["data.test_sample_rate"])
    assert training_key(other_rate, ["data.test_sample_rate"]) == key
    assert training_key(other_seed, ["data.test_sample_rate"]) != key
    assert job_key(other_rate) != job_key(CONFIG)
