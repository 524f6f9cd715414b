"""The products C_i · B_j of a chunk's steps, once per (batch, chunk, group) instead of once per
head: the forward's output and dx read them from here rather than multiply C and B again in
each of the group's heads (``triton_chunk_scan._mix_chunk``); the pair tiles of dB and dC read
them for the decay gradient's pair terms (``triton_pairs.py``, which below GRAM_MIN_STATE
multiplies its tiles with ``gram_tile`` instead).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from tsssm.kernels.ssd.triton_tiles import mma, tile_pair_program
from tsssm.kernels.triton_common import INTERPRETED, dot_width
from tsssm.kernels.triton_launch import TunedLaunch

GRAM_BLOCK = 16 if INTERPRETED else 64
"""Side of a program's square tile; small in tests, to cross tiles."""


@triton.jit
def chunk_gram_kernel(C_ptr, B_ptr, gram_ptr, s_C_b, s_C_l, s_C_g, s_C_n,
                      s_B_b, s_B_l, s_B_g, s_B_n, G, n_chunks, L, N,
                      CHUNK: tl.constexpr, DT: tl.constexpr, INTERPRETED: tl.constexpr,
                      BLOCK: tl.constexpr, BLOCK_K: tl.constexpr):
    """gram[b, c, g, i, j] = C_i · B_j (fp32, products of operands in DT) for the tiles with
    j <= i, the only ones the scans read; tiles above the diagonal are left unwritten. Rows past
    a ragged chunk's end hold zeros. gram: (b, nc, G, CHUNK, CHUNK) fp32; BLOCK <= CHUNK."""
    c, b, g, t0, chunk_len, tile_i, tile_j = tile_pair_program(tl.cdiv(CHUNK, BLOCK), G,
                                                               n_chunks, L, CHUNK)
    if tile_j <= tile_i:
        rows = tile_i * BLOCK + tl.arange(0, BLOCK)
        cols = tile_j * BLOCK + tl.arange(0, BLOCK)
        out = gram_ptr + ((b * n_chunks + c) * G + g) * CHUNK * CHUNK
        tl.store(out + rows[:, None] * CHUNK + cols[None, :],
                 gram_tile(C_ptr + b * s_C_b + t0 * s_C_l + g * s_C_g, s_C_l, s_C_n,
                           B_ptr + b * s_B_b + t0 * s_B_l + g * s_B_g, s_B_l, s_B_n,
                           rows, cols, chunk_len, N, DT, INTERPRETED, BLOCK_K))


@triton.jit
def gram_tile(C_ptr, s_C_l, s_C_n, B_ptr, s_B_l, s_B_n, rows, cols, chunk_len, N,
              DT: tl.constexpr, INTERPRETED: tl.constexpr, BLOCK_K: tl.constexpr):
    """C_i · B_j for the chunk's steps i in rows and j in cols, (rows, cols) fp32 from operands
    in DT, zero past chunk_len; C_ptr and B_ptr at the chunk's first step and the group."""
    offs_k = tl.arange(0, BLOCK_K)
    k_ok = offs_k < N
    c_rows = tl.load(C_ptr + rows[:, None] * s_C_l + offs_k[None, :] * s_C_n,
                     mask=(rows < chunk_len)[:, None] & k_ok[None, :], other=0.0)
    b_cols = tl.load(B_ptr + cols[None, :] * s_B_l + offs_k[:, None] * s_B_n,
                     mask=k_ok[:, None] & (cols < chunk_len)[None, :], other=0.0)
    return mma(c_rows, b_cols, DT, INTERPRETED)


_GRAM = TunedLaunch(chunk_gram_kernel)
"""A plain JIT function: ``TunedLaunch`` only spares it Triton's binding (no key)."""


def chunk_products(B: Tensor, C: Tensor, n_chunks: int, chunk: int, dot_dtype) -> Tensor:
    """C_i · B_j of each chunk, (b, nc, G, chunk, chunk) fp32, only j <= i written; B and C
    (b, L, G, N), their products' operands in ``dot_dtype``."""
    batch, length, groups, state_dim = B.shape
    gram = torch.empty(batch, n_chunks, groups, chunk, chunk, device=B.device,
                       dtype=torch.float32)
    block = min(GRAM_BLOCK, chunk)
    side = chunk // block
    _GRAM((batch * n_chunks * side * side * groups,), (C, B, gram),
          (*C.stride(), *B.stride(), groups, n_chunks, length, state_dim), (),
          CHUNK=chunk, DT=dot_dtype, INTERPRETED=INTERPRETED, BLOCK=block,
          BLOCK_K=dot_width(state_dim))
    return gram
