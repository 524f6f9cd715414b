"""LanguageModelTask: trains and evaluates a next-token model on ``{input, target, units}`` batches.

Training minimises the mean cross-entropy (nats) over the scored targets (``target != -100``).
Evaluation sums, over the whole val/test stream, the NLL, the scored-token count, the data units
those tokens cover (audio samples, bytes of text) and the correct argmax predictions; the epoch's
numbers are ratios of those sums, so they are exact (not means of batch means) and reduce
correctly across DDP ranks:

- ``{split}/loss``: nats per token; ``{split}/bits_per_token``;
- ``{split}/bits_per_{unit}``: total bits / total units, for unit "sample" or "byte"
  (comparable across tokenisations: a BPE model and a byte model of the same text share it);
- ``{split}/accuracy``: argmax == target over the scored positions.

Tested at another sampling rate than trained at (``test_step_scale`` of the data), the mixers
with a step size (``rate``: S4, S4D, GSS) have it rescaled for the test; the others run as they are.

Its samples (``sample_format``) take the form of the data's unit: audio, text or token ids
(``tsssm.tasks.sample_formats``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import Tensor, nn
from torchmetrics import Metric

from tsssm.mixers.base import Mixer
from tsssm.models.flops import forward_flops_per_token
from tsssm.tasks.base import Task
from tsssm.tasks.sample_formats import SAMPLE_FORMATS, SampleFormat

IGNORE = -100
UNITS = ("token", "sample", "byte")


def token_nll(logits: Tensor, target: Tensor) -> Tensor:
    """Per-position NLL in nats ``(B, L)`` of ``target (B, L)`` under ``logits (B, L, V)``,
    0 where the target is ``IGNORE``. Computed in float32 at least, whatever the logits' dtype."""
    logits = logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits
    return F.cross_entropy(logits.transpose(1, 2), target, ignore_index=IGNORE, reduction="none")


def scored_positions(target: Tensor) -> Tensor | None:
    """The scored positions ``(B, K)`` of ``target (B, L)``, ascending in each row, when every
    row scores the same K <= L / 2 of them (recall data: its answers), else None (text, audio:
    every position, or rows that differ). Read on the host, before the batch goes to the GPU:
    the same on the GPU would wait for it."""
    scored = target != IGNORE
    counts = scored.sum(1)
    k = int(counts[0]) if len(counts) else 0
    if k == 0 or 2 * k > target.shape[1] or not bool((counts == k).all()):
        return None
    return scored.nonzero()[:, 1].view(len(target), k)


class StreamScores(Metric):
    """Sums over a split: NLL nats, scored tokens, their units and correct argmax predictions."""

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        for name in ("nll", "tokens", "units", "correct"):
            self.add_state(name, default=torch.tensor(0.0, dtype=torch.float64),
                           dist_reduce_fx="sum")

    def update(self, logits: Tensor, target: Tensor, units: Tensor) -> None:
        scored = target != IGNORE
        self.nll += token_nll(logits, target).sum().double()
        self.tokens += scored.sum()
        self.units += units[scored].sum().double()
        self.correct += ((logits.argmax(-1) == target) & scored).sum()

    def compute(self) -> dict[str, Tensor]:
        return {"nll": self.nll, "tokens": self.tokens, "units": self.units,
                "correct": self.correct}


def stream_summary(sums: dict[str, Tensor], unit: str, prefix: str) -> dict[str, float]:
    """The logged numbers (module docstring) from ``StreamScores`` sums."""
    bits = sums["nll"].item() / math.log(2)
    tokens = sums["tokens"].item()
    summary = {f"{prefix}loss": sums["nll"].item() / tokens,
               f"{prefix}bits_per_token": bits / tokens,
               f"{prefix}accuracy": sums["correct"].item() / tokens}
    if unit != "token":
        summary[f"{prefix}bits_per_{unit}"] = bits / sums["units"].item()
    return summary


