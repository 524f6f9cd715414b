"""``python -m tsssm.fit``: train and test one model on one dataset, tracked in MLflow.

Runs ``tsssm.run.training.train_and_test`` on its Hydra config (data module, network, task,
trainer and the run's tracking: an MLflow run by default, ``logger=csv`` or ``logger=tensorboard``
otherwise; Lightning's fit and test) in Hydra's run folder. The task config names the network
wrapper (``task.net``): a forecaster over series (``task=forecast``) or a language model over
tokens (``task=lm``), around the model config's backbone; the task says what its run is named by,
measures and draws (``tsssm.tasks.base.Task``), and whether its best checkpoint is logged as an
MLflow model (``serves_frames``, ``logger.log_model``). The summary, like every line the job
shows, also goes to the run folder's ``fit.log`` (``tsssm.run.console``). Examples::

    python -m tsssm.fit                                   # embedded default: synthetic series
    python -m tsssm.fit experiment=ltsf/etth1 model=mamba data.horizon=336 seed=2
    python -m tsssm.fit -m experiment=ltsf/etth1 model=s4,mamba,transformer seed=1,2,3
    python -m tsssm.fit experiment=bytes/shakespeare model=mamba trainer=ddp
    python -m tsssm.fit experiment=ltsf/etth1 model=mamba debug=fdr logger=csv

A job is keyed by its resolved config (``tsssm.run.finished_jobs``); with ``skip_finished=true``
(the claim studies, conf/study/) a job whose run is FINISHED in the store already returns that run's
metrics and trains nothing, so a study launched again only runs what is missing; a job whose run
was cut off continues from its last checkpoint (``tsssm.run.interrupted_jobs``). A study of tuned
models (``tuned_only``, the C3 studies) skips a job that has no recipe (``tsssm.run.tuned_only``).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from tsssm.run import tracking
from tsssm.run.entry_point import hydra_entry_point
from tsssm.run.finished_jobs import finished_run, job_key
from tsssm.run.interrupted_jobs import interrupted_checkpoint
from tsssm.run.record import portable
from tsssm.run.training import objective_name, train_and_test
from tsssm.run.tuned_only import lacks_its_recipe

log = logging.getLogger("tsssm.fit")  # __name__ is __main__ under python -m


def experiment_name(cfg: DictConfig) -> str:
    """The configured MLflow experiment, else the Hydra experiment (``ltsf/etth1``), else ``default``."""
    if cfg.logger.get("experiment_name"):
        return str(cfg.logger.experiment_name)
    return HydraConfig.get().runtime.choices.get("experiment") or "default"


def fit(cfg: DictConfig) -> dict[str, float]:
    """Train (unless the network has nothing to train), test the best checkpoint, log everything:
    ``train_and_test`` in Hydra's run folder, under the experiment's name; or, for a job done
    already and ``skip_finished``, return its run's metrics."""
    experiment = experiment_name(cfg)
    if lacks_its_recipe(cfg):
        choices = HydraConfig.get().runtime.choices
        log.info("skipped: %s has no recipe for %s (conf/recipe/%s.yaml) and this study runs tuned "
                 "models only; its search writes one", choices.get("model"),
                 choices.get("experiment"), choices.get("recipe"))
        return {objective_name(cfg): math.nan}
    if cfg.skip_finished:
        tracking_uri = tracking.configured_tracking_uri(cfg.logger)
        key = job_key(portable(OmegaConf.to_container(cfg, resolve=True)))
        done = finished_run(tracking_uri, experiment, key)
        if done is not None:
            log.info("skipped: job %s is done already, MLflow run %s (%s) in experiment '%s', %s",
                     key, done.info.run_id, done.info.run_name, experiment, tracking_uri)
            return {objective_name(cfg): math.nan, **done.data.metrics}
        last = None if cfg.resume else interrupted_checkpoint(tracking_uri, experiment, key)
        if last is not None:
            log.info("resumed: job %s continues from %s, the last checkpoint of its run cut off "
                     "before the end", key, last)
            cfg.resume = str(last)
            cfg.callbacks.checkpoint.dirpath = str(last.parent)
    return train_and_test(cfg, Path(HydraConfig.get().runtime.output_dir), experiment)


@hydra_entry_point("fit")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point; returns the best validation value of the monitored metric, so that a
    sweeper tunes on validation and never on test (None for a refused network)."""
    return fit(cfg).get(objective_name(cfg))


if __name__ == "__main__":
    main()
