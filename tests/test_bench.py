"""``python -m tsssm.bench kernels`` on the CPU: the floors against the anchors' figures, the case
lists, the table and JSON writer, the targets, the guard around each case, argument parsing, and
the clear exit on a machine without CUDA (with Hydra, MLflow and Lightning unimportable, as on the
GPU machine). Timing itself needs CUDA: the ``gpu`` test."""

from __future__ import annotations

import json
import math
import os
import re
import runpy
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tsssm import bench
from tsssm.benchmarks import cases, generation, timing
from tsssm.benchmarks.cases import (PEER_SECTION, ScanCase, SSDCase, length_label, mixer_label,
                                    pair_cases, peer_row_case, step_label)
from tsssm.benchmarks.peer_library import (PeerUnavailable, _compiled_name, load_peer_scan,
                                           load_peer_ssd)
from tsssm.benchmarks.floors import (ANCHOR_EXP_RATE, attention_bytes, causal_attention_flops,
                                     exp_rate, floor, minimal_bytes, scan_bytes, scan_exps,
                                     scan_step_bytes, ssd_bytes)
from tsssm.benchmarks.results import Check, Report, Row, format_ms, markdown_table, write_report
from tsssm.benchmarks.targets import evaluate

REPO = Path(__file__).resolve().parents[1]
H100_COPY = 3.02e12  # the copy bandwidth measured on an H100 before the kernels were timed there


# ----------------------------------------------------------------------------------- floors


def test_scan_floors_reproduce_the_anchors_figures():
    """The reference shape B4 L64K D1536 N16: fp32 memory floor 1.61 ms (exp 1.53 ms below it); bf16
    memory 0.81 ms, so the exp floor bounds it."""
    shape = (4, 65536, 1536, 1, 16)
    fp32 = scan_bytes(*shape, itemsize=4)
    assert fp32 == 3 * (4 * 65536 * 1536 * 4) + 2 * (4 * 65536 * 16 * 4)
    rate, source = exp_rate(132, 1_980_000)
    assert rate == pytest.approx(132 * 1.98e9 * 16) and "132 SMs" in source
    exps = scan_exps(4, 65536, 1536, 16)
    assert floor(fp32, H100_COPY, exps, rate) == (pytest.approx(1.611, abs=1e-3), "memory")
    bf16 = scan_bytes(*shape, itemsize=2)
    assert bf16 / H100_COPY * 1e3 == pytest.approx(0.806, abs=1e-3)
    assert floor(bf16, H100_COPY, exps, rate) == (pytest.approx(1.541, abs=1e-3), "exp")


def test_backward_moves_inputs_three_times_and_outputs_twice():
    assert minimal_bytes([10, 20], [5]) == 35
    assert minimal_bytes([10, 20], [5], backward=True) == 3 * 30 + 2 * 5
    assert scan_bytes(2, 3, 4, 1, 5, 4, backward=True) == 8 * (2 * 3 * 4 * 4) + 6 * (2 * 3 * 5 * 4)


def test_other_byte_and_flop_counts_on_small_shapes():
    # SSD x (1, 2, 3, 4), dt (1, 2, 3), B and C (1, 2, 1, 5), bf16: read x, dt, B, C; write y.
    assert ssd_bytes(1, 2, 3, 4, 1, 5, itemsize=2) == 2 * (24 + 6 + 10 + 10 + 24)
    # decode step, D 2048, N 16: the fp32 state read and written, five small bf16 vectors.
    state, vector, projection = 2048 * 16 * 4, 2048 * 2, 16 * 2
    assert scan_step_bytes(1, 2048, 1, 16, itemsize=2) == 2 * state + 4 * vector + 2 * projection
    # decode over a 1K cache: read q, k, v, write o.
    query, cache = 16 * 64 * 2, 16 * 1024 * 64 * 2
    assert attention_bytes(1, 16, 1, 1024, 64, itemsize=2) == 2 * query + 2 * cache
    assert causal_attention_flops(1, 16, 1024, 64) == 2 * 16 * 1024 ** 2 * 64
    assert causal_attention_flops(1, 16, 1024, 64, backward=True) == 3.5 * 2 * 16 * 1024 ** 2 * 64


