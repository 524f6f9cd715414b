"""``python -m tsssm.generate``: sample audio, text or recall tokens from a trained sequence model.

The checkpoint carries the config of the run that trained it (``tsssm.run.checkpoint``), so the data module
and the network are rebuilt from it alone; ``overrides`` (a nested mapping) is merged over that
config first, e.g. to run an S4 model trained at 8 kHz on a 16 kHz grid (``data.sample_rate`` and
the S4 mixers' ``rate``). Generation is ``LanguageModel.generate``: a parallel prefill of the
prompt, then one ``step`` per token, with a fixed-size state for SSMs and a KV cache for attention.

Outputs, in ``output`` (prompts and sample formats: ``tsssm.run.samples``):
- ``sample_000.wav`` + ``sample_000.png`` ... (audio) or ``sample_000.txt`` ... (text, token ids);
- ``generation.json``: the settings and the measurements: ``tokens_per_s`` (generated tokens per
  second of generation wall time, the prompt's prefill included, after a short untimed warm-up that
  absorbs one-off costs such as Triton compilation; CUDA is synchronised around the timing) and
  ``memory``: ``state_bytes`` (the decoding state the last token was sampled from, its buffers
  as decoding held them) and ``peak_bytes`` with its ``peak_source`` (CUDA:
  ``torch.cuda.max_memory_allocated`` during generation, weights included; CPU: the process's peak
  resident set size, which also counts the data and the interpreter).
The files are also logged, under ``samples/``, to the MLflow run that trained the checkpoint when
the checkpoint names one and its tracking store can be reached. Examples::

    python -m tsssm.generate checkpoint=outputs/2026-01-01/12-00-00/checkpoints/best.ckpt
    python -m tsssm.generate checkpoint=best.ckpt n=2 length=16000 prompt=voice.wav prompt_length=4000
    python -m tsssm.generate checkpoint=best.ckpt prompt="ROMEO:" temperature=0.8 top_p=0.95
    python -m tsssm.generate checkpoint=best.ckpt +overrides.data.sample_rate=16000 \\
        +overrides.model.backbone.mixers.s.rate=0.5
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf
from torch import Tensor

from tsssm.data.sequence import check_positive
from tsssm.run.entry_point import hydra_entry_point
from tsssm.run.build import build
from tsssm.run.device import resolve_device
from tsssm.models.language_model import LanguageModel
from tsssm.run.checkpoint import RECORD_KEY
from tsssm.run.loading import SEQUENCE_TASK, load_weights, open_checkpoint
from tsssm.run.outputs import check_destination, check_not_an_input, data_locations
from tsssm.run.samples import (AUDIO, data_form, make_prompt, sample_text, write_atomically,
                           write_samples)
from tsssm.tasks.language_model import LanguageModelTask

SAMPLES_ARTIFACT_PATH = "samples"
REPORT_NAME = "generation.json"
WARM_UP_TOKENS = 2


def load_for_generation(checkpoint_path: str | Path, overrides: Mapping[str, Any] | None = None,
                        device: torch.device | str = "cpu"
                        ) -> tuple[L.LightningDataModule, LanguageModelTask, dict[str, Any]]:
    """The data module, the task (weights loaded, eval mode, on ``device``) and the checkpoint's
    run record, rebuilt from the checkpoint's config with ``overrides`` merged over it."""
    checkpoint, config = open_checkpoint(checkpoint_path, overrides, SEQUENCE_TASK,
                                         "generate")
    datamodule, task = build(config, stage="predict")
    load_weights(task, checkpoint, checkpoint_path, overrides)
    return datamodule, task.to(device).eval(), checkpoint[RECORD_KEY]


def peak_rss_bytes() -> int:
    """The process's peak resident set size (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


@torch.no_grad()
def timed_generation(net: LanguageModel, prompt: Tensor, length: int, temperature: float,
                     top_p: float, seed: int) -> tuple[Tensor, dict[str, Any]]:
    """``prompt (B, P)`` -> ``(B, P + length)`` tokens and the measurements (module docstring)."""
    device = prompt.device
    cuda = device.type == "cuda"
    warm_up = torch.Generator(device=device).manual_seed(seed)
    net.generate(prompt, WARM_UP_TOKENS, temperature, top_p, warm_up)
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    start = time.perf_counter()
    tokens, states = net.generate_with_states(prompt, length, temperature, top_p, generator)
    if cuda:
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    if cuda:
        peak, source = torch.cuda.max_memory_allocated(device), "torch.cuda.max_memory_allocated"
    else:
        peak, source = peak_rss_bytes(), "peak resident set size of the process (ru_maxrss)"
    generated = prompt.shape[0] * length
    return tokens, {"generated_tokens": generated, "seconds": seconds,
                    "tokens_per_s": generated / seconds,
                    "memory": {"state_bytes": net.state_nbytes(states),
                               "peak_bytes": peak, "peak_source": source}}


def log_to_training_run(record: Mapping[str, Any], files: list[Path]) -> str:
    """Log ``files`` under ``samples/`` to the run that trained the checkpoint; says what it did."""
    run_id, uri = record.get("run_id"), record.get("tracking_uri")
    if not run_id or not uri:
        return "not logged to MLflow: the checkpoint names no training run"
    database = uri.removeprefix("sqlite:///").split("?", 1)[0] if uri.startswith("sqlite:///") else None
    if database is not None and not Path(database).is_file():
        return f"not logged to MLflow: the tracking database {database} does not exist here"
    client = MlflowClient(uri)
    try:
        client.get_run(run_id)
        for path in files:
            client.log_artifact(run_id, str(path), SAMPLES_ARTIFACT_PATH)
    except (MlflowException, OSError) as error:
        return f"not logged to MLflow run {run_id} at {uri}: {error}"
    return (f"logged {len(files)} files to MLflow run {run_id} (artifact path "
            f"{SAMPLES_ARTIFACT_PATH}/), tracking URI {uri}")


def output_folder(output: str | None) -> Path:
    """``output``, or Hydra's run folder when it is null."""
    if output is not None:
        return Path(output)
    if not HydraConfig.initialized():
        raise ValueError("output is null and no Hydra run folder exists: give output=FOLDER")
    return Path(HydraConfig.get().runtime.output_dir)


