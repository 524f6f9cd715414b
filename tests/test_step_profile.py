"""A step's profile (tsssm/benchmarks/step_profile.py) and the fit-step profile script built on it
(scripts/gpu/profile_fit_step.py), here on the CPU: the script composes each model as fit does,
with the command line's overrides, and times its eager training step."""

from __future__ import annotations

import os
import re
import runpy
import subprocess
import sys

import pytest
import torch

from tests.compose import REPO
from tsssm.benchmarks.step_profile import StepProfile, profile_step


def test_the_markdown_ranks_kernels_by_time_and_states_the_busy_share():
    found = StepProfile(2.0, {"small": (0.1, 3.0), "big": (0.9, 1.0)})
    lines = found.markdown("layer", top=1)
    assert lines[:3] == ["### layer", "", "step 2.000 ms wall; kernels 1.000 ms (50% busy), "
                                          "4 kernels per step"]
    assert lines[-2:] == ["| `big` | 0.900 | 1 |", ""]


def test_a_cpu_step_has_a_wall_time_and_no_kernels():
    calls = []
    found = profile_step(lambda: calls.append(1), steps=4, warmup=2)
    assert len(calls) == 6 and found.wall_ms >= 0 and found.kernels == {}


@pytest.mark.skipif(not os.environ.get("TSSSM_DATA"), reason="needs the data root (TSSSM_DATA)")
@pytest.mark.parametrize("models, overrides, shape", [
    ("s4,mamba", ["experiment=ltsf/etth1", "data.lookback=48", "data.batch_size=4"], "(4, 48, 7)"),
    ("seq/s4", ["experiment=waveform/fsdd", "data.clip_length=64", "data.batch_size=2"], "(2, 64)"),
])
def test_the_script_profiles_each_models_step_as_fit_composes_it(tmp_path, models, overrides,
                                                                 shape):
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gpu" / "profile_fit_step.py"), str(tmp_path),
         "--models", models, *overrides, "model.backbone.d_model=8", "model.backbone.n_layers=1"],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
        timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    text = (tmp_path / "profile.md").read_text()
    assert text.startswith("# Training steps on the CPU\n")
    for model in models.split(","):
        assert re.search(rf"### {model}, input {re.escape(shape)}, [\d,]+ parameters, eager\n",
                         text), text
    assert ", graphed\n" not in text  # graphs need CUDA


def test_the_layer_profiles_step_starts_each_step_from_unset_gradients():
    """A profiled step is one training step: its gradients are those of one backward, not the sum
    of the steps before it (that sum would add an elementwise kernel a parameter)."""
    training_step = runpy.run_path(str(REPO / "scripts" / "gpu" / "profile_layers.py"))[
        "training_step"]
    layer = torch.nn.Linear(3, 3)
    x = torch.randn(2, 3, requires_grad=True)
    grad = torch.randn(2, 3)
    training_step(layer, x, grad)
    once = layer.weight.grad.clone(), x.grad.clone()
    training_step(layer, x, grad)
    assert torch.equal(layer.weight.grad, once[0]) and torch.equal(x.grad, once[1])
