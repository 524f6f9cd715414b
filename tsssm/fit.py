"""``python -m tsssm.fit``: train and test one model on one dataset, tracked in MLflow.

Builds the run from its Hydra config (``tsssm.run.build``: data module, network, task), adds the
trainer and the MLflow logger, and runs Lightning's fit and test; no model maths lives here. The
task config names the network wrapper (``task.net``): a forecaster over series (``task=forecast``)
or a language model over tokens (``task=lm``), around the model config's backbone; the task says
what its run is named by, measures and draws (``tsssm.tasks.base.Task``). Examples::

    python -m tsssm.fit                                   # embedded default: synthetic series
    python -m tsssm.fit experiment=ltsf/etth1 model=mamba data.horizon=336 seed=2
    python -m tsssm.fit -m experiment=ltsf/etth1 model=s4,mamba,transformer seed=1,2,3
    python -m tsssm.fit experiment=bytes/shakespeare model=mamba trainer=ddp

A job is keyed by its resolved config (``tsssm.run.finished_jobs``); with ``skip_finished=true``
(the claim studies, conf/study/) a job whose run is FINISHED in the store already returns that run's
metrics and trains nothing, so a study launched again only runs what is missing.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from tsssm.run import tracking
from tsssm.run.build import build
from tsssm.run.ddp import distributed_job
from tsssm.run.checkpoint import read_checkpoint
from tsssm.run.entry_point import hydra_entry_point
from tsssm.run.finished_jobs import TAG_JOB, finished_run, job_key
from tsssm.run.record import RunRecord, portable, recorded_config
from tsssm.run.short_runs import best_score, tested_weights
from tsssm.run.tracked_run import log_new_params, open_run, run_status
from tsssm.tasks.base import Task


def experiment_name(cfg: DictConfig) -> str:
    """The configured MLflow experiment, else the Hydra experiment (``ltsf/etth1``), else ``default``."""
    if cfg.logger.experiment_name:
        return str(cfg.logger.experiment_name)
    return HydraConfig.get().runtime.choices.get("experiment") or "default"


def monitored(cfg: DictConfig) -> str:
    """The validation metric that picks the best checkpoint, without its ``val/`` prefix."""
    return str(cfg.callbacks.checkpoint.monitor).removeprefix("val/")


def objective_name(cfg: DictConfig) -> str:
    """``val/best_<metric>``: the monitored validation metric at the best checkpoint (for a model
    with nothing to train, its one validation pass)."""
    return f"val/best_{monitored(cfg)}"


def run_description(cfg: DictConfig, datamodule: L.LightningDataModule,
                    task: Task) -> tuple[str, dict[str, str]]:
    """Run name and tags: model, dataset, the task's ``run_horizon`` (forecasts by horizon,
    ``h96``; sequence models by window, ``L1024``) and seed, then the config's ``tags`` (a study's
    axis, as dotted names: ``tsssm.train_fraction``)."""
    horizon = task.run_horizon(datamodule)
    name = tracking.format_run_name(cfg.model.name, datamodule.dataset_name, horizon, cfg.seed)
    tags = tracking.run_tags(cfg.model.name, datamodule.dataset_name, horizon, cfg.seed)
    return name, {**tags, **tracking.flatten_config(cfg.tags)}


def fit(cfg: DictConfig) -> dict[str, float]:
    """Train (unless the network has nothing to train), test the best checkpoint, log everything;
    or, for a job done already and ``skip_finished``, return its run's metrics."""
    resolved = portable(OmegaConf.to_container(cfg, resolve=True))
    tracking_uri = cfg.logger.tracking_uri or tracking.default_tracking_uri()
    key = job_key(resolved)
    done = finished_run(tracking_uri, experiment_name(cfg), key) if cfg.skip_finished else None
    if done is not None:
        print(f"skipped: job {key} is done already, MLflow run {done.info.run_id} "
              f"({done.info.run_name}) in experiment '{experiment_name(cfg)}', {tracking_uri}")
        return {objective_name(cfg): math.nan, **done.data.metrics}
    resumed = read_checkpoint(cfg.resume) if cfg.resume else None
    datamodule, task = build(cfg)
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    n_params = sum(p.numel() for p in task.net.parameters() if p.requires_grad)
    if cfg.max_params is not None and n_params > cfg.max_params:
        print(f"refused: {cfg.model.name} has {n_params} trainable parameters, over max_params "
              f"{cfg.max_params}; nothing trained or logged")
        return {}
    run_name, tags = run_description(cfg, datamodule, task)
    logger = open_run(experiment_name(cfg), run_name, tracking_uri, {**tags, TAG_JOB: key}, resumed,
                      cfg.resume)
    callbacks = [instantiate(c) for c in cfg.callbacks.values()]
    callbacks.append(RunRecord(recorded_config(cfg, resolved), logger, tracking_uri,
                               task.checkpoint_record(datamodule)))
    trainer = instantiate(cfg.trainer, logger=logger, callbacks=callbacks, default_root_dir=out_dir)
    with run_status(logger), distributed_job(trainer):
        if trainer.is_global_zero:
            log_run_start(logger, resolved, task, datamodule, n_params, trainer.world_size, out_dir)
        if n_params:
            trainer.fit(task, datamodule=datamodule, ckpt_path=cfg.resume, weights_only=True)
            best = best_score(trainer, f"val/{monitored(cfg)}")
            logger.log_metrics({"trained_steps": float(trainer.global_step)})
            results = trainer.test(task, datamodule=datamodule, ckpt_path=tested_weights(trainer),
                                   weights_only=True)
        else:
            best = float(trainer.validate(task, datamodule=datamodule)[0][f"val/{monitored(cfg)}"])
            results = trainer.test(task, datamodule=datamodule)
        if best is not None:
            logger.log_metrics({objective_name(cfg): best})
        metrics = {objective_name(cfg): math.nan if best is None else best,
                   **{k: float(v) for k, v in results[0].items()}}
        if trainer.is_global_zero:
            best_path = trainer.checkpoint_callback.best_model_path if n_params else ""
            if best_path:
                tracking.log_artifact(logger, Path(best_path), "checkpoints")
            for figure in task.figures(datamodule, out_dir, run_name, cfg.plot_windows):
                tracking.log_artifact(logger, figure, "plots")
            summary = "  ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items()))
            print(f"\n{run_name}: {summary}\nMLflow: experiment '{experiment_name(cfg)}', "
                  f"run {logger.run_id}, tracking URI {tracking_uri}\nOutputs: {out_dir}")
    return metrics


def log_run_start(logger, resolved: dict[str, Any], task: Task,
                  datamodule: L.LightningDataModule, n_params: int, world_size: int,
                  out_dir: Path) -> None:
    """Params (the flattened config, size, world size, the task's ``start_metrics`` such as FLOPs
    per token) and the config file."""
    sizes = {"n_params": n_params, **task.start_metrics(datamodule)}
    extra = {"world_size": str(world_size), **{key: str(value) for key, value in sizes.items()}}
    metrics = {key: float(value) for key, value in sizes.items()}
    log_new_params(logger, {**tracking.flatten_config(resolved), **extra})
    logger.log_metrics(metrics)
    config_file = out_dir / "config.yaml"
    OmegaConf.save(resolved, config_file)
    tracking.log_artifact(logger, config_file)


@hydra_entry_point("fit")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point; returns the best validation value of the monitored metric, so that a
    sweeper tunes on validation and never on test (None for a refused network)."""
    return fit(cfg).get(objective_name(cfg))


if __name__ == "__main__":
    main()
