"""The CPU selective scan's time against its chunk length: why ``chunk_steps`` picks what it does.

    python scripts/reference_scan_chunks.py [--repeats 5] [--threads 1]

For shapes from a forecaster's patched batch (ILI: 16 × 7 series, 41 patches, D 128) to a long
single sequence, times ``selective_scan_ref``'s forward + backward (every Mamba option on: D skip,
z gate, delta_bias, softplus; fp32) at chunk lengths 2 … 64 and at ``chunk_size=None`` (the
automatic choice), and prints a Markdown table of the best of ``--repeats`` runs in ms. Then a
Mamba forecaster's training step at ILI's default (``experiment=ltsf/ili model=mamba ~recipe``:
batch 16, 7 series, lookback 104, 2 layers, not the tuned recipe; the network's forward, MSE and
backward) with every chunk up to 64 steps and with the automatic chunk (the forecaster is built
from its data: ILI must be under the data root, ``TSSSM_DATA``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

from tsssm.kernels.selective_scan import reference
from tsssm.kernels.selective_scan.reference import chunk_steps, selective_scan_ref
from tsssm.run.training import build

CONF = Path(__file__).resolve().parents[1] / "conf"

SHAPES = ((112, 41, 128, 16), (32, 336, 128, 16), (8, 512, 256, 16), (4, 1024, 32, 16),
          (1, 2048, 64, 16), (2, 256, 8, 4))
CHUNKS = (2, 4, 8, 16, 32, 64)


def best_of(step, repeats: int) -> float:
    """Best wall ms of ``repeats`` calls of ``step`` (after one warm-up)."""
    step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def best_ms(batch: int, length: int, dim: int, state: int, chunk: int | None,
            repeats: int) -> float:
    """Best wall ms of ``repeats`` forward + backward passes (after one warm-up)."""
    def leaf(*shape: int) -> torch.Tensor:
        return torch.randn(*shape).requires_grad_()

    inputs = dict(u=leaf(batch, length, dim), delta=leaf(batch, length, dim),
                  A=(-torch.rand(dim, state) - 0.5).requires_grad_(),
                  B=leaf(batch, length, 1, state), C=leaf(batch, length, 1, state),
                  D=leaf(dim), z=leaf(batch, length, dim), delta_bias=leaf(dim))

    def step() -> None:
        y = selective_scan_ref(**inputs, delta_softplus=True, chunk_size=chunk)
        y.pow(2).mean().backward()

    return best_of(step, repeats)


def forecaster_step_ms(chunk_bytes: int, repeats: int) -> float:
    """Best ms of a Mamba forecaster's training step at ILI's default, its scans' chunks chosen
    under ``chunk_bytes``."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("fit", overrides=["experiment=ltsf/ili", "model=mamba", "~recipe",
                                           "trainer=cpu"])
    net = build(cfg)[1].net
    series = torch.randn(cfg.data.batch_size, cfg.data.lookback, 7)

    def step() -> None:
        forecast = net(series)
        forecast.pow(2).mean().backward()

    default, reference.CHUNK_BYTES = reference.CHUNK_BYTES, chunk_bytes
    try:
        return best_of(step, repeats)
    finally:
        reference.CHUNK_BYTES = default


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print("| batch, L, D, N | state KiB | " + " | ".join(f"T {t}" for t in CHUNKS)
          + " | auto (T) |")
    print("|---|---:|" + "---:|" * (len(CHUNKS) + 1))
    for shape in SHAPES:
        batch, _, dim, state = shape
        cells = [f"{best_ms(*shape, chunk, args.repeats):.0f}" for chunk in CHUNKS]
        picked = chunk_steps(batch, dim, state, torch.float32)
        auto = f"{best_ms(*shape, None, args.repeats):.0f} ({picked})"
        print(f"| {', '.join(map(str, shape))} | {batch * dim * state * 4 / 1024:.0f} | "
              + " | ".join(cells) + f" | {auto} |", flush=True)
    longest = forecaster_step_ms(1 << 62, args.repeats)
    automatic = forecaster_step_ms(reference.CHUNK_BYTES, args.repeats)
    print(f"\nMamba forecaster, ILI default, training step: {longest:.0f} ms with chunks of "
          f"{reference.MAX_CHUNK}, {automatic:.0f} ms with the automatic chunk")


if __name__ == "__main__":
    main()
