"""What every kernel of the selective scan shares: the tile a program holds, the math of one
chunk on it, and the block shapes that size it.

**The tile.** A program owns one batch row and ``BLOCK_D`` channels of one group and holds a
``CHUNK``-step slice of the scan as 4-D tensors ``(CHUNK, N1, BLOCK_D, N2)``: the state index is
split as ``n = n2 · N1 + n1``. Triton's default layout gives the trailing axes to the lanes and
warps (``N2`` lanes per channel, the channels across the remaining lanes and the warps) and
keeps the leading ones in each thread's registers: every thread holds ``N1`` neighbouring
states of one channel (more with ``BLOCK_D`` wider than its lanes and warps) for all ``CHUNK``
steps. So the scan over time is a sequential loop of fused multiply-adds in registers (no
shuffles), a sum over the state takes ``N1 − 1`` in-thread additions and ``log2 N2`` shuffle
rounds, and a thread's work per step is ``N1`` independent recurrences.

The price of the layout: every thread reads its own copy of the chunk's B and C (``N1`` values
per step) and of its channel's u and Δ from shared memory, about 2.5 values per element at
N2 = 4, which makes shared-memory bandwidth a limit of the forward beside the exponentials
(``exp2``, one per element) and the issue slots (profiles: ``docs/benchmarks/``).

State-shaped tensors (``A``, the carried state, checkpoints) are ``(N1, BLOCK_D, N2)``; step
tensors (u, Δ, z, y) ``(CHUNK, BLOCK_D)``; B and C ``(CHUNK, N1, N2)``.

**The chunk.** Every pass over a chunk (forward, backward, the segment pre-passes) reads its
inputs with ``chunk_inputs``, builds its states with ``chunk_states`` and runs the adjoint with
``adjoint_scan``.

**Block shapes.** A config sets ``BLOCK_D`` (channels per program), ``N2`` (lanes per channel;
each thread holds ``N / N2`` states), ``num_warps``, ``STAGES`` (chunks in flight in the
pipelined loop), in the backward ``SPLIT`` (sub-chunks per checkpointed chunk,
``triton_backward``), and ``VECTOR_STEPS`` (1 unless a config says 0: whether the step tiles
may load as 16-byte vectors, ``channel_block``). The lanes and warps must all go to the channel
and state axes, ``BLOCK_D ≥ (32 / N2) · num_warps``, or Triton would spread the time axis over
lanes and the in-register scan would become a shuffle scan; configs that break this for the
call's sizes are dropped. The configs trade the reductions over the state (``log2 N2`` shuffle
rounds per ``N / N2`` states) against parallelism: B4 · D1536 channels at N2 = 4 make 768 warps,
fewer than 6 per SM.
"""

from __future__ import annotations

import triton
import triton.language as tl

from tsssm.kernels.triton_common import (INTERPRETED, compose, kept_autotune, next_power_of_2,
                                         softplus)


@triton.jit
def step_sizes(v, bias, mask, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr):
    """(Δ, δ + bias) for raw step sizes ``v``; Δ = 0 where masked: a step that changes
    nothing."""
    if HAS_BIAS:
        v += bias
    dt = v
    if SOFTPLUS:
        dt = softplus(v)
    return tl.where(mask, dt, 0.0), v


@triton.jit
def channel_block(chans_per_group, BLOCK_D: tl.constexpr, EVEN_D: tl.constexpr,
                  VECTOR_STEPS: tl.constexpr):
    """This program's batch row, group and channels: (b, g, d (BLOCK_D,), d_mask).

    Grid (batch, G · cdiv(D/G, BLOCK_D)); a block never spans two groups. Without
    ``VECTOR_STEPS`` the group width gets the grid's third index added, always 0 but unknown
    to the compiler: the channels' offsets then have no known alignment, and the step tiles
    (u, Δ, z, y, …) are loaded in the layout the scan computes in, element by element, rather
    than in 16-byte vectors and converted through shared memory (what a group width divisible
    by 16 otherwise lets Triton do; ``docs/benchmarks/`` counts both)."""
    if not VECTOR_STEPS:
        chans_per_group += tl.program_id(2)
    blocks_per_group = tl.cdiv(chans_per_group, BLOCK_D)
    pid = tl.program_id(1)
    g = pid // blocks_per_group
    in_group = (pid % blocks_per_group) * BLOCK_D + tl.arange(0, BLOCK_D)
    d_mask = below(in_group, chans_per_group, EVEN_D)
    b = tl.program_id(0).to(tl.int64)
    return b, g, g * chans_per_group + in_group, d_mask


