"""A hyperparameter search's outcome, tagged on the runs of its trials when it ends.

Each trial's run carries the search's name (``tsssm.search.study``, from the config's ``tags``:
conf/hparams_search/). The Optuna sweeper writes the best trial to ``optimization_results.yaml``
in the sweep folder once every trial has run; this Hydra callback then tags every run of that
search with the best params (``tsssm.search.best_params``, JSON) and the best validation value
(``tsssm.search.best_value``), so the store alone says how each setting was chosen. It also writes
the best params as a recipe, ``recipe.yaml`` in the sweep folder, headed by the search that found
it; committed as ``conf/recipe/<experiment>/<model>.yaml`` it applies to every later run of that
experiment and model (conf/fit.yaml), studies included.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf

from tsssm.run import tracking

TAG_STUDY = "tsssm.search.study"
TAG_BEST_PARAMS = "tsssm.search.best_params"
TAG_BEST_VALUE = "tsssm.search.best_value"
RESULTS = "optimization_results.yaml"
RECIPE = "recipe.yaml"


def tag_search(tracking_uri: str, study: str, best_params: dict[str, Any], best_value: float) -> int:
    """Tag every run of search ``study`` in the store with its best params and value; the number
    of runs tagged."""
    client = MlflowClient(tracking_uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, f"tags.`{TAG_STUDY}` = '{study}'") if experiments else []
    for run in runs:
        client.set_tag(run.info.run_id, TAG_BEST_PARAMS, json.dumps(best_params, sort_keys=True))
        client.set_tag(run.info.run_id, TAG_BEST_VALUE, str(best_value))
    return len(runs)


class SearchRecord(Callback):
    """Tags the search's runs with its outcome when the sweep ends (module docstring)."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        results = Path(config.hydra.sweep.dir) / RESULTS
        if not results.is_file():  # the sweep ended before the sweeper wrote its results
            return
        outcome = OmegaConf.to_container(OmegaConf.load(results))
        uri = tracking.configured_tracking_uri(config.logger)
        study = str(config.hydra.sweeper.study_name)
        n_runs = tag_search(uri, study, outcome["best_params"], outcome["best_value"])
        print(f"search {study}: best value {outcome['best_value']} with {outcome['best_params']}, "
              f"tagged on its {n_runs} run(s) in {uri}")
        recipe = results.parent / RECIPE
        recipe.write_text(recipe_text(config, outcome))
        print(f"recipe written to {recipe}; it applies once copied to conf/{recipe_path(config)}")


def recipe_path(config: DictConfig) -> str:
    """Where the search's recipe belongs in the config tree: ``recipe/<experiment>/<model>.yaml``."""
    choices = config.hydra.runtime.choices
    return f"recipe/{choices.get('experiment')}/{choices.get('model')}.yaml"


def recipe_text(config: DictConfig, outcome: dict[str, Any]) -> str:
    """The best params as a global config, headed by the search: its name, sampler, trials, the
    best validation value and the space it searched; ``tuned_by`` names the search to the runs."""
    sweeper = config.hydra.sweeper
    sampler = sweeper.sampler
    searched = ", ".join(f"{key} {value}" for key, value in sweeper.params.items())
    header = [
        "@package _global_",
        f"Tuned by the hyperparameter search {sweeper.study_name}: "
        f"{sampler._target_.rsplit('.', 1)[-1]} (seed {sampler.get('seed')}), {sweeper.n_trials} "
        f"trials on the validation set only; best validation value {outcome['best_value']}.",
        f"Searched: {searched}.",
    ]
    comments = [f"# {line}" for text in header for line in textwrap.wrap(text, 96)]
    params = OmegaConf.from_dotlist([f"{key}={value}" for key, value in outcome["best_params"].items()])
    params.tuned_by = sweeper.study_name
    return "\n".join(comments) + "\n" + OmegaConf.to_yaml(params)
