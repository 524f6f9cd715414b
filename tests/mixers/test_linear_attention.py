"""Linear attention: the chunked scan equals the masked quadratic form written out, step loop =
forward, the Triton scan path equals the reference, feature maps and decays, errors."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from tests.kernels.numerics import relative_error
from tests.mixers.stepping import step_through
from tsssm.mixers.base import state_nbytes
from tsssm.mixers.feature_maps import make_feature_map
from tsssm.mixers.linear_attention import LinearAttention

B, D, H = 2, 16, 2
F64 = torch.float64
OPTIONS = [dict(), dict(decay="none"), dict(decay="learned", feature_map="hedgehog"),
           dict(normalization="groupnorm"),
           dict(decay="learned", feature_map="hedgehog", normalization="groupnorm", bias=True)]


def _mixer(dtype: torch.dtype = F64, d_model: int = D, n_heads: int = H,
           **kwargs) -> LinearAttention:
    torch.manual_seed(0)
    mixer = LinearAttention(d_model, n_heads=n_heads, **{"chunk_size": 4, **kwargs}).to(dtype)
    with torch.no_grad():  # move every parameter off its init (identity, ones, zeros)
        for param in mixer.parameters():
            param.add_(0.1 * torch.randn_like(param))
    return mixer


def _x(length: int, dtype: torch.dtype = F64, d_model: int = D) -> torch.Tensor:
    return torch.randn(B, length, d_model, dtype=dtype, generator=torch.Generator().manual_seed(1))


def masked_quadratic(mixer: LinearAttention, x: torch.Tensor) -> torch.Tensor:
    """The layer as attention with a kernel: ``y_t = Σ_{s<=t} γ^{t-s} (φ(q_t)·φ(k_s)) v_s``,
    divided by the same sum without v, or group-normalised per head, then the output projection:
    (B, L, D) -> (B, L, D), O(L²)."""
    q, k, v = mixer.qkv(x).unflatten(-1, (3, mixer.n_heads, -1)).unbind(-3)  # (B, L, H, d)
    lags = torch.arange(x.shape[1])[:, None] - torch.arange(x.shape[1])
    gamma = torch.exp(mixer.log_decay())[:, None, None]
    decay = torch.where(lags >= 0, gamma ** lags.clamp(min=0), 0.0)  # (H, L, L)
    scores = torch.einsum("bthn,bshn->bhts", mixer.feature_map(q), mixer.feature_map(k)) * decay
    y = torch.einsum("bhts,bshd->bthd", scores, v)
    if mixer.normalization == "denominator":
        y = y / (scores.sum(-1).transpose(1, 2).unsqueeze(-1) + mixer.eps)
        return mixer.out(y.flatten(-2))
    norm = mixer.norm
    mean, var = y.mean(-1, keepdim=True), y.var(-1, unbiased=False, keepdim=True)
    return mixer.out(((y - mean) / torch.sqrt(var + norm.eps)).flatten(-2) * norm.weight
                     + norm.bias)


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("length, chunk_size", [(1, 4), (13, 4), (16, 4), (29, 8)])
def test_chunked_scan_equals_the_masked_quadratic_form(options, length, chunk_size):
    mixer, x = _mixer(**{**options, "chunk_size": chunk_size}), _x(length)
    with torch.no_grad():
        assert (mixer(x) - masked_quadratic(mixer, x)).abs().max().item() <= 1e-10


@pytest.mark.parametrize("options", OPTIONS)
def test_step_loop_and_prefill_match_forward(options):
    mixer, x = _mixer(**options), _x(11)
    with torch.no_grad():
        y = mixer(x)
        stepped, state = step_through(mixer, x)
        prefilled, prefill_state = mixer.prefill(x)
    assert (stepped - y).abs().max().item() <= 1e-10
    assert (prefilled - y).abs().max().item() <= 1e-10
    assert (prefill_state - state).abs().max().item() <= 1e-10


@pytest.mark.parametrize("feature_map, normalization, shape",
                         [("elu", "denominator", (3, H, 9, 8)), ("hedgehog", "groupnorm",
                                                                   (3, H, 8, 16))])
def test_state_is_the_kv_state_plus_normaliser_whatever_the_length(feature_map, normalization,
                                                                    shape):
    mixer = _mixer(feature_map=feature_map, normalization=normalization)
    assert mixer.init_state(3).shape == shape and mixer.init_state(3).dtype == F64
    assert mixer.init_state(1, dtype=torch.bfloat16).dtype == torch.float32
    with torch.no_grad():
        sizes = {state_nbytes(mixer.prefill(_x(length)[:1].expand(3, -1, -1))[1])
                 for length in (3, 50)}
    assert sizes == {state_nbytes(mixer.init_state(3))}


def test_denominator_state_row_is_the_decayed_sum_of_key_features():
    mixer, x = _mixer(), _x(7)
    with torch.no_grad():
        _, state = mixer.prefill(x)
        _, k, _ = mixer.scan_inputs(x)  # (B, L, H, N)
        gamma = torch.exp(mixer.log_decay())
        powers = gamma[:, None] ** torch.arange(6, -1, -1, dtype=F64)  # (H, L)
        z = torch.einsum("hl,blhn->bhn", powers, k)
    assert (state[:, :, -1] - z).abs().max().item() <= 1e-12


@pytest.mark.parametrize("options", OPTIONS)
def test_gradients_reach_every_parameter(options):
    mixer = _mixer(torch.float32, **options)
    mixer(_x(11, torch.float32)).square().sum().backward()
    for name, param in mixer.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name


def test_decays_are_retnets_and_learned_ones_start_there():
    fixed, learned, none = (LinearAttention(32, n_heads=4, decay=d)
                            for d in ("fixed", "learned", "none"))
    gammas = torch.exp(fixed.log_decay().double())
    assert torch.allclose(gammas, 1 - 2.0 ** -torch.arange(5.0, 9.0, dtype=F64), rtol=0,
                          atol=1e-7)
    assert torch.allclose(learned.log_decay(), fixed.log_decay(), rtol=1e-6, atol=0)
    assert torch.equal(none.log_decay(), torch.zeros(4))
    assert learned.log_decay_rate._no_weight_decay
    assert [name for name, _ in fixed.named_parameters()] == ["qkv.weight", "out.weight"]


def test_feature_maps_are_positive_and_hedgehog_halves_are_distributions():
    x = torch.randn(5, 3, 8, dtype=F64)
    elu, hedgehog = make_feature_map("elu", 3, 8), make_feature_map("hedgehog", 3, 8).double()
    assert torch.equal(elu(x), F.elu(x) + 1) and elu.dim == 8
    features = hedgehog(x)
    assert features.shape == (5, 3, 16) and hedgehog.dim == 16 and (features > 0).all()
    assert torch.allclose(features[..., :8], x.softmax(-1))  # identity at init
    assert torch.allclose(features[..., 8:], (-x).softmax(-1))
    with torch.no_grad():
        hedgehog.weight.normal_()
    halves = hedgehog(x).unflatten(-1, (2, 8)).sum(-1)
    assert torch.allclose(halves, torch.ones_like(halves))


TRITON_DEVICE = "cuda" if torch.cuda.is_available() else "cpu"  # CPU: Triton's interpreter


@pytest.mark.parametrize("options", [dict(), dict(feature_map="hedgehog", decay="none",
                                                  normalization="groupnorm")])
def test_triton_scan_matches_the_reference(options):
    """The SSD kernels with dt = 1, A = log γ (0 without decay) and a ones column making P = 17:
    output and every parameter's gradient against the float64 reference, fp32 tolerance."""
    reference = _mixer(d_model=32, chunk_size=16, kernel_backend="reference", **options)
    fast = copy.deepcopy(reference).float().to(TRITON_DEVICE)
    fast.kernel_backend = "triton"
    x = _x(37, d_model=32)
    outputs = {}
    for name, mixer in (("reference", reference), ("triton", fast)):
        y = mixer(x.to(mixer.out.weight))
        y.square().sum().backward()
        outputs[name] = y
    assert relative_error(outputs["triton"], outputs["reference"]) <= 1e-4
    for (name, ref), got in zip(reference.named_parameters(), fast.parameters()):
        assert relative_error(got.grad, ref.grad) <= 1e-4, name


