"""What a checkpoint carries to be used again: the config as written (node interpolations kept,
resolver calls and data locations taken from the training process), the MLflow run and the
task's record of its data."""

from __future__ import annotations

from types import SimpleNamespace

from omegaconf import OmegaConf

from tsssm.run.record import CONFIG_AS_WRITTEN, RECORD_KEY, RunRecord, portable, recorded_config


def test_the_config_keeps_its_links_but_not_what_only_training_can_resolve(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TSSSM_TEST_ROOT", "elsewhere")
    config = OmegaConf.create({"model": {"width": 8},
                               "task": {"width": "${model.width}",
                                        "root": "${oc.env:TSSSM_TEST_ROOT}"},
                               "data": {"root": "data", "path": None}})
    resolved = portable(OmegaConf.to_container(config, resolve=True))
    assert resolved["data"] == {"root": str(tmp_path / "data"), "path": None}
    recorded = recorded_config(config, resolved)
    assert recorded["task"] == {"width": "${model.width}", "root": "elsewhere"}
    assert recorded["data"]["root"] == str(tmp_path / "data")


def test_every_checkpoint_carries_the_config_the_run_and_the_data_record():
    record = RunRecord({"seed": 1}, SimpleNamespace(run_id="abc"), "sqlite:///m.db",
                       {"channel_names": ["x"]})
    checkpoint = {}
    record.on_save_checkpoint(None, None, checkpoint)
    assert checkpoint[RECORD_KEY] == {"format": CONFIG_AS_WRITTEN, "config": {"seed": 1},
                                      "tracking_uri": "sqlite:///m.db", "run_id": "abc",
                                      "data": {"channel_names": ["x"]}}
