"""Evaluation loaders that see every window exactly once, in one process or under DDP.

Lightning gives val/test loaders a ``DistributedSampler``, which pads the dataset with repeated
windows so that every rank gets as many batches as the others; metrics then count those windows
twice. ``eval_loader`` installs Lightning's ``UnrepeatedDistributedSampler`` itself when a process
group is up (Lightning leaves a loader alone that already has a distributed sampler): ranks get
disjoint, unpadded shares whose union is the whole split, in order within each rank.
"""

from __future__ import annotations

import torch.distributed as dist
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader, Dataset, Sampler


def eval_loader(dataset: Dataset, batch_size: int, num_workers: int = 0) -> DataLoader:
    """An unshuffled loader over ``dataset``; sharded without padding when distributed."""
    sampler = None
    if dist.is_available() and dist.is_initialized():
        sampler = UnrepeatedDistributedSampler(dataset, shuffle=False)
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, sampler=sampler,
                      drop_last=False, num_workers=num_workers,
                      persistent_workers=num_workers > 0)


class SplitLoaders:
    """The loaders of a data module that has ``datasets`` (by split name), ``batch_size`` and
    ``num_workers``: train shuffles (or draws from ``_train_sampler`` when a subclass gives one);
    val, test and predict (the test split) see every window once, in order (``eval_loader``)."""

    def _train_sampler(self) -> Sampler | None:
        return None

    def train_dataloader(self) -> DataLoader:
        sampler = self._train_sampler()
        return DataLoader(self.datasets["train"], batch_size=self.batch_size, shuffle=sampler is None,
                          sampler=sampler, drop_last=False, num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0)

    def val_dataloader(self) -> DataLoader:
        return eval_loader(self.datasets["val"], self.batch_size, self.num_workers)

    def test_dataloader(self) -> DataLoader:
        return eval_loader(self.datasets["test"], self.batch_size, self.num_workers)

    def predict_dataloader(self) -> DataLoader:
        return eval_loader(self.datasets["test"], self.batch_size, self.num_workers)
