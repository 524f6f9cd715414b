"""Studies of tuned models only (``tuned_only``, the C3 studies): a job whose experiment and model
have no recipe is skipped with a line saying so, and neither trains nor logs a run; a recipe's
``tuned_by`` lets it run, and so does a network solved in closed form, which has nothing to tune.
Neither setting changes a job's key, so the runs a store holds keep matching their jobs."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from mlflow.tracking import MlflowClient

from tests import cli
from tests.compose import FAST, REPO
from tsssm.run.finished_jobs import job_key
from tsssm.run.tuned_only import lacks_its_recipe


def composed(*overrides: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose("fit", overrides=list(overrides))


@pytest.mark.parametrize("overrides, lacks", [
    (("tuned_only=true", "experiment=ltsf/ettm2", "model=mamba"), True),
    (("tuned_only=true", "experiment=ltsf/ettm2", "model=mamba", "tuned_by=ETTm2-mamba-h96"), False),
    (("tuned_only=true", "experiment=ltsf/ettm2", "model=lstsq"), False),
    (("experiment=ltsf/ettm2", "model=mamba"), False),
])
def test_only_an_untuned_trainable_model_of_a_tuned_only_study_lacks_its_recipe(overrides, lacks):
    assert lacks_its_recipe(composed(*overrides)) is lacks


def test_every_committed_recipe_names_the_search_that_tuned_it():
    for recipe in (REPO / "conf" / "recipe").rglob("*.yaml"):
        experiment = recipe.parent.relative_to(REPO / "conf" / "recipe")
        cfg = composed(f"experiment={experiment}", f"model={recipe.stem}", "tuned_only=true")
        assert str(cfg.tuned_by).endswith(f"-{recipe.stem}-h{cfg.data.horizon}"), recipe
        assert not lacks_its_recipe(cfg)


def test_the_c3_studies_run_tuned_models_only():
    assert composed("study=c3_ltsf").tuned_only and composed("study=c3_data_efficiency").tuned_only
    assert not composed("study=c5_fsdd").tuned_only


def test_tuning_settings_leave_a_jobs_key_alone():
    plain = {"model": {"name": "mamba"}, "seed": 1}
    assert job_key({**plain, "tuned_by": "ETTh1-mamba-h96", "tuned_only": True}) == job_key(plain)


def test_a_tuned_only_job_without_its_recipe_is_skipped_and_logs_no_run(tmp_path: Path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    result = cli.run_module("tsssm.fit", [
        "tuned_only=true", "model=mamba", f"logger.tracking_uri={uri}", *FAST], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "skipped: mamba has no recipe for None (conf/recipe/None/mamba.yaml)" in result.stdout
    assert not (tmp_path / "mlflow.db").exists() or not MlflowClient(uri).search_experiments(
        filter_string="name = 'default'")
