"""How a sequence model's prompts are read and its samples written, in the form of the data's unit.

Sequence data comes in three forms, one ``SampleFormat`` each (``SAMPLE_FORMATS``, by unit):
- audio ("sample", ``AudioSamples``): the prompt is a WAV/FLAC file, read as mono at the data's
  sample rate; each clip was trained to start from the start token (quantised silence), so the
  prompt starts with it too. A sample is written as 16-bit PCM WAV plus a spectrogram PNG;
- text ("byte", bytes or BPE, ``TextSamples``): the prompt is a string; a sample is UTF-8 text, with
  bytes that are not valid UTF-8 (a model may emit any byte) escaped as ``\\xNN``;
- token ids ("token", recall tasks, ``IdSamples``): the prompt is ids separated by spaces; a sample
  is its ids.

A sample holds the prompt's data (not the start token) followed by the generated tokens. Every file
is written to a temporary name in its folder and renamed, so no reader ever sees half a file.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import lightning as L
import soundfile as sf
import torch
from torch import Tensor

from tsssm.data.atomic import write_atomically, write_text_atomically
from tsssm.data.sequence import IGNORE_INDEX
from tsssm.data.waveform import read_mono
from tsssm.tasks.plots import plot_spectrogram

DEFAULT_TEXT_PROMPT = "\n"


@dataclass(frozen=True)
class Prompt:
    """``ids (P,)`` long to feed the model; the first ``skip`` of them (the audio start token) are
    model input only, not part of the sample."""

    ids: Tensor
    skip: int


class SampleFormat(ABC):
    """Prompts and samples of one form, for a set-up sequence data module (its ``encode``,
    ``decode``, vocabulary and test split)."""

    name: ClassVar[str]

    def __init__(self, datamodule: L.LightningDataModule) -> None:
        self.datamodule = datamodule

    def prompt(self, prompt: str | None, prompt_length: int | None = None) -> Prompt:
        """The ids that ``prompt`` stands for (module docstring; None = the form's default), its
        data cut to the first ``prompt_length`` tokens when given."""
        data = self.prompt_data(prompt)
        if prompt_length is not None:
            data = data[:prompt_length]
        return self.framed(data, prompt)

    @abstractmethod
    def prompt_data(self, prompt: str | None) -> Tensor:
        """The data ids ``(n,)`` of ``prompt``."""

    def framed(self, data: Tensor, prompt: str | None) -> Prompt:
        """The model's input for the prompt's ``data``, which must hold a token."""
        if data.numel() == 0:
            raise ValueError(f"the prompt {prompt!r} gives no tokens; give a non-empty prompt")
        return Prompt(data, skip=0)

    def write(self, samples: Tensor, folder: Path, title: str) -> list[Path]:
        """``samples (B, T)`` long, one sample per row, as ``sample_000.*`` files in ``folder``;
        returns the paths written."""
        return [path for index, ids in enumerate(samples.cpu())
                for path in self.write_sample(ids, folder / f"sample_{index:03d}",
                                              f"{title}, sample {index}")]

    @abstractmethod
    def write_sample(self, ids: Tensor, stem: Path, title: str) -> list[Path]:
        """One sample ``ids (T,)`` as files named ``stem`` plus their suffixes."""

    @abstractmethod
    def shown(self, samples: Tensor) -> list[str]:
        """What a summary prints of ``samples (B, T)``."""

    def report(self) -> dict[str, Any]:
        """What a generation report adds for this form."""
        return {}


class AudioSamples(SampleFormat):
    """Mono audio at the data's sample rate."""

    name = "audio"

    def prompt_data(self, prompt: str | None) -> Tensor:
        if prompt is None:
            return torch.empty(0, dtype=torch.long)
        if not Path(prompt).is_file():
            raise FileNotFoundError(f"audio prompt file {prompt} does not exist: for an audio "
                                    "checkpoint, prompt is the path of a mono WAV/FLAC file")
        data = self.datamodule
        return data.encode(read_mono(Path(prompt), data.sample_rate)).long()

    def framed(self, data: Tensor, prompt: str | None) -> Prompt:
        """The start token, then the prompt's samples (none: generation starts from silence)."""
        return Prompt(torch.cat([torch.tensor([self.datamodule.start_token]), data]), skip=1)

    def write_sample(self, ids: Tensor, stem: Path, title: str) -> list[Path]:
        """16-bit PCM WAV and its spectrogram (PNG)."""
        wave, rate = self.datamodule.decode(ids), self.datamodule.sample_rate
        return [write_atomically(stem.with_suffix(".wav"), lambda tmp: sf.write(
                    tmp, wave.numpy(), rate, subtype="PCM_16", format="WAV")),
                write_atomically(stem.with_suffix(".png"), lambda tmp: plot_spectrogram(
                    wave, rate, tmp, title))]

    def shown(self, samples: Tensor) -> list[str]:
        return []

    def report(self) -> dict[str, Any]:
        return {"sample_rate": self.datamodule.sample_rate}


class TextualSamples(SampleFormat):
    """Samples written, and shown, as text (``text``)."""

    @abstractmethod
    def text(self, ids: Tensor) -> str:
        """A sample ``ids (T,)`` as text."""

    def write_sample(self, ids: Tensor, stem: Path, title: str) -> list[Path]:
        return [write_text_atomically(stem.with_suffix(".txt"), self.text(ids))]

    def shown(self, samples: Tensor) -> list[str]:
        return [f"--- sample_{index:03d} ---\n{self.text(ids)}"
                for index, ids in enumerate(samples.cpu())]


class TextSamples(TextualSamples):
    """Text, as bytes or BPE tokens."""

    name = "text"

    def prompt_data(self, prompt: str | None) -> Tensor:
        return self.datamodule.encode(DEFAULT_TEXT_PROMPT if prompt is None else str(prompt)).long()

    def text(self, ids: Tensor) -> str:
        """The decoded bytes as UTF-8, bytes that are not valid UTF-8 escaped."""
        return self.datamodule.decode(ids).decode("utf-8", errors="backslashreplace")


class IdSamples(TextualSamples):
    """Token ids of a synthetic task."""

    name = "ids"

    def prompt_data(self, prompt: str | None) -> Tensor:
        """``"3 17 42"``, each id in [0, vocab_size); None: the first test example up to and
        including its first scored position, so the first generated token answers its first query."""
        if prompt is None:
            example = self.datamodule.datasets["test"][0]
            first = int((example["target"] != IGNORE_INDEX).nonzero()[0, 0])
            return example["input"][: first + 1].long()
        try:
            ids = torch.tensor([int(word) for word in str(prompt).split()], dtype=torch.long)
        except ValueError as error:
            raise ValueError(f"prompt {prompt!r}: for a recall checkpoint, give token ids "
                             "separated by spaces, e.g. '3 17 42'") from error
        vocab_size = self.datamodule.vocab_size
        if ids.numel() and not (0 <= int(ids.min()) and int(ids.max()) < vocab_size):
            raise ValueError(f"prompt {prompt!r}: token ids must lie in [0, {vocab_size})")
        return ids

    def text(self, ids: Tensor) -> str:
        """The ids separated by spaces."""
        return " ".join(str(i) for i in ids.tolist())


SAMPLE_FORMATS: dict[str, type[SampleFormat]] = {"sample": AudioSamples, "byte": TextSamples,
                                                 "token": IdSamples}