@triton.jit
def below(index, bound, ALL_BELOW: tl.constexpr):
    """``index < bound``: which of a block's channels exist, or which rows of a chunk are steps
    of the sequence. A constant (which masked loads fold away) when the caller knows they all are:
    the block size divides the group, or the chunk lies wholly inside the sequence."""
    if ALL_BELOW:
        mask = tl.full(index.shape, 1, tl.int1)
    else:
        mask = index < bound
    return mask


@triton.jit
def state_index(d, d_mask, DSTATE: tl.constexpr, N1: tl.constexpr, N2: tl.constexpr):
    """State index n (N1, N2) of the tile, and the (N1, BLOCK_D, N2) mask of real states."""
    n = tl.arange(0, N1)[:, None] + tl.arange(0, N2)[None, :] * N1
    return n, (n < DSTATE)[:, None, :] & d_mask[None, :, None]


@triton.jit
def load_state(ptr, s_d, s_n, d, n, mask):
    """A (N1, BLOCK_D, N2) fp32 state tile of a (D, N) slice, zero where masked."""
    return tl.load(ptr + d[None, :, None] * s_d + n[:, None, :] * s_n, mask=mask,
                   other=0.0).to(tl.float32)


@triton.jit
def load_steps(ptr, rows, s_l, d, s_d, mask):
    """A (CHUNK, BLOCK_D) fp32 tile of a (L, D) slice, zero where masked."""
    return tl.load(ptr + rows[:, None] * s_l + d[None, :] * s_d, mask=mask,
                   other=0.0).to(tl.float32)


@triton.jit
def store_steps(ptr, rows, s_l, d, s_d, value, mask):
    """Store a (CHUNK, BLOCK_D) tile into a (L, D) slice, cast to its dtype."""
    tl.store(ptr + rows[:, None] * s_l + d[None, :] * s_d, value.to(ptr.dtype.element_ty),
             mask=mask)


@triton.jit
def load_proj(ptr, rows, s_l, n, s_n, row_mask, DSTATE: tl.constexpr):
    """A (CHUNK, N1, N2) fp32 tile of B or C (one group's (L, N) slice), zero where masked."""
    mask = row_mask[:, None, None] & (n < DSTATE)[None, :, :]
    return tl.load(ptr + rows[:, None, None] * s_l + n[None, :, :] * s_n, mask=mask,
                   other=0.0).to(tl.float32)


@triton.jit
def steps4(v):
    """A (CHUNK, BLOCK_D) step tensor broadcast against (CHUNK, N1, BLOCK_D, N2) tiles."""
    return v[:, None, :, None]


@triton.jit
def proj4(v):
    """A (CHUNK, N1, N2) B or C tile broadcast against (CHUNK, N1, BLOCK_D, N2) tiles."""
    return v[:, :, None, :]


@triton.jit
def state_sum(x):
    """Σ_n of a (CHUNK, N1, BLOCK_D, N2) tile: (CHUNK, BLOCK_D), in-thread axis first."""
    return tl.sum(tl.sum(x, axis=1), axis=2)


@triton.jit
def row(x, rows, index):
    """Row ``index`` of a (CHUNK, ...) tile whose rows live in one thread: register selects."""
    return tl.sum(tl.where(rows[:, None, None, None] == index, x, 0.0), axis=0)


