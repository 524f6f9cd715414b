"""``claims.md``: the summary (one line per claim, what the README quotes), then per claim its
statement, verdict, and per study the table of means, the evidence, the plot and what is missing."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from tsssm.claims.assess import ClaimResult, StudyResult
from tsssm.claims.quality_goal import HEADER as GOAL_HEADER
from tsssm.claims.quality_goal import QualityGoal
from tsssm.claims.spec import ENTITY, format_value
from tsssm.claims.stats import MIN_SEEDS
from tsssm.claims.summary import METRIC, expected_runs
from tsssm.claims.verdicts import Verdict

INTRODUCTION = f"""\
What the runs say about each claim made for state-space models, generated from the MLflow store by
`python -m tsssm.claims`; edit nothing here by hand.

How the numbers become verdicts: every number is a mean over seeds with its 95% t-interval.
Models are compared by paired differences over seeds at matched conditions (dataset, horizon,
axis value). A claim holds in a comparison when the difference's interval lies entirely on the
better side of 0, fails when it lies entirely on the worse side; an interval that contains 0 is
"no difference detected". Growth (C1, C2) is a power law fitted on log-log axes from the longest
lengths; the claim holds for a model when the exponent's interval lies below its threshold. Fewer
than {MIN_SEEDS} seeds decide nothing: "not enough seeds (n)". When comparisons disagree, the
verdict names what it depends on: the factor whose values best separate them."""


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table, cells padded to their column's width so it reads in a terminal too."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    lines = [list(header), ["-" * width for width in widths], *rows]
    return "\n".join("| " + " | ".join(str(cell).ljust(width) for cell, width in zip(line, widths))
                     + " |" for line in lines)


def mean_text(row: pd.Series) -> str:
    """``0.3861 ± 0.0031 (3)``: mean, half the 95% interval, seeds."""
    if math.isnan(row["lo"]):
        return f"{row['mean']:.4g} ({row['n']})"
    return f"{row['mean']:.4g} ± {(row['hi'] - row['lo']) / 2:.2g} ({row['n']})"


def means_table(result: StudyResult, metric: str) -> str:
    """Rows: the conditions; columns: the entities; cells: ``mean ± half-interval (seeds)``."""
    study = result.study
    rows = result.summary[result.summary[METRIC] == metric]
    names = study.condition_names
    entities = list(dict.fromkeys(rows[ENTITY]))
    cells = {(tuple(r[names]), r[ENTITY]): mean_text(r) for _, r in rows.iterrows()}
    blocks = sorted(dict.fromkeys(tuple(values) for values in rows[names].itertuples(index=False)))
    body = [[*map(format_value, block), *(cells.get((block, e), "-") for e in entities)]
            for block in blocks]
    return markdown_table([*names, *entities], body)


def verdict_text(verdict: Verdict) -> str:
    """The verdict's word in bold, then what it rests on."""
    return f"**{verdict.word}**: {verdict.detail}" if verdict.detail else f"**{verdict.word}**"


def study_section(result: StudyResult, with_verdict: bool) -> list[str]:
    """A study's tables, plot and missing runs; its own verdict when its claim has several."""
    study = result.study
    lines = [f"### {study.name}", "",
             f"Experiment `{study.experiment}`: {len(result.frame)} run(s) counted."]
    if result.frame.empty:
        return lines + ["", "No runs yet."]
    if with_verdict:
        lines += ["", f"Verdict: {verdict_text(result.verdict)}"]
    for metric in study.metrics:
        if (result.summary[METRIC] == metric.key).any():
            lines += ["", f"{metric.label} (`{metric.key}`), mean ± 95% interval (seeds):", "",
                      means_table(result, metric.key)]
    if result.analysis.rows:
        lines += ["", markdown_table(result.analysis.header, result.analysis.rows)]
    if not result.summary.empty:
        lines += ["", f"![{study.name}]({study.slug}.png)"]
    if result.missing:
        lines += ["", "Missing runs:", "", *(f"- {line}" for line in result.missing)]
    if result.notes:
        lines += ["", "Notes:", "", *(f"- {line}" for line in result.notes)]
    return lines


def goal_section(goal: QualityGoal, result: ClaimResult) -> list[str]:
    """A goal's table, from the runs of the study it reads."""
    frame = next(study.frame for study in result.studies if study.study.name == goal.study)
    lines = [f"### {goal.name}", "",
             f"Per dataset, the best of {', '.join(goal.candidates)} by `{goal.metric}` averaged "
             f"over the dataset's horizons (per seed, then the mean ± 95% interval (seeds) over "
             f"the seeds with every horizon), against {goal.source}; the best model of all "
             f"beside it."]
    if frame.empty:
        return lines + ["", "No runs yet."]
    return lines + ["", markdown_table(GOAL_HEADER, goal.rows(frame))]


def claim_section(result: ClaimResult) -> list[str]:
    claim = result.claim
    lines = [f"## {claim.id} {claim.title}", "", f"> {claim.statement}", "",
             f"Verdict: {verdict_text(result.verdict)}"]
    for study in result.studies:
        lines += ["", *study_section(study, with_verdict=len(result.studies) > 1)]
    for goal in claim.goals:
        lines += ["", *goal_section(goal, result)]
    return lines


def summary_line(result: ClaimResult) -> str:
    """The claim's verdict, and how many of its studies' expected runs it rests on while some are
    missing."""
    line = f"- {result.claim.id} {result.claim.title}: {verdict_text(result.verdict)}"
    counted = sum(len(study.frame) for study in result.studies)
    expected = sum(expected_runs(study.study) for study in result.studies)
    if 0 < counted < expected:
        line += f" ({counted} of {expected} expected runs so far)"
    return line


def claims_markdown(results: Sequence[ClaimResult]) -> str:
    lines = ["# Claims", "", INTRODUCTION, "", "## Summary", "", *map(summary_line, results)]
    for result in results:
        lines += ["", *claim_section(result)]
    return "\n".join(lines) + "\n"
