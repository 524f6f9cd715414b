"""Device helpers shared by the SSD kernels: the tensor cores' products at their operand
precision, where a program of the per-chunk kernels stands, and their autotuning.

Precision: matmul operands in x's dtype (bf16, fp16) with fp32 accumulation; fp32 inputs use
tf32x3 (about fp32's accuracy). Under ``TRITON_INTERPRET=1`` numpy multiplies in fp32 and
truncates casts to bf16, so there the kernels round to bf16 (to nearest even) themselves, as the
GPU does: CPU tests see the GPU's bf16 precision. The kernels take the interpreter flag as their
``INTERPRETED`` argument.
"""

from __future__ import annotations

import triton
import triton.language as tl

from tsssm.kernels.triton_common import (INTERPRETED, LOG2E, autotune, dot_width, fast_exp,
                                         next_power_of_2)

MIN_LOOP_WIDTH = 16 if INTERPRETED else 32
"""The narrowest last dimension of a tile loaded in a pipelined loop on the GPU: Triton 3.6's
pipelined loop over 16-wide fp32 tiles reads shared memory out of range (dB/dC's B or C tiles
at N = 16 in fp32, found by compute-sanitizer), so a 16-wide dimension runs half-masked in 32."""


@triton.jit
def round_bf16(x):
    """fp32 -> the nearest bf16 value (ties to even), still held in fp32."""
    bits = x.to(tl.uint32, bitcast=True)
    bits = (bits + (0x7FFF + ((bits >> 16) & 1))) & 0xFFFF0000
    return bits.to(tl.float32, bitcast=True)


@triton.jit
def cast_nearest(x, DT: tl.constexpr, INTERPRETED: tl.constexpr):
    """x as dtype DT, rounded to nearest as the GPU does (the interpreter would truncate bf16)."""
    if INTERPRETED and DT == tl.bfloat16:
        out = round_bf16(x.to(tl.float32)).to(DT)
    else:
        out = x.to(DT)
    return out


@triton.jit
def mma(a, b, DT: tl.constexpr, INTERPRETED: tl.constexpr):
    """a @ b in fp32 on the tensor cores, from operands rounded to DT.

    fp32 operands use tf32x3 (three tf32 products of split operands, about fp32's accuracy);
    the interpreter computes those in plain fp32."""
    if INTERPRETED:
        a = a.to(tl.float32)
        b = b.to(tl.float32)
        if DT == tl.bfloat16:
            a = round_bf16(a)
            b = round_bf16(b)
        elif DT == tl.float16:
            a = a.to(tl.float16).to(tl.float32)
            b = b.to(tl.float16).to(tl.float32)
        out = tl.dot(a, b, input_precision="ieee")
    elif DT == tl.float32:
        out = tl.dot(a.to(DT), b.to(DT), input_precision="tf32x3")
    else:
        out = tl.dot(a.to(DT), b.to(DT))
    return out


def whole_chunks(length: int, chunk: int) -> bool:
    """The kernels' WHOLE: every chunk of a sequence of ``length`` steps is full. The chunk and
    the blocks being powers of two and no block longer than the chunk, no block then passes a
    chunk's end (``in_chunk``)."""
    return length % chunk == 0


@triton.jit
def in_chunk(steps, chunk_len, WHOLE: tl.constexpr):
    """steps < chunk_len: which of a block's steps lie in its chunk. WHOLE (the sequence a
    multiple of the chunk, and no block passing the chunk's end) makes them all, with no
    compare: masks built from it fold away."""
    if WHOLE:
        ok = tl.full(steps.shape, True, tl.int1)
    else:
        ok = steps < chunk_len
    return ok


@triton.jit
def real_heads(heads, n_heads, HEADS: tl.constexpr):
    """heads < n_heads: which of a block's HEADS heads its group has; a one-head block's head
    always (a block holds at least one), with no compare."""
    if HEADS == 1:
        ok = tl.full(heads.shape, True, tl.int1)
    else:
        ok = heads < n_heads
    return ok


NO_STEP = tl.constexpr(1 << 30)
"""An index past every step of a chunk (int32)."""


@triton.jit
def causal_pairs(rows, cols, row_ok, col_ok, REVERSE: tl.constexpr):
    """(BLOCK_M, BLOCK_S) mask of the step pairs (rows, cols) of one chunk that are causal
    (col <= row; REVERSE: col >= row) and have both steps in the chunk, in one compare a pair:
    a row or step outside the chunk takes an index no pair with it can be causal at."""
    # Both ends in the chunk: a row past a ragged chunk's end reads cs_r = 0, and there
    # exp(cs_r - cs_c) overflows once the chunk's log-decay passes -88 (inf · 0 = NaN).
    if REVERSE:
        keep = (tl.where(col_ok, cols, -1)[None, :] >= tl.where(row_ok, rows, NO_STEP)[:, None])
    else:
        keep = (tl.where(col_ok, cols, NO_STEP)[None, :] <= tl.where(row_ok, rows, -1)[:, None])
    return keep


@triton.jit
def pair_decay(keep, cs_r, cs_c, REVERSE: tl.constexpr):
    """The decay between the steps of each kept pair, exp(cs_r - cs_c) (REVERSE:
    exp(cs_c - cs_r)), and 0 where ``keep`` (``causal_pairs``) is false. The steps' sums go to
    base 2 before they pair up: a subtraction and an ex2 a pair (``fast_exp``)."""
    cs_r2 = cs_r * LOG2E
    cs_c2 = cs_c * LOG2E
    if REVERSE:
        log2_decay = cs_c2[None, :] - cs_r2[:, None]
    else:
        log2_decay = cs_r2[:, None] - cs_c2[None, :]
    return tl.exp2(tl.where(keep, log2_decay, float("-inf")))


