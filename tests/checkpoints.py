"""Tiny trained checkpoints shared by the tests that read checkpoints back (evaluate, forecast,
generate, the checkpoint loader): forecasters (DLinear, a univariate Mamba) and sequence models
(audio, bytes, MQAR). Trained once per test session; registered in the root conftest."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

from tests.compose import FAST, REPO, compose_fit
from tsssm.fit import fit
from tsssm.run.record import RECORD_KEY

DATA = Path(os.environ.get("TSSSM_DATA", REPO / "data"))
RECORDINGS = ["0_george_0.wav", "1_jackson_1.wav", "2_lucas_2.wav", "3_theo_3.wav"]
OFFSETS = [-2.0, -1.0, 0.0, 1.0, 2.0]  # the fixed quantile model's, in normalised units
TINY_LM = ["task=lm", "model.backbone.d_model=16", "model.backbone.n_layers=1",
           "trainer.max_epochs=1", "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=1",
           "+trainer.limit_test_batches=1", "trainer.enable_progress_bar=false",
           "callbacks.checkpoint.monitor=val/bits_per_token",
           "callbacks.early_stopping.monitor=val/bits_per_token"]


def train(folder: Path, uri: str, overrides: list[str]) -> Path:
    """Train a tiny model as ``python -m tsssm.fit OVERRIDES`` would; returns its best checkpoint."""
    fit(compose_fit(folder, [f"logger.tracking_uri={uri}", *overrides]))
    return folder / "outputs" / "checkpoints" / "best.ckpt"


def edited_checkpoint(source: Path, target: Path, edit) -> Path:
    """A copy of the checkpoint ``source`` at ``target``, its run record changed by ``edit``."""
    checkpoint = torch.load(source, weights_only=False)
    edit(checkpoint[RECORD_KEY])
    torch.save(checkpoint, target)
    return target


def edited_weights(source: Path, target: Path, edit) -> Path:
    """A copy of the checkpoint ``source`` at ``target``, its weights changed by ``edit`` (called
    with the state dict, in place)."""
    checkpoint = torch.load(source, weights_only=False)
    with torch.no_grad():
        edit(checkpoint["state_dict"])
    torch.save(checkpoint, target)
    return target


def last_value(offsets: list[float] | None = None):
    """An ``edited_weights`` edit that makes a DLinear checkpoint forecast every step as the last
    input value (both linear maps read the last step only, so seasonal + trend = x[-1]), plus, for
    a quantile model, ``offsets[q]`` (normalised units) on its quantile ``q``."""
    def edit(state: dict) -> None:
        for branch in ("trend", "seasonal"):
            weight, bias = state[f"net.{branch}.0.weight"], state[f"net.{branch}.0.bias"]
            weight.zero_()
            weight[:, -1] = 1.0
            bias.zero_()
        if offsets is not None:
            bias = state["net.seasonal.0.bias"]
            bias.copy_(torch.tensor(offsets).repeat(len(bias) // len(offsets)))
    return edit


@pytest.fixture(scope="session")
def forecasters(tmp_path_factory) -> dict[str, Path]:
    """A tiny DLinear over all four synthetic channels, a tiny univariate Mamba (features=S: x3)
    and a DLinear of quantiles (80% and 90% intervals), trained with ``FAST`` (lookback 48,
    horizon 12)."""
    root = tmp_path_factory.mktemp("forecasters")
    uri = f"sqlite:///{root}/mlflow.db"
    return {"dlinear": train(root / "dlinear", uri, [*FAST, "model=dlinear"]),
            "mamba": train(root / "mamba", uri, [*FAST, "model=mamba", "model.backbone.d_model=16",
                                                 "model.backbone.n_layers=1", "data.features=S"]),
            "quantile": train(root / "quantile", uri, [*FAST, "model=dlinear", "task.loss=quantile",
                                                       "task.levels=[80,90]"])}


@pytest.fixture(scope="session")
def fixed(forecasters, tmp_path_factory) -> dict[str, Path]:
    """DLinear checkpoints forecasting the last value (``last_value``): a point model, and a
    quantile model whose quantiles lie ``OFFSETS`` (times the channel's training std) around it."""
    root = tmp_path_factory.mktemp("fixed")
    return {"point": edited_weights(forecasters["dlinear"], root / "point.ckpt", last_value()),
            "quantile": edited_weights(forecasters["quantile"], root / "quantile.ckpt",
                                       last_value(OFFSETS))}


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> dict:
    """Sequence models trained two steps: S4D on four FSDD recordings, Mamba on bytes and on MQAR;
    ``uri`` is their tracking store."""
    root = tmp_path_factory.mktemp("trained")
    wavs = root / "wavs"
    wavs.mkdir()
    for name in RECORDINGS:
        shutil.copy(DATA / "fsdd" / "recordings" / name, wavs)
    uri = f"sqlite:///{root}/mlflow.db"
    return {
        "uri": uri,
        "audio": train(root / "audio", uri, [
            *TINY_LM, "data=fsdd", "data.name=null", f"data.path={wavs}", "data.clip_length=128",
            "data.batch_size=4", "model=s4d", "model.backbone.mixers.s.d_state=8"]),
        "bytes": train(root / "bytes", uri, [*TINY_LM, "data=bytes", "data.seq_len=32",
                                             "data.batch_size=4", "model=mamba"]),
        "mqar": train(root / "mqar", uri, [
            *TINY_LM, "data=mqar", "data.seq_len=32", "data.n_kv_pairs=4", "data.vocab_size=16",
            "data.n_train=16", "data.n_val=4", "data.n_test=4", "data.batch_size=4",
            "model=mamba"]),
    }
