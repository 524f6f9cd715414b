"""Verdict wording generated from synthetic tidy frames (no tracking store)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from tsssm.claims.comparison import Comparison
from tsssm.claims.runs import DATASET, HORIZON, LENGTH, MODEL
from tsssm.claims.scaling import OOM, OVER_TIME, Measure, Scaling
from tsssm.claims.spec import ENTITY, SEED, Metric
from tsssm.claims.summary import missing_blocks
from tsssm.claims.verdicts import NO_RUNS, Verdict, combine, judge

MSE = Metric("test/mse", "test MSE")
STUDY = Comparison(name="toy", experiment="toy/ltsf", metric=MSE, entity=(MODEL,),
                   conditions=(DATASET, HORIZON), claimed=("mamba",), against=("transformer",),
                   expected=(("ETTh1", 96), ("ETTm1", 96), ("Exchange", 96)))
JITTER = np.array([-0.01, 0.0, 0.01])  # the seeds' spread of a difference: s = 0.01


def toy_frame(differences: dict[tuple[str, int], float], seeds: int = 3,
              jitter: np.ndarray = JITTER) -> pd.DataFrame:
    """Transformer at 0.4 + 0.01 * seed; mamba at that plus the block's difference (+ jitter)."""
    rows = []
    for (dataset, horizon), difference in differences.items():
        for seed in range(1, seeds + 1):
            base = 0.4 + 0.01 * seed
            rows.append(["transformer", dataset, horizon, seed, base])
            rows.append(["mamba", dataset, horizon, seed, base + difference + jitter[seed - 1]])
    return pd.DataFrame(rows, columns=[ENTITY, "dataset", "horizon", SEED, MSE.key])


def verdict(frame: pd.DataFrame, study: Comparison = STUDY) -> Verdict:
    analysis = study.analyse(frame)
    return judge(analysis.cells, analysis.factors, analysis.undecided)


def test_holds_cites_the_difference_and_its_interval() -> None:
    # differences -0.21, -0.2, -0.19: half-width 4.302653 * 0.01 / sqrt(3) = 0.0248
    result = verdict(toy_frame({("ETTh1", 96): -0.2}))
    assert result.line() == ("holds: mamba - transformer in test MSE at dataset ETTh1, horizon 96: "
                             "-0.2 [-0.225, -0.175] (n=3), Holm p 0.00083 of 1")


def test_fails_in_every_block_cites_the_weakest() -> None:
    result = verdict(toy_frame({("ETTh1", 96): 0.2, ("ETTm1", 96): 0.05}))
    assert result.word == "fails"
    assert result.detail == ("in all 2 comparisons; the weakest: mamba - transformer in test MSE at "
                             "dataset ETTm1, horizon 96: +0.05 [0.0252, 0.0748] (n=3), Holm p 0.013 of 2")


def test_higher_is_better_turns_the_sign() -> None:
    accuracy = Metric("test/mse", "accuracy", lower_is_better=False)
    study = Comparison(name="toy", experiment="toy", metric=accuracy, entity=(MODEL,),
                       conditions=(DATASET, HORIZON), claimed=("mamba",), against=("transformer",))
    assert verdict(toy_frame({("ETTh1", 96): 0.2}), study).word == "holds"
    assert verdict(toy_frame({("ETTh1", 96): -0.2}), study).word == "fails"


def test_straddling_zero_is_no_difference() -> None:
    result = verdict(toy_frame({("ETTh1", 96): 0.005}))
    assert result.word == "no difference detected at 3 seeds"
    assert "+0.005 [-0.0198, 0.0298] (n=3)" in result.detail


def test_depends_on_the_dataset() -> None:
    frame = toy_frame({("ETTh1", 96): -0.2, ("ETTh1", 192): -0.1, ("ETTm1", 96): -0.2,
                       ("Exchange", 96): 0.3, ("Exchange", 192): 0.2})
    result = verdict(frame)
    assert result.line() == "depends on the dataset: holds on ETTh1, ETTm1; fails on Exchange"


