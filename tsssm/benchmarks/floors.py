"""The two floors of a kernel: the bytes it must move and, for the scan, the exps it must take.

A time below the floor is impossible; measured time over the floor is the kernel's gap. Bytes are
the fewest a pass can move: each input read once, each output written once (small parameters such
as A left out). The scan needs one ``exp(Δ A)`` per (batch, step, channel, state), B·L·D·N of them,
which the special-function units take at 16 per clock per SM (sm_90); on the H100 in bf16 that
floor is the higher one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

EXP_PER_CLOCK_PER_SM = 16
ANCHOR_EXP_RATE = 4.2e12
"""exp/s of the H100 the anchors (mamba_ssm's timings, ``cases``) ran on (132 SMs × ~1.98 GHz ×
16), used where the device gives no clock."""


class Floor(NamedTuple):
    """The larger of the memory and the exponential floor, in ms, and which one it is."""

    ms: float
    bound: str  # "memory" or "exp"


def tensor_bytes(*shape: int, itemsize: int) -> int:
    """Bytes of a dense tensor of ``shape`` with elements of ``itemsize`` bytes."""
    count = 1
    for size in shape:
        count *= size
    return count * itemsize


def minimal_bytes(inputs: Sequence[int], outputs: Sequence[int], backward: bool = False) -> int:
    """Fewest bytes moved by a forward pass, or by forward plus backward.

    Forward: every input read once, every output written once. The backward reads the inputs and
    the outputs' gradients again and writes one gradient per input, so forward+backward moves
    ``3 · inputs + 2 · outputs``.
    """
    read, written = sum(inputs), sum(outputs)
    return 3 * read + 2 * written if backward else read + written


def scan_bytes(batch: int, length: int, dim: int, groups: int, state: int, itemsize: int,
               backward: bool = False) -> int:
    """Selective scan: read u, Δ (batch, L, D) and B, C (batch, L, G, N); write y (batch, L, D)."""
    seq = tensor_bytes(batch, length, dim, itemsize=itemsize)
    proj = tensor_bytes(batch, length, groups, state, itemsize=itemsize)
    return minimal_bytes([seq, seq, proj, proj], [seq], backward)


def scan_exps(batch: int, length: int, dim: int, state: int) -> int:
    """One exp(Δ A) per (batch, step, channel, state); a backward cannot need fewer."""
    return batch * length * dim * state


def ssd_bytes(batch: int, length: int, heads: int, head_dim: int, groups: int, state: int,
              itemsize: int, backward: bool = False) -> int:
    """SSD: read x (b, L, H, P), dt (b, L, H), B, C (b, L, G, N); write y (b, L, H, P)."""
    x = tensor_bytes(batch, length, heads, head_dim, itemsize=itemsize)
    dt = tensor_bytes(batch, length, heads, itemsize=itemsize)
    proj = tensor_bytes(batch, length, groups, state, itemsize=itemsize)
    return minimal_bytes([x, dt, proj, proj], [x], backward)


def scan_step_bytes(batch: int, dim: int, groups: int, state: int, itemsize: int) -> int:
    """One decode step: read and write the fp32 state (batch, D, N); read x, dt, z (batch, D) and
    B, C (batch, G, N); write y (batch, D)."""
    states = tensor_bytes(batch, dim, state, itemsize=4)
    vec = tensor_bytes(batch, dim, itemsize=itemsize)
    proj = tensor_bytes(batch, groups, state, itemsize=itemsize)
    return minimal_bytes([states, vec, vec, vec, proj, proj], [states, vec])


def ssd_step_bytes(batch: int, heads: int, head_dim: int, groups: int, state: int,
                   itemsize: int) -> int:
    """One SSD decode step: read and write the fp32 state (batch, H, P, N); read x (batch, H, P),
    dt (batch, H), B, C (batch, G, N); write y (batch, H, P)."""
    states = tensor_bytes(batch, heads, head_dim, state, itemsize=4)
    x = tensor_bytes(batch, heads, head_dim, itemsize=itemsize)
    dt = tensor_bytes(batch, heads, itemsize=itemsize)
    proj = tensor_bytes(batch, groups, state, itemsize=itemsize)
    return minimal_bytes([states, x, dt, proj, proj], [states, x])


def attention_bytes(batch: int, heads: int, q_len: int, kv_len: int, head_dim: int, itemsize: int,
                    backward: bool = False) -> int:
    """Attention: read q (b, H, Lq, d), k, v (b, H, Lkv, d); write o (b, H, Lq, d)."""
    q = tensor_bytes(batch, heads, q_len, head_dim, itemsize=itemsize)
    kv = tensor_bytes(batch, heads, kv_len, head_dim, itemsize=itemsize)
    return minimal_bytes([q, kv, kv], [q], backward)


def causal_attention_flops(batch: int, heads: int, length: int, head_dim: int,
                           backward: bool = False) -> float:
    """Matmul FLOPs of causal attention: QKᵀ and PV over half the L × L square
    (2 · 2 · L²/2 · d per head), and 2.5 times that again for the backward's five products."""
    forward = 2.0 * batch * heads * length * length * head_dim
    return forward * 3.5 if backward else forward


def exp_rate(sm_count: int | None, clock_khz: int | None) -> tuple[float, str]:
    """exp/s of the special-function units, and where the figure came from."""
    if sm_count and clock_khz:
        rate = sm_count * clock_khz * 1e3 * EXP_PER_CLOCK_PER_SM
        return rate, (f"{sm_count} SMs × {clock_khz / 1e6:.2f} GHz × {EXP_PER_CLOCK_PER_SM} "
                      "per clock (torch.cuda.get_device_properties)")
    return ANCHOR_EXP_RATE, "the anchors' H100 figure (the device reported no SM count or clock)"


def floor(nbytes: int, copy_bytes_per_s: float, exps: int = 0,
          exps_per_s: float = ANCHOR_EXP_RATE) -> Floor:
    """The larger of ``nbytes`` at the measured copy bandwidth and ``exps`` at the exp rate."""
    memory_ms = nbytes / copy_bytes_per_s * 1e3
    exp_ms = exps / exps_per_s * 1e3
    return Floor(exp_ms, "exp") if exp_ms > memory_ms else Floor(memory_ms, "memory")
