"""Attention and rotary positions: step loop = forward, a growing KV cache, relative positions, errors."""

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
    assert cache.length == L


def test_kv_cache_grows_linearly_by_doubling() -> None:
    attn = _attention(n_heads=4)
    bytes_per_position = 2 * B * D * 8  # keys and values, float64
    cache = attn.init_state(B)
    assert state_nbytes(cache) == 0 and cache.keys.dtype == torch.float64
    buffers = set()
    with torch.no_grad():
        for t in range(1, 101):
            _, cache = attn.step(torch.randn(B, D, dtype=torch.float64), cache)
            nbytes = state_nbytes(cache)
            assert t * bytes_per_position <= nbytes < 2 * t * bytes_per_position
            if t & (t - 1) == 0:  # a power of two fills the buffer exactly
                assert nbytes == t * bytes_per_position
            buffers.add(cache.keys.data_ptr())
    assert len(buffers) == 8  # capacities 1, 2, 4, ..., 128: O(log L) re-allocations, not one per step


def test_prefill_fills_the_cache_to_capacity_and_the_next_step_doubles_it() -> None:
    attn = _attention(n_heads=4)
    with torch.no_grad():
        _, cache = attn.prefill(torch.randn(B, 5, D, dtype=torch.float64))
        assert cache.length == 5 and cache.keys.shape == cache.values.shape == (B, 4, 5, D // 4)
        _, cache = attn.step(torch.randn(B, D, dtype=torch.float64), cache)
    assert cache.length == 6 and cache.keys.shape[2] == 10


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
