"""Sections ``peer-scan`` and ``peer-ssd``: tsssm's selective scan and SSD against mamba_ssm's.

They run when the benchmark is given mamba_ssm's sources (``--peer-dir``; ``peer_library``). Every
Mamba option is on — D skip, z gate, delta_bias and softplus — as a Mamba or Mamba-2 layer calls
the kernels. Per kernel, dtype and state size the two libraries are first checked to agree (output
and every gradient, ‖ours − theirs‖ / ‖theirs‖), then each shape is timed for both, one after the
other, on one set of tensors (the scan's copy in mamba_ssm's ``(B, D, L)`` layout holds the same
values). Rows come in pairs, ``… · tsssm`` and ``… · mamba_ssm``; the targets read their ratio.
``compare`` is shared with the other side-by-side sections (``linear_attention_peers``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from tsssm.benchmarks.cases import (OURS, PEER_SCAN_DIM, PEER_SECTION, PEER_SSD_CHUNK,
                                    PEER_SSD_HEAD_DIM, PEER_SSD_HEADS, THEIRS, TUNE_SHAPE, K,
                                    PairCase, pair_cases, peer_row_case)
from tsssm.benchmarks.checks import TOLERANCE, relative_error
from tsssm.benchmarks.peer_library import PeerUnavailable, load_peer_scan, load_peer_ssd
from tsssm.benchmarks.results import Check, Row
from tsssm.benchmarks.timing import Bench, Timed, kernel_setup
from tsssm.kernels.selective_scan import selective_scan
from tsssm.kernels.ssd import ssd

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
MODES = ("fwd", "fwd+bwd")
CHECK_SCAN, CHECK_SSD = (2, 2 * K), (1, 2 * K)
"""(batch, length) of the agreement checks."""


def scan_inputs(case: PairCase, grad: bool) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Random scan inputs in tsssm's layout (u, delta, z: (B, L, D); B, C: (B, L, 1, N)) and the
    same values in mamba_ssm's ((B, D, L); (B, 1, N, L)); A, D, delta_bias fp32 and shared."""
    dtype = DTYPES[case.dtype]

    def normal(*shape: int, scale: float = 1.0, shift: float = 0.0,
               like: torch.dtype = dtype) -> Tensor:
        return (torch.randn(*shape, device="cuda") * scale + shift).to(like)

    b, length = case.batch, case.length
    ours = {"u": normal(b, length, PEER_SCAN_DIM), "delta": normal(b, length, PEER_SCAN_DIM, scale=0.5,
                                                                shift=-1.0),
            "A": -torch.exp(normal(PEER_SCAN_DIM, case.state, scale=0.5, like=torch.float32)),
            "B": normal(b, length, 1, case.state), "C": normal(b, length, 1, case.state),
            "D": normal(PEER_SCAN_DIM, like=torch.float32), "z": normal(b, length, PEER_SCAN_DIM),
            "delta_bias": normal(PEER_SCAN_DIM, scale=0.1, like=torch.float32)}
    theirs = {name: to_peer_layout(name, t) for name, t in ours.items()}
    for tensor in (*ours.values(), *theirs.values()):
        tensor.requires_grad_(grad)
    return ours, theirs


def to_peer_layout(name: str, tensor: Tensor) -> Tensor:
    """A tsssm scan input in mamba_ssm's layout (a new leaf; parameters are shared as they are)."""
    if name in ("u", "delta", "z"):
        return tensor.detach().transpose(1, 2).contiguous()
    if name in ("B", "C"):
        return tensor.detach().permute(0, 2, 3, 1).contiguous()
    return tensor


def from_peer_layout(name: str, tensor: Tensor) -> Tensor:
    """A mamba_ssm scan tensor (input, gradient or ``y``) back in tsssm's layout."""
    if name in ("u", "delta", "z", "y"):
        return tensor.transpose(1, 2)
    if name in ("B", "C"):
        return tensor.permute(0, 3, 1, 2)
    return tensor


def ssd_inputs(case: PairCase, grad: bool) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Random SSD inputs (x, z: (B, L, H, P); dt (B, L, H); B, C (B, L, 1, N)); both libraries
    take this layout, so the two dicts hold the same tensors."""
    dtype = DTYPES[case.dtype]
    b, length, heads = case.batch, case.length, PEER_SSD_HEADS

    def normal(*shape: int, like: torch.dtype = dtype) -> Tensor:
        return torch.randn(*shape, device="cuda").to(like)

    inputs = {"x": normal(b, length, heads, PEER_SSD_HEAD_DIM),
              "dt": (normal(b, length, heads, like=torch.float32) * 0.5 - 1.0).to(dtype),
              "A": -torch.exp(normal(heads, like=torch.float32) * 0.5),
              "B": normal(b, length, 1, case.state), "C": normal(b, length, 1, case.state),
              "D": normal(heads, like=torch.float32), "z": normal(b, length, heads, PEER_SSD_HEAD_DIM),
              "dt_bias": normal(heads, like=torch.float32) * 0.1}
    for tensor in inputs.values():
        tensor.requires_grad_(grad)
    return inputs, dict(inputs)


Inputs = dict[str, Tensor]
Call = Callable[[Inputs], Tensor]


@dataclass
class Comparison:
    """What a side-by-side section needs: the peer's name, both libraries' calls on their own
    dicts of inputs, the inputs of a case for both (same values), and how to bring the peer's
    output or an input's gradient back to tsssm's layout (``(name, tensor) -> tensor``; ``y``
    names the output)."""

    section: str
    peer: str
    ours: Call
    theirs: Call
    inputs: Callable[[PairCase, bool], tuple[Inputs, Inputs]]
    to_ours: Callable[[str, Tensor], Tensor] = lambda _, tensor: tensor


def agreement(comparison: Comparison, case: PairCase) -> Check:
    """Output and every input's gradient of tsssm against the peer, for one output gradient."""
    ours, theirs = comparison.inputs(case, True)
    y_ours, y_theirs = comparison.ours(ours), comparison.theirs(theirs)
    grad_out = torch.randn_like(y_ours)
    grad_theirs = torch.autograd.grad(comparison.to_ours("y", y_theirs), y_theirs, grad_out,
                                      retain_graph=True)[0]
    names = [name for name, t in ours.items() if t.requires_grad]
    g_ours = torch.autograd.grad(y_ours, [ours[n] for n in names], grad_out)
    g_theirs = torch.autograd.grad(y_theirs, [theirs[n] for n in names], grad_theirs)
    errors = {"y": relative_error(y_ours, comparison.to_ours("y", y_theirs))}
    errors.update({f"d{n}": relative_error(a, comparison.to_ours(n, b))
                   for n, a, b in zip(names, g_ours, g_theirs)})
    return Check(f"{case.kernel} {case.dtype} {OURS} vs {comparison.peer}", case.label, errors,
                 TOLERANCE[case.dtype])


