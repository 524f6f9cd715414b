"""Waveform quantisers: float samples in [-1, 1] to integer ids in [0, 2**bits) and back.

Why μ-law by default: speech and music spend most samples near zero; μ-law's logarithmic steps give
those small amplitudes fine resolution, so 8 bits (256 classes, the WaveNet/SaShiMi setting) sound far
better than 8 linear bits. Linear quantisation is the uniform mid-tread grid, kept for comparison.
Samples outside [-1, 1] are clipped first.
"""

from abc import ABC, abstractmethod

import torch
import torchaudio.functional as AF


class Quantizer(ABC):
    """bits: bits per sample (2..16); levels = 2**bits ids; silence: the id of a zero sample."""

    def __init__(self, bits: int) -> None:
        if not isinstance(bits, int) or isinstance(bits, bool) or not 2 <= bits <= 16:
            raise ValueError(f"bits must be an integer in [2, 16], got {bits!r}")
        self.bits = bits
        self.levels = 2**bits
        self.silence = int(self.encode(torch.zeros(1))[0])

    @abstractmethod
    def encode(self, wave: torch.Tensor) -> torch.Tensor:
        """Float samples (...) to long ids (...) in [0, levels)."""

    @abstractmethod
    def decode(self, ids: torch.Tensor) -> torch.Tensor:
        """Long ids (...) to float32 samples (...) in [-1, 1]."""


class MuLawQuantizer(Quantizer):
    """μ-law companding with μ = levels - 1 (torchaudio's), then a uniform grid of `levels` steps."""

    def encode(self, wave: torch.Tensor) -> torch.Tensor:
        return AF.mu_law_encoding(wave.float().clamp(-1.0, 1.0), self.levels)

    def decode(self, ids: torch.Tensor) -> torch.Tensor:
        return AF.mu_law_decoding(ids.long(), self.levels).float()


class LinearQuantizer(Quantizer):
    """Uniform mid-tread grid: id = round((x + 1) / 2 · (levels - 1)); round-trip error <= 1 / (levels - 1)."""

    def encode(self, wave: torch.Tensor) -> torch.Tensor:
        return torch.round((wave.float().clamp(-1.0, 1.0) + 1.0) / 2.0 * (self.levels - 1)).long()

    def decode(self, ids: torch.Tensor) -> torch.Tensor:
        return ids.float() / (self.levels - 1) * 2.0 - 1.0


QUANTIZERS: dict[str, type[Quantizer]] = {"mu_law": MuLawQuantizer, "linear": LinearQuantizer}


def make_quantizer(kind: str, bits: int) -> Quantizer:
    """The quantiser `kind` ("mu_law" or "linear") at `bits` bits per sample."""
    if kind not in QUANTIZERS:
        raise ValueError(f"quantization must be one of {tuple(QUANTIZERS)}, got {kind!r}")
    return QUANTIZERS[kind](bits)
