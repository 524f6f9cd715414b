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


def recall_tags(model: str, seed: int, width: str = "64") -> dict[str, str]:
    return tracking.run_tags(model, "mqar", "L128", seed) | {"tsssm.width": width}


def test_tags_are_parsed_and_the_latest_run_of_a_seed_counts() -> None:
    runs = search_runs_frame([(recall_tags("mamba", 1), {"test/accuracy": 0.9}, 20),
                              (recall_tags("mamba", 1), {"test/accuracy": 0.1}, 10),
                              (recall_tags("mamba", 2), {"test/accuracy": 0.8}, 30)])
    frame, notes = study_frame(RECALL, runs)
    assert frame.to_dict("records") == [
        {"entity": "mamba", "dataset": "mqar", "width": 64, "L": 128, "seed": 1, "test/accuracy": 0.9},
        {"entity": "mamba", "dataset": "mqar", "width": 64, "L": 128, "seed": 2, "test/accuracy": 0.8}]
    assert notes == ["1 older run(s) of a seed run again left out (the latest counts)"]


def test_untagged_and_unmeasured_runs_are_left_out_with_a_note() -> None:
    untagged = tracking.run_tags("mamba", "mqar", "L128", 3)
    runs = search_runs_frame([(recall_tags("mamba", 1), {"test/accuracy": 0.9}, 1),
                              (untagged, {"test/accuracy": 0.5}, 2),
                              (recall_tags("mamba", 2), {"test/loss": 0.5}, 3)])
    frame, notes = study_frame(RECALL, runs)
    assert frame["seed"].tolist() == [1]
    assert notes == ["1 run(s) without the tag(s) tags.tsssm.width left out",
                     "1 run(s) with none of the metrics test/accuracy left out"]


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
