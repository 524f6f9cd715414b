"""The training step replayed from CUDA graphs (tsssm/run/graphed_training.py): where it cannot
stand in for the step the run trains eagerly and says why; on a GPU, a graphed network trains as
the eager one does, the ragged last batch and evaluation running eagerly."""

from __future__ import annotations

import copy
import logging
from functools import partial
from types import SimpleNamespace

import pytest
import torch
from hydra.utils import instantiate
from lightning.fabric.utilities.apply_func import move_data_to_device

from tests.compose import compose_fit
from tsssm.data.recall import MQARDataModule
from tsssm.mixers.attention import Attention
from tsssm.mixers.mamba import Mamba
from tsssm.models.backbone import Backbone
from tsssm.models.language_model import LanguageModel
from tsssm.models.shape import ForecastShape
from tsssm.run.graphed_training import GraphedTrainingStep, eager_reason, graphed_forward
from tsssm.tasks.language_model import LanguageModelTask


def trainer_on(device: str, precision: str = "32-true", world_size: int = 1) -> SimpleNamespace:
    return SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device(device)),
                           precision=precision, world_size=world_size)


def test_graphs_stand_in_only_for_one_cuda_process_in_full_precision():
    assert eager_reason(trainer_on("cuda")) is None
    assert eager_reason(trainer_on("cpu")) == "the cpu trains eagerly (graphs need CUDA)"
    assert "autocast" in eager_reason(trainer_on("cuda", precision="bf16-mixed"))
    assert "DDP" in eager_reason(trainer_on("cuda", world_size=2))


def test_a_cpu_run_trains_eagerly_and_says_why(caplog):
    net = torch.nn.Linear(3, 2)
    task = SimpleNamespace(net=net, network_input=lambda batch: batch[0])
    forward = net.forward
    callback = GraphedTrainingStep()
    with caplog.at_level(logging.INFO, logger="tsssm.fit"):
        callback.on_train_batch_start(trainer_on("cpu"), task, (torch.ones(4, 3), None), 0)
        callback.on_train_batch_start(trainer_on("cpu"), task, (torch.ones(4, 3), None), 1)
    assert net.forward == forward
    assert caplog.messages == ["training steps run eagerly, not from CUDA graphs: the cpu trains "
                               "eagerly (graphs need CUDA)"]


def test_the_fit_end_gives_the_network_its_own_forward_back():
    net = torch.nn.Linear(3, 2)
    task = SimpleNamespace(net=net)
    net.forward = lambda x: x  # as a capture leaves it
    GraphedTrainingStep().on_fit_end(trainer_on("cuda"), task)
    x = torch.ones(1, 3)
    assert "forward" not in vars(net) and net(x).shape == (1, 2)
    GraphedTrainingStep().on_fit_end(trainer_on("cpu"), task)  # nothing to give back: no error


def forecasting_network(tmp_path, model: str, layers: int = 2,
                        dropout: float = 0.0) -> torch.nn.Module:
    """The network ``fit experiment=ltsf/etth1 model=MODEL`` trains, small, on the GPU."""
    cfg = compose_fit(tmp_path, ["experiment=ltsf/etth1", f"model={model}",
                                 "model.backbone.d_model=32", f"model.backbone.n_layers={layers}",
                                 f"model.backbone.dropout={dropout}"])
    shape = ForecastShape(lookback=96, horizon=24, n_channels=7, period=24)
    return instantiate(cfg.task.net)(shape=shape).cuda()


@pytest.mark.gpu
@pytest.mark.parametrize("model,layers", [("mamba", 2), ("mamba2", 2), ("s4", 2), ("s4d", 2),
                                          ("transformer", 2), ("hybrid", 4), ("lstm", 2),
                                          ("gss", 2), ("linear_attention", 2)])
