"""The synthetic default follows its documented equations and is deterministic for a seed."""

import numpy as np
import pandas as pd

from tsssm.data.synthetic import synthetic_frame


def test_same_seed_same_frame_other_seed_other_frame() -> None:
    pd.testing.assert_frame_equal(synthetic_frame(seed=3), synthetic_frame(seed=3))
    assert not np.allclose(synthetic_frame(seed=3)["x0"], synthetic_frame(seed=4)["x0"])


def test_default_frame_looks_like_a_wide_csv() -> None:
    frame = synthetic_frame()
    assert list(frame.columns) == ["date", "x0", "x1", "x2", "x3"]
    assert frame.shape == (4000, 5)
    assert frame["date"].diff().iloc[1:].eq(pd.Timedelta(hours=1)).all()
    assert not frame.isna().any().any()


def test_without_noise_and_trend_it_repeats_with_the_common_period() -> None:
    values = synthetic_frame(n_rows=1000, periods=(24, 168), trend=0.0, noise_std=0.0).iloc[:, 1:].to_numpy()
    np.testing.assert_allclose(values[168:], values[:-168], atol=1e-9)
    assert np.abs(values[24:] - values[:-24]).max() > 0.1


def test_trend_alone_is_linear() -> None:
    values = synthetic_frame(n_rows=500, periods=(), noise_std=0.0).iloc[:, 1:].to_numpy()
    np.testing.assert_allclose(np.diff(values, n=2, axis=0), 0.0, atol=1e-12)
    assert np.abs(np.diff(values, axis=0)).min() > 0


def test_noise_is_ar1_with_the_given_std_and_coefficient() -> None:
    values = synthetic_frame(n_rows=40000, n_channels=2, periods=(), trend=0.0, noise_std=0.5, ar_coef=0.8)
    noise = values[["x0", "x1"]].to_numpy() - values[["x0", "x1"]].to_numpy().mean(axis=0)
    np.testing.assert_allclose(noise.std(axis=0), 0.5, rtol=0.05)
    lag1 = (noise[1:] * noise[:-1]).mean(axis=0) / noise.var(axis=0)
    np.testing.assert_allclose(lag1, 0.8, atol=0.02)
