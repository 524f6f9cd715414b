"""Byte corpora: any file read as raw bytes (vocabulary 256), split contiguously into train/val/test.

The split is 90/5/5 by bytes, the enwik8 convention (its first 90M bytes train, 5M validate, 5M test):
train = [0, 0.9 n), val = [0.9 n, 0.95 n), test = [0.95 n, n), boundaries rounded down. Training draws
random windows of seq_len + 1 bytes; validation and test read their whole split as non-overlapping
windows, scoring every byte after the split's first exactly once (`tsssm.data.sequence`).
"""

import os
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from tsssm.data.files import DataFileError, locate
from tsssm.data.registry import CorpusSpec, get_spec_of_type
from tsssm.data.sequence import SPLITS, RandomWindowSampler, SequenceDataModule, StreamWindows, check_positive

SPLIT_PERCENT = (90, 5, 5)


def read_corpus(path: Path, member: str | None = None) -> bytes:
    """The bytes of `path`, or of its entry `member` when `path` is a .zip archive."""
    if path.suffix != ".zip":
        return path.read_bytes()
    try:
        with zipfile.ZipFile(path) as archive:
            if member not in archive.namelist():
                raise DataFileError(f"{path} has no entry {member!r}; it holds {archive.namelist()[:5]}")
            return archive.read(member)
    except zipfile.BadZipFile as error:
        message = f"{path} is not a readable zip archive ({error}); delete it to download it again"
        raise DataFileError(message) from error


def split_corpus(data: bytes, source: str) -> dict[str, bytes]:
    """The train/val/test parts of `data` (SPLIT_PERCENT, contiguous); each must hold at least 2 bytes."""
    n = len(data)
    train_end = n * SPLIT_PERCENT[0] // 100
    val_end = n * (SPLIT_PERCENT[0] + SPLIT_PERCENT[1]) // 100
    parts = dict(zip(SPLITS, (data[:train_end], data[train_end:val_end], data[val_end:]), strict=True))
    for split, part in parts.items():
        if len(part) < 2:
            raise ValueError(f"corpus {source} of {n} bytes is too small: its {split} split has {len(part)} "
                             f"bytes, at least 2 are needed (splits are {SPLIT_PERCENT} percent)")
    return parts


def bytes_to_ids(data: bytes) -> torch.Tensor:
    """(n,) uint8 tensor of the bytes (a copy: torch wants a writable buffer)."""
    return torch.from_numpy(np.frombuffer(data, dtype=np.uint8).copy())


class ByteDataModule(SequenceDataModule):
    """Raw bytes of a registry corpus (`name`) or of any file (`path`), for next-byte prediction.

    name: "tinyshakespeare", "enwik6", "enwik8" (or None with `path`). root: data root (else env
    TSSSM_DATA, else ./data). seq_len: tokens per window. train_windows: random training windows per
    epoch; None = train tokens // seq_len (one pass's worth).
    """

    unit = "byte"

    def __init__(
        self,
        name: str | None = "tinyshakespeare",
        path: str | os.PathLike | None = None,
        root: str | os.PathLike | None = None,
        seq_len: int = 256,
        batch_size: int = 32,
        num_workers: int = 0,
        train_windows: int | None = None,
    ) -> None:
        super().__init__(seq_len, batch_size, num_workers)
        if (name is None) == (path is None):
            raise ValueError(f"give exactly one of name (a registry corpus) or path (a file); got {name=}, {path=}")
        self.spec: CorpusSpec | None = None if name is None else get_spec_of_type(name, CorpusSpec, "a byte corpus")
        self.path = None if path is None else Path(path)
        self.root = root
        self.train_windows = None if train_windows is None else check_positive("train_windows", train_windows)

    @property
    def vocab_size(self) -> int:
        return 256

    @property
    def dataset_name(self) -> str:
        return self.spec.name if self.spec is not None else self.path.name

    def prepare_data(self) -> None:
        """Download the registry corpus if missing (Lightning runs this on one process only)."""
        if self.spec is not None:
            locate(self.spec.source, self.spec.name, self.root)

    def _corpus(self) -> tuple[bytes, str]:
        """The whole corpus and a label naming where it came from."""
        if self.spec is None:
            if not self.path.is_file():
                raise DataFileError(f"corpus file {self.path} does not exist")
            return self.path.read_bytes(), str(self.path)
        path = locate(self.spec.source, self.spec.name, self.root)
        data = read_corpus(path, self.spec.member)
        if self.spec.n_bytes is not None and len(data) != self.spec.n_bytes:
            raise DataFileError(f"corpus {self.spec.name} at {path} holds {len(data)} bytes, expected "
                                f"{self.spec.n_bytes}; it is truncated or another file: replace it")
        return data, str(path)

    def _parts(self) -> dict[str, bytes]:
        """The corpus split into train/val/test bytes."""
        return split_corpus(*self._corpus())

    def _streams(self, parts: dict[str, bytes]) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        """Each split's token stream (here its bytes) and the units per token id (None: 1 byte each)."""
        return {split: bytes_to_ids(part) for split, part in parts.items()}, None

    def _build(self) -> dict[str, Dataset]:
        streams, units = self._streams(self._parts())
        return {split: StreamWindows(stream, self.seq_len, 1 if split == "train" else self.seq_len, units)
                for split, stream in streams.items()}

    def _train_sampler(self) -> Sampler:
        train = self.datasets["train"]
        per_epoch = self.train_windows or max(1, train.stream.shape[0] // self.seq_len)
        return RandomWindowSampler(len(train), per_epoch)

    def encode(self, text: str) -> torch.Tensor:
        """(n,) long ids of the UTF-8 bytes of `text`."""
        return bytes_to_ids(text.encode("utf-8")).long()

    def decode(self, ids: torch.Tensor) -> bytes:
        """The bytes of ids (n,) in [0, 256)."""
        ids = torch.as_tensor(ids).flatten().cpu()
        if ids.numel() and not (0 <= int(ids.min()) and int(ids.max()) < 256):
            raise ValueError(f"byte ids must lie in [0, 256), got range [{int(ids.min())}, {int(ids.max())}]")
        return ids.to(torch.uint8).numpy().tobytes()
