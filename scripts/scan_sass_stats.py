"""What the selective scan's kernels compile to on an H100/H200 (sm_90), without a GPU.

    python scripts/scan_sass_stats.py [--dtype bf16] [--every-config] [--batch 4] [--length 65536]
                                      [--dim 1536] [--chunk 16] [--no-softplus] [--opcodes]

Compiles the forward, backward and segment pre-pass kernels with Triton's bundled ptxas for the
configs the autotuner keeps on the H200 (Mamba's options on: D skip, gate, Δ bias and softplus;
as for training: checkpoints and y before the gate stored), their integer arguments and pointers
specialised as a launch at that shape would (``specialise``: value 1 a constant, multiples of 16
and 16-byte aligned pointers marked divisible, which lets the compiler vectorise the loads), then
prints per kernel its registers per thread, spill stack, and the SASS instructions of its hot loop
(the longest backward branch) per (step, channel, state) element a thread handles: the
instruction budget behind the timings. ``--dim`` 1530 shows a width whose strides are not
multiples of 16; ``--no-softplus`` compiles Δ without its softplus (what it costs);
``--opcodes`` adds, per kernel, the hot loop's instructions by opcode per element. Needs triton
and the repository on the path; no CUDA.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
from collections import Counter
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
# (kernel, config): FORWARD_CONFIGS[0] and BACKWARD_CONFIGS[0].
KERNELS = ((triton_forward.scan_fwd_kernel, triton_tiles.FORWARD_CONFIGS[0]),
           (triton_segments.segment_ends_kernel, triton_tiles.FORWARD_CONFIGS[0]),
           (triton_segments.segment_adjoints_kernel, triton_tiles.FORWARD_CONFIGS[0]),
           (triton_backward.scan_bwd_kernel, triton_tiles.BACKWARD_CONFIGS[0]))
CHUNK, DSTATE = 16, 16


def specialise(fn, constants: dict, values: dict[str, int], low: set[str],
               low_dtype: str = "bf16") -> tuple[dict, dict, dict]:
    """(signature, constexprs, attrs) of ``fn`` as a launch with these integer ``values`` would
    compile it: an int equal to 1 a constant, one divisible by 16 marked so (not under
    ``do_not_specialize``); every pointer 16-byte aligned, ``low_dtype`` for those in ``low``,
    fp32 for the rest."""
    signature, constexprs, attrs = {}, dict(constants), {}
    for index, (name, param) in enumerate(zip(fn.arg_names, fn.params)):
        if name in constexprs:
            signature[name] = "constexpr"
        elif name.endswith("_ptr"):
            signature[name] = "*" + (low_dtype if name in low else "fp32")
            attrs[(index,)] = [["tt.divisibility", 16]]
        elif param.do_not_specialize:
            signature[name] = "i32"
        elif values[name] == 1:
            signature[name], constexprs[name] = "constexpr", 1
        else:
            signature[name] = "i32"
            if values[name] % 16 == 0:
                attrs[(index,)] = [["tt.divisibility", 16]]
    return signature, constexprs, attrs


def int_values(batch: int, length: int, dim: int, chunk: int) -> dict[str, int]:
    """The scan kernels' integer arguments at a shape, by name, as ``selective_scan_triton``
    passes them for contiguous (batch, L, D) steps, A (D, N), B and C (batch, L, 1, N), states
    (batch, D, N), one segment."""
    steps = {"b": length * dim, "l": dim, "d": 1}
    values = {"seqlen": length, "dim": dim, "chans_per_group": dim, "groups": 1,
              "seg_chunks": triton.cdiv(length, chunk), "n_segments": 1,
              "s_A_d": DSTATE, "s_A_n": 1, "s_h0_b": dim * DSTATE, "s_h0_d": DSTATE, "s_h0_n": 1}
    for tensor in ("u", "dt", "z", "y", "yp", "dy", "du", "ddt", "dz"):
        values |= {f"s_{tensor}_{axis}": stride for axis, stride in steps.items()}
    for tensor in ("B", "C"):
        values |= {f"s_{tensor}_b": length * DSTATE, f"s_{tensor}_l": DSTATE,
                   f"s_{tensor}_g": DSTATE, f"s_{tensor}_n": 1}
    return values


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


SASS_LINE = re.compile(r"\s+/\*([0-9a-f]+)\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]+)(.*)")
"""A disassembled instruction: its address, mnemonic (after any predicate) and operands."""


def instructions(code: str) -> list[tuple[int, str]]:
    """(address, mnemonic) of each SASS instruction."""
    return [(int(m.group(1), 16), m.group(2)) for m in map(SASS_LINE.match, code.splitlines())
            if m]


def loop_spans(code: str) -> list[tuple[int, int]]:
    """(first, last) address of each backward branch's body, in address order."""
    spans = []
    for match in filter(None, map(SASS_LINE.match, code.splitlines())):
        address, target = int(match.group(1), 16), re.search(r"0x([0-9a-f]+)", match.group(3))
        if match.group(2).startswith("BRA") and target and int(target.group(1), 16) < address:
            spans.append((int(target.group(1), 16), address))
    return sorted(spans)


