"""Bad training files (``data.path``): each is refused with one line naming the file, the column
or row, and what was expected."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tsssm.data.ltsf import LTSFDataModule
from tsssm.data.synthetic import synthetic_frame

GOOD = synthetic_frame(n_rows=200, n_channels=2)  # date, x0, x1; hourly from 2016-07-01
ROW = r"\(data rows counted from 0\)"


def edited(**cells: tuple[int, object]) -> pd.DataFrame:
    """GOOD with ``column=(row, value)`` set."""
    frame = GOOD.copy().astype({column: object for column in cells})
    for column, (row, value) in cells.items():
        frame.loc[row, column] = value
    return frame


def refused(path: Path, error_type: type[Exception], message: str, horizon: int = 4) -> None:
    """Reading ``path`` for training (lookback 8) raises exactly ``error_type``, in one line
    matching ``message`` and saying what was expected."""
    module = LTSFDataModule(None, path=path, lookback=8, horizon=horizon)
    with pytest.raises(error_type, match=message) as error:
        module.setup("fit")
    assert type(error.value) is error_type
    assert "expected" in str(error.value) and "\n" not in str(error.value)


# A CSV "bad.csv" written from the frame, and what its ValueError says after the file name.
BAD_CONTENT = {
    "inf and -inf": (edited(x1=(7, np.inf), x0=(30, -np.inf)),
                     rf"2 infinite values \(inf or -inf\) in the series, the first at row 7 {ROW}, "
                     r"in columns \['x0', 'x1'\]; expected finite numbers"),
    "NaN": (edited(x0=(9, np.nan)), rf"1 missing values \(NaN\) in the series, the first at row 9 {ROW}, "
                                    r"in columns \['x0'\]"),
    "duplicate date": (edited(date=(6, GOOD["date"][5])),
                       r"dates must be sorted and unique, but row 6 \(2016-07-01 05:00:00\) repeats the date of row 5"),
    "unsorted dates": (GOOD.iloc[[*range(40), 41, 40, *range(42, 200)]].reset_index(drop=True),
                       r"dates must be sorted and unique, but row 41 \(2016-07-02 16:00:00\) comes before "
                       r"the date of row 40 \(2016-07-02 17:00:00\)"),
    "date that does not parse": (edited(date=(3, "soon")),
                                 rf"date column 'date' has 'soon' at row 3 {ROW}, which is not a date"),
}


@pytest.mark.parametrize("case", BAD_CONTENT)
def test_bad_values_and_dates_are_refused(tmp_path: Path, case: str) -> None:
    frame, message = BAD_CONTENT[case]
    frame.to_csv(tmp_path / "bad.csv", index=False)
    refused(tmp_path / "bad.csv", ValueError, r"bad\.csv: " + message)


# The file's name, its bytes, and what its ValueError says after the name.
BAD_BYTES = {
    "empty file": ("bad.csv", b"", r"empty file \(0 bytes\); expected a CSV table"),
    "header only": ("bad.csv", b"date,x0,x1\n", r"header only, no data rows \(columns \['date', 'x0', 'x1'\]\)"),
    "corrupt parquet": ("bad.parquet", b"PAR1 not a table", r"unreadable \(.*Parquet.*\); expected a Parquet table"),
    "corrupt csv.gz": ("bad.csv.gz", b"not gzip", r"unreadable \(Not a gzipped file.*\); expected a CSV table"),
}


@pytest.mark.parametrize("case", BAD_BYTES)
def test_empty_or_unreadable_files_are_refused(tmp_path: Path, case: str) -> None:
    name, content, message = BAD_BYTES[case]
    (tmp_path / name).write_bytes(content)
    refused(tmp_path / name, ValueError, rf"{name}: {message}")


def test_a_folder_given_as_the_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "some_dir").mkdir()
    refused(tmp_path / "some_dir", IsADirectoryError, r"some_dir is a folder; expected a table file \(\.csv, ")


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    refused(tmp_path / "bad.csv", FileNotFoundError, r"bad\.csv does not exist; expected a CSV table")


def test_too_few_rows_for_a_window_says_how_many_are_needed(tmp_path: Path) -> None:
    # 100 rows under "ratio": train 70, test 20, val 10 (+ lookback 8 = 18 rows), fewer than 8 + 16.
    GOOD.iloc[:100].to_csv(tmp_path / "bad.csv", index=False)
    refused(tmp_path / "bad.csv", ValueError, r"bad\.csv: the val part of the 'ratio' split of 100 rows has 18 rows "
            r"\(\[62, 80\), lookback included\), but one window needs 24 \(lookback 8 \+ horizon 16\)", horizon=16)


def test_the_good_file_behind_the_cases_is_read(tmp_path: Path) -> None:
    GOOD.to_csv(tmp_path / "good.csv", index=False)
    module = LTSFDataModule(None, path=tmp_path / "good.csv", lookback=8, horizon=4)
    module.setup("fit")
    assert module.channel_names == ["x0", "x1"] and module.freq == "h"
