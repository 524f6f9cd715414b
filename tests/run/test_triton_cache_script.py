"""scripts/gpu/triton_cache.sh with a stand-in nvidia-smi: a call's compiled kernels go back for
any card, its autotune choices only for a GPU of the same name, and an archive with nothing to
hold is not written (so a CPU run hands back nothing of it)."""

from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

from tests.compose import REPO

SCRIPT = REPO / "scripts" / "gpu" / "triton_cache.sh"
KERNEL_FILES = ("AAA/__grp__scan.json", "AAA/scan.cubin", "AAA/scan.json", "BBB/launcher.so")
CHOICE = "CCC/scan.autotune.json"


def run(script: str, tmp_path: Path, gpu: str | None) -> str:
    """``script`` after sourcing triton_cache.sh, its cache in ``tmp_path/cache``, archives
    carried in ``tmp_path/carried``; ``gpu``: the name nvidia-smi gives, None for no GPU."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    smi = bin_dir / "nvidia-smi"
    smi.write_text(f"#!/bin/sh\necho '{gpu}'\n" if gpu else "#!/bin/sh\nexit 9\n")
    smi.chmod(0o755)
    env = dict(os.environ, TSSSM_TRITON_CACHE=str(tmp_path / "cache"),
               TRITON_CARRIED=str(tmp_path / "carried"),
               PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run(["bash", "-c", f"source {SCRIPT}\n{script}"], env=env, check=True,
                          capture_output=True, text=True, timeout=60)
    return done.stdout


def fill_cache(cache: Path) -> None:
    for name in (*KERNEL_FILES, CHOICE):
        (cache / name).parent.mkdir(parents=True, exist_ok=True)
        (cache / name).write_text(name)


def names(archive: Path) -> set[str]:
    with tarfile.open(archive) as tar:
        return {member.name.removeprefix("./") for member in tar.getmembers() if member.isfile()}


def test_a_calls_cache_goes_back_and_returns_on_the_same_card_only(tmp_path):
    fill_cache(tmp_path / "cache")
    run(f"triton_cache_save {tmp_path / 'out'}", tmp_path, "NVIDIA H100 80GB HBM3")
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["triton-autotune-NVIDIA-H100-80GB-HBM3.tgz",
                                                    "triton-kernels.tgz"]
    assert names(out / "triton-kernels.tgz") == set(KERNEL_FILES)
    assert names(out / "triton-autotune-NVIDIA-H100-80GB-HBM3.tgz") == {CHOICE}

    (tmp_path / "carried").mkdir()
    for archive in out.iterdir():
        archive.rename(tmp_path / "carried" / archive.name)
    for gpu, restored in (("NVIDIA H100 80GB HBM3", {*KERNEL_FILES, CHOICE}),
                          ("NVIDIA H200", set(KERNEL_FILES))):
        cache = tmp_path / "cache"
        subprocess.run(["rm", "-rf", str(cache)], check=True)
        said = run("triton_cache_restore", tmp_path, gpu)
        held = {str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file()}
        assert held - {".restored"} == restored, gpu
        assert ("autotune" in said) == (CHOICE in restored)


def test_nothing_to_hold_writes_no_archive(tmp_path):
    (tmp_path / "cache").mkdir()
    run(f"triton_cache_save {tmp_path / 'empty'}", tmp_path, "NVIDIA H100 80GB HBM3")
    assert list((tmp_path / "empty").iterdir()) == []
    fill_cache(tmp_path / "cache")
    run(f"triton_cache_save {tmp_path / 'cpu'}", tmp_path, None)
    assert [p.name for p in (tmp_path / "cpu").iterdir()] == ["triton-kernels.tgz"]
