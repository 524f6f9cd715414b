"""Benchmarks on the GPU.

    python -m tsssm.bench kernels [--out docs/benchmarks] [--quick]
                                  [--sections scan,attention,mixer,step,ssd,peer-linear,...] [--budget-s 480]
                                  [--peer-dir MAMBA_SOURCES]
    python -m tsssm.bench generation [--out docs/benchmarks] [--contexts 1024,8192,65536]
                                     [--models mamba,transformer] [--new-tokens 256] [--batch 1]
                                     [--dtype fp32] [--quick]

``kernels`` times the project's kernels with ``triton.testing.do_bench`` (median) — the selective
scan and SSD forward and forward+backward, the decode step, a whole Mamba layer against an
attention layer, and SDPA flash attention — and reports each time against a copy's bandwidth
measured in the same run. Sections ``peer-*`` time tsssm's kernels beside a peer library's on the
same tensors: ``peer-linear``, linear attention against flash-linear-attention (when installed);
given mamba_ssm's sources (``--peer-dir``), ``peer-scan`` and ``peer-ssd``, its CUDA selective scan
(compiled once per GPU arch and torch, kept in the folder's ``build/``) and Triton SSD
(``benchmarks.peers``). It prints the table and the targets (PASS / MISS) last, and writes
``kernels.md`` and ``kernels.json`` (device, versions, command, date, every raw number) under
``--out`` after every case, so a run cut short keeps what it measured. Each section, kernel
configuration and case fails on its own: the error is recorded and the run goes on. Cases that
would start after ``--budget-s`` seconds are recorded as skipped.

``generation`` prefills a context and decodes token by token with the sequence experiments' size
presets (``tsssm.benchmarks.generation``), and writes ``generation.md`` and ``generation.json``; it
also runs on the CPU (``--quick``: short contexts, few tokens).

Imports torch, triton, PyYAML and tsssm's kernels, mixers and models only: no Hydra, MLflow or
Lightning needed.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

import torch
import triton

from tsssm.benchmarks import (attention, generation, linear_attention_peers, mixer, peers, scan,
                              ssd, step)
from tsssm.benchmarks.results import Report, markdown_table
from tsssm.benchmarks.timing import Bench, describe_device

SECTIONS: dict[str, Callable[[Bench], None]] = {
    "scan": scan.run, "attention": attention.run, "mixer": mixer.run, "step": step.run,
    "ssd": ssd.run, "peer-linear": linear_attention_peers.run, "peer-scan": peers.run_scan,
    "peer-ssd": peers.run_ssd}
"""In the default order: the most certain first, SSD (the newest kernel, most to compile) next,
the side-by-side comparisons last; ``peer-scan`` (which compiles mamba_ssm's CUDA scan first) and
``peer-ssd`` are in the default list only when ``--peer-dir`` is given."""
MAMBA_PEER_SECTIONS = ("peer-scan", "peer-ssd")

DEFAULT_OUT = Path("docs/benchmarks")
DEFAULT_BUDGET_S = 480.0  # seconds after launch past which no further case starts (autotuning counts)
DEFAULT_SSD_CHUNK = 256  # the chunk of the anchors' mamba_ssm SSD numbers
REP_MS, QUICK_REP_MS = 100, 50
DEFAULT_CONTEXTS, QUICK_CONTEXTS = [1024, 8192, 65536], [64, 256]
DEFAULT_NEW_TOKENS, QUICK_NEW_TOKENS = 256, 16
DEFAULT_MODELS = ["mamba", "transformer"]


def section_list(text: str) -> list[str]:
    """``"scan,ssd"`` -> ``["scan", "ssd"]``; unknown or repeated names are an error."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in SECTIONS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown section(s) {unknown or [text]}; choose from {','.join(SECTIONS)}")
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"a section is named twice in {text!r}")
    return names


