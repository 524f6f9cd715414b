"""Token streams cut into the sequence-batch contract, and the loaders every sequence data module shares.

An item is a dict of three (L,) tensors — `input` (long ids fed to the model), `target` (long, the id to
predict at each position, -100 where nothing is scored) and `units` (float32, the data units — samples or
bytes — that each scored target covers, 0 elsewhere) — which the default collate stacks into (B, L).

Windows over a stream: a window of length L starting at s reads `input = stream[s : s+L]` and predicts
`target = stream[s+1 : s+L+1]`. With stride L (evaluation) the windows' targets tile positions
1 .. n-1 of the stream: every token after the first is scored exactly once, and the last window is
padded (input 0, target -100, units 0). With stride 1 (training) every full window is an item and a
`RandomWindowSampler` picks an epoch's worth of them.
"""

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator

import torch
from lightning import LightningDataModule
from torch.utils.data import Dataset, Sampler

from tsssm.data.sampling import SplitLoaders

IGNORE_INDEX = -100
SPLITS = ("train", "val", "test")


def check_positive(field: str, value: object) -> int:
    """`value` as an int if it is a positive integer, else a ValueError naming `field`."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{field} must be a positive integer, got {value!r}")
    return value


def compact_ids(ids: torch.Tensor) -> torch.Tensor:
    """`ids` in the smallest integer dtype that holds their values (uint8, int16 or int32).

    Why: a stream of 10^8 bytes is 100 MB as uint8 and 800 MB as int64, held by every loader worker.
    """
    low, high = (int(ids.min()), int(ids.max())) if ids.numel() else (0, 0)
    if 0 <= low and high < 2**8:
        return ids.to(torch.uint8)
    if -(2**15) <= low and high < 2**15:
        return ids.to(torch.int16)
    return ids.to(torch.int32)


def padded_item(inputs: torch.Tensor, targets: torch.Tensor, units: torch.Tensor, seq_len: int) -> dict:
    """The contract item: inputs, targets (m,) int and units (m,) float with m <= seq_len, padded to seq_len."""
    m = inputs.shape[0]
    if not m == targets.shape[0] == units.shape[0] <= seq_len:
        raise ValueError(f"item of {m} inputs, {targets.shape[0]} targets, {units.shape[0]} units "
                         f"does not fit seq_len {seq_len}")
    item = {
        "input": torch.zeros(seq_len, dtype=torch.long),
        "target": torch.full((seq_len,), IGNORE_INDEX, dtype=torch.long),
        "units": torch.zeros(seq_len, dtype=torch.float32),
    }
    item["input"][:m] = inputs
    item["target"][:m] = targets
    item["units"][:m] = units
    return item


class StreamWindows(Dataset):
    """Windows of `seq_len` next-token pairs over one token stream, every `stride` positions.

    stream: (n,) integer ids, n >= 2. unit_table: (V,) float32 units per target id (BPE: bytes per
    token); None gives 1.0 per scored target. There are 1 + ceil((n - 1 - seq_len) / stride) windows
    (at least one); only the last may be partial.
    """

    def __init__(self, stream: torch.Tensor, seq_len: int, stride: int,
                 unit_table: torch.Tensor | None = None) -> None:
        if stream.ndim != 1 or stream.shape[0] < 2:
            raise ValueError(f"a token stream must be 1-d with at least 2 tokens, got shape {tuple(stream.shape)}")
        self.stream = stream
        self.seq_len = check_positive("seq_len", seq_len)
        self.stride = check_positive("stride", stride)
        self.unit_table = unit_table

    def __len__(self) -> int:
        return 1 + max(0, math.ceil((self.stream.shape[0] - 1 - self.seq_len) / self.stride))

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(f"window {index} out of range [0, {len(self)})")
        start = index * self.stride
        stop = min(start + self.seq_len, self.stream.shape[0] - 1)
        inputs = self.stream[start:stop].long()
        targets = self.stream[start + 1 : stop + 1].long()
        if self.unit_table is None:
            units = torch.ones(targets.shape[0], dtype=torch.float32)
        else:
            units = self.unit_table[targets]
        return padded_item(inputs, targets, units, self.seq_len)


class RandomWindowSampler(Sampler[int]):
    """`n_samples` indices drawn uniformly (with replacement) from range(n_windows) each epoch.

    Why not RandomSampler: drawing without replacement from 10^8 stride-1 windows needs a 10^8
    permutation per epoch, and Lightning swaps a RandomSampler for a full-size DistributedSampler under
    DDP; a custom sampler is wrapped instead (DistributedSamplerWrapper), each rank taking a share of the
    draws. The draws come from torch's global generator, so `seed_everything` makes them reproducible.
    """

    def __init__(self, n_windows: int, n_samples: int) -> None:
        self.n_windows = check_positive("n_windows", n_windows)
        self.n_samples = check_positive("n_samples", n_samples)

    def __len__(self) -> int:
        return self.n_samples

    def __iter__(self) -> Iterator[int]:
        seed = int(torch.empty((), dtype=torch.int64).random_().item())
        generator = torch.Generator().manual_seed(seed)
        yield from torch.randint(self.n_windows, (self.n_samples,), generator=generator).tolist()


class SequenceDataModule(SplitLoaders, LightningDataModule, ABC):
    """What the sequence data modules share; a subclass builds its three datasets in `_build`.

    Loaders from `SplitLoaders`: train shuffles (or uses `_train_sampler` when a subclass gives one);
    val, test and predict (= test) see every window exactly once, also under DDP.
    """

    test_step_scale: float = 1.0
    """How much longer a test step is than a training step in time (the training sample rate over
    the test one): what the step size of mixers that have one (``rate``) is multiplied by at test."""

    def __init__(self, seq_len: int, batch_size: int, num_workers: int) -> None:
        super().__init__()
        self.seq_len = check_positive("seq_len", seq_len)
        self.batch_size = check_positive("batch_size", batch_size)
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers must be a non-negative integer, got {num_workers!r}")
        self.num_workers = num_workers
        self._datasets: dict[str, Dataset] | None = None

    @abstractmethod
    def _build(self) -> dict[str, Dataset]:
        """The "train", "val" and "test" datasets."""

    def setup(self, stage: str | None = None) -> None:
        """Build the datasets once; later calls reuse them."""
        if self._datasets is None:
            self._datasets = self._build()

    @property
    def datasets(self) -> dict[str, Dataset]:
        if self._datasets is None:
            raise RuntimeError(f"{type(self).__name__}: call setup() before using its datasets")
        return self._datasets