@pytest.mark.gpu
@pytest.mark.parametrize("feature_map", ["elu", "hedgehog"])
def test_scan_inputs_share_one_dtype_under_autocast(feature_map):
    """The Triton scan takes B and C only in x's dtype; CUDA autocast's fp32 softmax must not
    send the scan back to the reference."""
    mixer = _mixer(feature_map=feature_map).float().cuda()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        dtypes = {t.dtype for t in mixer.scan_inputs(_x(5).float().cuda())}
    assert dtypes == {torch.bfloat16}


@pytest.mark.gpu
@pytest.mark.parametrize("dtype, tolerance", [(torch.float32, 1e-4), (torch.bfloat16, 3e-2)])
def test_auto_backend_on_gpu_matches_float64(dtype, tolerance):
    """float64 runs the reference; fp32 and bf16 autocast take the kernels (``backend="auto"``)."""
    reference = _mixer(d_model=256, n_heads=4, chunk_size=64).cuda()
    fast = copy.deepcopy(reference).float()
    x = _x(1000, d_model=256).cuda()
    with torch.no_grad():
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
            y = fast(x.float())
        assert relative_error(y, reference(x)) <= tolerance


def test_bad_configs_and_inputs_are_refused():
    with pytest.raises(ValueError, match="divisible by n_heads=3"):
        LinearAttention(16, n_heads=3)
    with pytest.raises(ValueError, match="decay must be one of"):
        LinearAttention(16, decay="xpos")
    with pytest.raises(ValueError, match="normalization must be one of"):
        LinearAttention(16, normalization="layernorm")
    with pytest.raises(ValueError, match="feature_map must be one of"):
        LinearAttention(16, feature_map="relu")
    with pytest.raises(ValueError, match="chunk_size must be a positive int"):
        LinearAttention(16, chunk_size=0)
    mixer = LinearAttention(16)
    with pytest.raises(ValueError, match=r"forward: expected input \(B, L, d_model=16\)"):
        mixer(torch.zeros(2, 5, 8))
    with pytest.raises(ValueError, match=r"step: expected input \(B, d_model=16\)"):
        mixer.step(torch.zeros(2, 1, 16), mixer.init_state(2))
