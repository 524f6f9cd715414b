"""``python -m tsssm.generate``: sample audio, text or recall tokens from a trained sequence model.

The checkpoint carries the config of the run that trained it (``tsssm.run.record``), so the data
module and the network are rebuilt from it alone (``tsssm.run.checkpoint.load_task``); ``overrides``
(a nested mapping) is merged over that config first, e.g. to run an S4 model trained at 8 kHz on a
16 kHz grid (``data.sample_rate`` and the S4 mixers' ``rate``). Generation is
``LanguageModel.generate``: a parallel prefill of the prompt, then one ``step`` per token, with a
fixed-size state for SSMs and a KV cache of the prompt plus the tokens to generate for attention.

Outputs, in ``output`` (prompts and samples take the data's form: ``tsssm.tasks.sample_formats``):
- ``sample_000.wav`` + ``sample_000.png`` ... (audio) or ``sample_000.txt`` ... (text, token ids);
- ``generation.json``: the settings and the measurements, ``tokens_per_s`` and ``memory``
  (``tsssm.run.timed_generation`` says how each is measured).
The files are also logged, under ``samples/<UTC time of the call>/`` (each call a folder of its
own), to the MLflow run that trained the checkpoint when the checkpoint names one and its tracking
store can be reached. Examples::

    python -m tsssm.generate checkpoint=outputs/2026-01-01/12-00-00/checkpoints/best.ckpt
    python -m tsssm.generate checkpoint=best.ckpt n=2 length=16000 prompt=voice.wav prompt_length=4000
    python -m tsssm.generate checkpoint=best.ckpt prompt="ROMEO:" temperature=0.8 top_p=0.95
    python -m tsssm.generate checkpoint=best.ckpt +overrides.data.sample_rate=16000 \\
        +overrides.model.backbone.mixers.s.rate=0.5
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from torch import Tensor

from tsssm.data.atomic import write_text_atomically
from tsssm.data.sequence import check_positive
from tsssm.run.checkpoint import load_task
from tsssm.run.device import resolve_device
from tsssm.run.entry_point import hydra_entry_point
from tsssm.run.outputs import check_destination, check_not_an_input, data_locations
from tsssm.run.timed_generation import timed_generation
from tsssm.run.tracking import log_to_training_run
from tsssm.tasks.language_model import LanguageModelTask
from tsssm.tasks.sample_formats import SampleFormat

SAMPLES_ARTIFACT_PATH = "samples"
CALL_TIME_FORMAT = "%Y-%m-%dT%H-%M-%S.%fZ"  # a folder name on every artifact store
REPORT_NAME = "generation.json"


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
    loaded = load_task(cfg.checkpoint, overrides, expect=LanguageModelTask, stage="predict")
    task, datamodule, record = loaded.task.to(device), loaded.datamodule, loaded.record
    check_not_an_input(out_dir, data_locations(loaded.config))
    form = task.sample_format(datamodule)
    prompt = form.prompt(None if cfg.prompt is None else str(cfg.prompt), prompt_length)
    batch = prompt.ids.to(device).unsqueeze(0).expand(n, -1).contiguous()
    tokens, measured = timed_generation(task.net, batch, length, cfg.temperature, cfg.top_p, cfg.seed)
    samples = tokens[:, prompt.skip:]
    artifact_path = f"{SAMPLES_ARTIFACT_PATH}/{datetime.now(timezone.utc):{CALL_TIME_FORMAT}}"
    model_name = record["config"]["model"]["name"]
    title = f"{model_name}-{datamodule.dataset_name}, T={cfg.temperature}"
    files = form.write(samples, out_dir, title)
    report = {"checkpoint": str(Path(cfg.checkpoint).resolve()), "model": model_name,
              "dataset": datamodule.dataset_name, "form": form.name,
              "device": str(device), "n": n, "length": length,
              "prompt_tokens": prompt.ids.shape[0], "temperature": cfg.temperature,
              "top_p": cfg.top_p, "seed": cfg.seed, "overrides": overrides, **measured,
              "samples": [path.name for path in files],
              "training_run": {"run_id": record.get("run_id"),
                               "tracking_uri": record.get("tracking_uri"),
                               "artifact_path": artifact_path},
              **form.report()}
    files.append(write_text_atomically(out_dir / REPORT_NAME, json.dumps(report, indent=1) + "\n"))
    logged = log_to_training_run(record.get("run_id"), record.get("tracking_uri"), files,
                                 artifact_path)
    print_summary(form, samples, report, out_dir, logged)
    return {**report, "files": files, "mlflow": logged}


def print_summary(form: SampleFormat, samples: Tensor, report: dict[str, Any], out_dir: Path,
                  logged: str) -> None:
    """The samples as text where they are text, then the speed, the memory, the outputs and the
    MLflow line."""
    for text in form.shown(samples):
        print(text)
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
