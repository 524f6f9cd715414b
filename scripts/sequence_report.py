"""Tables of scripts/gpu/sequence_runs.sh, read back from each job's MLflow store.

Usage: python scripts/sequence_report.py OUT_DIR  ->  OUT_DIR/sequence_results.md and .json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import mlflow


def read_run(db: Path) -> dict:
    """The one run of a job's store: its params, final metrics and validation history {step: bits/token}."""
    client = mlflow.MlflowClient(f"sqlite:///{db}")
    runs = [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])]
    if len(runs) != 1:
        raise SystemExit(f"{db}: expected one run, found {len(runs)}")
    history = client.get_metric_history(runs[0].info.run_id, "val/bits_per_token")
    return {"params": runs[0].data.params, "metrics": runs[0].data.metrics,
            "val_history": {m.step: m.value for m in history}}


def common_val_step(runs: list[dict]) -> int | None:
    """The last validation step every run reached: where runs cut short by max_time still compare at
    equal steps (same max_steps, so the same learning-rate schedule up to there)."""
    shared = set.intersection(*(set(r["val_history"]) for r in runs)) if runs else set()
    return max(shared) if shared else None


def row(name: str, run: dict, metric: str) -> dict:
    metrics, params = run["metrics"], run["params"]
    return {"job": name, "model": params.get("model.name"), "n_params": int(params["n_params"]),
            "flops_per_token": float(params["flops_per_token"]),
            "trained_steps": int(metrics.get("trained_steps", -1)),
            "seq_len": params.get("data.seq_len") or params.get("data.clip_length"),
            "metric": metric, "value": metrics.get(metric, float("nan")),
            "bits_per_token": metrics.get("test/bits_per_token", float("nan"))}


def main(out: Path) -> None:
    rows = {db.stem: read_run(db) for db in sorted(out.glob("*.db"))}
    fsdd_runs = {n: r for n, r in rows.items() if n.startswith("fsdd-")}
    step = common_val_step(list(fsdd_runs.values()))
    fsdd = [row(n, r, "test/bits_per_sample") | {"val_at_common_step": r["val_history"].get(step)}
            for n, r in fsdd_runs.items()]
    text = [row(n, r, "test/bits_per_byte") for n, r in rows.items()
            if n.startswith(("bytes-", "bpe-"))]
    mqar = [row(n, r, "test/accuracy") for n, r in rows.items() if n.startswith("mqar-")]
    lines = ["## FSDD, test bits per sample (8-bit mu-law, 8 kHz)", "",
             f"| model | parameters | trained steps | clip | val bits/sample at step {step} (every model) | "
             "test bits/sample (best checkpoint) |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['n_params']:,} | {r['trained_steps']} | {r['seq_len']} | "
              f"{r['val_at_common_step']:.4f} | {r['value']:.4f} |" for r in fsdd]
    lines += ["", "## tinyshakespeare, test bits per byte", "",
              "| job | model | parameters | trained steps | window (tokens) | forward FLOPs/token | "
              "tokens/byte | forward FLOPs/byte | test bits/byte |", "|---|---|---|---|---|---|---|---|---|"]
    for r in text:
        tokens_per_byte = r["value"] / r["bits_per_token"]
        lines.append(f"| {r['job']} | {r['model']} | {r['n_params']:,} | {r['trained_steps']} | "
                     f"{r['seq_len']} | {r['flops_per_token']:.3g} | {tokens_per_byte:.3f} | "
                     f"{r['flops_per_token'] * tokens_per_byte:.3g} | {r['value']:.4f} |")
    lines += ["", "## MQAR, test accuracy against sequence length (n_kv_pairs = L / 16)", "",
              "| model | parameters | sequence length | trained steps | test accuracy |", "|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['n_params']:,} | {r['seq_len']} | {r['trained_steps']} | "
              f"{r['value']:.4f} |" for r in sorted(mqar, key=lambda r: (r["model"], int(r["seq_len"])))]
    (out / "sequence_results.md").write_text("\n".join(lines) + "\n")
    (out / "sequence_results.json").write_text(json.dumps(
        {"fsdd": fsdd, "fsdd_common_val_step": step, "text": text, "mqar": mqar}, indent=2))
    print("\n".join(lines))


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve())
