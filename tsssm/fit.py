"""``python -m tsssm.fit``: train and test one model on one dataset, tracked in MLflow.

Wires the Hydra config to objects (data module, network, task, trainer, logger) and runs
Lightning's fit and test; no model maths lives here. The task config names the network wrapper
(``task.net``): a forecaster over series (``task=forecast``) or a language model over tokens
(``task=lm``), around the model config's backbone. Examples::

    python -m tsssm.fit                                   # embedded default, about a minute on CPU
    python -m tsssm.fit experiment=ltsf/etth1 model=mamba data.horizon=336 seed=2
    python -m tsssm.fit -m experiment=ltsf/etth1 model=s4,mamba,transformer seed=1,2,3
    python -m tsssm.fit experiment=bytes/shakespeare model=mamba trainer=ddp
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from tsssm.run.entry_point import hydra_entry_point
from tsssm.run import tracking
from tsssm.run.ddp import distributed_job
from tsssm.run.reports import log_run_figures
from tsssm.run.build import build, portable
from tsssm.run.checkpoint import RunRecord, read_checkpoint, recorded_config
from tsssm.run.short_runs import best_score, tested_weights
from tsssm.run.tracked_run import log_new_params, open_run, run_status

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
                    task: L.LightningModule) -> tuple[str, dict[str, str]]:
    """Run name and tags: forecasts by horizon (``h96``), sequence models by window (``L1024``),
    as the task names them."""
    horizon = task.run_horizon(cfg, datamodule)
    name = tracking.format_run_name(cfg.model.name, datamodule.dataset_name, horizon, cfg.seed)
    return name, tracking.run_tags(cfg.model.name, datamodule.dataset_name, horizon, cfg.seed)


def fit(cfg: DictConfig) -> dict[str, float]:
    """Train (unless the network has nothing to train), test the best checkpoint, log everything."""
    resumed = read_checkpoint(cfg.resume) if cfg.resume else None
    L.seed_everything(cfg.seed, workers=True)
    datamodule, task = build(cfg)
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    run_name, tags = run_description(cfg, datamodule, task)
    tracking_uri = cfg.logger.tracking_uri or tracking.default_tracking_uri()
    logger = open_run(experiment_name(cfg), run_name, tracking_uri, tags, resumed, cfg.resume)
    resolved = portable(OmegaConf.to_container(cfg, resolve=True))
    callbacks = [instantiate(c) for c in cfg.callbacks.values()]
    callbacks.append(RunRecord(recorded_config(cfg, resolved), logger, tracking_uri,
                               task.checkpoint_record(datamodule)))
    trainer = instantiate(cfg.trainer, logger=logger, callbacks=callbacks, default_root_dir=out_dir)
    with run_status(logger), distributed_job(trainer):
        n_params = sum(p.numel() for p in task.net.parameters() if p.requires_grad)
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
            for figure in log_run_figures(cfg, datamodule, task, out_dir, run_name):
                tracking.log_artifact(logger, figure, "plots")
            summary = "  ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items()))
            print(f"\n{run_name}: {summary}\nMLflow: experiment '{experiment_name(cfg)}', "
                  f"run {logger.run_id}, tracking URI {tracking_uri}\nOutputs: {out_dir}")
    return metrics


def log_run_start(logger, resolved: dict[str, Any], task: L.LightningModule,
                  datamodule: L.LightningDataModule, n_params: int, world_size: int,
                  out_dir: Path) -> None:
    """Params (the flattened config, size, world size, FLOPs per token) and the config file."""
    extra = {"n_params": str(n_params), "world_size": str(world_size)}
    metrics = {"n_params": float(n_params)}
    for name, value in task.start_metrics(datamodule).items():
        extra[name] = str(value)
        metrics[name] = value
    log_new_params(logger, {**tracking.flatten_config(resolved), **extra})
    logger.log_metrics(metrics)
    config_file = out_dir / "config.yaml"
    OmegaConf.save(resolved, config_file)
    tracking.log_artifact(logger, config_file)


@hydra_entry_point("fit")
def main(cfg: DictConfig) -> float:
    """Hydra entry point; returns the best validation value of the monitored metric, so that a
    sweeper tunes on validation and never on test."""
    return fit(cfg)[objective_name(cfg)]


if __name__ == "__main__":
    main()
