"""The search block (scripts/gpu/claims_search.sh) launches one search per dataset and model whose
recipe is not committed, and SEARCH_MODELS narrows the models to those it names."""

from __future__ import annotations

import subprocess

from tests.compose import REPO
from tests.gpu_blocks import block_env

EXPERIMENTS = ["ltsf/etth1", "ltsf/etth2", "ltsf/ettm1", "ltsf/exchange", "ltsf/ili"]


def test_search_models_narrows_the_block_to_the_models_named(tmp_path):
    recipe = tmp_path / "conf" / "recipe" / "ltsf" / "etth2" / "s4.yaml"  # the block's cwd
    recipe.parent.mkdir(parents=True)
    recipe.write_text("tuned_by: ETTh2-s4-h96\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    launches = tmp_path / "launches"
    timeout = bin_dir / "timeout"  # records each search's overrides instead of running it
    timeout.write_text(f'#!/bin/sh\nshift 3\necho "$@" >> "{launches}"\n')
    python = bin_dir / "python"  # the sweeper's import check and the report pass
    python.write_text("#!/bin/sh\nexit 0\n")
    for stand_in in (timeout, python):
        stand_in.chmod(0o755)
    env = block_env(tmp_path, bin_dir, SEARCH_MODELS="s4 lstm")
    subprocess.run(["bash", str(REPO / "scripts" / "gpu" / "claims_search.sh"),
                    str(tmp_path / "out")], cwd=tmp_path, env=env, check=True, timeout=120,
                   capture_output=True)
    searched = sorted((words[4].removeprefix("experiment="), words[5].removeprefix("model="))
                      for words in map(str.split, launches.read_text().splitlines()))
    expected = [(e, m) for e in EXPERIMENTS for m in ("s4", "lstm")
                if (e, m) != ("ltsf/etth2", "s4")]
    assert searched == sorted(expected)
