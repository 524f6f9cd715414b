"""A config to a run's objects: the task class it names, and data of the kind that task trains on."""

from __future__ import annotations

import re

import pytest
from omegaconf import OmegaConf

from tests.compose import FAST, compose_fit
from tsssm.run.build import build, task_class
from tsssm.tasks.forecast import ForecastTask
from tsssm.tasks.language_model import LanguageModelTask


@pytest.mark.parametrize("task,kind", [("forecast", ForecastTask), ("lm", LanguageModelTask)])
def test_the_task_config_names_its_task_class(tmp_path, task, kind):
    assert task_class(compose_fit(tmp_path, [f"task={task}"])) is kind


@pytest.mark.parametrize("target,message", [
    ("tsssm.tasks.nowhere.Task", "task tsssm.tasks.nowhere.Task is not a class that can be imported"),
    ("torch.nn.Linear", "task torch.nn.Linear is not a tsssm task (a subclass of "
                        "tsssm.tasks.base.Task)"),
])
def test_a_target_that_is_not_a_task_is_refused(target, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        task_class(OmegaConf.create({"task": {"_target_": target}}))


def test_a_task_on_data_of_another_kind_is_refused_before_the_data_is_read(tmp_path):
    cfg = compose_fit(tmp_path, ["task=lm", *FAST])
    with pytest.raises(ValueError, match=r"task tsssm.tasks.language_model.LanguageModelTask needs "
                                         r"token sequences, but data tsssm.data.ltsf.LTSFDataModule "
                                         r"gives another kind"):
        build(cfg)


def test_a_build_draws_as_its_seed_says(tmp_path):
    first, second = (build(compose_fit(tmp_path, ["model=dlinear", "seed=3", *FAST]))[1]
                     for _ in range(2))
    other = build(compose_fit(tmp_path, ["model=dlinear", "seed=4", *FAST]))[1]
    weight = "net.trend.0.weight"
    assert first.state_dict()[weight].equal(second.state_dict()[weight])
    assert not first.state_dict()[weight].equal(other.state_dict()[weight])
