"""From the tracking store (and a report's exported runs) to verdicts: each study's runs, summary,
evidence and verdict, and each claim's verdict from its studies'."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tsssm.claims.exported_runs import exported_frame, with_exported
from tsssm.claims.progress import progress_notes
from tsssm.claims.runs import stored_runs, study_frame
from tsssm.claims.spec import Analysis, Claim, Study
from tsssm.claims.summary import missing_blocks, summarise
from tsssm.claims.verdicts import NOTHING_TO_JUDGE, Verdict, combine, judge


@dataclass(frozen=True)
class StudyResult:
    """A study's tidy runs (``frame``), ``summary`` (n, mean, 95% interval per cell), what its
    numbers say (``analysis``), its ``verdict``, the expected runs it lacks and notes on the
    runs left out."""

    study: Study
    frame: pd.DataFrame
    summary: pd.DataFrame
    analysis: Analysis
    verdict: Verdict
    missing: list[str]
    notes: list[str]


@dataclass(frozen=True)
class ClaimResult:
    claim: Claim
    studies: list[StudyResult]
    verdict: Verdict


def assess_study(study: Study, runs: pd.DataFrame, exported: pd.DataFrame | None = None) -> StudyResult:
    """Everything the report says of one study, from ``mlflow.search_runs``' frame of its runs and
    the runs a report exported (``tsssm.claims.exported_runs``; the store's supersede them)."""
    frame, notes = study_frame(study, runs)
    if exported is not None:
        frame, superseded = with_exported(exported, frame, study)
        notes = notes + superseded
    analysis = study.analyse(frame)
    if analysis.cells or frame.empty:
        verdict = judge(analysis.cells, analysis.factors, analysis.undecided)
    else:
        verdict = NOTHING_TO_JUDGE
    return StudyResult(study, frame, summarise(study, frame), analysis, verdict,
                       missing_blocks(study, frame),
                       progress_notes(study, frame) + notes + analysis.notes)


def assess_claim(claim: Claim, tracking_uri: str | None, runs_dir: Path | None = None) -> ClaimResult:
    """The claim's studies, each read from its experiment in the store at ``tracking_uri`` (None:
    no store) and from the exports under ``runs_dir`` (None: none)."""
    studies = [assess_study(study,
                            pd.DataFrame() if tracking_uri is None
                            else stored_runs(study, tracking_uri),
                            None if runs_dir is None else exported_frame(study, runs_dir))
               for study in claim.studies]
    verdict = combine([(result.study.name, result.verdict) for result in studies])
    return ClaimResult(claim, studies, verdict)
