"""A checkpoint read back: its config with overrides merged over it, and ``load_task``, the one way
evaluate, forecast and generate get a trained task, refusing with the checkpoint's name what it
cannot use."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from tests.checkpoints import edited_checkpoint
from tsssm.run.checkpoint import CheckpointError, checkpoint_config, load_task, read_checkpoint
from tsssm.run.record import RECORD_KEY
from tsssm.tasks.base import Task
from tsssm.tasks.forecast import ForecastTask
from tsssm.tasks.language_model import LanguageModelTask


def test_checkpoints_keep_interpolations_so_overrides_reach_the_network(forecasters):
    checkpoint = read_checkpoint(forecasters["mamba"])
    stored = checkpoint[RECORD_KEY]["config"]
    assert stored["task"]["net"] == "${model.net}"
    assert stored["model"]["net"]["backbone"] == "${model.backbone}"
    assert stored["task"]["optim"] == "${model.optim}"
    assert Path(stored["data"]["root"]).is_absolute()
    assert stored["callbacks"]["checkpoint"]["dirpath"] == str(forecasters["mamba"].parent)
    config = checkpoint_config(checkpoint, {"model": {"backbone": {"d_model": 8},
                                                      "optim": {"lr": 0.5}}})
    assert config.task.net.backbone.d_model == 8 and config.task.optim.lr == 0.5
    dlinear = read_checkpoint(forecasters["dlinear"])
    assert dlinear[RECORD_KEY]["config"]["task"]["net"] == "${model.net}"
    assert "backbone" not in checkpoint_config(dlinear).task.net


def test_an_override_that_does_not_resolve_is_named_with_its_checkpoint(forecasters):
    with pytest.raises(CheckpointError, match=r"checkpoint .*best.ckpt does not resolve with "
                                              r"overrides .*Interpolation key 'model.nowhere'"):
        checkpoint_config(read_checkpoint(forecasters["mamba"]),
                          {"model": {"patch_len": "${model.nowhere}"}}, forecasters["mamba"])


def test_overrides_are_refused_for_a_checkpoint_that_recorded_its_config_resolved(forecasters):
    checkpoint = read_checkpoint(forecasters["mamba"])
    record = checkpoint[RECORD_KEY]
    del record["format"]
    record["config"] = OmegaConf.to_container(OmegaConf.create(record["config"]), resolve=True)
    assert checkpoint_config(checkpoint).model.name == "mamba"
    with pytest.raises(CheckpointError, match=r"before tsssm kept the config's interpolations"):
        checkpoint_config(checkpoint, {"model": {"backbone": {"d_model": 8}}}, forecasters["mamba"])


@torch.no_grad()
def test_a_forecaster_built_from_its_record_equals_one_built_with_its_data(forecasters):
    without = load_task(forecasters["dlinear"], expect=ForecastTask, stage=None)
    with_data = load_task(forecasters["dlinear"], stage="test")
    assert without.datamodule is None and isinstance(without.task, ForecastTask)
    assert without.task.shape == with_data.task.shape
    assert (without.task.shape.lookback, without.task.shape.horizon) == (48, 12)
    assert not without.task.training
    x, _ = with_data.datamodule.datasets["test"][0]
    torch.testing.assert_close(without.task.predict_step(x[None], 0),
                               with_data.task.predict_step(x[None], 0), rtol=0, atol=0)


@pytest.mark.parametrize("name,expect,holds", [
    ("dlinear", LanguageModelTask, "a forecaster (tsssm.tasks.forecast.ForecastTask), not a "
                                   "sequence model: a sequence model is trained with task=lm"),
    ("bytes", ForecastTask, "a sequence model (tsssm.tasks.language_model.LanguageModelTask), "
                            "not a forecaster: a forecaster is trained with task=forecast"),
])
def test_a_checkpoint_of_another_kind_of_task_is_refused_in_one_line(forecasters, trained, name,
                                                                      expect, holds):
    path = forecasters.get(name) or trained[name]
    with pytest.raises(CheckpointError) as refused:
        load_task(path, expect=expect)
    message = str(refused.value)
    assert message.startswith(f"checkpoint {path} holds {holds}") and "\n" not in message


def test_a_sequence_model_is_not_built_without_its_data(trained):
    with pytest.raises(CheckpointError, match=r"cannot be built without its data: a sequence "
                                              r"model is built with its data module"):
        load_task(trained["bytes"], expect=Task, stage=None)


def test_a_task_that_is_not_a_tsssm_task_is_refused(forecasters, tmp_path):
    edited = edited_checkpoint(forecasters["dlinear"], tmp_path / "edited.ckpt",
                               lambda record: record["config"]["task"].update(
                                   _target_="torch.nn.Linear"))
    with pytest.raises(CheckpointError, match=re.escape(
            f"checkpoint {edited}: task torch.nn.Linear is not a tsssm task")):
        load_task(edited)
