"""Which shapes each section times.

Two kinds of case. The anchors' shapes are those at which mamba_ssm's own kernels were timed on an
H100 (the anchors, the peers the report and ``docs/benchmarks/`` compare with): the selective scan
at D = 1536, N = 16 in fp32 and bf16; SSD in bf16 with 24 heads × 64 and N ∈ {16, 64, 128}. The
length sweep runs one sequence (batch 1) from 1K to 64K tokens, plus one 1M-token sequence, at the
width the section compares at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

K = 1024
MILLION = K * K
SWEEP = tuple(K << i for i in range(7))            # 1K .. 64K
QUICK_SWEEP = (K, 4 * K, 16 * K, 64 * K)

SCAN_DIM, SCAN_STATE = 1536, 16
SCAN_ANCHORS = ((8, 2 * K), (8, 8 * K), (4, 64 * K))   # (batch, length)
SCAN_REFERENCE_MAX_LENGTH = 2 * K
"""The reference scan steps through time in Python: a few seconds per timing beyond this."""

SSD_HEADS, SSD_HEAD_DIM = 24, 64                    # D = 1536, as the scan
SSD_STATES, QUICK_SSD_STATES = (16, 64, 128), (16, 128)
SSD_ANCHORS = ((4, 64 * K), (8, 8 * K))
SSD_SWEEP_STATE = 128
SSD_REFERENCE_MAX_TOKENS = 64 * K
"""The reference's (chunks × chunk × chunk) decay masks grow past tens of GiB beyond this."""

TUNE_SHAPE = (4, 64 * K)
"""(batch, length) of the first call of each kernel configuration. The autotuners key on widths and
flags, not on batch or length, so the first call's shape picks the block sizes every later call
uses; a shape that fills the chip picks them for the sizes that matter."""

MIXER_WIDTH, ATTENTION_HEADS = 1024, 16             # 16 heads × 64, as the anchors' SDPA
ATTENTION_MAX_LENGTH = 64 * K
"""Causal attention is quadratic: 1M tokens would take minutes per call, so it is not run."""

STEP_CONTEXTS = (K, 128 * K)


def length_label(length: int) -> str:
    """``2048 -> '2K'``, ``1048576 -> '1M'``, ``300 -> '300'``."""
    if length % MILLION == 0:
        return f"{length // MILLION}M"
    if length % K == 0:
        return f"{length // K}K"
    return str(length)


def sweep_lengths(quick: bool, million: bool = True) -> list[int]:
    """Sequence lengths of the sweep; the 1M-token point unless ``quick`` or not ``million``."""
    lengths = list(QUICK_SWEEP if quick else SWEEP)
    return lengths + [MILLION] if million and not quick else lengths


@dataclass(frozen=True)
class ScanCase:
    """One selective-scan shape: u, Δ (batch, L, D); B, C (batch, L, groups, N)."""

    dtype: str
    batch: int
    length: int
    dim: int = SCAN_DIM
    state: int = SCAN_STATE
    groups: int = 1

    @property
    def label(self) -> str:
        return f"B{self.batch} L{length_label(self.length)} D{self.dim} N{self.state}"

    @property
    def reference_fits(self) -> bool:
        return self.length <= SCAN_REFERENCE_MAX_LENGTH


@dataclass(frozen=True)
class SSDCase:
    """One SSD shape: x (batch, L, heads, head_dim); B, C (batch, L, groups, N); bf16."""

    batch: int
    length: int
    state: int
    heads: int = SSD_HEADS
    head_dim: int = SSD_HEAD_DIM
    groups: int = 1
    dtype: str = "bf16"

    @property
    def label(self) -> str:
        return (f"B{self.batch} L{length_label(self.length)} H{self.heads}x{self.head_dim} "
                f"N{self.state}")

    @property
    def reference_fits(self) -> bool:
        return self.batch * self.length <= SSD_REFERENCE_MAX_TOKENS


def scan_cases(quick: bool) -> list[ScanCase]:
    """The anchors' shapes in fp32 and bf16, then the bf16 length sweep at batch 1."""
    anchors = [ScanCase(dtype, batch, length) for dtype in ("fp32", "bf16")
               for batch, length in SCAN_ANCHORS]
    return anchors + [ScanCase("bf16", 1, length) for length in sweep_lengths(quick)]


