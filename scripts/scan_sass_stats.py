"""What the selective scan's kernels compile to on an H100/H200 (sm_90), without a GPU.

    python scripts/scan_sass_stats.py [--dtype bf16] [--every-config]

Compiles the forward, backward and segment pre-pass kernels with Triton's bundled ptxas for the
configs the autotuner keeps on the H200 (Mamba's options on: D skip, gate, Δ bias and softplus;
as for training: checkpoints and y before the gate stored), then prints per kernel its registers
per thread, spill stack, and the SASS instructions of its hot loop (the longest backward branch)
per (step, channel, state) element a thread handles: the instruction budget behind the timings.
Needs triton and the repository on the path; no CUDA.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
from pathlib import Path

import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from tsssm.kernels.selective_scan import (triton_backward, triton_forward, triton_segments,
                                          triton_tiles)

BIN = Path(triton.__file__).parent / "backends" / "nvidia" / "bin"
LOW_PRECISION = {"u_ptr", "dt_ptr", "z_ptr", "dy_ptr", "du_ptr", "ddt_ptr", "dz_ptr", "y_ptr",
                 "ypre_ptr"}
FLAGS = {"HAS_D": 1, "HAS_Z": 1, "HAS_BIAS": 1, "SOFTPLUS": 1, "HAS_H0": 0, "HAS_DFINAL": 0,
         "STORE_FINAL": 0, "STORE_CKPT": 1, "STORE_YPRE": 1}
# (kernel, BLOCK_D, N2, num_warps, STAGES, SPLIT): FORWARD_CONFIGS[0] and BACKWARD_CONFIGS[0].
KERNELS = ((triton_forward.scan_fwd_kernel, 16, 4, 2, 4, None),
           (triton_segments.segment_ends_kernel, 16, 4, 2, 4, None),
           (triton_segments.segment_adjoints_kernel, 16, 4, 2, 4, None),
           (triton_backward.scan_bwd_kernel, 8, 8, 1, 3, 2))
CHUNK, DSTATE = 16, 16


def signature(fn, constants: dict[str, int], dtype: str) -> dict[str, str]:
    """Triton types of the kernel's arguments: pointers, 32-bit ints, unit strides constant."""
    types = {}
    for name in fn.arg_names:
        if name in constants:
            types[name] = "constexpr"
        elif name.endswith("_ptr"):
            types[name] = "*" + (dtype if name in LOW_PRECISION else "fp32")
        else:
            types[name] = "i32"
    return types


def sass(cubin: bytes) -> tuple[str, str]:
    """(resource usage, disassembly) of a cubin, through the bundled cuobjdump."""
    with tempfile.NamedTemporaryFile(suffix=".cubin") as file:
        file.write(cubin)
        file.flush()
        usage = subprocess.run([BIN / "cuobjdump", "--dump-resource-usage", file.name],
                               capture_output=True, text=True, check=True).stdout
        code = subprocess.run([BIN / "cuobjdump", "--dump-sass", file.name],
                              capture_output=True, text=True, check=True).stdout
    return usage, code


def hot_loop_length(code: str) -> int:
    """Instructions between the target and the source of the longest backward branch."""
    addresses, loops = [], []
    for line in code.splitlines():
        match = re.match(r"\s+/\*([0-9a-f]+)\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]+)(.*)", line)
        if not match:
            continue
        address = int(match.group(1), 16)
        addresses.append(address)
        target = re.search(r"0x([0-9a-f]+)", match.group(3))
        if match.group(2).startswith("BRA") and target and int(target.group(1), 16) < address:
            loops.append((int(target.group(1), 16), address))
    return max((sum(lo <= a <= hi for a in addresses) for lo, hi in loops), default=0)


def every_config() -> tuple:
    """Each forward and backward config the autotuner may pick, as ``KERNELS`` rows."""
    forward = tuple((triton_forward.scan_fwd_kernel, c["BLOCK_D"], c["N2"], c["num_warps"],
                     c["STAGES"], None) for c in triton_tiles.FORWARD_CONFIGS)
    backward = tuple((triton_backward.scan_bwd_kernel, c["BLOCK_D"], c["N2"], c["num_warps"],
                      c["STAGES"], c["SPLIT"]) for c in triton_tiles.BACKWARD_CONFIGS)
    return forward + backward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="bf16", choices=("bf16", "fp32"))
    parser.add_argument("--every-config", action="store_true",
                        help="every forward and backward autotune config, not the first of each")
    args = parser.parse_args()
    dtype = args.dtype
    print(f"sm_90, {dtype}, N {DSTATE}, chunk {CHUNK}, Mamba's options on\n")
    print("| kernel | config | registers | spill stack (bytes) | hot-loop instructions | "
          "per element |")
    print("|---|---|---:|---:|---:|---:|")
    for kernel, block_d, n2, warps, stages, split in (every_config() if args.every_config
                                                      else KERNELS):
        fn = kernel.fn.fn  # autotuner -> heuristics -> JIT function
        constants = {k: v for k, v in FLAGS.items() if k in fn.arg_names}
        constants |= {"EVEN_D": 1, "DSTATE": DSTATE, "CHUNK": CHUNK, "BLOCK_N": DSTATE,
                      "BLOCK_D": block_d, "N2": n2, "STAGES": stages}
        if split is not None:
            constants["SPLIT"] = split
        constants |= {name: 1 for name in fn.arg_names if re.fullmatch(r"s_\w+_[dn]", name)
                      and name != "s_A_d"}
        compiled = triton.compile(ASTSource(fn=fn, signature=signature(fn, constants, dtype),
                                            constexprs=constants),
                                  target=GPUTarget("cuda", 90, 32),
                                  options={"num_warps": warps, "num_stages": 1})
        usage, code = sass(compiled.asm["cubin"])
        registers = re.search(r"REG:(\d+)", usage).group(1)
        stack = re.search(r"STACK:(\d+)", usage).group(1)
        loop = hot_loop_length(code)
        elements = CHUNK * block_d * DSTATE // (32 * warps)  # per thread per loop iteration
        config = f"BLOCK_D {block_d}, N2 {n2}, {warps} warp(s)" + (f", SPLIT {split}"
                                                                   if split else "")
        print(f"| {fn.__name__} | {config} | {registers} | {stack} | {loop} | "
              f"{loop / elements:.1f} |")


if __name__ == "__main__":
    main()
