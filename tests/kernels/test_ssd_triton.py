"""The Triton SSD scan (Mamba-2) and its decode step against the plain-torch reference.

Every check compares the output, the final state and every input's gradient with ``ssd_ref``
run in float64 on upcast copies of the same inputs, by ``‖out − ref‖ / ‖ref‖``. Without a GPU the
kernels run in Triton's interpreter (``conftest.py`` sets ``TRITON_INTERPRET=1``) at tiny shapes,
with the GPU's roundings spelled out (bf16 round-to-nearest); the ``gpu`` tests repeat the
comparison at a training-sized shape.
"""

from __future__ import annotations

import contextlib

import pytest
import torch

from tests.kernels.numerics import loss_gradients, poisoned_allocations, relative_error
from tsssm.kernels.ssd import ssd, ssd_state_update
from tsssm.kernels.ssd import triton as ssdt
from tsssm.kernels.ssd import triton_pairs
from tsssm.kernels.ssd.reference import ssd_ref, ssd_state_update_ref
from tsssm.kernels.ssd.triton_chunk_dbc import DBC_CONFIGS
from tsssm.kernels.ssd.triton_chunk_scan import SCAN_CONFIGS, scan_config
from tsssm.kernels.ssd.triton_pairs import PAIR_CONFIGS, chunk_pairs, pair_slots
from tsssm.kernels.ssd.triton_states import OUTER_CONFIGS, pass_states_bwd_kernel
from tsssm.kernels.triton_launch import TunedLaunch

CUDA = torch.cuda.is_available()
DEVICE = "cuda" if CUDA else "cpu"
# fp32: tf32x3 products (about fp32) and fp32 running sums; the decay's gradients (dA, dt_bias)
# sum many terms. bf16: operands of every product rounded to bf16, as on the GPU.
TOLERANCE = {torch.float32: 1e-4, torch.bfloat16: 1e-2}
INPUTS = ("x", "dt", "A", "B", "C", "D", "z", "dt_bias", "initial_state")


def make_inputs(batch: int, length: int, heads: int, groups: int, head_dim: int, state: int,
                dtype: torch.dtype, features: set[str], seed: int,
                device: str = DEVICE) -> dict[str, torch.Tensor | None]:
    """Random inputs of the scan; optional ones only when named in ``features``
    ("D" (H, P), "Dh" (H,), "z", "bias", "softplus", "h0", "steep": A 8 times larger).

    Step sizes ~0.1 to ~2 and A = -exp(N(0, 0.5)): decays from near 1 to near 0 within a chunk,
    so every term of the decay's gradient matters. "steep" takes a chunk's log-decay far below
    -88, where exp of its negative overflows fp32. Never zeros, which hide unwritten outputs.
    """
    gen = torch.Generator(device="cpu").manual_seed(seed)

    def rand(*shape: int, scale: float = 1.0, shift: float = 0.0,
             kind: torch.dtype = dtype) -> torch.Tensor:
        return (torch.randn(*shape, generator=gen) * scale + shift).to(device, kind)

    f32 = torch.float32
    inputs = {
        "x": rand(batch, length, heads, head_dim),
        "dt": (rand(batch, length, heads, scale=0.7, shift=-0.5, kind=f32)
               if "softplus" in features
               else rand(batch, length, heads, kind=f32).abs() * 0.3 + 0.02),
        "A": -torch.exp(rand(heads, scale=0.5, kind=f32)) * (8.0 if "steep" in features else 1.0),
        "B": rand(batch, length, groups, state),
        "C": rand(batch, length, groups, state),
        "D": (rand(heads, head_dim, kind=f32) if "D" in features
              else rand(heads, kind=f32) if "Dh" in features else None),
        "z": rand(batch, length, heads, head_dim) if "z" in features else None,
        "dt_bias": rand(heads, scale=0.2, kind=f32) if "bias" in features else None,
        "initial_state": (rand(batch, heads, head_dim, state, kind=f32) if "h0" in features
                          else None),
    }
    for tensor in inputs.values():
        if tensor is not None:
            tensor.requires_grad_(True)
    return inputs


