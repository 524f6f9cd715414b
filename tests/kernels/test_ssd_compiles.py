"""The SSD kernels compile for an H100/H200 (sm_90) as the smallest launches specialise them,
checked offline with Triton's bundled ptxas: no GPU needed.

Triton makes an integer argument equal to 1 a compile-time constant (a plain int in the kernel),
so code that treats it as a tensor, say ``(n_chunks - 1).to(tl.int64)``, compiles at every
shape but batch 1 or a single chunk, and the interpreter the other kernel tests run under, which
wraps every argument, cannot tell. ``scripts/ssd_sass_stats.py`` compiles them in a process of
its own, the kernels defined for the GPU rather than the interpreter."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.compose import REPO

KERNELS = ("dt_cumsum_fwd_kernel", "chunk_outer_kernel", "pass_states_kernel",
           "chunk_scan_fwd_kernel", "gate_bwd_kernel", "pass_states_bwd_kernel",
           "chunk_scan_dx_kernel", "chunk_pairs_kernel", "chunk_scan_dbc_kernel",
           "dt_cumsum_bwd_kernel")


@pytest.mark.parametrize("length", [100, 256])
def test_every_ssd_kernel_compiles_at_batch_one_and_a_single_chunk(length):
    env = {key: value for key, value in os.environ.items() if key != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "ssd_sass_stats.py"),
                           "--batch", "1", "--length", str(length), "--states", "16",
                           "--first-config"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line.split("|")[1].strip() for line in done.stdout.splitlines()
            if line.startswith("| ") and "_kernel" in line]
    assert set(rows) == set(KERNELS)