def test_exp_rate_falls_back_to_the_anchors_figure_without_a_clock():
    rate, source = exp_rate(132, 0)
    assert rate == ANCHOR_EXP_RATE and "anchors" in source


# ------------------------------------------------------------------------------------ cases


def test_length_labels():
    assert [length_label(n) for n in (300, 1024, 2048, 131072, 2 ** 20)] == ["300", "1K", "2K",
                                                                             "128K", "1M"]


def test_scan_cases_hold_the_anchors_and_the_sweep():
    full = cases.scan_cases(quick=False)
    for dtype in ("fp32", "bf16"):
        for batch, length in ((8, 2048), (8, 8192), (4, 65536)):
            assert ScanCase(dtype, batch, length, 1536, 16) in full
    sweep = [c.length for c in full if c.batch == 1]
    assert sweep == [1024 << i for i in range(7)] + [2 ** 20]
    quick = cases.scan_cases(quick=True)
    assert set(quick) < set(full) and max(c.length for c in quick if c.batch == 1) == 65536
    assert ScanCase("bf16", 8, 2048).reference_fits and not ScanCase("bf16", 8, 8192).reference_fits


def test_ssd_cases_hold_each_state_size_at_the_anchors_shapes():
    full = cases.ssd_cases(quick=False)
    for state in (16, 64, 128):
        for batch, length in ((4, 65536), (8, 8192)):
            assert SSDCase(batch, length, state) in full
    assert all(c.state == 128 for c in full if c.batch == 1)
    assert SSDCase(4, 65536, 128).label == "B4 L64K H24x64 N128"
    assert set(cases.ssd_cases(quick=True)) < set(full)


def test_ssd_profile_runs_the_shapes_its_cases_name(monkeypatch: pytest.MonkeyPatch):
    """``scripts/gpu/ssd_profile.py --cases``: every shape whose label holds a part, an unmatched
    part an error naming the labels."""
    monkeypatch.syspath_prepend(str(REPO / "scripts" / "gpu"))
    chosen = runpy.run_path(str(REPO / "scripts" / "gpu" / "ssd_profile.py"))["chosen_cases"]
    assert [c.label for c in chosen("B1 L64K, B8")] == ["ssd B1 L64K H24x64 chunk 256 N128",
                                                         "ssd B8 L8K H24x64 chunk 256 N128"]
    assert len(chosen(None)) == len(chosen("ssd")) == 4
    with pytest.raises(SystemExit, match="'B9'.*match none of"):
        chosen("B9,N16")


def test_ssd_profile_state_paths_force_each_way_for_forward_and_backward(
        monkeypatch: pytest.MonkeyPatch):
    """``ssd_profile.py --state-paths``: one call takes the per-chunk kernels, the other
    ``chain_states``, in the forward and in its backward, and the rule is left as it was."""
    from tsssm.kernels.ssd import triton as ssd_triton

    monkeypatch.syspath_prepend(str(REPO / "scripts" / "gpu"))
    paths = runpy.run_path(str(REPO / "scripts" / "gpu" / "ssd_profile.py"))["state_paths"]()
    taken: list[bool] = []
    entering = ssd_triton._entering_states

    def recorded(*args):
        taken.append(args[-1])
        return entering(*args)

    monkeypatch.setattr(ssd_triton, "_entering_states", recorded)
    rule = ssd_triton.CHAIN_MIN_SEQUENCES
    gen = torch.Generator().manual_seed(0)
    for call in paths.values():
        inputs = {"x": torch.randn(1, 16, 2, 16, generator=gen),
                  "dt": torch.randn(1, 16, 2, generator=gen), "A": -torch.rand(2, generator=gen),
                  "B": torch.randn(1, 16, 1, 16, generator=gen),
                  "C": torch.randn(1, 16, 1, 16, generator=gen)}
        inputs["x"].requires_grad_(True)
        call(inputs).sum().backward()
    assert list(paths) == ["tsssm, per-chunk states", "tsssm, chained states"]
    assert taken == [False, False, True, True]
    assert ssd_triton.CHAIN_MIN_SEQUENCES == rule


# ----------------------------------------------------------------------------------- writer


def _row(**overrides) -> Row:
    fields = dict(section="scan", case="B8 L2K D1536 N16", dtype="fp32", mode="fwd",
                  tokens=8 * 2048, shape={"batch": 8, "length": 2048}, time_ms=0.8125,
                  ref_ms=303.2, floor_ms=0.1, floor_bound="memory", nbytes=10 ** 8,
                  copy_fraction=0.041)
    return Row(**{**fields, **overrides})