def generate(cfg: DictConfig) -> dict[str, Any]:
    """Generate, write and log the samples as ``conf/generate.yaml`` describes; returns the report
    written to ``generation.json`` plus ``files`` (every path written) and ``mlflow`` (what was logged)."""
    n, length = check_positive("n", cfg.n), check_positive("length", cfg.length)
    prompt_length = None if cfg.prompt_length is None else check_positive("prompt_length",
                                                                          cfg.prompt_length)
    out_dir = output_folder(cfg.output)
    inputs = [Path(str(path)) for path in (cfg.checkpoint, cfg.prompt) if path is not None]
    check_destination(out_dir, [path for path in inputs if path.is_file()], folder=True)
    device = resolve_device(str(cfg.device))
    overrides = OmegaConf.to_container(cfg.overrides, resolve=True)
    datamodule, task, record = load_for_generation(cfg.checkpoint, overrides, device)
    check_not_an_input(out_dir, data_locations(record["config"]))
    prompt = make_prompt(datamodule, None if cfg.prompt is None else str(cfg.prompt),
                         prompt_length)
    batch = prompt.ids.to(device).unsqueeze(0).expand(n, -1).contiguous()
    tokens, measured = timed_generation(task.net, batch, length, cfg.temperature, cfg.top_p, cfg.seed)
    samples = tokens[:, prompt.skip:]
    model_name = record["config"]["model"]["name"]
    title = f"{model_name}-{datamodule.dataset_name}, T={cfg.temperature}"
    files = write_samples(datamodule, samples, out_dir, title)
    report = {"checkpoint": str(Path(cfg.checkpoint).resolve()), "model": model_name,
              "dataset": datamodule.dataset_name, "form": data_form(datamodule),
              "device": str(device), "n": n, "length": length,
              "prompt_tokens": prompt.ids.shape[0], "temperature": cfg.temperature,
              "top_p": cfg.top_p, "seed": cfg.seed, "overrides": overrides, **measured,
              "samples": [path.name for path in files],
              "training_run": {"run_id": record.get("run_id"),
                               "tracking_uri": record.get("tracking_uri")}}
    if data_form(datamodule) == AUDIO:
        report["sample_rate"] = datamodule.sample_rate
    report_path = write_atomically(out_dir / REPORT_NAME, lambda tmp: tmp.write_text(
        json.dumps(report, indent=1) + "\n", encoding="utf-8"))
    files.append(report_path)
    logged = log_to_training_run(record, files)
    print_summary(datamodule, samples, report, out_dir, logged)
    return {**report, "files": files, "mlflow": logged}


def print_summary(datamodule: L.LightningDataModule, samples: Tensor, report: dict[str, Any],
                  out_dir: Path, logged: str) -> None:
    """Text and id samples in full, then the speed, the memory, the outputs and the MLflow line."""
    if data_form(datamodule) != AUDIO:
        for index, ids in enumerate(samples.cpu()):
            print(f"--- sample_{index:03d} ---\n{sample_text(datamodule, ids)}")
    memory = report["memory"]
    print(f"\n{report['model']}-{report['dataset']} on {report['device']}: "
          f"{report['generated_tokens']} tokens in {report['seconds']:.2f} s = "
          f"{report['tokens_per_s']:.1f} tokens/s; decoding state {memory['state_bytes']} bytes; "
          f"peak memory {memory['peak_bytes']} bytes ({memory['peak_source']})\n"
          f"Samples: {out_dir}\nMLflow: {logged}")


@hydra_entry_point("generate")
def main(cfg: DictConfig) -> None:
    """Hydra entry point."""
    generate(cfg)


if __name__ == "__main__":
    main()