@triton.jit
def chunk_states(dt, u, A2, Bt, h_prev, rows):
    """The chunk's drives ``x = Δ u B`` and states ``h``, each (CHUNK, N1, BLOCK_D, N2).

    ``h_prev`` enters through row 0 (``x_0 += a_0 h_prev``), so the scan needs no decay
    products; masked steps have Δ = 0, so ``a = 1`` and ``x = 0`` and they keep the state."""
    a = tl.exp2(steps4(dt) * A2[None, :, :, :])
    x = steps4(dt * u) * proj4(Bt)
    x0 = tl.where((rows == 0)[:, None, None, None], x + a * h_prev[None, :, :, :], x)
    _, h = tl.associative_scan((a, x0), 0, compose)
    return a, x, h


@triton.jit
def chunk_steps(dt_ptr, s_dt_l, s_dt_d, t0, rows, left, d, d_mask, bias, HAS_BIAS: tl.constexpr,
                SOFTPLUS: tl.constexpr, FULL: tl.constexpr):
    """The step mask (CHUNK,) of the chunk from ``t0`` (``left`` of its steps in the sequence),
    the step × channel mask, Δ (bias and softplus applied; 0 on masked steps) and δ + bias."""
    t_mask = below(rows, left, FULL)
    td_mask = t_mask[:, None] & d_mask[None, :]
    dt, v = step_sizes(load_steps(dt_ptr + t0 * s_dt_l, rows, s_dt_l, d, s_dt_d, td_mask), bias,
                       td_mask, HAS_BIAS, SOFTPLUS)
    return t_mask, td_mask, dt, v


@triton.jit
def chunk_inputs(steps, s_l, s_d, proj, p_l, p_n, t0, rows, left, d, d_mask, n, bias,
                 HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr, DSTATE: tl.constexpr,
                 FULL: tl.constexpr):
    """What every pass over the chunk from ``t0`` reads first: the step mask (CHUNK,), the
    step × channel mask, u, Δ (bias and softplus applied; 0 on masked steps), δ + bias (for Δ's
    gradient) and B (CHUNK, N). Pointers and strides as in ``forward_chunk``."""
    t_mask, td_mask, dt, v = chunk_steps(steps[1], s_l[1], s_d[1], t0, rows, left, d, d_mask,
                                         bias, HAS_BIAS, SOFTPLUS, FULL)
    u = load_steps(steps[0] + t0 * s_l[0], rows, s_l[0], d, s_d[0], td_mask)
    Bt = load_proj(proj[0] + t0 * p_l[0], rows, p_l[0], n, p_n[0], t_mask, DSTATE)
    return t_mask, td_mask, u, dt, v, Bt


@triton.jit
def advance(steps, s_l, s_d, proj, p_l, p_n, t0, h, rows, left, d, d_mask, n, A2, bias,
            HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr, DSTATE: tl.constexpr,
            SUB: tl.constexpr, FULL: tl.constexpr):
    """The state after the ``SUB`` steps from ``t0`` (``left`` of them in the sequence), from the
    state ``h`` before them, and Σ Δ over them (BLOCK_D,): the forward's recurrence, for the
    state alone."""
    _, _, u, dt, _, Bt = chunk_inputs(steps, s_l, s_d, proj, p_l, p_n, t0, rows, left, d, d_mask,
                                      n, bias, HAS_BIAS, SOFTPLUS, DSTATE, FULL)
    _, _, hs = chunk_states(dt, u, A2, Bt, h, rows)
    return row(hs, rows, SUB - 1), tl.sum(dt, axis=0)


@triton.jit
def reverse_compose(v_later, p_later, a_later, v_first, p_first, a_first):
    """Adjoint segments, the later one scanned first: a segment ``[i, j]`` holds
    ``λ_i = v + p μ`` for the decayed adjoint ``μ`` entering it from the right, and ``a_i``."""
    entering = a_later * p_first
    return v_first + entering * v_later, entering * p_later, a_first