def run_and_differentiate(scan, inputs: dict, softplus: bool, final: bool, seed: int,
                          chunk_size: int):
    """(outputs, gradients of every given input) of a random linear loss of the outputs."""
    outputs = scan(**inputs, chunk_size=chunk_size, dt_softplus=softplus,
                   return_final_state=final)
    outputs = outputs if final else (outputs,)
    return outputs, loss_gradients(outputs, inputs, INPUTS, seed + 1)


def upcast(inputs: dict) -> dict:
    return {name: None if t is None else t.detach().double().requires_grad_(True)
            for name, t in inputs.items()}


def compare_with_reference(batch: int, length: int, heads: int, groups: int, head_dim: int,
                           state: int, chunk_size: int, dtype: torch.dtype, features: set[str],
                           seed: int, device: str = DEVICE) -> None:
    inputs = make_inputs(batch, length, heads, groups, head_dim, state, dtype, features, seed,
                         device)
    softplus, final = "softplus" in features, "final" in features
    with poisoned_allocations():
        out, grads = run_and_differentiate(ssdt.ssd_triton, inputs, softplus, final, seed,
                                           chunk_size)
    ref_out, ref_grads = run_and_differentiate(ssd_ref, upcast(inputs), softplus, final, seed,
                                               chunk_size)
    assert out[0].dtype == dtype and out[0].shape == (batch, length, heads, head_dim)
    if final:
        assert out[1].dtype == torch.float32 and out[1].shape == (batch, heads, head_dim, state)
    assert all(grads[name].dtype == inputs[name].dtype for name in grads)
    assert all(grads[name].shape == inputs[name].shape for name in grads)
    errors = {("y", "final state")[i]: relative_error(o, r)
              for i, (o, r) in enumerate(zip(out, ref_out))}
    errors |= {f"d{name}": relative_error(grads[name], ref_grads[name]) for name in ref_grads}
    tol = TOLERANCE[dtype]
    bad = {name: err for name, err in errors.items() if not err <= tol}
    assert not bad, f"relative errors above {tol}: {bad}"


# (length, heads, groups, P, N, chunk, features): lengths across chunk edges and shorter than
# a chunk, a whole number of chunks, P and N not powers of two, one head per group and several
# (three: dB/dC take two per pass in the interpreter, so a full pass and a partial one), every
# option on and off, D of both shapes.
CPU_CASES = [
    (37, 4, 2, 16, 16, 16, {"D", "z", "bias", "softplus", "h0", "final"}),
    (9, 2, 1, 16, 16, 16, {"Dh"}),
    (40, 2, 1, 24, 40, 32, {"z", "softplus", "final"}),
    (64, 2, 2, 16, 16, 32, {"bias", "h0", "Dh"}),
    (26, 6, 2, 16, 24, 16, {"D", "h0", "final"}),
]


@pytest.mark.parametrize("length,heads,groups,head_dim,state,chunk,features", CPU_CASES)
def test_scan_matches_reference_fp32(length, heads, groups, head_dim, state, chunk, features):
    compare_with_reference(2, length, heads, groups, head_dim, state, chunk, torch.float32,
                           features, seed=length + heads)


@pytest.mark.parametrize("length,heads,groups,head_dim,state,chunk,features",
                         [CPU_CASES[0], CPU_CASES[2]])
def test_scan_matches_reference_bf16(length, heads, groups, head_dim, state, chunk, features):
    compare_with_reference(1, length, heads, groups, head_dim, state, chunk, torch.bfloat16,
                           features, seed=3 * length)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("length,heads,groups,head_dim,state,chunk,features", CPU_CASES)
