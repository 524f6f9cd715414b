"""The pair tiles of dB and dC, each made once. Per (batch, chunk, group) and head h of the group,
with the notation of ``triton.py`` (steps i, j of the chunk, cs, dt, dy, x the head's)::

    M^h_ij = exp(cs_i - cs_j) dt_j (dy_i · x_j)      (j <= i; 0 above the diagonal)
    pairs_ij = sum_h M^h_ij                          (the group's tile)
    dC_i  gets  sum_j pairs_ij B_j        dB_j  gets  sum_i pairs_ij C_i

and the decay gradient's pair terms, per head and step k: the row sum of M^h ⊙ (C·B) at row k
minus its column sum at column k, both in fp32 from the same tile (their difference cancels most
of each; ``triton.py``: the decay's gradient). ``chunk_pairs_kernel`` takes one (batch, chunk,
group, row tile, column tile at or below it) and loops over the group's heads: per head one
product dy·x^T (K = P), its decay, and both sums; the head-summed tile goes to memory in x's
dtype, to which the products by B and C (``triton_chunk_dbc.py``) round it anyway. Below the
diagonal (every column before every row) the decay is the outer product exp(cs_i - cs_ref) ·
exp(cs_ref - cs_j) dt_j through the row tile's first step ref (both factors at most 1 where
dt > 0): an exp per step instead of per pair, and no mask; only the diagonal tiles take one per
pair.

Why: dy·x^T per head (heads × Q² × P) is the largest work of dB and dC. Made in both of their
launches, with the elementwise decay work on it, it cost twice what one launch does. Counts at
B4 L64K, 24 heads × 64, one group, chunk 256 (64-step tiles, 10 of 16 causal), tensor FLOPs ×2
per multiply-add, bytes read and written once from HBM (each chunk's operands reused from L2):

    GFLOP, N 128 (N 16)   dy·x^T   pairs·B and ·C   C·B (no gram)   state terms   total
    in both dB and dC        258      21.5 (2.7)       — (2.7)         206 (26)      485 (289)
    once, here               129      21.5 (2.7)       — (1.3)         206 (26)      357 (159)

    GB, N 128 (N 16)   this kernel   dC launch     dB launch     dt_cumsum_bwd   total
    in both dB and dC  —             2.86 (1.81)   2.48 (1.79)   0.05            5.39 (3.65)
    once, here         2.01 (1.86)   1.95 (1.07)   1.57 (1.04)   0.13            5.65 (4.09)

Bytes grow by 5% (N 128) and 12% (N 16): dy and x are read once more, by the launches that add
the state terms to dC and dB (the pairs tile, 84 MB in bf16, written once and read twice); the
exps and masks of the decay, which set these kernels' pace, halve with the products.

Column sums meet from several row tiles. Instead of atomics (their order changes from run to
run, and autotuning reruns the kernel), each program writes its sums to its own slot: the
terms of steps in tile t from the tile pair (t, s) or (s, t) go to slot s, so each (slot, step)
is written exactly once (the diagonal pair writes rows minus columns), and ``dt_cumsum_bwd``
adds the slots in a fixed order.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from tsssm.kernels.ssd.triton_gram import gram_tile
from tsssm.kernels.ssd.triton_tiles import (MIN_LOOP_WIDTH, cast_nearest, causal_pairs, in_chunk,
                                            mma, pair_decay, tile_pair_program, tuned,
                                            whole_chunks)
from tsssm.kernels.triton_common import INTERPRETED, cdiv, dot_width, fast_exp
from tsssm.kernels.triton_launch import TunedLaunch

# 64-step tiles on 4 or 8 warps (HGMMA), 32-step ones on 4 (HMMA).
PAIR_CONFIGS = [triton.Config({"BLOCK": block}, num_warps=warps, num_stages=stages)
                for block, warps in ((64, 4), (64, 8), (32, 4)) for stages in (2, 3)]
PAIR_INTERPRETED = triton.Config({"BLOCK": 16})
SMALLEST_PAIR_BLOCK = min(c.kwargs["BLOCK"]
                          for c in ([PAIR_INTERPRETED] if INTERPRETED else PAIR_CONFIGS))
"""The narrowest tiles the autotuner may pick here: they set how many slots of pair terms to
allocate (chunk / 32 on the GPU, of which 64-step tiles fill half)."""


@triton.jit
def _slot(terms_ptr, slot, batch, b, H, h, n_chunks, c, CHUNK: tl.constexpr):
    """Pointer to the chunk's first step in ``slot`` of the terms (slots, b, H, nc, CHUNK)."""
    return terms_ptr + (((slot * batch + b) * H + h) * n_chunks + c) * CHUNK


