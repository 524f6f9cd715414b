"""LanguageModelTask's numbers against hand computation: cross-entropy over scored targets only,
stream metrics exact over batches of unequal sizes (not means of batch means), bits per unit over
units that are not 1, and per-position bits with NaN where nothing is scored."""

from __future__ import annotations

import math
from functools import partial

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from omegaconf import OmegaConf

from tsssm.data.bytes import ByteDataModule
from tsssm.data.recall import MQARDataModule
from tsssm.mixers.mamba import Mamba
from tsssm.mixers.s4 import S4
from tsssm.models.backbone import Backbone
from tsssm.models.language_model import LanguageModel
from tsssm.tasks.language_model import LanguageModelTask, scored_positions
from tsssm.tasks.sample_formats import IdSamples, TextSamples

V = 5
LOGITS = torch.tensor([[2.0, 0.0, -1.0, 0.5, 0.0],
                       [0.0, 1.5, 0.0, 0.0, -2.0],
                       [1.0, 1.0, 3.0, 0.0, 0.0],
                       [-1.0, 0.0, 0.0, 0.0, 0.0],
                       [0.0, 0.0, 0.0, 0.0, 4.0]], dtype=torch.float64)
BATCHES = [  # two batches with 5 and 2 scored targets
    {"input": torch.tensor([[0, 1, 2], [3, 4, 0]]),
     "target": torch.tensor([[0, 2, -100], [1, 4, 3]]),
     "units": torch.tensor([[1.0, 3.0, 0.0], [2.0, 1.0, 4.0]])},
    {"input": torch.tensor([[2, 1, 4]]),
     "target": torch.tensor([[2, -100, 0]]),
     "units": torch.tensor([[2.0, 0.0, 1.0]])},
]


