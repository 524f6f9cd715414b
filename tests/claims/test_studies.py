"""The claim studies (conf/study/) at CPU size (conf/study/ci/), launched as their command lines
(``python -m tsssm.fit -m study=ci/NAME``) into one temporary MLflow store, with the cost
measurements of C1 and C2 (scripts/claims_costs.py) at tiny sizes, all in this process (one
start-up for all); then the claims report on that store. A study launched again trains nothing."""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path
from unittest import mock

import mlflow
import pytest

from tests.compose import REPO, compose_fit
from tests.test_experiments import config_names
from tsssm.claims.__main__ import main as claims_main
from tsssm.claims.catalogue import CLAIMS
from tsssm.claims.runs import read_experiment, study_frame
from tsssm.fit import main as fit_main
from tsssm.run.finished_jobs import TAG_JOB
from tsssm.run.trained_twins import TAG_TRAINED_IN, TAG_TRAINING

STUDIES = [f"ci/{name}" for name in config_names("study/ci")]
STUDIED = ("C3", "C4", "C5", "C6", "C7")  # the claims judged on runs of fit
MEASURED = ("C1", "C2")
TINY_PRESETS = ["--models", "mamba,transformer", "--powers", "6,7", "--seeds", "1,2", "--new-tokens",
                "2", "--override", "model.backbone.d_model=24", "--override", "model.backbone.n_layers=1"]


def launch(study: str, uri: str, sweep_dir: Path) -> None:
    """``python -m tsssm.fit -m study=STUDY`` into ``uri`` (the config folder named: Hydra finds
    it by the entry point's module only when that runs as ``__main__``)."""
    argv = ["tsssm.fit", "-m", f"--config-path={REPO / 'conf'}", f"study={study}",
            f"logger.tracking_uri={uri}", f"hydra.sweep.dir={sweep_dir}"]
    with mock.patch.object(sys, "argv", argv):
        fit_main()


def measure_costs(claim: str, uri: str, *options: str) -> None:
    """``python scripts/claims_costs.py CLAIM [OPTIONS]`` at tiny sizes into ``uri``."""
    argv = ["claims_costs.py", claim, "--tracking-uri", uri, *TINY_PRESETS, *options]
    with mock.patch.object(sys, "argv", argv):
        runpy.run_path(str(REPO / "scripts" / "claims_costs.py"), run_name="__main__")


def all_runs(uri: str) -> list[mlflow.entities.Run]:
    client = mlflow.MlflowClient(uri)
    return client.search_runs([e.experiment_id for e in client.search_experiments()])


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("studies")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with mock.patch.dict(os.environ, {"TSSSM_CACHE": str(folder / "bpe")}):
        for study in STUDIES:
            launch(study, uri, folder / "sweeps" / study)
    for claim in ("c1", "c2"):
        measure_costs(claim, uri)
    return folder, uri


def test_every_study_has_a_ci_version():
    assert STUDIES == [f"ci/{name}" for name in config_names("study") if not name.startswith("ci/")]


@pytest.mark.parametrize("overrides", [["study=c3_ltsf", "model=mamba"],
                                       ["study=c6_recall", "model=seq/mamba"],
                                       ["hparams_search=ltsf_optuna", "experiment=ltsf/etth1",
                                        "model=mamba"]])
def test_studies_and_searches_log_step_losses_every_200_steps(tmp_path, overrides):
    """Their hundreds of runs share one store that travels in a GPU call: the step losses every
    200 steps on the GPU's trainer, where a single run logs every 10."""
    assert compose_fit(tmp_path, [*overrides, "trainer=gpu"]).trainer.log_every_n_steps == 200
    single = compose_fit(tmp_path, ["experiment=ltsf/etth1", "model=mamba", "trainer=gpu"])
    assert single.trainer.log_every_n_steps == 10


def test_the_studies_log_what_the_catalogue_reads(store):
    _, uri = store
    for claim in STUDIED + MEASURED:
        for study in CLAIMS[claim].studies:
            frame, notes = study_frame(study, read_experiment(study.experiment, uri))
            chose = [] if study.selection is None else [
                "4 run(s) at a learning rate not chosen left out (per model, conditions and "
                "seed, the best validation accuracy counts)"]  # of 2 models x 2 seeds x 2 rates
            assert not frame.empty and notes == chose, (study.name, notes)
            assert sorted(frame["seed"].unique()) == [1, 2]
    c7 = CLAIMS["C7"].studies[0]
    rates = study_frame(c7, read_experiment(c7.experiment, uri))[0]["sample rate"]
    assert sorted(rates.unique()) == [8000, 16000]
    c5 = CLAIMS["C5"].studies[0]
    fractions = study_frame(c5, read_experiment(c5.experiment, uri))[0]["entity"]
    assert sorted(fractions.unique()) == ["0", "0.25", "1"]