def positive_int(text: str) -> int:
    """``"256"`` -> ``256``; anything but a positive integer is an error naming it."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def positive_list(text: str) -> list[int]:
    """``"1024,8192"`` -> ``[1024, 8192]``; every item a positive integer."""
    values = [positive_int(item) for item in text.split(",") if item.strip()]
    if not values:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive integers, got {text!r}")
    return values


def model_list(text: str) -> list[str]:
    """``"mamba,transformer"`` -> the names, each a preset of ``conf/model/seq``."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    known = generation.preset_names()
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown model(s) {unknown or [text]}; the presets of conf/model/seq are "
            f"{','.join(known)}")
    return names


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tsssm.bench",
                                     description="Benchmarks on the GPU.")
    commands = parser.add_subparsers(dest="command", required=True)
    kernels = commands.add_parser(
        "kernels", help="time the kernels, mixers and SDPA attention",
        description="Time the selective scan, SSD, the decode step, Mamba and attention layers "
                    "and SDPA flash attention on the GPU; write kernels.md and kernels.json.")
    kernels.add_argument("--out", type=Path, default=DEFAULT_OUT,
                         help=f"folder for kernels.md and kernels.json (default {DEFAULT_OUT})")
    kernels.add_argument("--quick", action="store_true",
                         help="fewer lengths and state sizes, no 1M-token point, shorter repeats")
    kernels.add_argument("--sections", type=section_list, default=None,
                         help=f"comma-separated, run in this order (default {','.join(SECTIONS)}, "
                              f"{' and '.join(MAMBA_PEER_SECTIONS)} only with --peer-dir)")
    kernels.add_argument("--peer-dir", type=Path, default=None,
                         help="mamba_ssm's sources (csrc/selective_scan and mamba_ssm/ops): "
                              "sections peer-scan and peer-ssd time its kernels beside tsssm's")
    kernels.add_argument("--budget-s", type=float, default=DEFAULT_BUDGET_S,
                         help="cases that would start later than this many seconds after launch "
                              f"are skipped (default {DEFAULT_BUDGET_S:g})")
    kernels.add_argument("--ssd-chunk", type=int, default=DEFAULT_SSD_CHUNK,
                         help=f"SSD's chunk length, a power of two >= 16 (default "
                              f"{DEFAULT_SSD_CHUNK}, the chunk of mamba_ssm's reference SSD timings)")
    gen = commands.add_parser(
        "generation", help="time prefill and token-by-token decoding of the sequence models",
        description="Prefill a context of random tokens, then decode one token per step, with "
                    "the size presets of conf/model/seq (random weights); record times, peak "
                    "memory and the decoding state's bytes in generation.md and generation.json.")
    gen.add_argument("--out", type=Path, default=DEFAULT_OUT,
                     help=f"folder for generation.md and generation.json (default {DEFAULT_OUT})")
    gen.add_argument("--models", type=model_list, default=DEFAULT_MODELS,
                     help=f"comma-separated presets of conf/model/seq (default "
                          f"{','.join(DEFAULT_MODELS)}); s4's DPLR prefill steps token by token")
    gen.add_argument("--contexts", type=positive_list, default=None,
                     help=f"comma-separated context lengths (default "
                          f"{','.join(map(str, DEFAULT_CONTEXTS))}; --quick: "
                          f"{','.join(map(str, QUICK_CONTEXTS))})")
    gen.add_argument("--new-tokens", type=positive_int, default=None,
                     help=f"tokens decoded after the prefill (default {DEFAULT_NEW_TOKENS}; "
                          f"--quick: {QUICK_NEW_TOKENS})")
    gen.add_argument("--batch", type=positive_int, default=1,
                     help="sequences decoded at once (default 1)")
    gen.add_argument("--dtype", choices=list(generation.DTYPES), default="fp32",
                     help="the models' dtype (default fp32, as they train; s4 has no bf16)")
    gen.add_argument("--quick", action="store_true",
                     help="short contexts and few tokens, for a check on the CPU")
    args = parser.parse_args(argv)
    if args.command == "kernels" and args.sections is None:
        args.sections = [name for name in SECTIONS
                         if name not in MAMBA_PEER_SECTIONS or args.peer_dir]
    if args.command == "generation":
        args.contexts = args.contexts or (QUICK_CONTEXTS if args.quick else DEFAULT_CONTEXTS)
        args.new_tokens = args.new_tokens or (QUICK_NEW_TOKENS if args.quick
                                              else DEFAULT_NEW_TOKENS)
    return args


def require_cuda() -> None:
    if not torch.cuda.is_available():
        raise SystemExit("python -m tsssm.bench kernels: no CUDA device (torch.cuda.is_available() "
                         "is False). It times GPU kernels: run it on a machine with an NVIDIA GPU.")


def invocation() -> dict[str, str]:
    """The command line and the UTC date, for a report's header."""
    return {"command": shlex.join(getattr(sys, "orig_argv", sys.argv)),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def run_kernels(args: argparse.Namespace) -> Report:
    started = time.monotonic()
    require_cuda()
    torch.manual_seed(0)
    rep_ms = QUICK_REP_MS if args.quick else REP_MS
    device = describe_device(rep_ms)
    report = Report({
        **device.meta(),
        "torch": torch.__version__, "triton": triton.__version__, **invocation(),
        "sections": args.sections, "quick": args.quick, "rep_ms": rep_ms,
        "budget_s": args.budget_s, "ssd_chunk": args.ssd_chunk})
    bench = Bench(device, report, args.out, args.quick, args.ssd_chunk, rep_ms, started,
                  args.budget_s, args.peer_dir)
    bench.log(f"{device.name}: copy {device.copy_bytes_per_s / 1e12:.2f} TB/s, "
              f"exp {device.exp_per_s:.3g}/s ({device.exp_rate_source})")
    for name in args.sections:
        bench.log(f"== section {name}")
        bench.attempt(f"section {name}", lambda: SECTIONS[name](bench))
        bench.save()
    return report


def run_generation(args: argparse.Namespace) -> None:
    """The generation bench on the GPU if there is one, else on the CPU (for a quick check)."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    meta = {**generation.describe(device), **invocation(), "models": args.models,
            "contexts": args.contexts, "new_tokens": args.new_tokens, "batch": args.batch,
            "dtype": args.dtype, "vocab_size": generation.VOCAB_SIZE, "quick": args.quick}
    print(f"{meta['device']}\n{generation.TABLE_HEADER}", flush=True)
    generation.run(args.models, args.contexts, args.new_tokens, args.batch, args.dtype, device,
                   meta, args.out, log=lambda line: print(line, flush=True))
    print(f"\nwrote {args.out / 'generation.md'} and {args.out / 'generation.json'}", flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.command == "generation":
        run_generation(args)
        return
    report = run_kernels(args)
    print(markdown_table(report.rows))
    print()
    for check in report.checks:
        print(check.line())
    for error in report.errors:
        print(f"ERROR {error}")
    print()
    for line in report.targets:
        print(line)
    print(f"\nwrote {args.out / 'kernels.md'} and {args.out / 'kernels.json'} "
          f"in {report.meta['elapsed_s']} s", flush=True)


if __name__ == "__main__":
    main()
