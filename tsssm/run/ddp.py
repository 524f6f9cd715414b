"""Lightning DDP under Hydra: one job, one output directory, one MLflow run per training run.

Lightning's DDP launcher starts ranks 1..N-1 by re-running the command line (``sys.argv``) with
``hydra.run.dir`` set to the parent's run directory and no ``.hydra`` subdirectory, and leaves
``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_PORT``... in the launching process's environment and its
process group up. Under a Hydra multirun that breaks twice: ``sys.argv`` is the whole sweep
(``-m model=s4,mamba``), so every child would start a sweep of its own; and the next job in the
same process sees ``LOCAL_RANK``, believes an outside launcher made its ranks, launches none and
waits forever. ``distributed_job`` fixes both around one job.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import lightning as L
import torch.distributed as dist
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import read_write

LAUNCHER_ENVIRONMENT = ("LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def follow_this_job_in_ddp_children() -> None:
    """Make DDP child processes of a multirun job re-run this job alone, in its directory."""
    if not HydraConfig.initialized():
        return
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return
    sys.argv = [sys.argv[0], *hydra_cfg.overrides.task]
    with read_write(hydra_cfg.run):
        hydra_cfg.run.dir = hydra_cfg.runtime.output_dir


@contextmanager
def distributed_job(trainer: L.Trainer) -> Iterator[None]:
    """Run one training job; afterwards leave the process as it was before the DDP launch."""
    if trainer.world_size <= 1:
        yield
        return
    launches_ranks = "LOCAL_RANK" not in os.environ
    follow_this_job_in_ddp_children()
    try:
        yield
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        if launches_ranks:
            for name in LAUNCHER_ENVIRONMENT:
                os.environ.pop(name, None)