def test_format_ms_keeps_three_figures_without_exponents():
    assert [format_ms(v) for v in (0.00412, 0.4123, 4.123, 41.23, 412.3, 4123.0)] == [
        "0.00412", "0.412", "4.12", "41.2", "412", "4123"]
    assert format_ms(None) == "—"


def test_timing_summary_is_do_bench_median_with_its_spread():
    assert timing.summarize([4.0, 1.0, 3.0, 2.0]) == (2.5, pytest.approx(1.6), pytest.approx(3.4))
    assert timing.summarize([5.0]) == (5.0, 5.0, 5.0)


def test_table_shows_dashes_for_what_was_not_measured():
    oom = _row(mode="fwd+bwd", time_ms=None, ref_ms=None, copy_fraction=None, note="OOM")
    table = markdown_table([_row(), oom]).splitlines()
    assert table[2] == ("| scan | B8 L2K D1536 N16 | fp32 | fwd | 0.812 | 303 | 0.1 mem | 8.1 | "
                        "4.1% |  |")
    assert table[3].endswith("| — | — | 0.1 mem | — | — | OOM |")


def test_report_files_hold_the_raw_numbers_and_the_command(tmp_path: Path):
    report = Report({"device": "NVIDIA H100 80GB HBM3", "command": "python -m tsssm.bench kernels",
                     "copy_bytes_per_s": H100_COPY, "copy_gib": 1},
                    rows=[_row(), _row(mode="fwd+bwd", time_ms=None, note="OOM")],
                    checks=[Check("selective_scan fp32", "B2 L300", {"y": 1e-7, "du": math.nan},
                                  1e-4)],
                    targets=["PASS  something"], errors=["section ssd: NotImplementedError: x"])
    md, js = write_report(report, tmp_path / "bench")
    data = json.loads(js.read_text())
    assert data["meta"]["device"] == "NVIDIA H100 80GB HBM3"
    assert data["rows"][0]["time_ms"] == 0.8125 and data["rows"][0]["times_floor"] == 8.125
    assert data["rows"][1]["time_ms"] is None and data["rows"][1]["note"] == "OOM"
    assert data["checks"][0]["passed"] is False  # a NaN error fails
    text = md.read_text()
    for expected in ("NVIDIA H100 80GB HBM3", "`python -m tsssm.bench kernels`", "3.02 TB/s",
                     "FAIL (du over 1e-04)", "PASS  something", "NotImplementedError"):
        assert expected in text


def test_report_lists_the_configs_the_autotuners_kept_per_kernel(tmp_path: Path):
    kept = [{"kernel": "scan_fwd_kernel", "key": "k1", "config": {"BLOCK_D": 16, "num_warps": 2}},
            {"kernel": "scan_fwd_kernel", "key": "k2", "config": {"BLOCK_D": 16, "num_warps": 2}},
            {"kernel": "scan_fwd_kernel", "key": "k3", "config": {"BLOCK_D": 8, "num_warps": 1}},
            {"kernel": "scan_bwd_kernel", "key": "k1", "config": {"SPLIT": 2}}]
    md, js = write_report(Report({"kept_configs": kept}, rows=[]), tmp_path)
    assert json.loads(js.read_text())["meta"]["kept_configs"] == kept
    text = md.read_text()
    assert ("- `scan_fwd_kernel`: BLOCK_D 16, num_warps 2 (2 keys); BLOCK_D 8, num_warps 1 (1 key)"
            in text)
    assert "- `scan_bwd_kernel`: SPLIT 2 (1 key)" in text


# ---------------------------------------------------------------------------------- targets


