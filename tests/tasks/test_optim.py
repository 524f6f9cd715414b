"""Optimizer groups honour per-parameter flags; the schedule warms up then decays by cosine; the
recipe every task shares turns epochs into steps from the trainer."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from tsssm.tasks.optim import OptimizerRecipe, lr_schedule, parameter_groups


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


def stepped_rates(optimizer: torch.optim.Optimizer, scheduler, steps: int) -> list[float]:
    """The learning rate of each of ``steps`` optimizer steps."""
    lrs = []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


def rates(kind: str, steps: int, **options) -> list[float]:
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    return stepped_rates(opt, lr_schedule(opt, kind, total_steps=steps, **options), steps)


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


def fake_trainer(total: int, epochs: int, batches: float, accumulate: int = 1) -> SimpleNamespace:
    """What the recipe reads of a Lightning trainer: the run's optimizer steps, its epochs and the
    batches of one pass over the training data."""
    return SimpleNamespace(estimated_stepping_batches=total, max_epochs=epochs,
                           num_training_batches=batches, accumulate_grad_batches=accumulate)


def learning_rates(recipe: OptimizerRecipe, trainer: SimpleNamespace, steps: int) -> list[float]:
    config = recipe.configure(nn.Linear(3, 3), trainer)
    return stepped_rates(config["optimizer"], config["lr_scheduler"]["scheduler"], steps)


def test_a_step_budget_shorter_than_the_epochs_keeps_the_epoch_length():
    recipe = OptimizerRecipe(lr=1.0, warmup_epochs=0, schedule="exponential", gamma=0.5)
    # max_steps 6 of 3 epochs x 4 batches: decay every 4 steps, not every 6 // 3 = 2
    assert learning_rates(recipe, fake_trainer(total=6, epochs=3, batches=4), 6) == pytest.approx(
        [1, 1, 1, 1, 0.5, 0.5])
    # two batches accumulated per optimizer step: an epoch of 8 batches is 4 steps
    assert learning_rates(recipe, fake_trainer(total=6, epochs=3, batches=8, accumulate=2),
                          6) == pytest.approx([1, 1, 1, 1, 0.5, 0.5])


def test_a_run_without_epochs_counts_as_one_epoch():
    recipe = OptimizerRecipe(lr=1.0, warmup_epochs=0.5, schedule="exponential", gamma=0.5)
    assert learning_rates(recipe, fake_trainer(total=4, epochs=-1, batches=math.inf),
                          4) == pytest.approx([0.5, 1, 1, 1])


def test_recipe_counts_warmup_and_decay_in_the_trainer_s_epochs():
    recipe = OptimizerRecipe(lr=0.2, weight_decay=0.1, warmup_epochs=0.5, schedule="exponential",
                             gamma=0.1)
    config = recipe.configure(nn.Linear(3, 3), fake_trainer(total=12, epochs=3, batches=4))
    assert isinstance(config["optimizer"], torch.optim.AdamW)
    assert config["lr_scheduler"]["interval"] == "step"
    assert [g["weight_decay"] for g in config["optimizer"].param_groups] == [0.1, 0.0]
    # 4 steps per epoch, 2 of warm-up, then x0.1 every 4 steps
    assert learning_rates(recipe, fake_trainer(total=12, epochs=3, batches=4), 12) == pytest.approx(
        [0.1, 0.2, 0.2, 0.2, 0.2, 0.2, 0.02, 0.02, 0.02, 0.02, 0.002, 0.002])


def test_recipe_refuses_bad_settings_when_built():
    with pytest.raises(ValueError, match="schedule must be one of"):
        OptimizerRecipe(schedule="step")
    with pytest.raises(ValueError, match="lr must be positive, got 0"):
        OptimizerRecipe(lr=0)
