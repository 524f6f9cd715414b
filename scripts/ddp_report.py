"""Tables of scripts/gpu/ddp_scaling.sh: throughput on 1 and 2 GPUs, and 1- vs 2-GPU evaluation.

Usage: python scripts/ddp_report.py OUT_DIR  ->  OUT_DIR/ddp_scaling.md and ddp_scaling.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from tsssm.run import tracking

SETUPS = ["ettm1-mamba", "ettm1-transformer", "fsdd-mamba", "fsdd-transformer"]
EVALUATED = ["ettm1-transformer", "fsdd-mamba"]


def throughput(runs: pd.DataFrame, model: str, dataset: str, world_size: int) -> float:
    """Samples per second over all ranks (rank 0's window times the world size under DDP)."""
    chosen = runs[(runs["tags.tsssm.model"] == model)
                  & (runs["tags.tsssm.dataset"].str.lower() == dataset)
                  & (runs["params.world_size"] == str(world_size))]
    if len(chosen) != 1:
        print(f"no single {model} run on {dataset} with world size {world_size} "
              f"(found {len(chosen)}): reported as not measured")
        return float("nan")
    key = "metrics.train/samples_per_sec" if world_size > 1 else "metrics.train/device/samples_per_sec"
    return float(chosen[key].iloc[0])


def evaluation(out: Path, name: str) -> dict:
    """Metrics of the same checkpoint on 1 and 2 GPUs, and whether their predictions agree."""
    one, two = (json.loads((out / f"{name}-eval{g}" / "metrics.json").read_text()) for g in (1, 2))
    p1, p2 = (pd.read_parquet(out / f"{name}-eval{g}.parquet") for g in (1, 2))
    value = p1.columns[-1]
    same_rows = p1.drop(columns=value).equals(p2.drop(columns=value))
    diff = (p1[value] - p2[value]).abs().max() if same_rows else float("nan")
    return {"metrics_1gpu": one["metrics"], "metrics_2gpu": two["metrics"],
            "windows": int(p1["window"].nunique()), "same_windows_and_positions": bool(same_rows),
            "max_abs_prediction_diff": float(diff)}


def main(out: Path) -> None:
    runs = tracking.search_runs("ddp_scaling", f"sqlite:///{out}/mlflow.db")
    rows, checks, raw = [], [], {}
    for name in SETUPS:
        dataset, model = name.split("-")
        t1, t2 = throughput(runs, model, dataset, 1), throughput(runs, model, dataset, 2)
        rows.append(f"| {dataset} | {model} | {t1:,.0f} | {t2:,.0f} | {t2 / (2 * t1):.0%} |")
        raw[name] = {"samples_per_s_1gpu": t1, "samples_per_s_2gpu": t2}
    for name in EVALUATED:
        if not (out / f"{name}-eval2" / "metrics.json").exists():
            checks.append(f"| {name} | not evaluated | | | | | |")
            continue
        ev = evaluation(out, name)
        main_metric = "test/bits_per_sample" if name.startswith("fsdd") else "test/mse"
        m1, m2 = ev["metrics_1gpu"][main_metric], ev["metrics_2gpu"][main_metric]
        checks.append(f"| {name} | {main_metric} | {m1:.6f} | {m2:.6f} | {ev['windows']} | "
                      f"{ev['same_windows_and_positions']} | {ev['max_abs_prediction_diff']:.1e} |")
        raw[name].update(ev)
    text = ("| data | model | samples/s 1 GPU | samples/s 2 GPUs | scaling efficiency |\n"
            "|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
            "| 1-GPU checkpoint | test metric | 1 GPU | 2 GPUs | test windows | same windows | "
            "max abs prediction diff |\n|---|---|---|---|---|---|---|\n" + "\n".join(checks) + "\n")
    (out / "ddp_scaling.md").write_text(text)
    (out / "ddp_scaling.json").write_text(json.dumps(raw, indent=2, sort_keys=True))
    print(text)


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve())