def test_targets_pass_miss_and_not_run():
    rows = [
        _row(copy_fraction=0.8),
        _row(mode="fwd+bwd", time_ms=0.25, floor_ms=0.1),
        _row(dtype="bf16", case="B4 L64K D1536 N16", time_ms=3.0, floor_ms=1.5, floor_bound="exp",
             copy_fraction=0.27),
        Row("mixer", mixer_label("mamba", 2048), "bf16", "fwd+bwd", 2048, {"length": 2048},
            time_ms=1.0),
        Row("mixer", mixer_label("attention", 2048), "bf16", "fwd+bwd", 2048, {"length": 2048},
            time_ms=2.0),
        Row("mixer", mixer_label("mamba", 65536), "bf16", "fwd+bwd", 65536, {"length": 65536},
            time_ms=10.0),
        Row("mixer", mixer_label("attention", 65536), "bf16", "fwd+bwd", 65536, {"length": 65536},
            time_ms=50.0),
        Row("mixer", mixer_label("mamba", 2048), "bf16", "fwd+bwd-graph", 2048, {"length": 2048},
            time_ms=0.5),
        Row("mixer", mixer_label("attention", 2048), "bf16", "fwd+bwd-graph", 2048,
            {"length": 2048}, time_ms=0.4),
        Row("step", step_label("mamba", 1024), "bf16", "step-graph", 1, time_ms=0.0040),
        Row("step", step_label("mamba", 131072), "bf16", "step-graph", 1, time_ms=0.0042),
        Row("step", step_label("sdpa", 1024), "bf16", "step-graph", 1, time_ms=0.01),
        Row("step", step_label("sdpa", 131072), "bf16", "step-graph", 1, time_ms=0.2),
    ]
    lines = evaluate(rows)

    def line(*words: str) -> str:
        found = [text for text in lines if all(word in text for word in words)]
        assert len(found) == 1, (words, lines)
        return found[0]

    assert line("fwd ≥ 70%", "fp32 B8 L2K").startswith("PASS  ")
    assert "80.0%" in line("fwd ≥ 70%", "fp32 B8 L2K")
    assert line("fwd+bwd ≤ 3×", "fp32 B8 L2K").startswith("PASS  ")
    bf16 = line("fwd ≥ 70%", "bf16 B4 L64K")
    assert bf16.startswith("MISS") and "exp floor caps it at 54%" in bf16
    assert line("fwd ≥ 70%", "fp32 B8 L8K").startswith("NOT RUN")
    assert line("fwd+bwd faster than attention, L 2K").startswith("PASS")
    assert "2.00×" in line("fwd+bwd faster", "L 2K")
    assert line("≥ 10× faster than attention, L 64K").startswith("MISS")
    assert line("fwd+bwd-graph faster than attention, L 2K").startswith("INFO")
    assert "0.80×" in line("fwd+bwd-graph", "L 2K")
    assert line("fwd+bwd-graph faster than attention, L 64K").startswith("INFO")
    assert "not run" in line("fwd+bwd-graph", "L 64K")
    assert line("mamba step-graph", "within ±10%").startswith("PASS")
    assert line("sdpa step-graph").startswith("INFO") and "20.00×" in line("sdpa step-graph")
    assert line("mamba step time").startswith("NOT RUN")
    assert all(text.startswith("NOT RUN") for text in lines if text.split()[2] == "ssd")


def test_targets_of_sections_not_run_say_so_once():
    assert evaluate([]) == [f"NOT RUN  {name} targets (section {sections} not run)"
                            for name, sections in (("scan", "scan"), ("mixer", "mixer"),
                                                   ("ssd vs scan", "ssd, scan"), ("step", "step"),
                                                   ("vs mamba_ssm", "vs mamba_ssm"))]


def test_peer_targets_read_the_ratio_of_each_pair():
    first = pair_cases()[0]
    rows = [_row(section=PEER_SECTION, case=peer_row_case(first, library), dtype=first.dtype,
                 mode="fwd", time_ms=ms)
            for library, ms in (("tsssm", 0.5), ("mamba_ssm", 1.5))]
    rows.append(_row(section=PEER_SECTION, case=peer_row_case(first, "tsssm"), dtype=first.dtype,
                     mode="fwd+bwd", time_ms=1.0))
    rows.append(_row(section=PEER_SECTION, case=peer_row_case(first, "mamba_ssm"),
                     dtype=first.dtype, mode="fwd+bwd", time_ms=1.5))
    lines = [line for line in evaluate(rows) if first.label in line and "mamba_ssm" in line]
    assert lines[0].startswith("PASS") and "3.00×" in lines[0]
    assert lines[1].startswith("MISS") and "fwd+bwd ≥ 2× mamba_ssm: 1.50× (1.00 vs 1.50 ms)" in lines[1]
    others = [line for line in evaluate(rows) if "mamba_ssm" in line and first.label not in line]
    assert others and all(line.startswith("NOT RUN") for line in others)


