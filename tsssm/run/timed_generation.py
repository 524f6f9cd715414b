"""Generation timed and measured as ``python -m tsssm.generate`` reports it.

``tokens_per_s``: generated tokens per second of generation wall time, the prompt's prefill
included, after a short untimed warm-up that absorbs one-off costs such as Triton compilation; CUDA
is synchronised around the timing. ``memory``: ``state_bytes`` (the decoding state the last token
was sampled from, its buffers as decoding held them) and ``peak_bytes`` with its ``peak_source``
(CUDA: ``torch.cuda.max_memory_allocated`` during generation, weights included; CPU: the process's
peak resident set size, which also counts the data and the interpreter).
"""

from __future__ import annotations

import resource
import sys
import time
from typing import Any

import torch
from torch import Tensor

from tsssm.models.language_model import LanguageModel

WARM_UP_TOKENS = 2


def peak_rss_bytes() -> int:
    """The process's peak resident set size (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


@torch.no_grad()
def timed_generation(net: LanguageModel, prompt: Tensor, length: int, temperature: float,
                     top_p: float, seed: int) -> tuple[Tensor, dict[str, Any]]:
    """``prompt (B, P)`` -> ``(B, P + length)`` tokens and the measurements (module docstring)."""
    device = prompt.device
    cuda = device.type == "cuda"
    warm_up = torch.Generator(device=device).manual_seed(seed)
    net.generate(prompt, WARM_UP_TOKENS, temperature, top_p, warm_up)
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    start = time.perf_counter()
    tokens, states = net.generate_with_states(prompt, length, temperature, top_p, generator)
    if cuda:
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    if cuda:
        peak, source = torch.cuda.max_memory_allocated(device), "torch.cuda.max_memory_allocated"
    else:
        peak, source = peak_rss_bytes(), "peak resident set size of the process (ru_maxrss)"
    generated = prompt.shape[0] * length
    return tokens, {"generated_tokens": generated, "seconds": seconds,
                    "tokens_per_s": generated / seconds,
                    "memory": {"state_bytes": net.state_nbytes(states),
                               "peak_bytes": peak, "peak_source": source}}
