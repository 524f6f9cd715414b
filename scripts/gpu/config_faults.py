"""Which autotuned config of an SSD kernel faults on a shape: each config alone, in its own process.

    python scripts/gpu/config_faults.py OUT --kernel tsssm.kernels.ssd.triton_chunk_scan:chunk_scan_fwd_kernel \
        --shape 2,42,4,4,17,16,64 [--dtype bf16] [--features D,z]

An illegal memory access poisons the CUDA context of its process, and under the autotuner it is
reported at the next synchronisation, often in another kernel's benchmark. Here every config of
``--kernel`` that its autotuner would benchmark at the shape (its configs through the kernel's
pruner, which caps the blocks by the chunk, P, N and the heads a group has) runs alone in a
fresh process with ``CUDA_LAUNCH_BLOCKING=1``: the other kernels autotune as usual, the SSD's
forward and backward run once at ``--shape`` (batch, L, heads, groups, head_dim, state, chunk),
and the child prints ``ok`` or the last line of its error. Writes
``OUT/config_faults_<attribute>.md``. Needs a GPU.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

DTYPES = ("fp32", "bf16")


def load_kernel(spec: str):
    """The autotuned kernel named ``module:attribute``."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def pruned_configs(kernel, shape: list[int]) -> list:
    """The configs ``kernel``'s autotuner benchmarks at ``shape`` (its pruner's choice)."""
    _, _, heads, groups, head_dim, state, chunk = shape
    sizes = {"CHUNK": chunk, "P": head_dim, "N": state, "heads_per_group": heads // groups}
    return kernel.early_config_prune(kernel.configs, sizes)


def as_json(config) -> str:
    return json.dumps({"kwargs": config.kwargs, "num_warps": config.num_warps,
                       "num_stages": config.num_stages})


def run_alone(spec: str, config: str, shape: list[int], dtype: str, features: set[str]) -> None:
    """Forward and backward of the SSD with ``config`` (``as_json``) ``spec``'s only one."""
    import torch
    import triton

    from tsssm.kernels.ssd.triton import ssd_triton

    kernel = load_kernel(spec)
    fields = json.loads(config)
    kernel.configs = [triton.Config(fields["kwargs"], num_warps=fields["num_warps"],
                                    num_stages=fields["num_stages"])]
    batch, length, heads, groups, head_dim, state, chunk = shape
    kind = torch.float32 if dtype == "fp32" else torch.bfloat16
    gen = torch.Generator(device="cpu").manual_seed(0)

    def rand(*size: int, as_dtype: torch.dtype = kind) -> torch.Tensor:
        return torch.randn(*size, generator=gen).to("cuda", as_dtype).requires_grad_(True)

    x = rand(batch, length, heads, head_dim)
    dt = (torch.rand(batch, length, heads, generator=gen) * 0.3 + 0.02).cuda().requires_grad_(True)
    A = (-torch.rand(heads, generator=gen) - 0.5).cuda().requires_grad_(True)
    B, C = rand(batch, length, groups, state), rand(batch, length, groups, state)
    D = rand(heads, head_dim, as_dtype=torch.float32) if "D" in features else None
    z = rand(batch, length, heads, head_dim) if "z" in features else None
    y = ssd_triton(x, dt, A, B, C, D=D, z=z, chunk_size=chunk)
    y.float().square().sum().backward()
    torch.cuda.synchronize()
    print("ok")


def child_result(spec: str, config, args: argparse.Namespace) -> str:
    """What ``config``'s process printed last: ``ok`` or its error."""
    env = dict(os.environ, CUDA_LAUNCH_BLOCKING="1")
    command = [sys.executable, __file__, "--child", as_json(config), "--kernel", spec,
               "--shape", args.shape, "--dtype", args.dtype, "--features", args.features]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=args.timeout)
    lines = (done.stdout + done.stderr).strip().splitlines()
    errors = [line for line in lines if "Error" in line]
    return "ok" if done.returncode == 0 and lines[-1:] == ["ok"] else (errors or lines or ["?"])[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", nargs="?", type=Path)
    parser.add_argument("--kernel", required=True, help="module:attribute of an autotuned kernel")
    parser.add_argument("--shape", required=True, help="batch,L,heads,groups,head_dim,state,chunk")
    parser.add_argument("--dtype", choices=DTYPES, default="fp32")
    parser.add_argument("--features", default="", help="comma-separated: D, z")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--timeout", type=int, default=240)
    args = parser.parse_args()
    shape = [int(v) for v in args.shape.split(",")]
    if len(shape) != 7:
        parser.error(f"--shape takes 7 ints (batch,L,heads,groups,head_dim,state,chunk), "
                     f"got {args.shape!r}")
    features = {f for f in args.features.split(",") if f}
    if args.child is not None:
        run_alone(args.kernel, args.child, shape, args.dtype, features)
        return
    if args.out is None:
        parser.error("OUT is required")
    configs = pruned_configs(load_kernel(args.kernel), shape)
    with ThreadPoolExecutor(args.workers) as pool:
        results = list(pool.map(lambda c: child_result(args.kernel, c, args), configs))
    rows = [f"| {i} | {config} | {result} |" for i, (config, result) in
            enumerate(zip(configs, results, strict=True))]
    report = "\n".join([f"# {args.kernel} at shape {args.shape}, {args.dtype}, "
                        f"features {sorted(features)}", "",
                        "| # | config | result |", "|---|---|---|", *rows, ""])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"config_faults_{args.kernel.partition(':')[2]}.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
