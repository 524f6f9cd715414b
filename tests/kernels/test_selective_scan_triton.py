"""The Triton selective scan and decode step against the plain-torch reference.

Every check compares outputs and every gradient with ``selective_scan_ref`` run in float64 on
upcast copies of the same inputs, by ``‖out − ref‖ / ‖ref‖``. Without a GPU the kernels run in
Triton's interpreter (``conftest.py``) at tiny shapes; the ``gpu`` tests repeat the comparison at
a training-sized shape on the GPU.
"""

from __future__ import annotations

import pytest
import torch

from tests.kernels.numerics import loss_gradients, relative_error
from tsssm.kernels.selective_scan import selective_scan, selective_state_update
from tsssm.kernels.selective_scan import triton as sst
from tsssm.kernels.selective_scan import triton_segments, triton_tiles
from tsssm.kernels.selective_scan.triton_segments import SegmentPolicy
from tsssm.kernels.selective_scan.reference import selective_scan_ref, selective_state_update_ref

CUDA = torch.cuda.is_available()
DEVICE = "cuda" if CUDA else "cpu"
# fp32 arithmetic with hardware exp2 and chunked running sums; bf16 inputs and outputs.
TOLERANCE = {torch.float32: 1e-4, torch.bfloat16: 1e-2}
INPUTS = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias", "initial_state")


def make_inputs(batch: int, length: int, dim: int, groups: int, state: int, dtype: torch.dtype,
                device: str, features: set[str], seed: int) -> dict[str, torch.Tensor | None]:
    """Random inputs of the scan; optional ones only when named in ``features``.

    Step sizes of ~0.05 to ~2 (after softplus, or raw and positive) and A = -exp(N(0, 0.5)):
    decays from near 1 to near 0 in one chunk, so every term of the gradient matters. Never
    zeros, which hide indexing errors.
    """
    gen = torch.Generator(device="cpu").manual_seed(seed)

    def rand(*shape: int, scale: float = 1.0, shift: float = 0.0) -> torch.Tensor:
        return (torch.randn(*shape, generator=gen) * scale + shift).to(device, dtype)

    softplus = "softplus" in features
    inputs = {
        "u": rand(batch, length, dim),
        "delta": (rand(batch, length, dim, scale=0.7, shift=-0.5) if softplus
                  else rand(batch, length, dim).abs() * 0.3 + 0.01),
        "A": -torch.exp(torch.randn(dim, state, generator=gen) * 0.5).to(device),
        "B": rand(batch, length, groups, state),
        "C": rand(batch, length, groups, state),
        "D": rand(dim) if "D" in features else None,
        "z": rand(batch, length, dim) if "z" in features else None,
        "delta_bias": rand(dim, scale=0.2) if "bias" in features else None,
        "initial_state": (torch.randn(batch, dim, state, generator=gen).to(device)
                          if "h0" in features else None),
    }
    for tensor in inputs.values():
        if tensor is not None:
            tensor.requires_grad_(True)
    return inputs


def run_and_differentiate(scan, inputs: dict, softplus: bool, final: bool, seed: int, **kwargs):
    """(outputs, gradients of every given input) of a random linear loss of the outputs."""
    outputs = scan(**inputs, delta_softplus=softplus, return_final_state=final, **kwargs)
    outputs = outputs if final else (outputs,)
    return outputs, loss_gradients(outputs, inputs, INPUTS, seed + 1)


def compare_with_reference(batch: int, length: int, dim: int, groups: int, state: int,
                           dtype: torch.dtype, features: set[str], seed: int,
                           chunk_size: int | None, segments: int | None = None) -> None:
    inputs = make_inputs(batch, length, dim, groups, state, dtype, DEVICE, features, seed)
    softplus, final = "softplus" in features, "final" in features
    out, grads = run_and_differentiate(sst.selective_scan_triton, inputs, softplus, final, seed,
                                       chunk_size=chunk_size, segments=segments)
    exact = {name: None if t is None else t.detach().double().requires_grad_(True)
             for name, t in inputs.items()}
    ref_out, ref_grads = run_and_differentiate(selective_scan_ref, exact, softplus, final, seed)

    tol = TOLERANCE[dtype]
    assert out[0].dtype == dtype and out[0].shape == (batch, length, dim)
    errors = {f"output {i}": relative_error(o, r) for i, (o, r) in enumerate(zip(out, ref_out))}
    errors |= {f"d{name}": relative_error(grads[name], ref_grads[name]) for name in ref_grads}
    assert all(grads[name].dtype == inputs[name].dtype for name in grads)
    bad = {name: err for name, err in errors.items() if not err <= tol}
    assert not bad, f"relative errors above {tol}: {bad}"


