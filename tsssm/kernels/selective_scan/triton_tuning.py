"""Block shapes of the scan kernels: a few autotuned configs on the GPU, one under the interpreter.

A config sets ``BLOCK_D`` (channels per program), ``N2`` (lanes per channel; each thread holds
``N / N2`` states), ``num_warps``, ``STAGES`` (chunks in flight in the pipelined loop) and, in
the backward, ``SPLIT`` (sub-chunks per checkpointed chunk, ``triton_backward``). The
lanes and warps must all go to the channel and state axes, ``BLOCK_D ≥ (32 / N2) · num_warps``,
or Triton would spread the time axis over lanes and the in-register scan would become a
shuffle scan; configs that break this for the call's sizes are dropped.

The configs trade the reductions over the state (``log2 N2`` shuffle rounds per ``N / N2``
states) against parallelism: B4 · D1536 channels at N2 = 4 make 768 warps, fewer than 6 per SM.
"""

from __future__ import annotations

import triton

from tsssm.kernels.selective_scan.triton_tiles import INTERPRETED

# The fastest of wider sweeps on an H200 (B4 L16K D1536 N16, chunk 16): in the forward,
# 2-stage pipelines lose 35% to memory latency; in the backward, programs of one warp, whose
# sums over channels need no shared-memory round between warps, run in half the time of 4-warp
# ones, and 8-step tiles (chunk 8) in 30% less than 16-step ones.
FORWARD_CONFIGS = (dict(BLOCK_D=16, N2=4, STAGES=4, num_warps=2),
                   dict(BLOCK_D=8, N2=4, STAGES=4, num_warps=1),
                   dict(BLOCK_D=16, N2=4, STAGES=4, num_warps=1))
BACKWARD_CONFIGS = (dict(BLOCK_D=8, N2=8, STAGES=3, SPLIT=2, num_warps=1),
                    dict(BLOCK_D=8, N2=8, STAGES=3, SPLIT=1, num_warps=1),
                    dict(BLOCK_D=8, N2=4, STAGES=3, SPLIT=2, num_warps=1))
INTERPRETED_BLOCK_D, INTERPRETED_N2 = 4, 2  # several channel blocks and lanes per channel in tests

SCAN_KEY = ["dim", "DSTATE", "chans_per_group", "HAS_D", "HAS_Z", "HAS_BIAS", "SOFTPLUS",
            "HAS_H0", "CHUNK"]


def _fits(block_d: int, n2: int, warps: int, block_n: int, chans: int) -> bool:
    """Lanes and warps all on channels and states; no block wider than the group needs."""
    return (n2 <= block_n and block_d >= (32 // n2) * warps
            and block_d <= max((32 // n2) * warps, triton.next_power_of_2(chans)))


def _prune(configs, named_args, **kwargs):
    block_n, chans = kwargs["BLOCK_N"], named_args["chans_per_group"]
    kept = [c for c in configs
            if _fits(c.kwargs["BLOCK_D"], c.kwargs["N2"], c.num_warps, block_n, chans)
            and c.kwargs.get("SPLIT", 1) <= kwargs["CHUNK"]]
    if kept:
        return kept
    n2 = min(4, block_n)
    fallback = {"BLOCK_D": 32 // n2, "N2": n2, "STAGES": 2}
    return [triton.Config(fallback | ({"SPLIT": 1} if "SPLIT" in configs[0].kwargs else {}),
                          num_warps=1)]


def _interpreted_config(args: dict, uses_split: bool) -> dict:
    """The one config of the interpreter: small blocks, and the backward's halves of a chunk
    from chunk 8 up (shorter chunks in the tests run it whole)."""
    config = {"BLOCK_D": INTERPRETED_BLOCK_D, "N2": min(INTERPRETED_N2, args["BLOCK_N"]),
              "STAGES": 1}
    return config | ({"SPLIT": 2 if args["CHUNK"] >= 8 else 1} if uses_split else {})


def scan_tuning(configs: tuple[dict, ...], key_extra: list[str], **autotune_kwargs):
    """Decorator: autotune the scan configs on GPUs, a fixed small block when interpreted;
    then ``EVEN_D`` (the block divides the group: no channel masks) from the block chosen."""
    if INTERPRETED:
        uses_split = "SPLIT" in configs[0]
        names = ("BLOCK_D", "N2", "STAGES") + (("SPLIT",) if uses_split else ())
        choose = triton.heuristics(
            {name: (lambda args, name=name: _interpreted_config(args, uses_split)[name])
             for name in names})
    else:
        configs = [triton.Config({k: v for k, v in c.items() if k != "num_warps"},
                                 num_warps=c["num_warps"]) for c in configs]
        choose = triton.autotune(configs, key=SCAN_KEY + key_extra,
                                 prune_configs_by={"early_config_prune": _prune},
                                 **autotune_kwargs)
    even = triton.heuristics(
        {"EVEN_D": lambda args: args["chans_per_group"] % args["BLOCK_D"] == 0})
    return lambda kernel: choose(even(kernel))
