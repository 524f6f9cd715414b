"""A hyperparameter search's outcome, tagged on the runs of its trials when it ends.

Each trial's run carries the search's name (``tsssm.search.study``, from the config's ``tags``:
conf/hparams_search/). The Optuna sweeper writes the best trial to ``optimization_results.yaml``
in the sweep folder once every trial has run; this Hydra callback then tags every run of that
search with the best params (``tsssm.search.best_params``, JSON) and the best validation value
(``tsssm.search.best_value``), so the store alone says how each setting was chosen.
"""

from __future__ import annotations

import json
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
