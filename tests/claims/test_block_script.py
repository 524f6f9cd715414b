"""The claims blocks' shared shell (scripts/gpu/claims_block.sh): a previous store, plain or
gzipped, is where the block's runs go, and the block hands back three files (a call returns at
most eight): its store gzipped, its logs and a report over its store and the committed runs."""

from __future__ import annotations

import gzip
import sqlite3
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from tests.compose import REPO
from tests.gpu_blocks import block_env

BLOCK = REPO / "scripts" / "gpu" / "claims_block.sh"


def marked_store(path: Path, mark: str) -> None:
    """A sqlite file holding one table, ``mark``, to follow through the block."""
    with sqlite3.connect(path) as db:
        db.execute(f"create table {mark} (x)")


def tables(data: bytes, folder: Path) -> set[str]:
    path = folder / "returned.db"
    path.write_bytes(data)
    with sqlite3.connect(path) as db:
        return {name for (name,) in db.execute("select name from sqlite_master where type='table'")}


@pytest.mark.parametrize("gzipped", [False, True])
def test_a_block_continues_the_previous_store_and_returns_it_gzipped(tmp_path, gzipped):
    previous = tmp_path / "claims.db"
    marked_store(previous, "from_before")
    if gzipped:
        previous = tmp_path / "claims.db.gz"
        previous.write_bytes(gzip.compress((tmp_path / "claims.db").read_bytes()))
    work, out = tmp_path / "work", tmp_path / "out"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "python"  # the block calls `python`: this interpreter, its packages
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    env = block_env(tmp_path, bin_dir, PYTHONPATH=str(REPO))
    script = (f"source {BLOCK} {out} {previous}\n"
              f"echo made > \"$work/study_x.log\"\n"
              "finish_block\n")
    subprocess.run(["bash", "-c", script], cwd=REPO, env=env, check=True, timeout=600,
                   capture_output=True)
    returned = gzip.decompress((out / "claims.db.gz").read_bytes())
    assert "from_before" in tables(returned, tmp_path)
    assert sorted(path.name for path in out.iterdir()) == ["claims.db.gz", "logs.tgz", "report.tgz"]
    with tarfile.open(out / "logs.tgz") as logs:
        assert logs.extractfile("study_x.log").read() == b"made\n"
    with tarfile.open(out / "report.tgz") as report:
        assert report.getmember("report/claims.md").isfile()
        exported = report.extractfile("report/runs/c3-ltsf.csv").read()
    committed = REPO / "docs" / "claims" / "runs" / "c3-ltsf.csv"  # counted beside the block's store
    assert exported == committed.read_bytes()


def test_the_blocks_samplers_leave_its_wait_and_job_count_to_its_runs(tmp_path):
    """A block waits for its runs and counts them with `jobs` (claims_search.sh keeps so many
    side by side): the GPU and host samplers it starts must be neither waited for nor counted."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sampler = bin_dir / "nvidia-smi"  # a sampler that never ends, as nvidia-smi -l does
    sampler.write_text('#!/bin/sh\nwhile true; do echo "busy, 100 %"; sleep 1; done\n')
    sampler.chmod(0o755)
    env = block_env(tmp_path, bin_dir)
    script = (f"source {BLOCK} {tmp_path / 'out'}\n"
              "sleep 0.2 &\n"
              "echo running $(jobs -rp | wc -l)\n"
              "wait\n"
              "echo waited\n"
              "kill $samplers\n")
    done = subprocess.run(["bash", "-c", script], cwd=REPO, env=env, timeout=30,
                          capture_output=True, text=True)
    assert done.stdout.split("\n")[:2] == ["running 1", "waited"]
    assert "busy, 100 %" in (tmp_path / "work" / "gpu_use.log").read_text()


@pytest.mark.parametrize("sharing", [None, "slices"])
def test_a_block_shares_the_gpu_through_its_own_mps_daemon_unless_told_slices(tmp_path, sharing):
    """By default the block's runs reach the daemon it started (its pipe folder in their
    environment), and finish_block stops it; GPU_SHARING=slices starts none."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    control = bin_dir / "nvidia-cuda-mps-control"  # -d: a daemon file; quit on stdin: gone
    control.write_text('#!/bin/sh\nif [ "$1" = -d ]; then touch "$CUDA_MPS_PIPE_DIRECTORY/up"; '
                       'exit 0; fi\nread c; [ "$c" = quit ] && rm "$CUDA_MPS_PIPE_DIRECTORY/up"\n')
    control.chmod(0o755)
    wrapper = bin_dir / "python"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    work, previous = tmp_path / "work", tmp_path / "claims.db"
    marked_store(previous, "from_before")
    env = block_env(tmp_path, bin_dir, PYTHONPATH=str(REPO))
    del env["GPU_SHARING"]
    if sharing:
        env["GPU_SHARING"] = sharing
    script = (f"source {BLOCK} {tmp_path / 'out'} {previous}\n"
              "sh -c 'ls \"${CUDA_MPS_PIPE_DIRECTORY:-none}\"' > \"$work/study_x.log\" 2>&1\n"
              "finish_block\n")
    subprocess.run(["bash", "-c", script], cwd=REPO, env=env, check=True, timeout=600,
                   capture_output=True)
    if sharing == "slices":
        assert not (work / "mps").exists()
        assert "none" in (work / "study_x.log").read_text()
    else:
        assert (work / "study_x.log").read_text() == "up\n"
        assert list((work / "mps" / "pipe").iterdir()) == []


