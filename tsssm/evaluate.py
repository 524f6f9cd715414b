"""``python -m tsssm.evaluate``: test a trained checkpoint again, on one process or many.

Rebuilds the data module and network from the checkpoint's own config
(``tsssm.run.checkpoint.load_task``), with ``overrides`` merged over it (e.g. an S4 model trained at 8 kHz run at 16 kHz:
``+overrides.data.sample_rate=16000 +overrides.model.backbone.mixers.s.rate=0.5``), runs Lightning's
test on the split and, with ``predictions=PATH``, writes every window's prediction to one Parquet
table. Under DDP (``trainer=ddp``) every window is evaluated exactly once, so metrics and
predictions equal a single-process run's. Examples::

    python -m tsssm.evaluate checkpoint=outputs/.../checkpoints/best.ckpt
    python -m tsssm.evaluate checkpoint=best.ckpt trainer=ddp predictions=test_predictions.parquet
"""

from __future__ import annotations

import json
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from tsssm.data.atomic import write_text_atomically
from tsssm.run.checkpoint import load_task
from tsssm.run.ddp import distributed_job
from tsssm.run.entry_point import hydra_entry_point
from tsssm.run.outputs import check_destination, check_not_an_input, data_locations
from tsssm.run.predictions import GatheredPredictions


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Test metrics of the checkpoint (and its predictions when asked), written to metrics.json."""
    overrides = OmegaConf.to_container(cfg.overrides, resolve=True) if cfg.overrides else None
    if cfg.predictions:
        check_destination(Path(cfg.predictions), [Path(cfg.checkpoint)], "predictions")
    loaded = load_task(cfg.checkpoint, overrides, stage="test")
    task, datamodule = loaded.task, loaded.datamodule
    if cfg.predictions:
        check_not_an_input(Path(cfg.predictions), data_locations(loaded.config), "predictions")
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    callbacks = []
    if cfg.predictions:
        n_windows = len(datamodule.test_dataloader().dataset)
        callbacks.append(GatheredPredictions(Path(cfg.predictions).absolute(), n_windows,
                                             task.prediction_axes, task.prediction_value))
    trainer = instantiate(cfg.trainer, logger=False, callbacks=callbacks, default_root_dir=out_dir,
                          enable_checkpointing=False)
    with distributed_job(trainer):
        metrics = {k: float(v) for k, v in trainer.test(task, datamodule=datamodule)[0].items()}
        if cfg.predictions:
            trainer.predict(task, datamodule=datamodule)
        if trainer.is_global_zero:
            result = {"checkpoint": str(Path(cfg.checkpoint).absolute()), "metrics": metrics,
                      "world_size": trainer.world_size, "overrides": overrides or {}}
            write_text_atomically(out_dir / "metrics.json",
                                  json.dumps(result, indent=2, sort_keys=True))
            print(json.dumps(result, indent=2, sort_keys=True))
    return metrics


@hydra_entry_point("evaluate")
def main(cfg: DictConfig) -> None:
    evaluate(cfg)


if __name__ == "__main__":
    main()
