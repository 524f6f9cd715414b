"""What the SSD scan's kernels compile to on an H100/H200 (sm_90), without a GPU.

    python scripts/ssd_sass_stats.py [--batch 4] [--length 65536] [--states 128 16] [--kernel K]
                                     [--first-config]

Compiles every kernel of the SSD forward and backward (bf16, 24 heads × 64, chunk 256 and L a
multiple of it, D, z, dt_bias and softplus on) with Triton's bundled ptxas, once per config the
autotuner keeps after its pruning at these sizes, its integer arguments specialised as the launch
would (value 1 a constant, multiples of 16 marked divisible). Prints per kernel and config:
registers per thread, spill stack and spill instructions (STL/LDL), shared memory, and the
tensor-core instructions — Hopper's warpgroup MMA (HGMMA) or the warp-level HMMA — in the whole
kernel and in its hot loop (the longest backward branch), and the length of every loop that holds
tensor-core instructions (a kernel may run several, such as the chunk scans' far and near step
blocks), and the hot loop's shared-memory loads, stores and barriers (LDS, STS, BAR: the traffic of
a reduction or scan across warps, or of a layout conversion, which a loop over registers has none
of); ``--kernel`` keeps the kernels whose name contains K, ``--first-config`` each kernel's first
config (a quick check that every kernel compiles at a shape: at batch 1 and one chunk, where Triton
makes those arguments constants). An offline compile: no timing. Needs triton and the repository on
the path; no CUDA.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter

import triton
import triton.language as tl
from scan_sass_stats import (hot_loop, hot_loop_span, instructions, loop_spans, sass,
                             specialise)
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from triton.runtime.jit import JITFunction

from tsssm.kernels.ssd import triton as ssd_triton
from tsssm.kernels.ssd import (triton_chunk_dbc, triton_chunk_scan, triton_cumsum, triton_gram,
                               triton_pairs, triton_states, triton_tiles)
from tsssm.kernels.triton_common import dot_width

CHUNK, HEADS, HEAD_DIM, GROUPS = 256, 24, 64, 1
FLAGS = {"HAS_D": 1, "HAS_Z": 1, "STORE_PRE": 1, "HAS_BIAS": 1, "SOFTPLUS": 1, "HAS_INIT": 0,
         "INTERPRETED": 0, "WHOLE": 1, "DT": tl.bfloat16}
BF16_POINTERS = {
    "dt_cumsum_fwd_kernel": {"dt_ptr"}, "dt_cumsum_bwd_kernel": {"dt_ptr"},
    "chunk_outer_kernel": {"a_ptr", "b_ptr"}, "pass_states_kernel": {"entering_ptr"},
    "pass_states_bwd_kernel": {"dh_ptr"}, "chain_states_kernel": {"x_ptr", "b_ptr", "entering_ptr"},
    "chunk_scan_fwd_kernel": {"x_ptr", "B_ptr", "C_ptr", "z_ptr", "y_ptr", "y_pre_ptr"},
    "chunk_scan_dx_kernel": {"x_ptr", "B_ptr", "C_ptr", "dy_ptr", "dx_ptr"},
    "chunk_pairs_kernel": {"dy_ptr", "x_ptr", "B_ptr", "C_ptr", "pairs_ptr"},
    "chunk_scan_dbc_kernel": {"u_ptr", "w_ptr", "own_ptr", "out_ptr", "pairs_ptr"},
    "gate_bwd_kernel": {"dout_ptr", "z_ptr", "y_pre_ptr", "dy_ptr", "dz_ptr"},
    "chunk_gram_kernel": {"C_ptr", "B_ptr"}}
"""The pointers that read or write bf16 tensors; every other one is fp32."""
SHORT_NAMES = {"HEADS_PER_PROGRAM": "heads", "NEAR_STAGES": "near stages"}
"""Config names shown shorter (blocks lose their ``BLOCK_`` prefix)."""


def int_values(batch: int, length: int, state: int) -> dict[str, int]:
    """The integer arguments' values at a shape, by name; strides ``s_<tensor>_<axis>`` follow
    from the tensor's layout: x-like (b, L, H, P), B-like (b, L, G, N), dt (b, L, H), D (H,)."""
    pn = HEAD_DIM * state
    values = {"batch": batch, "L": length, "H": HEADS, "G": GROUPS, "P": HEAD_DIM, "N": state,
              "heads_per_group": HEADS // GROUPS, "n_chunks": triton.cdiv(length, CHUNK),
              "PN": pn, "n_rows": batch * length * HEADS,
              "n_dlast_parts": triton.cdiv(pn, ssd_triton._pass_block(pn)),
              "n_dcs_parts": 1 + CHUNK // 64}
    layouts = {"x": {"b": length * HEADS * HEAD_DIM, "l": HEADS * HEAD_DIM, "h": HEAD_DIM, "p": 1},
               "B": {"b": length * GROUPS * state, "l": GROUPS * state, "g": state, "n": 1},
               "dt": {"b": length * HEADS, "l": HEADS, "h": 1}, "D": {"h": 1, "p": 0}}
    tensors = {"x": "x", "z": "x", "dy": "x", "u": "x", "v": "x", "a": "x", "do": "x",
               "B": "B", "C": "B", "w": "B", "o": "B", "b": "B", "dt": "dt", "D": "D"}
    for tensor, layout in tensors.items():
        values |= {f"s_{tensor}_{axis}": stride for axis, stride in layouts[layout].items()}
    return values


def tensor_core_counts(code: str) -> tuple[Counter, Counter]:
    """(HGMMA/HMMA instructions in the kernel, in its hot loop), by mnemonic without suffixes."""
    whole, loop = Counter(), Counter()
    span = hot_loop_span(code)
    for address, op in instructions(code):
        if op.startswith(("HGMMA", "HMMA")):
            whole[op.split(".")[0]] += 1
            if span[0] <= address <= span[1]:
                loop[op.split(".")[0]] += 1
    return whole, loop


def mma_loops(code: str) -> str:
    """Each loop holding tensor-core instructions, in address order, as "instructions (MMAs)"."""
    found = instructions(code)
    shown = []
    for first, last in loop_spans(code):
        body = [op for address, op in found if first <= address <= last]
        mmas = sum(op.startswith(("HGMMA", "HMMA")) for op in body)
        if mmas:
            shown.append(f"{len(body)} ({mmas})")
    return ", ".join(shown) or "—"


def kernels(state: int) -> list[tuple[object, dict, list[triton.Config]]]:
    """(kernel, its constants, the configs kept) for every launch of the forward and backward."""
    shape = {"CHUNK": CHUNK, "P": HEAD_DIM, "N": state, "heads_per_group": HEADS // GROUPS}
    block_h = ssd_triton._cumsum_block_h(HEADS, CHUNK)
    pass_block = ssd_triton._pass_block(HEAD_DIM * state)
    dbc_widths = {"BLOCK_K": dot_width(HEAD_DIM),
                  "BLOCK_N": max(dot_width(state), triton_tiles.MIN_LOOP_WIDTH)}
    gram = state >= ssd_triton.GRAM_MIN_STATE
    scan_widths = {"BLOCK_K": dot_width(state), "BLOCK_O": dot_width(HEAD_DIM), "HAS_GRAM": gram}

    def kept(tuner) -> list[triton.Config]:
        return tuner.early_config_prune(tuner.configs, shape)

    one = [triton.Config({}, num_warps=4, num_stages=3)]
    passes = [triton.Config({}, num_warps=ssd_triton.PASS_WARPS, num_stages=3)]
    products = [(triton_gram.chunk_gram_kernel,
                 {"BLOCK": min(triton_gram.GRAM_BLOCK, CHUNK), "BLOCK_K": dot_width(state)}, one)]
    return [
        (triton_cumsum.dt_cumsum_fwd_kernel, {"BLOCK_H": block_h}, one),
        *[(triton_states.chunk_outer_kernel, {"FOR_STATES": s},
           kept(triton_states.chunk_outer_kernel)) for s in (1, 0)],
        (triton_states.pass_states_kernel, {"BLOCK": pass_block, "GROUP": ssd_triton.PASS_GROUP},
         passes),
        (triton_states.chain_states_kernel, {}, kept(triton_states.chain_states_kernel)),
        *(products if gram else []),
        (triton_chunk_scan.chunk_scan_fwd_kernel, scan_widths,
         kept(triton_chunk_scan.chunk_scan_fwd_kernel)),
        (triton_chunk_scan.gate_bwd_kernel, {"BLOCK_R": 2048 // dot_width(HEAD_DIM),
                                             "BLOCK_P": dot_width(HEAD_DIM)}, one),
        (triton_states.pass_states_bwd_kernel,
         {"BLOCK": pass_block, "GROUP": ssd_triton.PASS_GROUP}, passes),
        *(products if gram else []),
        (triton_chunk_scan.chunk_scan_dx_kernel, scan_widths,
         kept(triton_chunk_scan.chunk_scan_dx_kernel)),
        (triton_pairs.chunk_pairs_kernel,
         {"HAS_GRAM": gram, "BLOCK_K": max(dot_width(HEAD_DIM), triton_tiles.MIN_LOOP_WIDTH),
          "BLOCK_N": dot_width(state)},
         kept(triton_pairs.chunk_pairs_kernel)),
        *[(triton_chunk_dbc.chunk_scan_dbc_kernel, {"REVERSE": r} | dbc_widths,
           kept(triton_chunk_dbc.chunk_scan_dbc_kernel)) for r in (0, 1)],
        (triton_cumsum.dt_cumsum_bwd_kernel, {"BLOCK_H": block_h}, one)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--length", type=int, default=65536)
    parser.add_argument("--states", type=int, nargs="+", default=[128, 16])
    parser.add_argument("--kernel", default="", help="only kernels whose name contains this")
    parser.add_argument("--first-config", action="store_true",
                        help="only each kernel's first config: a quick check that all compile")
    args = parser.parse_args()
    for state in args.states:
        print(f"\n## N {state}: sm_90, bf16, B{args.batch} L{args.length}, {HEADS} heads × "
              f"{HEAD_DIM}, chunk {CHUNK}\n")
        print("| kernel | flags | config | registers | spill stack (bytes) | STL/LDL | "
              "shared (bytes) | HGMMA / HMMA | in hot loop | hot-loop instructions | "
              "MMA loops: instructions (MMAs) | hot loop LDS / STS / BAR |")
        print("|---|---|---|---:|---:|---:|---:|---|---|---:|---|---|")
        values = int_values(args.batch, args.length, state)
        for kernel, extra, configs in kernels(state):
            fn = kernel if isinstance(kernel, JITFunction) else kernel.fn  # autotuner -> JIT
            if args.kernel not in fn.__name__:
                continue
            flags = {k: v for k, v in FLAGS.items() if k in fn.arg_names}
            flags |= {"CHUNK": CHUNK} if "CHUNK" in fn.arg_names else {}
            for config in configs[:1] if args.first_config else configs:
                constants = flags | extra | config.kwargs
                signature, constexprs, attrs = specialise(
                    fn, constants, values, BF16_POINTERS.get(fn.__name__, set()))
                compiled = triton.compile(
                    ASTSource(fn=fn, signature=signature, constexprs=constexprs, attrs=attrs),
                    target=GPUTarget("cuda", 90, 32),
                    options={"num_warps": config.num_warps, "num_stages": config.num_stages})
                usage, code = sass(compiled.asm["cubin"])
                ops = Counter(op.split(".")[0] for _, op in instructions(code))
                whole, loop = tensor_core_counts(code)
                hot = hot_loop(code)
                registers = re.search(r"REG:(\d+)", usage).group(1)
                stack = re.search(r"STACK:(\d+)", usage).group(1)
                shown = {k: int(v) for k, v in extra.items()
                         if k in ("FOR_STATES", "REVERSE", "HAS_GRAM")}
                blocks = ", ".join(f"{SHORT_NAMES.get(k, k.removeprefix('BLOCK_'))} {v}"
                                   for k, v in config.kwargs.items())
                print(f"| {fn.__name__} | {' '.join(f'{k}={v}' for k, v in shown.items()) or '—'}"
                      f" | {blocks + ', ' if blocks else ''}{config.num_warps}w "
                      f"{config.num_stages}s"
                      f" | {registers} | {stack}"
                      f" | {ops['STL'] + ops['LDL']} | {compiled.metadata.shared}"
                      f" | {fmt(whole)} | {fmt(loop)} | {len(hot)}"
                      f" | {mma_loops(code)} | {shared_traffic(hot)} |", flush=True)


def shared_traffic(hot: list[str]) -> str:
    """A hot loop's (its mnemonics) shared-memory loads, stores and barriers, as
    "LDS / STS / BAR"."""
    ops = Counter(op.split(".")[0] for op in hot)
    return f"{ops['LDS']} / {ops['STS']} / {ops['BAR']}"


def fmt(counts: Counter) -> str:
    return " ".join(f"{name} {count}" for name, count in sorted(counts.items())) or "—"


if __name__ == "__main__":
    main()
