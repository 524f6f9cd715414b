"""Reading a study's runs from ``mlflow.search_runs``' layout into the tidy frame."""

from __future__ import annotations

import pandas as pd
import pytest

from tsssm.run import tracking
from tsssm.claims.assess import assess_study
from tsssm.claims.catalogue import C4, C6
from tsssm.claims.runs import StoreError, resolve_store, study_frame, window_length

RECALL = C6.studies[0]
TOKEN_FREE = C4.studies[0]


def search_runs_frame(runs: list[tuple[dict[str, str], dict[str, float], int]]) -> pd.DataFrame:
    """``(tags, metrics, start time)`` per run, in ``mlflow.search_runs``' columns."""
    return pd.DataFrame([{"run_id": f"run{i}", "start_time": pd.Timestamp(start, unit="s"),
                          **{f"tags.{k}": v for k, v in tags.items()},
                          **{f"metrics.{k}": v for k, v in metrics.items()}}
                         for i, (tags, metrics, start) in enumerate(runs)])


def recall_tags(model: str, seed: int, width: str = "64", lr: str = "0.001") -> dict[str, str]:
    return tracking.run_tags(model, "mqar", "L128", seed) | {"tsssm.width": width, "tsssm.lr": lr}


def test_tags_are_parsed_and_the_latest_run_of_a_seed_counts() -> None:
    runs = search_runs_frame([(recall_tags("mamba", 1), {"test/accuracy": 0.9}, 20),
                              (recall_tags("mamba", 1), {"test/accuracy": 0.1}, 10),
                              (recall_tags("mamba", 2), {"test/accuracy": 0.8}, 30)])
    frame, notes = study_frame(RECALL, runs)
    run = {"entity": "mamba", "dataset": "mqar", "width": 64, "L": 128}
    assert frame.drop(columns=["val/best_accuracy", "still_improving"]).to_dict("records") == [
        run | {"seed": 1, "learning rate": 0.001, "test/accuracy": 0.9},
        run | {"seed": 2, "learning rate": 0.001, "test/accuracy": 0.8}]
    assert notes == ["1 older run(s) of a seed run again left out (the latest counts)"]


def test_of_a_learning_rate_sweep_the_best_validation_run_counts() -> None:
    """Per model, conditions and seed: the best validation accuracy chooses, whatever the test
    accuracy; a run without a validation value only where none has one; of equal ones the latest."""
    def run(seed: int, lr: str, val: float | None, test: float, start: int):
        metrics = {"test/accuracy": test} | ({} if val is None else {"val/best_accuracy": val})
        return recall_tags("mamba", seed, lr=lr), metrics, start

    runs = search_runs_frame([run(1, "0.0001", 0.5, 0.9, 1), run(1, "0.001", 0.8, 0.7, 2),
                              run(1, "0.01", None, 1.0, 3),
                              run(2, "0.0001", None, 0.3, 4),
                              run(3, "0.0001", 0.6, 0.2, 5), run(3, "0.01", 0.6, 0.4, 6)])
    frame, notes = study_frame(RECALL, runs)
    chosen = frame[["seed", "learning rate", "test/accuracy"]].values.tolist()
    assert chosen == [[1, 0.001, 0.7], [2, 0.0001, 0.3], [3, 0.01, 0.4]]
    assert notes == ["3 run(s) at a learning rate not chosen left out (per model, conditions and "
                     "seed, the best validation accuracy counts)"]


def test_a_learning_rate_run_again_replaces_that_rate_alone() -> None:
    runs = search_runs_frame([
        (recall_tags("mamba", 1, lr="0.001"), {"test/accuracy": 0.9, "val/best_accuracy": 0.9}, 1),
        (recall_tags("mamba", 1, lr="0.01"), {"test/accuracy": 0.5, "val/best_accuracy": 0.5}, 2),
        (recall_tags("mamba", 1, lr="0.001"), {"test/accuracy": 0.4, "val/best_accuracy": 0.4}, 3)])
    frame, notes = study_frame(RECALL, runs)
    assert frame[["learning rate", "test/accuracy"]].values.tolist() == [[0.01, 0.5]]
    assert len(notes) == 2 and notes[0].startswith("1 older run(s)")


def test_untagged_and_unmeasured_runs_are_left_out_with_a_note() -> None:
    untagged = tracking.run_tags("mamba", "mqar", "L128", 3)
    runs = search_runs_frame([(recall_tags("mamba", 1), {"test/accuracy": 0.9}, 1),
                              (untagged, {"test/accuracy": 0.5}, 2),
                              (recall_tags("mamba", 2), {"test/loss": 0.5}, 3)])
    frame, notes = study_frame(RECALL, runs)
    assert frame["seed"].tolist() == [1]
    assert notes == ["1 run(s) without the tag(s) tags.tsssm.width, tags.tsssm.lr left out",
                     "1 run(s) with none of the metrics test/accuracy left out"]


def test_runs_none_of_which_has_a_tag_are_left_out_with_a_note() -> None:
    runs = search_runs_frame([(tracking.run_tags("mamba", "mqar", "L128", 1) | {"tsssm.width": "64"},
                               {"test/accuracy": 0.9}, 1)])
    frame, notes = study_frame(RECALL, runs)
    assert frame.empty and notes == ["1 run(s) without the tag(s) tags.tsssm.lr left out"]


def test_several_entity_columns_make_one_entity() -> None:
    tags = tracking.run_tags("mamba", "enwik6", "L1024", 1) | {"tsssm.tokenizer": "bytes",
                                                                "tsssm.flops_budget": "1e15"}
    frame, _ = study_frame(TOKEN_FREE, search_runs_frame([(tags, {"test/bits_per_byte": 1.5}, 1)]))
    assert frame[["entity", "training FLOPs"]].values.tolist() == [["mamba/bytes", 1e15]]


def test_a_tag_that_does_not_parse_names_the_run_and_the_value() -> None:
    runs = search_runs_frame([(recall_tags("mamba", 1, width="wide"), {"test/accuracy": 0.9}, 1)])
    with pytest.raises(StoreError, match=r"run run0: tags.tsssm.width = 'wide' is not a valid width"):
        study_frame(RECALL, runs)
    with pytest.raises(ValueError, match="expected a window tag such as 'L1024', got '96'"):
        window_length("96")


def test_a_missing_sqlite_store_is_an_error_and_is_not_created(tmp_path) -> None:
    with pytest.raises(StoreError, match="no MLflow store at"):
        resolve_store(f"sqlite:///{tmp_path / 'absent.db'}")
    assert not (tmp_path / "absent.db").exists()
    (tmp_path / "present.db").touch()
    assert resolve_store(f"sqlite:///{tmp_path / 'present.db'}") == f"sqlite:///{tmp_path / 'present.db'}"


def test_runs_of_baselines_alone_leave_nothing_to_judge() -> None:
    runs = search_runs_frame([(recall_tags("transformer", seed), {"test/accuracy": 0.9}, seed)
                              for seed in (1, 2, 3)])
    result = assess_study(RECALL, runs)
    assert result.verdict.line() == "nothing to judge yet: no claimed model has runs to compare with"
    assert not result.summary.empty and not result.verdict.decided