@pytest.mark.parametrize("seconds_left, limit", [(100, range(90, 101)), (1000, [540]), (-1, None)])
def test_a_study_stops_by_the_deadline_of_blocks_run_one_after_another(tmp_path, seconds_left,
                                                                        limit):
    """CLAIMS_DEADLINE shortens a study's time limit to what is left of it; past it, the study
    starts no sweep."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stand_in = bin_dir / "timeout"  # records the limit each sweep was given
    stand_in.write_text(f'#!/bin/sh\necho "$2" >> "{tmp_path}/limits"\n')
    stand_in.chmod(0o755)
    deadline = int(time.time()) + seconds_left
    env = block_env(tmp_path, bin_dir, CLAIMS_DEADLINE=str(deadline))
    done = subprocess.run(["bash", str(REPO / "scripts" / "gpu" / "claims_study.sh"), "c7_x",
                           str(tmp_path / "work"), "540", "seq/s4"], cwd=REPO, env=env, timeout=60,
                          capture_output=True, text=True)
    if limit is None:
        assert "c7_x: not run, the deadline (CLAIMS_DEADLINE) has passed" in done.stdout
        assert not (tmp_path / "limits").exists()
    else:
        assert int((tmp_path / "limits").read_text()) in limit


def test_claims_seeds_splits_each_models_sweep_into_one_per_seed(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stand_in = bin_dir / "timeout"  # records each sweep's command line
    stand_in.write_text(f'#!/bin/sh\necho "$@" >> "{tmp_path}/sweeps"\n')
    stand_in.chmod(0o755)
    env = block_env(tmp_path, bin_dir, CLAIMS_SEEDS="1 3")
    subprocess.run(["bash", str(REPO / "scripts" / "gpu" / "claims_study.sh"), "c7_x",
                    str(tmp_path / "work"), "540", "seq/s4", "seq/mamba", "--", "a=b"], cwd=REPO,
                   env=env, timeout=60, check=True, capture_output=True)
    sweeps = sorted((tmp_path / "sweeps").read_text().splitlines())
    assert len(sweeps) == 4
    for line, (model, seed) in zip(sweeps, [("mamba", 1), ("mamba", 3), ("s4", 1), ("s4", 3)]):
        assert f"model=seq/{model} seed={seed} a=b" in line
        assert line.split("hydra.sweep.dir=")[1].split()[0].endswith(f"c7_x_seq-{model}_s{seed}")


def block_sweeps(tmp_path: Path, block: str, deadline: bool = True, **env: str) -> list[str]:
    """The sweeps a claims block launches (their ``timeout`` command lines, recorded by a
    stand-in; ``python`` does nothing); ``deadline=False`` leaves CLAIMS_DEADLINE to the block."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, line in (("timeout", f'echo "$@" >> "{tmp_path}/sweeps"'), ("python", "exit 0")):
        (bin_dir / name).write_text(f"#!/bin/sh\n{line}\n")
        (bin_dir / name).chmod(0o755)
    environment = block_env(tmp_path, bin_dir, **env)
    if not deadline:
        environment.pop("CLAIMS_DEADLINE", None)
    subprocess.run(["bash", str(REPO / "scripts" / "gpu" / block), str(tmp_path / "out")],
                   cwd=REPO, env=environment, timeout=60, check=True, capture_output=True)
    return (tmp_path / "sweeps").read_text().splitlines()


def models_and_seeds(sweeps: list[str]) -> set[tuple[str, str]]:
    return {(line.split("model=")[1].split()[0], line.split("seed=")[1].split()[0])
            for line in sweeps}


def test_the_c5_block_runs_the_datasets_asked_for_within_one_calls_time(tmp_path):
    """C5_DATA picks the datasets, run in turn, each study one sweep per model; every sweep's limit
    comes from one deadline for the whole block, set when the call does not set one."""
    sweeps = block_sweeps(tmp_path, "claims_c5.sh", deadline=False, C5_DATA="bytes mqar")
    studies = [line.split("study=")[1].split()[0] for line in sweeps]
    assert studies == ["c5_bytes"] * 5 + ["c5_mqar"] * 5
    assert all(500 <= int(line.split()[1]) <= 540 for line in sweeps)


def test_the_c6_block_runs_a_graphed_sweep_per_model_and_seed(tmp_path):
    """C6's small trainings: one sweep per model and seed side by side, each step graphed."""
    sweeps = block_sweeps(tmp_path, "claims_c6.sh")
    models = ["seq/s4", "seq/mamba", "seq/mamba2", "heads4/transformer", "heads4/hybrid"]
    assert len(sweeps) == 15
    assert models_and_seeds(sweeps) == {(m, s) for m in models for s in "123"}
    assert all("study=c6_recall " in line and line.endswith("callbacks=graphed")
               for line in sweeps)


def test_the_c4_block_runs_a_graphed_sweep_per_model_seed_and_tokenizer(tmp_path):
    sweeps = block_sweeps(tmp_path, "claims_c4.sh")
    studies = [line.split("study=")[1].split()[0] for line in sweeps]
    assert sorted(studies) == ["c4_token_free"] * 9 + ["c4_token_free_bpe"] * 3
    byte_models = {(m, s) for m in ("seq/mamba", "seq/s4", "seq/transformer") for s in "123"}
    byte_sweeps = [line for line in sweeps if "study=c4_token_free " in line]
    assert models_and_seeds(byte_sweeps) == byte_models
    assert all(line.endswith("callbacks=graphed") for line in sweeps)
