"""LanguageModel over every causal mixer and a hybrid: prefill + steps give the forward's logits,
greedy generation equals greedy decoding by repeated full forwards, bad inputs are refused."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from tests.mixers.cases import CAUSAL_MIXERS
from tsssm.models.backbone import Backbone
from tsssm.mixers.attention import Attention
from tsssm.models.graphed_step import GraphedStep, clone_state, state_tensors
from tsssm.models.language_model import LanguageModel

V, D = 11, 16
BACKBONES = {name: ("x", {"x": factory}) for name, factory in CAUSAL_MIXERS.items()}
BACKBONES["hybrid"] = ("mas", {"m": CAUSAL_MIXERS["mamba"], "a": CAUSAL_MIXERS["attention"],
                               "s": CAUSAL_MIXERS["s4d"]})


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
        logits, states = model.prefill(ids[:, :4])
        stepped = [logits]
        for t in range(4, 9):
            logits, states = model.step(ids[:, t], states)
            stepped.append(logits)
    assert (torch.stack(stepped, 1) - expected[:, 3:]).abs().max().item() <= 1e-10


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


def test_ssm_state_stays_fixed_while_the_kv_cache_grows():
    def nbytes_after(model: LanguageModel, length: int) -> int:
        with torch.no_grad():
            _, states = model.prefill(torch.zeros(1, length, dtype=torch.long))
        return model.state_nbytes(states)

    mamba, attention = language_model("mamba"), language_model("attention")
    assert nbytes_after(mamba, 3) == nbytes_after(mamba, 40) > 0
    assert nbytes_after(attention, 40) > nbytes_after(attention, 3) > 0


def test_generation_returns_the_states_it_decoded_with():
    prompt = torch.zeros(2, 3, dtype=torch.long)
    for kind in ("mamba", "attention"):
        model = language_model(kind).eval()
        with torch.no_grad():
            tokens, states = model.generate_with_states(prompt, 9, temperature=0.0)
            _, prefilled = model.prefill(tokens[:, :-1])
        assert torch.equal(tokens, model.generate(prompt, 9, temperature=0.0))
        held, needed = model.state_nbytes(states), model.state_nbytes(prefilled)
        # stepping grows the KV cache by doubling, so it may hold more than a prefill of the same tokens
        assert held == needed if kind == "mamba" else held >= needed


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


def test_decoder_is_the_eager_step_off_cuda_or_with_a_growing_cache():
    model = language_model("mamba")
    ids = torch.zeros(2, dtype=torch.long)
    assert model.backbone.fixed_state and model.decoder(ids, model.init_state(2)) == model.step
    assert not language_model("hybrid").backbone.fixed_state


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
    state = language_model(name).init_state(2)
    copy = clone_state(state)
    assert [type(item) for item in copy] == [type(item) for item in state]
    assert all((a.numel() == 0 or a.data_ptr() != b.data_ptr()) and torch.equal(a, b)
               for a, b in zip(state_tensors(copy), state_tensors(state)))


@pytest.mark.gpu
@pytest.mark.parametrize("name", sorted(n for n in BACKBONES if n != "hybrid"))
def test_cuda_graph_decoding_samples_what_eager_decoding_samples(name):
    model = language_model(name).float().cuda()
    prompt = torch.randint(V, (3, 5), generator=torch.Generator().manual_seed(1)).cuda()
    outputs = {}
    for graphed in (False, True):
        tokens, _ = model.generate_with_states(prompt, 12, temperature=0.0,
                                               cuda_graph=graphed)
        outputs[graphed] = tokens
    torch.testing.assert_close(outputs[True], outputs[False], rtol=0, atol=0)
    step = model.decoder(prompt[:, -1], model.prefill(prompt)[1])
    assert isinstance(step, GraphedStep) == model.backbone.fixed_state


@pytest.mark.gpu
def test_captures_one_after_another_keep_no_memory():
    model = language_model("mamba").float().cuda()
    prompt = torch.randint(V, (3, 5), generator=torch.Generator().manual_seed(1)).cuda()
    held = []
    for _ in range(3):
        logits, states = model.prefill(prompt)
        step = model.decoder(logits.argmax(-1), states)
        step(logits.argmax(-1), states)
        del logits, states, step
        torch.cuda.synchronize()
        held.append(torch.cuda.memory_allocated())
    assert held[2] == held[1], held