@tuned(PAIR_CONFIGS, PAIR_INTERPRETED, key=["CHUNK", "P", "N", "HAS_GRAM", "WHOLE"],
       caps={"BLOCK": "CHUNK"})
@triton.jit
def chunk_pairs_kernel(pairs_ptr, terms_ptr, dy_ptr, x_ptr, B_ptr, C_ptr, cs_ptr, dt_ptr,
                       gram_ptr,
                       s_dy_b, s_dy_l, s_dy_h, s_dy_p, s_x_b, s_x_l, s_x_h, s_x_p,
                       s_B_b, s_B_l, s_B_g, s_B_n, s_C_b, s_C_l, s_C_g, s_C_n,
                       batch, L, H, G, heads_per_group, n_chunks, P, N,
                       CHUNK: tl.constexpr, HAS_GRAM: tl.constexpr, DT: tl.constexpr,
                       INTERPRETED: tl.constexpr, WHOLE: tl.constexpr, BLOCK_K: tl.constexpr,
                       BLOCK_N: tl.constexpr, BLOCK: tl.constexpr):
    """The group's pair tile at rows i, columns j (BLOCK × BLOCK, j's tile <= i's) and each
    head's pair terms there (module docstring); tiles above the diagonal do nothing.

    dy, x (b, L, H, P); B, C (b, L, G, N); cs, dt (b, H, nc, CHUNK) fp32; gram
    (b, nc, G, CHUNK, CHUNK) fp32, C_i · B_j at [i, j] (HAS_GRAM; else multiplied here). Writes
    pairs (b, nc, G, CHUNK, CHUNK) in its dtype, the causal tiles only (zeros where j > i or a
    step lies past a ragged chunk's end), and terms (CHUNK / BLOCK, b, H, nc, CHUNK) fp32, each
    slot at every step."""
    c, b, g, t0, chunk_len, tile_i, tile_j = tile_pair_program(CHUNK // BLOCK, G, n_chunks, L,
                                                               CHUNK)
    if tile_j <= tile_i:
        rows = tile_i * BLOCK + tl.arange(0, BLOCK)
        cols = tile_j * BLOCK + tl.arange(0, BLOCK)
        offs_k = tl.arange(0, BLOCK_K)
        row_ok = in_chunk(rows, chunk_len, WHOLE)
        col_ok = in_chunk(cols, chunk_len, WHOLE)
        k_ok = offs_k < P
        keep = causal_pairs(rows, cols, row_ok, col_ok, False)
        tile_at = (((b * n_chunks + c) * G + g) * CHUNK * CHUNK + rows[:, None] * CHUNK
                   + cols[None, :])
        if HAS_GRAM:
            products = tl.load(gram_ptr + tile_at, mask=keep, other=0.0)
        else:
            products = gram_tile(C_ptr + b * s_C_b + t0 * s_C_l + g * s_C_g, s_C_l, s_C_n,
                                 B_ptr + b * s_B_b + t0 * s_B_l + g * s_B_g, s_B_l, s_B_n,
                                 rows, cols, chunk_len, N, DT, INTERPRETED, BLOCK_N)
        dy_rows = (dy_ptr + b * s_dy_b + (t0 + rows[:, None]) * s_dy_l
                   + offs_k[None, :] * s_dy_p)
        x_cols = x_ptr + b * s_x_b + (t0 + cols[None, :]) * s_x_l + offs_k[:, None] * s_x_p
        summed = tl.zeros((BLOCK, BLOCK), dtype=tl.float32)
        for h in range(g * heads_per_group, (g + 1) * heads_per_group):
            seg = ((b * H + h) * n_chunks + c) * CHUNK
            cs_r = tl.load(cs_ptr + seg + rows, mask=row_ok, other=0.0)
            cs_c = tl.load(cs_ptr + seg + cols, mask=col_ok, other=0.0)
            dt_c = tl.load(dt_ptr + seg + cols, mask=col_ok, other=0.0)
            if tile_j < tile_i:  # every column before every row: the decay in two factors
                cs_ref = tl.load(cs_ptr + seg + tl.minimum(tile_i * BLOCK, chunk_len - 1))
                to_row = fast_exp(tl.where(row_ok, cs_r - cs_ref, float("-inf")))
                from_col = fast_exp(tl.where(col_ok, cs_ref - cs_c, float("-inf"))) * dt_c
                mixed = to_row[:, None] * from_col[None, :]
            else:
                mixed = pair_decay(keep, cs_r, cs_c, False) * dt_c[None, :]
            dy = tl.load(dy_rows + h * s_dy_h, mask=row_ok[:, None] & k_ok[None, :], other=0.0)
            x_t = tl.load(x_cols + h * s_x_h, mask=k_ok[:, None] & col_ok[None, :], other=0.0)
            mixed *= mma(dy, x_t, DT, INTERPRETED)
            summed += mixed
            weighted = mixed * products
            by_row = tl.sum(weighted, axis=1)
            by_col = tl.sum(weighted, axis=0)
            if tile_j < tile_i:
                tl.store(_slot(terms_ptr, tile_j, batch, b, H, h, n_chunks, c, CHUNK) + rows,
                         by_row)
                tl.store(_slot(terms_ptr, tile_i, batch, b, H, h, n_chunks, c, CHUNK) + cols,
                         -by_col)
            else:  # rows == cols
                tl.store(_slot(terms_ptr, tile_i, batch, b, H, h, n_chunks, c, CHUNK) + rows,
                         by_row - by_col)
        tl.store(pairs_ptr + tile_at, cast_nearest(summed, pairs_ptr.dtype.element_ty,
                                                   INTERPRETED))


