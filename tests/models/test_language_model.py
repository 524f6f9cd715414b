"""LanguageModel over every causal mixer and a hybrid: prefill + steps give the forward's logits
(attention through a static KV cache of the capacity the prefill is given), greedy generation
equals greedy decoding by repeated full forwards, decoding past the capacity is refused, bad inputs
are refused; on the GPU, the CUDA graph's steps are the eager steps."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from tests.mixers.cases import CAUSAL_MIXERS
from tsssm.models.backbone import Backbone
from tsssm.mixers.attention import Attention
from tsssm.mixers.base import clone_state
from tsssm.models.bounded_step import BoundedStep
from tsssm.models.graphed_step import GraphedStep, state_tensors
from tsssm.models.language_model import LanguageModel

V, D = 11, 16
BACKBONES = {name: ("x", {"x": factory}) for name, factory in CAUSAL_MIXERS.items()}
BACKBONES["hybrid"] = ("mas", {"m": CAUSAL_MIXERS["mamba"], "a": CAUSAL_MIXERS["attention"],
                               "s": CAUSAL_MIXERS["s4d"]})
BACKBONES["mamba_attention"] = ("mma", {"m": CAUSAL_MIXERS["mamba"], "a": CAUSAL_MIXERS["attention"]})
WITH_KV_CACHE = ("attention", "hybrid", "mamba_attention")
IN_BF16 = ("attention", "mamba_attention")  # S4's complex parameters have no bfloat16
KV_CACHE_CASES = [pytest.param(name, dtype, id=f"{name}-{str(dtype).removeprefix('torch.')}")
                  for dtype, names in ((torch.float32, WITH_KV_CACHE), (torch.bfloat16, IN_BF16))
                  for name in names]
TOLERANCE = {torch.float32: 1e-5, torch.bfloat16: 0.05}
"""Steps against the parallel forward, max abs logit difference: float rounding of logits of ~10."""


def language_model(name: str, tie_embeddings: bool = False) -> LanguageModel:
    torch.manual_seed(0)
    pattern, mixers = BACKBONES[name]
    backbone = Backbone(D, 3, pattern, mixers, mlp_ratio=2)
    model = LanguageModel(backbone, V, tie_embeddings=tie_embeddings).double().eval()
    with torch.no_grad():  # logits spread wide enough that argmax is far from ties
        model.embed.weight.normal_()
    return model


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_prefill_then_steps_give_the_forward_logits(name):
    model = language_model(name)
    ids = torch.randint(0, V, (2, 9), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model(ids)
        logits, states = model.prefill(ids[:, :4], capacity=9)
        stepped = [logits]
        for t in range(4, 9):
            logits, states = model.step(ids[:, t], states)
            stepped.append(logits)
    assert (torch.stack(stepped, 1) - expected[:, 3:]).abs().max().item() <= 1e-10


def stepped_logits(model: LanguageModel, ids: torch.Tensor, prompt_length: int) -> torch.Tensor:
    """Logits after each position of ``ids (B, L)`` from position ``prompt_length - 1`` on: a
    prefill of the prompt with room for exactly the rest, then eager decoding steps through
    ``model.decoder`` -> ``(B, L - prompt_length + 1, V)``."""
    with torch.no_grad():
        logits, states = model.prefill(ids[:, :prompt_length], capacity=ids.shape[1])
        step = model.decoder(ids[:, prompt_length], states, prompt_length, cuda_graph=False)
        stepped = [logits]
        for t in range(prompt_length, ids.shape[1]):
            logits, states = step(ids[:, t], states)
            stepped.append(logits)
    return torch.stack(stepped, 1)


@pytest.mark.parametrize("prompt_length", [1, 4, 7])
@pytest.mark.parametrize(("name", "dtype"), KV_CACHE_CASES)
def test_static_cache_steps_give_the_forward_logits(name, dtype, prompt_length):
    model = language_model(name).to(dtype)
    ids = torch.randint(0, V, (3, 12), generator=torch.Generator().manual_seed(prompt_length))
    with torch.no_grad():
        expected = model(ids)[:, prompt_length - 1:]
    stepped = stepped_logits(model, ids, prompt_length)
    assert stepped.dtype == dtype and stepped.shape == expected.shape
    assert (stepped.float() - expected.float()).abs().max().item() <= TOLERANCE[dtype]


@pytest.mark.parametrize("name", WITH_KV_CACHE)
def test_room_to_spare_changes_no_logit(name):
    """Attending over a whole capacity with its unfilled positions masked is attending over the
    filled ones: a prefill with room to spare steps to the logits of an exact one."""
    model = language_model(name)
    ids = torch.randint(0, V, (2, 9), generator=torch.Generator().manual_seed(4))
    exact = stepped_logits(model, ids, 3)
    with torch.no_grad():
        logits, states = model.prefill(ids[:, :3], capacity=40)
        roomy = [logits]
        for t in range(3, 9):
            logits, states = model.step(ids[:, t], states)
            roomy.append(logits)
    assert (torch.stack(roomy, 1) - exact).abs().max().item() <= 1e-12


@pytest.mark.parametrize("name", WITH_KV_CACHE)
def test_decoding_past_the_capacity_raises_before_stepping(name):
    model = language_model(name)
    prompt = torch.randint(0, V, (2, 5), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        logits, states = model.prefill(prompt, capacity=8)
        step = model.decoder(logits.argmax(-1), states, 5)
        for _ in range(3):
            logits, states = step(logits.argmax(-1), states)
        filled = [t.clone() for t in state_tensors(states)]
        with pytest.raises(ValueError, match="decoding past capacity: the states hold 8 positions "
                                             "and all are filled"):
            step(logits.argmax(-1), states)
    assert all(torch.equal(a, b) for a, b in zip(state_tensors(states), filled))
    with pytest.raises(ValueError, match=r"decoding from position 9: the states hold 8 positions, "
                                         r"expected a position in \[0, 8\]"):
        model.decoder(logits.argmax(-1), states, 9)


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_greedy_generation_equals_repeated_full_forwards(name):
    model = language_model(name)
    prompt = torch.randint(0, V, (3, 2), generator=torch.Generator().manual_seed(2))
    generated = model.generate(prompt, n_new=7, temperature=0.0)
    ids = prompt
    with torch.no_grad():
        for _ in range(7):
            ids = torch.cat([ids, model(ids)[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert generated.shape == (3, 9)
    assert torch.equal(generated, ids)


def test_sampling_is_reproducible_and_a_tiny_nucleus_is_greedy():
    model = language_model("lstm")
    prompt = torch.zeros(4, 1, dtype=torch.long)

    def sample(seed: int, **options) -> torch.Tensor:
        return model.generate(prompt, 12, generator=torch.Generator().manual_seed(seed), **options)

    assert torch.equal(sample(0), sample(0))
    assert not torch.equal(sample(0), sample(1))
    assert torch.equal(sample(0, top_p=1e-9), model.generate(prompt, 12, temperature=0.0))


def test_generation_from_non_finite_logits_raises_instead_of_sampling_noise():
    model = language_model("lstm")
    with torch.no_grad():
        model.head.weight[3, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN or [+]inf"):
        model.generate(torch.zeros(2, 1, dtype=torch.long), 4)


def test_ssm_state_stays_fixed_while_the_kv_cache_grows():
    def nbytes_after(model: LanguageModel, length: int) -> int:
        with torch.no_grad():
            _, states = model.prefill(torch.zeros(1, length, dtype=torch.long))
        return model.state_nbytes(states)

    mamba, attention = language_model("mamba"), language_model("attention")
    assert nbytes_after(mamba, 3) == nbytes_after(mamba, 40) > 0
    assert nbytes_after(attention, 40) > nbytes_after(attention, 3) > 0


def test_generation_returns_the_states_it_decoded_with():
    """The KV cache is allocated for the tokens generation steps through, no more: it holds what
    a prefill of them holds, and the same keys and values."""
    prompt = torch.zeros(2, 3, dtype=torch.long)
    for kind in ("mamba", "attention", "hybrid"):
        model = language_model(kind).eval()
        with torch.no_grad():
            tokens, states = model.generate_with_states(prompt, 9, temperature=0.0)
            _, prefilled = model.prefill(tokens[:, :-1])
        assert torch.equal(tokens, model.generate(prompt, 9, temperature=0.0))
        assert model.state_nbytes(states) == model.state_nbytes(prefilled)
        for held, needed in zip(state_tensors(states), state_tensors(prefilled)):
            torch.testing.assert_close(held, needed, rtol=0, atol=1e-10)


def test_tied_head_shares_the_embedding():
    untied, tied = language_model("lstm"), language_model("lstm", tie_embeddings=True)
    assert tied.head.weight is tied.embed.weight
    n_untied = sum(p.numel() for p in untied.parameters())
    assert n_untied - sum(p.numel() for p in tied.parameters()) == V * D
    assert tied(torch.zeros(2, 5, dtype=torch.long)).shape == (2, 5, V)


def test_non_causal_backbone_is_refused():
    backbone = Backbone(D, 2, "a", {"a": partial(Attention, n_heads=2, causal=False)})
    with pytest.raises(ValueError, match="needs a causal backbone.*'aa'"):
        LanguageModel(backbone, V)


def test_bad_ids_and_empty_prompt_are_refused():
    model = language_model("lstm")
    with pytest.raises(ValueError, match=r"long token ids \(B, L\), got torch.float64"):
        model(torch.zeros(2, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"long token ids \(B,\)"):
        model.step(torch.zeros(2, 1, dtype=torch.long), model.init_state(2))
    with pytest.raises(ValueError, match="the prompt is empty"):
        model.generate(torch.zeros(2, 0, dtype=torch.long), 3)
    with pytest.raises(ValueError, match="n_new must be >= 0"):
        model.generate(torch.zeros(2, 1, dtype=torch.long), -1)


def test_decoder_is_the_eager_step_off_cuda_counted_against_the_capacity():
    ids = torch.zeros(2, dtype=torch.long)
    for name, capacity in (("mamba", None), ("hybrid", 7)):
        model = language_model(name)
        step = model.decoder(ids, model.init_state(2, capacity=7), 0)
        assert isinstance(step, BoundedStep) and step.step == model.step
        assert step.capacity == capacity and step.room == capacity


def test_state_tensors_and_clones_keep_the_structure():
    state = [(torch.ones(2), {"b": torch.zeros(1), "a": torch.full((3,), 2.0)}), None]
    flat = state_tensors(state)
    assert [t.tolist() for t in flat] == [[1.0, 1.0], [2.0, 2.0, 2.0], [0.0]]
    copy = clone_state(state)
    assert copy[1] is None and isinstance(copy[0], tuple)
    assert all(a.data_ptr() != b.data_ptr() and torch.equal(a, b)
               for a, b in zip(state_tensors(copy), flat))


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_every_models_state_clones_to_its_own_types_and_buffers(name):
    state = language_model(name).init_state(2, capacity=3)
    copy = clone_state(state)
    assert [type(item) for item in copy] == [type(item) for item in state]
    assert all((a.numel() == 0 or a.data_ptr() != b.data_ptr()) and torch.equal(a, b)
               for a, b in zip(state_tensors(copy), state_tensors(state)))


@pytest.mark.gpu
@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_cuda_graph_decoding_samples_what_eager_decoding_samples(name):
    """Over 12 tokens, and over 2, where the KV cache leaves room for one warm-up step only."""
    model = language_model(name).float().cuda()
    prompt = torch.randint(V, (3, 5), generator=torch.Generator().manual_seed(1)).cuda()
    for n_new in (12, 2):
        outputs = {}
        for graphed in (False, True):
            tokens, _ = model.generate_with_states(prompt, n_new, temperature=0.0,
                                                   cuda_graph=graphed)
            outputs[graphed] = tokens
        torch.testing.assert_close(outputs[True], outputs[False], rtol=0, atol=0)
    step = model.decoder(prompt[:, -1], model.prefill(prompt, capacity=8)[1], 5)
    assert isinstance(step.step, GraphedStep)


@pytest.mark.gpu
@pytest.mark.parametrize(("name", "dtype"), KV_CACHE_CASES)
def test_graph_replays_step_the_static_cache_as_eager_steps_do(name, dtype):
    """Over every position up to a capacity of exactly prompt + steps, the graph's logits are
    the eager steps' and the forward's, its cache ends as theirs, and one step more raises."""
    model = language_model(name).to("cuda", dtype)
    ids = torch.randint(V, (3, 40), generator=torch.Generator().manual_seed(5)).cuda()
    prompt_length = 6
    with torch.no_grad():
        expected = model(ids)[:, prompt_length:]
        decoded = {}
        for graphed in (False, True):
            logits, states = model.prefill(ids[:, :prompt_length], capacity=ids.shape[1])
            step = model.decoder(ids[:, prompt_length], states, prompt_length, cuda_graph=graphed)
            assert isinstance(step.step, GraphedStep) == graphed
            steps = []
            for t in range(prompt_length, ids.shape[1]):  # S4 returns new states: thread them
                logits, states = step(ids[:, t], states)
                steps.append(logits.clone())
            decoded[graphed] = torch.stack(steps, 1), [t.clone() for t in state_tensors(states)]
            with pytest.raises(ValueError, match="decoding past capacity"):
                step(ids[:, -1], states)
    (graph_logits, graph_states), (eager_logits, eager_states) = decoded[True], decoded[False]
    torch.testing.assert_close(graph_logits, eager_logits, rtol=0, atol=TOLERANCE[dtype] / 10)
    assert (graph_logits.float() - expected.float()).abs().max().item() <= TOLERANCE[dtype]
    for graph_state, eager_state in zip(graph_states, eager_states):
        torch.testing.assert_close(graph_state, eager_state, rtol=0, atol=TOLERANCE[dtype] / 10)


@pytest.mark.gpu
def test_capturing_a_kv_cache_does_not_copy_it():
    """The capture's warm-up steps scratch states that share the cache's buffers, so capturing
    allocates far less than the cache holds (1.2 GB here; a copy would take as much again)."""
    model = language_model("attention").float().cuda()
    prompt = torch.randint(V, (3, 5), generator=torch.Generator().manual_seed(1)).cuda()
    with torch.no_grad():
        logits, states = model.prefill(prompt, capacity=1 << 20)
        cache_bytes = model.state_nbytes(states)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step = model.decoder(logits.argmax(-1), states, 5)
        torch.cuda.synchronize()
        assert torch.cuda.max_memory_allocated() - before < cache_bytes / 2
        assert isinstance(step.step, GraphedStep)


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["mamba", "attention"])
def test_captures_one_after_another_keep_no_memory(name):
    model = language_model(name).float().cuda()
    prompt = torch.randint(V, (3, 5), generator=torch.Generator().manual_seed(1)).cuda()
    held = []
    for _ in range(3):
        logits, states = model.prefill(prompt, capacity=8)
        step = model.decoder(logits.argmax(-1), states, 5)
        step(logits.argmax(-1), states)
        del logits, states, step
        torch.cuda.synchronize()
        held.append(torch.cuda.memory_allocated())
    assert held[2] == held[1], held


def test_logits_at_positions_are_the_full_logits_there():
    model = language_model("mamba_attention")
    ids = torch.randint(V, (3, 12))
    positions = torch.tensor([[0, 5, 11], [2, 3, 4], [7, 9, 10]])
    full = model(ids)
    picked = model(ids, positions)
    assert picked.shape == (3, 3, V)
    torch.testing.assert_close(picked, full.gather(1, positions[..., None].expand(-1, -1, V)))
