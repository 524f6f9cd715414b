"""Host cost of the selective scan (or SSD): the Python one call runs to issue its kernels,
without a GPU.

    python scripts/scan_host_cost.py [--batch 1] [--length 2048] [--dim 1536] [--dtype bf16]
        [--device cpu] [--segments S] [--calls 300] [--profile K]
    python scripts/scan_host_cost.py --kernel ssd [--heads 24] [--head-dim 64] [--state 128]
        [--chunk 256] [--batch 1] [--length 2048] ...

Runs ``selective_scan(..., backend="triton")`` (what the kernel benchmark calls; with ``--kernel
ssd``, ``ssd(..., backend="triton")``, Mamba-2's chunked scan, in the layout of its side-by-side
comparison: x and z (B, L, H, P), dt (B, L, H), one group of B and C) with the
kernels as compiled for a GPU (Triton's autotuner, heuristics and JIT function, not its
interpreter) and four things stubbed (``stub_triton``): Triton's active driver answers device 0,
stream 0 and an sm_90 target; compiling a kernel gives a stand-in whose launcher (what a
compiled kernel's ``run`` calls in C) only counts the launch; the autotuner's benchmark of each
config returns a constant; the kernels' device check accepts any device. What remains is
everything above the launcher: argument checks, autograd, allocations and torch ops, segment
and config choices, the autotuner's dispatch, ``JITFunction.run``'s binding and cache lookup
where a launch goes through it, tsssm's direct launches where not. The tensors are on the
CPU, whose torch ops compute (bf16 → fp32 copies of B and C, sums: more host time than a
GPU's queued ops take; a small ``--dim`` shrinks them), or with ``--device meta`` shapes
without data (no compute, but many meta ops are Python functions).

Prints, for the forward without autograd and for forward + backward (every Mamba option on:
D skip, z gate, delta_bias, softplus), the mean µs per call, the torch ops per call and the
kernel launches per call; ``--profile K`` adds cProfile's K functions with the most own time.
"""

from __future__ import annotations

import argparse
import atexit
import cProfile
import io
import os
import pstats
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

os.environ.pop("TRITON_INTERPRET", None)  # the GPU's dispatch stack, decided at kernel import
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402
from triton import knobs  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.runtime import driver  # noqa: E402
from triton.runtime.autotuner import Autotuner  # noqa: E402
from triton.runtime.jit import JITFunction  # noqa: E402

from tsssm.kernels.selective_scan import selective_scan  # noqa: E402
from tsssm.kernels import triton_common  # noqa: E402
from tsssm.kernels.selective_scan import triton as sst  # noqa: E402
from tsssm.kernels.ssd import ssd  # noqa: E402
from tsssm.kernels.ssd import triton as ssd_triton  # noqa: E402

LAUNCHES: Counter[str] = Counter()
"""Kernel launches that reached a compiled kernel's launcher, by kernel name."""


class StubDriver:
    """Triton's driver for a GPU that is not there: device 0, its stream 0, an sm_90 target."""

    def get_current_device(self) -> int:
        return 0

    def get_current_stream(self, device: int) -> int:
        return 0

    def get_current_target(self) -> GPUTarget:
        return GPUTarget("cuda", 90, 32)


class StubKernel:
    """A compiled kernel whose launcher counts the launch and does nothing else."""

    function = packed_metadata = None

    def __init__(self, name: str) -> None:
        self.name = name

    def launch_metadata(self, grid, stream, *args) -> None:
        return None

    def run(self, *args) -> None:
        LAUNCHES[self.name] += 1


def _stub_compile(self: JITFunction, key: str, signature, device: int, *args) -> StubKernel:
    """``JITFunction._do_compile`` without compiling: a ``StubKernel``, cached as Triton caches
    the kernels it compiles."""
    kernel = StubKernel(self.__name__)
    self.device_caches[device][0][key] = kernel
    return kernel


def stub_triton() -> None:
    """Make every Triton launch of this process a no-op and let the kernels take CPU tensors.
    Triton's cache folder moves to a fresh temporary one: the stand-in timings the autotuners
    keep there must never reach a real GPU's runs."""
    knobs.cache.dir = tempfile.mkdtemp(prefix="tsssm-host-cost-")
    atexit.register(shutil.rmtree, knobs.cache.dir, ignore_errors=True)
    driver.set_active(StubDriver())
    JITFunction._do_compile = _stub_compile
    Autotuner._bench = lambda self, *args, config, **meta: [1.0, 1.0, 1.0]
    triton_common.device_problem = lambda device: None  # read by tensors_problem at each call
    ssd_triton.device_problem = triton_common.device_problem  # SSD's own reference to it