# (length, dim, groups, features): odd lengths across chunk edges, one or several channel
# blocks per group, a group narrower than the channel block, a state size that is not a power
# of two (state = 3), every optional input on and off.
CPU_CASES = [
    (1, 8, 1, set()),
    (37, 8, 2, {"D", "z", "bias", "softplus", "h0", "final"}),
    (37, 8, 1, {"D", "softplus", "final"}),
    (37, 6, 3, {"z", "bias", "h0"}),
    (130, 8, 1, {"bias", "z", "h0", "final"}),
]


@pytest.mark.parametrize("length,dim,groups,features", CPU_CASES)
def test_scan_matches_reference_fp32(length, dim, groups, features):
    compare_with_reference(2, length, dim, groups, 3, torch.float32, features, seed=length + dim,
                           chunk_size=16)


@pytest.mark.parametrize("chunk_size", [4, 8])
def test_scan_matches_reference_across_chunk_sizes(chunk_size):
    """Short and long chunks over 29 steps (a ragged last chunk; chunk 8 runs the backward in
    halves), two channel blocks per group, a state of 5 (8 padded: four states per lane, three
    of them masked in the second lane)."""
    compare_with_reference(1, 29, 16, 2, 5, torch.float32, {"D", "z", "softplus", "h0", "final"},
                           seed=chunk_size, chunk_size=chunk_size)


def test_scan_matches_reference_default_chunk():
    """The default chunk for the state size and call size (32 here), the sequence spanning
    five."""
    compare_with_reference(1, 130, 4, 2, 4, torch.float32, {"D", "z", "softplus", "final"},
                           seed=7, chunk_size=None)


GPU_BLOCKS = sorted({(c["BLOCK_D"], c["N2"]) for c in (*triton_tiles.FORWARD_CONFIGS,
                                                          *triton_tiles.BACKWARD_CONFIGS)})


@pytest.mark.skipif(CUDA, reason="the interpreter's block sizes; the GPU tunes its own")
@pytest.mark.parametrize("block_d,n2", GPU_BLOCKS)
def test_scan_matches_reference_with_each_gpu_block(monkeypatch, block_d, n2):
    """The channel blocks and lanes per channel of every GPU config, under the interpreter
    (which runs them whatever the GPU's warps): two blocks a group, N 16 (the Mamba size), a
    ragged chunk of 16 (the backward in halves); nothing recorded from another block size."""
    monkeypatch.setattr(triton_tiles, "INTERPRETED_BLOCK_D", block_d)
    monkeypatch.setattr(triton_tiles, "INTERPRETED_N2", n2)
    for launch in (sst._FORWARD, sst._BACKWARD, sst._ENDS, sst._ADJOINTS):
        monkeypatch.setattr(launch, "meta", {})
    compare_with_reference(1, 21, 4 * block_d, 2, 16, torch.float32,
                           {"D", "z", "bias", "softplus", "final"}, seed=block_d + n2,
                           chunk_size=16)
    assert {meta["BLOCK_D"] for meta in sst._BACKWARD.meta.values()} == {block_d}


