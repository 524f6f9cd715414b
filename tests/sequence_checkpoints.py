"""Tiny trained sequence checkpoints (audio, bytes, MQAR), shared by the tests of the entry points
that read checkpoints back (generate, evaluate); registered in the root conftest."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.compose import REPO, compose_fit
from tsssm.fit import fit

DATA = Path(os.environ.get("TSSSM_DATA", REPO / "data"))
RECORDINGS = ["0_george_0.wav", "1_jackson_1.wav", "2_lucas_2.wav", "3_theo_3.wav"]
TINY_LM = ["task=lm", "model.backbone.d_model=16", "model.backbone.n_layers=1",
           "trainer.max_epochs=1", "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=1",
           "+trainer.limit_test_batches=1", "trainer.enable_progress_bar=false",
           "callbacks.checkpoint.monitor=val/bits_per_token",
           "callbacks.early_stopping.monitor=val/bits_per_token"]


def train(folder: Path, uri: str, overrides: list[str]) -> Path:
    """Train a tiny sequence model for two steps; returns its best checkpoint."""
    fit(compose_fit(folder, [*TINY_LM, f"logger.tracking_uri={uri}", *overrides]))
    return folder / "outputs" / "checkpoints" / "best.ckpt"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("trained")
    wavs = root / "wavs"
    wavs.mkdir()
    for name in RECORDINGS:
        shutil.copy(DATA / "fsdd" / "recordings" / name, wavs)
    uri = f"sqlite:///{root}/mlflow.db"
    return {
        "uri": uri,
        "audio": train(root / "audio", uri, [
            "data=fsdd", "data.name=null", f"data.path={wavs}", "data.clip_length=128",
            "data.batch_size=4", "model=s4d", "model.backbone.mixers.s.d_state=8"]),
        "bytes": train(root / "bytes", uri, ["data=bytes", "data.seq_len=32", "data.batch_size=4",
                                             "model=mamba"]),
        "mqar": train(root / "mqar", uri, [
            "data=mqar", "data.seq_len=32", "data.n_kv_pairs=4", "data.vocab_size=16",
            "data.n_train=16", "data.n_val=4", "data.n_test=4", "data.batch_size=4", "model=mamba"]),
    }
