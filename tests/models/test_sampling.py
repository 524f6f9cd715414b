"""Next-token sampling: greedy at temperature 0, nothing outside the nucleus, bad settings
refused."""

from __future__ import annotations

import pytest
import torch

from tsssm.models.sampling import nucleus, sample_next

PROBS = torch.tensor([0.15, 0.5, 0.05, 0.3])


def test_nucleus_is_the_fewest_most_probable_tokens_reaching_top_p():
    assert nucleus(PROBS[None], 0.7).tolist() == [[False, True, False, True]]
    assert nucleus(PROBS[None], 0.4).tolist() == [[False, True, False, False]]
    assert nucleus(PROBS[None], 0.9).tolist() == [[True, True, False, True]]
    assert nucleus(PROBS[None], 1.0).all()


def test_top_p_samples_only_the_nucleus_in_proportion():
    logits = PROBS.log().expand(4000, 4)
    draws = sample_next(logits, top_p=0.7, generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(draws, minlength=4)
    assert counts[0] == counts[2] == 0
    assert counts[1] / 4000 == pytest.approx(0.5 / 0.8, abs=0.03)
    everything = torch.bincount(sample_next(logits, generator=torch.Generator().manual_seed(0)),
                                minlength=4)
    assert (everything / 4000 - PROBS).abs().max() < 0.03


def test_temperature_zero_is_argmax_and_low_temperature_nearly_so():
    logits = torch.tensor([[0.0, 2.0, 1.0], [3.0, 0.0, 2.9]])
    assert sample_next(logits, temperature=0.0).tolist() == [1, 0]
    cold = sample_next(logits.repeat(500, 1), temperature=0.01,
                       generator=torch.Generator().manual_seed(0))
    assert cold.tolist() == [1, 0] * 500


@pytest.mark.parametrize(("options", "message"), [
    ({"temperature": -1.0}, "temperature must be >= 0"),
    ({"top_p": 0.0}, r"top_p must be in \(0, 1\]"),
    ({"top_p": 1.5}, r"top_p must be in \(0, 1\]"),
])
def test_bad_settings_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        sample_next(torch.zeros(2, 3), **options)
    with pytest.raises(ValueError, match=r"logits \(B, V\)"):
        sample_next(torch.zeros(3))
