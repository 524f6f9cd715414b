"""Claims C1 and C2 (tsssm/claims/catalogue.py): what training and decoding cost against the sequence
length, one MLflow run per model x length x seed, as the claims report reads them.

    python scripts/claims_costs.py c1 --tracking-uri sqlite:///$PWD/c1.db --powers 10-20
    python scripts/claims_costs.py c2 --tracking-uri sqlite:///$PWD/c2.db --powers 10-17

c1 (experiment claims/c1-linear-time): a training step at batch 1 on random tokens
(tsssm.benchmarks.training_step) logs train/step_s and train/peak_bytes. c2 (claims/c2-constant-memory):
a prefill of the context and --new-tokens greedy decoding steps (tsssm.benchmarks.generation) log
decode/token_s, decode/peak_bytes and prefill/peak_bytes. A case out of memory logs oom = 1 instead;
in c1 the lengths past one whose step took over --max-step-s (for that model and seed) log
over_time = 1 instead of running.
Models are the sequence presets (conf/model/seq), built afresh for every seed (its own random weights
and tokens); --override shrinks them (the CPU test). Runs are tagged model, dataset ``random``,
horizon ``L<length>``, seed, and keyed (tsssm.job) by their settings: a launch again skips the
cases the store holds FINISHED. Memory is only known on a GPU.
"""

from __future__ import annotations

import argparse

import torch

from tsssm.benchmarks.generation import Clock, GenerationRow, measure, preset_language_model
from tsssm.benchmarks.timing import _why, release
from tsssm.benchmarks.training_step import step_cost
from tsssm.claims.scaling import OVER_TIME
from tsssm.run import tracking
from tsssm.run.finished_jobs import TAG_JOB, finished_run, job_key
from tsssm.run.tracked_run import opened_store, store_lock

EXPERIMENTS = {"c1": "claims/c1-linear-time", "c2": "claims/c2-constant-memory"}
MAX_STEP_S = 2.0
"""c1's cap on one training step: past it a model is out of the running for long sequences, and
attention's quadratic step would take minutes per step (and hours per study) at 1M tokens."""


def powers(text: str) -> list[int]:
    """``10-20`` -> [10, ..., 20]; ``10,12`` -> [10, 12]."""
    if "-" in text:
        first, last = (int(part) for part in text.split("-", 1))
        return list(range(first, last + 1))
    return [int(part) for part in text.split(",")]


def training_metrics(model, length: int, clock: Clock, generator: torch.Generator) -> dict[str, float]:
    seconds, peak = step_cost(model, length, 1, clock, generator)
    return {"train/step_s": seconds, **({} if peak is None else {"train/peak_bytes": float(peak)})}


def decoding_metrics(model, length: int, clock: Clock, generator: torch.Generator,
                     new_tokens: int) -> dict[str, float]:
    row = GenerationRow("", 0, 1, length, new_tokens)
    measure(model, row, clock, generator)
    if row.note:
        raise RuntimeError(row.note)
    peaks = {"decode/peak_bytes": row.decode_peak_bytes, "prefill/peak_bytes": row.prefill_peak_bytes}
    return {"decode/token_s": row.step_ms / 1e3,
            **{key: float(value) for key, value in peaks.items() if value is not None}}


def case_metrics(args: argparse.Namespace, model_name: str, length: int, seed: int,
                 device: torch.device) -> dict[str, float]:
    """The case's metrics, or ``oom`` 1 where it ran out of memory."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = preset_language_model(model_name, args.override).to(device)
    clock = Clock(device)
    try:
        if args.claim == "c1":
            return training_metrics(model.train(), length, clock, generator)
        return decoding_metrics(model.eval(), length, clock, generator, args.new_tokens)
    except (torch.cuda.OutOfMemoryError, RuntimeError) as error:
        if _why(error) == "OOM" or str(error).startswith("OOM"):
            return {"oom": 1.0}
        raise
    finally:
        del model
        release()


def note_slow(slow_from: dict[tuple[str, int], int], model_name: str, seed: int, length: int,
              metrics: dict[str, float], max_step_s: float) -> None:
    """Remember the first length at which ``model_name``'s step with ``seed`` took over
    ``max_step_s``: the longer lengths of that pair are not run."""
    if metrics.get("train/step_s", 0.0) > max_step_s:
        slow_from.setdefault((model_name, seed), length)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("claim", choices=sorted(EXPERIMENTS))
    parser.add_argument("--tracking-uri", default=None, help="default sqlite:///./mlflow.db")
    parser.add_argument("--models", default="s4,mamba,mamba2,transformer")
    parser.add_argument("--powers", type=powers, default=None,
                        help="lengths 2^k: a range 10-20 or a list 10,12 (c1: 10-20, c2: 10-17)")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--new-tokens", type=int, default=256, help="c2: decoding steps measured")
    parser.add_argument("--override", action="append", default=[],
                        help="an override of the presets' config, e.g. model.backbone.d_model=16")
    parser.add_argument("--max-step-s", type=float, default=MAX_STEP_S,
                        help="c1: lengths past one whose step took longer are logged over_time, "
                             "not run")
    args = parser.parse_args()
    uri = args.tracking_uri or tracking.default_tracking_uri()
    experiment = EXPERIMENTS[args.claim]
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    slow_from: dict[tuple[str, int], int] = {}  # (model, seed): first length over the step cap
    for model_name in args.models.split(","):
        for k in sorted(args.powers or powers("10-20" if args.claim == "c1" else "10-17")):
            for seed in (int(s) for s in args.seeds.split(",")):
                length = 2 ** k
                key = job_key({"claim": args.claim, "model": model_name, "length": length,
                               "seed": seed, "new_tokens": args.new_tokens,
                               "override": args.override, "device": device.type})
                name = tracking.format_run_name(model_name, "random", f"L{length}", seed)
                done = finished_run(uri, experiment, key)
                if done is not None:
                    note_slow(slow_from, model_name, seed, length, done.data.metrics,
                              args.max_step_s)
                    print(f"skipped: {name} is in {uri} already")
                    continue
                if args.claim == "c1" and (model_name, seed) in slow_from:
                    metrics = {OVER_TIME: 1.0}
                else:
                    metrics = case_metrics(args, model_name, length, seed, device)
                note_slow(slow_from, model_name, seed, length, metrics, args.max_step_s)
                with store_lock(uri):
                    client = opened_store(uri, experiment)
                tags = {**tracking.run_tags(model_name, "random", f"L{length}", seed), TAG_JOB: key}
                run = client.create_run(client.get_experiment_by_name(experiment).experiment_id,
                                        tags=tags, run_name=name)
                for metric, value in metrics.items():
                    client.log_metric(run.info.run_id, metric, value)
                client.set_terminated(run.info.run_id)
                held = f", {torch.cuda.memory_allocated()} B held after it" if device.type == "cuda" else ""
                print(f"{name}: {metrics}{held}")


if __name__ == "__main__":
    main()
