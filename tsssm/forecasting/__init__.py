"""Forecasts of series from trained checkpoints, in the long format of Nixtla's neuralforecast
(``unique_id, ds, <model>[, <model>-lo-80, <model>-hi-80, ...]``), and backtests of them.

The Python API (``tsssm.load``), ``python -m tsssm.forecast`` and ``python -m tsssm.backtest``
are thin layers over these modules: ``checkpoints`` (a checkpoint as a named forecaster),
``dates`` (the ``ds`` of forecasts), ``long_format`` (the tables), ``model`` (several checkpoints
forecasting series together), ``backtest`` and ``scores`` (rolling-origin evaluation), ``refit``
(retraining a checkpoint's config up to each cutoff).
"""
