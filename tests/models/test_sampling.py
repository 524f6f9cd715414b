"""Next-token sampling: greedy at temperature 0, nothing outside the nucleus, bad settings
refused."""

from __future__ import annotations

import pytest
import torch

from tsssm.models.sampling import LogitsCheck, nucleus, sample_next

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


def test_a_draw_is_the_one_multinomial_makes_from_the_same_generator():
    probs = torch.softmax(torch.randn(5, 256, generator=torch.Generator().manual_seed(3)), -1)
    for seed in range(4):
        expected = torch.multinomial(probs, 1, generator=torch.Generator().manual_seed(seed))
        drawn = sample_next(probs.log(), generator=torch.Generator().manual_seed(seed))
        assert torch.equal(drawn, expected.squeeze(-1))


@pytest.mark.parametrize("bad", [[0.0, float("inf"), 1.0], [0.0, float("nan"), 1.0],
                                 [float("-inf")] * 3])
def test_logits_check_raises_only_once_it_has_seen_a_row_softmax_cannot_take(bad):
    check = LogitsCheck()
    check.raise_if_not_finite("nothing seen")
    check.see(torch.tensor([[0.0, 1.0, 2.0], [float("-inf"), 0.0, float("-inf")]]))
    check.raise_if_not_finite("finite, or masked with -inf")
    check.see(torch.tensor([[0.0, 1.0, 2.0], bad]))
    check.see(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="^generation: the model's logits held NaN or [+]inf"):
        check.raise_if_not_finite("generation")


@pytest.mark.gpu
def test_sampling_and_checking_a_token_never_wait_for_the_gpu():
    """A wait per token would leave decoding's step graph idle while the host catches up."""
    logits = torch.randn(3, 256, device="cuda")
    generator = torch.Generator(device="cuda").manual_seed(0)
    check = LogitsCheck()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for top_p in (1.0, 0.9):
            check.see(logits)
            sample_next(logits, top_p=top_p, generator=generator)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    check.raise_if_not_finite("sampling")
