"""A hyperparameter search with the Optuna sweeper (conf/hparams_search/), shrunk to four trials on
the synthetic series: it tunes on the validation metric, refuses networks over its parameter cap,
and tags its runs with the search and, when it ends, with its best params and value, and writes
them as a recipe headed by the search."""

from __future__ import annotations

import json

import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from tests import cli
from tests.compose import FAST
from tsssm.run.search_record import TAG_BEST_PARAMS, TAG_BEST_VALUE, TAG_STUDY

SPACE = '{model.optim.lr:"tag(log, interval(1e-4, 1e-2))",model.backbone.d_model:"choice(8, 64)"}'


def test_a_search_tunes_on_validation_under_its_cap_and_tags_its_runs(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    result = cli.run_module("tsssm.fit", [
        "-m", "hparams_search=ltsf_optuna", "model=mamba", "hydra.sweeper.n_trials=4",
        "hydra.sweeper.sampler.n_startup_trials=2", f"hydra.sweeper.params={SPACE}",
        "max_params=20000", f"logger.tracking_uri={uri}", "hydra.sweep.dir=sweep", *FAST], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = OmegaConf.load(tmp_path / "sweep" / "optimization_results.yaml")
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("default").experiment_id])
    refused = result.stdout.count("refused: mamba has")
    assert refused and len(runs) == 4 - refused, "a network over the cap is neither trained nor logged"
    assert {run.data.params["model.backbone.d_model"] for run in runs} == {"8"}
    assert outcome.best_value == min(run.data.metrics["val/best_mse"] for run in runs)
    assert outcome.best_value not in [run.data.metrics["test/mse"] for run in runs]
    for run in runs:
        assert run.data.tags[TAG_STUDY] == "synthetic-mamba-h12"
        assert run.data.tags["tsssm.search.trials"] == "4"
        assert json.loads(run.data.tags[TAG_BEST_PARAMS]) == OmegaConf.to_container(outcome.best_params)
        assert float(run.data.tags[TAG_BEST_VALUE]) == pytest.approx(outcome.best_value)
    recipe_file = tmp_path / "sweep" / "recipe.yaml"
    header = recipe_file.read_text().split("\nmodel:", 1)[0]
    assert header.startswith("# @package _global_\n# Tuned by the hyperparameter search ")
    assert (f"search synthetic-mamba-h12: TPESampler (seed 1234), 4 trials on the validation set "
            f"only; best validation value {outcome.best_value}.") in header.replace("\n# ", " ")
    recipe = OmegaConf.load(recipe_file)
    assert recipe.model.optim.lr == outcome.best_params["model.optim.lr"]
    assert recipe.model.backbone.d_model == outcome.best_params["model.backbone.d_model"] == 8
    assert "conf/recipe/None/mamba.yaml" in result.stdout
