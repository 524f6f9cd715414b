"""Which runs were still improving at their last validation check, read from their histories."""

from __future__ import annotations

import math

from mlflow.tracking import MlflowClient

from tsssm.claims.assess import ClaimResult, assess_study
from tsssm.claims.catalogue import C5
from tsssm.claims.markdown import summary_line
from tsssm.claims.progress import still_improving
from tsssm.claims.runs import stored_runs
from tsssm.claims.spec import Metric
from tsssm.run import tracking

LOSS = Metric("val/loss", "validation loss")
ACCURACY = Metric("val/accuracy", "validation accuracy", lower_is_better=False)
MQAR = C5.studies[2]


def test_a_run_improves_when_its_best_check_is_its_last():
    assert still_improving([(200, 3.0), (400, 2.0), (600, 1.5)], LOSS) == 1.0
    assert still_improving([(200, 3.0), (400, 1.0), (600, 1.5)], LOSS) == 0.0
    assert still_improving([(200, 0.1), (400, 0.5), (600, 0.9)], ACCURACY) == 1.0
    assert still_improving([(200, 0.1), (400, 0.9), (600, 0.5)], ACCURACY) == 0.0


def test_a_plateau_or_a_flattened_curve_is_not_improvement():
    assert still_improving([(200, 0.2), (400, 0.99), (600, 0.99)], ACCURACY) == 0.0
    # 0.0006 more after 0.9977 gained: under MIN_LAST_GAIN of it
    assert still_improving([(200, 0.001), (400, 0.9987), (600, 0.9993)], ACCURACY) == 0.0
    # 0.0005 more after 0.0201 gained: a slow climb, still under way
    assert still_improving([(200, 0.001), (400, 0.0211), (600, 0.0216)], ACCURACY) == 1.0


def test_a_step_logged_twice_counts_once():
    # the last step's check logged again at the end of training: still the last check
    assert still_improving([(200, 3.0), (400, 2.0), (400, 2.0)], LOSS) == 1.0
    assert still_improving([(400, 2.5), (200, 3.0), (400, 2.0)], LOSS) == 1.0  # any order


def test_fewer_than_two_checks_say_nothing():
    assert math.isnan(still_improving([], LOSS))
    assert math.isnan(still_improving([(200, 1.0)], LOSS))


def test_the_report_names_the_runs_their_budget_ended(tmp_path):
    """Runs in a real store: the flag is read from each run's validation history into the
    study's frame, and the study's notes name per entity how many runs were cut short."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment(MQAR.experiment)
    histories = {("0", 1): [0.001, 0.002, 0.003], ("0", 2): [0.001, 0.003, 0.002],
                 ("1", 1): [0.01, 0.02, 0.05], ("1", 2): [0.01, 0.03, 0.04],
                 ("0.125", 1): [0.01, 0.99, 0.99]}
    for (fraction, seed), values in histories.items():
        tags = tracking.run_tags("hybrid", "mqar", "L256", seed)
        run = client.create_run(experiment, tags=tags | {"tsssm.attention_fraction": fraction})
        for step, value in enumerate(values, start=1):
            client.log_metric(run.info.run_id, "val/accuracy", value, step=step * 200)
        client.log_metric(run.info.run_id, "test/accuracy", values[-1])
        client.set_terminated(run.info.run_id, "FINISHED")
    result = assess_study(MQAR, stored_runs(MQAR, uri))
    flags = result.frame.set_index(["entity", "seed"])["still_improving"].to_dict()
    assert flags == {("0", 1): 1.0, ("0", 2): 0.0, ("1", 1): 1.0, ("1", 2): 1.0,
                     ("0.125", 1): 0.0}
    assert result.notes[0] == (
        "3 of 5 run(s) were still improving at their last validation check (their validation "
        "accuracy there beat every earlier check's by 1% of their whole gain or more), so their "
        "training budget ended them, not convergence (attention fraction 0: 1 of 2, attention "
        "fraction 1: 2 of 2)")
    line = summary_line(ClaimResult(C5, [result], result.verdict))
    assert line.endswith("(5 of 15 expected runs so far; 3 of the 5 runs whose validation "
                         "history was read still improving at their budget's end)")
