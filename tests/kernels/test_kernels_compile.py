"""The SSD and selective-scan kernels compile for an H100/H200 (sm_90) as the smallest launches
specialise them, checked offline with Triton's bundled ptxas: no GPU needed.

Triton makes an integer argument equal to 1 a compile-time constant (a plain int in the kernel),
so code that treats it as a tensor, say ``(n_chunks - 1).to(tl.int64)``, compiles at every
shape but batch 1 or a single chunk, and the interpreter the other kernel tests run under, which
wraps every argument, cannot tell. ``scripts/ssd_sass_stats.py`` and ``scan_sass_stats.py``
compile them in a process of their own, the kernels defined for the GPU rather than the
interpreter."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.compose import REPO

SSD_KERNELS = ("dt_cumsum_fwd_kernel", "chunk_outer_kernel", "pass_states_kernel",
               "chain_states_kernel", "chunk_scan_fwd_kernel", "gate_bwd_kernel",
               "pass_states_bwd_kernel", "chunk_scan_dx_kernel", "chunk_pairs_kernel",
               "chunk_scan_dbc_kernel", "dt_cumsum_bwd_kernel")
SCAN_KERNELS = ("scan_fwd_kernel", "segment_ends_kernel", "segment_adjoints_kernel",
                "scan_bwd_kernel")


def compiled_kernels(script: str, *args: str) -> set[str]:
    """The kernels a compile-report script lists, run without the interpreter; it must succeed."""
    env = {key: value for key, value in os.environ.items() if key != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run([sys.executable, str(REPO / "scripts" / script), *args], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return {line.split("|")[1].strip() for line in done.stdout.splitlines()
            if line.startswith("| ") and "_kernel" in line}


@pytest.mark.parametrize("length", [100, 256])
def test_every_ssd_kernel_compiles_at_batch_one_and_a_single_chunk(length):
    assert compiled_kernels("ssd_sass_stats.py", "--batch", "1", "--length", str(length),
                            "--states", "16", "--first-config") == set(SSD_KERNELS)


@pytest.mark.parametrize("dtype", ["bf16", "fp32"])
def test_every_scan_kernel_compiles_at_batch_one(dtype):
    assert compiled_kernels("scan_sass_stats.py", "--batch", "1", "--length", "2048",
                            "--dtype", dtype) == set(SCAN_KERNELS)
