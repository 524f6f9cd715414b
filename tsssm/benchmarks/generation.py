"""Generation speed and memory of the sequence models (``python -m tsssm.bench generation``).

For each model and context length: prefill a context of random tokens in parallel
(``LanguageModel.prefill``), then generate ``new_tokens`` tokens one ``step`` at a time, greedily.
Reported per (model, context): the prefill's time, the decoding's time per step and tokens per
second (CUDA-synchronised wall time), the peak GPU memory of each phase, and the bytes of the
decoding state after the last step (``LanguageModel.state_nbytes``): fixed for an SSM; for
attention, a KV cache allocated at the prefill for the context plus the tokens to decode.

The models are the size presets of the sequence experiments (``conf/model/seq/<name>.yaml``,
composed by Hydra from the mixer configs they list) at the bytes experiments' vocabulary, randomly
initialised: the work of a prefill or a step does not depend on the weights' values, so neither
does its speed.

Each (model, context) is warmed up first (a prefill and a few steps at the same shapes compile and
autotune the kernels), then measured. On CUDA the steps replay the model's step from a CUDA graph
(``LanguageModel.decoder``), whose capture is timed apart. A case that runs out of memory, or
fails, is a row that says so, and the run goes on.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import triton
from torch import Tensor

from tsssm.data.atomic import write_text_atomically
from tsssm.benchmarks.results import MISSING, format_ms
from tsssm.benchmarks.timing import _why, release
from tsssm.models.graphed_step import GraphedStep, StepFn
from tsssm.models.language_model import LanguageModel

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
PRESET_DIR = CONF_DIR / "model" / "seq"
VOCAB_SIZE = 256  # the bytes and waveform experiments' vocabulary (bytes, 8-bit mu-law samples)
WARMUP_STEPS = 4
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
MIB = 2 ** 20


def preset_names() -> list[str]:
    """The size presets there are: ``conf/model/seq/*.yaml`` (names without ``.yaml``)."""
    return sorted(path.stem for path in PRESET_DIR.glob("*.yaml") if not path.stem.startswith("_"))


def preset_language_model(name: str, overrides: Sequence[str] = ()) -> LanguageModel:
    """``conf/model/seq/{name}.yaml``'s backbone, composed by Hydra as ``fit`` composes it (with
    ``overrides`` of fit's config, e.g. ``model.backbone.d_model=16``), in a LanguageModel of
    ``VOCAB_SIZE`` tokens."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    if name not in preset_names():
        raise ValueError(f"no size preset {PRESET_DIR / (name + '.yaml')}; presets: "
                         f"{', '.join(preset_names())}")
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        config = compose("fit", overrides=[f"model=seq/{name}", *overrides])
    return LanguageModel(instantiate(config.model.backbone), VOCAB_SIZE)


@dataclass
class GenerationRow:
    """One (model, context): times in ms, memory in bytes; None where not measured (on the CPU,
    memory; after an OOM, what came after it), and ``note`` says why."""

    model: str
    n_params: int
    batch: int
    context: int
    new_tokens: int
    prefill_ms: float | None = None
    capture_ms: float | None = None  # the step's CUDA graph (None: decoded eagerly)
    step_ms: float | None = None
    tokens_per_s: float | None = None
    prefill_peak_bytes: int | None = None
    decode_peak_bytes: int | None = None
    state_bytes: int | None = None
    note: str = ""


class Clock:
    """Wall time that waits for the device's queued work, and its peak memory since a reset
    (None on the CPU, which has no allocator statistics)."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"

    def now(self) -> float:
        if self.cuda:
            torch.cuda.synchronize()
        return time.perf_counter()

    def reset_peak(self) -> None:
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()

    def peak_bytes(self) -> int | None:
        return torch.cuda.max_memory_allocated() if self.cuda else None


@torch.no_grad()
def decode(step: StepFn, logits: Tensor, states: list, steps: int) -> tuple[Tensor, list]:
    """``steps`` greedy steps of ``step`` from the prefill's ``logits (B, V)`` and ``states``."""
    for _ in range(steps):
        logits, states = step(logits.argmax(-1), states)
    return logits, states


def measure(model: LanguageModel, row: GenerationRow, clock: Clock,
            generator: torch.Generator) -> None:
    """Fill ``row``'s numbers for its context (module docstring); ``row.note`` says which phase
    ran out of memory or failed."""
    device = next(model.parameters()).device
    ids = torch.randint(VOCAB_SIZE, (row.batch, row.context), generator=generator).to(device)
    phase = "warm-up"
    try:
        with torch.no_grad():
            logits, states = model.prefill(ids, capacity=row.context + WARMUP_STEPS)
            decode(model.step, logits, states, WARMUP_STEPS)
            release()
            phase = "prefill"
            clock.reset_peak()
            start = clock.now()
            logits, states = model.prefill(ids, capacity=row.context + row.new_tokens)
            row.prefill_ms = (clock.now() - start) * 1e3
            row.prefill_peak_bytes = clock.peak_bytes()
            phase = "capture"
            start = clock.now()
            step = model.decoder(logits.argmax(-1), states, row.context)
            row.capture_ms = ((clock.now() - start) * 1e3 if isinstance(step.step, GraphedStep)
                              else None)
            phase = "decoding"
            clock.reset_peak()
            start = clock.now()
            logits, states = decode(step, logits, states, row.new_tokens)
            seconds = clock.now() - start
        row.step_ms = seconds * 1e3 / row.new_tokens
        row.tokens_per_s = row.batch * row.new_tokens / seconds
        row.decode_peak_bytes = clock.peak_bytes()
        row.state_bytes = LanguageModel.state_nbytes(states)
    except Exception as error:  # one failing case must not stop the run
        why = _why(error)
        row.note = f"{why} in {phase}" if why == "OOM" else f"{phase}: {why}"
    finally:
        release()


def run(models: list[str], contexts: list[int], new_tokens: int, batch: int, dtype: str,
        device: torch.device, meta: dict[str, object], out_dir: Path,
        log: Callable[[str], None] = print) -> list[GenerationRow]:
    """Every model at every context, in order; the report is rewritten after each case, so a run
    cut short keeps what it measured."""
    clock = Clock(device)
    generator = torch.Generator().manual_seed(0)
    rows: list[GenerationRow] = []
    for name in models:
        torch.manual_seed(0)
        model = preset_language_model(name).to(device=device, dtype=DTYPES[dtype]).eval()
        n_params = sum(p.numel() for p in model.parameters())
        for context in contexts:
            row = GenerationRow(name, n_params, batch, context, new_tokens)
            measure(model, row, clock, generator)
            rows.append(row)
            log(table_line(row))
            write_report(meta, rows, out_dir)
        del model
        release()
    return rows


def describe(device: torch.device) -> dict[str, object]:
    """The device and the versions, for the report's header."""
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        name = f"{props.name} ({props.total_memory / 2**30:.0f} GiB)"
    else:
        cpu = platform.processor() or platform.machine()
        name = f"CPU {cpu}, {torch.get_num_threads()} threads"
    return {"device": name, "torch": torch.__version__, "triton": triton.__version__}


def _mib(nbytes: int | None) -> str:
    return MISSING if nbytes is None else f"{nbytes / MIB:.1f}"


def _rate(tokens_per_s: float | None) -> str:
    return MISSING if tokens_per_s is None else f"{tokens_per_s:,.0f}"


TABLE_HEADER = ("| model | params | batch | context | prefill ms | graph ms | ms / step | tokens/s "
                "| state MiB | peak MiB prefill | peak MiB decoding | note |\n"
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")


def table_line(row: GenerationRow) -> str:
    cells = (row.model, f"{row.n_params / 1e6:.2f}M", str(row.batch), str(row.context),
             format_ms(row.prefill_ms), format_ms(row.capture_ms), format_ms(row.step_ms),
             _rate(row.tokens_per_s),
             _mib(row.state_bytes), _mib(row.prefill_peak_bytes), _mib(row.decode_peak_bytes),
             row.note.replace("|", "/"))
    return "| " + " | ".join(cells) + " |"


def render_markdown(meta: Mapping[str, object], rows: list[GenerationRow]) -> str:
    """The page: how it was measured, then one line per (model, context)."""
    return "\n".join([
        "# Generation benchmark",
        "",
        f"- device: {meta.get('device')}",
        f"- torch {meta.get('torch')}, triton {meta.get('triton')}; {meta.get('date')}",
        f"- command: `{meta.get('command')}`",
        f"- models: the size presets of conf/model/seq at vocabulary {meta.get('vocab_size')}, "
        f"randomly initialised (speed does not depend on the weights), {meta.get('dtype')}",
        f"- prefill: one parallel pass over `context` random tokens; decoding: "
        f"{meta.get('new_tokens')} greedy steps of batch {meta.get('batch')}, one token per "
        "sequence each, replayed from a CUDA graph on CUDA "
        "(graph ms: its capture, untimed in ms / step; — : decoded eagerly); times are "
        "CUDA-synchronised wall time after a warm-up at the same shapes",
        "- state: bytes of the decoding state after the last step (attention: the KV cache, "
        "allocated at the prefill for context + new tokens); peak: the most memory allocated "
        "during that phase, weights and state included",
        "",
        TABLE_HEADER,
        *[table_line(row) for row in rows],
    ]) + "\n"


def write_report(meta: Mapping[str, object], rows: list[GenerationRow],
                 out_dir: Path) -> tuple[Path, Path]:
    """``generation.md`` and ``generation.json`` (every raw number) under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md, js = out_dir / "generation.md", out_dir / "generation.json"
    write_text_atomically(md, render_markdown(meta, rows))
    write_text_atomically(js, json.dumps({"meta": dict(meta), "rows": [asdict(row) for row in rows]},
                                 indent=1) + "\n")
    return md, js
