"""What must hold after a reliability case besides its exit status and message: files never created,
never changed, never left behind; MLflow runs in the state the case promises.

Each check takes the case's folder and result and asserts; its docstring's first line is what the
table in ``docs/reliability.md`` says it verifies.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from tests.reliability.files import MARKER, SERIES, TRAINED
from tests.reliability.launcher import Result


def payload_never_ran(folder: Path, result: Result) -> None:
    """the payload never ran: no PAYLOAD_RAN file"""
    assert not (folder / MARKER).exists(), "the checkpoint's payload ran"


def payload_never_ran_and_no_run(folder: Path, result: Result) -> None:
    """the payload never ran, and no MLflow run or checkpoint was made"""
    payload_never_ran(folder, result)
    assert not (folder / "mlflow.db").exists() and not list(folder.rglob("*/checkpoints"))


def series_unchanged(folder: Path, result: Result) -> None:
    """series.csv is untouched"""
    assert pd.read_csv(folder / "series.csv", parse_dates=["date"]).equals(SERIES)


def trained_unchanged(folder: Path, result: Result) -> None:
    """trained.ckpt is untouched, no sample written beside it"""
    assert (folder / TRAINED).is_file()
    assert not list(folder.glob("sample_*")) and not (folder / "generation.json").exists()


def nothing_written_in_stores(folder: Path, result: Result) -> None:
    """nothing is written in stores/"""
    assert sorted(p.name for p in (folder / "stores").iterdir()) == ["a.csv", "b.csv"]


def nothing_written_in_data(folder: Path, result: Result) -> None:
    """nothing is written in data/"""
    assert list((folder / "data").iterdir()) == []


def replaced_whole_without_temporaries(folder: Path, result: Result) -> None:
    """forecast.csv holds the new forecasts; the killed writer's temporary file is gone"""
    table = pd.read_csv(folder / "forecast.csv")
    assert list(table.columns) == ["unique_id", "ds", "dlinear"] and len(table) == 48
    assert not [p.name for p in folder.iterdir() if ".tmp" in p.name]


def predictions_written_whole(folder: Path, result: Result) -> None:
    """predictions.parquet is a whole table; no temporary file is left"""
    assert len(pd.read_parquet(folder / "predictions.parquet")) > 0
    assert not [p.name for p in folder.iterdir() if ".tmp" in p.name]


def traceback_shown(folder: Path, result: Result) -> None:
    """the full traceback is printed"""
    assert "Traceback (most recent call last)" in result.stderr


def runs(folder: Path) -> list[Run]:
    """Every run of the case's store, oldest first."""
    client = MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
    found = client.search_runs([e.experiment_id for e in client.search_experiments()])
    return sorted(found, key=lambda run: run.info.start_time)


def one_finished_run(folder: Path, result: Result) -> None:
    """one MLflow run, FINISHED, with test metrics"""
    (run,) = runs(folder)
    assert run.info.status == "FINISHED"
    assert "test/mse" in run.data.metrics or "test/mse" in result.stdout


def one_failed_run(folder: Path, result: Result) -> None:
    """one MLflow run, marked FAILED"""
    (run,) = runs(folder)
    assert run.info.status == "FAILED"


def resumed_in_one_run(folder: Path, result: Result) -> None:
    """one FINISHED run holds the validation of all 4 epochs, before and after the kill"""
    (run,) = runs(folder)
    assert run.info.status == "FINISHED"
    assert run.data.tags["tsssm.resumed_from"].endswith("killed/checkpoints/last.ckpt")
    client = MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
    validated = client.get_metric_history(run.info.run_id, "val/mse")
    assert len({m.step for m in validated}) == len(validated) == 4


def new_run_for_foreign_checkpoint(folder: Path, result: Result) -> None:
    """a new FINISHED run in this store; the note names the missing one"""
    (run,) = runs(folder)
    assert run.info.status == "FINISHED" and "is not in" in result.stderr


def every_fit_recorded(count: int):
    """A check that ``count`` fits ended FINISHED, each in a run folder of its own."""

    def check(folder: Path, result: Result) -> None:
        assert [run.info.status for run in runs(folder)] == ["FINISHED"] * count
        folders = [p for day in (folder / "outputs").iterdir() for p in day.iterdir()]
        assert len(folders) == count

    check.__doc__ = f"{count} FINISHED runs, {count} run folders"
    return check