def test_scan_reading_the_chunk_products_matches_reference(length, heads, groups, head_dim,
                                                           state, chunk, features, dtype):
    """y and dx from C·B computed once per (batch, chunk, group) (``triton_gram.py``, on the GPU
    from N = GRAM_MIN_STATE up), forced at the tests' small N."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ssdt, "GRAM_MIN_STATE", 1)
        compare_with_reference(1, length, heads, groups, head_dim, state, chunk, dtype, features,
                               seed=length + heads if dtype == torch.float32 else 3 * length)


# Each autotuned kernel's launch and the block sizes it may run with on the GPU. The interpreter
# runs only the small ``*_INTERPRETED`` configs unless a test forces these.
GPU_CONFIGS = {
    ssdt._OUTER: OUTER_CONFIGS,
    ssdt._SCAN_FWD: SCAN_CONFIGS,
    ssdt._SCAN_DX: SCAN_CONFIGS,
    triton_pairs._PAIRS: PAIR_CONFIGS,
    ssdt._DBC: DBC_CONFIGS,
}
RAGGED_CHUNK, RAGGED_HEADS, RAGGED_HEAD_DIM, RAGGED_STATE = 128, 2, 16, 32


def force_configs(patch: pytest.MonkeyPatch, launch: TunedLaunch, configs: list) -> None:
    """Make ``launch``'s autotuner choose among ``configs``, with nothing recorded: a key
    launched before would keep the config (and on a GPU the compiled kernel) recorded for it."""
    patch.setattr(launch.kernel, "configs", configs)
    patch.setattr(launch, "meta", {})
    patch.setattr(launch, "compiled", {})


@pytest.mark.parametrize("block_s", [16, 32])
@pytest.mark.parametrize("heads_per_program", [1, 2, 4])
@pytest.mark.parametrize("heads,groups", [(5, 1), (6, 2)])
def test_scan_with_several_heads_per_program(heads, groups, heads_per_program, block_s):
    """y and dx from programs of 1, 2 or 4 heads of a group sharing its C·B tiles and C rows,
    where the program's heads divide the group's and where they do not (5 and 3 heads a
    group: the last program of a group holds fewer); both kernels record the config forced.
    Step blocks as wide as the gram's tiles (16 in the interpreter) read its pairs unmasked,
    wider ones mask them (``GRAM_TILE``)."""
    config = [scan_config(16, block_s, heads=heads_per_program)]
    launches = (ssdt._SCAN_FWD, ssdt._SCAN_DX)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ssdt, "GRAM_MIN_STATE", 1)
        for launch in launches:
            force_configs(patch, launch, config)
        compare_with_reference(2, 100, heads, groups, 16, 24, 64, torch.float32,
                               {"D", "z", "bias", "h0", "final"}, seed=heads + heads_per_program)
        assert all(meta["HEADS_PER_PROGRAM"] == heads_per_program
                   for launch in launches for meta in launch.meta.values())


@contextlib.contextmanager
def gpu_configs(index: int):
    """Every autotuned kernel runs its ``index``-th GPU config (cycling through shorter lists),
    its blocks capped by the kernel's own pruner as the GPU's autotuner caps them."""
    shape = {"CHUNK": RAGGED_CHUNK, "P": RAGGED_HEAD_DIM, "N": RAGGED_STATE,
             "heads_per_group": RAGGED_HEADS}
    with pytest.MonkeyPatch.context() as patch:
        for launch, configs in GPU_CONFIGS.items():
            config = configs[index % len(configs)]
            force_configs(patch, launch, launch.kernel.early_config_prune([config], shape))
        yield


@pytest.mark.parametrize("gram", [False, True])
@pytest.mark.parametrize("index", range(max(len(c) for c in GPU_CONFIGS.values())))
def test_ragged_steep_chunk_under_every_gpu_config(index, gram):
    """A ragged last chunk (L = 1.625 chunks) whose log-decay runs far below -88, under
    the block sizes the GPU's autotuner may pick (each launch records the one forced), with C·B
    multiplied in each head or read from ``triton_gram.py``: row tiles past the chunk's end,
    partly and wholly, must not turn exp overflow into NaN (L 4000, chunk 256 did on the
    H100)."""
    with gpu_configs(index), pytest.MonkeyPatch.context() as patch:
        patch.setattr(ssdt, "GRAM_MIN_STATE", 1 if gram else ssdt.MAX_DIM + 1)
        compare_with_reference(1, RAGGED_CHUNK + 80, RAGGED_HEADS, 1, RAGGED_HEAD_DIM, RAGGED_STATE,
                               RAGGED_CHUNK, torch.float32, {"Dh", "steep"}, seed=11)
        for launch in GPU_CONFIGS:
            forced = launch.kernel.configs[0].kwargs.items()
            assert launch.meta and all(meta.items() >= forced for meta in launch.meta.values())


@pytest.mark.parametrize("index", range(max(len(c) for c in GPU_CONFIGS.values())))
def test_whole_chunks_under_every_gpu_config(index):
    """Whole chunks (L two chunks: the kernels drop their row and step masks, ``in_chunk``),
    C·B read from ``triton_gram.py``, under the block sizes the GPU's autotuner may pick: among
    them chunk_outer's tiles narrower in P than in N, which weight x's tile, not B's."""
    with gpu_configs(index), pytest.MonkeyPatch.context() as patch:
        patch.setattr(ssdt, "GRAM_MIN_STATE", 1)
        compare_with_reference(1, 2 * RAGGED_CHUNK, RAGGED_HEADS, 1, RAGGED_HEAD_DIM,
                               RAGGED_STATE, RAGGED_CHUNK, torch.float32, {"D", "z", "bias"},
                               seed=12)


