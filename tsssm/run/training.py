"""Training and testing one run from its config: what ``python -m tsssm.fit`` does under Hydra,
and what a backtest does again on the rows up to each cutoff (``tsssm.forecasting.refit``).

Builds the run (``tsssm.run.build``: data module, network, task), adds the trainer and the run's
tracking (``tsssm.run.trackers``), and runs Lightning's fit and test; no model maths lives here. The task says what its run
is named by, measures and draws (``tsssm.tasks.base.Task``).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from mlflow.entities import Run
from omegaconf import DictConfig, OmegaConf

from tsssm.run import tracking
from tsssm.run.build import build
from tsssm.run.checkpoint import read_checkpoint
from tsssm.run.closed_form import ClosedFormFit, save_solved, solved_in_closed_form
from tsssm.run.ddp import distributed_job
from tsssm.run.finished_jobs import TAG_JOB, job_key
from tsssm.run.flops_budget import FlopsBudget
from tsssm.run.record import RunRecord, portable, recorded_config
from tsssm.run.short_runs import best_score, tested_weights
from tsssm.run.trackers import Tracker, open_tracker
from tsssm.run.trained_twins import (TAG_TRAINED_IN, TAG_TRAINING, check_test_only, trained_twin,
                                     training_key, twin_checkpoint)
from tsssm.tasks.base import Task

log = logging.getLogger("tsssm.fit")  # the summary is fit's, wherever this runs

CONFIG_FILE = "config.yaml"


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
    return name, {**tags, **tracking.flatten_config(cfg.get("tags") or {})}


def train_and_test(cfg: DictConfig, out_dir: Path, experiment: str) -> dict[str, float]:
    """Train (unless the network has nothing to train; one solved in closed form is solved and
    saved as the best checkpoint: ``tsssm.run.closed_form``; with ``test_only`` keys, unless a run
    in the store did this job's training: ``tsssm.run.trained_twins``), test the best checkpoint
    (that run's), log everything to the tracker of ``experiment`` (``tsssm.run.trackers``);
    checkpoints and figures go under ``out_dir``."""
    resumed = read_checkpoint(cfg.resume) if cfg.resume else None
    datamodule, task = build(cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    n_params = sum(p.numel() for p in task.net.parameters() if p.requires_grad)
    max_params = cfg.get("max_params")
    if max_params is not None and n_params > max_params:
        log.info("refused: %s has %d trainable parameters, over max_params %d; nothing trained "
                 "or logged", cfg.model.name, n_params, max_params)
        return {}
    resolved = portable(OmegaConf.to_container(cfg, resolve=True))
    run_name, tags = run_description(cfg, datamodule, task)
    test_only = list(cfg.get("test_only") or [])
    check_test_only(test_only, resolved, cfg.logger)
    training = training_key(resolved, test_only)
    reused = trained_weights(cfg, training, experiment, out_dir) if test_only else None
    tags |= {TAG_JOB: job_key(resolved), TAG_TRAINING: training}
    if reused is not None:
        tags[TAG_TRAINED_IN] = reused[0].info.run_id
    tracker = open_tracker(cfg.logger, experiment, run_name, tags, resumed, cfg.resume)
    callbacks = [instantiate(c) for c in cfg.callbacks.values() if c is not None]
    closed_form = solved_in_closed_form(task.net)
    if closed_form:
        callbacks.append(ClosedFormFit())
    if cfg.get("flops_budget") is not None:
        callbacks.append(FlopsBudget(cfg.flops_budget))
    callbacks.append(RunRecord(recorded_config(cfg, resolved), tracker, tracker.tracking_uri,
                               task.checkpoint_record(datamodule)))
    trainer = instantiate(cfg.trainer, logger=tracker.logger, callbacks=callbacks,
                          default_root_dir=out_dir)
    with tracker.status(), distributed_job(trainer):
        if trainer.is_global_zero:
            log_run_start(tracker, cfg, resolved, task, datamodule, n_params, trainer.world_size,
                          out_dir)
        if reused is not None:
            twin, weights = reused
            best = twin.data.metrics.get(objective_name(cfg))
            results = trainer.test(task, datamodule=datamodule, ckpt_path=weights,
                                   weights_only=True, verbose=False)
            best_path = ""
        elif n_params:
            trainer.fit(task, datamodule=datamodule, ckpt_path=cfg.resume, weights_only=True)
            best = best_score(trainer, f"val/{monitored(cfg)}")
            tracker.log_metrics({"trained_steps": float(trainer.global_step)})
            results = trainer.test(task, datamodule=datamodule, ckpt_path=tested_weights(trainer),
                                   weights_only=True, verbose=False)
            best_path = trainer.checkpoint_callback.best_model_path
        else:
            validated = trainer.validate(task, datamodule=datamodule, verbose=False)
            best = float(validated[0][f"val/{monitored(cfg)}"])
            best_path = save_solved(trainer) if closed_form else ""
            results = trainer.test(task, datamodule=datamodule, verbose=False)
        if best is not None:
            tracker.log_metrics({objective_name(cfg): best})
        metrics = {objective_name(cfg): math.nan if best is None else best,
                   **{k: float(v) for k, v in results[0].items()}}
        if trainer.is_global_zero:
            if best_path:
                tracker.log_artifact(Path(best_path), "checkpoints")
            for figure in task.figures(datamodule, out_dir, run_name, cfg.plot_windows):
                tracker.log_artifact(figure, "plots")
            if best_path and cfg.logger.get("log_model") and task.serves_frames:
                log.info("MLflow model: %s", tracker.log_model(Path(best_path), out_dir / CONFIG_FILE))
            # Lightning's tables of the results are off (verbose=False): this line reports them,
            # in the job's log file as well as on the console.
            summary = "  ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items()))
            log.info("\n%s: %s\n%s\nOutputs: %s", run_name, summary, tracker.where(), out_dir)
    return metrics


def trained_weights(cfg: DictConfig, training: str, experiment: str,
                    out_dir: Path) -> tuple[Run, Path] | None:
    """The run that did training ``training`` already (``tsssm.run.trained_twins``) and its
    checkpoint, downloaded under ``out_dir``; None where there is none (or a resumed fit)."""
    if cfg.resume:
        return None
    uri = tracking.configured_tracking_uri(cfg.logger)
    twin = trained_twin(uri, experiment, training)
    weights = None if twin is None else twin_checkpoint(uri, twin, out_dir)
    if weights is None:
        return None
    log.info("trained in MLflow run %s (%s): testing its checkpoint, not training again",
             twin.info.run_id, twin.info.run_name)
    return twin, weights


def log_run_start(tracker: Tracker, cfg: DictConfig, resolved: dict[str, Any], task: Task,
                  datamodule: L.LightningDataModule, n_params: int, world_size: int,
                  out_dir: Path) -> None:
    """Params (the config as written, resolved, each value once: ``tracking.config_params``; size,
    world size, the task's ``start_metrics`` such as FLOPs per token) and the config file."""
    sizes = {"n_params": n_params, **task.start_metrics(datamodule)}
    extra = {"world_size": str(world_size), **{key: str(value) for key, value in sizes.items()}}
    metrics = {key: float(value) for key, value in sizes.items()}
    written = OmegaConf.to_container(cfg, resolve=False)
    tracker.log_params({**tracking.config_params(written, resolved), **extra})
    tracker.log_metrics(metrics)
    config_file = out_dir / CONFIG_FILE
    OmegaConf.save(resolved, config_file)
    tracker.log_artifact(config_file)
