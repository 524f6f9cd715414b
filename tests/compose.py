"""Shared by the tests that compose an entry point's config as its command line would."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

REPO = Path(__file__).resolve().parents[1]
FAST = ["data.lookback=48", "data.horizon=12", "data.synthetic.n_rows=700", "trainer.max_epochs=1",
        "+trainer.limit_train_batches=3", "+trainer.limit_val_batches=2",
        "trainer.enable_progress_bar=false", "plot_windows=2"]


def compose_fit(tmp_path: Path, overrides: list[str], entry_point: str = "fit"):
    """The config `python -m tsssm.fit OVERRIDES` (or another entry point's) would run, with Hydra's
    runtime set as it would be."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(entry_point, overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(tmp_path / "outputs")
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg
