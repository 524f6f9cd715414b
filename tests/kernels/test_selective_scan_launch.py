"""How the Triton selective scan is launched: direct launches with recorded configs, forced
short segments, the host-cost harness that stubs the launches out, and the segment sweep's
choice of policy."""

from __future__ import annotations

import argparse
import math
import os
import runpy
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import torch
from triton import knobs
from triton.runtime.jit import JITFunction

from tests.gpu_blocks import block_env, recording_python
from tests.kernels.numerics import relative_error
from tests.kernels.test_selective_scan_triton import (DEVICE, make_inputs, needs_cuda,
                                                      run_and_differentiate)
from tsssm.kernels.selective_scan import triton as sst
from tsssm.kernels.selective_scan import triton_segments

REPO = Path(__file__).resolve().parents[2]
FEATURES = {"D", "z", "bias", "softplus", "h0", "final"}


class Refuses:
    """A kernel stand-in that fails if launched through the decorators."""

    def __getitem__(self, grid):
        raise AssertionError("launched through the autotuner and heuristics again")


def scan(inputs: dict, seed: int, **kwargs) -> list[torch.Tensor]:
    """Outputs, then gradients, of the Triton scan with every Mamba option on."""
    out, grads = run_and_differentiate(sst.selective_scan_triton, inputs, True, True, seed,
                                       chunk_size=8, **kwargs)
    return [*out, *grads.values()]


def test_direct_launches_repeat_the_decorated_ones(monkeypatch):
    """The first call of a key runs through Triton's decorators and records their choice; a
    repeat launches the JIT function directly with it: the same outputs and gradients bit for
    bit, also with a shape of another key (a group of 6 channels, which the block of 4 does
    not divide: ``EVEN_D`` off) in between."""
    launches = (sst._FORWARD, sst._BACKWARD)
    for launch in launches:
        monkeypatch.setattr(launch, "meta", {})
    even = make_inputs(2, 37, 8, 1, 3, torch.float32, DEVICE, FEATURES, seed=31)
    odd = make_inputs(2, 37, 6, 1, 3, torch.float32, DEVICE, FEATURES, seed=32)
    first_even, first_odd = scan(even, 31), scan(odd, 32)
    for launch in launches:
        assert sorted(meta["EVEN_D"] for meta in launch.meta.values()) == [False, True]
        monkeypatch.setattr(launch, "kernel", Refuses())
    for first, again in ((first_even, scan(even, 31)), (first_odd, scan(odd, 32))):
        assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))


def shifted(inputs: dict, offset: int) -> dict:
    """The inputs with u, delta and z as views ``offset`` elements into rows one element wider
    (at 1, their data pointers are not 16-byte aligned), still differentiable."""
    out = dict(inputs)
    for name in ("u", "delta", "z"):
        tensor = inputs[name].detach()
        wide = torch.zeros(*tensor.shape[:-1], tensor.shape[-1] + 1, dtype=tensor.dtype,
                           device=tensor.device)
        wide[..., offset:offset + tensor.shape[-1]] = tensor
        out[name] = wide.requires_grad_(True)[..., offset:offset + tensor.shape[-1]]
    return out


def gpu_scan(inputs: dict) -> dict[str, torch.Tensor]:
    """Outputs (y, final) and gradients (by input name) of the Triton scan at its default
    chunk and segments."""
    (y, final), grads = run_and_differentiate(sst.selective_scan_triton, inputs, True, True, 5)
    return {"y": y, "final": final, **grads}


def ignore_launch(metadata) -> None:
    """A launch hook that does nothing: while it is set, launches go through the JIT
    functions."""


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("offset", [0, 1])
def test_direct_launches_match_the_jit_functions_on_gpu(offset):
    """Launched through the compiled kernels' launchers (after the calls that record them) and
    through ``JITFunction.run`` (a launch hook set): the same outputs and gradients, dB and dC
    to their atomics' rounding (in bf16); at one short row, so the segment kernels run too."""
    inputs = shifted(make_inputs(1, 2048, 64, 1, 16, torch.bfloat16, "cuda", FEATURES, 5),
                     offset)
    assert (inputs["u"].data_ptr() % 16 == 0) == (offset == 0)
    for _ in range(2):
        gpu_scan(inputs)
    direct = gpu_scan(inputs)
    hook = knobs.runtime.launch_enter_hook
    hook.add(ignore_launch)
    try:
        through_jit = gpu_scan(inputs)
    finally:
        hook.remove(ignore_launch)
    assert direct.keys() == through_jit.keys()
    for name, value in direct.items():
        if name in ("B", "C"):
            assert relative_error(through_jit[name], value) <= 1e-2, name
        else:
            assert torch.equal(through_jit[name], value), name


@pytest.mark.gpu
@needs_cuda
def test_repeated_launches_do_not_enter_the_jit_function_on_gpu(monkeypatch):
    """After the calls that record a key's config and compiled kernels, forward and backward
    never enter ``JITFunction.run``; a misaligned view of the same shape enters it once per
    kernel (its own compiled kernels), then no more. The launches start with nothing recorded
    (another test may have launched this shape in the same process)."""
    for launch in (sst._FORWARD, sst._BACKWARD, sst._ENDS, sst._ADJOINTS):
        monkeypatch.setattr(launch, "meta", {})
        monkeypatch.setattr(launch, "compiled", {})
    runs: Counter[str] = Counter()
    run = JITFunction.run

    def counted(self, *args, **kwargs):
        runs[self.__name__] += 1
        return run(self, *args, **kwargs)

    monkeypatch.setattr(JITFunction, "run", counted)
    inputs = make_inputs(1, 2048, 64, 1, 16, torch.bfloat16, "cuda", FEATURES, 6)
    aligned, misaligned = shifted(inputs, 0), shifted(inputs, 1)
    for _ in range(2):
        gpu_scan(aligned)
    recorded = Counter(runs)
    for _ in range(3):
        gpu_scan(aligned)
    assert runs == recorded
    gpu_scan(misaligned)
    assert set(runs - recorded) == set(recorded) and set((runs - recorded).values()) == {1}
    again = Counter(runs)
    gpu_scan(misaligned)
    assert runs == again


def test_short_segments_match_one_segment():
    """Eight segments of one chunk each give what one segment gives, to fp32 rounding."""
    inputs = make_inputs(1, 64, 8, 2, 3, torch.float32, DEVICE, FEATURES, seed=23)
    one, many = scan(inputs, 23, segments=1), scan(inputs, 23, segments=8)
    assert all(relative_error(b, a) <= 1e-5 for a, b in zip(one, many, strict=True))


def test_host_cost_harness_runs_with_launches_stubbed():
    """The harness runs the GPU's launch path on CPU tensors (no launch could run here) and
    counts the launches each call makes: forward and backward, with and without segments."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = str(REPO)
    for segments, launches in (("1", ("1 launches", "2 launches")),
                               ("4", ("2 launches", "4 launches"))):
        result = subprocess.run(
            [sys.executable, str(REPO / "scripts" / "scan_host_cost.py"), "--length", "256",
             "--dim", "16", "--calls", "2", "--segments", segments],
            capture_output=True, text=True, env=env, check=True, timeout=300)
        fwd, both = result.stdout.splitlines()
        assert fwd.startswith("fwd: ") and launches[0] in fwd and "scan_fwd_kernel" in fwd
        assert both.startswith("fwd+bwd: ") and launches[1] in both and "scan_bwd_kernel" in both


def test_host_cost_harness_runs_ssd_too():
    """``--kernel ssd``: Mamba-2's chunked scan through the same stubs, its forward's four
    launches and its backward's."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = str(REPO)
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "scan_host_cost.py"), "--kernel", "ssd",
         "--heads", "2", "--head-dim", "16", "--state", "16", "--length", "128", "--chunk", "64",
         "--calls", "2"], capture_output=True, text=True, env=env, check=True, timeout=300)
    fwd, both = result.stdout.splitlines()
    assert fwd.startswith("fwd: ") and "4 launches" in fwd and "chunk_scan_fwd_kernel" in fwd
    assert both.startswith("fwd+bwd: ") and "chunk_scan_dx_kernel" in both


def test_sweep_implies_the_policy_of_the_fastest_counts():
    """The segment sweep's policy search picks, from made-up times, the policy that gives each
    grid its fastest count where one policy can: 8 segments at 2K steps, 32 at 8K, none at
    batch 8."""
    sweep = runpy.run_path(str(REPO / "scripts" / "gpu" / "segment_sweep.py"))

    def times(best: int) -> dict[int, float]:
        return {count: 1.0 + abs(math.log2(count / best)) for count in sweep["COUNTS"]}

    measured = {(1536, 128): times(8), (1536, 512): times(32), (12288, 128): times(1)}
    policy = sweep["implied_policy"](measured)
    assert [triton_segments.segments_for(rows // 1536, 1536, chunks * 16, 16, policy)
            for rows, chunks in measured] == [8, 32, 1]


def test_chunk_sweep_takes_powers_of_two_and_known_dtypes_only(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "scripts" / "gpu"))  # as when run as a script
    script = runpy.run_path(str(REPO / "scripts" / "gpu" / "chunk_sweep.py"))
    chunk_list, dtype_list = script["chunk_list"], script["dtype_list"]
    assert chunk_list("4,8,16") == [4, 8, 16]
    for bad in ("4,6", "0", "8,-8"):
        with pytest.raises(argparse.ArgumentTypeError, match="powers of two"):
            chunk_list(bad)
    assert dtype_list("bf16") == ["bf16"]
    for bad in ("fp16", "bf16,", ""):
        with pytest.raises(argparse.ArgumentTypeError, match="some of fp32,bf16"):
            dtype_list(bad)


def test_scan_against_base_sweeps_this_tree_then_the_base_tree(tmp_path):
    """``scripts/gpu/scan_against_base.sh``, with a stand-in ``python`` recording its path and
    arguments: the chunk sweep once with this tree's package first on the path, once with the
    base's, the same cases; a base without the package is refused in one line."""
    script = REPO / "scripts" / "gpu" / "scan_against_base.sh"
    bin_dir, calls, base = tmp_path / "bin", tmp_path / "calls", tmp_path / "base"
    recording_python(bin_dir, calls, record="$PYTHONPATH|$*")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PYTHONPATH": "/site"}
    refused = subprocess.run(["bash", str(script), str(tmp_path / "out"), str(base)], cwd=REPO,
                             env=env, capture_output=True, text=True)
    assert refused.returncode == 2 and "holds no tsssm package" in refused.stdout
    (base / "tsssm").mkdir(parents=True)
    subprocess.run(["bash", str(script), str(tmp_path / "out"), str(base), "bf16:1:2048", "16"],
                   cwd=REPO, env=env, check=True)
    tree, other = calls.read_text().splitlines()
    assert tree.startswith(f"{REPO}:/site|") and other.startswith(f"{base}:/site|")
    assert tree.endswith(f"{tmp_path}/out/tree --chunks 16 --cases bf16:1:2048")
    assert other.endswith(f"{tmp_path}/out/base --chunks 16 --cases bf16:1:2048")


def test_against_base_passes_any_benchmark_its_arguments_whole(tmp_path):
    """``scripts/gpu/against_base.sh`` runs the script it is given (here SSD's profile) once per
    tree, an argument holding spaces passed as one."""
    bin_dir, calls, base = tmp_path / "bin", tmp_path / "calls", tmp_path / "base"
    recording_python(bin_dir, calls, record="$PYTHONPATH|$#|$*")
    (base / "tsssm").mkdir(parents=True)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PYTHONPATH": "/site"}
    subprocess.run(["bash", str(REPO / "scripts" / "gpu" / "against_base.sh"),
                    str(tmp_path / "out"), str(base), "scripts/gpu/ssd_profile.py", "--cases",
                    "B4 L64K,B1 L64K"], cwd=REPO, env=env, check=True)
    tree, other = calls.read_text().splitlines()
    assert tree == (f"{REPO}:/site|4|scripts/gpu/ssd_profile.py {tmp_path}/out/tree --cases "
                    "B4 L64K,B1 L64K")
    assert other.startswith(f"{base}:/site|4|")
    assert other.endswith("out/base --cases B4 L64K,B1 L64K")


def test_ssd_check_tests_then_profiles_both_trees_then_benches_the_peer(tmp_path):
    """``scripts/gpu/ssd_check.sh`` with a stand-in ``python``: the SSD tests SSD_TESTS picks,
    SSD's profile with this tree's package and then the base's, then the peer rows within the
    deadline's budget."""
    bin_dir, calls, base, peer = (tmp_path / "bin", tmp_path / "calls", tmp_path / "base",
                                  tmp_path / "peer")
    recording_python(bin_dir, calls, record="$PYTHONPATH|$*")
    (base / "tsssm").mkdir(parents=True)
    env = block_env(tmp_path, bin_dir, DEADLINE=str(int(time.time()) + 300), PYTHONPATH="/site",
                    SSD_TESTS="pair_tiles or on_gpu")
    subprocess.run(["bash", str(REPO / "scripts" / "gpu" / "ssd_check.sh"), str(tmp_path / "out"),
                    str(base), str(peer)], cwd=REPO, env=env, check=True, capture_output=True)
    tests, tree, other, bench = calls.read_text().splitlines()
    assert tests.endswith("-m pytest -q -p no:cacheprovider --tb=short -k pair_tiles or on_gpu "
                          "tests/kernels/test_ssd_triton.py")
    assert tree.startswith(f"{REPO}:/site|") and tree.endswith("out/tree --cases N128")
    assert other.startswith(f"{base}:/site|") and other.endswith("out/base --cases N128")
    words = bench.split("|")[1].split()
    assert words[:7] == ["-m", "tsssm.bench", "kernels", "--sections", "peer-ssd", "--peer-dir",
                         str(peer)]
    assert 200 < float(words[words.index("--budget-s") + 1]) <= 300


def test_tests_and_peers_builds_the_peer_beside_the_tests_then_benches(tmp_path):
    """``scripts/gpu/tests_and_peers.sh`` with stand-ins (``python`` records its arguments, the
    tests' groups among them): the peer build from PEER, the GPU tests alone, each group
    stopped at TESTS_LIMIT by its own ``timeout`` (so that the log of every group is written),
    then one bench of the sections asked for against that PEER, within the deadline's budget."""
    bin_dir, calls, peer = tmp_path / "bin", tmp_path / "calls", tmp_path / "peer"
    recording_python(bin_dir, calls)
    limits = tmp_path / "limits"
    (bin_dir / "timeout").write_text(f'#!/bin/sh\necho "$1" >> {limits}\nshift\nexec "$@"\n')
    (bin_dir / "timeout").chmod(0o755)
    peer.mkdir()
    env = block_env(tmp_path, bin_dir, DEADLINE=str(int(time.time()) + 300), TESTS_LIMIT="77")
    subprocess.run(["bash", str(REPO / "scripts" / "gpu" / "tests_and_peers.sh"),
                    str(tmp_path / "out"), str(peer), "peer-ssd,peer-scan"], cwd=REPO, env=env,
                   check=True, capture_output=True)
    lines = calls.read_text().splitlines()
    builds = [line for line in lines if "load_peer_scan" in line]
    assert len(builds) == 1 and f"Path('{peer}')" in builds[0]
    groups = sum(line.startswith("-m pytest -m gpu") for line in lines)
    assert groups > 1 and limits.read_text().split() == ["77"] * groups
    log = (tmp_path / "out" / "tests" / "gpu_tests.log").read_text()
    assert log.count("== python -m pytest -m gpu") == groups
    bench = lines[-1].split()
    assert bench[:4] == ["-m", "tsssm.bench", "kernels", "--sections"]
    assert bench[4:8] == ["peer-ssd,peer-scan", "--peer-dir", str(peer), "--out"]
    assert 200 < float(bench[bench.index("--budget-s") + 1]) <= 300


@pytest.mark.skipif(torch.cuda.is_available(), reason="the message of a machine without CUDA")
def test_ncu_target_without_a_gpu_says_so_in_one_line():
    script = REPO / "scripts" / "gpu" / "ncu_scan.py"
    done = subprocess.run([sys.executable, str(script), "--batch", "1", "--length", "64"],
                          capture_output=True, text=True, cwd=REPO,
                          env=os.environ | {"PYTHONPATH": str(REPO)})
    assert done.returncode == 1 and done.stderr == "ncu_scan.py: needs a CUDA GPU\n"


def test_sweep_takes_the_backwards_gpu_time_as_the_difference_of_the_captured_modes():
    """The backward alone is never captured (its autograd graph lives on another stream) and is
    timed last: its gpu time is fwd+bwd's minus fwd's, its wall time its own; the table keeps
    the order fwd, bwd, fwd+bwd."""
    sweep = runpy.run_path(str(REPO / "scripts" / "gpu" / "segment_sweep.py"))
    gpu_ms = {"fwd": 2.0, "fwd+bwd": 5.0, "bwd": None}
    captured = []

    def fake_wall_and_gpu(fn, leaves, rep, graphed):
        mode = fn()
        captured.append((mode, graphed))
        return 10.0 + len(mode), gpu_ms[mode] if graphed else math.nan

    sweep["timed_modes"].__globals__["wall_and_gpu"] = fake_wall_and_gpu
    timed = sweep["timed_modes"]({mode: (lambda m=mode: m) for mode in gpu_ms}, [])
    assert captured == [("fwd", True), ("fwd+bwd", True), ("bwd", False)]
    assert list(timed.items()) == [("fwd", (13.0, 2.0)), ("bwd", (13.0, 3.0)),
                                   ("fwd+bwd", (17.0, 5.0))]


def test_launch_floors_empty_kernels_take_their_argument_counts_and_store_once(tmp_path,
                                                                              monkeypatch):
    """The generated kernels compile with 1, 16 and 48 arguments and write through the first
    (a kernel that did nothing could be compiled away and time nothing)."""
    monkeypatch.syspath_prepend(str(REPO / "scripts" / "gpu"))  # as when run as a script
    floor = runpy.run_path(str(REPO / "scripts" / "gpu" / "launch_floor.py"))
    target = torch.ones(4)
    for n_args, kernel in floor["empty_kernels"](tmp_path).items():
        tensors, ints = floor["arguments"](n_args, target)
        assert len(tensors) + len(ints) == n_args and len(kernel.arg_names) == n_args
        assert all(isinstance(arg, int) for arg in ints) and tensors[0] is target
        target.fill_(1.0)
        kernel[(1,)](*tensors, *ints)
        assert target.tolist() == [0.0, 1.0, 1.0, 1.0]
        target.fill_(1.0)
        floor["tuned_launch"](kernel, tensors, ints)()
        assert target.tolist() == [0.0, 1.0, 1.0, 1.0]


def test_exp_rate_kernel_takes_every_chain_it_counts(monkeypatch):
    """The kernel's sums are torch's float64 chains of exp2, so every exponential counted in its
    rate is taken, and a changed step count changes them."""
    monkeypatch.syspath_prepend(str(REPO / "scripts" / "gpu"))
    rate = runpy.run_path(str(REPO / "scripts" / "gpu" / "exp_rate.py"))
    out = torch.empty(2 * rate["BLOCK"], device=DEVICE)
    rate["run"](out, 3)
    torch.testing.assert_close(out.double().cpu(), rate["expected_sums"](out.numel(), 3),
                               rtol=1e-6, atol=1e-6)
    assert not torch.allclose(out.double().cpu(), rate["expected_sums"](out.numel(), 2))


def test_ncu_summary_reads_each_launch_of_a_report(tmp_path):
    """``scripts/gpu/ncu_summary.py``: one row per launch, its duration in µs whatever unit ncu
    printed, and the smallest block limit (ties named together)."""
    committed = REPO / "docs" / "benchmarks" / "h100-2026-12-05-ncu" / "ncu_ssd_B4_L65536_bf16.txt"
    table = runpy.run_path(str(REPO / "scripts" / "gpu" / "ncu_summary.py"))["table"]
    rows = [line.split(" | ") for line in table(committed) if line.startswith("| chunk_")]
    by_kernel = {row[0].removeprefix("| "): row for row in rows}
    assert len(rows) == 10  # chunk_outer ×3, gram ×2, scan fwd, dx, pairs, dbc ×2
    assert by_kernel["chunk_scan_fwd_kernel"][3] == "2650.0"  # printed in ms
    assert by_kernel["chunk_gram_kernel"][3] == "111.9"  # printed in µs
    assert by_kernel["chunk_scan_fwd_kernel"][-2] == "Shared Mem (3)"
    assert by_kernel["chunk_gram_kernel"][-2] == "Shared Mem, Registers (5)"
    assert by_kernel["chunk_gram_kernel"][-1] == "— |"  # this report has no stall breakdown


