"""scripts/gpu/graphed_steps.sh with stand-ins for python, nvidia-smi and the MPS control: each
setting's processes run with the GPU shared as the row says (the MPS daemon reached through its
pipe folder while it runs, stopped after), and the table counts epochs a minute per setting."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.compose import REPO

SCRIPT = REPO / "scripts" / "gpu" / "graphed_steps.sh"

FAKE_FIT = """#!/bin/sh
# a fit: its epoch line, and how it reached the GPU
for arg; do case $arg in hydra.run.dir=*) run=${arg#hydra.run.dir=};; esac; done
mkdir -p "$run"
echo "pipe=${CUDA_MPS_PIPE_DIRECTORY:-none}" > "$run/sharing"
echo "epoch 2/2  train_loss 0.3  12.0 s"
"""

FAKE_MPS = """#!/bin/sh
# the control: -d starts the daemon (a file in the pipe folder), quit on stdin stops it
if [ "$1" = -d ]; then touch "$CUDA_MPS_PIPE_DIRECTORY/daemon"; exit 0; fi
read command
[ "$command" = quit ] && rm "$CUDA_MPS_PIPE_DIRECTORY/daemon"
"""


def fake_bin(folder: Path, with_mps: bool) -> Path:
    folder.mkdir()
    commands = {"python": FAKE_FIT, "nvidia-smi": "#!/bin/sh\necho Fake GPU\n"}
    if with_mps:
        commands["nvidia-cuda-mps-control"] = FAKE_MPS
    for name, text in commands.items():
        (folder / name).write_text(text)
        (folder / name).chmod(0o755)
    return folder


def run_script(tmp_path: Path, with_mps: bool) -> subprocess.CompletedProcess:
    bin_dir = fake_bin(tmp_path / "bin", with_mps)
    path = f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin"  # no real nvidia tools
    return subprocess.run(["bash", str(SCRIPT), str(tmp_path / "out"), "3", "mamba", "s4"],
                          cwd=REPO, env=dict(os.environ, PATH=path), capture_output=True,
                          text=True, timeout=120, check=True)


def test_each_setting_shares_the_gpu_as_its_rows_say(tmp_path):
    result = run_script(tmp_path, with_mps=True)
    out = tmp_path / "out"
    table = (out / "graphed_steps.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(rows) == 2 + 4 * 3
    assert "| 3 | mps | graphed | s4 | 12.0 |" in rows
    assert "- 3 processes, mps, default: 15.0 epochs a minute" in table
    mps_pipe = f"pipe={out / 'mps' / 'pipe'}\n"
    for run in (out / "runs").iterdir():
        if run.is_dir():
            expected = mps_pipe if "-mps-" in run.name else "pipe=none\n"
            assert (run / "sharing").read_text() == expected, run.name
    assert not (out / "mps" / "pipe" / "daemon").exists()
    assert result.stderr == ""


def test_without_the_mps_control_it_says_so_and_keeps_the_time_sliced_rows(tmp_path):
    result = run_script(tmp_path, with_mps=False)
    table = (tmp_path / "out" / "graphed_steps.md").read_text()
    assert "| mps |" not in table
    assert "| 3 | slices | graphed | mamba | 12.0 |" in table
    assert result.stderr.count("mps: nvidia-cuda-mps-control is not on this machine") == 2