def hot_loop_span(code: str) -> tuple[int, int]:
    """(first, last) address of the longest backward branch's body; (1, 0) if none."""
    return max(loop_spans(code), key=lambda span: span[1] - span[0], default=(1, 0))


def hot_loop(code: str) -> list[str]:
    """The mnemonics of the longest backward branch's body."""
    first, last = hot_loop_span(code)
    return [op for address, op in instructions(code) if first <= address <= last]


def opcode_lines(loop: list[str], elements: int, top: int = 12) -> list[str]:
    """The ``top`` commonest opcodes of a hot loop (modifiers dropped), per element."""
    counts = Counter(op.split(".")[0] for op in loop)
    return [f"- {op}: {count / elements:.2f}" for op, count in counts.most_common(top)]


def every_config() -> tuple:
    """Each forward and backward config the autotuner may pick, as ``KERNELS`` rows."""
    return (tuple((triton_forward.scan_fwd_kernel, c) for c in triton_tiles.FORWARD_CONFIGS)
            + tuple((triton_backward.scan_bwd_kernel, c) for c in triton_tiles.BACKWARD_CONFIGS))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="bf16", choices=("bf16", "fp32"))
    parser.add_argument("--every-config", action="store_true",
                        help="every forward and backward autotune config, not the first of each")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--length", type=int, default=65536)
    parser.add_argument("--dim", type=int, default=1536)
    parser.add_argument("--chunk", type=int, default=CHUNK)
    parser.add_argument("--no-softplus", action="store_true", help="Δ as given, no softplus")
    parser.add_argument("--opcodes", action="store_true",
                        help="each kernel's hot-loop instructions by opcode, per element")
    args = parser.parse_args()
    flags = FLAGS | ({"SOFTPLUS": 0} if args.no_softplus else {})
    values = int_values(args.batch, args.length, args.dim, args.chunk)
    print(f"sm_90, {args.dtype}, N {DSTATE}, chunk {args.chunk}, B{args.batch} L{args.length} "
          f"D{args.dim}, Mamba's options on" + (" but softplus" if args.no_softplus else "")
          + "\n")
    print("| kernel | config | registers | spill stack (bytes) | hot-loop instructions | "
          "per element |")
    print("|---|---|---:|---:|---:|---:|")
    breakdowns = []
    for kernel, config in every_config() if args.every_config else KERNELS:
        fn = kernel.fn.fn  # autotuner -> heuristics -> JIT function
        blocks = triton_tiles.config_blocks(config)
        block_d, warps = blocks["BLOCK_D"], config["num_warps"]
        constants = {k: v for k, v in flags.items() if k in fn.arg_names} | blocks
        constants |= {"EVEN_D": int(args.dim % block_d == 0), "DSTATE": DSTATE,
                      "CHUNK": args.chunk, "BLOCK_N": DSTATE}
        signature, constexprs, attrs = specialise(fn, constants, values, LOW_PRECISION,
                                                  args.dtype)
        compiled = triton.compile(ASTSource(fn=fn, signature=signature, constexprs=constexprs,
                                            attrs=attrs),
                                  target=GPUTarget("cuda", 90, 32),
                                  options={"num_warps": warps, "num_stages": 1})
        usage, code = sass(compiled.asm["cubin"])
        registers = re.search(r"REG:(\d+)", usage).group(1)
        stack = re.search(r"STACK:(\d+)", usage).group(1)
        loop = hot_loop(code)
        elements = args.chunk * block_d * DSTATE // (32 * warps)  # per thread per iteration
        label = (f"BLOCK_D {block_d}, N2 {blocks['N2']}, {warps} warp(s)"
                 + (f", SPLIT {blocks['SPLIT']}" if "SPLIT" in blocks else "")
                 + ("" if blocks["VECTOR_STEPS"] else ", VECTOR_STEPS 0"))
        print(f"| {fn.__name__} | {label} | {registers} | {stack} | {len(loop)} | "
              f"{len(loop) / elements:.1f} |")
        breakdowns.append((f"{fn.__name__}, {label}", loop, elements))
    if args.opcodes:
        for title, loop, elements in breakdowns:
            print(f"\n{title}, hot-loop instructions per element by opcode:\n")
            print("\n".join(opcode_lines(loop, elements)))


if __name__ == "__main__":
    main()
