"""The catalogue is consistent: what the report writes and what the study scripts must log."""

from __future__ import annotations

from pathlib import Path

from tsssm.claims.catalogue import CLAIMS


def test_every_study_has_its_own_experiment_and_plot() -> None:
    studies = [study for claim in CLAIMS.values() for study in claim.studies]
    assert len({study.experiment for study in studies}) == len(studies)
    assert len({study.slug for study in studies}) == len(studies)
    assert all(study.experiment.startswith("claims/c") for study in studies)


def test_blocks_give_one_value_per_condition_and_entities_are_distinct() -> None:
    for claim in CLAIMS.values():
        for study in claim.studies:
            assert study.blocks, study.name
            assert all(len(block) == len(study.conditions) for block in study.blocks), study.name
            assert len(set(study.entities)) == len(study.entities), study.name
            assert len(study.seeds) >= 3, study.name


def test_every_study_names_the_scripts_that_make_its_runs() -> None:
    repo = Path(__file__).resolve().parents[2]
    for claim in CLAIMS.values():
        for study in claim.studies:
            assert study.made_by, study.name
            assert all((repo / script).is_file() for script in study.made_by), study.made_by
