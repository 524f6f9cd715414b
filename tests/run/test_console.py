"""The known noise is quieted in one place, and the progress bar stays where a terminal shows it."""

from __future__ import annotations

import logging
import sys
import warnings

import lightning as L

from tests.compose import FAST, compose_fit
from tsssm.fit import fit
from tsssm.run.console import quiet_known_noise
from tsssm.run.epoch_lines import EpochLines
from tsssm.run.entry_point import register_resolvers


def test_lightning_warnings_of_no_use_are_ignored():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_known_noise()
        warnings.warn("The 'train_dataloader' does not have many workers which may be a "
                      "bottleneck.", UserWarning)
        warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated", FutureWarning)
        warnings.warn("The number of training batches (3) is smaller than the logging interval",
                      UserWarning)
    assert [str(w.message) for w in caught] == [
        "The number of training batches (3) is smaller than the logging interval"]


def test_the_litlogger_tip_is_dropped_and_other_lines_kept(caplog):
    quiet_known_noise()
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    with caplog.at_level(logging.INFO):
        rank_zero.info("💡 Tip: For seamless cloud logging, try installing [litlogger](...)")
        rank_zero.info("GPU available: False, used: False")
        logging.getLogger("mlflow.store.db.utils").info("Creating initial MLflow database tables...")
    assert caplog.messages == ["GPU available: False, used: False"]


def test_on_a_terminal_the_progress_bar_stays(tmp_path, monkeypatch):
    register_resolvers()
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    assert compose_fit(tmp_path, []).trainer.enable_progress_bar is True
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False, raising=False)
    assert compose_fit(tmp_path, []).trainer.enable_progress_bar is False


def epoch_lines(caplog, trainer: L.Trainer) -> list[str]:
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tsssm"):
        EpochLines().on_train_epoch_end(trainer, None)
    return [record.message for record in caplog.records if record.name.startswith("tsssm")]


def test_epoch_lines_are_quiet_under_a_progress_bar(caplog):
    options = {"logger": False, "enable_checkpointing": False, "max_epochs": 4}
    assert epoch_lines(caplog, L.Trainer(enable_progress_bar=True, **options)) == []
    (line,) = epoch_lines(caplog, L.Trainer(enable_progress_bar=False, **options))
    assert line.startswith("epoch 1/4  step 0")


def test_a_validation_within_an_epoch_gets_its_own_line(tmp_path, caplog):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    cfg = compose_fit(tmp_path, [*FAST, "model=dlinear", f"logger.tracking_uri={uri}",
                                 "+trainer.val_check_interval=2"])
    with caplog.at_level(logging.INFO, logger="tsssm"):
        fit(cfg)
    lines = [r.message for r in caplog.records if r.name == "tsssm.run.epoch_lines"]
    assert [line.split()[:4] for line in lines] == [["epoch", "1/1", "step", "2"],
                                                    ["epoch", "1/1", "step", "3"]]
    assert "train/loss " in lines[0] and "val/mse " in lines[0]
