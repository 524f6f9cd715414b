"""Which device a job runs on, from a config string."""

from __future__ import annotations

import torch


def resolve_device(name: str) -> torch.device:
    """``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:INDEX``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name != "cpu" and not str(name).startswith("cuda"):
        raise ValueError(f"device must be auto, cpu or cuda[:INDEX], got {name!r}")
    if name != "cpu" and not torch.cuda.is_available():
        raise ValueError(f"device={name} but CUDA is not available here; use device=cpu or auto")
    return torch.device(name)
