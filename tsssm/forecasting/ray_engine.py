"""Batch forecasts on Ray Data: the local run's table, its series spread over a pool of workers.

The input is cut into units (``work_units``); Ray Data maps them over ``workers`` actors, each of
which loads the checkpoints once (with a GPU of its own when the device is CUDA) and returns, per
unit, its series cut to the rows a forecast reads and their forecasts. The driver puts the units
back in the local run's order and makes the table from all series at once, as the local run does
(``ds`` is decided over every series together), so both write the same table.

Ray starts a local instance unless ``address`` names a cluster (``auto``, ``ray://host:10001``);
an input a worker refuses is reported as the local run reports it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tsssm.data.series_tables import Series, read_series
from tsssm.forecasting.model import ForecastModel, load
from tsssm.forecasting.work_units import WorkUnit, plan_units
from tsssm.run.console import quiet_ray_data


def import_ray() -> Any:
    """The ``ray`` module, or a one-line error saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401  (Ray Data ships as an extra)
    except ImportError as error:
        raise ImportError("engine=ray needs Ray Data: pip install 'ray[data]' (or tsssm[ray])") \
            from error
    quiet_ray_data()
    return ray


def objects(items: list[Any]) -> np.ndarray:
    """``items`` as a 1-D object array (a column of a Ray Data batch), lists kept whole."""
    column = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        column[i] = item
    return column


class UnitForecaster:
    """A Ray Data actor: the checkpoints, loaded once; forecasts a batch of units."""

    def __init__(self, checkpoints: list[str], alias: list[str] | None, device: str,
                 layout: str, batch_size: int) -> None:
        self.model = load(checkpoints, alias, device)
        self.layout, self.batch_size = layout, batch_size

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        found = [self.forecast(WorkUnit(Path(path), tuple(map(str, ids)) if len(ids) else None))
                 for path, ids in zip(batch["path"], batch["ids"])]
        return {"order": batch["order"],
                **{key: objects([unit.get(key) for unit in found])
                   for key in ("series", "values", "notes", "error")}}

    def forecast(self, unit: WorkUnit) -> dict[str, Any]:
        """A unit's series (their last ``lookback`` rows), forecasts and notes; or the error its
        input gave (``error``), returned whole: Ray would pass on only its text."""
        model, notes = self.model, []
        try:
            series = read_series(unit.path, self.layout, model.channels, model.lookback, notes,
                                 unit.ids)
        except (ValueError, OSError) as error:
            return {"error": error}
        kept = [Series(s.unique_id, s.where, s.dates[-model.lookback:],
                       s.values[-model.lookback:]) for s in series]
        return {"series": kept, "values": model.forecasts(series, self.batch_size),
                "notes": notes}


def forecast_on_ray(model: ForecastModel, files: list[Path], layout: str, device: str,
                    batch_size: int, workers: int, address: str | None,
                    notes: list[str]) -> tuple[list[Series], dict[str, np.ndarray]]:
    """The series of ``files`` (cut to their lookback rows) in the local run's order, and every
    model's forecasts of them (``ForecastModel.forecasts``); the workers' notes are added to
    ``notes``."""
    ray = import_ray()
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    try:
        units = plan_units(files, layout, workers)
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        items = [{"order": i, "path": str(u.path), "ids": list(u.ids or ())}  # []: whole file
                 for i, u in enumerate(units)]
        gpus = 1 if str(device).startswith("cuda") else 0
        rows = ray.data.from_items(items).map_batches(
            UnitForecaster, batch_size=1, num_gpus=gpus,
            compute=ray.data.ActorPoolStrategy(size=min(workers, len(units))),
            fn_constructor_args=([str(c.path) for c in model.checkpoints], model.names, device,
                                 layout, batch_size)).take_all()
    finally:
        if started:
            ray.shutdown()
    rows.sort(key=lambda row: row["order"])
    failed = next((row["error"] for row in rows if row["error"] is not None), None)
    if failed is not None:  # the first in the local run's order: the error it would stop at
        raise failed
    series = [s for row in rows for s in row["series"]]
    values = {name: np.concatenate([row["values"][name] for row in rows])
              for name in rows[0]["values"]}
    notes += dict.fromkeys(note for row in rows for note in row["notes"])
    return series, values