_PAIRS = TunedLaunch(chunk_pairs_kernel)
"""Keyed on P and N: the rest of its autotuner's key and the chunk its pruner caps BLOCK by are
constexprs, which ``TunedLaunch`` adds."""


def pair_slots(chunk: int) -> int:
    """How many slots of pair terms ``chunk_pairs`` may write (with its smallest tiles)."""
    return cdiv(chunk, SMALLEST_PAIR_BLOCK)


def chunk_pairs(dy: Tensor, x: Tensor, B: Tensor, C: Tensor, cs: Tensor, dt_eff: Tensor,
                gram: Tensor | None, terms: Tensor, dot_dtype) -> tuple[Tensor, int]:
    """(pairs (b, nc, G, chunk, chunk) in x's dtype, causal tiles written; how many slots of
    ``terms`` (>= ``pair_slots(chunk)``, b, H, nc, chunk) fp32 hold the pair terms).

    dy, x (b, L, H, P); B, C (b, L, G, N); cs, dt_eff (b, H, nc, chunk) fp32; gram as
    ``triton_gram.chunk_products`` or None (C·B multiplied here); products in ``dot_dtype``."""
    batch, length, heads, head_dim = x.shape
    groups, state_dim = B.shape[2], B.shape[3]
    n_chunks, chunk = cs.shape[2], cs.shape[3]
    pairs = torch.empty(batch, n_chunks, groups, chunk, chunk, device=x.device, dtype=x.dtype)

    def grid(meta):
        side = chunk // meta["BLOCK"]
        return (batch * n_chunks * side * side * groups,)

    meta = _PAIRS(grid, (pairs, terms, dy, x, B, C, cs, dt_eff, x if gram is None else gram),
                  (*dy.stride(), *x.stride(), *B.stride(), *C.stride(),
                   batch, length, heads, groups, heads // groups, n_chunks, head_dim, state_dim),
                  (head_dim, state_dim),
                  CHUNK=chunk, HAS_GRAM=gram is not None, DT=dot_dtype, INTERPRETED=INTERPRETED,
                  WHOLE=whole_chunks(length, chunk),
                  BLOCK_K=max(dot_width(head_dim), MIN_LOOP_WIDTH), BLOCK_N=dot_width(state_dim))
    return pairs, chunk // meta["BLOCK"]