@pytest.mark.skipif(CUDA, reason="the interpreter's block sizes; the GPU tunes its own")
def test_scan_without_vector_step_loads_matches_the_reference(monkeypatch):
    """VECTOR_STEPS = 0, the configs that hide the channels' alignment from the compiler: every
    pass (the segment pre-passes too) over channel blocks of two groups against float64."""
    monkeypatch.setattr(triton_tiles, "INTERPRETED_VECTOR_STEPS", 0)
    for launch in (sst._FORWARD, sst._BACKWARD, sst._ENDS, sst._ADJOINTS):
        monkeypatch.setattr(launch, "meta", {})
    compare_with_reference(2, 75, 16, 2, 16, torch.float32,
                           {"D", "z", "bias", "softplus", "h0", "final"}, seed=3, chunk_size=8,
                           segments=2)
    for launch in (sst._FORWARD, sst._BACKWARD, sst._ENDS, sst._ADJOINTS):
        assert {meta["VECTOR_STEPS"] for meta in launch.meta.values()} == {0}


# (length, segments, features): chunk 8, so 75 steps are 10 chunks, the last ragged: 2 segments
# of 5 chunks, 3 of 4, 4, 2; 33 steps in 5 segments of one chunk, the last a single step.
SEGMENT_CASES = [
    (75, 2, {"D", "z", "bias", "softplus", "h0", "final"}),
    (75, 3, {"z", "softplus", "final"}),
    (33, 5, {"D", "bias", "h0"}),
]


@pytest.mark.parametrize("length,segments,features", SEGMENT_CASES)
def test_scan_matches_reference_in_segments(length, segments, features):
    """The sequence cut into segments scanned side by side: the forward's pre-pass and fold of
    end states, the backward's adjoint pre-pass and fold, partial sums per segment."""
    compare_with_reference(2, length, 8, 2, 3, torch.float32, features, seed=length + segments,
                           chunk_size=8, segments=segments)


def test_segment_count_fills_short_grids_only():
    """Segments only for a grid of fewer channel rows than the policy says, as many as give it
    its wanted rows, each at least the policy's minimum of chunks, and at least its minimum of
    them or none; a forced count is capped at the chunks."""
    policy = SegmentPolicy(wanted_rows=16384, below_rows=4096, min_chunks=8, min_segments=4)
    assert triton_segments.segments_for(2, 2048, 65536, 16, policy) == 1
    assert triton_segments.segments_for(1, 2048, 65536, 16, policy) == 8
    assert triton_segments.segments_for(1, 1536, 2048, 16, policy) == 10
    assert triton_segments.segments_for(1, 2048, 512, 16, policy) == 4
    assert triton_segments.segments_for(1, 2048, 384, 16, policy) == 1
    assert triton_segments.segments_for(1, 64, 1024, 16, policy, forced=1000) == 64


def test_default_policies_cut_batch_one_at_2k_steps():
    """A Mamba layer's batch-1 grid (D 1536, N 16: chunks of 16) is cut in both passes at 2K
    steps, and a plan follows the policies in force when it is made."""
    assert triton_segments.segments_for(1, 1536, 2048, 16, triton_segments.FORWARD) > 1
    assert triton_segments.segments_for(1, 1536, 2048, 16, triton_segments.BACKWARD) > 1
    never = SegmentPolicy(wanted_rows=1, below_rows=1, min_chunks=1, min_segments=1)
    default = triton_segments.scan_plan(1, 1536, 2048, 16, None,
                                        (triton_segments.FORWARD, triton_segments.BACKWARD))
    assert triton_segments.scan_plan(1, 1536, 2048, 16, None, (never, never)) == (1, 1)
    assert default.forward_segments > 1 and default.backward_segments > 1


def read_projections_in_fp32(monkeypatch: pytest.MonkeyPatch, convert: bool) -> None:
    """Make every call convert B and C to fp32 before its kernels (as large calls do), or none
    (as calls too small for the conversion to pay do; every call at the tests' shapes)."""
    monkeypatch.setattr(sst, "HOST_BOUND_ELEMENTS", 0 if convert else 1 << 62)


@pytest.mark.parametrize("convert", [False, True], ids=["bf16-projections", "fp32-projections"])
@pytest.mark.parametrize("length,groups", [(1, 1), (37, 2)])
def test_scan_matches_reference_bf16(length, groups, convert, monkeypatch):
    read_projections_in_fp32(monkeypatch, convert)
    compare_with_reference(2, length, 8, groups, 3, torch.bfloat16,
                           {"D", "z", "bias", "softplus", "h0", "final"}, seed=11, chunk_size=16)