@triton.jit
def state_decay(cs_ptr, cs_r, chunk_len, REVERSE: tl.constexpr):
    """The decay between the chunk's entering state and each row: exp(cs_r), or with REVERSE
    from each row to the chunk's end, exp(cs_last - cs_r). cs_ptr: the chunk's running sums."""
    if REVERSE:
        decay = fast_exp(tl.load(cs_ptr + chunk_len - 1) - cs_r)
    else:
        decay = fast_exp(cs_r)
    return decay


@triton.jit
def chunk_program(n_tiles, rows_per_batch, n_chunks, L, CHUNK: tl.constexpr):
    """Where a program of the per-chunk kernels stands in their one-dimensional grid of
    batch · n_chunks · n_tiles · rows_per_batch programs, heads (or groups) fastest: the programs
    of one chunk's heads run side by side and share its B and C rows while they sit in L2.
    Returns (chunk c, tile within the chunk, batch row b as int64 for offsets, head or group r
    of that row, the chunk's first step t0 (int64) and its length, shorter for a ragged last
    chunk, int32: the step indices and loop bounds made from it stay 32-bit, so the per-pair
    masks compare in one instruction, not two)."""
    pid = tl.program_id(0)
    r = pid % rows_per_batch
    rest = pid // rows_per_batch
    tile = rest % n_tiles
    rest = rest // n_tiles
    c = rest % n_chunks
    b = (rest // n_chunks).to(tl.int64)
    t0 = c.to(tl.int64) * CHUNK
    return c, tile, b, r, t0, tl.minimum(CHUNK, L - t0).to(tl.int32)


@triton.jit
def head_block_program(n_tiles, groups, heads_per_group, n_chunks, L, CHUNK: tl.constexpr,
                       HEADS: tl.constexpr):
    """``chunk_program`` for kernels taking a block of HEADS heads of one group a program, the
    group's blocks fastest: (chunk c, tile, batch row b, group g, the block's first head h0,
    how many of its HEADS heads the group has (fewer in its last block), t0, chunk length)."""
    blocks = tl.cdiv(heads_per_group, HEADS)
    c, tile, b, r, t0, chunk_len = chunk_program(n_tiles, groups * blocks, n_chunks, L, CHUNK)
    g = r // blocks
    first = (r % blocks) * HEADS
    return c, tile, b, g, g * heads_per_group + first, heads_per_group - first, t0, chunk_len


@triton.jit
def tile_pair_program(n_side, rows_per_batch, n_chunks, L, CHUNK: tl.constexpr):
    """``chunk_program`` for kernels over square tile pairs of a chunk's steps (n_side tiles a
    side, row tile fastest after the heads or groups): (chunk c, batch row b, head or group r,
    t0, chunk length, row tile, column tile)."""
    c, tile, b, r, t0, chunk_len = chunk_program(n_side * n_side, rows_per_batch, n_chunks, L,
                                                 CHUNK)
    return c, b, r, t0, chunk_len, tile // n_side, tile % n_side


def fit_blocks(caps: dict[str, str], tile: tuple[str, ...] = ()):
    """Autotune pruner: cap each block (name -> argument it must not exceed, padded to a power
    of two >= 16; a count of heads in ``HEAD_COUNTS`` to a power of two), take the warps down
    by as much as the blocks named in ``tile`` (the accumulator's dimensions) shrank, then drop
    the configs that became duplicates.

    A capped tile keeps its warps' share of it: 8 warps on a 64-row tile capped from 128 rows
    (or from two heads to one) are no config anyone chose, and Triton 3.6 built one of them
    (64 × 64, one head, 2 stages, P 17, N 16) so that it read shared memory out of range
    (``scripts/gpu/config_faults.py``)."""

    def prune(configs, named_args, **kwargs):
        args = {**named_args, **kwargs}
        fitted, seen = [], set()
        for config in configs:
            blocks = {name: min(size, _cap(name, args[caps[name]])) if name in caps else size
                      for name, size in config.kwargs.items()}
            warps = config.num_warps
            for name in tile:
                warps = warps * blocks[name] // config.kwargs[name]
            warps = max(1, warps)
            key = (tuple(sorted(blocks.items())), warps, config.num_stages)
            if key not in seen:
                seen.add(key)
                fitted.append(triton.Config(blocks, num_warps=warps,
                                            num_stages=config.num_stages))
        return fitted

    return prune


HEAD_COUNTS = {"HEADS_PER_PROGRAM"}


def _cap(name: str, bound: int) -> int:
    return next_power_of_2(bound) if name in HEAD_COUNTS else dot_width(bound)


ROWS_AND_STEPS_IN_CHUNK = {"BLOCK_M": "CHUNK", "BLOCK_S": "CHUNK",
                           "HEADS_PER_PROGRAM": "heads_per_group"}
"""The chunk scans' caps (``tuned``): row and step blocks no longer than the chunk, no more
heads a program than a group has (to a power of two)."""


SCAN_TILE = ("BLOCK_M", "HEADS_PER_PROGRAM")
"""The chunk scans' accumulator: BLOCK_M rows × HEADS_PER_PROGRAM heads' columns."""


def tuned(configs, interpreted, key, caps, tile: tuple[str, ...] = ()):
    """Autotune over ``configs`` on the GPU (pruned by ``fit_blocks(caps, tile)``); the
    interpreter runs the one small ``interpreted`` config (its blocks are deliberately unequal,
    so the tests cross block boundaries)."""
    return autotune(configs, interpreted, key=key, prune=fit_blocks(caps, tile))
