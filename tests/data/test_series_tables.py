"""Forecast input refused by the checks training shares: inf among the rows a model reads, and a
file without data rows."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tsssm.data.series_tables import read_series
from tsssm.data.synthetic import synthetic_frame

CHANNELS = ["x0", "x1"]
LOOKBACK = 8


def stores(tmp_path: Path, value: float, row: int) -> Path:
    """Two series in long format, 12 rows each (rows 0-11 'north', 12-23 'shop'); x1 at ``row`` set."""
    one = synthetic_frame(n_rows=12, n_channels=2).rename(columns={"date": "ds"})
    frame = pd.concat([one.assign(unique_id="north"), one.assign(unique_id="shop")], ignore_index=True)
    frame.loc[row, "x1"] = value
    path = tmp_path / "stores.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_inf_in_the_lookback_names_file_series_row_and_column(tmp_path: Path, value: float) -> None:
    with pytest.raises(ValueError) as error:
        read_series(stores(tmp_path, value, 20), "auto", CHANNELS, LOOKBACK, [])
    message = str(error.value)
    assert message.startswith(f"series 'shop' of input {tmp_path / 'stores.csv'}: 1 infinite values "
                              f"(inf or -inf) in the last lookback={LOOKBACK} rows, the first at row 20 ")
    assert "in columns ['x1']; expected finite numbers" in message and "\n" not in message


def test_inf_before_the_lookback_is_not_read_so_not_refused(tmp_path: Path) -> None:
    series = read_series(stores(tmp_path, np.inf, 13), "auto", CHANNELS, LOOKBACK, [])
    assert [s.unique_id for s in series] == ["north", "shop"]
    assert np.isfinite(series[1].values[-LOOKBACK:]).all()


def test_header_only_input_is_refused_as_training_refuses_it(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("ds,unique_id,x0,x1\n")
    with pytest.raises(ValueError, match=r"empty\.csv: header only, no data rows \(columns \['ds', "):
        read_series(path, "auto", CHANNELS, LOOKBACK, [])
