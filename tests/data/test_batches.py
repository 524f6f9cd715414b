import pytest
import torch

from tsssm.data.batches import batch_size


def test_batch_size_of_series_and_token_batches():
    assert batch_size((torch.zeros(5, 48, 3), torch.zeros(5, 12, 3))) == 5
    assert batch_size({"input": torch.zeros(7, 64, dtype=torch.long), "target": None}) == 7


def test_batch_size_refuses_what_it_cannot_count():
    with pytest.raises(TypeError, match="cannot count the windows of a batch of type str"):
        batch_size("windows")