def test_ncu_summary_names_the_three_largest_stall_reasons(tmp_path):
    report = tmp_path / "ncu_scan.txt"
    report.write_text(
        "  scan_fwd_kernel (4, 96, 1)x(64, 1, 1), Context 1, Stream 7, Device 0, CC 9.0\n"
        "    Section: Command line profiler metrics\n"
        "    smsp__average_warps_issue_stalled_barrier_per_issue_active.ratio         0.31\n"
        "    smsp__average_warps_issue_stalled_long_scoreboard_per_issue_active.ratio 1,250.5\n"
        "    smsp__average_warps_issue_stalled_selected_per_issue_active.ratio        1\n"
        "    smsp__average_warps_issue_stalled_wait_per_issue_active.ratio            0.02\n"
        "    smsp__average_warps_issue_stalled_short_scoreboard_per_issue_active.ratio ratio 0.75\n")
    table = runpy.run_path(str(REPO / "scripts" / "gpu" / "ncu_summary.py"))["table"]
    row = next(line for line in table(report) if line.startswith("| scan_fwd_kernel"))
    assert row.endswith("| long_scoreboard 1250.50, selected 1.00, short_scoreboard 0.75 |")


def test_ncu_sass_sums_a_source_page_by_opcode():
    """``scripts/gpu/ncu_sass.py`` on a committed source page: each launch's table, and per
    opcode the instructions and shared-memory wavefronts ncu counted (shuffles have none)."""
    page = (REPO / "docs" / "benchmarks" / "h200-2026-12-06-ncu-source"
            / "ncu_scan_B8_L2048_bf16.sass.csv.gz")
    script = runpy.run_path(str(REPO / "scripts" / "gpu" / "ncu_sass.py"))
    tables = dict(script["kernel_tables"](page))
    assert sorted(tables) == ["scan_bwd_kernel", "scan_fwd_kernel", "segment_adjoints_kernel"]
    sums = script["by_opcode"](tables["scan_bwd_kernel"])
    assert sums["SHFL.BFLY"]["instructions"] == 67_633_152
    assert sums["SHFL.BFLY"]["wavefronts"] == 0
    assert sums["LDS.U16"]["wavefronts"] == 25_165_824
    assert sum(s["instructions"] for s in sums.values()) == 594_451_968  # as ncu's details page
    table = script["table"]("scan_bwd_kernel", tables["scan_bwd_kernel"])
    assert table.startswith("### scan_bwd_kernel\n\n594,451,968 warp instructions")


def test_ncu_sass_names_opcodes_without_predicates_or_operands():
    opcode = runpy.run_path(str(REPO / "scripts" / "gpu" / "ncu_sass.py"))["opcode"]
    assert opcode("      @!P0 LDGSTS.E.64 desc[UR24][R68.64], !P0, [R97]") == "LDGSTS.E"
    assert opcode("SHFL.BFLY PT, R3, R2, 0x1, 0x1f") == "SHFL.BFLY"
    assert opcode("FADD R1, R2, R3") == "FADD"
    assert opcode("") == "?"


def test_segment_sweep_cases_read_dtype_batch_and_length(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "scripts" / "gpu"))
    case_list = runpy.run_path(str(REPO / "scripts" / "gpu" / "segment_sweep.py"))["case_list"]
    assert [(c.dtype, c.batch, c.length) for c in case_list("bf16:4:65536, fp32:1:2048")] == [
        ("bf16", 4, 65536), ("fp32", 1, 2048)]
    for bad in ("bf16:4", "fp16:1:2048", "bf16:0:2048", "bf16:x:2048"):
        with pytest.raises(argparse.ArgumentTypeError, match="DTYPE:BATCH:LENGTH"):
            case_list(bad)