def test_scan_matches_reference_bf16_in_segments(monkeypatch):
    """What a small bf16 call runs on the GPU (batch 1 at 2K steps): segments, and the segment
    pre-passes reading bf16 B (the forward's) and C (the backward's) as they are."""
    read_projections_in_fp32(monkeypatch, False)
    compare_with_reference(1, 75, 8, 2, 3, torch.bfloat16,
                           {"D", "z", "bias", "softplus", "h0", "final"}, seed=7, chunk_size=8,
                           segments=3)


def test_projections_are_converted_only_where_the_conversion_pays():
    """A call of HOST_BOUND_ELEMENTS or more reads B and C converted to fp32; a smaller one
    reads them as they are, with no torch op issued."""
    B = torch.randn(1, 4, 1, 16, dtype=torch.bfloat16)
    assert sst.kernel_projection(B, sst.HOST_BOUND_ELEMENTS - 1) is B
    converted = sst.kernel_projection(B, sst.HOST_BOUND_ELEMENTS)
    assert converted.dtype == torch.float32 and torch.equal(converted, B.float())
    fp32 = B.float()
    assert sst.kernel_projection(fp32, sst.HOST_BOUND_ELEMENTS) is fp32


def test_scan_reads_strided_inputs():
    """u, delta and z as column slices of one projection, B and C of another, A transposed:
    the kernels read (and the backward writes) through the strides, values and gradients."""
    batch, length, dim, groups, state = 2, 21, 8, 2, 3
    gen = torch.Generator(device="cpu").manual_seed(3)
    leaves = [torch.randn(batch, length, 3 * dim, generator=gen).to(DEVICE),
              torch.randn(batch, length, 2 * groups * state + 1, generator=gen).to(DEVICE),
              -torch.exp(torch.randn(state, dim, generator=gen)).to(DEVICE)]

    def run(scan, xz, bc, a_t, **kwargs):
        views = {"u": xz[..., :dim], "delta": xz[..., dim:2 * dim], "z": xz[..., 2 * dim:],
                 "B": bc[..., :groups * state].unflatten(-1, (groups, state)),
                 "C": bc[..., groups * state:-1].unflatten(-1, (groups, state)), "A": a_t.t()}
        assert not any(v.is_contiguous() for v in views.values())
        y = scan(**views, delta_softplus=True, **kwargs)
        weights = torch.linspace(-1, 1, y.numel(), dtype=torch.float64, device=DEVICE)
        loss = (y.double().flatten() * weights).sum()
        return y, torch.autograd.grad(loss, [xz, bc, a_t])

    fast = run(sst.selective_scan_triton, *(t.requires_grad_(True) for t in leaves), chunk_size=16)
    exact = run(selective_scan_ref, *(t.detach().double().requires_grad_(True) for t in leaves))
    assert relative_error(fast[0], exact[0]) <= TOLERANCE[torch.float32]
    for grad, ref in zip(fast[1], exact[1]):
        assert relative_error(grad, ref) <= TOLERANCE[torch.float32]