def test_a_graphed_network_trains_as_the_eager_one(tmp_path, model, layers):
    """Every C3 model with a backbone, as a search trains it (the hybrid's pattern: 4 layers)."""
    torch.manual_seed(0)
    eager = forecasting_network(tmp_path, model, layers)
    graphed = copy.deepcopy(eager)
    batches = [(torch.randn(16, 96, 7, device="cuda"), torch.randn(16, 24, 7, device="cuda"))
               for _ in range(4)]
    batches.append((batches[0][0][:5], batches[0][1][:5]))  # an epoch's ragged last batch
    graphed.forward = graphed_forward(graphed, batches[0][0])
    static = graphed(batches[0][0]).data_ptr()
    assert graphed(batches[1][0]).data_ptr() == static  # replayed into the graph's output
    assert graphed(batches[-1][0]).data_ptr() != static  # the ragged batch, eagerly
    optimizers = [torch.optim.AdamW(net.parameters(), lr=1e-3) for net in (eager, graphed)]
    for x, y in batches:
        losses = []
        for net, optimizer in zip((eager, graphed), optimizers):
            optimizer.zero_grad(set_to_none=True)
            loss = torch.nn.functional.mse_loss(net(x), y)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        assert losses[1] == pytest.approx(losses[0], rel=1e-4)
    for net in (eager, graphed):
        net.eval()
    with torch.no_grad():
        torch.testing.assert_close(graphed(batches[1][0]), eager(batches[1][0]), rtol=1e-3,
                                   atol=1e-4)



@pytest.mark.gpu
def test_a_graphed_language_model_at_its_answers_trains_as_the_eager_one():
    """Recall's steps hand the network two inputs, the tokens and the answers' positions: the
    graph must take both and replay what the eager network computes."""
    data = MQARDataModule(seq_len=64, n_kv_pairs=8, vocab_size=256, n_train=64, n_val=8,
                          n_test=8, batch_size=16)
    data.setup("fit")
    torch.manual_seed(0)
    backbone = Backbone(32, 2, "ma", {"m": Mamba, "a": partial(Attention, n_heads=2, causal=True)})
    tasks = [LanguageModelTask(LanguageModel(backbone, 256)).cuda()]
    tasks.append(copy.deepcopy(tasks[0]))
    batches = [move_data_to_device(tasks[0].on_before_batch_transfer(b, 0), "cuda")
               for b in data.train_dataloader()]
    graphed = tasks[1].net
    graphed.forward = graphed_forward(graphed, tasks[1].network_input(batches[0]))
    optimizers = [torch.optim.AdamW(task.net.parameters(), lr=1e-3) for task in tasks]
    for batch in batches:
        losses = []
        for task, optimizer in zip(tasks, optimizers):
            optimizer.zero_grad(set_to_none=True)
            loss = task.training_step(batch, 0)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        assert losses[1] == pytest.approx(losses[0], rel=1e-4)


@pytest.mark.gpu
def test_a_graphed_network_draws_new_dropout_masks_at_every_replay(tmp_path):
    """A search's trials train with dropout: each replay must draw its own masks (the graph
    advances the generator's offset), as each eager step does, not repeat the captured ones."""
    torch.manual_seed(0)
    net = forecasting_network(tmp_path, "mamba", dropout=0.5)
    x = torch.randn(16, 96, 7, device="cuda")
    net.forward = graphed_forward(net, x)
    first, second = net(x).detach().clone(), net(x).detach().clone()
    assert not torch.equal(first, second)
    net.eval()
    with torch.no_grad():  # eval: no dropout, the same output twice
        torch.testing.assert_close(net(x), net(x))


class ScaledByItsPeak(torch.nn.Module):
    """A step that reads a value back to the host (``float`` of a CUDA tensor)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) / float(x.abs().max())


@pytest.mark.gpu
def test_a_network_that_waits_on_the_host_trains_eagerly_and_says_why(caplog):
    net = ScaledByItsPeak().cuda()
    task = SimpleNamespace(net=net, network_input=lambda batch: batch[0])
    with caplog.at_level(logging.INFO, logger="tsssm.fit"):
        GraphedTrainingStep().on_train_batch_start(trainer_on("cuda"), task,
                                                   (torch.ones(4, 3, device="cuda"), None), 0)
    assert "forward" not in vars(net)
    assert caplog.messages[0].startswith("training steps run eagerly, not from CUDA graphs: the "
                                         "network's step waits on the host (")
    assert torch.randn(2, device="cuda").shape == (2,)  # no capture began: the generator works
