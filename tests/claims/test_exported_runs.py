"""A report's exported runs read back: typed as the store's runs are, and bad files refused with
one line naming the file and what is wrong."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tsssm.claims.__main__ import main
from tsssm.claims.catalogue import C1, C3, C5, C6
from tsssm.claims.exported_runs import ExportError, exported_frame

LTSF, EFFICIENCY = C3.studies[0], C3.studies[1]


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text)
    return folder


def test_conditions_and_seeds_are_typed_as_the_studys_blocks(tmp_path) -> None:
    runs = write(tmp_path, "c3-data-efficiency.csv",
                 "model,dataset,training fraction,seed,test/mse\nmamba,ETTh1,0.05,1,0.41\n"
                 "mamba,ETTh1,1.0,2,0.39\n")
    frame = exported_frame(EFFICIENCY, runs)
    assert list(frame.columns) == ["entity", "dataset", "training fraction", "seed", "test/mse",
                                   "still_improving"]
    assert frame["still_improving"].isna().all()  # an export made before the flag was read
    assert frame["training fraction"].tolist() == [0.05, 1.0] and frame["seed"].tolist() == [1, 2]
    assert frame["test/mse"].tolist() == [0.41, 0.39]
    write(tmp_path, "c1-linear-time.csv", "model,L,seed,train/step_s,train/peak_bytes,oom,over_time\n"
                                          "mamba,1024,1,0.01,2048.0,,\ntransformer,2048,1,,,1.0,\n")
    lengths = exported_frame(C1.studies[0], tmp_path)
    assert lengths["L"].tolist() == [1024, 2048]
    assert lengths["oom"].isna().tolist() == [True, False]


def test_the_setting_chosen_on_validation_is_read_back(tmp_path) -> None:
    runs = write(tmp_path, "c6-recall.csv", "model,dataset,width,L,seed,learning rate,"
                                            "test/accuracy,val/best_accuracy,still_improving\n"
                                            "mamba,mqar,64,128,1,0.0046,0.8,0.85,1.0\n")
    frame = exported_frame(C6.studies[0], runs)
    assert frame.to_dict("records") == [
        {"entity": "mamba", "dataset": "mqar", "width": 64, "L": 128, "seed": 1,
         "learning rate": 0.0046, "test/accuracy": 0.8, "val/best_accuracy": 0.85,
         "still_improving": 1.0}]


def test_an_entity_that_looks_like_a_number_stays_its_spelling(tmp_path) -> None:
    runs = write(tmp_path, "c5-hybrids-fsdd.csv", "attention fraction,dataset,seed,test/bits_per_sample\n"
                                                  "0.125,fsdd,1,3.1\n1,fsdd,1,3.3\n")
    assert exported_frame(C5.studies[0], runs)["entity"].tolist() == ["0.125", "1"]


def test_a_study_without_an_export_has_no_exported_runs(tmp_path) -> None:
    frame = exported_frame(LTSF, tmp_path)
    assert frame.empty and list(frame.columns) == ["entity", "dataset", "horizon", "seed", "test/mse",
                                                   "still_improving"]


@pytest.mark.parametrize("text, message", [
    ("model,dataset,seed,test/mse\nmamba,ETTh1,1,0.4\n", "columns ['model', 'dataset', 'seed', "
     "'test/mse'] are not study 'long-horizon forecasting''s export; expected ['model', 'dataset', "
     "'horizon', 'seed']"),
    ("model,dataset,horizon,seed,test/mse,val/mse\nmamba,ETTh1,96,1,0.4,0.3\n", "are not study"),
    ("model,dataset,horizon,seed,test/mse\nmamba,ETTh1,h96,1,0.4\n",
     "column 'horizon' holds 'h96'; expected a int"),
    ("model,dataset,horizon,seed,test/mse\nmamba,ETTh1,96,1,low\n", "column 'test/mse' holds 'low'"),
    ("model,dataset,horizon,seed,test/mse\nmamba,,96,1,0.4\n", "column 'dataset' holds ''"),
    ("model,dataset,horizon,seed,test/mse\nmamba,ETTh1,96,1,0.4\nmamba,ETTh1,96,1,0.5\n",
     "lines 2, 3 are runs of the same model, conditions and seed"),
    ("", "cannot read the exported runs"),
])
def test_a_bad_export_is_refused_naming_the_file(tmp_path, text, message) -> None:
    runs = write(tmp_path, "c3-ltsf.csv", text)
    with pytest.raises(ExportError) as error:
        exported_frame(LTSF, runs)
    assert str(runs / "c3-ltsf.csv") in str(error.value)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_the_command_refuses_a_bad_export_in_one_line_and_writes_nothing(tmp_path, capsys) -> None:
    runs = write(tmp_path / "runs", "c3-ltsf.csv", "model,dataset,horizon,seed,test/mse\nmamba,ETTh1,x,1,0.4\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["--output", str(tmp_path / "out"), "--runs", str(runs)])
    error = capsys.readouterr().err
    assert exit_info.value.code == 2 and error.count("\n") == 1
    assert error.startswith(f"error: {runs / 'c3-ltsf.csv'}: column 'horizon' holds 'x'")
    assert not (tmp_path / "out").exists()
    with pytest.raises(SystemExit):
        main(["--output", str(tmp_path / "out"), "--runs", str(tmp_path / "absent")])
    assert capsys.readouterr().err == (f"error: --runs {tmp_path / 'absent'} is not a folder; "
                                       "expected the runs/ folder of an earlier report\n")
