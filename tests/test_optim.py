"""Optimizer groups honour per-parameter flags; the schedule warms up then decays by cosine."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tsssm.tasks.optim import parameter_groups, warmup_cosine


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


def test_warmup_then_cosine_to_the_floor():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = warmup_cosine(opt, warmup_steps=4, total_steps=14, min_ratio=0.1)
    lrs = []
    for _ in range(14):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert lrs[4] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:]))
    assert lrs[9] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + torch.cos(torch.tensor(torch.pi / 2))).item())
    with pytest.raises(ValueError, match="total_steps"):
        warmup_cosine(opt, 1, 0)
