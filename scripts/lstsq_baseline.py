"""Closed-form linear forecaster (least squares, all channels sharing one map) on an LTSF split.

A protocol check that needs no training: on ETTh1 (lookback 336, horizon 96) the literature's linear
models reach about 0.375 test MSE, so this should too if the split, scaler and windows are right.

    python scripts/lstsq_baseline.py --dataset ETTh1 --lookback 336 --horizon 96

``model=lstsq`` (``tsssm.models.least_squares``) is this map as a fit model; this script stays its
independent reference (tests/models/test_least_squares.py compares the two).
"""

from __future__ import annotations

import argparse

import numpy as np

from tsssm.data.ltsf import LTSFDataModule


def channel_rows(dataset, step: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Every ``step``-th window as one row per channel: ``(W*C, lookback)`` and ``(W*C, horizon)``."""
    pairs = [dataset[i] for i in range(0, len(dataset), step)]
    x = np.concatenate([p[0].T.numpy() for p in pairs]).astype(np.float64)
    y = np.concatenate([p[1].T.numpy() for p in pairs]).astype(np.float64)
    return x, y


def least_squares(x: np.ndarray, y: np.ndarray, ridge: float = 0.0) -> np.ndarray:
    """Weights ``(lookback + 1, horizon)``, the intercept last, of rows ``x`` to rows ``y``."""
    design = np.c_[x, np.ones(len(x))]
    return np.linalg.solve(design.T @ design + ridge * np.eye(design.shape[1]), design.T @ y)


def predict(weights: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Forecast rows ``(N, horizon)`` of input rows ``(N, lookback)``."""
    return np.c_[x, np.ones(len(x))] @ weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ETTh1")
    parser.add_argument("--root", default=None, help="data root (default: TSSSM_DATA or ./data)")
    parser.add_argument("--lookback", type=int, default=336)
    parser.add_argument("--horizon", type=int, default=96)
    parser.add_argument("--ridge", type=float, default=0.0, help="L2 penalty on the weights")
    args = parser.parse_args()
    data = LTSFDataModule(name=args.dataset, root=args.root, lookback=args.lookback,
                          horizon=args.horizon)
    data.prepare_data()
    data.setup("fit")
    weights = least_squares(*channel_rows(data.datasets["train"]), args.ridge)
    x_test, y_test = channel_rows(data.datasets["test"])
    pred = predict(weights, x_test)
    print(f"{args.dataset} L={args.lookback} H={args.horizon}: test windows "
          f"{len(data.datasets['test'])}, test MSE {np.mean((pred - y_test) ** 2):.4f}, "
          f"MAE {np.mean(np.abs(pred - y_test)):.4f}")


if __name__ == "__main__":
    main()
