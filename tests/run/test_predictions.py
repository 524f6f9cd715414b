"""Predictions gathered from every rank into one long table: windows in order, each exactly once.
(Their gathering across two real processes is tested with DDP evaluation, ``test_ddp``.)"""

from __future__ import annotations

import pytest
import torch

from tsssm.run.predictions import GatheredPredictions, long_frame


def test_gathering_refuses_a_window_seen_twice(tmp_path):
    writer = GatheredPredictions(tmp_path / "p.parquet", n_windows=3, axes=("step",), value="y")
    writer.parts.mkdir()
    torch.save({"index": torch.tensor([0, 1]), "values": torch.zeros(2, 4)}, writer.parts / "rank0.pt")
    torch.save({"index": torch.tensor([1]), "values": torch.zeros(1, 4)}, writer.parts / "rank1.pt")
    with pytest.raises(RuntimeError, match=r"expected each of the 3 exactly once .*missing e.g. \[2\].*"
                                           r"repeated e.g. \[1\]"):
        writer._join(world_size=2)
    assert not (tmp_path / "p.parquet").exists()


def test_long_frame_lays_out_windows_and_axes():
    frame = long_frame(torch.tensor([5, 7]).numpy(), torch.arange(12.0).reshape(2, 3, 2).numpy(),
                       ("step", "channel"), "forecast")
    assert frame.columns.tolist() == ["window", "step", "channel", "forecast"]
    row = frame[(frame.window == 7) & (frame.step == 2) & (frame.channel == 1)]
    assert row["forecast"].item() == 11.0
