"""What launching costs the host, whatever the kernel does: the floor under a scan's wall time at
small shapes, where the GPU finishes before Python has issued the next call.

    python scripts/gpu/launch_floor.py OUT

Host µs per call (the mean of ``launch_profile.HOST_CALLS`` calls back to back, the GPU idle
when they start) of: an empty Triton kernel with 1, 16 and 48 runtime arguments (pointers, then
as many ints, as a scan's tensors and strides), launched through ``JITFunction.run``; the one of
48 arguments also through its compiled kernel's launcher directly (with the current stream looked
up per call: the least a Python launch costs) and through ``TunedLaunch`` (which launches so after
its first calls, building its key of the arguments on the way); one PyTorch elementwise op (a
launch from C++); ``torch.empty`` alone. Writes ``OUT/launch_floor.md``. The empty kernels are
generated into a temporary module: Triton compiles a function from its source file. Needs a
GPU and tsssm on the path; no hydra or mlflow.
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
from pathlib import Path

import torch
import triton
from launch_profile import host_us
from triton.runtime import driver

from tsssm.kernels.triton_launch import TunedLaunch

ARGUMENT_COUNTS = (1, 16, 48)


def empty_kernel_source(n_args: int) -> str:
    """Source of ``empty_<n>``: a Triton kernel of ``n_args`` arguments that stores one value
    through the first, so it is not compiled away."""
    names = [f"a{i}" for i in range(n_args)]
    return (f"@triton.jit\ndef empty_{n_args}({', '.join(names)}):\n"
            f"    tl.store(a0 + tl.program_id(0), 0.0)\n")


def empty_kernels(folder: Path) -> dict[int, object]:
    """{argument count: JIT function} from one generated module in ``folder``."""
    source = "import triton\nimport triton.language as tl\n\n\n" + "\n\n".join(
        empty_kernel_source(n) for n in ARGUMENT_COUNTS)
    path = folder / "empty_kernels.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("empty_kernels", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {n: getattr(module, f"empty_{n}") for n in ARGUMENT_COUNTS}


def arguments(n_args: int, target: torch.Tensor) -> tuple[tuple, tuple]:
    """(tensors, ints): the target ``ceil(n_args / 2)`` times, then ints."""
    pointers = -(-n_args // 2)
    return (target,) * pointers, tuple(7 + i for i in range(n_args - pointers))


def direct_launch(kernel, args: tuple):
    """A call of ``kernel``'s compiled kernel's launcher over one block, as ``TunedLaunch``
    makes it: the current device's stream, no launch hooks."""
    compiled = kernel.run(*args, grid=(1,), warmup=False)
    active = driver.active

    def launch() -> None:
        device = active.get_current_device()
        compiled.run(1, 1, 1, active.get_current_stream(device), compiled.function,
                     compiled.packed_metadata, None, None, None, *args)

    return launch


def tuned_launch(kernel, tensors: tuple, ints: tuple):
    """A call of ``kernel`` through ``TunedLaunch``, after the two that record its config and
    its compiled kernel."""
    tuned = TunedLaunch(kernel)

    def launch() -> None:
        tuned((1,), tensors, ints, ())

    launch()
    launch()
    return launch


def warm_host_us(fn) -> float:
    """``host_us`` of ``fn`` after one call: the first call of a kernel loads its module (lazily,
    milliseconds), which is no launch's cost."""
    fn()
    torch.cuda.synchronize()
    return host_us(fn)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    target = torch.zeros(1024, device="cuda")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for n_args, kernel in empty_kernels(Path(folder)).items():
            tensors, ints = arguments(n_args, target)
            args = tensors + ints

            def launch(kernel=kernel, args=args) -> None:
                kernel.run(*args, grid=(1,), warmup=False)

            rows.append((f"empty Triton kernel, {n_args} arguments (`JITFunction.run`)",
                         warm_host_us(launch)))
        rows.append((f"empty Triton kernel, {n_args} arguments (compiled kernel's launcher)",
                     warm_host_us(direct_launch(kernel, args))))
        rows.append((f"empty Triton kernel, {n_args} arguments (`TunedLaunch`)",
                     warm_host_us(tuned_launch(kernel, tensors, ints))))
    rows.append(("PyTorch elementwise op (`x.add_(1)`)", warm_host_us(lambda: target.add_(1))))
    rows.append(("`torch.empty` of 1024 floats",
                 warm_host_us(lambda: torch.empty(1024, device="cuda"))))
    lines = [f"# Host time of a launch on {torch.cuda.get_device_name()}", "",
             f"`python scripts/gpu/launch_floor.py OUT`; torch {torch.__version__}, triton "
             f"{triton.__version__}.", "", "| call | host µs |", "|---|---:|"]
    lines += [f"| {name} | {us:.1f} |" for name, us in rows]
    (out / "launch_floor.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