def test_a_kept_peer_build_is_named_by_arch_torch_and_every_source(tmp_path: Path):
    """A compiled scan is reused only for the GPU arch, torch build and sources it came from."""
    unit, header = tmp_path / "scan.cu", tmp_path / "scan.h"
    unit.write_text("kernel")
    header.write_text("declarations")
    name = _compiled_name([unit, header], "90")
    assert name.startswith(f"selective_scan_cuda-sm90-torch{torch.__version__.replace('+', '_')}-")
    assert re.fullmatch(r"[\w.-]+", name)
    assert _compiled_name([header, unit], "90") == name
    assert _compiled_name([unit, header], "100") != name
    header.write_text("other declarations")
    assert _compiled_name([unit, header], "90") != name


def test_peer_folder_without_sources_is_refused_by_name(tmp_path: Path):
    with pytest.raises(PeerUnavailable, match="csrc/selective_scan/selective_scan.cpp is missing"):
        load_peer_scan(tmp_path)
    with pytest.raises(PeerUnavailable, match="mamba_ssm/ops/triton/ssd_combined.py is missing"):
        load_peer_ssd(tmp_path)


# ------------------------------------------------------------------------ the guard per case


@pytest.fixture
def cpu_bench(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> timing.Bench:
    """A Bench whose device calls are stand-ins, to test what it does around each case."""
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *args, **kwargs: None)
    monkeypatch.setattr(timing, "bench_timing",
                        lambda fn, rep_ms, grad_to_none=None: timing.summarize([1.0, 2.0, 3.0]))
    device = timing.Device("stand-in", 132, 1_980_000, 1e12, *exp_rate(132, 1_980_000))
    return timing.Bench(device, Report({}), tmp_path, quick=True, ssd_chunk=64, rep_ms=10,
                        started=time.monotonic(), budget_s=60.0)


def test_bench_times_a_case_and_records_failures_without_stopping(cpu_bench: timing.Bench):
    def fails(error: Exception):
        def setup() -> timing.Timed:
            raise error
        return setup

    def untimed(**fields) -> Row:
        return _row(time_ms=None, ref_ms=None, copy_fraction=None, **fields)

    ok = cpu_bench.time(untimed(nbytes=10 ** 9), lambda: timing.Timed(lambda: None))
    assert ok.time_ms == 2.0 and ok.copy_fraction == pytest.approx(0.5) and ok.first_call_s >= 0
    assert ok.spread_ms == [pytest.approx(1.4), pytest.approx(2.6)] and ok.ref_ms is None
    oom = cpu_bench.time(untimed(), fails(torch.cuda.OutOfMemoryError("CUDA out of memory")))
    assert oom.time_ms is None and oom.note == "OOM"
    broken = cpu_bench.time(untimed(), fails(RuntimeError("kernel exploded\nsecond line")))
    assert broken.note == "RuntimeError: kernel exploded"
    assert not cpu_bench.attempt("section x", fails(ValueError("bad")))
    assert cpu_bench.report.errors == ["section x: ValueError: bad"]
    cpu_bench.deadline = time.monotonic() - 1
    late = cpu_bench.time(untimed(), lambda: timing.Timed(lambda: None))
    assert late.time_ms is None and late.note == "skipped: time budget"
    saved = json.loads((cpu_bench.out_dir / "kernels.json").read_text())
    assert [row["note"] for row in saved["rows"]] == ["", "OOM", broken.note, late.note]


def test_a_group_past_the_budget_says_so_rather_than_blaming_the_kernel(cpu_bench: timing.Bench):
    def fails() -> timing.Timed:
        raise RuntimeError("no kernel for this shape")

    def check() -> Check:
        raise AssertionError("a group that did not tune is not checked")

    broken = _row(time_ms=None, ref_ms=None, copy_fraction=None)
    cpu_bench.run_group("scan x", [fails], check, [(broken, lambda: timing.Timed(lambda: None))])
    assert broken.note == "not run: the kernel failed at the tuning shape"
    cpu_bench.deadline = time.monotonic() - 1
    late = _row(time_ms=None, ref_ms=None, copy_fraction=None)
    cpu_bench.run_group("scan y", [fails], check, [(late, lambda: timing.Timed(lambda: None))])
    assert late.time_ms is None and late.note == "skipped: time budget"
    assert cpu_bench.report.errors[-1] == "tune scan y: skipped (time budget)"


