"""The report's files, each written atomically: ``claims.md``, one tidy CSV per claim
(``c1.csv``: one row per study x metric x entity x conditions with n, mean, lo, hi), and per study
with runs one PNG (named after its experiment, e.g. ``c3-ltsf.png``) and the runs it counted, one
row per run (``runs/c3-ltsf.csv``: entity, conditions, seed, metrics), so the report's numbers can
be checked and recomputed without the store."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from tsssm.data.atomic import write_atomically, write_text_atomically
from tsssm.claims.assess import ClaimResult
from tsssm.claims.exported_runs import export_path
from tsssm.claims.markdown import claims_markdown
from tsssm.claims.spec import ENTITY
from tsssm.claims.summary import METRIC, STATS

REPORT = "claims.md"
RUNS = "runs"
STUDY = "study"
PNG_DPI = 110


def claim_table(claim: ClaimResult) -> pd.DataFrame:
    """Every study's summary stacked, its entity column named for what it is (model, attention
    fraction, model/tokenizer); a condition a study lacks is empty in its rows."""
    tables = [result.summary.rename(columns={ENTITY: result.study.entity_name})
              .assign(**{STUDY: result.study.name}) for result in claim.studies]
    names = [name for result in claim.studies
             for name in (result.study.entity_name, *result.study.condition_names)]
    columns = [STUDY, METRIC, *dict.fromkeys(names), *STATS]
    return pd.concat(tables, ignore_index=True).reindex(columns=columns)


def write_report(results: Sequence[ClaimResult], out_dir: Path) -> list[Path]:
    """Write the report under ``out_dir``; returns the paths written."""
    paths = [write_text_atomically(out_dir / REPORT, claims_markdown(results))]
    for result in results:
        table = claim_table(result)
        csv = out_dir / f"{result.claim.id.lower()}.csv"
        paths.append(write_atomically(csv, lambda tmp: table.to_csv(tmp, index=False)))
        for study in result.studies:
            if study.summary.empty:
                continue
            runs_csv = export_path(study.study, out_dir / RUNS)
            runs = study.frame.rename(columns={ENTITY: study.study.entity_name})
            paths.append(write_atomically(runs_csv, lambda tmp: runs.to_csv(tmp, index=False)))
            figure = study.study.figure(study.frame, study.summary)
            png = out_dir / f"{study.study.slug}.png"
            paths.append(write_atomically(png, lambda tmp: figure.savefig(tmp, format="png", dpi=PNG_DPI)))
    return paths