def test_every_output_element_is_written():
    """Outputs poisoned with NaN before the launch come back finite and right, y before the
    gate (which the backward reads) included."""
    batch, length, dim, groups, state, chunk = 2, 37, 6, 3, 3, 16
    inputs = make_inputs(batch, length, dim, groups, state, torch.float32, DEVICE,
                         {"D", "z", "bias", "h0"}, seed=5)
    x = {k: None if v is None else v.detach() for k, v in inputs.items()}
    n_chunks = -(-length // chunk)

    def poisoned(*shape: int) -> torch.Tensor:
        return torch.full(shape, float("nan"), device=DEVICE)

    y, y_pre, final = (poisoned(batch, length, dim), poisoned(batch, length, dim),
                       poisoned(batch, dim, state))
    checkpoints = poisoned(batch, n_chunks, dim, state)
    sst.scan_forward(x["u"], x["delta"], x["A"], x["B"], x["C"], x["D"], x["z"], x["delta_bias"],
                     True, x["initial_state"], y, final, checkpoints, chunk, y_pre=y_pre)
    partials = poisoned(batch, dim * state + 2 * dim)
    grads = {"u": poisoned(batch, length, dim), "delta": poisoned(batch, length, dim),
             "z": poisoned(batch, length, dim), "initial_state": poisoned(batch, dim, state),
             "B": torch.zeros(batch, length, groups, state, device=DEVICE),
             "C": torch.zeros(batch, length, groups, state, device=DEVICE)}
    dy = torch.randn(batch, length, dim, device=DEVICE)
    dfinal = torch.randn(batch, dim, state, device=DEVICE)
    sst.scan_backward(x["u"], x["delta"], x["A"], x["B"], x["C"], x["D"], x["z"],
                      x["delta_bias"], True, True, checkpoints, dy, dfinal, grads["u"],
                      grads["delta"], grads["z"], grads["B"], grads["C"], partials,
                      grads["initial_state"], chunk, y_pre=y_pre)
    dA, dD, ddelta_bias = partials.split((dim * state, dim, dim), dim=1)
    grads |= {"A": dA.unflatten(1, (dim, state)), "D": dD, "delta_bias": ddelta_bias}

    exact = {k: None if v is None else v.double().requires_grad_(True) for k, v in x.items()}
    ref_y, ref_final = selective_scan_ref(**exact, delta_softplus=True, return_final_state=True)
    ref_grads = torch.autograd.grad((ref_y * dy.double()).sum() + (ref_final * dfinal).sum(),
                                    [exact[name] for name in INPUTS])
    ungated = selective_scan_ref(**(exact | {"z": None}), delta_softplus=True)
    assert relative_error(y, ref_y) <= 1e-4 and relative_error(final, ref_final) <= 1e-4
    assert relative_error(y_pre, ungated) <= 1e-4
    assert torch.isfinite(checkpoints).all()
    for name, ref in zip(INPUTS, ref_grads):
        summed = grads[name].sum(0) if name in ("A", "D", "delta_bias") else grads[name]
        assert relative_error(summed, ref) <= 1e-4, name


def check_state_update(batch: int, dim: int, groups: int, state: int,
                       dtype: torch.dtype) -> None:
    """One decode step into a NaN-poisoned y, against the reference step in float64."""
    gen = torch.Generator(device="cpu").manual_seed(groups + dim)

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen).to(DEVICE, dtype)

    step = {"x": rand(batch, dim), "dt": rand(batch, dim), "A": -torch.rand(dim, state).to(DEVICE),
            "B": rand(batch, groups, state), "C": rand(batch, groups, state), "D": rand(dim),
            "z": rand(batch, dim), "dt_bias": rand(dim)}
    state_fast = torch.randn(batch, dim, state, generator=gen).to(DEVICE)
    state_ref = state_fast.double()
    y_ref = selective_state_update_ref(state_ref, **{k: v.double() for k, v in step.items()},
                                       dt_softplus=True)
    y = torch.full((batch, dim), float("nan"), dtype=dtype, device=DEVICE)
    sst.state_update(state_fast, step["x"], step["dt"], step["A"], step["B"], step["C"],
                     step["D"], step["z"], step["dt_bias"], True, y)
    assert relative_error(y, y_ref) <= TOLERANCE[dtype]
    assert relative_error(state_fast, state_ref) <= 1e-5


@pytest.mark.parametrize("dtype,groups", [(torch.float32, 1), (torch.float32, 2),
                                          (torch.bfloat16, 2)])
def test_state_update_matches_reference(dtype, groups):
    check_state_update(3, 8, groups, 3, dtype)