def test_scan_reads_strided_inputs():
    """x, z, B, C and dt as views into one projection (as a Mamba-2 layer makes them), and a
    stride-0 output gradient (from ``y.sum()``)."""
    batch, length, heads, head_dim, state = 2, 21, 2, 16, 16
    gen = torch.Generator().manual_seed(5)
    width = 2 * heads * head_dim + 2 * state + heads
    proj = torch.randn(batch, length, width, generator=gen)
    z, x, B, C, dt = torch.split(proj, [heads * head_dim, heads * head_dim, state, state, heads],
                                 dim=-1)
    inputs = {"x": x.unflatten(-1, (heads, head_dim)), "z": z.unflatten(-1, (heads, head_dim)),
              "B": B.unflatten(-1, (1, state)), "C": C.unflatten(-1, (1, state)), "dt": dt,
              "A": -torch.rand(heads, generator=gen) - 0.3,
              "dt_bias": torch.randn(heads, generator=gen) * 0.2}
    assert not inputs["x"].is_contiguous() and not inputs["dt"].is_contiguous()
    inputs = {k: v.to(DEVICE).requires_grad_(True) for k, v in inputs.items()}
    exact = upcast(inputs)
    results = []
    for scan, args in ((ssdt.ssd_triton, inputs), (ssd_ref, exact)):
        y = scan(**args, chunk_size=16, dt_softplus=True)
        grads = torch.autograd.grad(y.sum(), list(args.values()))
        results.append((y, grads))
    (y, grads), (ref_y, ref_grads) = results
    assert relative_error(y, ref_y) <= TOLERANCE[torch.float32]
    for name, g, r in zip(inputs, grads, ref_grads):
        assert relative_error(g, r) <= TOLERANCE[torch.float32], name


def test_final_state_alone_carries_gradient():
    """A loss on the final state only (y unused) reaches every input the state depends on
    (C only shapes y: its gradient is zero)."""
    inputs = make_inputs(1, 20, 2, 1, 16, 16, torch.float32, {"h0"}, seed=9)
    given = [n for n in INPUTS if inputs[n] is not None]
    results = []
    for scan, args in ((ssdt.ssd_triton, inputs), (ssd_ref, upcast(inputs))):
        _, final = scan(**args, chunk_size=16, return_final_state=True)
        grads = torch.autograd.grad(final.double().square().sum(), [args[n] for n in given],
                                    allow_unused=True)
        results.append([torch.zeros_like(args[n]) if g is None else g
                        for n, g in zip(given, grads)])
    for name, g, r in zip(given, *results):
        assert relative_error(g, r) <= TOLERANCE[torch.float32], name
    assert results[0][given.index("C")].abs().max() == 0



@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_entering_states_in_a_narrower_dtype_are_the_fp32_ones_rounded(dtype):
    """The forward's pass writes the states entering each chunk in x's dtype: the fp32 states
    (h_{c-1}, summed here in float64) rounded to nearest, and the same fp32 final state."""
    gen = torch.Generator().manual_seed(4)
    n_chunks, heads, head_dim, state, chunk = 3, 2, 16, 24, 16
    built = torch.randn(n_chunks, 1, heads, head_dim, state, generator=gen).to(DEVICE)
    cs = (-torch.rand(1, heads, n_chunks, chunk, generator=gen)).cumsum(-1).to(DEVICE)
    init = torch.randn(1, heads, head_dim, state, generator=gen).to(DEVICE)
    exact, h = [], init.double()
    for c in range(n_chunks):
        exact.append(h)
        h = torch.exp(cs[:, :, c, -1].double())[..., None, None] * h + built[c].double()
    in_place, final = built.clone(), torch.empty_like(init)
    ssdt._pass_states(in_place, cs, init, final)
    narrow = torch.empty(built.shape, dtype=dtype, device=DEVICE)
    narrow_final = torch.empty_like(init)
    returned = ssdt._pass_states(built.clone(), cs, init, narrow_final, narrow)
    assert relative_error(in_place, torch.stack(exact)) <= 1e-6
    assert relative_error(final, h) <= 1e-6
    assert returned is narrow
    assert torch.equal(narrow, in_place.to(dtype))
    assert torch.equal(narrow_final, final)