class OpCounter(TorchDispatchMode):
    """Counts the torch ops dispatched inside it, by name."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops[str(func.overloadpacket)] += 1
        return func(*args, **(kwargs or {}))


def normal_maker(dtype: torch.dtype, device: str, grad: bool) -> Callable[..., torch.Tensor]:
    """``normal(*shape, like=dtype)``: a standard normal leaf of ``like`` on ``device``,
    requiring grad when ``grad``."""
    def normal(*shape: int, like: torch.dtype = dtype) -> torch.Tensor:
        return torch.randn(*shape, device=device).to(like).requires_grad_(grad)

    return normal


def scan_inputs(batch: int, length: int, dim: int, dtype: torch.dtype, device: str,
                grad: bool) -> dict[str, torch.Tensor]:
    """The benchmark's inputs: u, delta, z (B, L, D) and B, C (B, L, 1, 16) in ``dtype``;
    A (D, 16), D and delta_bias (D,) in fp32."""
    normal = normal_maker(dtype, device, grad)
    return {"u": normal(batch, length, dim), "delta": normal(batch, length, dim),
            "A": normal(dim, 16, like=torch.float32),
            "B": normal(batch, length, 1, 16), "C": normal(batch, length, 1, 16),
            "D": normal(dim, like=torch.float32), "z": normal(batch, length, dim),
            "delta_bias": normal(dim, like=torch.float32)}


def ssd_inputs(batch: int, length: int, heads: int, head_dim: int, state: int,
               dtype: torch.dtype, device: str, grad: bool) -> dict[str, torch.Tensor]:
    """SSD's inputs as its side-by-side comparison makes them: x, z (B, L, H, P), dt (B, L, H)
    and B, C (B, L, 1, N) in ``dtype``; A, D and dt_bias (H,) in fp32."""
    normal = normal_maker(dtype, device, grad)
    return {"x": normal(batch, length, heads, head_dim), "dt": normal(batch, length, heads),
            "A": normal(heads, like=torch.float32), "B": normal(batch, length, 1, state),
            "C": normal(batch, length, 1, state), "D": normal(heads, like=torch.float32),
            "z": normal(batch, length, heads, head_dim),
            "dt_bias": normal(heads, like=torch.float32)}


def scan_call(inputs: dict[str, torch.Tensor], mode: str, segments: int | None,
              chunk: int | None = None) -> Callable[[], object]:
    """One timed call: the forward without autograd, or forward and backward (leaf gradients
    reset first, as ``do_bench``'s ``grad_to_none`` does). With ``segments`` the call is
    ``selective_scan_triton``'s (the dispatcher has no segment argument); with ``chunk``, SSD's
    of that chunk length."""
    def forward() -> torch.Tensor:
        if chunk is not None:
            return ssd(**inputs, chunk_size=chunk, dt_softplus=True, backend="triton")
        if segments is None:
            return selective_scan(**inputs, delta_softplus=True, backend="triton")
        return sst.selective_scan_triton(**inputs, delta_softplus=True, segments=segments)

    if mode == "fwd":
        return torch.no_grad()(forward)
    grad = torch.ones_like(forward())
    leaves = list(inputs.values())

    def both() -> None:
        for leaf in leaves:
            leaf.grad = None
        forward().backward(grad)

    return both


def per_call(fn: Callable[[], object], calls: int) -> tuple[float, Counter[str], Counter[str]]:
    """(mean µs, torch ops, kernel launches) of one call, after warm-up calls."""
    for _ in range(3):
        fn()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    micros = (time.perf_counter() - start) / calls * 1e6
    LAUNCHES.clear()
    with OpCounter() as counter:
        fn()
    return micros, counter.ops, Counter(LAUNCHES)


def profile(fn: Callable[[], object], calls: int, top: int) -> str:
    """cProfile's ``top`` functions by own time over ``calls`` calls."""
    profiler = cProfile.Profile()
    profiler.runcall(lambda: [fn() for _ in range(calls)])
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(top)
    return text.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernel", choices=("scan", "ssd"), default="scan")
    parser.add_argument("--heads", type=int, default=24, help="ssd")
    parser.add_argument("--head-dim", type=int, default=64, help="ssd")
    parser.add_argument("--state", type=int, default=128, help="ssd")
    parser.add_argument("--chunk", type=int, default=256, help="ssd")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--length", type=int, default=2048)
    parser.add_argument("--dim", type=int, default=1536)
    parser.add_argument("--dtype", choices=("bf16", "fp32"), default="bf16")
    parser.add_argument("--device", choices=("cpu", "meta"), default="cpu")
    parser.add_argument("--segments", type=int, help="forced segment count (default: policy)")
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--profile", type=int, default=0, metavar="K")
    args = parser.parse_args()
    stub_triton()
    torch.set_num_threads(1)
    dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}[args.dtype]
    for mode in ("fwd", "fwd+bwd"):
        if args.kernel == "ssd":
            inputs = ssd_inputs(args.batch, args.length, args.heads, args.head_dim, args.state,
                                dtype, args.device, mode != "fwd")
            fn = scan_call(inputs, mode, None, args.chunk)
        else:
            inputs = scan_inputs(args.batch, args.length, args.dim, dtype, args.device,
                                 mode != "fwd")
            fn = scan_call(inputs, mode, args.segments)
        micros, ops, launches = per_call(fn, args.calls)
        print(f"{mode}: {micros:.1f} µs per call; {sum(ops.values())} torch ops "
              f"({', '.join(f'{k} {v}' for k, v in sorted(ops.items()))}); "
              f"{sum(launches.values())} launches ({', '.join(sorted(launches))})", flush=True)
        if args.profile:
            print(profile(fn, args.calls, args.profile))


if __name__ == "__main__":
    main()
