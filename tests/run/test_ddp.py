"""DDP on the CPU (gloo, two processes): one run and one directory per job, every window once.

These run the real command lines, because Lightning's DDP launcher re-runs the command line for
rank 1: a multirun of two models, then the same checkpoint evaluated on one process and on two.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from tests import cli
from tsssm.run import tracking

# 700 synthetic rows, lookback 48, horizon 12: 129 test windows, an odd count, so a padding
# sampler would evaluate one window twice on two ranks.
TINY = ["data.lookback=48", "data.horizon=12", "data.synthetic.n_rows=700", "trainer.max_epochs=1",
        "+trainer.limit_train_batches=3", "trainer.enable_progress_bar=false"]
DDP = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"]


def run_module(module: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    result = cli.run_module(module, args, cwd)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


@pytest.fixture(scope="module")
def ddp_sweep(tmp_path_factory) -> Path:
    """A two-job multirun (dlinear, mamba), each job trained on two processes."""
    root = tmp_path_factory.mktemp("ddp")
    run_module("tsssm.fit", ["-m", "model=dlinear,mamba", "hydra.sweep.dir=sweep", *DDP, *TINY], root)
    return root


def test_multirun_with_ddp_makes_one_run_and_one_directory_per_job(ddp_sweep):
    runs = tracking.search_runs("default", f"sqlite:///{ddp_sweep}/mlflow.db")
    assert sorted(runs["tags.mlflow.runName"]) == ["dlinear-synthetic-h12-s1", "mamba-synthetic-h12-s1"]
    assert runs["params.world_size"].tolist() == ["2", "2"]
    assert sorted(p.name for p in (ddp_sweep / "sweep").iterdir() if p.is_dir()) == ["0", "1"]
    assert not (ddp_sweep / "outputs").exists(), "a DDP child made a directory of its own"
    for job in ("0", "1"):
        assert sorted(p.name for p in (ddp_sweep / "sweep" / job / "checkpoints").iterdir()) == [
            "best.ckpt", "last.ckpt"]


def test_ddp_evaluation_equals_one_process(ddp_sweep):
    checkpoint = ddp_sweep / "sweep" / "1" / "checkpoints" / "best.ckpt"
    outputs = {}
    for name, trainer in (("one", []), ("two", DDP)):
        run_module("tsssm.evaluate", [f"checkpoint={checkpoint}", f"predictions={name}.parquet",
                                      f"hydra.run.dir={name}", "trainer.enable_progress_bar=false",
                                      *trainer], ddp_sweep)
        outputs[name] = (json.loads((ddp_sweep / name / "metrics.json").read_text()),
                         pd.read_parquet(ddp_sweep / f"{name}.parquet"))
    (one_metrics, one), (two_metrics, two) = outputs["one"], outputs["two"]
    assert two_metrics["world_size"] == 2 and one_metrics["world_size"] == 1
    for key, value in one_metrics["metrics"].items():
        assert two_metrics["metrics"][key] == pytest.approx(value, rel=1e-6), key
    windows = one["window"].unique()
    assert len(windows) == 129 and windows.tolist() == list(range(129))
    pd.testing.assert_frame_equal(one, two)


def test_ddp_evaluation_of_a_byte_model_equals_one_process(trained, tmp_path):
    """Sequence metrics are sums reduced over ranks: bits per byte on two processes equal one's."""
    outputs = {}
    for name, trainer in (("one", []), ("two", DDP)):
        run_module("tsssm.evaluate", [f"checkpoint={trained['bytes']}", f"predictions={name}.parquet",
                                      f"hydra.run.dir={name}", "trainer.enable_progress_bar=false",
                                      *trainer], tmp_path)
        outputs[name] = (json.loads((tmp_path / name / "metrics.json").read_text())["metrics"],
                         pd.read_parquet(tmp_path / f"{name}.parquet"))
    (one_metrics, one), (two_metrics, two) = outputs["one"], outputs["two"]
    assert set(one_metrics) >= {"test/bits_per_byte", "test/bits_per_token", "test/accuracy"}
    for key, value in one_metrics.items():
        assert two_metrics[key] == pytest.approx(value, rel=1e-6), key
    assert one["window"].nunique() % 2 == 1, "an odd window count exercises the unpadded split"
    pd.testing.assert_frame_equal(one, two)
