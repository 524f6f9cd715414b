"""Attention and rotary positions: step loop = forward, a static KV cache of a given capacity,
relative positions, errors."""

from __future__ import annotations

import pytest
import torch

from tests.mixers.stepping import step_through
from tsssm.mixers.attention import Attention
from tsssm.mixers.base import state_nbytes
from tsssm.mixers.rotary import RotaryEmbedding

B, L, D = 2, 37, 16


def _attention(**kwargs) -> Attention:
    torch.manual_seed(0)
    return Attention(D, **kwargs).double().eval()


def _x(length: int = L) -> torch.Tensor:
    return torch.randn(B, length, D, dtype=torch.float64, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("n_heads", [1, 4])
@pytest.mark.parametrize("rotary", [True, False])
@pytest.mark.parametrize("bias", [False, True])
def test_step_loop_matches_forward(n_heads: int, rotary: bool, bias: bool) -> None:
    attn, x = _attention(n_heads=n_heads, rotary=rotary, bias=bias), _x()
    with torch.no_grad():
        stepped, cache = step_through(attn, x)
        assert (stepped - attn(x)).abs().max().item() <= 1e-10
    assert cache.length.tolist() == [L] and cache.keys.shape[2] == L


def test_the_cache_is_allocated_once_and_stepped_in_place() -> None:
    attn, x = _attention(n_heads=4), _x(9)
    cache = attn.init_state(B, capacity=9)
    assert state_nbytes(cache) == 2 * B * 9 * D * 8 + 8  # keys and values, float64, and the length
    assert cache.length.tolist() == [0] and not cache.keys.any()
    buffers = [t.data_ptr() for t in cache]
    with torch.no_grad():
        for t in range(4):
            _, stepped = attn.step(x[:, t], cache)
            assert stepped is cache and [u.data_ptr() for u in cache] == buffers
            assert cache.length.tolist() == [t + 1]
    assert cache.keys[:, :, :4].abs().min() > 0 and not cache.keys[:, :, 4:].any()


def test_prefill_allocates_the_capacity_it_is_given() -> None:
    attn, x = _attention(n_heads=4), _x(9)
    with torch.no_grad():
        _, exact = attn.prefill(x[:, :5])
        _, roomy = attn.prefill(x[:, :5], capacity=9)
    assert exact.keys.shape == exact.values.shape == (B, 4, 5, D // 4)
    assert roomy.keys.shape == (B, 4, 9, D // 4) and roomy.length.tolist() == [5]
    torch.testing.assert_close(roomy.keys[:, :, :5], exact.keys, rtol=0, atol=0)
    assert not roomy.values[:, :, 5:].any()
    with pytest.raises(ValueError, match=r"capacity=4 cannot hold the prompt's 5 positions; "
                                         r"expected capacity >= 5"):
        attn.prefill(x[:, :5], capacity=4)


def test_positions_past_the_length_are_masked_out() -> None:
    """Whatever the unfilled positions hold, a step attends to the filled ones alone."""
    attn, x = _attention(n_heads=2), _x(9)
    with torch.no_grad():
        expected = attn(x)[:, 5:]
        _, cache = attn.prefill(x[:, :5], capacity=20)
        cache.keys[:, :, 5:] = 1e3
        cache.values[:, :, 5:] = -1e3
        stepped, _ = step_through(attn, x[:, 5:], cache)
    assert (stepped - expected).abs().max().item() <= 1e-10


def test_a_step_past_capacity_writes_nothing() -> None:
    attn, x = _attention(n_heads=2), _x(4)
    with torch.no_grad():
        _, cache = attn.prefill(x, capacity=4)
        before = [t.clone() for t in cache]
        with pytest.raises(IndexError, match="out of bounds for dimension 2 with size 4"):
            attn.step(x[:, 0], cache)
    assert all(torch.equal(a, b) for a, b in zip(cache, before))


def test_scratch_steps_leave_the_cache_as_the_next_step_needs_it() -> None:
    attn, x = _attention(n_heads=2), _x(9)
    with torch.no_grad():
        expected = attn(x)[:, 5:]
        _, cache = attn.prefill(x[:, :5], capacity=9)
        scratch = attn.scratch_state(cache)
        assert scratch.keys is cache.keys and scratch.length is not cache.length
        step_through(attn, -x[:, 5:7], scratch)
        assert cache.length.tolist() == [5] and scratch.length.tolist() == [7]
        stepped, _ = step_through(attn, x[:, 5:], cache)
    assert (stepped - expected).abs().max().item() <= 1e-10
    assert attn.capacity(cache) == 9


def test_rotary_scores_depend_only_on_relative_position() -> None:
    rope = RotaryEmbedding(8)
    gen = torch.Generator().manual_seed(2)
    q, k = (torch.randn(1, 1, 1, 8, dtype=torch.float64, generator=gen) for _ in range(2))

    def score(m: int, n: int) -> float:
        return (rope(q, offset=m) * rope(k, offset=n)).sum().item()

    for m, n in [(0, 0), (5, 2), (3, 9), (40, 1)]:
        for shift in (1, 17, 1000):
            assert score(m + shift, n + shift) == pytest.approx(score(m, n), abs=1e-12)
    assert score(5, 2) != pytest.approx(score(5, 3), abs=1e-3)  # positions do matter


def test_rotary_is_a_rotation_from_position_zero() -> None:
    rope = RotaryEmbedding(8)
    x = torch.randn(2, 3, 11, 8, dtype=torch.float64)
    rotated = rope(x)
    assert torch.equal(rotated[:, :, 0], x[:, :, 0])
    assert not torch.allclose(rotated[:, :, 1:], x[:, :, 1:])
    torch.testing.assert_close(rotated.norm(dim=-1), x.norm(dim=-1), rtol=0, atol=1e-12)
    assert rope(x.float()).dtype == torch.float32


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
def test_rotary_at_a_tensor_position_is_the_tables_rotation(dtype: torch.dtype) -> None:
    rope = RotaryEmbedding(8)
    x = torch.randn(2, 3, 1, 8).to(dtype)
    for position in (0, 1, 37, 1000, 70000):
        torch.testing.assert_close(rope(x, offset=torch.tensor([position])), rope(x, offset=position),
                                   rtol=0, atol=0)


def test_rotary_offset_matches_the_full_sequence() -> None:
    rope = RotaryEmbedding(6)
    x = torch.randn(1, 2, 50, 6, dtype=torch.float64)
    full = rope(x)
    for start in (0, 1, 31, 49):
        torch.testing.assert_close(rope(x[:, :, start:start + 3], offset=start), full[:, :, start:start + 3],
                                   rtol=0, atol=0)


@pytest.mark.parametrize("rotary", [True, False])
def test_noncausal_sees_the_future_and_causal_does_not(rotary: bool) -> None:
    x = _x()
    changed = x.clone()
    changed[:, -1] += 1.0
    with torch.no_grad():
        causal, bidirectional = _attention(rotary=rotary), _attention(rotary=rotary, causal=False)
        torch.testing.assert_close(causal(changed)[:, :-1], causal(x)[:, :-1], rtol=0, atol=0)
        assert (bidirectional(changed)[:, 0] - bidirectional(x)[:, 0]).abs().max() > 1e-6


def test_rotary_carries_order_and_no_rotary_is_permutation_equivariant() -> None:
    x, perm = _x(), torch.randperm(L, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        plain = _attention(causal=False, rotary=False)
        torch.testing.assert_close(plain(x[:, perm]), plain(x)[:, perm], rtol=0, atol=1e-12)
        rotary = _attention(causal=False, rotary=True)
        assert (rotary(x[:, perm]) - rotary(x)[:, perm]).abs().max() > 1e-6


@pytest.mark.parametrize("causal", [True, False])
def test_gradients_reach_every_parameter(causal: bool) -> None:
    attn = _attention(causal=causal, bias=True).train()
    attn(_x()).square().sum().backward()
    for name, param in attn.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_dropout_acts_in_training_only() -> None:
    attn, x = _attention(dropout=0.5), _x()
    with torch.no_grad():
        torch.testing.assert_close(attn(x), attn(x), rtol=0, atol=0)
        attn.train()
        assert not torch.allclose(attn(x), attn(x))


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(d_model=16, n_heads=3), "d_model=16 must be divisible by n_heads=3"),
    (dict(d_model=16, n_heads=0), "n_heads=0"),
    (dict(d_model=6, n_heads=2), "even head_dim"),
    (dict(d_model=16, dropout=1.0), "dropout must be in"),
    (dict(d_model=0), "d_model must be positive"),
])
def test_bad_configs_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Attention(**kwargs)


def test_odd_head_dim_is_fine_without_rotary() -> None:
    assert Attention(6, n_heads=2, rotary=False)(torch.randn(1, 5, 6)).shape == (1, 5, 6)


def test_rotary_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="head_dim must be a positive even number"):
        RotaryEmbedding(5)
    with pytest.raises(ValueError, match="expected last dim head_dim=8"):
        RotaryEmbedding(8)(torch.randn(1, 1, 3, 6))
    with pytest.raises(ValueError, match="offset must be >= 0"):
        RotaryEmbedding(8)(torch.randn(1, 1, 3, 8), offset=-1)


def test_noncausal_attention_cannot_be_stepped() -> None:
    attn = _attention(causal=False)
    with pytest.raises(NotImplementedError, match=r"causal=False.*cannot be stepped"):
        attn.init_state(B)
    with pytest.raises(NotImplementedError, match=r"causal=False.*cannot be stepped"):
        attn.step(torch.randn(B, D, dtype=torch.float64), None)
    with pytest.raises(NotImplementedError, match=r"causal=False.*cannot be stepped"):
        attn.prefill(torch.randn(B, L, D, dtype=torch.float64))


def test_bad_shapes_are_refused() -> None:
    attn = _attention()
    with pytest.raises(ValueError, match=r"expects \(B, L, d_model=16\)"):
        attn(torch.randn(B, L, D + 1, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"expects \(B, d_model=16\)"):
        attn.step(torch.randn(B, 1, D, dtype=torch.float64), attn.init_state(B))
    with pytest.raises(ValueError, match="input batch 3 != cache batch 2"):
        attn.step(torch.randn(3, D, dtype=torch.float64), attn.init_state(B))