@pytest.mark.parametrize("gram", [False, True])
def test_pair_tiles_and_their_decay_terms(gram):
    """``chunk_pairs`` against float64: the group's tile sum_h M^h (M^h_ij = exp(cs_i - cs_j)
    dt_j dy_i · x_j, j <= i) and, added over its slots, each head's row sums minus column sums
    of M^h ⊙ (C·B); every slot written at every step. Three heads per group, two groups, a
    ragged second chunk; two tiles per chunk in the interpreter (16-step tiles), one on the GPU."""
    batch, length, heads, groups, head_dim, state, chunk = 2, 40, 6, 2, 16, 24, 32
    inputs = make_inputs(batch, length, heads, groups, head_dim, state, torch.float32, set(),
                         seed=12)
    x, B, C = (inputs[name].detach() for name in ("x", "B", "C"))
    dy = torch.randn(x.shape, generator=torch.Generator().manual_seed(13)).to(DEVICE)
    dt_eff, cs = ssdt._dt_cumsum(inputs["dt"].detach(), inputs["A"].detach(), None, False, chunk)
    n_chunks = cs.shape[2]
    products = (ssdt.chunk_products(B, C, n_chunks, chunk, ssdt.DOT_DTYPES[x.dtype]) if gram
                else None)
    with poisoned_allocations():
        terms = torch.empty(pair_slots(chunk), *cs.shape, device=DEVICE)
        pairs, used = chunk_pairs(dy, x, B, C, cs, dt_eff, products, terms,
                                  ssdt.DOT_DTYPES[x.dtype])
    tiles = {config.kwargs["BLOCK"] for config in [*PAIR_CONFIGS, triton_pairs.PAIR_INTERPRETED]}
    assert chunk // used in tiles and torch.isfinite(terms[:used]).all()

    def by_chunk(t: torch.Tensor) -> torch.Tensor:
        """(b, L, ...) -> (b, nc, chunk, ...) float64, zero past L."""
        padded = torch.zeros(batch, n_chunks * chunk, *t.shape[2:], dtype=torch.float64)
        padded[:, :length] = t.double().cpu()
        return padded.unflatten(1, (n_chunks, chunk))

    dy64, x64, B64, C64 = by_chunk(dy), by_chunk(x), by_chunk(B), by_chunk(C)
    cs64, dt64 = cs.double().cpu(), dt_eff.double().cpu()  # (b, H, nc, chunk)
    steps = torch.arange(n_chunks * chunk).view(n_chunks, chunk)
    valid = steps < length
    causal = (torch.tril(torch.ones(chunk, chunk, dtype=torch.bool))
              & valid[:, :, None] & valid[:, None, :])  # (nc, i, j)
    decay = torch.exp((cs64[..., :, None] - cs64[..., None, :]).masked_fill(~causal, -torch.inf))
    M = (decay * dt64[..., None, :]
         * torch.einsum("bcihp,bcjhp->bhcij", dy64, x64))  # (b, H, nc, i, j)
    per_group = heads // groups
    exact_pairs = M.unflatten(1, (groups, per_group)).sum(2).transpose(1, 2)  # (b, nc, G, i, j)
    gram64 = torch.einsum("bcign,bcjgn->bgcij", C64, B64).repeat_interleave(per_group, dim=1)
    weighted = M * gram64
    exact_terms = weighted.sum(-1) - weighted.sum(-2)  # (b, H, nc, chunk)
    written = causal.any(0)  # the causal triangle, unmasked by raggedness
    assert relative_error(pairs.double().cpu()[..., written],
                          exact_pairs[..., written]) <= 1e-5
    assert relative_error(terms[:used].sum(0).double().cpu(), exact_terms) <= 1e-5