def test_c7_trains_each_model_and_seed_once_and_tests_those_weights_at_every_rate(store):
    _, uri = store
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name(CLAIMS["C7"].studies[0].experiment)
    trainings: dict[str, list] = {}
    for run in client.search_runs([experiment.experiment_id]):
        trainings.setdefault(run.data.tags[TAG_TRAINING], []).append(run)
    assert len(trainings) == 4  # 2 models x 2 seeds, each tested at 2 rates
    for runs in trainings.values():
        trained = [run for run in runs if TAG_TRAINED_IN not in run.data.tags]
        assert len(trained) == 1 and len(runs) == 2
        tested = next(run for run in runs if run is not trained[0])
        assert tested.data.tags[TAG_TRAINED_IN] == trained[0].info.run_id
        assert "trained_steps" in trained[0].data.metrics
        assert "trained_steps" not in tested.data.metrics
        rates = {run.data.tags["tsssm.sample_rate"] for run in runs}
        assert rates == {"8000", "16000"}
        bits = {run.data.metrics["test/bits_per_sample"] for run in runs}
        assert len(bits) == 2, "the same weights score differently at another rate"
    in_order = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    keys = [run.data.tags[TAG_TRAINING] for run in in_order]
    assert keys == sorted(keys, key=keys.index), "a training's tests follow it before the next one"


def test_the_report_has_a_table_for_every_claim_studied(store):
    folder, uri = store
    claims_main(["--output", str(folder / "report"), "--tracking-uri", uri])
    report = (folder / "report" / "claims.md").read_text()
    for claim in STUDIED + MEASURED:
        section = report.split(f"## {claim} ", 1)[1].split("\n## ", 1)[0]
        for study in CLAIMS[claim].studies:
            table = section.split(f"### {study.name}\n", 1)[1].split("\n### ", 1)[0]
            assert ("| L " if claim in MEASURED else "| dataset") in table, (claim, study.name)


def test_a_study_launched_again_trains_nothing_and_each_job_is_held_once(store, capsys):
    folder, uri = store
    before = all_runs(uri)
    launch("ci/c3_ltsf", uri, folder / "sweeps" / "again")
    measure_costs("c1", uri)
    after = all_runs(uri)
    assert sorted(run.info.run_id for run in after) == sorted(run.info.run_id for run in before)
    keys = [run.data.tags[TAG_JOB] for run in after]
    assert len(keys) == len(set(keys))
    out = capsys.readouterr().out
    assert out.count("skipped: job") == 6 and out.count("skipped: ") == 6 + 8
    assert not (folder / "sweeps" / "again" / "0" / "checkpoints").exists(), "nothing trained"


def test_lengths_past_a_step_over_the_cap_are_logged_over_time_not_run(tmp_path, capsys):
    """With a cap every step exceeds, each model and seed runs its shortest length only; the
    longer one is logged over_time (and nothing else), skipped when launched again, and named
    in the report's notes."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    measure_costs("c1", uri, "--max-step-s", "0")
    runs = all_runs(uri)
    by_length = {}
    for run in runs:
        by_length.setdefault(run.data.tags["tsssm.horizon"], []).append(run.data.metrics)
    assert sorted(by_length) == ["L128", "L64"]
    assert all(metrics["train/step_s"] > 0 for metrics in by_length["L64"])
    assert by_length["L128"] == [{"over_time": 1.0}] * 4
    capsys.readouterr()
    measure_costs("c1", uri, "--max-step-s", "0")
    assert capsys.readouterr().out.count("skipped: ") == 8 and len(all_runs(uri)) == 8
    claims_main(["--output", str(tmp_path / "report"), "--tracking-uri", uri])
    report = (tmp_path / "report" / "claims.md").read_text()
    for model in ("mamba", "transformer"):
        assert (f"- {model} not run (a shorter length's step took over the time cap) at L 128"
                in report)
