"""Tuned recipes: conf/recipe/<experiment>/<model>.yaml applies to every run of that experiment and
model (its values over the model's and experiment's defaults, under the command line's), ~recipe
leaves it out, and other experiments or models never see it. The tests' own recipe is for ETTm2,
on which nothing is tuned, so no committed recipe (conf/ comes first on the search path) hides it."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from tests.compose import REPO

RECIPE = """# @package _global_
model:
  optim:
    lr: 0.00421
  backbone:
    d_model: 48
data:
  lookback: 512
"""


@pytest.fixture()
def recipes(tmp_path: Path) -> Path:
    folder = tmp_path / "extra" / "recipe" / "ltsf" / "ettm2"
    folder.mkdir(parents=True)
    (folder / "mamba.yaml").write_text(RECIPE)
    return tmp_path / "extra"


def composed(recipes: Path, *overrides: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose("fit", overrides=[f"hydra.searchpath=[file://{recipes}]", *overrides])


def test_the_recipe_of_an_experiment_and_model_applies(recipes: Path) -> None:
    cfg = composed(recipes, "experiment=ltsf/ettm2", "model=mamba")
    assert (cfg.model.optim.lr, cfg.model.backbone.d_model, cfg.data.lookback) == (0.00421, 48, 512)
    assert cfg.data.name == "ETTm2" and cfg.data.horizon == 96  # the experiment's own keys stay


def test_the_command_line_beats_the_recipe_and_can_drop_it(recipes: Path) -> None:
    assert composed(recipes, "experiment=ltsf/ettm2", "model=mamba", "model.optim.lr=0.1").model.optim.lr == 0.1
    dropped = composed(recipes, "experiment=ltsf/ettm2", "model=mamba", "~recipe")
    assert dropped.data.lookback == 336 and dropped.model.backbone.d_model != 48


@pytest.mark.parametrize("overrides", [("experiment=ltsf/weather", "model=mamba"),
                                       ("experiment=ltsf/ettm2", "model=s4"), ("model=mamba",)])
def test_no_recipe_reaches_other_experiments_or_models(recipes: Path, overrides) -> None:
    cfg = composed(recipes, *overrides)
    assert cfg.model.optim.lr != 0.00421 and cfg.data.lookback != 512