def test_depends_names_mixed_levels_with_their_counts() -> None:
    frame = toy_frame({("ETTh1", 96): -0.2, ("ETTh1", 192): -0.1, ("ETTm1", 96): 0.2,
                       ("ETTm1", 192): 0.0, ("Exchange", 96): 0.3})
    result = verdict(frame)
    assert result.line() == ("depends on the dataset: holds on ETTh1; fails on Exchange; "
                             "mixed on ETTm1 (fails 1, no difference 1)")


def test_fewer_than_three_seeds_decide_nothing() -> None:
    result = verdict(toy_frame({("ETTh1", 96): -0.2, ("ETTm1", 96): 0.2}, seeds=2))
    assert result.word == "not enough seeds (2)" and not result.decided
    mixed = pd.concat([toy_frame({("ETTh1", 96): -0.2}),
                       toy_frame({("ETTm1", 96): 0.2}, seeds=2)])
    assert verdict(mixed).line() == ("holds: mamba - transformer in test MSE at dataset ETTh1, "
                                     "horizon 96: -0.2 [-0.225, -0.175] (n=3), Holm p 0.00083 of 1; 1 "
                                     "more without enough runs, not judged")


def test_no_runs() -> None:
    assert verdict(toy_frame({})) == NO_RUNS


def test_combining_studies() -> None:
    holds, fails = Verdict("holds", "a"), Verdict("fails", "b")
    assert combine([("LTSF", holds), ("FSDD", fails), ("MQAR", NO_RUNS)]).line() == (
        "depends on the study: holds for LTSF; fails for FSDD; not decided: no runs yet for MQAR")
    assert combine([("LTSF", holds), ("FSDD", Verdict("holds", "c"))]).line() == "holds: LTSF: a; FSDD: c"
    too_few = Verdict("not enough seeds (2)", decided=False)
    assert combine([("LTSF", NO_RUNS), ("FSDD", too_few)]).word == "not enough seeds (2)"
    assert combine([("LTSF", NO_RUNS), ("FSDD", NO_RUNS)]) == NO_RUNS


def test_changes_from_a_reference_condition_are_compared() -> None:
    study = Comparison(name="rate", experiment="toy", metric=MSE, entity=(MODEL,),
                       conditions=(DATASET, HORIZON), claimed=("mamba",), against=("transformer",),
                       change_from=96)
    # mamba's difference to the transformer is -0.2 at both horizons: its change from 96 is the same
    frame = toy_frame({("ETTh1", 96): -0.2, ("ETTh1", 192): -0.2}, jitter=np.zeros(3))
    frame.loc[(frame[ENTITY] == "transformer") & (frame["horizon"] == 192), MSE.key] += 0.3
    result = verdict(frame, study)  # mamba - transformer in the change: exactly -0.3 in every seed
    assert result.line() == ("holds: mamba - transformer in test MSE change from horizon 96 at "
                             "dataset ETTh1, horizon 192: -0.3 [-0.3, -0.3] (n=3), Holm p 0 of 1")


def test_a_difference_decided_alone_is_undecided_among_many_comparisons() -> None:
    """+0.03 with s 0.01 over 3 seeds: t 5.2, p 0.035 alone (holds at 95%); beside 19 blocks of
    no difference, Holm multiplies it by 20 and the study detects no difference."""
    alone = verdict(toy_frame({("ETTh1", 96): -0.03}))
    assert alone.word == "holds" and alone.detail.endswith("Holm p 0.035 of 1")
    blocks = {("ETTh1", 96): -0.03, **{(f"set{i}", 96): 0.0 for i in range(19)}}
    analysis = STUDY.analyse(toy_frame(blocks))
    etth1 = next(row for row in analysis.rows if row[1] == "ETTh1")
    assert analysis.header[-2:] == ["Holm p (20)", "outcome"]
    assert etth1[-2:] == ["0.7", "no difference"]
    assert verdict(toy_frame(blocks)).word == "no difference detected at 3 seeds"


