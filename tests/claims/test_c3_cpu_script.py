"""scripts/claims_c3_cpu.sh with a stand-in for python: a model's search runs only while its
recipe is not in conf/recipe/, its recipe is copied there before the C3 runs, and ILI takes its
own search space and study."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.compose import REPO

SCRIPT = REPO / "scripts" / "claims_c3_cpu.sh"

FAKE_FIT = """#!/bin/sh
# records its arguments; a search writes the recipe its sweep folder would hold
echo "$*" >> "$CALLS"
for arg; do case $arg in hydra.sweep.dir=*) dir=${arg#hydra.sweep.dir=};; esac; done
case "$*" in *hparams_search=*) mkdir -p "$dir"; echo "searched: $*" > "$dir/recipe.yaml";; esac
"""


def run(tmp_path: Path, model: str, experiment: str) -> list[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "python").write_text(FAKE_FIT)
    (bin_dir / "python").chmod(0o755)
    calls = tmp_path / "calls.txt"
    calls.unlink(missing_ok=True)
    env = dict(os.environ, CALLS=str(calls), PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    subprocess.run(["bash", str(SCRIPT), model, experiment, str(tmp_path / "c3.db"),
                    str(tmp_path / "work")], cwd=tmp_path, env=env, check=True, timeout=60,
                   capture_output=True)
    return calls.read_text().splitlines()


def test_the_search_runs_once_and_its_recipe_reaches_the_runs(tmp_path):
    first = run(tmp_path, "lstm", "ltsf/etth2")
    assert len(first) == 2
    assert "hparams_search=ltsf_optuna " in first[0] and "trainer=cpu" in first[0]
    assert "study=c3_ltsf " in first[1] and "experiment=ltsf/etth2" in first[1]
    recipe = tmp_path / "conf" / "recipe" / "ltsf" / "etth2" / "lstm.yaml"
    assert recipe.read_text().startswith("searched: -m tsssm.fit -m hparams_search=ltsf_optuna ")
    again = run(tmp_path, "lstm", "ltsf/etth2")  # the recipe is there: no search
    assert len(again) == 1 and "study=c3_ltsf " in again[0]


def test_ili_takes_its_own_search_space_and_study(tmp_path):
    calls = run(tmp_path, "hybrid", "ltsf/ili")
    assert "hparams_search=ltsf_optuna_hybrid_ili" in calls[0]
    assert "study=c3_ltsf_ili" in calls[1]
