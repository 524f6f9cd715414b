"""The LTSF train/val/test split, row for row as Time-Series-Library draws it.

Rules (n rows, lookback L):
- "ett_hour": 12/4/4 months of 30 days: train [0, 8640), val [8640, 11520), test [11520, 14400);
  rows after 14400 are unused, as in the literature.
- "ett_minute": the same months at 15 minutes (×4): 34560 / 11520 / 11520 rows.
- "ratio": train = int(0.7 n), test = int(0.2 n) (float products, exactly as TSL writes them), val the rest;
  test ends at the last row.

Val and test parts start L rows before their border, so their first window's input is the end of the
previous part and every target row of the part is forecast; the scaler is fit on the train part only.
A part of m rows yields m - L - H + 1 windows (stride 1).

A training fraction f keeps the last ``round(f x windows)`` windows of the train part (at least one):
the most recent data, as a forecaster trained on a shorter history would have it; val and test
stay as they are.
"""

from dataclasses import dataclass

_MONTH_ROWS = {"ett_hour": 30 * 24, "ett_minute": 30 * 24 * 4}


@dataclass(frozen=True)
class Part:
    """Rows [start, stop) of the series that one split reads (start includes the lookback)."""

    start: int
    stop: int

    def n_windows(self, lookback: int, horizon: int) -> int:
        return self.stop - self.start - lookback - horizon + 1

    def last_windows(self, fraction: float, lookback: int, horizon: int) -> "Part":
        """The rows of this part's last ``fraction`` of windows (``kept_count``)."""
        kept = kept_count(self.n_windows(lookback, horizon), fraction)
        return Part(self.stop - kept - lookback - horizon + 1, self.stop)


def check_fraction(fraction: object) -> float:
    """``fraction`` as a float in (0, 1]; a ValueError naming ``train_fraction`` otherwise."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
        raise ValueError(f"train_fraction must be a number in (0, 1], got {fraction!r}")
    return float(fraction)


def kept_count(n: int, fraction: float) -> int:
    """How many of ``n`` items a training fraction keeps: ``round(n x fraction)``, at least one."""
    return max(1, round(n * check_fraction(fraction)))


@dataclass(frozen=True)
class Borders:
    train: Part
    val: Part
    test: Part

    def items(self) -> tuple[tuple[str, Part], ...]:
        return (("train", self.train), ("val", self.val), ("test", self.test))


def ltsf_borders(rule: str, n_rows: int, lookback: int) -> Borders:
    """The three parts of a series of n_rows under `rule` (see the module docstring)."""
    if rule in _MONTH_ROWS:
        month = _MONTH_ROWS[rule]
        train_end, val_end, test_end = 12 * month, 16 * month, 20 * month
    elif rule == "ratio":
        train_end = int(n_rows * 0.7)
        test_len = int(n_rows * 0.2)
        val_end, test_end = n_rows - test_len, n_rows
    else:
        raise ValueError(f"unknown split rule {rule!r}; expected one of ett_hour, ett_minute, ratio")
    return Borders(
        train=Part(0, train_end),
        val=Part(train_end - lookback, val_end),
        test=Part(val_end - lookback, test_end),
    )


def check_length(borders: Borders, n_rows: int, lookback: int, horizon: int, rule: str, source: str) -> None:
    """Raise, naming the file, the part, its rows and the rows needed, if the series cannot give every
    split at least one window. (The train part starts at row 0 and is checked first, so a later part
    that would start before row 0 has already failed there.)"""
    if borders.test.stop > n_rows:
        raise ValueError(
            f"{source}: {n_rows} rows, but the {rule!r} split reads rows up to {borders.test.stop}; "
            f"expected at least {borders.test.stop} rows"
        )
    needed = lookback + horizon
    for name, part in borders.items():
        rows = part.stop - part.start
        if rows < needed:
            raise ValueError(
                f"{source}: the {name} part of the {rule!r} split of {n_rows} rows has {rows} rows "
                f"([{part.start}, {part.stop}), lookback included), but one window needs {needed} "
                f"(lookback {lookback} + horizon {horizon}); expected a longer series, or a shorter lookback "
                "or horizon"
            )
