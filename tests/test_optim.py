"""Optimizer groups honour per-parameter flags; the schedule warms up then decays by cosine."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tsssm.tasks.optim import lr_schedule, parameter_groups


def test_flagged_parameters_biases_and_norms_are_not_decayed():
    model = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
    flagged = nn.Parameter(torch.ones(3, 3))
    flagged._no_weight_decay = True
    model.register_parameter("A_log", flagged)
    decay, no_decay = parameter_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert [p.shape for p in decay["params"]] == [torch.Size([4, 4])]
    assert any(p is flagged for p in no_decay["params"])
    assert len(no_decay["params"]) == 4


def rates(kind: str, steps: int, **options) -> list[float]:
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = lr_schedule(opt, kind, total_steps=steps, **options)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def test_warmup_then_cosine_to_the_floor():
    lrs = rates("cosine", 14, steps_per_epoch=2, warmup_steps=4, min_ratio=0.1)
    assert lrs[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert lrs[4] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:]))
    assert lrs[9] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + torch.cos(torch.tensor(torch.pi / 2))).item())



def test_exponential_decay_per_epoch_after_warmup():
    assert rates("exponential", 7, steps_per_epoch=2, warmup_steps=1, gamma=0.5) == pytest.approx(
        [1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25])
    assert rates("exponential", 4, steps_per_epoch=2)[2] == pytest.approx(0.5)


def test_bad_schedules_are_refused():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(ValueError, match="total_steps and steps_per_epoch must be positive"):
        lr_schedule(opt, "cosine", 0, 1)
    with pytest.raises(ValueError, match="schedule must be one of"):
        lr_schedule(opt, "linear", 10, 1)
