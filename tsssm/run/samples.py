"""Generation's data side: a user's prompt to token ids, generated token ids to files.

Sequence data comes in three forms, told apart by the data module's ``unit``:
- audio ("sample"): the prompt is a WAV/FLAC file, read as mono at the data's sample rate; each
  clip was trained to start from the start token (quantised silence), so the prompt starts with it
  too. A sample is written as 16-bit PCM WAV plus a spectrogram PNG;
- text ("byte", bytes or BPE): the prompt is a string; a sample is UTF-8 text, with bytes that are
  not valid UTF-8 (a model may emit any byte) escaped as ``\\xNN``;
- token ids ("token", recall tasks): the prompt is ids separated by spaces; a sample is its ids.

A sample holds the prompt's data (not the start token) followed by the generated tokens. Every file
is written to a temporary name in its folder and renamed, so no reader ever sees half a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import lightning as L
import soundfile as sf
import torch
from torch import Tensor

from tsssm.data.atomic import write_atomically
from tsssm.data.sequence import IGNORE_INDEX
from tsssm.data.waveform import read_mono
from tsssm.run.plots import plot_spectrogram

AUDIO, TEXT, IDS = "audio", "text", "ids"
FORMS = {"sample": AUDIO, "byte": TEXT, "token": IDS}
DEFAULT_TEXT_PROMPT = "\n"


@dataclass(frozen=True)
class Prompt:
    """``ids (P,)`` long to feed the model; the first ``skip`` of them (the audio start token) are
    model input only, not part of the sample."""

    ids: Tensor
    skip: int


def data_form(datamodule: L.LightningDataModule) -> str:
    """``audio``, ``text`` or ``ids``: how this data's prompts are read and its samples written."""
    unit = getattr(datamodule, "unit", None)
    if unit not in FORMS:
        raise ValueError(f"{type(datamodule).__name__} has unit {unit!r}; generation knows the "
                         f"sequence units {sorted(FORMS)}")
    return FORMS[unit]


def make_prompt(datamodule: L.LightningDataModule, prompt: str | None,
                prompt_length: int | None = None) -> Prompt:
    """The ids that ``prompt`` stands for in this data's form (module docstring; None = the form's
    default), its data cut to the first ``prompt_length`` tokens when given."""
    form = data_form(datamodule)
    if form == AUDIO:
        data = torch.empty(0, dtype=torch.long) if prompt is None else audio_prompt(datamodule, prompt)
    elif form == TEXT:
        data = datamodule.encode(DEFAULT_TEXT_PROMPT if prompt is None else str(prompt)).long()
    else:
        data = first_query(datamodule) if prompt is None else id_prompt(str(prompt), datamodule.vocab_size)
    if prompt_length is not None:
        data = data[:prompt_length]
    if form == AUDIO:
        return Prompt(torch.cat([torch.tensor([datamodule.start_token]), data]), skip=1)
    if data.numel() == 0:
        raise ValueError(f"the prompt {prompt!r} gives no tokens; give a non-empty prompt")
    return Prompt(data, skip=0)


def audio_prompt(datamodule: L.LightningDataModule, path: str) -> Tensor:
    """Ids ``(n,)`` of the mono audio file ``path`` at the data's sample rate."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"audio prompt file {path} does not exist: for an audio checkpoint, "
                                "prompt is the path of a mono WAV/FLAC file")
    return datamodule.encode(read_mono(Path(path), datamodule.sample_rate)).long()


def id_prompt(prompt: str, vocab_size: int) -> Tensor:
    """Ids ``(n,)`` from ``"3 17 42"``, each in [0, vocab_size)."""
    try:
        ids = torch.tensor([int(word) for word in prompt.split()], dtype=torch.long)
    except ValueError as error:
        raise ValueError(f"prompt {prompt!r}: for a recall checkpoint, give token ids separated by "
                         f"spaces, e.g. '3 17 42'") from error
    if ids.numel() and not (0 <= int(ids.min()) and int(ids.max()) < vocab_size):
        raise ValueError(f"prompt {prompt!r}: token ids must lie in [0, {vocab_size})")
    return ids


def first_query(datamodule: L.LightningDataModule) -> Tensor:
    """The first test example's input up to and including its first scored position, so the first
    generated token answers its first query."""
    example = datamodule.datasets["test"][0]
    first = int((example["target"] != IGNORE_INDEX).nonzero()[0, 0])
    return example["input"][: first + 1].long()


def sample_text(datamodule: L.LightningDataModule, ids: Tensor) -> str:
    """A text or recall sample ``ids (T,)`` as text: decoded text, or ids separated by spaces."""
    if data_form(datamodule) == TEXT:
        return datamodule.decode(ids).decode("utf-8", errors="backslashreplace")
    return " ".join(str(i) for i in ids.tolist())


def write_samples(datamodule: L.LightningDataModule, samples: Tensor, out_dir: Path,
                  title: str) -> list[Path]:
    """``samples (B, T)`` long, one sample per row, as ``sample_000.wav`` + ``.png`` (audio) or
    ``sample_000.txt`` (text, ids) in ``out_dir``; returns the paths written."""
    paths = []
    for index, ids in enumerate(samples.cpu()):
        stem = out_dir / f"sample_{index:03d}"
        if data_form(datamodule) == AUDIO:
            wave = datamodule.decode(ids)
            rate = datamodule.sample_rate
            paths.append(write_atomically(stem.with_suffix(".wav"), lambda tmp: sf.write(
                tmp, wave.numpy(), rate, subtype="PCM_16", format="WAV")))
            paths.append(write_atomically(stem.with_suffix(".png"), lambda tmp: plot_spectrogram(
                wave, rate, tmp, f"{title}, sample {index}")))
        else:
            text = sample_text(datamodule, ids)
            paths.append(write_atomically(stem.with_suffix(".txt"),
                                          lambda tmp: tmp.write_text(text, encoding="utf-8")))
    return paths