@triton.jit
def adjoint_scan(q, a):
    """λ_t = q_t + a_{t+1} λ_{t+1} over the rows of (CHUNK, ...) tiles, last row first.

    Flipped, scanned forward, flipped back: with the rows in registers the flips are register
    renames, while ``reverse=True`` makes Triton 3.6 exchange every value across the lanes
    (~900 extra shuffles per thread per chunk in sm_90 SASS)."""
    lam, _, _ = tl.associative_scan((tl.flip(q, 0), tl.full(q.shape, 1.0, tl.float32),
                                     tl.flip(a, 0)), 0, reverse_compose)
    return tl.flip(lam, 0)


# The fastest of wider sweeps (``docs/benchmarks/``): in the forward, 4-stage pipelines, which
# hide the memory latency that 2-stage ones expose; in the backward, programs of one warp, whose
# sums over channels need no shared-memory round between warps, and half-chunk tiles
# (``SPLIT = 2``), which hold half the registers. The candidates beside them, compiled as a
# B4 L64K D1536 launch specialises them (``docs/benchmarks/cpu-2026-12-05-scan-divisibility/``,
# whose counts match Nsight Compute's on an H100): in the backward, a 16-channel block of two
# warps (half the dB and dC atomics of 8-channel blocks) and a 4-channel one, the only one that
# spills nothing (248 registers, 44 instructions per element against 46-51); in the forward,
# 8-channel blocks of one warp (137 registers: more programs an SM where the grid has them), 8 or
# 16 lanes a channel (more warps for the same channels at B4 L64K, where the 4-lane forward held
# 5.4 warps an SM, for 19-21 instructions per element against 12), 2 lanes a channel (each lane's
# share of the per-step work, which every lane of a channel repeats, halves: 10.5 instructions
# per element against 13.1-13.4 at chunks of 8, 9.5 against 12.1 at 16, no spills, for half the
# warps; ``docs/benchmarks/cpu-2026-12-05-scan-opcodes/``), and forward blocks with
# ``VECTOR_STEPS = 0``: at a group width divisible by 16 Triton loads bf16 step tiles as 16-byte
# vectors and converts them through shared memory, which costs the 8-lane forward 19.0
# instructions per element against 14.6 (in fp32 the vectors are cheaper). The segment kernels,
# tuned over the forward's configs, kept element-wise blocks at 6 of 13 keys on an H100; the
# backward's own (38-42 instructions against 46-51 at chunks of 16) were kept at none of 9 and
# compile to the vector code's count at chunks of 8, so it has none
# (``docs/benchmarks/h100-2026-12-05-vector-steps/``, ``cpu-2026-12-05-scan-chunk8/``). The
# autotuner keeps whichever is fastest at each shape and dtype.
FORWARD_CONFIGS = (dict(BLOCK_D=16, N2=4, STAGES=4, num_warps=2),
                   dict(BLOCK_D=8, N2=4, STAGES=4, num_warps=1),
                   dict(BLOCK_D=16, N2=4, STAGES=4, num_warps=1),
                   dict(BLOCK_D=8, N2=8, STAGES=4, num_warps=2),
                   dict(BLOCK_D=4, N2=16, STAGES=4, num_warps=2),
                   dict(BLOCK_D=32, N2=2, STAGES=4, num_warps=2),
                   dict(BLOCK_D=16, N2=2, STAGES=4, num_warps=1),
                   dict(BLOCK_D=16, N2=4, STAGES=4, num_warps=2, VECTOR_STEPS=0),
                   dict(BLOCK_D=8, N2=8, STAGES=4, num_warps=2, VECTOR_STEPS=0))
BACKWARD_CONFIGS = (dict(BLOCK_D=8, N2=8, STAGES=3, SPLIT=2, num_warps=1),
                    dict(BLOCK_D=8, N2=8, STAGES=3, SPLIT=1, num_warps=1),
                    dict(BLOCK_D=8, N2=4, STAGES=3, SPLIT=2, num_warps=1),
                    dict(BLOCK_D=16, N2=8, STAGES=3, SPLIT=2, num_warps=2),
                    dict(BLOCK_D=4, N2=8, STAGES=3, SPLIT=2, num_warps=1))
