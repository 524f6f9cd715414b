"""The fused Mamba-1 block step against the eager block step it stands in for.

The reference is ``Block.step`` over ``Mamba.step`` run in float64 (which never takes the
kernels) on a copy of the same block (weights rounded as the fused copy holds them) and states;
the fused step runs in fp32 (bf16 on the GPU) from the same states, and after every step its
output and both updated states are compared by ``‖out − ref‖ / ‖ref‖``. Without a GPU the
kernels run in Triton's interpreter (``conftest.py``) with blocks of 2 batch rows × 4 channels
and reduction blocks of 2-8, so the shapes below cross every block boundary and mask the last
block of each; the consecutive steps also check that the x_proj workspace is zeroed again after
each step. The ``gpu`` tests repeat this at the sequence presets' width, inside a CUDA graph of
the whole model over many replays, and count the launches.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from functools import partial

import pytest
import torch

from tests.kernels.numerics import poisoned_allocations, relative_error
from tsssm.kernels.mamba_step import MambaBlockWeights, mamba_block_step
from tsssm.mixers import mamba as mamba_module
from tsssm.mixers.attention import Attention
from tsssm.mixers.mamba import Mamba, MambaState
from tsssm.models.backbone import Backbone, Block
from tsssm.models.graphed_step import GraphedStep
from tsssm.models.language_model import LanguageModel

CUDA = torch.cuda.is_available()
DEVICE = "cuda" if CUDA else "cpu"
TOLERANCE = {torch.float32: 1e-5, torch.bfloat16: 1e-2}
VARIANTS = {
    "defaults": {},
    "rank 3, two taps, biases": dict(dt_rank=3, d_conv=2, bias=True),
    "one tap, no conv bias": dict(d_conv=1, conv_bias=False),
}


@contextlib.contextmanager
def counting_fused_steps() -> Iterator[list[int]]:
    """A list that gets one entry per fused block step run (not the eager fallback)."""
    calls: list[int] = []

    def counted(*args, **kwargs):
        out = mamba_block_step(*args, **kwargs)
        calls.extend([] if out is None else [1])
        return out

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mamba_module, "mamba_block_step", counted)
        yield calls


def randomised_block(d_model: int, d_state: int, seed: int, norm: str = "rmsnorm",
                     **mamba: object) -> Block:
    """A Block over a Mamba whose every parameter is random (no ones or zeros to hide a skipped
    term), in float64, eval mode."""
    torch.manual_seed(seed)
    block = Block(Mamba(d_model, d_state=d_state, **mamba), norm=norm).double().eval()
    with torch.no_grad():
        for name, param in block.named_parameters():
            if name.endswith("A_log"):
                param.add_(torch.randn_like(param) * 0.3)
            elif not name.endswith("dt_proj.bias"):
                param.copy_(torch.randn_like(param) / max(1, param.shape[-1]) ** 0.5)
    return block


def step_both(block: Block, dtype: torch.dtype, batch: int, steps: int, seed: int,
              device: str = DEVICE) -> None:
    """Step a ``dtype`` copy of ``block`` through the fused kernels and, in float64, the eager
    block with the same (rounded) weights, inputs and starting states (a prefill's), comparing
    outputs and states after every step."""
    gen = torch.Generator().manual_seed(seed)
    fused = copy.deepcopy(block).to(device, dtype)
    fused.mixer.step_backend = "triton"
    block = copy.deepcopy(fused).to("cpu", torch.float64)
    block.mixer.step_backend = "reference"
    d_model = block.mixer.d_model

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen).to(dtype).double()

    with torch.no_grad(), counting_fused_steps() as fused_steps:
        _, state = block.prefill(rand(batch, 5, d_model))
        state = MambaState(state.conv.to(dtype).double(), state.ssm)
        fused_state = MambaState(state.conv.to(device, dtype),
                                 state.ssm.to(device, torch.float32))
        for t in range(steps):
            x = rand(batch, d_model)
            expected, state = block.step(x, state)
            with poisoned_allocations():
                out, fused_state = fused.step(x.to(device, dtype), fused_state)
            assert out.dtype == dtype
            for name, got, ref in (("output", out, expected), ("conv state", fused_state.conv,
                                   state.conv), ("ssm state", fused_state.ssm, state.ssm)):
                if ref.numel():
                    error = relative_error(got.cpu(), ref)
                    assert error < TOLERANCE[dtype], f"step {t}: {name} off by {error:.2e}"
    assert len(fused_steps) == steps


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_fused_block_step_matches_eager_steps(variant):
    """d_model 11 -> 22 channels (5 blocks of 4, the last half full), batch 3 (2 blocks),
    N 5 (a block of 8)."""
    step_both(randomised_block(11, 5, seed=1, **VARIANTS[variant]), torch.float32, batch=3,
              steps=4, seed=2)


def test_fused_block_step_takes_strided_inputs_and_states():
    """The residual a column slice, the states transposed views: strides are honoured."""
    block = randomised_block(6, 3, seed=3, dt_rank=2)
    mixer = block.mixer
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(2, 6, generator=gen, dtype=torch.float64)
    state = mixer.init_state(2)
    state.conv.copy_(torch.randn(state.conv.shape, generator=gen))
    state.ssm.copy_(torch.randn(state.ssm.shape, generator=gen))
    conv = state.conv.float().transpose(1, 2).contiguous().transpose(1, 2)
    ssm = state.ssm.float().transpose(1, 2).contiguous().transpose(1, 2)
    wide = torch.zeros(2, 12)
    wide[:, ::2] = x.float()
    with torch.no_grad():
        expected, state = block.step(x, state)
        fused = copy.deepcopy(block).float()
        weights = MambaBlockWeights(
            fused.norm_mixer.weight, fused.norm_mixer.eps, fused.mixer.in_proj.weight,
            fused.mixer.in_proj.bias, fused.mixer.conv1d.weight, fused.mixer.conv1d.bias,
            fused.mixer.x_proj.weight, fused.mixer.dt_proj.weight, fused.mixer.dt_proj.bias,
            fused.mixer.A_log, fused.mixer.D, fused.mixer.out_proj.weight,
            fused.mixer.out_proj.bias)
        out = mamba_block_step(wide[:, ::2], weights, conv, ssm, backend="triton")
    assert relative_error(out, expected) < 1e-5
    assert relative_error(conv, state.conv) < 1e-5
    assert relative_error(ssm, state.ssm) < 1e-5


def language_model(backend: str, pattern: str = "mam", d_model: int = 10,
                   layers: int = 3) -> LanguageModel:
    """Mamba layers (``m``), by default between attention ones (``a``), so fused and eager
    blocks alternate."""
    torch.manual_seed(5)
    mixers = {"m": partial(Mamba, d_state=5, dt_rank=2, step_backend=backend),
              "a": partial(Attention, n_heads=1, causal=True)}
    return LanguageModel(Backbone(d_model, layers, pattern, mixers), 13).eval()


def test_model_step_through_the_fused_blocks_matches_the_eager_one():
    eager, fused = language_model("reference"), language_model("triton")
    ids = torch.randint(13, (3, 4), generator=torch.Generator().manual_seed(6))
    with torch.no_grad(), counting_fused_steps() as fused_steps:
        eager_logits, eager_states = eager.prefill(ids, capacity=7)
        fused_logits, fused_states = fused.prefill(ids, capacity=7)
        for _ in range(3):
            next_ids = eager_logits.argmax(-1)
            eager_logits, eager_states = eager.step(next_ids, eager_states)
            fused_logits, fused_states = fused.step(next_ids, fused_states)
            assert relative_error(fused_logits, eager_logits.double()) < 1e-5
    assert len(fused_steps) == 3 * 2  # two Mamba layers


def test_eager_steps_where_the_kernels_do_not_run():
    """"auto" on the CPU and "reference" anywhere step eagerly; "triton" refuses a LayerNorm
    block and autograd."""
    block = randomised_block(6, 3, seed=7).float()
    state = block.mixer.init_state(2)
    x = torch.randn(2, 6)
    for backend in ("auto", "reference"):
        block.mixer.step_backend = backend
        with torch.no_grad():
            assert block.mixer.residual_step(x, state, block.norm_mixer) is None
    block.mixer.step_backend = "triton"
    with pytest.raises(ValueError, match="no backward"):
        block.mixer.residual_step(x, state, block.norm_mixer)
    layer_norm = randomised_block(6, 3, seed=7, norm="layernorm").float()
    layer_norm.mixer.step_backend = "triton"
    with torch.no_grad(), pytest.raises(ValueError, match="RMSNorm"):
        layer_norm.mixer.residual_step(x, state, layer_norm.norm_mixer)


def test_bad_shapes_are_refused_naming_the_tensor():
    block = randomised_block(6, 3, seed=8).float()
    mixer = block.mixer
    weights = MambaBlockWeights(
        block.norm_mixer.weight, None, mixer.in_proj.weight, None, mixer.conv1d.weight,
        mixer.conv1d.bias, mixer.x_proj.weight, mixer.dt_proj.weight, mixer.dt_proj.bias,
        mixer.A_log, mixer.D, mixer.out_proj.weight, None)
    state = mixer.init_state(2)
    with pytest.raises(ValueError, match="ssm_state must have shape"):
        mamba_block_step(torch.zeros(2, 6), weights, state.conv.float(),
                         torch.zeros(2, mixer.d_inner, 4), backend="triton")


def test_step_backend_is_checked():
    with pytest.raises(ValueError, match="step_backend"):
        Mamba(8, step_backend="cuda")


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("batch", [1, 3, 16])
def test_fused_block_step_matches_eager_steps_on_gpu(dtype, batch):
    step_both(randomised_block(192, 16, seed=9), dtype, batch=batch, steps=6, seed=10,
              device="cuda")


@pytest.mark.gpu
def test_fused_block_step_matches_eager_steps_on_gpu_wide():
    step_both(randomised_block(1024, 16, seed=11), torch.float32, batch=4, steps=3, seed=12,
              device="cuda")


@pytest.mark.gpu
def test_cuda_graph_of_fused_steps_matches_eager_steps_over_many_replays():
    eager = language_model("reference", "m", d_model=192, layers=4).cuda()
    fused = language_model("auto", "m", d_model=192, layers=4).cuda()
    ids = torch.randint(13, (3, 8), generator=torch.Generator().manual_seed(13)).cuda()
    with torch.no_grad():
        eager_logits, eager_states = eager.prefill(ids)
        fused_logits, fused_states = fused.prefill(ids)
        graphed = GraphedStep(fused.step, eager_logits.argmax(-1), fused_states,
                              fused.backbone.scratch_states(fused_states))
        for t in range(64):
            next_ids = eager_logits.argmax(-1)
            eager_logits, eager_states = eager.step(next_ids, eager_states)
            fused_logits, fused_states = graphed(next_ids, fused_states)
            error = relative_error(fused_logits, eager_logits.double())
            assert error < 1e-4, f"replay {t}: logits off by {error:.2e}"


@pytest.mark.gpu
def test_fused_block_step_launches_two_kernels():
    block = randomised_block(192, 16, seed=14).float().cuda()
    state = block.mixer.init_state(3)
    x = torch.randn(3, 192, device="cuda")
    with torch.no_grad():
        block.step(x, state)  # compile first
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
            block.step(x, state)
            torch.cuda.synchronize()
    kernels = [e.name for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    assert sorted(kernels) == ["step_in_kernel", "step_out_kernel"], kernels
