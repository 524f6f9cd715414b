"""Compare finished runs: mean ± std over seeds for each model x dataset x horizon.

    python -m tsssm.compare --experiment ltsf/etth1 [--tracking-uri URI] [--metrics test/mse test/mae]
                            [--output results/etth1]

Runs are grouped by their tags (``tsssm.run.tracking.RUN_TAGS``), not by params, so the table does not care how
the config was laid out. A seed that was run twice counts once: its latest finished run. ``--output PREFIX``
writes ``PREFIX.md`` (the printed table), ``PREFIX.csv`` (mean, std, n and the 95% t-interval's
half-width of every metric, as numbers) and ``PREFIX.png`` (a panel per metric: every seed, the
mean and its 95% interval: ``tsssm.compare_plot``), each written atomically. The three files are
also logged to MLflow, as the artifacts of a dedicated run named ``compare`` in the (first)
compared experiment, tagged ``tsssm.compared`` with the experiments compared; a new run each
time, and never itself compared (``tsssm.run.tracking.search_runs`` leaves such runs out).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from tsssm.claims.stats import t_quantile
from tsssm.compare_plot import comparison_figure
from tsssm.data.atomic import write_atomically
from tsssm.run.errors import reported
from tsssm.run.tracking import (RUN_TAGS, TAG_COMPARED, TAG_DATASET, TAG_HORIZON, TAG_MODEL, TAG_SEED,
                                 RunLookupError, log_new_run, search_runs)

GROUP = ["dataset", "horizon", "model"]
DEFAULT_METRICS = ("test/mse", "test/mae")
COMPARE_RUN_NAME = "compare"


def per_seed(runs: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """One row per dataset x horizon x model x seed (its latest finished run): ``GROUP``, ``seed``
    and a column per metric. ``runs`` is ``mlflow.search_runs``' frame."""
    _require_tags(runs)
    _require_metrics(runs, metrics)
    runs = runs.rename(columns={f"tags.{TAG_DATASET}": "dataset", f"tags.{TAG_HORIZON}": "horizon",
                                f"tags.{TAG_MODEL}": "model", f"tags.{TAG_SEED}": "seed",
                                **{f"metrics.{metric}": metric for metric in metrics}})
    return _latest_run_per_seed(runs)[GROUP + ["seed", *metrics]].reset_index(drop=True)


def summarise(seeds: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """One row per dataset x horizon x model: ``n`` seeds, then per metric ``{metric}_mean``,
    ``_std``, ``_n`` and ``_ci95``.

    ``seeds`` is ``per_seed``'s frame. std is the sample std (ddof=1), NaN for a single seed;
    ci95 is the half-width of the 95% t-interval of the mean over seeds (``t_interval``).
    Sorted by dataset, horizon (numerically where it is a number), model.
    """
    grouped = seeds.groupby(GROUP, sort=False)
    table = grouped.size().rename("n").to_frame()
    for metric in metrics:
        values = grouped[metric]
        table[f"{metric}_mean"] = values.mean()
        table[f"{metric}_std"] = values.std(ddof=1)
        table[f"{metric}_n"] = values.count()
        table[f"{metric}_ci95"] = t_interval(table[f"{metric}_std"], table[f"{metric}_n"])
    table = table.reset_index()
    horizon_number = pd.to_numeric(table["horizon"], errors="coerce")
    order = table.assign(_h=horizon_number).sort_values(["dataset", "_h", "horizon", "model"], kind="stable")
    return table.loc[order.index].reset_index(drop=True)


def t_interval(std: pd.Series, n: pd.Series) -> pd.Series:
    """Half-width of the 95% t-interval of a mean of ``n`` values with sample std ``std``
    (Student's t, n - 1 degrees of freedom: ``tsssm.claims.stats.t_quantile``, the claims'
    intervals); NaN below two values."""
    quantile = n.map(lambda count: t_quantile(int(count) - 1) if count > 1 else math.nan)
    return quantile * std / np.sqrt(n)


def _require_tags(runs: pd.DataFrame) -> None:
    columns = [f"tags.{tag}" for tag in RUN_TAGS]
    present = runs.reindex(columns=columns)
    untagged = present.isna().any(axis=1)
    if untagged.any():
        ids = runs.loc[untagged, "run_id"].tolist()
        raise RunLookupError(f"runs {ids} lack one of the tags {list(RUN_TAGS)} that compare groups by "
                             f"(tsssm.run.tracking.run_tags sets them)")


def _require_metrics(runs: pd.DataFrame, metrics: Sequence[str]) -> None:
    logged = sorted(c.removeprefix("metrics.") for c in runs.columns
                    if c.startswith("metrics.") and runs[c].notna().any())
    missing = [m for m in metrics if m not in logged]
    if missing:
        raise RunLookupError(f"no finished run has the metric(s) {missing}; metrics logged: {logged}")


def _latest_run_per_seed(runs: pd.DataFrame) -> pd.DataFrame:
    runs = runs.sort_values("start_time", kind="stable")
    latest = runs.drop_duplicates(subset=GROUP + ["seed"], keep="last")
    if len(latest) < len(runs):
        print(f"compare: {len(runs) - len(latest)} older run(s) of an already-run seed left out",
              file=sys.stderr)
    return latest


def to_markdown(table: pd.DataFrame, metrics: Sequence[str]) -> str:
    """A Markdown table with padded columns, readable in a terminal as well as rendered."""
    header = GROUP + list(metrics) + ["n"]
    rows = [[str(row[c]) for c in GROUP] + [_mean_std(row, m) for m in metrics] + [str(row["n"])]
            for _, row in table.iterrows()]
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]
    lines = [_markdown_row(header, widths), _markdown_row(["-" * w for w in widths], widths)]
    lines += [_markdown_row(row, widths) for row in rows]
    return "\n".join(lines) + "\n"