# ------------------------------------------------------------------------------ entry point


def test_arguments():
    args = bench.parse_args(["kernels"])
    assert (args.out, args.quick, args.sections) == (Path("docs/benchmarks"), False,
                                                     ["scan", "attention", "mixer", "step", "ssd",
                                                      "peer-linear"])
    args = bench.parse_args(["kernels", "--peer-dir", "peer"])
    assert args.sections[-2:] == ["peer-scan", "peer-ssd"] and args.peer_dir == Path("peer")
    args = bench.parse_args(["kernels", "--quick", "--sections", "ssd,scan", "--out", "x"])
    assert (args.out, args.quick, args.sections) == (Path("x"), True, ["ssd", "scan"])


def test_unknown_section_is_named(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exit_info:
        bench.parse_args(["kernels", "--sections", "scan,flash"])
    assert exit_info.value.code == 2 and "['flash']" in capsys.readouterr().err


BLOCK_IMPORTS = """
import importlib.abc, runpy, sys
blocked = set(sys.argv[1].split(','))
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in blocked:
            raise ImportError('not installed: ' + name)
sys.meta_path.insert(0, Block())
sys.argv = ['tsssm.bench', *sys.argv[2:]]
runpy.run_module('tsssm.bench', run_name='__main__', alter_sys=True)
"""
TRAINING_STACK = ("mlflow", "lightning", "pytorch_lightning")
CONFIG_STACK = ("hydra", "omegaconf")


def run_without(blocked: tuple[str, ...], args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """``python -m tsssm.bench ARGS`` in a process where the ``blocked`` packages cannot be
    imported (the kernel bench needs none of the training or config stack; generation composes
    its presets with Hydra but needs no MLflow or Lightning)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", BLOCK_IMPORTS, ",".join(blocked), *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the exit on a machine without CUDA")
def test_without_cuda_it_exits_with_a_clear_message_and_needs_no_training_stack(tmp_path: Path):
    done = run_without(TRAINING_STACK + CONFIG_STACK, ["kernels", "--out", str(tmp_path / "out")],
                       tmp_path)
    assert done.returncode == 1, done.stderr
    assert "no CUDA device" in done.stderr and "ImportError" not in done.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.gpu
def test_step_section_runs_and_writes_its_rows(tmp_path: Path):
    bench.main(["kernels", "--quick", "--sections", "step", "--out", str(tmp_path)])
    data = json.loads((tmp_path / "kernels.json").read_text())
    timed = [row for row in data["rows"] if row["time_ms"] is not None]
    assert len(timed) == 12 and all(row["time_ms"] > 0 for row in timed)
    assert len(data["checks"]) == 2 and all(check["passed"] for check in data["checks"])
    assert (tmp_path / "kernels.md").read_text().startswith("# Kernel benchmarks")


# ------------------------------------------------------------------------------- generation


def test_generation_arguments():
    args = bench.parse_args(["generation"])
    assert (args.out, args.models, args.contexts, args.new_tokens, args.batch, args.dtype) == (
        Path("docs/benchmarks"), ["mamba", "transformer"], [1024, 8192, 65536], 256, 1, "fp32")
    args = bench.parse_args(["generation", "--quick"])
    assert (args.contexts, args.new_tokens) == (bench.QUICK_CONTEXTS, bench.QUICK_NEW_TOKENS)
    args = bench.parse_args(["generation", "--quick", "--contexts", "8,32", "--new-tokens", "4",
                             "--models", "hybrid,s4", "--batch", "2", "--dtype", "bf16"])
    assert (args.models, args.contexts, args.new_tokens, args.batch, args.dtype) == (
        ["hybrid", "s4"], [8, 32], 4, 2, "bf16")


@pytest.mark.parametrize("args,message", [
    (["--models", "mamba,rwkv"], "unknown model(s) ['rwkv']; the presets of conf/model/seq are "
                                 "gss,hybrid,linear_attention,mamba,mamba2,s4,transformer"),
    (["--contexts", "1024,0"], "expected a positive integer, got '0'"),
    (["--new-tokens", "many"], "expected a positive integer, got 'many'"),
])
def test_generation_bad_arguments_are_named(capsys: pytest.CaptureFixture[str], args, message):
    with pytest.raises(SystemExit) as exit_info:
        bench.parse_args(["generation", *args])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("name", generation.preset_names())
def test_presets_build_what_fit_builds(name: str):
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("fit", overrides=["experiment=bytes/shakespeare", f"model=seq/{name}"])
    through_fit = instantiate(cfg.model.backbone)
    preset = generation.preset_language_model(name).backbone
    assert repr(preset) == repr(through_fit)
    assert 1.5e6 < sum(p.numel() for p in generation.preset_language_model(name).parameters()) < 2.5e6


def test_unknown_preset_is_named():
    with pytest.raises(ValueError, match="no size preset .*rwkv.yaml; presets: gss, hybrid"):
        generation.preset_language_model("rwkv")


def test_a_case_out_of_memory_is_recorded_and_the_next_one_runs(monkeypatch: pytest.MonkeyPatch):
    model = generation.preset_language_model("mamba").eval()
    prefill, calls = model.prefill, []

    def prefill_failing_when_timed(ids, capacity):
        calls.append(ids.shape[1])
        if len(calls) == 2:  # the warm-up's prefill passed; the timed one runs out of memory
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 80 GiB")
        return prefill(ids, capacity)

    monkeypatch.setattr(model, "prefill", prefill_failing_when_timed)
    clock, generator = generation.Clock(torch.device("cpu")), torch.Generator().manual_seed(0)
    rows = [generation.GenerationRow("mamba", 1, 1, context, 2) for context in (6, 7)]
    for row in rows:
        generation.measure(model, row, clock, generator)
    assert rows[0].note == "OOM in prefill" and rows[0].prefill_ms is None
    assert rows[0].step_ms is None and rows[0].state_bytes is None
    assert rows[1].note == "" and rows[1].step_ms > 0 and rows[1].state_bytes > 0
    assert calls == [6, 6, 7, 7]
    assert "| OOM in prefill |" in generation.table_line(rows[0])


def test_quick_generation_on_the_cpu_needs_no_training_stack(tmp_path: Path):
    out = tmp_path / "out"
    done = run_without(TRAINING_STACK, ["generation", "--quick", "--contexts", "8,32",
                                        "--new-tokens", "4", "--out", str(out)], tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads((out / "generation.json").read_text())
    assert data["meta"]["new_tokens"] == 4 and "generation --quick" in data["meta"]["command"]
    rows = {(row["model"], row["context"]): row for row in data["rows"]}
    assert sorted(rows) == [("mamba", 8), ("mamba", 32), ("transformer", 8), ("transformer", 32)]
    for row in rows.values():
        assert row["note"] == "" and row["prefill_ms"] > 0 and row["step_ms"] > 0
        assert row["tokens_per_s"] == pytest.approx(1e3 / row["step_ms"])
        assert row["prefill_peak_bytes"] is None, "the CPU has no allocator statistics"
    assert rows["mamba", 8]["state_bytes"] == rows["mamba", 32]["state_bytes"], "fixed state"
    assert rows["transformer", 32]["state_bytes"] > rows["transformer", 8]["state_bytes"]
    for (name, context), row in rows.items():  # the KV cache: allocated for context + new tokens
        model = generation.preset_language_model(name)
        assert row["state_bytes"] == model.state_nbytes(model.init_state(1, capacity=context + 4))
    assert (out / "generation.md").read_text().startswith("# Generation benchmark")


@pytest.mark.gpu
def test_generation_measures_gpu_memory(tmp_path: Path):
    bench.main(["generation", "--quick", "--models", "mamba,transformer", "--out", str(tmp_path)])
    rows = json.loads((tmp_path / "generation.json").read_text())["rows"]
    assert len(rows) == 2 * len(bench.QUICK_CONTEXTS)
    for row in rows:
        assert row["note"] == "" and row["step_ms"] > 0
        assert row["decode_peak_bytes"] >= row["state_bytes"] > 0 and row["prefill_peak_bytes"] > 0
        assert row["capture_ms"] > 0, f"{row['model']} decoded eagerly, not from a CUDA graph"
