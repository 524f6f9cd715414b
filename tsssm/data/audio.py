"""Raw-waveform audio as quantised sample ids: fixed-length clips for next-sample prediction.

Clips: each recording is cut into consecutive clips of `clip_length` samples; the last (or only) clip
of a recording is shorter and is padded, its padded positions unscored (target -100, units 0). So every
sample of every recording is scored exactly once, in training and evaluation alike, and nothing is
cropped away. Each clip is predicted on its own: input = [start, x_0, ..., x_{m-2}], target =
[x_0, ..., x_{m-1}], where the start token is the quantised silence (a zero sample) — the clip begins as
if from silence, also when it continues a recording.

Splits: FSDD ("fsdd_takes") keeps its standard test set, takes 0-4 of every speaker and digit (300
clips); validation is carved from the training takes only, takes 5-9 (300), leaving takes 10-49 (2400)
for training. Any other folder ("ratio") is shuffled with `split_seed` and split 90/5/5 by files.

Less data: `train_fraction` keeps the last part of the training recordings, in the order of their
takes for FSDD (the latest takes of every speaker and digit, so the classes stay balanced), in the
shuffled order for any other folder. Another rate: `test_sample_rate` reads the test recordings at
another rate than the train and validation ones (a model trained at 8 kHz tested at 16 kHz).
"""

import math
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from tsssm.data.audio_folder import locate_folder
from tsssm.data.files import DataFileError
from tsssm.data.quantize import make_quantizer
from tsssm.data.registry import AudioFolderSpec, get_spec_of_type
from tsssm.data.sequence import SPLITS, SequenceDataModule, check_positive, compact_ids, padded_item
from tsssm.data.splits import check_fraction, kept_count
from tsssm.data.waveform import read_mono

AUDIO_SUFFIXES = (".wav", ".flac")
FSDD_TEST_TAKES = range(0, 5)
FSDD_VAL_TAKES = range(5, 10)
HELD_OUT_PERCENT = 5


def fsdd_take(path: Path) -> int:
    """The take number of an FSDD file "{digit}_{speaker}_{take}.wav"."""
    parts = path.stem.split("_")
    if len(parts) != 3 or not parts[2].isdigit():
        raise ValueError(f"FSDD file name {path.name!r} is not '{{digit}}_{{speaker}}_{{take}}.wav'")
    return int(parts[2])


def split_by_take(paths: list[Path]) -> dict[str, list[Path]]:
    """FSDD's standard split: test takes 0-4, validation takes 5-9, train takes 10-49."""
    def split_of(path: Path) -> str:
        take = fsdd_take(path)
        return "test" if take in FSDD_TEST_TAKES else "val" if take in FSDD_VAL_TAKES else "train"

    return {split: [path for path in paths if split_of(path) == split] for split in SPLITS}


