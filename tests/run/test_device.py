"""The device a job runs on, from its config string."""

from __future__ import annotations

import pytest
import torch

from tsssm.run.device import resolve_device


def test_auto_is_cuda_where_there_is_cuda_else_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)


@pytest.mark.parametrize("name,message", [
    ("tpu", "device must be auto, cpu or cuda[:INDEX], got 'tpu'"),
    ("cuda:0", "device=cuda:0 but CUDA is not available here; use device=cpu or auto"),
])
def test_a_device_that_cannot_be_had_is_refused(monkeypatch, name, message):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError) as refused:
        resolve_device(name)
    assert str(refused.value) == message
