"""evaluate: a checkpoint tested again from its own config, with overrides merged over it."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from tests.compose import FAST, compose_fit
from tsssm.evaluate import evaluate
from tsssm.fit import fit
from tsssm.run.checkpoint import CheckpointError


def evaluate_with(tmp_path, checkpoint, *overrides: str) -> dict[str, float]:
    return evaluate(compose_fit(tmp_path, [f"checkpoint={checkpoint}", *overrides], "evaluate"))


def test_an_s4_model_trained_at_8khz_is_evaluated_at_16khz(trained, tmp_path):
    plain = evaluate_with(tmp_path / "plain", trained["audio"])
    faster = evaluate_with(tmp_path / "16k", trained["audio"], "+overrides.data.sample_rate=16000",
                           "+overrides.model.backbone.mixers.s.rate=0.5")
    assert math.isfinite(faster["test/bits_per_sample"])
    assert faster["test/bits_per_sample"] != pytest.approx(plain["test/bits_per_sample"], rel=1e-6)
    report = json.loads((tmp_path / "16k" / "outputs" / "metrics.json").read_text())
    assert report["overrides"] == {"data": {"sample_rate": 16000},
                                   "model": {"backbone": {"mixers": {"s": {"rate": 0.5}}}}}
    assert report["metrics"] == faster and report["world_size"] == 1


def test_an_override_outside_the_checkpoints_config_is_refused(trained, tmp_path):
    with pytest.raises(ValueError, match=r"override model.backbone.mixers.x.rate: the config of "
                                         r"checkpoint .* has no section 'model.backbone.mixers.x'"):
        evaluate_with(tmp_path, trained["audio"], "+overrides.model.backbone.mixers.x.rate=0.5")


def test_a_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(CheckpointError, match="nowhere.ckpt does not exist"):
        evaluate_with(tmp_path, tmp_path / "nowhere.ckpt")


def test_a_baseline_without_a_backbone_is_evaluated_like_its_training_run(tmp_path):
    trained = fit(compose_fit(tmp_path / "train", ["model=dlinear", *FAST,
                                                   f"logger.tracking_uri=sqlite:///{tmp_path}/m.db"]))
    checkpoint = tmp_path / "train" / "outputs" / "checkpoints" / "best.ckpt"
    again = evaluate_with(tmp_path / "again", checkpoint)
    assert again["test/mse"] == pytest.approx(trained["test/mse"], rel=1e-6)


def test_a_quantile_model_is_tested_for_coverage_and_predicts_every_quantile(forecasters,
                                                                            tmp_path):
    metrics = evaluate_with(tmp_path, forecasters["quantile"],
                            f"predictions={tmp_path / 'predictions.parquet'}")
    assert {"test/mse", "test/mae", "test/coverage_80", "test/coverage_90"} <= set(metrics)
    predictions = pd.read_parquet(tmp_path / "predictions.parquet")
    assert list(predictions.columns) == ["window", "step", "channel", "quantile", "forecast"]
    assert sorted(predictions["quantile"].unique()) == [0, 1, 2, 3, 4]
    ordered = predictions.pivot_table(index=["window", "step", "channel"], columns="quantile",
                                      values="forecast").to_numpy()
    assert (np.diff(ordered, axis=1) >= 0).all()
