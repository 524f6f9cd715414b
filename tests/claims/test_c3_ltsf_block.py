"""The c3_ltsf block (scripts/gpu/claims_c3_ltsf.sh) splits C3's forecasting runs between the GPU
and a CPU by dataset: no (model, dataset) may reach two of its sweeps, every model but the linear
baselines reaches the GPU on ETTm1 (whose runs no CPU makes), and every run replays its steps
from CUDA graphs."""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

from omegaconf import OmegaConf

from tests.compose import REPO
from tests.gpu_blocks import block_env, recording_python

SCRIPT = REPO / "scripts" / "gpu" / "claims_c3_ltsf.sh"
LINEAR = {"dlinear", "lstsq"}
"""Made on a CPU by scripts/claims_linear_cpu.sh."""


def launched_sweeps(tmp_path: Path) -> list[str]:
    """The ``tsssm.fit`` command lines the block runs, through a stand-in ``python`` that records
    its arguments and does nothing."""
    calls, bin_dir = tmp_path / "calls", tmp_path / "bin"
    recording_python(bin_dir, calls)
    subprocess.run(["bash", str(SCRIPT), str(tmp_path / "out")], cwd=REPO,
                   env=block_env(tmp_path, bin_dir), capture_output=True, timeout=120)
    return [line for line in calls.read_text().splitlines() if "tsssm.fit" in line]


def test_the_block_runs_each_model_and_dataset_once_graphed(tmp_path):
    study = OmegaConf.load(REPO / "conf" / "study" / "c3_ltsf.yaml").hydra.sweeper.params
    sweeps = launched_sweeps(tmp_path)
    pairs = Counter((re.search(r"model=(\S+)", line).group(1), dataset)
                    for line in sweeps
                    for dataset in re.search(r"experiment=(\S+)", line).group(1).split(","))
    assert all(count == 1 for count in pairs.values()), pairs
    assert all("study=c3_ltsf " in line and "callbacks=graphed" in line for line in sweeps)
    on_gpu = {model for model, _ in pairs}
    assert on_gpu == set(study.model.split(",")) - LINEAR
    assert {model for model, dataset in pairs if dataset == "ltsf/ettm1"} == on_gpu
    assert {dataset for _, dataset in pairs} <= set(study.experiment.split(","))