class SharedInputs:
    """One set of tensors for a pair of rows: made for the first library's row, released after
    the second's, so both time the same values and only one set is alive at a time."""

    def __init__(self, comparison: Comparison, case: PairCase) -> None:
        self.comparison, self.case, self.held = comparison, case, {}

    def first(self, grad: bool) -> Inputs:
        self.held[grad] = self.comparison.inputs(self.case, grad)
        return self.held[grad][0]

    def second(self, grad: bool) -> Inputs:
        return self.held.pop(grad)[1]


def pair_rows(comparison: Comparison, case: PairCase) -> list[tuple[Row, Callable[[], Timed]]]:
    """Both libraries' rows of ``case`` in each mode, tsssm's first."""
    rows = []
    shape = {"batch": case.batch, "length": case.length, "state": case.state}
    for mode in MODES:
        shared = SharedInputs(comparison, case)
        for library, inputs, call in ((OURS, shared.first, comparison.ours),
                                      (comparison.peer, shared.second, comparison.theirs)):
            row = Row(comparison.section, peer_row_case(case, library), case.dtype, mode,
                      case.batch * case.length, shape)
            rows.append((row, kernel_setup(inputs, lambda t, _backend, call=call: call(t), mode,
                                           False)))
    return rows


def compare(bench: Bench, comparison: Comparison, cases: list[PairCase],
            check_shape: tuple[int, int]) -> None:
    """Per (kernel, dtype, state) of ``cases``: tune both libraries at ``cases.TUNE_SHAPE``,
    check they agree at ``check_shape`` (batch, length), then time every pair."""
    for kernel, dtype, state in dict.fromkeys((c.kernel, c.dtype, c.state) for c in cases):
        group = [c for c in cases if (c.kernel, c.dtype, c.state) == (kernel, dtype, state)]
        check_case = PairCase(kernel, dtype, *check_shape, state)
        tuning = PairCase(kernel, dtype, *TUNE_SHAPE, state)
        bench.run_group(f"{kernel} {dtype} N{state} vs {comparison.peer}",
                        [setup for _, setup in pair_rows(comparison, tuning)],
                        lambda: agreement(comparison, check_case),
                        [pair for case in group for pair in pair_rows(comparison, case)])


def loaded(bench: Bench, section: str, load: Callable[[], Call]) -> Call | None:
    """The peer's function, or None after recording why it could not be had."""
    try:
        return load()
    except PeerUnavailable as error:
        bench.log(f"{section}: {error}")
        bench.report.errors.append(f"{section}: {error}")
        return None


def mamba_peer(bench: Bench, section: str, loader) -> Call | None:
    """mamba_ssm's kernel from ``--peer-dir`` through ``loader``, its load time in the report."""
    if bench.peer_dir is None:
        bench.report.errors.append(f"{section}: not run (no --peer-dir given)")
        return None

    def load() -> Call:
        kernel = loader(bench.peer_dir)
        bench.report.meta.setdefault("peer", {})[section] = {
            "source": kernel.source, "load_s": round(kernel.load_s, 1)}
        bench.log(f"loaded {THEIRS} for {section} from {kernel.source} in {kernel.load_s:.0f} s")
        return kernel.fn

    return loaded(bench, section, load)


def run_scan(bench: Bench) -> None:
    peer = mamba_peer(bench, "peer-scan", load_peer_scan)
    if peer is not None:
        comparison = Comparison(
            PEER_SECTION, THEIRS,
            lambda t: selective_scan(**t, delta_softplus=True, backend="triton"),
            lambda t: peer(**t, delta_softplus=True), scan_inputs, from_peer_layout)
        compare(bench, comparison, [c for c in pair_cases() if c.kernel == "scan"], CHECK_SCAN)


def run_ssd(bench: Bench) -> None:
    peer = mamba_peer(bench, "peer-ssd", load_peer_ssd)
    if peer is not None:
        comparison = Comparison(
            PEER_SECTION, THEIRS,
            lambda t: ssd(**t, chunk_size=PEER_SSD_CHUNK, dt_softplus=True, backend="triton"),
            lambda t: peer(**t, chunk_size=PEER_SSD_CHUNK, dt_softplus=True), ssd_inputs)
        compare(bench, comparison, [c for c in pair_cases() if c.kernel == "ssd"], CHECK_SSD)