def test_triton_backend_through_the_dispatcher():
    """backend="triton" runs the kernels (interpreted on the CPU) and agrees with the reference;
    the decode step through the dispatcher equals one step of the scan."""
    inputs = make_inputs(1, 5, 4, 1, 2, torch.float32, DEVICE, {"D", "softplus"}, seed=1)
    x = {k: None if v is None else v.detach() for k, v in inputs.items()}
    y = selective_scan(**x, delta_softplus=True, backend="triton")
    assert relative_error(y, selective_scan_ref(**x, delta_softplus=True)) <= 1e-5
    state = torch.zeros(1, 4, 2, device=DEVICE)
    y0 = selective_state_update(state, x["u"][:, 0], x["delta"][:, 0], x["A"], x["B"][:, 0],
                                x["C"][:, 0], x["D"], dt_softplus=True, backend="triton")
    assert relative_error(y0, y[:, 0]) <= 1e-5


def test_a_gated_backward_needs_y_before_the_gate():
    inputs = make_inputs(1, 8, 4, 1, 2, torch.float32, DEVICE, {"z"}, seed=3)
    x = {k: None if v is None else v.detach() for k, v in inputs.items()}
    empty = torch.empty(1, 8, 4, device=DEVICE)
    with pytest.raises(ValueError, match="needs y_pre"):
        sst.scan_backward(x["u"], x["delta"], x["A"], x["B"], x["C"], None, x["z"], None, False,
                          False, torch.zeros(1, 1, 4, 2, device=DEVICE), empty, None, empty,
                          empty, empty, torch.zeros(1, 8, 1, 2, device=DEVICE),
                          torch.zeros(1, 8, 1, 2, device=DEVICE), torch.empty(1, 16),
                          None, 16)


def test_rejects_inputs_it_cannot_compute():
    inputs = make_inputs(1, 4, 4, 1, 2, torch.float32, DEVICE, set(), seed=2)
    x = {k: None if v is None else v.detach() for k, v in inputs.items()}
    with pytest.raises(ValueError, match="float64"):
        sst.selective_scan_triton(**{k: v.double() for k, v in x.items() if v is not None})
    with pytest.raises(ValueError, match="power of two"):
        sst.selective_scan_triton(**{k: v for k, v in x.items() if v is not None}, chunk_size=24)
    with pytest.raises(ValueError, match="delta"):
        sst.selective_scan_triton(x["u"], x["delta"][:, :2], x["A"], x["B"], x["C"])


# ------------------------------------------------------------------------------------------
# On the GPU, at a training-sized shape
# ------------------------------------------------------------------------------------------

needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("dtype,convert", [(torch.float32, False), (torch.bfloat16, False),
                                           (torch.bfloat16, True)])
@pytest.mark.parametrize("groups", [1, 2])
def test_scan_matches_reference_on_gpu(dtype, convert, groups, monkeypatch):
    read_projections_in_fp32(monkeypatch, convert)
    compare_with_reference(2, 4096, 256, groups, 16, dtype,
                           {"D", "z", "bias", "softplus", "h0", "final"}, seed=groups,
                           chunk_size=None)


@pytest.mark.gpu
@needs_cuda
def test_scan_matches_reference_on_gpu_odd_length_no_options():
    compare_with_reference(2, 1031, 256, 1, 16, torch.float32, set(), seed=4, chunk_size=None)


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_scan_matches_reference_on_gpu_in_default_segments(dtype):
    """One short row: the default cuts 9001 steps (563 chunks of 16) into segments."""
    assert triton_segments.segments_for(1, 128, 9001, 16, triton_segments.FORWARD) > 1
    compare_with_reference(1, 9001, 128, 1, 16, dtype,
                           {"D", "z", "bias", "softplus", "h0", "final"}, seed=9,
                           chunk_size=None)


@pytest.mark.gpu
@needs_cuda
def test_auto_backend_picks_triton_on_gpu():
    inputs = make_inputs(2, 300, 64, 1, 16, torch.bfloat16, "cuda", {"D", "softplus"}, seed=6)
    x = {k: None if v is None else v.detach() for k, v in inputs.items()}
    auto = selective_scan(**x, delta_softplus=True)
    assert torch.equal(auto, sst.selective_scan_triton(**x, delta_softplus=True))


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_state_update_matches_reference_on_gpu(dtype):
    check_state_update(4, 1536, 1, 16, dtype)
