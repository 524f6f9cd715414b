"""The chunk scans' autotune pruner (blocks capped by the chunk and the group's heads, warps
taken down with the tile) and the script that runs each pruned config alone."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
from pathlib import Path

from tsssm.kernels.ssd.triton_chunk_scan import SCAN_CONFIGS
from tsssm.kernels.ssd.triton_tiles import ROWS_AND_STEPS_IN_CHUNK, SCAN_TILE, fit_blocks

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "gpu" / "config_faults.py"


def described(config) -> tuple[int, int, int, int, int]:
    kwargs = config.kwargs
    return (kwargs["BLOCK_M"], kwargs["BLOCK_S"], kwargs["HEADS_PER_PROGRAM"], config.num_warps,
            config.num_stages)


def pruned_configs(chunk: int, heads_per_group: int) -> list:
    """The configs the scans' autotuner keeps."""
    prune = fit_blocks(ROWS_AND_STEPS_IN_CHUNK, SCAN_TILE)
    return prune(SCAN_CONFIGS, {"CHUNK": chunk, "heads_per_group": heads_per_group})


def pruned(chunk: int, heads_per_group: int) -> list[tuple[int, int, int, int, int]]:
    """(BLOCK_M, BLOCK_S, heads, warps, stages) of each config the scans' autotuner keeps."""
    return [described(config) for config in pruned_configs(chunk, heads_per_group)]


def test_configs_that_fit_are_kept_as_listed():
    """At chunk 256 and 24 heads a group no block is capped: every config, unchanged."""
    assert pruned(256, 24) == [described(config) for config in SCAN_CONFIGS]


def test_capped_tiles_take_their_warps_down_with_them():
    """At chunk 64 and one head a group: 128 rows on 8 warps become 64 rows on 4, two heads on
    8 warps one head on 4, so the 8-warp one-head 64 × 64 build that read shared memory out of
    range on the GPU is not among them; no config repeats (the near loop's pipeline depth
    tells the 64 × 32 tiles apart)."""
    kept = pruned(64, 1)
    assert (64, 64, 1, 8, 2) not in kept
    assert all(rows <= 64 and steps <= 64 and heads == 1 for rows, steps, heads, _, _ in kept)
    assert (64, 64, 1, 4, 2) in kept and (64, 32, 1, 4, 2) in kept
    assert (32, 32, 1, 2, 2) in kept  # 4 heads on 8 warps, one head left
    whole = [(described(c), c.kwargs["NEAR_STAGES"]) for c in pruned_configs(64, 1)]
    assert len(set(whole)) == len(whole)
    assert max(warps for *_, warps, _ in kept) == 4


def test_two_heads_a_group_keep_the_two_head_configs():
    """A group of two heads keeps the 2-head configs as listed and halves the 4-head one's warps."""
    kept = pruned(256, 2)
    two_heads = [described(c) for c in SCAN_CONFIGS if c.kwargs["HEADS_PER_PROGRAM"] == 2]
    assert all(config in kept for config in two_heads)
    assert (32, 32, 2, 4, 2) in kept and not any(heads == 4 for _, _, heads, _, _ in kept)


def test_config_faults_lists_and_rebuilds_the_pruned_configs(monkeypatch):
    """The script's configs are the kernel's pruned ones, and each travels to its child process
    as JSON that rebuilds it; a malformed shape is a one-line error."""
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    script = runpy.run_path(str(SCRIPT))
    kernel = script["load_kernel"]("tsssm.kernels.ssd.triton_chunk_scan:chunk_scan_fwd_kernel")
    configs = script["pruned_configs"](kernel, [2, 42, 4, 4, 17, 16, 64])
    assert configs and all(c.kwargs["HEADS_PER_PROGRAM"] == 1 and c.kwargs["BLOCK_M"] <= 64
                           for c in configs)
    fields = json.loads(script["as_json"](configs[0]))
    assert fields == {"kwargs": configs[0].kwargs, "num_warps": configs[0].num_warps,
                      "num_stages": configs[0].num_stages}
    done = subprocess.run([sys.executable, str(SCRIPT), "out", "--kernel", "m:k", "--shape",
                           "1,2,3"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--shape takes 7 ints" in done.stderr