def test_sass_stats_specialise_the_arguments_as_a_launch_would(monkeypatch):
    """The offline compile sees what Triton's launch at D 1536 sees: unit strides constant,
    sizes and strides divisible by 16 marked so, pointers aligned, the segment arguments (under
    ``do_not_specialize``) left plain; bf16 only for the step tensors."""
    monkeypatch.syspath_prepend(str(REPO / "scripts"))
    stats = runpy.run_path(str(REPO / "scripts" / "scan_sass_stats.py"))
    fn = stats["triton_forward"].scan_fwd_kernel.fn.fn  # autotuner -> heuristics -> JIT
    if not isinstance(fn, JITFunction):  # interpreted here: the JIT function a GPU builds
        fn = JITFunction(fn.fn, **fn.kwargs)
    values = stats["int_values"](4, 65536, 1536, 16)
    flags = {param.name: 16 for param in fn.params if param.is_constexpr}
    signature, constexprs, attrs = stats["specialise"](fn, flags, values, stats["LOW_PRECISION"])
    marked = {fn.arg_names[index] for (index,) in attrs}
    assert constexprs["s_u_d"] == 1 and constexprs["CHUNK"] == 16
    assert {"seqlen", "dim", "chans_per_group", "s_u_l", "u_ptr", "B_ptr"} <= marked
    assert signature["seg_chunks"] == "i32" and "seg_chunks" not in marked
    assert signature["u_ptr"] == "*bf16" and signature["B_ptr"] == "*fp32"
    odd = stats["specialise"](fn, flags, stats["int_values"](4, 65536, 1530, 16), set())[2]
    assert fn.arg_names.index("dim") not in {index for (index,) in odd}


def test_sass_stats_read_the_longest_loop_and_count_its_opcodes(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "scripts"))
    stats = runpy.run_path(str(REPO / "scripts" / "scan_sass_stats.py"))
    code = "\n".join(f"        /*{address:04x}*/    {text} ;" for address, text in [
        (0x00, "MOV R1, c[0x0][0x28]"), (0x10, "FMUL R2, R2, R3"), (0x20, "MUFU.EX2 R4, R2"),
        (0x30, "FFMA R5, R4, R5, R6"), (0x40, "@P0 BRA 0x10"), (0x50, "FADD R7, R7, R8"),
        (0x60, "@P1 BRA 0x50"), (0x70, "EXIT")])
    loop = stats["hot_loop"](code)
    assert loop == ["FMUL", "MUFU.EX2", "FFMA", "BRA"]
    assert stats["opcode_lines"](loop, 2, top=2) == ["- FMUL: 0.50", "- MUFU: 0.50"]


def test_only_forward_only_calls_take_the_long_chunk():
    """Chunks of 16 steps (N 16) only for a long call without a gradient: with one due, the
    backward's share makes chunks of 8 faster at every size."""
    long = sst.LONG_CHUNK_ELEMENTS
    assert sst.chunk_len(16, long, need_grad=False) == 16
    assert sst.chunk_len(16, long, need_grad=True) == 8
    assert sst.chunk_len(16, long - 1, need_grad=False) == 8


@pytest.mark.parametrize("grad", [False, True])
def test_a_call_picks_its_chunk_knowing_whether_a_gradient_is_due(monkeypatch, grad):
    asked = []

    def recorded(dstate: int, elements: int, need_grad: bool) -> int:
        asked.append(need_grad)
        raise LookupError("chunk asked")

    monkeypatch.setattr(sst, "chunk_len", recorded)
    inputs = {name: None if tensor is None else tensor.detach().requires_grad_(name == "u" and grad)
              for name, tensor in make_inputs(1, 8, 4, 1, 4, torch.float32, "cpu", {"D"},
                                              0).items()}
    with pytest.raises(LookupError):
        sst.run_selective_scan(**inputs)
    with torch.no_grad(), pytest.raises(LookupError):
        sst.run_selective_scan(**inputs)
    assert asked == [grad, False]
