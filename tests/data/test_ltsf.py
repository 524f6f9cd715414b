"""The LTSF protocol on the real staged data: borders, window counts, scaling, modes and loaders."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tsssm.data.ltsf import LTSFDataModule
from tsssm.data.synthetic import synthetic_frame


def _ready(name: str | None = "ETTh1", **options) -> LTSFDataModule:
    module = LTSFDataModule(name, **options)
    module.setup("fit")
    return module


def _etth1_raw(shared_data: Path) -> np.ndarray:
    return pd.read_csv(shared_data / "ett" / "ETTh1.csv").drop(columns="date").to_numpy()


# Train part n_train - L - H + 1; val and test parts (their rows + L) - L - H + 1 = rows - H + 1.
@pytest.mark.parametrize(
    ("name", "lookback", "horizon", "counts"),
    [
        ("ETTh1", 96, 96, (8449, 2785, 2785)),  # 8640-191, 2880-95, 2880-95
        ("ETTh1", 336, 96, (8209, 2785, 2785)),  # 8640-431
        ("ETTh2", 96, 720, (7825, 2161, 2161)),  # 8640-815, 2880-719
        ("ETTm1", 96, 96, (34369, 11425, 11425)),  # 34560-191, 11520-95
        ("Exchange", 96, 96, (5120, 665, 1422)),  # 7588 rows: 5311 / 760 / 1517
        ("ILI", 36, 24, (617, 74, 170)),  # 966 rows: 676 / 97 / 193
        ("ILI", 104, 60, (513, 38, 134)),
    ],
)
def test_window_counts_follow_tsl(
    name: str, lookback: int, horizon: int, counts: tuple[int, int, int], shared_data: Path
) -> None:
    module = _ready(name, root=shared_data, lookback=lookback, horizon=horizon)
    assert tuple(len(module.datasets[split]) for split in ("train", "val", "test")) == counts


def test_scaler_is_fit_on_train_rows_only(shared_data: Path) -> None:
    raw = _etth1_raw(shared_data)
    module = _ready(root=shared_data)
    np.testing.assert_allclose(module.scaler_mean.numpy(), raw[:8640].mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(module.scaler_std.numpy(), raw[:8640].std(axis=0), rtol=1e-6)
    assert not np.allclose(module.scaler_mean.numpy(), raw.mean(axis=0), rtol=1e-3)
    assert module.scaler_mean.dtype == module.scaler_std.dtype == torch.float32


@pytest.mark.parametrize(("fraction", "kept"), [(0.05, 422), (0.5, 4224), (1.0, 8449)])
def test_a_training_fraction_keeps_the_latest_windows_and_leaves_the_rest(
    shared_data: Path, fraction: float, kept: int
) -> None:
    whole = _ready(root=shared_data, lookback=96, horizon=96)
    module = _ready(root=shared_data, lookback=96, horizon=96, train_fraction=fraction)
    assert len(module.datasets["train"]) == kept  # round(8449 x fraction)
    for index in (0, kept - 1):
        latest = whole.datasets["train"][8449 - kept + index]
        for part, whole_part in zip(module.datasets["train"][index], latest):
            assert torch.equal(part, whole_part)
    for split in ("val", "test"):
        assert torch.equal(module.datasets[split][0][0], whole.datasets[split][0][0])
    assert torch.equal(module.scaler_mean, whole.scaler_mean)


def test_val_and_test_windows_start_lookback_before_their_border(shared_data: Path) -> None:
    raw = _etth1_raw(shared_data)
    normalised = ((raw - raw[:8640].mean(axis=0)) / raw[:8640].std(axis=0)).astype(np.float32)
    module = _ready(root=shared_data, lookback=96, horizon=48)
    for split, border in (("val", 8640), ("test", 11520)):
        x, y = module.datasets[split][0]
        np.testing.assert_allclose(x.numpy(), normalised[border - 96 : border], atol=1e-6)
        np.testing.assert_allclose(y.numpy(), normalised[border : border + 48], atol=1e-6)
    _, last_y = module.datasets["test"][len(module.datasets["test"]) - 1]
    np.testing.assert_allclose(last_y.numpy(), normalised[14400 - 48 : 14400], atol=1e-6)
    assert (module.borders.test.start, module.borders.test.stop) == (11520 - 96, 14400)


def test_s_mode_keeps_only_the_target_scaled_by_its_own_train_stats(shared_data: Path) -> None:
    raw = _etth1_raw(shared_data)
    module = _ready(root=shared_data, features="S")
    assert module.channel_names == ["OT"] and module.n_channels == 1
    np.testing.assert_allclose(module.scaler_mean.numpy(), raw[:8640, -1:].mean(axis=0), rtol=1e-6)
    x, y = module.datasets["train"][0]
    assert x.shape == (96, 1) and y.shape == (96, 1)


def test_module_reports_what_models_and_metrics_need(shared_data: Path) -> None:
    module = _ready("ETTm1", root=shared_data)
    assert module.dataset_name == "ETTm1" and module.seasonal_period == 96
    assert module.channel_names == ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]
    assert LTSFDataModule("ETTm1", seasonal_period=4).seasonal_period == 4


def test_loaders_keep_every_window_and_only_train_shuffles(shared_data: Path) -> None:
    torch.manual_seed(0)
    module = _ready(root=shared_data, batch_size=1000)
    test_batches = list(module.test_dataloader())
    assert sum(len(x) for x, _ in test_batches) == 2785
    x, y = test_batches[0]
    assert x.shape == (1000, 96, 7) and y.shape == (1000, 96, 7) and x.dtype == y.dtype == torch.float32
    assert torch.equal(x[1], module.datasets["test"][1][0])
    predict_x, _ = next(iter(module.predict_dataloader()))
    assert torch.equal(predict_x, x)
    train_x, _ = next(iter(module.train_dataloader()))
    assert not torch.equal(train_x[0], module.datasets["train"][0][0])


def test_user_csv_and_parquet_use_the_ratio_split(tmp_path: Path) -> None:
    frame = synthetic_frame(n_rows=1000, n_channels=3)[["date", "x0", "x2", "x1"]]
    frame.to_csv(tmp_path / "mine.csv", index=False)
    frame.to_parquet(tmp_path / "mine.parquet")
    from_csv = _ready(None, path=tmp_path / "mine.csv", lookback=48, horizon=24, target="x2")
    from_parquet = _ready(None, path=tmp_path / "mine.parquet", lookback=48, horizon=24, target="x2")
    # 1000 rows: train 700, test 200, val 100.
    assert [len(from_csv.datasets[s]) for s in ("train", "val", "test")] == [700 - 71, 100 - 23, 200 - 23]
    assert from_csv.channel_names == ["x0", "x1", "x2"] and from_csv.dataset_name == "mine"
    assert from_csv.seasonal_period == 1
    for split in ("train", "test"):
        assert torch.equal(from_csv.datasets[split][5][0], from_parquet.datasets[split][5][0])


def test_synthetic_default_needs_no_file() -> None:
    module = _ready("synthetic", synthetic={"n_rows": 1200, "n_channels": 2, "seed": 1}, lookback=24, horizon=12)
    assert module.channel_names == ["x0", "x1"] and module.seasonal_period == 24
    assert len(module.datasets["train"]) == 840 - 35


def test_too_short_series_names_the_file_and_the_part(tmp_path: Path, shared_data: Path) -> None:
    synthetic_frame(n_rows=400).to_csv(tmp_path / "short.csv", index=False)
    too_short = (r"short\.csv: the val part of the 'ratio' split of 400 rows has 136 rows \(\[184, 320\), "
                 r"lookback included\), but one window needs 192 \(lookback 96 \+ horizon 96\)")
    with pytest.raises(ValueError, match=too_short):
        _ready(None, path=tmp_path / "short.csv", lookback=96, horizon=96)
    with pytest.raises(ValueError, match=r"ETTh1\.csv: the train part .* has 8640 rows .* needs 8696"):
        _ready(root=shared_data, lookback=8600, horizon=96)


def test_unhashed_registry_file_is_checked_by_shape(tmp_path: Path) -> None:
    (tmp_path / "ett").mkdir()
    frame = synthetic_frame(n_rows=100, n_channels=7)
    frame.columns = ["date", "HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]
    frame.to_csv(tmp_path / "ett" / "ETTm2.csv", index=False)
    with pytest.raises(ValueError, match=r"ETTm2\.csv: expected 69680 rows × 7 variables .* got 100 × 7"):
        _ready("ETTm2", root=tmp_path)


def test_bad_arguments_and_early_access_are_errors() -> None:
    with pytest.raises(ValueError, match="exactly one of name"):
        LTSFDataModule("ETTh1", path="x.csv")
    with pytest.raises(ValueError, match="features must be"):
        LTSFDataModule("ETTh1", features="MS")
    with pytest.raises(ValueError, match="lookback must be a positive integer"):
        LTSFDataModule("ETTh1", lookback=0)
    for fraction in (0, 1.5, "half"):
        with pytest.raises(ValueError, match="train_fraction must be a number in"):
            LTSFDataModule("ETTh1", train_fraction=fraction)
    with pytest.raises(RuntimeError, match="call setup"):
        LTSFDataModule("ETTh1").n_channels
