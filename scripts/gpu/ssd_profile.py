"""Which of the SSD scan's kernels lose the time to mamba_ssm's, shape by shape.

    python scripts/gpu/ssd_profile.py OUT [--peer-dir DIR | --state-paths] \
        [--cases "B1 L64K,B8 L8K"]

For each SSD shape of the side-by-side comparison (``cases.pair_cases``: bf16, 24 heads × 64,
chunk 256, every Mamba-2 option on), each mode and each library: ``wall``, ``gpu`` and ``host``
as ``launch_profile.py`` measures them, then torch.profiler's kernels of ``PROFILED_CALLS`` calls
per library (name, launches per call, µs per call), sorted by time, so a row of ours can be read
against the row of theirs that does the same work. The first shape of each state size autotunes
both libraries (most of the run). Prints every row as it is measured and rewrites
``OUT/ssd_profile.md`` after every shape, so a run stopped by a time limit keeps what it finished,
with the configs tsssm's autotuners kept (its kernels' times depend on them).
``--cases`` keeps the shapes whose label holds one of its comma-separated parts, to split the
shapes over calls. ``--state-paths`` times tsssm twice in place of the peer: its entering states
from ``chunk_outer`` and the state pass, and from ``chain_states`` (which of the two a call takes
is ``CHAIN_MIN_SEQUENCES``'s rule otherwise).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import torch
import triton
from launch_profile import peer_parser, timed_calls

from tsssm.benchmarks.cases import OURS, PEER_SSD_CHUNK, THEIRS, PairCase, pair_cases
from tsssm.benchmarks.peer_library import load_peer_ssd
from tsssm.benchmarks.peers import ssd_inputs
from tsssm.benchmarks.results import config_lines
from tsssm.kernels.ssd import ssd
from tsssm.kernels.ssd import triton as ssd_triton
from tsssm.kernels.triton_launch import kept_configs

PROFILED_CALLS = 10
KERNEL_ROWS = 25


def calls(peer: Callable | None) -> dict[str, Callable]:
    """Each library's SSD on its dict of inputs, every Mamba-2 option on."""
    libraries = {OURS: lambda t: ssd(**t, chunk_size=PEER_SSD_CHUNK, dt_softplus=True,
                                     backend="triton")}
    if peer is not None:
        libraries[THEIRS] = lambda t: peer(**t, chunk_size=PEER_SSD_CHUNK, dt_softplus=True)
    return libraries


def state_paths() -> dict[str, Callable]:
    """tsssm twice: its entering states from the per-chunk kernels, and from
    ``chain_states_kernel``, whatever batch · heads would pick (a forward's choice holds for its
    backward)."""
    ours = calls(None)[OURS]

    def ruled(min_sequences: int) -> Callable:
        def call(inputs: dict) -> object:
            kept = ssd_triton.CHAIN_MIN_SEQUENCES
            ssd_triton.CHAIN_MIN_SEQUENCES = min_sequences
            try:
                return ours(inputs)
            finally:
                ssd_triton.CHAIN_MIN_SEQUENCES = kept

        return call

    return {f"{OURS}, per-chunk states": ruled(sys.maxsize), f"{OURS}, chained states": ruled(1)}


def chosen_cases(parts: str | None) -> list[PairCase]:
    """The SSD shapes of the comparison whose label holds one of the comma-separated ``parts``
    (all of them for None); an unmatched part is an error naming the labels."""
    cases = [case for case in pair_cases() if case.kernel == "ssd"]
    if parts is None:
        return cases
    wanted = [part.strip() for part in parts.split(",") if part.strip()]
    unmatched = [part for part in wanted if not any(part in case.label for case in cases)]
    if unmatched:
        raise SystemExit(f"--cases: {unmatched} match none of {[case.label for case in cases]}")
    return [case for case in cases if any(part in case.label for part in wanted)]


def kernel_rows(fn: Callable[[], object]) -> list[tuple[str, float, float]]:
    """(kernel name, launches per call, µs per call) of the GPU kernels of one call, slowest
    first, from ``PROFILED_CALLS`` profiled calls."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        for _ in range(PROFILED_CALLS):
            fn()
        torch.cuda.synchronize()
    rows = [(event.key, event.count / PROFILED_CALLS,
             event.self_device_time_total / PROFILED_CALLS)
            for event in prof.key_averages()
            if event.device_type == torch.autograd.DeviceType.CUDA
            and event.self_device_time_total > 0]
    return sorted(rows, key=lambda row: -row[2])


def kernel_table(title: str, rows: list[tuple[str, float, float]]) -> list[str]:
    """Markdown table of ``kernel_rows``, their sum last."""
    lines = ["", f"### {title}", "", "| kernel | launches / call | µs / call |", "|---|---:|---:|"]
    lines += [f"| `{name[:90]}` | {count:g} | {us:.1f} |"
              for name, count, us in rows[:KERNEL_ROWS]]
    lines.append(f"| all kernels | {sum(r[1] for r in rows):g} | {sum(r[2] for r in rows):.1f} |")
    return lines


def main() -> None:
    parser = peer_parser(__doc__)
    parser.add_argument("--cases", help="comma-separated parts of the shapes' labels to run")
    parser.add_argument("--state-paths", action="store_true",
                        help="tsssm's two ways to the entering states in place of the peer")
    args = parser.parse_args()
    if args.state_paths and args.peer_dir is not None:
        parser.error("--state-paths takes the peer's place: give one of it and --peer-dir")
    cases = chosen_cases(args.cases)
    out, peer = args.out, None if args.peer_dir is None else load_peer_ssd(args.peer_dir).fn
    libraries = state_paths() if args.state_paths else calls(peer)
    head = [f"# The SSD scan's kernels, tsssm and mamba_ssm, on {torch.cuda.get_device_name()}",
            "",
            f"`python scripts/gpu/ssd_profile.py OUT{' --peer-dir DIR' if peer else ''}"
            f"{' --state-paths' if args.state_paths else ''}`; "
            f"torch {torch.__version__}, triton {triton.__version__}; bf16, chunk "
            f"{PEER_SSD_CHUNK}, D, z, dt_bias and softplus on. wall: do_bench median (ms); gpu: "
            "the call replayed from a CUDA graph (ms); host: µs to issue one call; kernels: "
            f"torch.profiler over {PROFILED_CALLS} calls.", "",
            "| case | mode | library | wall ms | gpu ms | host µs |",
            "|---|---|---|---:|---:|---:|"]
    details: list[str] = []
    out.mkdir(parents=True, exist_ok=True)
    for case in cases:
        for mode in ("fwd", "fwd+bwd"):
            details += ["", f"## {case.label}, {mode}"]
            for library, fn, (wall, gpu, host) in timed_calls(case, mode, libraries, ssd_inputs):
                head.append(f"| {case.label} | {mode} | {library} | {wall:.3f} | {gpu:.3f} | "
                            f"{host:.0f} |")
                print(head[-1], flush=True)
                table = kernel_table(library, kernel_rows(fn))
                print("\n".join(table), flush=True)
                details += table
        kept = ["", "## Configs tsssm's autotuners kept", "", *config_lines(kept_configs())]
        (out / "ssd_profile.md").write_text("\n".join(head + details + kept) + "\n")


if __name__ == "__main__":
    main()
