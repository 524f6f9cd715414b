"""``python -m tsssm.forecast``: a batch job from forecasting checkpoints and files of series to a
table of forecasts, in neuralforecast's long format.

A thin layer over ``tsssm.forecasting`` (the same code as ``tsssm.load(...).predict(frame)``):
the checkpoints (one, or a list: one column each) are loaded with their record of the training
data, every series of the input (a CSV/Parquet file or a folder of them, wide or long: read and
checked by ``tsssm.data.series_tables``) is forecast, and the table ``unique_id, ds, <model>...``
(``tsssm.forecasting.long_format``) is written atomically, as Parquet or CSV by suffix. Examples::

    python -m tsssm.forecast checkpoint=outputs/.../best.ckpt input=load.csv output=fc.parquet
    python -m tsssm.forecast checkpoint=[a.ckpt,b.ckpt] alias=[small,large] input=stores/ output=fc.csv
    python -m tsssm.forecast checkpoint=best.ckpt input=stores/ output=fc.parquet engine=ray workers=8

``engine=ray`` spreads the files (or a long file's series) over Ray workers
(``tsssm.forecasting.ray_engine``) and writes the same table.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from tsssm.data.sequence import check_positive
from tsssm.data.series_tables import (check_layout, input_files, read_series, table_suffix,
                                       write_table)
from tsssm.forecasting.checkpoints import as_list, checkpoint_paths
from tsssm.forecasting.model import load
from tsssm.forecasting.ray_engine import forecast_on_ray
from tsssm.run.entry_point import hydra_entry_point
from tsssm.run.outputs import check_destination

ENGINES = ("local", "ray")


def forecast_files(checkpoint: str | Path | Sequence[str | Path], source: str | Path,
                   output: str | Path, layout: str = "auto", device: str = "auto",
                   batch_size: int = 256, alias: str | Sequence[str] | None = None,
                   channel_column: bool = False, engine: str = "local", workers: int = 2,
                   ray_address: str | None = None) -> pd.DataFrame:
    """Forecast every series of ``source`` (a file or folder) with the checkpoint(s), in this
    process or on Ray (``engine``); write and return the long table (module docstring) and print
    a summary."""
    paths = checkpoint_paths(checkpoint)
    output = Path(output)
    table_suffix(output, "output")
    check_destination(output, [Path(source), *paths])
    check_layout(layout)
    check_positive("batch_size", batch_size)
    check_engine(engine, workers)
    on_ray = engine == "ray"
    model = load(paths, as_list(alias), "cpu" if on_ray else device)
    notes: list[str] = []
    files = input_files(Path(source))
    if on_ray:
        series, values = forecast_on_ray(model, files, layout, str(device), batch_size, workers,
                                          ray_address, notes)
    else:
        series = [s for path in files
                  for s in read_series(path, layout, model.channels, model.lookback, notes)]
        values = model.forecasts(series, batch_size)
    table, ds_source = model.table(series, values, channel_column, notes)
    write_table(table, output)
    for note in notes:
        print(f"note: {note}")
    where = (f"{workers} Ray workers, device {device}" if on_ray
             else f"device {model.checkpoints[0].task.device}")
    print(f"forecast: {len(series)} series x {model.horizon} steps x {len(model.channels)} "
          f"channels {model.channels} by {model.names} from {[str(p) for p in paths]} "
          f"(lookback {model.lookback}, {where})\nds: {ds_source}\n"
          f"wrote {output} ({len(table)} rows), columns {list(table.columns)}")
    return table


def check_engine(engine: str, workers: int) -> None:
    """``engine`` is local or ray, ``workers`` a positive number."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    check_positive("workers", workers)


@hydra_entry_point("forecast")
def main(cfg: DictConfig) -> None:
    """Hydra entry point."""
    forecast_files(cfg.checkpoint, cfg.input, cfg.output, cfg.format, cfg.device, cfg.batch_size,
                   cfg.alias, cfg.channel_column, cfg.engine, cfg.workers, cfg.ray_address)


if __name__ == "__main__":
    main()
