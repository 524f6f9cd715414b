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

from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from tsssm import tracking
from tsssm.ddp import distributed_job
from tsssm.models.flops import forward_flops_per_token
from tsssm.models.shape import ForecastShape
from tsssm.reports import log_run_figures
from tsssm.runs import DATA_LOCATIONS, RunRecord, recorded_config

SEQUENCE_TASK = "tsssm.tasks.language_model.LanguageModelTask"


def experiment_name(cfg: DictConfig) -> str:
    """The configured MLflow experiment, else the Hydra experiment (``ltsf/etth1``), else ``default``."""
    if cfg.logger.experiment_name:
        return str(cfg.logger.experiment_name)
    return HydraConfig.get().runtime.choices.get("experiment") or "default"


def is_sequence_data(datamodule: L.LightningDataModule) -> bool:
    """Token data (audio samples, bytes, BPE, recall) rather than multivariate series."""
    return hasattr(datamodule, "vocab_size")


def network_inputs(cfg: DictConfig, datamodule: L.LightningDataModule) -> tuple[dict, dict]:
    """What the data decides about the network (its shape) and the task (units, scalers)."""
    if is_sequence_data(datamodule):
        if "backbone" not in cfg.model:
            raise ValueError(f"model={cfg.model.name} has no backbone; sequence modelling needs a "
                             "backbone model (s4, s4d, mamba, mamba2, transformer, hybrid, lstm)")
        return {"vocab_size": datamodule.vocab_size}, {"unit": datamodule.unit}
    shape = ForecastShape(lookback=cfg.data.lookback, horizon=cfg.data.horizon,
                          n_channels=datamodule.n_channels, period=datamodule.seasonal_period)
    return {"shape": shape}, {"scaler_mean": datamodule.scaler_mean,
                              "scaler_std": datamodule.scaler_std}


def build(cfg: DictConfig, stage: str = "fit") -> tuple[L.LightningDataModule, L.LightningModule]:
    """The data module (set up for ``stage``) and the task wrapping the configured network."""
    datamodule = instantiate(cfg.data)
    wants_sequences = cfg.task._target_ == SEQUENCE_TASK
    if wants_sequences != is_sequence_data(datamodule):
        kind = "token sequences" if wants_sequences else "multivariate series"
        raise ValueError(f"task {cfg.task._target_} needs {kind}, but data {cfg.data._target_} "
                         "gives the other kind: pick an experiment that pairs them "
                         "(ltsf/* for forecasting; waveform/*, bytes/*, recall/* for sequences)")
    datamodule.prepare_data()
    datamodule.setup(stage)
    return datamodule, build_task(cfg, *network_inputs(cfg, datamodule))


def build_task(cfg: DictConfig, net_inputs: dict, task_inputs: dict) -> L.LightningModule:
    """The configured task around the configured network, given what the data decides of each."""
    net = instantiate(cfg.task.net)(**net_inputs)
    return instantiate(cfg.task, net=net, **task_inputs)


def series_record(datamodule: L.LightningDataModule) -> dict[str, Any] | None:
    """What a forecast of new series needs from the training data, kept in the checkpoint
    (``tsssm.runs.RunRecord``); None for sequence data."""
    if is_sequence_data(datamodule):
        return None
    channels = list(datamodule.channel_names)
    return {"channel_names": channels, "target": channels[-1], "features": datamodule.features,
            "freq": datamodule.freq, "seasonal_period": datamodule.seasonal_period}


def monitored(cfg: DictConfig) -> str:
    """The validation metric that picks the best checkpoint, without its ``val/`` prefix."""
    return str(cfg.callbacks.checkpoint.monitor).removeprefix("val/")


def run_description(cfg: DictConfig, datamodule: L.LightningDataModule) -> tuple[str, dict[str, str]]:
    """Run name and tags: forecasts by horizon (``h96``), sequence models by window (``L1024``)."""
    horizon = f"L{datamodule.seq_len}" if is_sequence_data(datamodule) else cfg.data.horizon
    name = tracking.format_run_name(cfg.model.name, datamodule.dataset_name, horizon, cfg.seed)
    return name, tracking.run_tags(cfg.model.name, datamodule.dataset_name, horizon, cfg.seed)


def portable(resolved: dict[str, Any]) -> dict[str, Any]:
    """The resolved config with its data root and user file (``DATA_LOCATIONS``) made absolute, so
    that the logged config (and the checkpoint's: ``tsssm.runs.recorded_config``) finds the data
    from any working directory."""
    data = resolved.get("data", {})
    for field in DATA_LOCATIONS:
        if data.get(field):
            data[field] = str(Path(data[field]).absolute())
    return resolved


def fit(cfg: DictConfig) -> dict[str, float]:
    """Train (unless the network has nothing to train), test the best checkpoint, log everything."""
    L.seed_everything(cfg.seed, workers=True)
    datamodule, task = build(cfg)
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    run_name, tags = run_description(cfg, datamodule)
    tracking_uri = cfg.logger.tracking_uri or tracking.default_tracking_uri()
    logger = tracking.make_mlflow_logger(experiment_name(cfg), run_name, tracking_uri, tags)
    resolved = portable(OmegaConf.to_container(cfg, resolve=True))
    callbacks = [instantiate(c) for c in cfg.callbacks.values()]
    callbacks.append(RunRecord(recorded_config(cfg, resolved), logger, tracking_uri,
                               series_record(datamodule)))
    trainer = instantiate(cfg.trainer, logger=logger, callbacks=callbacks, default_root_dir=out_dir)
    with distributed_job(trainer):
        n_params = sum(p.numel() for p in task.net.parameters() if p.requires_grad)
        if trainer.is_global_zero:
            log_run_start(logger, resolved, task, datamodule, n_params, trainer.world_size, out_dir)
        if n_params:
            trainer.fit(task, datamodule=datamodule, ckpt_path=cfg.resume)
            best = float(trainer.checkpoint_callback.best_model_score)
            logger.log_metrics({f"val/best_{monitored(cfg)}": best,
                                "trained_steps": float(trainer.global_step)})
            results = trainer.test(task, datamodule=datamodule, ckpt_path="best")
        else:
            results = trainer.test(task, datamodule=datamodule)
        metrics = {k: float(v) for k, v in results[0].items()}
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
    if is_sequence_data(datamodule):
        ids = torch.zeros(1, datamodule.seq_len, dtype=torch.long, device=task.device)
        flops = forward_flops_per_token(task.net, ids)
        extra["flops_per_token"] = str(flops)
        metrics["flops_per_token"] = float(flops)
    tracking.log_params(logger, {**tracking.flatten_config(resolved), **extra})
    logger.log_metrics(metrics)
    config_file = out_dir / "config.yaml"
    OmegaConf.save(resolved, config_file)
    tracking.log_artifact(logger, config_file)


@hydra.main(version_base="1.3", config_path="../conf", config_name="fit")
def main(cfg: DictConfig) -> float:
    """Hydra entry point; returns the monitored test metric so sweepers can optimise it."""
    return fit(cfg)[f"test/{monitored(cfg)}"]


if __name__ == "__main__":
    main()
