"""``scripts/validation_curves.py`` reads a pilot's curves back from its store: the milestone
columns must show the last check at or before each step, not a later one, or a pilot would
credit a model with accuracy it reached only after the study's budget."""

from __future__ import annotations

import runpy

import mlflow
import pytest

from tests.compose import REPO

SCRIPT = runpy.run_path(str(REPO / "scripts" / "validation_curves.py"))


def logged_run(uri: str, lr: str, values: dict[int, float]) -> None:
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("pilots/x")
    with mlflow.start_run():
        mlflow.log_params({"model.optim.lr": lr, "data.seq_len": 64})
        for step, value in values.items():
            mlflow.log_metric("val/accuracy", value, step=step)


def test_milestones_take_the_last_check_before_them(tmp_path, capsys):
    uri = f"sqlite:///{tmp_path / 'p.db'}"
    logged_run(uri, "0.001", {249: 0.1, 499: 0.4, 749: 0.3, 999: 0.95})
    logged_run(uri, "0.01", {249: 0.0})
    logged_run(uri, "0.1", {})  # stopped before its first check
    SCRIPT["main"]([uri, "pilots/x", "val/accuracy", "--params", "model.optim.lr",
                    "--milestones", "500", "900"])
    header, _, slow, short, unchecked = capsys.readouterr().out.strip().splitlines()
    cells = lambda line: [c.strip() for c in line.strip("|").split("|")]  # noqa: E731
    assert cells(header) == ["model.optim.lr", "status", "minutes", "checks", "best", "at step",
                             "step 500", "step 900"]
    assert cells(slow)[0] == "0.001" and cells(slow)[3:] == ["4", "0.95", "999", "0.4", "0.3"]
    assert cells(short)[3:] == ["1", "0", "249", "0", "0"]
    assert cells(unchecked)[0] == "0.1" and cells(unchecked)[3:] == ["0", "", "", "", ""]


def test_an_unknown_experiment_is_one_line(tmp_path):
    uri = f"sqlite:///{tmp_path / 'p.db'}"
    logged_run(uri, "0.001", {1: 0.5})
    with pytest.raises(SystemExit, match="no experiment 'pilots/y'"):
        SCRIPT["main"]([uri, "pilots/y", "val/accuracy"])