@pytest.mark.parametrize("n_chunks", [1, 3, ssdt.PASS_GROUP, 2 * ssdt.PASS_GROUP + 4])
def test_state_gradients_along_the_chunks(n_chunks):
    """The backward's pass against a float64 recursion: dh_c, the gradient of the initial state
    and dlast = sum(dh_c ⊙ decay_c h_{c-1}); dh written in bf16 is the fp32 one rounded to
    nearest. One chunk (the top chunk's dh is dfinal, the group's scan gives dinit alone), fewer
    than the pass loads at once, exactly one group, and several groups, the last ragged."""
    gen = torch.Generator().manual_seed(6)
    heads, head_dim, state, chunk = 2, 16, 24, 16
    shape = (n_chunks, 1, heads, head_dim, state)
    from_outputs = torch.randn(*shape, generator=gen).to(DEVICE)
    entering = torch.randn(*shape, generator=gen).to(DEVICE)
    cs = (-torch.rand(1, heads, n_chunks, chunk, generator=gen)).cumsum(-1).to(DEVICE)
    dfinal = torch.randn(1, heads, head_dim, state, generator=gen).to(DEVICE)
    pn = head_dim * state
    block = ssdt._pass_block(pn)
    n_blocks = -(-pn // block)

    def backward_pass(dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
        dh = torch.empty(shape, dtype=dtype, device=DEVICE)
        dinit = torch.empty_like(dfinal)
        dlast = torch.empty(n_blocks, 1, heads, n_chunks, device=DEVICE)
        pass_states_bwd_kernel[(n_blocks, heads)](
            from_outputs, dh, entering, cs, dfinal, dinit, dlast, 1, heads, n_chunks, pn,
            CHUNK=chunk, INTERPRETED=ssdt.INTERPRETED, BLOCK=block, GROUP=ssdt.PASS_GROUP,
            num_warps=ssdt.PASS_WARPS)
        return dh, dinit, dlast.sum(0)

    grad, exact_dh, exact_dlast = dfinal.double(), [None] * n_chunks, [None] * n_chunks
    for c in reversed(range(n_chunks)):
        decay = torch.exp(cs[:, :, c, -1].double())[..., None, None]
        exact_dh[c] = grad
        exact_dlast[c] = (grad * decay * entering[c].double()).sum(dim=(-1, -2))
        grad = decay * grad + from_outputs[c].double()
    dh, dinit, dlast = backward_pass(torch.float32)
    assert relative_error(dh, torch.stack(exact_dh)) <= 1e-6
    assert relative_error(dinit, grad) <= 1e-6
    assert relative_error(dlast, torch.stack(exact_dlast, dim=-1)) <= 1e-6
    narrow, narrow_dinit, narrow_dlast = backward_pass(torch.bfloat16)
    assert torch.equal(narrow, dh.to(torch.bfloat16))
    assert torch.equal(narrow_dinit, dinit)
    # dlast's sums over the state are compiled anew for each dh dtype, so on a GPU their fp32
    # rounding may differ between the two kernels in the last bits: float64 judges both.
    assert relative_error(narrow_dlast, torch.stack(exact_dlast, dim=-1)) <= 1e-6


def make_step_inputs(batch: int, heads: int, groups: int, head_dim: int, state: int,
                     dtype: torch.dtype, seed: int, device: str = DEVICE) -> dict:
    gen = torch.Generator(device="cpu").manual_seed(seed)

    def rand(*shape: int, kind: torch.dtype = dtype) -> torch.Tensor:
        return torch.randn(*shape, generator=gen).to(device, kind)

    f32 = torch.float32
    return {"state": rand(batch, heads, head_dim, state, kind=f32),
            "x": rand(batch, heads, head_dim),
            "dt": rand(batch, heads, kind=f32), "A": -torch.exp(rand(heads, kind=f32) * 0.5),
            "B": rand(batch, groups, state), "C": rand(batch, groups, state),
            "D": rand(heads, head_dim, kind=f32), "z": rand(batch, heads, head_dim),
            "dt_bias": rand(heads, kind=f32) * 0.2}


def compare_step_with_reference(batch: int, heads: int, groups: int, head_dim: int, state: int,
                                dtype: torch.dtype, device: str = DEVICE) -> None:
    inputs = make_step_inputs(batch, heads, groups, head_dim, state, dtype, seed=heads + groups,
                              device=device)
    exact = {name: t.double() for name, t in inputs.items()}
    with poisoned_allocations():
        y = ssdt.ssd_state_update_triton(**inputs, dt_softplus=True)
    ref_y = ssd_state_update_ref(**exact, dt_softplus=True)
    assert y.dtype == dtype and y.shape == (batch, heads, head_dim)
    assert relative_error(y, ref_y) <= TOLERANCE[dtype]
    assert relative_error(inputs["state"], exact["state"]) <= TOLERANCE[torch.float32]


@pytest.mark.parametrize("dtype,groups", [(torch.float32, 1), (torch.float32, 2),
                                          (torch.bfloat16, 2)])
def test_state_update_matches_reference(dtype, groups):
    compare_step_with_reference(2, 4, groups, 24, 20, dtype)


def test_state_update_steps_reproduce_the_scan():
    """Stepping the decode kernel through a sequence gives the scan's outputs and final state."""
    inputs = make_inputs(1, 12, 2, 2, 16, 16, torch.float32, {"D", "z", "bias", "softplus", "h0"},
                         seed=4)
    inputs = {k: None if v is None else v.detach() for k, v in inputs.items()}
    y, final = ssdt.ssd_triton(**inputs, chunk_size=16, dt_softplus=True, return_final_state=True)
    state = inputs["initial_state"].clone()
    steps = [ssdt.ssd_state_update_triton(state, inputs["x"][:, t], inputs["dt"][:, t],
                                          inputs["A"], inputs["B"][:, t], inputs["C"][:, t],
                                          inputs["D"], inputs["z"][:, t], inputs["dt_bias"], True)
             for t in range(12)]
    assert relative_error(torch.stack(steps, dim=1), y) <= TOLERANCE[torch.float32]
    assert relative_error(state, final) <= TOLERANCE[torch.float32]


def test_triton_backend_through_the_dispatcher():
    """backend="triton" runs the kernels (bit for bit); on the CPU "auto" stays on the reference."""
    inputs = make_inputs(1, 20, 2, 1, 16, 16, torch.float32, {"D", "z"}, seed=2)
    inputs = {k: None if v is None else v.detach() for k, v in inputs.items()}
    direct = ssdt.ssd_triton(**inputs, chunk_size=16)
    assert torch.equal(ssd(**inputs, chunk_size=16, backend="triton"), direct)
    if not CUDA:
        assert torch.equal(ssd(**inputs, chunk_size=16),
                           ssd_ref(**inputs, chunk_size=16))
    step = make_step_inputs(1, 2, 1, 16, 16, torch.float32, seed=3)
    state = step["state"].clone()
    y = ssd_state_update(**step, backend="triton")
    assert torch.equal(y, ssdt.ssd_state_update_triton(**{**step, "state": state}))


def test_rejects_inputs_it_cannot_compute():
    inputs = make_inputs(1, 8, 2, 1, 16, 16, torch.float32, set(), seed=1)
    inputs = {k: v.detach() for k, v in inputs.items() if v is not None}
    with pytest.raises(ValueError, match="chunk_size must be a power of two"):
        ssdt.ssd_triton(**inputs, chunk_size=24)
    with pytest.raises(ValueError, match="B must have x's dtype"):
        ssdt.ssd_triton(**{**inputs, "B": inputs["B"].bfloat16()}, chunk_size=16)
    with pytest.raises(ValueError, match="float64 runs on backend='reference'"):
        ssdt.ssd_triton(**{k: v.double() for k, v in inputs.items()}, chunk_size=16)
    with pytest.raises(ValueError, match="x must have 4 dims"):
        ssdt.ssd_triton(**{**inputs, "x": inputs["x"][0]}, chunk_size=16)
    step = make_step_inputs(1, 2, 1, 16, 16, torch.float32, seed=3)
    with pytest.raises(ValueError, match="no backward"):
        ssdt.ssd_state_update_triton(**{**step, "x": step["x"].requires_grad_(True)})


needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("groups", [1, 2])
def test_scan_matches_reference_on_gpu(dtype, groups):
    """Batch 2, L 4096, 8 heads × 64, N 64, every option, chunk 64 (the default)."""
    compare_with_reference(2, 4096, 8, groups, 64, 64, 64, dtype,
                           {"D", "z", "bias", "softplus", "h0", "final"}, seed=groups,
                           device="cuda")


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_scan_matches_reference_on_gpu_ragged_chunk_256(dtype):
    """A length that is not a multiple of the chunk (256, the throughput setting), no options."""
    compare_with_reference(2, 4000, 8, 1, 64, 64, 256, dtype, {"Dh"}, seed=7, device="cuda")


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("state", [128, 16])
def test_scan_matches_reference_on_gpu_with_chained_states(dtype, state):
    """Batch · heads past ``CHAIN_MIN_SEQUENCES`` (8 × 24 heads of 64, chunk 256, as the
    side-by-side benchmark's B8 rows), so the states come from ``chain_states_kernel``, whose
    autotuner launches every config at N 128 and at N 16 (tiles capped to 16) before it keeps
    one; a ragged last chunk, every option."""
    assert 8 * 24 >= ssdt.CHAIN_MIN_SEQUENCES
    compare_with_reference(8, 1000, 24, 1, 64, state, 256, dtype,
                           {"D", "z", "bias", "softplus", "h0", "final"}, seed=9, device="cuda")
    assert ssdt._CHAIN.meta

@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("length", [42, 128])
def test_scan_matches_reference_on_gpu_with_16_wide_states(dtype, length):
    """Linear attention's shape on a forecaster's patches: N 16, P 17 (values and the
    normaliser's column), one group per head, shorter than a chunk and two whole chunks."""
    compare_with_reference(2, length, 4, 4, 17, 16, 64, dtype, set(), seed=3, device="cuda")


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("length", [63, 64])
def test_scan_matches_reference_on_gpu_with_16_wide_heads(dtype, length):
    """Mamba-2's forecaster at width 32: 4 heads of P 16, N 32, one group, about one chunk of
    patches, a channel-independent batch of 224 (an illegal address on the GPU in a search)."""
    compare_with_reference(224, length, 4, 1, 16, 32, 64, dtype, {"Dh", "bias", "softplus"},
                           seed=5, device="cuda")


@pytest.mark.gpu
@needs_cuda
def test_auto_backend_picks_triton_on_gpu():
    inputs = make_inputs(2, 300, 4, 1, 64, 64, torch.bfloat16, {"D"}, seed=8, device="cuda")
    inputs = {k: None if v is None else v.detach() for k, v in inputs.items()}
    assert torch.equal(ssd(**inputs), ssdt.ssd_triton(**inputs))


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_state_update_matches_reference_on_gpu(dtype):
    compare_step_with_reference(2, 8, 2, 64, 64, dtype, device="cuda")


@pytest.mark.skipif(CUDA, reason="the interpreter's launch; the GPU runs it in every scan test")
@pytest.mark.parametrize("n_chunks", [1, ssdt.PASS_GROUP, 2 * ssdt.PASS_GROUP + 4])
@pytest.mark.parametrize("in_place", [False, True])
def test_state_pass_over_groups_of_chunks_matches_a_loop(n_chunks, in_place):
    """The state pass loads PASS_GROUP chunks at a time: chunk counts below, at and across its
    multiples (a ragged last group), two blocks of the state, in place (as the backward
    recomputes) or into a bf16 buffer (as the forward keeps them), against the recurrence."""
    gen = torch.Generator().manual_seed(n_chunks)
    batch, heads, head_dim, state_dim, chunk = 2, 3, 16, 32, 16
    states = torch.randn(n_chunks, batch, heads, head_dim, state_dim, generator=gen)
    cs = -(torch.rand(batch, heads, n_chunks, chunk, generator=gen) * 0.2).cumsum(-1)
    init = torch.randn(batch, heads, head_dim, state_dim, generator=gen)
    final = torch.empty_like(init)
    expected, h = [], init.clone()
    for c in range(n_chunks):
        expected.append(h.clone())
        h = torch.exp(cs[:, :, c, -1])[..., None, None] * h + states[c]
    into = None if in_place else torch.empty(states.shape, dtype=torch.bfloat16)
    entering = ssdt._pass_states(states.clone(), cs, init, final, into)
    tolerance = dict(rtol=1e-5, atol=1e-5) if in_place else dict(rtol=8e-3, atol=8e-3)
    torch.testing.assert_close(entering.float(), torch.stack(expected), **tolerance)
    torch.testing.assert_close(final, h, rtol=1e-5, atol=1e-5)
