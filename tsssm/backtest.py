"""``python -m tsssm.backtest``: rolling-origin evaluation of forecasting checkpoints on a file of
series, in the long format of neuralforecast's ``cross_validation``.

A thin layer over ``tsssm.forecasting``: the checkpoints are loaded as ``forecast`` loads them,
the series of the input are read and checked as ``forecast`` reads them, and each of the last
``n_windows`` cutoffs (``step_size`` rows apart) is forecast (``forecasting.backtest``; with
``refit``, by the checkpoints' configs trained again up to that cutoff: ``forecasting.refit``).
Written atomically, Parquet or CSV by suffix: the table ``unique_id, ds, cutoff, y, <model>...``
(what ``utilsforecast.evaluation.evaluate`` reads) and the scores per cutoff and overall
(``forecasting.scores``). Examples::

    python -m tsssm.backtest checkpoint=best.ckpt input=load.csv output=bt.parquet n_windows=4
    python -m tsssm.backtest checkpoint=best.ckpt input=load.csv output=bt.csv refit=true
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from tsssm.data.sequence import check_positive
from tsssm.data.series_tables import check_layout, read_series, table_suffix, write_table
from tsssm.forecasting.checkpoints import as_list, checkpoint_paths
from tsssm.forecasting.backtest import backtest, check_windows
from tsssm.forecasting.model import load
from tsssm.forecasting.refit import Refit
from tsssm.forecasting.scores import backtest_scores
from tsssm.run.entry_point import hydra_entry_point
from tsssm.run.outputs import check_destination


def metrics_path(output: Path, metrics: str | Path | None) -> Path:
    """``metrics``, else ``<output stem>-metrics`` beside ``output``, with its suffix."""
    if metrics is not None:
        return Path(metrics)
    suffix = table_suffix(output, "output")
    return output.with_name(f"{output.name.removesuffix(suffix)}-metrics{suffix}")


def backtest_file(checkpoint: str | Path | Sequence[str | Path], source: str | Path,
                  output: str | Path, n_windows: int = 1, step_size: int | None = None,
                  seasonality: int | None = None, refit: bool = False,
                  overrides: Mapping[str, Any] | None = None, metrics: str | Path | None = None,
                  layout: str = "auto", device: str = "auto", batch_size: int = 256,
                  alias: str | Sequence[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Backtest the checkpoint(s) on the series of ``source``; write and return the table and
    its scores (module docstring), and print the overall scores."""
    paths, source, output = checkpoint_paths(checkpoint), Path(source), Path(output)
    scores_path = metrics_path(output, metrics)
    for role, path in (("output", output), ("metrics", scores_path)):
        table_suffix(path, role)
        check_destination(path, [source, *paths], role)
    if scores_path.resolve() == output.resolve():
        raise ValueError(f"metrics {scores_path} is the output: give them two paths")
    check_layout(layout)
    check_positive("batch_size", batch_size)
    check_windows(n_windows, 1 if step_size is None else step_size)
    model = load(paths, as_list(alias), device)
    notes: list[str] = []
    series = read_series(source, layout, model.channels, model.lookback, notes)
    refitted = Refit(model, overrides or {}, device) if refit else None
    period = seasonality or model.checkpoints[0].seasonal_period or 1
    step = model.horizon if step_size is None else step_size
    result = backtest(model, series, n_windows, step, period, batch_size, refitted)
    scores = backtest_scores(result.table, result.scales, model.names)
    write_table(result.table, output)
    write_table(scores, scores_path)
    for note in notes:
        print(f"note: {note}")
    overall = scores[scores["cutoff"] == "overall"].drop(columns="cutoff").set_index("metric")
    print(f"backtest: {len(series)} series x {n_windows} cutoffs x {model.horizon} steps by "
          f"{model.names}{' refit at every cutoff' if refit else ''} (MASE season {period})\n"
          f"{overall.to_string()}\nwrote {output} ({len(result.table)} rows), columns "
          f"{list(result.table.columns)}, and {scores_path}")
    return result.table, scores


@hydra_entry_point("backtest")
def main(cfg: DictConfig) -> None:
    """Hydra entry point."""
    overrides = OmegaConf.to_container(cfg.overrides, resolve=True) if cfg.overrides else None
    backtest_file(cfg.checkpoint, cfg.input, cfg.output, cfg.n_windows, cfg.step_size,
                  cfg.seasonality, cfg.refit, overrides, cfg.metrics, cfg.format, cfg.device,
                  cfg.batch_size, cfg.alias)


if __name__ == "__main__":
    main()