class LanguageModelTask(Task):
    """Lightning wrapper: cross-entropy training, AdamW + schedule (``tasks.optim``), exact stream
    metrics for val/test, per-position NLL bits from ``predict_step``.

    ``unit`` is the data module's unit: "sample" (audio), "byte" (text) or "token" (no unit beyond
    the token, e.g. synthetic recall tasks). ``optim`` holds the ``OptimizerRecipe``'s fields
    (``model.optim``); absent ones take its defaults.
    """

    kind = "sequence model"
    data_kind = "token sequences"
    data_attribute = "vocab_size"
    trained_with = ("task=lm on audio, bytes, BPE or recall data "
                    "(experiment=waveform/*, bytes/*, recall/*)")
    prediction_axes = ("position",)
    prediction_value = "nll_bits"

    def __init__(self, net: nn.Module, unit: str = "token",
                 optim: Mapping[str, Any] | None = None) -> None:
        if unit not in UNITS:
            raise ValueError(f"LanguageModelTask: unit must be one of {UNITS}, got {unit!r}")
        super().__init__(net, optim)
        self.unit = unit
        self.val_scores = StreamScores()
        self.test_scores = StreamScores()

    def on_before_batch_transfer(self, batch: dict[str, Tensor], dataloader_idx: int
                                 ) -> dict[str, Tensor]:
        """A batch that scores a few positions per row (``scored_positions``) gets them as
        ``positions``, so that the network computes logits there only."""
        positions = scored_positions(batch["target"])
        return batch if positions is None else {**batch, "positions": positions}

    def network_input(self, batch: dict[str, Tensor]) -> Tensor | tuple[Tensor, Tensor]:
        """The input tokens (B, L) of a batch, and its scored positions (B, K) where it has
        them."""
        if "positions" in batch:
            return batch["input"], batch["positions"]
        return batch["input"]

    def scored(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """Logits, targets and units where the network scored them: (B, L, V), (B, L), (B, L),
        or (B, K, ...) at the batch's ``positions``."""
        if "positions" not in batch:
            return self(batch["input"]), batch["target"], batch["units"]
        at = batch["positions"]
        return (self(batch["input"], at), batch["target"].gather(1, at),
                batch["units"].gather(1, at))

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        logits, target, _ = self.scored(batch)
        scored = (target != IGNORE).sum().clamp(min=1)
        loss = token_nll(logits, target).sum() / scored
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True,
                 batch_size=len(target), sync_dist=True)
        return loss

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self.val_scores.update(*self.scored(batch))

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self.test_scores.update(*self.scored(batch))

    def on_test_start(self) -> None:
        self._scale_steps(getattr(self.trainer.datamodule, "test_step_scale", 1.0))

    def on_test_end(self) -> None:
        self._scale_steps(1 / getattr(self.trainer.datamodule, "test_step_scale", 1.0))

    def _scale_steps(self, factor: float) -> None:
        """Multiply the step size of every mixer that has one (``rate``) by ``factor``."""
        for module in self.net.modules():
            if isinstance(module, Mixer) and hasattr(module, "rate"):
                module.rate = module.rate * factor

    def on_validation_epoch_end(self) -> None:
        self._log_stream(self.val_scores, "val/")

    def on_test_epoch_end(self) -> None:
        self._log_stream(self.test_scores, "test/")

    def _log_stream(self, scores: StreamScores, prefix: str) -> None:
        """Log the split's numbers and reset. ``compute`` sums over DDP ranks, so every rank logs
        the same values; ``sync_dist`` (a mean of equal numbers) keeps Lightning from warning."""
        self.log_dict(stream_summary(scores.compute(), self.unit, prefix), sync_dist=True)
        scores.reset()

    def predict_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        """NLL in bits at every position ``(B, L)``, NaN where the target is not scored."""
        target = batch["target"]
        bits = token_nll(self(batch["input"]), target) / math.log(2)
        return bits.masked_fill(target == IGNORE, math.nan)

    @classmethod
    def data_inputs(cls, cfg: DictConfig, datamodule: L.LightningDataModule
                    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The vocabulary, and the unit bits are counted in; the model must have a backbone."""
        if "backbone" not in cfg.model:
            raise ValueError(f"model={cfg.model.name} has no backbone; sequence modelling needs a "
                             "backbone model (s4, s4d, mamba, mamba2, transformer, hybrid, lstm, "
                             "linear_attention, gss)")
        return {"vocab_size": datamodule.vocab_size}, {"unit": datamodule.unit}

    def run_horizon(self, datamodule: L.LightningDataModule) -> str:
        """The window, ``L{seq_len}``: runs at different lengths (an MQAR length sweep) differ."""
        return f"L{datamodule.seq_len}"

    def start_metrics(self, datamodule: L.LightningDataModule) -> dict[str, int]:
        """Forward FLOPs per token over one training batch (``tsssm.models.flops``): work done
        once per batch, such as S4's convolution kernel, is shared by its ``batch_size`` windows."""
        ids = torch.zeros(datamodule.batch_size, datamodule.seq_len, dtype=torch.long,
                          device=self.device)
        return {"flops_per_token": forward_flops_per_token(self.net, ids)}

    def sample_format(self, datamodule: L.LightningDataModule) -> SampleFormat:
        """How prompts are read and samples written for the set-up ``datamodule``, by its unit."""
        return SAMPLE_FORMATS[self.unit](datamodule)
