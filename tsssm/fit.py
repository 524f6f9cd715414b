"""``python -m tsssm.fit``: train and test one model on one dataset, tracked in MLflow.

Wires the Hydra config to objects (data module, network, task, trainer, logger) and runs
Lightning's fit and test; no model maths lives here. Examples::

    python -m tsssm.fit                                   # embedded default, about a minute on CPU
    python -m tsssm.fit +experiment=ltsf/etth1 model=mamba data.horizon=336 seed=2
    python -m tsssm.fit -m +experiment=ltsf/etth1 model=s4,mamba,transformer seed=1,2,3
"""

from __future__ import annotations

from pathlib import Path

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from tsssm import tracking
from tsssm.models.shape import ForecastShape
from tsssm.plots import plot_forecasts


def experiment_name(cfg: DictConfig) -> str:
    """The configured MLflow experiment, else the Hydra experiment (``ltsf/etth1``), else ``default``."""
    if cfg.logger.experiment_name:
        return str(cfg.logger.experiment_name)
    return HydraConfig.get().runtime.choices.get("experiment") or "default"


def build(cfg: DictConfig) -> tuple[L.LightningDataModule, L.LightningModule]:
    """The data module (set up for fitting) and the task wrapping the configured network."""
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    shape = ForecastShape(lookback=cfg.data.lookback, horizon=cfg.data.horizon,
                          n_channels=datamodule.n_channels, period=datamodule.seasonal_period)
    net = instantiate(cfg.model.net)(shape=shape)
    task = instantiate(cfg.task, net=net, scaler_mean=datamodule.scaler_mean,
                       scaler_std=datamodule.scaler_std)
    return datamodule, task


def log_forecast_plot(cfg: DictConfig, datamodule, task: L.LightningModule, out_dir: Path,
                      title: str) -> Path:
    """Plot ``cfg.plot_windows`` evenly spaced test windows of the target (or last) channel."""
    dataset = datamodule.test_dataloader().dataset
    picks = torch.linspace(0, len(dataset) - 1, max(1, cfg.plot_windows)).long().tolist()
    x = torch.stack([dataset[i][0] for i in picks])
    y = torch.stack([dataset[i][1] for i in picks])
    names = list(datamodule.channel_names)
    channel = names.index(datamodule.target) if datamodule.target in names else len(names) - 1
    task.eval()
    with torch.no_grad():
        forecast = task.predict_step((x.to(task.device),), 0).cpu()
    history, truth = task.to_original(x.to(task.device)).cpu(), task.to_original(y.to(task.device)).cpu()
    return plot_forecasts(history[..., channel].numpy(), truth[..., channel].numpy(),
                          forecast[..., channel].numpy(), names[channel],
                          out_dir / "plots" / "forecast.png", title)


def fit(cfg: DictConfig) -> dict[str, float]:
    """Train (unless the network has nothing to train), test the best checkpoint, log everything."""
    L.seed_everything(cfg.seed, workers=True)
    datamodule, task = build(cfg)
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    run_name = tracking.format_run_name(cfg.model.name, datamodule.dataset_name, cfg.data.horizon,
                                        cfg.seed)
    tags = tracking.run_tags(cfg.model.name, datamodule.dataset_name, cfg.data.horizon, cfg.seed)
    tracking_uri = cfg.logger.tracking_uri or tracking.default_tracking_uri()
    logger = tracking.make_mlflow_logger(experiment_name(cfg), run_name, tracking_uri, tags)
    callbacks = [instantiate(c) for c in cfg.callbacks.values()]
    trainer = instantiate(cfg.trainer, logger=logger, callbacks=callbacks, default_root_dir=out_dir)
    n_params = sum(p.numel() for p in task.net.parameters() if p.requires_grad)
    if trainer.is_global_zero:
        resolved = OmegaConf.to_container(cfg, resolve=True)
        tracking.log_params(logger, {**tracking.flatten_config(resolved),
                                     "n_params": str(n_params),
                                     "world_size": str(trainer.world_size)})
        logger.log_metrics({"n_params": float(n_params)})
        config_file = out_dir / "config.yaml"
        OmegaConf.save(resolved, config_file)
        tracking.log_artifact(logger, config_file)
    if n_params:
        trainer.fit(task, datamodule=datamodule, ckpt_path=cfg.resume)
        logger.log_metrics({"val/best_mse": float(trainer.checkpoint_callback.best_model_score)})
        results = trainer.test(task, datamodule=datamodule, ckpt_path="best")
    else:
        results = trainer.test(task, datamodule=datamodule)
    metrics = {k: float(v) for k, v in results[0].items()}
    if trainer.is_global_zero:
        best = trainer.checkpoint_callback.best_model_path if n_params else ""
        if best:
            tracking.log_artifact(logger, Path(best), "checkpoints")
        plot = log_forecast_plot(cfg, datamodule, task, out_dir, run_name)
        tracking.log_artifact(logger, plot, "plots")
        summary = "  ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items()))
        print(f"\n{run_name}: {summary}\nMLflow: experiment '{experiment_name(cfg)}', "
              f"run {logger.run_id}, tracking URI {tracking_uri}\nOutputs: {out_dir}")
    return metrics


@hydra.main(version_base="1.3", config_path="../conf", config_name="fit")
def main(cfg: DictConfig) -> float:
    """Hydra entry point; returns the test MSE so sweepers can optimise it."""
    return fit(cfg)["test/mse"]


if __name__ == "__main__":
    main()
