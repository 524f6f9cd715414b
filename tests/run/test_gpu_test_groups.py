"""``scripts/gpu/decoding_and_gpu_tests.sh`` runs the GPU tests in groups, some naming whole files
or folders and some single test functions: a GPU test that no group names would never run on
the GPU, and its kernel's change would pass unchecked there."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

from tests.compose import REPO
from tests.gpu_blocks import block_env, recording_python


def gpu_tests() -> set[str]:
    """Every ``path::function`` under tests/ decorated with ``pytest.mark.gpu``."""
    found = set()
    for path in sorted((REPO / "tests").rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and any(
                    ast.unparse(d).startswith("pytest.mark.gpu") for d in node.decorator_list):
                found.add(f"{path.relative_to(REPO)}::{node.name}")
    return found


def run_script(tmp_path: Path, bin_dir: Path, **env: str) -> subprocess.CompletedProcess:
    """``decoding_and_gpu_tests.sh`` with its tests alone, into ``tmp_path/out``, the stand-ins
    in ``bin_dir`` first on the PATH."""
    return subprocess.run(["bash", str(REPO / "scripts" / "gpu" / "decoding_and_gpu_tests.sh"),
                           str(tmp_path / "out")], cwd=REPO, capture_output=True, text=True,
                          env=block_env(tmp_path, bin_dir, GPU_TESTS_ONLY="1", **env))


def named_by_groups(tmp_path: Path, **env: str) -> list[str]:
    """The pytest arguments of every group run, as the script passes them (stand-in
    ``python``)."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    recording_python(bin_dir, calls)
    assert run_script(tmp_path, bin_dir, **env).returncode == 0
    return [word for line in calls.read_text().splitlines()
            if line.startswith("-m pytest -m gpu") for word in line.split()[4:]
            if word.startswith("tests")]


def test_every_gpu_test_is_in_a_group(tmp_path):
    named = named_by_groups(tmp_path)
    assert named and all("::" in word or (REPO / word).exists() for word in named)

    def reached(test: str) -> bool:
        path = test.split("::")[0]
        return any(test == word or test.startswith(word + "[") or path == word
                   or path.startswith(word.rstrip("/") + "/") for word in named)

    assert gpu_tests() and sorted(t for t in gpu_tests() if not reached(t)) == []


def test_a_group_stopped_by_its_limit_says_so(tmp_path):
    """A group cut off mid-test leaves no pytest summary: the log must say why its lines end."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").write_text('#!/bin/sh\necho -n ".."\nexec sleep 5\n')
    (bin_dir / "python").chmod(0o755)
    assert run_script(tmp_path, bin_dir, GROUP_LIMIT="1").returncode == 0
    log = (tmp_path / "out" / "gpu_tests.log").read_text().splitlines()
    headers = [i for i, line in enumerate(log) if line.startswith("== python -m pytest")]
    assert len(headers) >= 2 and log[:2] == [log[0], ".."]
    stopped = "stopped by GROUP_LIMIT (1 s) before its last test"
    assert [log[i + 2] for i in headers] == [stopped] * len(headers)


def test_chosen_groups_run_alone(tmp_path):
    """A call that owes two groups runs those two, in their order, and none of the others."""
    ran = sorted(named_by_groups(tmp_path, GPU_TEST_GROUPS="5 6"))
    ssd = "tests/kernels/test_ssd_triton.py::test_scan_matches_reference_on_gpu"
    assert ran == [f"{ssd}_ragged_chunk_256", f"{ssd}_with_chained_states"]
    log = (tmp_path / "out" / "gpu_tests.log").read_text()
    assert log.count("== python -m pytest") == 2


def test_a_group_index_out_of_range_is_refused(tmp_path):
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    recording_python(bin_dir, calls)
    done = run_script(tmp_path, bin_dir, GPU_TEST_GROUPS="5 10")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "GPU_TEST_GROUPS: '10' is not a group index (0 to 9)")
    assert not calls.exists() or "pytest" not in calls.read_text()