def split_by_ratio(paths: list[Path], seed: int) -> dict[str, list[Path]]:
    """Files shuffled by `seed`, then HELD_OUT_PERCENT (at least one file) each to test and val, the rest train."""
    if len(paths) < 3:
        raise ValueError(f"an audio folder needs at least 3 files to split into train/val/test, got {len(paths)}")
    order = np.random.default_rng(seed).permutation(len(paths))
    shuffled = [paths[i] for i in order]
    held_out = max(1, len(paths) * HELD_OUT_PERCENT // 100)
    return {"train": shuffled[2 * held_out :], "val": shuffled[held_out : 2 * held_out], "test": shuffled[:held_out]}


def audio_files(folder: Path) -> list[Path]:
    """Every WAV/FLAC file under `folder` (recursively), sorted by path."""
    if not folder.is_dir():
        raise DataFileError(f"audio folder {folder} does not exist")
    paths = sorted(path for path in folder.rglob("*") if path.suffix.lower() in AUDIO_SUFFIXES and path.is_file())
    if not paths:
        raise DataFileError(f"audio folder {folder} holds no {'/'.join(AUDIO_SUFFIXES)} files")
    return paths


class ClipDataset(Dataset):
    """Clips of quantised recordings laid end to end.

    samples: (N,) integer ids of a split's recordings, concatenated. clips: (C, 2) long rows
    (start, length), 1 <= length <= clip_length. start_token: id fed before a clip's first sample.
    """

    def __init__(self, samples: torch.Tensor, clips: torch.Tensor, clip_length: int, start_token: int) -> None:
        self.samples = samples
        self.clips = clips
        self.clip_length = clip_length
        self.start_token = start_token

    def __len__(self) -> int:
        return self.clips.shape[0]

    def __getitem__(self, index: int) -> dict:
        start, length = self.clips[index].tolist()
        targets = self.samples[start : start + length].long()
        inputs = torch.cat([torch.tensor([self.start_token]), targets[:-1]])
        return padded_item(inputs, targets, torch.ones(length), self.clip_length)


def cut_clips(lengths: list[int], clip_length: int) -> torch.Tensor:
    """Consecutive clips (C, 2) as (start, length) of recordings of `lengths` samples laid end to end."""
    rows, offset = [], 0
    for n in lengths:
        rows += [(offset + k * clip_length, min(clip_length, n - k * clip_length))
                 for k in range(math.ceil(n / clip_length))]
        offset += n
    return torch.tensor(rows, dtype=torch.long).reshape(-1, 2)


class AudioDataModule(SequenceDataModule):
    """Quantised clips of a registry audio folder (`name`, e.g. "fsdd") or of any folder of WAV/FLAC (`path`).

    sample_rate: Hz the audio is resampled to; None = the registry's rate (required with `path`).
    clip_length: samples per clip (= seq_len). quantization: "mu_law" or "linear", at `bits` bits (vocab
    2**bits). min_length: recordings shorter than this (after resampling) are an error. split_seed:
    shuffles the files of a `path` folder before its 90/5/5 split. train_fraction: the share of the
    training recordings trained on; test_sample_rate: Hz of the test recordings, None = `sample_rate`
    (module docstring).
    """

    unit = "sample"

    def __init__(
        self,
        name: str | None = "fsdd",
        path: str | os.PathLike | None = None,
        root: str | os.PathLike | None = None,
        sample_rate: int | None = None,
        clip_length: int = 4096,
        quantization: str = "mu_law",
        bits: int = 8,
        min_length: int = 1,
        batch_size: int = 16,
        num_workers: int = 0,
        split_seed: int = 0,
        train_fraction: float = 1.0,
        test_sample_rate: int | None = None,
    ) -> None:
        super().__init__(clip_length, batch_size, num_workers)
        if (name is None) == (path is None):
            raise ValueError(f"give exactly one of name (a registry dataset) or path (a folder); got {name=}, {path=}")
        self.spec: AudioFolderSpec | None = (
            None if name is None else get_spec_of_type(name, AudioFolderSpec, "an audio folder"))
        if sample_rate is None and self.spec is None:
            raise ValueError(f"sample_rate is required for an audio folder given by path ({path})")
        rate = sample_rate if sample_rate is not None else self.spec.sample_rate
        self.sample_rate = check_positive("sample_rate", rate)
        self.path = None if path is None else Path(path)
        self.root = root
        self.quantizer = make_quantizer(quantization, bits)
        self.min_length = check_positive("min_length", min_length)
        self.split_seed = split_seed
        self.train_fraction = check_fraction(train_fraction)
        self.test_sample_rate = check_positive("test_sample_rate", test_sample_rate or self.sample_rate)

    @property
    def vocab_size(self) -> int:
        return self.quantizer.levels

    @property
    def test_step_scale(self) -> float:
        return self.sample_rate / self.test_sample_rate

    @property
    def clip_length(self) -> int:
        return self.seq_len

    @property
    def start_token(self) -> int:
        """The id before each clip's first sample: quantised silence."""
        return self.quantizer.silence

    @property
    def dataset_name(self) -> str:
        return self.spec.name if self.spec is not None else self.path.name

    def prepare_data(self) -> None:
        """Download the registry folder's missing files (Lightning runs this on one process only)."""
        if self.spec is not None:
            locate_folder(self.spec, self.root)

    def split_files(self) -> dict[str, list[Path]]:
        """The audio files of each split, the training ones cut to the last ``train_fraction``."""
        by_take = self.spec is not None and self.spec.split == "fsdd_takes"
        if self.spec is None:
            files = split_by_ratio(audio_files(self.path), self.split_seed)
        elif by_take:
            files = split_by_take(locate_folder(self.spec, self.root))
        else:
            files = split_by_ratio(locate_folder(self.spec, self.root), self.split_seed)
        train = files["train"]
        ordered = sorted(train, key=fsdd_take) if by_take else train
        kept = set(ordered[len(ordered) - kept_count(len(ordered), self.train_fraction):])
        return {**files, "train": [path for path in train if path in kept]}

    def _build(self) -> dict[str, Dataset]:
        datasets = {}
        for split, paths in self.split_files().items():
            rate = self.test_sample_rate if split == "test" else self.sample_rate
            waves = [read_mono(path, rate, self.min_length) for path in paths]
            samples = compact_ids(self.encode(torch.cat(waves)))
            clips = cut_clips([wave.shape[0] for wave in waves], self.clip_length)
            datasets[split] = ClipDataset(samples, clips, self.clip_length, self.start_token)
        return datasets

    def encode(self, wave: torch.Tensor) -> torch.Tensor:
        """Float samples (n,) in [-1, 1] to long ids (n,)."""
        return self.quantizer.encode(wave)

    def decode(self, ids: torch.Tensor) -> torch.Tensor:
        """Long ids (n,) to float32 samples (n,) in [-1, 1]."""
        return self.quantizer.decode(torch.as_tensor(ids))
