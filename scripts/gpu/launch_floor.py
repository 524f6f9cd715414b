"""What launching costs the host, whatever the kernel does: the floor under a scan's wall time at
small shapes, where the GPU finishes before Python has issued the next call.

    python scripts/gpu/launch_floor.py OUT

Host µs per call (the mean of ``launch_profile.HOST_CALLS`` calls back to back, the GPU idle
when they start) of: an empty Triton kernel with 1, 16 and 48 runtime arguments, launched through
``JITFunction.run`` as tsssm's ``TunedLaunch`` launches its kernels (half pointers, half ints, as
a scan's tensors and strides); one PyTorch elementwise op (a launch from C++); ``torch.empty``
alone. Writes ``OUT/launch_floor.md``. The empty kernels are generated into a temporary module:
Triton compiles a function from its source file. Needs a GPU; no hydra or mlflow.
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
from pathlib import Path

import torch
import triton
from launch_profile import host_us

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


def arguments(n_args: int, target: torch.Tensor) -> list:
    """The first argument the target; then tensors and ints alternating."""
    return [target] + [target if i % 2 else 7 + i for i in range(1, n_args)]


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
            args = arguments(n_args, target)

            def launch(kernel=kernel, args=args) -> None:
                kernel.run(*args, grid=(1,), warmup=False)

            rows.append((f"empty Triton kernel, {n_args} arguments (`JITFunction.run`)",
                         warm_host_us(launch)))
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