def test_missing_blocks_are_listed() -> None:
    frame = toy_frame({("ETTh1", 96): -0.2, ("ETTm1", 96): 0.1}).iloc[:-1]  # mamba ETTm1 seed 3 gone
    assert missing_blocks(STUDY, frame) == ["no runs for dataset Exchange",
                                            "model mamba, dataset ETTm1, horizon 96: seed(s) 3"]


STEP = Metric("train/step_s", "step time (s)")
SCALING = Scaling(name="toy scaling", experiment="toy/c1", entity=(MODEL,), conditions=(LENGTH,),
                  claimed=("s4", "mamba"), shown=("transformer",), lengths=(1024, 2048, 4096, 8192),
                  fit_from=2048, measures=(Measure(STEP, threshold=1.5),))


def scaling_frame(powers: dict[str, float], seeds: int = 3) -> pd.DataFrame:
    rows = [[model, length, seed, 1e-9 * length ** power * (1 + 0.01 * seed), np.nan]
            for (model, power), length, seed in itertools.product(powers.items(), SCALING.lengths,
                                                                   range(1, seeds + 1))]
    frame = pd.DataFrame(rows, columns=[ENTITY, "L", SEED, STEP.key, OOM])
    frame[OVER_TIME] = np.nan
    return frame


def scaling_verdict(frame: pd.DataFrame) -> Verdict:
    analysis = SCALING.analyse(frame)
    return judge(analysis.cells, analysis.factors, analysis.undecided)


def test_scaling_holds_and_depends_on_the_model() -> None:
    assert scaling_verdict(scaling_frame({"s4": 1.0, "mamba": 1.0, "transformer": 2.0})).word == "holds"
    result = scaling_verdict(scaling_frame({"s4": 1.0, "mamba": 2.0}))
    assert result.line() == "depends on the model: holds for s4; fails for mamba"
    evidence = SCALING.analyse(scaling_frame({"s4": 1.0})).cells[0].evidence
    assert evidence == ("s4 step time (s) ∝ L^1.00 [1.00, 1.00] over L 2048-8192 (3 lengths, 3 seeds; "
                        "threshold 1.5)")


def test_scaling_needs_seeds_and_lengths_and_lists_what_was_not_measured() -> None:
    assert scaling_verdict(scaling_frame({"s4": 1.0}, seeds=2)).word == "not enough seeds (2)"
    frame = scaling_frame({"s4": 1.0, "transformer": 2.0})
    frame.loc[(frame[ENTITY] == "transformer") & (frame["L"] == 8192), [STEP.key, OOM]] = [np.nan, 1.0]
    frame.loc[(frame[ENTITY] == "s4") & (frame["L"] == 8192), [STEP.key, OVER_TIME]] = [np.nan, 1.0]
    analysis = SCALING.analyse(frame)
    assert analysis.notes == ["transformer ran out of memory at L 8192",
                              "s4 not run (a shorter length's step took over the time cap) at L 8192"]
    transformer = [row for row in analysis.rows if row[0] == "transformer"]
    assert transformer == [["transformer", "step time (s)", "-", "2048-4096", "3",
                            "not enough lengths with 3 seeds from 2048 on (2)"]]


@pytest.mark.parametrize("power", [1.0, 2.0])
def test_scaling_exponent_is_read_back(power: float) -> None:
    rows = SCALING.analyse(scaling_frame({"s4": power})).rows
    assert rows[0][2] == f"{power:.2f} [{power:.2f}, {power:.2f}]"


def test_an_exponent_interval_across_the_threshold_is_undecided() -> None:
    frame = scaling_frame({"s4": 1.4})
    bent = frame["L"] == 4096  # one length 30% slow: the points leave the line, the interval widens
    frame.loc[bent, STEP.key] *= 1.3
    result = scaling_verdict(frame)
    assert result.word == "undecided at 3 seeds (an exponent interval spans its threshold)"
    assert result.detail.startswith("s4 step time (s) ∝ L^1.40 [")
