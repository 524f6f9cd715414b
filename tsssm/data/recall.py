"""Synthetic recall tasks: multi-query associative recall (MQAR) and selective copying.

Why: they isolate what a sequence mixer can store and retrieve from its context. Attention looks a key
up exactly; a fixed-size SSM state must compress the context, and how much it keeps shows as accuracy
against the number of pairs (MQAR) or the length of noise to ignore (selective copying).

MQAR (Arora et al. 2023, "Zoology"), one example of `seq_len` tokens with n = n_kv_pairs:
    k_1 v_1 k_2 v_2 ... k_n v_n | query region of seq_len - 2n tokens
Keys are distinct ids from [1, V/2), values distinct ids from [V/2, V). Every key is queried once: the
query region has slots at its even offsets 2g, g in [0, (seq_len - 2n) / 2); n distinct slots are drawn
with probability ∝ g^(a-1) (a = power_a: queries close to the context are likelier, as in Zoology) and
hold the keys in draw order. The target at a query key is the value paired with it; every other target
is -100. The other tokens of the query region are uniform random ids (`random_non_queries`) or 0.

Selective copying (Gu & Dao 2023, the Mamba paper), with n = n_tokens_to_copy and vocabulary V:
    region of seq_len - n tokens: n data tokens (ids in [1, V-1)) at sorted random positions, 0 (blank)
    elsewhere | n markers (id V-1)
At the i-th marker the target is the i-th data token of the region, in order; elsewhere it is -100.

Examples are generated on demand, each from its own generator seeded by (seed, split, index): the same
config always gives the same data, whatever order it is read in, and train, val and test differ. An
example is kept once made (int32 inputs and targets, 8·seq_len bytes): a run reads its training set
for many epochs and its validation set at every check, and making one costs about 100 µs of NumPy,
as much as a small model's whole training step on a GPU.
"""

from abc import abstractmethod
from collections.abc import Callable
from functools import partial

import numpy as np
import torch
from torch.utils.data import Dataset

from tsssm.data.sequence import IGNORE_INDEX, SPLITS, SequenceDataModule, check_positive, padded_item

Example = tuple[np.ndarray, np.ndarray]


def check_mqar(seq_len: int, n_kv_pairs: int, vocab_size: int) -> None:
    """Raise ValueError unless n_kv_pairs distinct keys, values and query slots fit."""
    if seq_len < 4 * n_kv_pairs:
        raise ValueError(f"mqar: seq_len {seq_len} is too short for {n_kv_pairs} key-value pairs: the pairs "
                         f"take 2·n_kv_pairs tokens and their queries need 2·n_kv_pairs more, so seq_len >= "
                         f"{4 * n_kv_pairs}")
    if vocab_size // 2 - 1 < n_kv_pairs:
        raise ValueError(f"mqar: vocab_size {vocab_size} is too small for {n_kv_pairs} distinct keys from "
                         f"[1, vocab_size / 2): need vocab_size >= {2 * n_kv_pairs + 2}")


def mqar_example(rng: np.random.Generator, seq_len: int, n_kv_pairs: int, vocab_size: int,
                 power_a: float = 0.01, random_non_queries: bool = True) -> Example:
    """One MQAR example: input and target, (seq_len,) int64 each (see the module docstring)."""
    check_mqar(seq_len, n_kv_pairs, vocab_size)
    n, half = n_kv_pairs, vocab_size // 2
    keys = 1 + rng.choice(half - 1, n, replace=False)
    values = half + rng.choice(vocab_size - half, n, replace=False)
    slots = (seq_len - 2 * n) // 2
    weights = np.arange(1, slots + 1, dtype=np.float64) ** (power_a - 1)
    gaps = rng.choice(slots, n, replace=False, p=weights / weights.sum())
    inputs = rng.integers(vocab_size, size=seq_len) if random_non_queries else np.zeros(seq_len, dtype=np.int64)
    inputs[0 : 2 * n : 2] = keys
    inputs[1 : 2 * n : 2] = values
    queries = 2 * n + 2 * gaps
    inputs[queries] = keys
    targets = np.full(seq_len, IGNORE_INDEX, dtype=np.int64)
    targets[queries] = values
    return inputs, targets


def check_selective_copying(seq_len: int, n_tokens_to_copy: int, vocab_size: int) -> None:
    """Raise ValueError unless the tokens fit their region and the vocabulary has a data id besides blank and marker."""
    if vocab_size < 3:
        raise ValueError(f"selective copying: vocab_size {vocab_size} leaves no data token besides the blank (0) "
                         "and the marker (vocab_size - 1): need vocab_size >= 3")
    if seq_len - n_tokens_to_copy < n_tokens_to_copy:
        raise ValueError(f"selective copying: seq_len {seq_len} is too short to scatter {n_tokens_to_copy} tokens "
                         f"and then copy them: need seq_len >= {2 * n_tokens_to_copy}")