def _mean_std(row: pd.Series, metric: str) -> str:
    """``mean ± std``; a metric logged by fewer seeds than the group has says how many it averages."""
    mean, std, count = row[f"{metric}_mean"], row[f"{metric}_std"], row[f"{metric}_n"]
    if count == 0:
        return "-"
    text = f"{mean:.4g}" if math.isnan(std) else f"{mean:.4g} ± {std:.2g}"
    return text if count == row["n"] else f"{text} (n={count})"


def _markdown_row(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "| " + " | ".join(cell.ljust(width) for cell, width in zip(cells, widths)) + " |"


def write_outputs(seeds: pd.DataFrame, table: pd.DataFrame, metrics: Sequence[str], prefix: Path,
                  title: str) -> list[Path]:
    """``PREFIX.md``, ``PREFIX.csv`` and ``PREFIX.png`` (``comparison_figure``); returns their paths."""
    md, csv, png = (prefix.with_name(prefix.name + suffix) for suffix in (".md", ".csv", ".png"))
    markdown = to_markdown(table, metrics)
    write_atomically(md, lambda tmp: Path(tmp).write_text(markdown, encoding="utf-8"))
    write_atomically(csv, lambda tmp: table.to_csv(tmp, index=False))
    figure = comparison_figure(seeds, table, metrics, title)
    write_atomically(png, lambda tmp: figure.savefig(tmp, format="png", dpi=120))
    return [md, csv, png]


def log_comparison(experiments: Sequence[str], tracking_uri: str | None, files: list[Path]) -> str:
    """``files`` logged to a new ``compare`` run of the first of ``experiments`` (module
    docstring); returns its id."""
    return log_new_run(experiments[0], tracking_uri, COMPARE_RUN_NAME,
                       {TAG_COMPARED: ", ".join(experiments)}, files)


@reported
def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tsssm.compare", description=__doc__.split("\n")[0])
    parser.add_argument("--experiment", action="extend", nargs="+", required=True, metavar="NAME",
                        help="MLflow experiment name(s); repeat the flag or list several")
    parser.add_argument("--tracking-uri", default=None,
                        help="MLflow tracking URI (default: sqlite ./mlflow.db)")
    parser.add_argument("--metrics", nargs="+", default=list(DEFAULT_METRICS), metavar="METRIC",
                        help="metrics to tabulate and plot, a panel each (default: %(default)s)")
    parser.add_argument("--output", type=Path, default=None, metavar="PREFIX",
                        help="write PREFIX.md, PREFIX.csv and PREFIX.png, and log them to MLflow")
    args = parser.parse_args(argv)
    runs = search_runs(args.experiment, args.tracking_uri)
    if runs.empty:
        raise RunLookupError(f"no finished runs in experiment(s) {args.experiment}")
    seeds = per_seed(runs, args.metrics)
    table = summarise(seeds, args.metrics)
    print(to_markdown(table, args.metrics), end="")
    if args.output is not None:
        title = ", ".join(args.experiment)
        files = write_outputs(seeds, table, args.metrics, args.output, title)
        for path in files:
            print(f"wrote {path}")
        run_id = log_comparison(args.experiment, args.tracking_uri, files)
        print(f"MLflow: logged {len(files)} files to run {run_id} ('{COMPARE_RUN_NAME}') of "
              f"experiment '{args.experiment[0]}'")


if __name__ == "__main__":
    main()
