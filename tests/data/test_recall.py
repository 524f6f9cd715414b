"""Synthetic recall: every scored answer is right, examples are reproducible, splits differ, configs checked."""

import numpy as np
import pytest
import torch

from tsssm.data.recall import MQARDataModule, SelectiveCopyingDataModule, mqar_example, selective_copying_example


def _ready(module):
    module.setup("fit")
    return module


def _mqar(**options) -> MQARDataModule:
    config = dict(seq_len=64, n_kv_pairs=8, vocab_size=128, n_train=50, n_val=20, n_test=20, batch_size=8) | options
    return _ready(MQARDataModule(**config))


@pytest.mark.parametrize("random_non_queries", [True, False])
def test_mqar_answer_is_the_value_paired_with_the_queried_key(random_non_queries: bool) -> None:
    module = _mqar(random_non_queries=random_non_queries)
    n = module.n_kv_pairs
    for split in ("train", "test"):
        for index in range(len(module.datasets[split])):
            item = module.datasets[split][index]
            inputs, targets = item["input"], item["target"]
            keys, values = inputs[0 : 2 * n : 2], inputs[1 : 2 * n : 2]
            assert len(set(keys.tolist())) == n and bool((keys >= 1).all() and (keys < 64).all())
            assert len(set(values.tolist())) == n and bool((values >= 64).all() and (values < 128).all())
            pair = dict(zip(keys.tolist(), values.tolist(), strict=True))
            scored = torch.nonzero(targets != -100).flatten()
            assert len(scored) == n and bool((scored >= 2 * n).all()) and bool(((scored - 2 * n) % 2 == 0).all())
            assert sorted(inputs[scored].tolist()) == sorted(keys.tolist())
            assert [pair[key] for key in inputs[scored].tolist()] == targets[scored].tolist()
            assert torch.equal(item["units"], (targets != -100).float())
            if not random_non_queries:
                rest = torch.ones(64, dtype=torch.bool)
                rest[: 2 * n] = False
                rest[scored] = False
                assert bool((inputs[rest] == 0).all())


def test_selective_copying_targets_are_the_scattered_tokens_in_order() -> None:
    module = _ready(SelectiveCopyingDataModule(seq_len=48, n_tokens_to_copy=6, vocab_size=10, n_train=30, n_val=5,
                                               n_test=5))
    for index in range(30):
        item = module.datasets["train"][index]
        inputs, targets = item["input"], item["target"]
        region = inputs[:42]
        assert bool((inputs[42:] == 9).all()) and bool((region != 9).all())
        scattered = region[region != 0]
        assert len(scattered) == 6 and bool((scattered >= 1).all() and (scattered <= 8).all())
        assert targets[42:].tolist() == scattered.tolist()
        assert bool((targets[:42] == -100).all()) and float(item["units"].sum()) == 6.0


def test_examples_are_reproducible_and_splits_differ() -> None:
    first, again, other_seed = _mqar(), _mqar(), _mqar(seed=1)
    for index in range(5):
        assert torch.equal(first.datasets["val"][index]["input"], again.datasets["val"][index]["input"])
    train = {tuple(first.datasets["train"][i]["input"].tolist()) for i in range(50)}
    assert len(train) == 50
    assert not train & {tuple(first.datasets["val"][i]["input"].tolist()) for i in range(20)}
    assert not train & {tuple(first.datasets["test"][i]["input"].tolist()) for i in range(20)}
    assert not torch.equal(first.datasets["train"][0]["input"], other_seed.datasets["train"][0]["input"])


def test_a_kept_example_is_the_one_its_generator_makes_in_any_order() -> None:
    """Examples are made once and kept: a second read must not call the maker, and an example read
    after others (as a shuffled epoch reads them) must equal the one made from its own seed."""
    module = _mqar()
    train = module.datasets["train"]
    calls = []
    make = train.make
    train.make = lambda rng: calls.append(1) or make(rng)
    backwards = [train[i] for i in reversed(range(50))][::-1]
    again = [train[i] for i in range(50)]
    assert len(calls) == 50
    for index, (first, second) in enumerate(zip(backwards, again, strict=True)):
        inputs, targets = mqar_example(np.random.default_rng((0, 0, index)), 64, 8, 128)
        assert torch.equal(first["input"], torch.from_numpy(inputs))
        assert torch.equal(second["target"], torch.from_numpy(targets))
        assert torch.equal(second["units"], torch.from_numpy(targets != -100).float())
        assert first["input"].dtype == second["target"].dtype == torch.long

def test_loaders_and_attributes() -> None:
    module = _mqar()
    assert (module.vocab_size, module.unit, module.seq_len, module.dataset_name) == (128, "token", 64, "mqar")
    batch = next(iter(module.train_dataloader()))
    assert batch["input"].shape == batch["target"].shape == batch["units"].shape == (8, 64)
    assert batch["units"].dtype == torch.float32 and batch["input"].dtype == torch.long
    assert sum(int(b["units"].sum()) for b in module.test_dataloader()) == 20 * 8
    copying = SelectiveCopyingDataModule(seq_len=32, n_tokens_to_copy=4, vocab_size=6, n_train=2, n_val=2, n_test=2)
    assert (copying.unit, copying.dataset_name) == ("token", "selective_copying")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: MQARDataModule(seq_len=60, n_kv_pairs=16), "seq_len 60 is too short for 16 key-value pairs"),
        (lambda: MQARDataModule(seq_len=256, n_kv_pairs=16, vocab_size=32), "vocab_size 32 is too small"),
        (lambda: MQARDataModule(n_val=0), "n_val must be a positive integer"),
        (lambda: MQARDataModule(power_a=0.0), "power_a must be > 0"),
        (lambda: SelectiveCopyingDataModule(seq_len=20, n_tokens_to_copy=16), "seq_len 20 is too short"),
        (lambda: SelectiveCopyingDataModule(vocab_size=2), "vocab_size 2 leaves no data token"),
        (lambda: mqar_example(np.random.default_rng(0), 8, 4, 64), "seq_len 8 is too short"),
        (lambda: selective_copying_example(np.random.default_rng(0), 8, 8, 64), "seq_len 8 is too short"),
    ],
)
def test_configs_that_cannot_fit_are_rejected(make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()
