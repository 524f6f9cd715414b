"""The Triton helpers every op shares: softplus against torch's, the dot tile width, and which
devices the kernels take. Without a GPU the kernel runs in Triton's interpreter."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest
import torch
import triton
import triton.language as tl

from tsssm.kernels import triton_common
from tsssm.kernels.triton_common import device_problem, dot_width, softplus

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


@triton.jit
def _softplus_kernel(v_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    tl.store(out_ptr + offsets, softplus(tl.load(v_ptr + offsets, mask=mask)), mask=mask)


def test_softplus_matches_torch():
    """Within fp32 rounding of ``1 + e^v`` (absolute), and relatively where the step sizes of
    the scans live (v >= -7, softplus >= 1e-3); ``v`` itself above 20, as torch."""
    v = torch.linspace(-20, 40, 6001, device=DEVICE)
    out = torch.empty_like(v)
    _softplus_kernel[(triton.cdiv(v.numel(), 1024),)](v, out, v.numel(), BLOCK=1024)
    exact = torch.nn.functional.softplus(v.double())
    assert (out.double() - exact).abs().max().item() < 4e-6
    typical = v >= -7
    assert ((out.double() - exact).abs() / exact)[typical].max().item() < 2e-4
    assert torch.equal(out[v > 20], v[v > 20])


@pytest.mark.parametrize("n, width", [(1, 16), (16, 16), (17, 32), (64, 64), (100, 128)])
def test_dot_width_is_a_power_of_two_of_at_least_16(n, width):
    assert dot_width(n) == width


def test_device_problem_names_the_device(monkeypatch: pytest.MonkeyPatch):
    assert device_problem(torch.device("meta")) is not None
    assert "got meta" in device_problem(torch.device("meta"))
    monkeypatch.setattr(triton_common, "INTERPRETED", False)
    assert "need CUDA tensors, got cpu" in device_problem(torch.device("cpu"))
    monkeypatch.setattr(triton_common, "INTERPRETED", True)
    assert device_problem(torch.device("cpu")) is None


AUTOTUNERS = """
import importlib, pkgutil, triton
import tsssm.kernels as kernels
found = {}
for info in pkgutil.walk_packages(kernels.__path__, "tsssm.kernels."):
    module = importlib.import_module(info.name)
    for name, value in vars(module).items():
        while value is not None and not isinstance(value, triton.runtime.JITFunction):
            if isinstance(value, triton.runtime.Autotuner):
                found[f"{info.name}.{name}"] = value.cache_results
            value = getattr(value, "fn", None)
print(sorted(found.items()))
"""


def test_every_autotuned_kernel_keeps_its_choice_on_disk():
    """Compiled for a GPU (no interpreter; importing needs no device), every autotuner of the
    kernels caches its choice per key, so a second process does not time every config again."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    done = subprocess.run([sys.executable, "-c", AUTOTUNERS], capture_output=True, text=True,
                          env=env, check=True)
    found = dict(ast.literal_eval(done.stdout.strip()))
    assert {"tsssm.kernels.selective_scan.triton_backward.scan_bwd_kernel",
            "tsssm.kernels.selective_scan.triton_step.state_update_kernel"} <= set(found)
    assert any(".ssd." in name for name in found) and all(found.values()), found