def ssd_cases(quick: bool) -> list[SSDCase]:
    """The anchors' shapes for each state size, then the length sweep at N = 128, batch 1."""
    states = QUICK_SSD_STATES if quick else SSD_STATES
    anchors = [SSDCase(batch, length, state) for state in states for batch, length in SSD_ANCHORS]
    return anchors + [SSDCase(1, length, SSD_SWEEP_STATE) for length in sweep_lengths(quick)]


def mixer_label(kind: str, length: int) -> str:
    """Row name of a whole mixer layer, ``kind`` "mamba" or "attention", at batch 1."""
    return f"{kind} B1 L{length_label(length)} d{MIXER_WIDTH}"


def sdpa_label(length: int) -> str:
    """Row name of bare causal SDPA flash attention at the mixers' width."""
    heads = f"{ATTENTION_HEADS}x{MIXER_WIDTH // ATTENTION_HEADS}"
    return f"sdpa flash B1 L{length_label(length)} {heads}"


def step_label(kind: str, context: int) -> str:
    """Row name of one decode step after ``context`` tokens: ``kind`` "mamba" (the selective
    scan's step kernel at the Mamba layer's d_inner), "ssd" (SSD's step kernel at the SSD
    section's sweep shape) or "sdpa" (decode over a KV cache at the mixers' width)."""
    widths = {"mamba": f"D{2 * MIXER_WIDTH} N{SCAN_STATE}",
              "ssd": f"H{SSD_HEADS}x{SSD_HEAD_DIM} N{SSD_SWEEP_STATE}",
              "sdpa": f"{ATTENTION_HEADS}x{MIXER_WIDTH // ATTENTION_HEADS}"}
    return f"{kind} step B1 ctx {length_label(context)} {widths[kind]}"


PEER_SECTION = "vs mamba_ssm"
OURS, THEIRS = "tsssm", "mamba_ssm"
PEER_SCAN_DIM, PEER_SCAN_STATE = 1536, 16
PEER_SCAN_SHAPES = ((8, 2 * K), (8, 8 * K), (4, 64 * K), (1, 64 * K), (1, 8 * K), (1, 2 * K))
PEER_SSD_HEADS, PEER_SSD_HEAD_DIM, PEER_SSD_CHUNK = 24, 64, 256
PEER_SSD_SHAPES = ((4, 64 * K, 128), (4, 64 * K, 16), (1, 64 * K, 128), (8, 8 * K, 128))
"""(batch, length, N): the SSD shapes of the side-by-side comparison, bf16."""


LINEAR_SECTION, FLA = "vs fla", "fla"
LINEAR_HEADS, LINEAR_HEAD_DIM, LINEAR_CHUNK = 16, 64, 64
LINEAR_SHAPES = ((8, 2 * K), (4, 8 * K), (1, 64 * K))
"""(batch, length) of linear attention against flash-linear-attention: width 1024 as the mixers,
bf16, d_k = d_v = N = 64."""


class PairCase(NamedTuple):
    """One kernel shape timed for tsssm and for mamba_ssm (section ``peers``)."""

    kernel: str  # "scan", "ssd", "linear attention" or "retention"
    dtype: str
    batch: int
    length: int
    state: int

    @property
    def label(self) -> str:
        widths = {"scan": f"D{PEER_SCAN_DIM}",
                  "ssd": f"H{PEER_SSD_HEADS}x{PEER_SSD_HEAD_DIM} chunk {PEER_SSD_CHUNK}"}
        width = widths.get(self.kernel, f"H{LINEAR_HEADS}x{LINEAR_HEAD_DIM}")
        return f"{self.kernel} B{self.batch} L{length_label(self.length)} {width} N{self.state}"


def pair_cases() -> list[PairCase]:
    """The scan in fp32 and bf16 at six shapes (batch 8 to 1, 2K to 64K tokens), SSD in bf16 at
    four."""
    scans = [PairCase("scan", dtype, b, length, PEER_SCAN_STATE) for dtype in ("fp32", "bf16")
             for b, length in PEER_SCAN_SHAPES]
    return scans + [PairCase("ssd", "bf16", b, length, n) for b, length, n in PEER_SSD_SHAPES]


def linear_cases() -> list[PairCase]:
    """Normalised linear attention (no decay) and retention (per-head decay, no normaliser)."""
    return [PairCase(kernel, "bf16", b, length, LINEAR_HEAD_DIM)
            for kernel in ("linear attention", "retention") for b, length in LINEAR_SHAPES]


def peer_row_case(case: PairCase, library: str) -> str:
    """Row name of ``case`` for ``library``: ``scan B8 L2K D1536 N16 · tsssm``."""
    return f"{case.label} · {library}"
