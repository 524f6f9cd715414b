"""Section ``peers``: tsssm's selective scan and SSD against mamba_ssm's, on the same tensors.

Runs when the benchmark is given mamba_ssm's sources (``--peer-dir``; ``peer_library``). Every
Mamba option is on — D skip, z gate, delta_bias and softplus — as a Mamba or Mamba-2 layer calls
the kernels. Per kernel and dtype the two libraries are first checked to agree (output and every
gradient, ‖ours − theirs‖ / ‖theirs‖), then each shape is timed for both, one after the other, on
one set of tensors (the scan's copy in mamba_ssm's ``(B, D, L)`` layout holds the same values).
Rows come in pairs, ``… · tsssm`` and ``… · mamba_ssm``; the targets read their ratio.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from tsssm.benchmarks.cases import (OURS, PEER_SCAN_DIM, PEER_SECTION, PEER_SSD_CHUNK,
                                    PEER_SSD_HEAD_DIM, PEER_SSD_HEADS, THEIRS, TUNE_SHAPE, K,
                                    PairCase, pair_cases, peer_row_case)
from tsssm.benchmarks.checks import TOLERANCE, relative_error
from tsssm.benchmarks.peer_library import PeerKernels, PeerUnavailable, load_peer
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


def calls(peer: PeerKernels, kernel: str) -> dict[str, Callable[[dict[str, Tensor]], Tensor]]:
    """Each library's call of ``kernel`` on its dict of inputs."""
    if kernel == "scan":
        return {OURS: lambda t: selective_scan(**t, delta_softplus=True, backend="triton"),
                THEIRS: lambda t: peer.selective_scan(**t, delta_softplus=True)}
    return {OURS: lambda t: ssd(**t, chunk_size=PEER_SSD_CHUNK, dt_softplus=True, backend="triton"),
            THEIRS: lambda t: peer.chunk_scan(**t, chunk_size=PEER_SSD_CHUNK, dt_softplus=True)}


def make_inputs(case: PairCase, grad: bool) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    return (scan_inputs if case.kernel == "scan" else ssd_inputs)(case, grad)


def agreement(peer: PeerKernels, case: PairCase) -> Check:
    """Output and every input's gradient of tsssm against mamba_ssm, for one output gradient."""
    ours, theirs = make_inputs(case, grad=True)
    call = calls(peer, case.kernel)
    y_ours, y_theirs = call[OURS](ours), call[THEIRS](theirs)
    grad_out = torch.randn_like(y_ours)
    grad_theirs = (to_peer_layout("u", grad_out) if case.kernel == "scan" else grad_out)
    names = list(ours)
    g_ours = torch.autograd.grad(y_ours, [ours[n] for n in names], grad_out)
    g_theirs = torch.autograd.grad(y_theirs, [theirs[n] for n in names], grad_theirs)
    convert = from_peer_layout if case.kernel == "scan" else (lambda _, t: t)
    errors = {"y": relative_error(y_ours, convert("y", y_theirs))}
    errors.update({f"d{n}": relative_error(a, convert(n, b))
                   for n, a, b in zip(names, g_ours, g_theirs)})
    return Check(f"{case.kernel} {case.dtype} tsssm vs mamba_ssm", case.label, errors,
                 TOLERANCE[case.dtype])


class SharedInputs:
    """One set of tensors for a pair of rows: made for the first library's row, released after
    the second's, so both time the same values and only one set is alive at a time."""

    def __init__(self, case: PairCase) -> None:
        self.case, self.held = case, {}

    def first(self, grad: bool) -> dict[str, Tensor]:
        self.held[grad] = make_inputs(self.case, grad)
        return self.held[grad][0]

    def second(self, grad: bool) -> dict[str, Tensor]:
        return self.held.pop(grad)[1]


def pair_rows(peer: PeerKernels, case: PairCase) -> list[tuple[Row, Callable[[], Timed]]]:
    """Both libraries' rows of ``case`` in each mode, tsssm's first."""
    rows = []
    call = calls(peer, case.kernel)
    shape = {"batch": case.batch, "length": case.length, "state": case.state}
    for mode in MODES:
        shared = SharedInputs(case)
        for library, inputs in ((OURS, shared.first), (THEIRS, shared.second)):
            row = Row(PEER_SECTION, peer_row_case(case, library), case.dtype, mode,
                      case.batch * case.length, shape)
            run = call[library]
            rows.append((row, kernel_setup(inputs, lambda t, _backend, run=run: run(t), mode,
                                           False)))
    return rows


def run(bench: Bench) -> None:
    if bench.peer_dir is None:
        bench.report.errors.append("peers: not run (no --peer-dir given)")
        return
    try:
        peer = load_peer(bench.peer_dir)
    except PeerUnavailable as error:
        bench.log(f"peers: {error}")
        bench.report.errors.append(f"peers: {error}")
        return
    bench.report.meta["peer"] = {"source": peer.source, "build_s": round(peer.build_s, 1)}
    bench.log(f"built {THEIRS} from {peer.source} in {peer.build_s:.0f} s")
    cases = pair_cases()
    for kernel, dtype, state in dict.fromkeys((c.kernel, c.dtype, c.state) for c in cases):
        group = [c for c in cases if (c.kernel, c.dtype, c.state) == (kernel, dtype, state)]
        check_case = PairCase(kernel, dtype, *(CHECK_SCAN if kernel == "scan" else CHECK_SSD),
                              state)
        tuning = [setup for _, setup in pair_rows(peer, PairCase(kernel, dtype, *TUNE_SHAPE, state))]
        bench.run_group(f"{kernel} {dtype} N{state} vs {THEIRS}", tuning,
                        lambda: agreement(peer, check_case),
                        [pair for case in group for pair in pair_rows(peer, case)])
