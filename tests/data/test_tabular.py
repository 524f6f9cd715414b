"""Reading tables and the errors bad tables raise."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tsssm.data.tabular import check_shape, read_frame, select_channels, table_format, variables


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {"date": ["2020-01-01", "2020-01-02", "2020-01-03"], "a": [1.0, 2.0, 3.0], "OT": [4.0, 5.0, 6.0]}
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [("x.csv", "wide_csv"), ("x.CSV.gz", "wide_csv"), ("x.parquet", "parquet"), ("x.txt.gz", "lstnet_txt")],
)
def test_format_from_file_name(name: str, expected: str) -> None:
    assert table_format(Path(name)) == expected


def test_unknown_extension_names_file_and_supported(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"series\.xlsx: unsupported file extension.*\.parquet"):
        read_frame(tmp_path / "series.xlsx")


def test_csv_gz_and_parquet_read_the_same(tmp_path: Path) -> None:
    _frame().to_csv(tmp_path / "s.csv.gz", index=False)
    _frame().to_parquet(tmp_path / "s.parquet")
    from_csv = variables(read_frame(tmp_path / "s.csv.gz"), "csv")
    from_parquet = variables(read_frame(tmp_path / "s.parquet"), "parquet")
    assert from_csv[1] == from_parquet[1] == ["a", "OT"]
    np.testing.assert_array_equal(from_csv[0], from_parquet[0])


def test_registry_format_must_match_the_file_name(tmp_path: Path) -> None:
    _frame().to_csv(tmp_path / "s.csv", index=False)
    with pytest.raises(ValueError, match="registry expects 'lstnet_txt'"):
        read_frame(tmp_path / "s.csv", "lstnet_txt")


def test_non_numeric_column_is_named() -> None:
    frame = _frame().assign(kind=["x", "y", "z"])
    with pytest.raises(ValueError, match=r"f\.csv: non-numeric columns kind"):
        variables(frame, "f.csv")


def test_other_date_column_name_hints() -> None:
    frame = _frame().rename(columns={"date": "timestamp"})
    with pytest.raises(ValueError, match="date_column=<its name>"):
        variables(frame, "f.csv")
    assert variables(frame, "f.csv", date_column="timestamp")[1] == ["a", "OT"]


def test_nans_name_their_columns_and_first_row() -> None:
    frame = _frame()
    frame.loc[[0, 2], "OT"] = np.nan
    frame.loc[1, "a"] = np.nan
    with pytest.raises(ValueError, match=r"f\.csv: 3 missing values \(NaN\) in the series, the first at row 0 "
                                         r"\(data rows counted from 0\), in columns \['a', 'OT'\]"):
        variables(frame, "f.csv")


def test_missing_target_lists_available_columns() -> None:
    values, names = variables(_frame(), "f.csv")
    with pytest.raises(ValueError, match="target column 'load' not found; available columns: a, OT"):
        select_channels(values, names, "load", "S", "f.csv")


def test_target_goes_last_in_m_and_alone_in_s() -> None:
    values = np.arange(12.0).reshape(4, 3)
    names = ["a", "OT", "b"]
    m_values, m_names = select_channels(values, names, "OT", "M", "f")
    assert m_names == ["a", "b", "OT"]
    np.testing.assert_array_equal(m_values, values[:, [0, 2, 1]])
    s_values, s_names = select_channels(values, names, None, "S", "f")
    assert s_names == ["b"]
    np.testing.assert_array_equal(s_values, values[:, [2]])


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"expected 10 rows × 2 variables .* got 3 × 2"):
        check_shape(np.zeros((3, 2)), 10, 2, "f.csv")


def test_lstnet_text_equals_the_autoformer_csv(shared_data: Path) -> None:
    raw, raw_names = variables(read_frame(shared_data / "exchange_rate/exchange_rate.txt.gz", "lstnet_txt"), "txt")
    csv, csv_names = variables(read_frame(shared_data / "exchange_rate/exchange_rate.csv", "wide_csv"), "csv")
    assert raw_names == [str(i) for i in range(8)] and csv_names[-1] == "OT"
    np.testing.assert_array_equal(raw[:, [0, 1, 2, 3, 4, 5, 7, 6]], csv)
