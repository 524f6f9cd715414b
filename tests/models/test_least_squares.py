"""model=lstsq: the closed-form least-squares forecaster, solved by fit on the training windows alone."""

from __future__ import annotations

import runpy

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

import tsssm
from tests.compose import FAST, REPO, compose_fit
from tsssm.data.ltsf import LTSFDataModule
from tsssm.data.synthetic import synthetic_frame
from tsssm.data.windows import WindowDataset
from tsssm.fit import fit
from tsssm.models.least_squares import LeastSquares
from tsssm.models.shape import ForecastShape
from tsssm.run.checkpoint import load_task

SCRIPT = runpy.run_path(str(REPO / "scripts" / "lstsq_baseline.py"))
QUIET = ["trainer.enable_progress_bar=false", "plot_windows=1"]


def solved(checkpoint) -> np.ndarray:
    """The checkpoint's weights as the script lays them out: ``(lookback + 1, horizon)``."""
    net = load_task(checkpoint, stage=None).task.net
    return torch.cat([net.weight, net.bias[None]]).double().numpy()


def test_fit_reproduces_the_reference_script_on_etth1(tmp_path):
    metrics = fit(compose_fit(tmp_path, ["experiment=ltsf/etth1", "model=lstsq", "data.lookback=96",
                                         "data.horizon=24", f"logger.tracking_uri=sqlite:///{tmp_path}/m.db",
                                         *QUIET]))
    data = LTSFDataModule(name="ETTh1", lookback=96, horizon=24)
    data.setup("fit")
    expected = SCRIPT["least_squares"](*SCRIPT["channel_rows"](data.datasets["train"]))
    weights = solved(tmp_path / "outputs" / "checkpoints" / "best.ckpt")
    np.testing.assert_allclose(weights, expected, rtol=1e-6, atol=1e-6 * np.abs(expected).max())
    x_test, y_test = SCRIPT["channel_rows"](data.datasets["test"])
    script_mse = np.mean((SCRIPT["predict"](expected, x_test) - y_test) ** 2)
    assert metrics["test/mse"] == pytest.approx(script_mse, rel=1e-5)


def test_a_series_linear_in_its_past_is_forecast_exactly():
    """``s[t] = 1.6 s[t-1] - 0.8 s[t-2] + 0.2``: every future step is linear in the last two."""
    series = torch.zeros(80, 2, dtype=torch.float64)
    series[:2] = torch.tensor([[1.0, -3.0], [0.5, 2.0]], dtype=torch.float64)
    for t in range(2, len(series)):
        series[t] = 1.6 * series[t - 1] - 0.8 * series[t - 2] + 0.2
    series = series.float()
    net = LeastSquares(ForecastShape(lookback=2, horizon=5, n_channels=2))
    net.fit_closed_form(DataLoader(WindowDataset(series[:40], 2, 5), batch_size=7))
    x, y = next(iter(DataLoader(WindowDataset(series[40:], 2, 5), batch_size=100)))
    torch.testing.assert_close(net(x), y, rtol=0, atol=1e-4)
    torch.testing.assert_close(net.weight[:, 0], torch.tensor([-0.8, 1.6]), rtol=0, atol=1e-4)


def test_the_solve_never_reads_validation_or_test_rows(tmp_path, monkeypatch):
    """Rows after the train part changed: the weights stay, the test error moves."""
    frame = synthetic_frame(n_rows=700, n_channels=2)
    changed = frame.copy()
    changed.iloc[490:, 1:] = changed.iloc[490:, 1:] * 3.0 + 5.0  # train part: the first 70%
    monkeypatch.chdir(tmp_path)
    runs = {}
    for name, table in {"kept": frame, "changed": changed}.items():
        table.to_csv(tmp_path / f"{name}.csv", index=False)
        overrides = [o for o in FAST if not o.startswith("data.synthetic")]
        metrics = fit(compose_fit(tmp_path / name, ["data=csv", f"data.path={name}.csv", "model=lstsq",
                                                    f"logger.tracking_uri=sqlite:///{tmp_path}/m.db",
                                                    *overrides]))
        runs[name] = metrics, tmp_path / name / "outputs" / "checkpoints" / "best.ckpt"
    np.testing.assert_array_equal(solved(runs["kept"][1]), solved(runs["changed"][1]))
    assert runs["kept"][0]["test/mse"] != pytest.approx(runs["changed"][0]["test/mse"])


def test_its_checkpoint_forecasts_through_the_python_api(tmp_path):
    fit(compose_fit(tmp_path, ["model=lstsq", f"logger.tracking_uri=sqlite:///{tmp_path}/m.db", *FAST]))
    checkpoint = tmp_path / "outputs" / "checkpoints" / "best.ckpt"
    task = load_task(checkpoint, stage=None).task
    assert task.net.weight.abs().sum() > 0, "the solved weights are in the checkpoint"
    frame = synthetic_frame(n_rows=100, n_channels=task.shape.n_channels)
    table = tsssm.load(checkpoint).predict(frame)
    window = torch.tensor(frame.iloc[-48:, 1:].to_numpy(), dtype=torch.float32)
    expected = task.predict_step(((window - task.scaler_mean) / task.scaler_std)[None], 0)[0]
    assert isinstance(table, pd.DataFrame) and len(table) == 12 * task.shape.n_channels
    np.testing.assert_allclose(np.sort(table["lstsq"].to_numpy()), np.sort(expected.flatten().numpy()),
                               rtol=1e-5)


def test_it_refuses_quantiles_and_a_negative_ridge():
    with pytest.raises(ValueError, match="task.loss=mse with model=lstsq"):
        LeastSquares(ForecastShape(lookback=4, horizon=2, n_channels=1, n_quantiles=3))
    with pytest.raises(ValueError, match="model.net.ridge must be 0 or positive, got -1"):
        LeastSquares(ForecastShape(lookback=4, horizon=2, n_channels=1), ridge=-1.0)