INTERPRETED_BLOCK_D, INTERPRETED_N2 = 4, 2  # several channel blocks and lanes per channel in tests
INTERPRETED_VECTOR_STEPS = 1

SEGMENT_ARGS = ["seg_chunks", "n_segments"]
"""Arguments the scan kernels do not specialize on (Triton would, on 1 and multiples of 16):
each segment count would compile its own kernels, for nothing the loops gain from it."""

SCAN_KEY = ["dim", "DSTATE", "chans_per_group", "HAS_D", "HAS_Z", "HAS_BIAS", "SOFTPLUS",
            "HAS_H0", "CHUNK"]


def config_blocks(config: dict) -> dict:
    """The constexprs a ``FORWARD_CONFIGS`` or ``BACKWARD_CONFIGS`` entry sets (all but its
    warps), ``VECTOR_STEPS`` 1 where the entry does not say 0."""
    return {"VECTOR_STEPS": 1} | {k: v for k, v in config.items() if k != "num_warps"}


def _fits(block_d: int, n2: int, warps: int, block_n: int, chans: int) -> bool:
    """Lanes and warps all on channels and states; no block wider than the group needs."""
    return (n2 <= block_n and block_d >= (32 // n2) * warps
            and block_d <= max((32 // n2) * warps, next_power_of_2(chans)))


def _prune(configs, named_args, **kwargs):
    block_n, chans = kwargs["BLOCK_N"], named_args["chans_per_group"]
    kept = [c for c in configs
            if _fits(c.kwargs["BLOCK_D"], c.kwargs["N2"], c.num_warps, block_n, chans)
            and c.kwargs.get("SPLIT", 1) <= kwargs["CHUNK"]]
    if kept:
        return kept
    n2 = min(4, block_n)
    fallback = {"BLOCK_D": 32 // n2, "N2": n2, "STAGES": 2, "VECTOR_STEPS": 1}
    return [triton.Config(fallback | ({"SPLIT": 1} if "SPLIT" in configs[0].kwargs else {}),
                          num_warps=1)]


def _interpreted_config(args: dict, uses_split: bool) -> dict:
    """The one config of the interpreter: small blocks, and the backward's halves of a chunk
    from chunk 8 up (shorter chunks in the tests run it whole)."""
    config = {"BLOCK_D": INTERPRETED_BLOCK_D, "N2": min(INTERPRETED_N2, args["BLOCK_N"]),
              "STAGES": 1, "VECTOR_STEPS": INTERPRETED_VECTOR_STEPS}
    return config | ({"SPLIT": 2 if args["CHUNK"] >= 8 else 1} if uses_split else {})


def scan_tuning(configs: tuple[dict, ...], key_extra: list[str], **autotune_kwargs):
    """Decorator: autotune the scan configs on GPUs, a fixed small block when interpreted;
    then ``EVEN_D`` (the block divides the group: no channel masks) from the block chosen."""
    if INTERPRETED:
        uses_split = "SPLIT" in configs[0]
        names = ("BLOCK_D", "N2", "STAGES", "VECTOR_STEPS") + (("SPLIT",) if uses_split else ())
        choose = triton.heuristics(
            {name: (lambda args, name=name: _interpreted_config(args, uses_split)[name])
             for name in names})
    else:
        configs = [triton.Config(config_blocks(c), num_warps=c["num_warps"]) for c in configs]
        choose = kept_autotune(configs, SCAN_KEY + key_extra,
                               prune_configs_by={"early_config_prune": _prune}, **autotune_kwargs)
    even = triton.heuristics(
        {"EVEN_D": lambda args: args["chans_per_group"] % args["BLOCK_D"] == 0})
    return lambda kernel: choose(even(kernel))
