"""``predict_frame``: the forecasts of series given as a DataFrame, as the forecast command makes
them from files."""

from __future__ import annotations

import pandas as pd
import pytest

from tsssm.data.synthetic import synthetic_frame
from tsssm.forecast import forecast_files
from tsssm.frame_forecast import predict_frame
from tsssm.run.checkpoint import load_task
from tsssm.tasks.forecast import ForecastTask


@pytest.fixture(scope="module")
def loaded(forecasters):
    return load_task(forecasters["dlinear"], expect=ForecastTask, stage=None)


def long_frame(frame: pd.DataFrame, ids: list[str]) -> pd.DataFrame:
    """``frame`` once per id, in long format."""
    return pd.concat([frame.rename(columns={"date": "ds"}).assign(unique_id=uid) for uid in ids],
                     ignore_index=True)


def test_a_long_frame_is_forecast_as_its_file_is(loaded, forecasters, tmp_path):
    frame = long_frame(synthetic_frame(n_rows=80, n_channels=4), ["a", "b"])
    forecasts = predict_frame(loaded, frame)
    frame.to_csv(tmp_path / "long.csv", index=False)
    expected = forecast_files(forecasters["dlinear"], tmp_path / "long.csv", tmp_path / "out.csv")
    pd.testing.assert_frame_equal(forecasts, expected)
    assert sorted(forecasts["unique_id"].unique()) == ["a", "b"]


def test_a_wide_frame_is_one_series(loaded):
    forecasts = predict_frame(loaded, synthetic_frame(n_rows=60, n_channels=4))
    assert set(forecasts["unique_id"]) == {"series"} and len(forecasts) == 12 * 4


@pytest.mark.parametrize("given, message", [
    (pd.DataFrame(), "expected a non-empty pandas DataFrame of series, got DataFrame with no rows"),
    ({"x0": [1.0]}, "expected a non-empty pandas DataFrame of series, got dict"),
    (synthetic_frame(n_rows=60, n_channels=4).drop(columns="x2"),
     r"input frame: missing channel columns \['x2'\]"),
    (synthetic_frame(n_rows=20, n_channels=4), "20 rows, but the model reads the last lookback=48"),
])
def test_bad_frames_are_refused_by_name(loaded, given, message):
    with pytest.raises(ValueError, match=message):
        predict_frame(loaded, given)