class LookupLogits(nn.Module):
    """A model whose logits depend on the current token only: ``weight[ids]``, ``(B, L, V)``."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight.clone())

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.weight[ids]


def nll_nats(row: int, target: int, logits: torch.Tensor = LOGITS) -> float:
    values = logits[row].tolist()
    return math.log(sum(math.exp(v) for v in values)) - values[target]


def scored(batches: list[dict]) -> list[tuple[int, int, float]]:
    """Every (input, target, units) with a scored target, in order."""
    columns = ("input", "target", "units")
    return [(i, t, u) for batch in batches
            for i, t, u in zip(*(batch[key].flatten().tolist() for key in columns)) if t != -100]


def quiet_trainer(**options) -> L.Trainer:
    return L.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False, **options)


def evaluate(task: LanguageModelTask, split: str) -> dict[str, float]:
    run = quiet_trainer().validate if split == "val" else quiet_trainer().test
    return run(task, dataloaders=DataLoader(BATCHES, batch_size=None), verbose=False)[0]


@pytest.mark.parametrize("split", ["val", "test"])
def test_stream_metrics_are_exact_over_the_whole_split(split):
    task = LanguageModelTask(LookupLogits(LOGITS), unit="byte")
    metrics = evaluate(task, split)
    targets = scored(BATCHES)
    nats = [nll_nats(i, t) for i, t, _ in targets]
    bits = sum(nats) / math.log(2)
    correct = sum(LOGITS[i].argmax().item() == t for i, t, _ in targets)
    assert len(targets) == 7 and correct == 4
    assert set(metrics) == {f"{split}/{name}" for name in
                            ("loss", "bits_per_token", "bits_per_byte", "accuracy")}
    assert metrics[f"{split}/loss"] == pytest.approx(sum(nats) / 7, rel=1e-6)
    assert metrics[f"{split}/bits_per_token"] == pytest.approx(bits / 7, rel=1e-6)
    assert metrics[f"{split}/bits_per_byte"] == pytest.approx(bits / 14.0, rel=1e-6)
    assert metrics[f"{split}/accuracy"] == pytest.approx(4 / 7)


def test_uniform_logits_give_log2_vocab_bits_per_token():
    task = LanguageModelTask(LookupLogits(torch.zeros(V, V)), unit="sample")
    metrics = evaluate(task, "val")
    assert metrics["val/bits_per_token"] == pytest.approx(math.log2(V), rel=1e-6)
    assert metrics["val/bits_per_sample"] == pytest.approx(7 * math.log2(V) / 14.0, rel=1e-6)
    assert metrics["val/accuracy"] == pytest.approx(2 / 7)  # argmax of a tie is token 0


def test_token_unit_logs_bits_per_token_only():
    metrics = evaluate(LanguageModelTask(LookupLogits(LOGITS), unit="token"), "test")
    assert set(metrics) == {"test/loss", "test/bits_per_token", "test/accuracy"}


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")
def test_training_loss_is_the_mean_over_scored_targets_only():
    task = LanguageModelTask(LookupLogits(LOGITS))
    loss = task.training_step(BATCHES[0], 0)
    expected = [nll_nats(i, t) for i, t, _ in scored(BATCHES[:1])]
    assert loss.item() == pytest.approx(sum(expected) / 5, rel=1e-12)


def test_predict_gives_bits_per_position_and_nan_where_unscored():
    task = LanguageModelTask(LookupLogits(LOGITS))
    bits = quiet_trainer().predict(task, DataLoader(BATCHES, batch_size=None))
    first = bits[0]
    assert first.shape == (2, 3)
    assert torch.isnan(first[0, 2]) and torch.isnan(bits[1][0, 1])
    assert first[1, 2].item() == pytest.approx(nll_nats(0, 3) / math.log(2), rel=1e-12)
    assert torch.isfinite(first).sum() == 5


def test_fit_trains_through_the_shared_optimizer_recipe():
    task = LanguageModelTask(LookupLogits(torch.zeros(V, V)), optim={"lr": 0.1, "warmup_epochs": 0})
    trainer = quiet_trainer(max_epochs=2, log_every_n_steps=1)
    trainer.fit(task, train_dataloaders=DataLoader(BATCHES, batch_size=None))
    assert trainer.callback_metrics["train/loss_step"] < math.log(V)
    assert task.net.weight.abs().sum() > 0


def test_unknown_unit_and_schedule_are_refused():
    with pytest.raises(ValueError,
                       match=r"unit must be one of \('token', 'sample', 'byte'\), got 'bytes'"):
        LanguageModelTask(LookupLogits(LOGITS), unit="bytes")
    with pytest.raises(ValueError, match="schedule must be one of"):
        LanguageModelTask(LookupLogits(LOGITS), optim={"schedule": "linear"})


def test_the_data_decides_vocabulary_and_unit_of_a_model_with_a_backbone():
    data = ByteDataModule(name=None, path="unused", seq_len=32)
    assert LanguageModelTask.accepts(data)
    with_backbone = OmegaConf.create({"model": {"name": "mamba", "backbone": {}}})
    assert LanguageModelTask.data_inputs(with_backbone, data) == ({"vocab_size": 256},
                                                                  {"unit": "byte"})
    with pytest.raises(ValueError, match="model=dlinear has no backbone"):
        LanguageModelTask.data_inputs(OmegaConf.create({"model": {"name": "dlinear"}}), data)


def test_a_run_is_named_by_its_window_and_measures_flops_per_token():
    data = ByteDataModule(name=None, path="unused", seq_len=32)
    task = LanguageModelTask(nn.Sequential(nn.Embedding(V, 4), nn.Linear(4, V)), unit="byte")
    assert task.run_horizon(data) == "L32"
    assert task.start_metrics(data) == {"flops_per_token": 2 * 4 * V}


def test_samples_take_the_form_of_the_unit():
    text = LanguageModelTask(LookupLogits(LOGITS), unit="byte")
    assert isinstance(text.sample_format(ByteDataModule(name=None, path="unused")), TextSamples)
    ids = LanguageModelTask(LookupLogits(LOGITS), unit="token")
    assert isinstance(ids.sample_format(MQARDataModule()), IdSamples)


class RateProbe(nn.Module):
    """LookupLogits beside an S4 mixer and a Mamba mixer, noting their step sizes at every call."""

    def __init__(self) -> None:
        super().__init__()
        self.s4, self.mamba, self.lookup = S4(d_model=4, d_state=4, mode="diag"), Mamba(4), LookupLogits(LOGITS)
        self.seen: list[float] = []

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        self.seen.append(self.s4.rate)
        return self.lookup(ids)


class TestedAtHalfTheRate(L.LightningDataModule):
    """Trained at twice the sampling rate it is tested at: each test step is twice as long."""

    test_step_scale = 2.0

    def test_dataloader(self) -> DataLoader:
        return DataLoader(BATCHES, batch_size=None)


def test_step_sizes_are_rescaled_for_a_test_at_another_rate_only():
    task = LanguageModelTask(RateProbe())
    quiet_trainer().test(task, datamodule=TestedAtHalfTheRate(), verbose=False)
    assert task.net.seen == [2.0, 2.0] and task.net.s4.rate == 1.0
    assert not hasattr(task.net.mamba, "rate"), "Mamba runs as it is"
    evaluate(task, "test")
    assert task.net.seen[2:] == [1.0, 1.0]


def test_scored_positions_only_where_every_row_scores_a_few():
    ignore = -100
    recall = torch.full((2, 8), ignore)
    recall[0, [2, 6]] = 3
    recall[1, [1, 7]] = 4
    assert scored_positions(recall).tolist() == [[2, 6], [1, 7]]
    assert scored_positions(torch.randint(5, (2, 8))) is None  # text: every position
    uneven = recall.clone()
    uneven[1, 3] = 1
    assert scored_positions(uneven) is None
    many = torch.full((1, 8), ignore)
    many[0, :5] = 1
    assert scored_positions(many) is None  # 5 of 8: the whole head is as cheap
    assert scored_positions(torch.full((2, 8), ignore)) is None


def test_recall_batches_train_and_score_at_their_answers_alone():
    """The head at the answers only: the same loss, gradients and validation sums as the head
    at every position, whose other logits the scores ignore."""
    data = MQARDataModule(seq_len=32, n_kv_pairs=4, vocab_size=64, n_train=8, n_val=8, n_test=8,
                          batch_size=4)
    data.setup("fit")
    batch = next(iter(data.train_dataloader()))
    torch.manual_seed(0)
    net = LanguageModel(Backbone(16, 2, "m", {"m": partial(Mamba, d_state=4)}), 64).double()
    task = LanguageModelTask(net)
    sparse = task.on_before_batch_transfer(batch, 0)
    assert sparse["positions"].shape == (4, 4)
    assert isinstance(task.network_input(sparse), tuple)
    losses, grads = [], []
    for given in (batch, sparse):
        net.zero_grad()
        loss = task.training_step(given, 0)
        loss.backward()
        losses.append(loss.item())
        grads.append(torch.cat([p.grad.flatten() for p in net.parameters()]))
    assert losses[1] == pytest.approx(losses[0], rel=1e-12)
    torch.testing.assert_close(grads[1], grads[0])
    sums = []
    for given in (batch, sparse):
        task.val_scores.reset()
        with torch.no_grad():
            task.validation_step(given, 0)
        sums.append({k: float(v) for k, v in task.val_scores.compute().items()})
    assert sums[1] == pytest.approx(sums[0], rel=1e-12)
