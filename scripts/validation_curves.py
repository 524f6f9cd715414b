"""The validation curves of one MLflow experiment's runs, as a markdown table: a pilot's question
("does it get there within the budget, and when?") read from its store without the claims
report, which counts only a study's runs.

One row per run: the params named, its status, its minutes, its checks, its best value and the
step of it, and its value at the last check at or before each milestone step.
    python scripts/validation_curves.py sqlite:///pilot.db pilots/c6-recall val/accuracy \
        --params model.name data.seq_len model.optim.lr --milestones 1000 2500 5000
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd
from mlflow.tracking import MlflowClient

from tsssm.claims.markdown import markdown_table


def curves(client: MlflowClient, experiment: str, metric: str, params: list[str],
           milestones: list[int], higher_is_better: bool = True) -> pd.DataFrame:
    """A row per run of ``experiment`` (oldest first): the named params, status, minutes,
    checks, best and its step, and the value at each milestone step."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise SystemExit(f"error: the store has no experiment {experiment!r}")
    rows = []
    for run in client.search_runs([found.experiment_id], order_by=["attributes.start_time ASC"]):
        history = pd.Series({m.step: m.value for m in sorted(
            client.get_metric_history(run.info.run_id, metric), key=lambda m: m.timestamp)},
            dtype=float).sort_index()
        row = {name: run.data.params.get(name, "") for name in params}
        end = run.info.end_time or run.info.start_time
        row |= {"status": run.info.status, "minutes": round((end - run.info.start_time) / 6e4, 1),
                "checks": len(history)}
        if len(history):  # a run stopped before its first check has none
            best = history.idxmax() if higher_is_better else history.idxmin()
            row |= {"best": history[best], "at step": best}
        for step in milestones:
            before = history[history.index <= step]
            row[f"step {step}"] = before.iloc[-1] if len(before) else None
        rows.append(row)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tracking_uri")
    parser.add_argument("experiment")
    parser.add_argument("metric")
    parser.add_argument("--params", nargs="*", default=[], help="params to show, by name")
    parser.add_argument("--milestones", nargs="*", type=int, default=[1000, 2000, 3000, 5000])
    parser.add_argument("--lower-is-better", action="store_true")
    args = parser.parse_args(argv)
    table = curves(MlflowClient(args.tracking_uri), args.experiment, args.metric, args.params,
                   args.milestones, higher_is_better=not args.lower_is_better)
    if table.empty:
        raise SystemExit(f"error: experiment {args.experiment!r} has no runs")
    cells = [["" if pd.isna(v) else f"{v:.4g}" if isinstance(v, float) else str(v) for v in row]
             for row in table.itertuples(index=False)]
    sys.stdout.write(markdown_table(list(table.columns), cells) + "\n")


if __name__ == "__main__":
    main()