def selective_copying_example(rng: np.random.Generator, seq_len: int, n_tokens_to_copy: int,
                              vocab_size: int) -> Example:
    """One selective-copying example: input and target, (seq_len,) int64 each (see the module docstring)."""
    check_selective_copying(seq_len, n_tokens_to_copy, vocab_size)
    region = seq_len - n_tokens_to_copy
    tokens = rng.integers(1, vocab_size - 1, size=n_tokens_to_copy)
    positions = np.sort(rng.choice(region, n_tokens_to_copy, replace=False))
    inputs = np.zeros(seq_len, dtype=np.int64)
    inputs[positions] = tokens
    inputs[region:] = vocab_size - 1
    targets = np.full(seq_len, IGNORE_INDEX, dtype=np.int64)
    targets[region:] = tokens
    return inputs, targets


class GeneratedExamples(Dataset):
    """`n_examples` examples; example i is make(Generator seeded by (seed, split_index, i)), made on
    its first read and kept as (seq_len,) rows of two int32 tables."""

    def __init__(self, make: Callable[[np.random.Generator], Example], n_examples: int, seed: int,
                 split_index: int, seq_len: int) -> None:
        self.make = make
        self.n_examples = n_examples
        self.seed = seed
        self.split_index = split_index
        self.seq_len = seq_len
        self._inputs = torch.zeros((n_examples, seq_len), dtype=torch.int32)
        self._targets = torch.zeros((n_examples, seq_len), dtype=torch.int32)
        self._made = torch.zeros(n_examples, dtype=torch.bool)

    def __len__(self) -> int:
        return self.n_examples

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.n_examples:
            raise IndexError(f"example {index} out of range [0, {self.n_examples})")
        if not self._made[index]:
            inputs, targets = self.make(np.random.default_rng((self.seed, self.split_index, index)))
            targets = torch.from_numpy(targets)
            item = padded_item(torch.from_numpy(inputs), targets, (targets != IGNORE_INDEX).float(),
                               self.seq_len)
            self._inputs[index] = item["input"]
            self._targets[index] = item["target"]
            self._made[index] = True
        targets = self._targets[index].long()
        return {"input": self._inputs[index].long(), "target": targets,
                "units": (targets != IGNORE_INDEX).float()}


class RecallDataModule(SequenceDataModule):
    """Shared by the recall tasks: example counts per split, the seed, and loaders; a subclass says how
    one example is made. Only answer positions are scored, one unit ("token") each."""

    unit = "token"

    def __init__(self, seq_len: int, vocab_size: int, n_train: int, n_val: int, n_test: int, seed: int,
                 batch_size: int, num_workers: int) -> None:
        super().__init__(seq_len, batch_size, num_workers)
        self.vocab_size = check_positive("vocab_size", vocab_size)
        self.n_examples = {split: check_positive(f"n_{split}", count)
                           for split, count in zip(SPLITS, (n_train, n_val, n_test), strict=True)}
        if not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self.seed = seed

    @abstractmethod
    def _maker(self) -> Callable[[np.random.Generator], Example]:
        """A picklable function making one example from a generator."""

    def _build(self) -> dict[str, Dataset]:
        return {split: GeneratedExamples(self._maker(), self.n_examples[split], self.seed, index,
                                         self.seq_len)
                for index, split in enumerate(SPLITS)}


class MQARDataModule(RecallDataModule):
    """Multi-query associative recall; see the module docstring for the layout."""

    dataset_name = "mqar"

    def __init__(self, seq_len: int = 256, n_kv_pairs: int = 16, vocab_size: int = 8192, n_train: int = 100_000,
                 n_val: int = 3000, n_test: int = 3000, seed: int = 0, power_a: float = 0.01,
                 random_non_queries: bool = True, batch_size: int = 64, num_workers: int = 0) -> None:
        super().__init__(seq_len, vocab_size, n_train, n_val, n_test, seed, batch_size, num_workers)
        self.n_kv_pairs = check_positive("n_kv_pairs", n_kv_pairs)
        check_mqar(seq_len, n_kv_pairs, vocab_size)
        if not power_a > 0:
            raise ValueError(f"mqar: power_a must be > 0, got {power_a!r}")
        self.power_a = float(power_a)
        self.random_non_queries = bool(random_non_queries)

    def _maker(self) -> Callable[[np.random.Generator], Example]:
        return partial(mqar_example, seq_len=self.seq_len, n_kv_pairs=self.n_kv_pairs, vocab_size=self.vocab_size,
                       power_a=self.power_a, random_non_queries=self.random_non_queries)


class SelectiveCopyingDataModule(RecallDataModule):
    """Selective copying; see the module docstring for the layout."""

    dataset_name = "selective_copying"

    def __init__(self, seq_len: int = 4096, n_tokens_to_copy: int = 16, vocab_size: int = 16,
                 n_train: int = 100_000, n_val: int = 1000, n_test: int = 1000, seed: int = 0,
                 batch_size: int = 64, num_workers: int = 0) -> None:
        super().__init__(seq_len, vocab_size, n_train, n_val, n_test, seed, batch_size, num_workers)
        self.n_tokens_to_copy = check_positive("n_tokens_to_copy", n_tokens_to_copy)
        check_selective_copying(seq_len, n_tokens_to_copy, vocab_size)

    def _maker(self) -> Callable[[np.random.Generator], Example]:
        return partial(selective_copying_example, seq_len=self.seq_len, n_tokens_to_copy=self.n_tokens_to_copy,
                       vocab_size=self.vocab_size)
