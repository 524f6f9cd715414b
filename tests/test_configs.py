"""The config tree composes what it did before it was split into pieces: every model's backbone from
conf/mixer/ and the shared pieces at the root of conf/ (which ``--help`` does not offer), the
optimizer recipe handed to the task as one node, and checkpoints recorded with the older layout."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

import tsssm.mixers
from tests import cli
from tests.compose import REPO, compose_fit
from tsssm.mixers.base import Mixer
from tsssm.run.checkpoint import checkpoint_config
from tsssm.run.record import CONFIG_AS_WRITTEN, RECORD_KEY, portable, recorded_config
from tsssm.tasks.optim import RECIPE_FIELDS, OptimizerRecipe

MAMBA = ("mamba.Mamba", {"d_state": 16, "d_conv": 4, "expand": 2, "step_backend": "auto"})
ATTENTION = ("attention.Attention", {"n_heads": 4, "causal": True, "rotary": True})
S4 = ("s4.S4", {"mode": "dplr", "d_state": 64})
LINEAR_ATTENTION = ("linear_attention.LinearAttention",
                    {"n_heads": 4, "feature_map": "elu", "decay": "fixed",
                     "normalization": "denominator", "chunk_size": 64})
GSS = ("gss.GSS", {"expand": 4, "ssm_ratio": 0.25, "d_state": 64})
# model -> (d_model, n_layers, pattern, mlp_ratio, norm) and each pattern letter's mixer (module.class
# under tsssm.mixers, settings): the values the presets had when each wrote its backbone out in full.
BACKBONES = {
    "s4": ((64, 2, "s", 2, "layernorm"), {"s": S4}),
    "s4d": ((64, 2, "s", 2, "layernorm"), {"s": ("s4.S4", {**S4[1], "mode": "diag"})}),
    "mamba": ((64, 2, "m", 0, "rmsnorm"), {"m": MAMBA}),
    "mamba2": ((64, 2, "m", 0, "rmsnorm"),
               {"m": ("mamba2.Mamba2", {"d_state": 32, "d_conv": 4, "expand": 2, "headdim": 16,
                                        "chunk_size": 64})}),
    "transformer": ((64, 2, "a", 2, "layernorm"), {"a": ("attention.Attention",
                                                         {**ATTENTION[1], "causal": False})}),
    "hybrid": ((64, 4, "mmma", 0, "rmsnorm"), {"m": MAMBA, "a": ATTENTION}),
    "lstm": ((64, 2, "r", 0, "layernorm"), {"r": ("rnn.RNN", {"kind": "lstm"})}),
    "linear_attention": ((64, 2, "l", 2, "layernorm"), {"l": LINEAR_ATTENTION}),
    "gss": ((64, 2, "g", 0, "rmsnorm"), {"g": ("gss.GSS", {**GSS[1], "expand": 3})}),
    "seq/linear_attention": ((192, 4, "l", 4, "layernorm"),
                             {"l": ("linear_attention.LinearAttention",
                                    {**LINEAR_ATTENTION[1], "n_heads": 6})}),
    "seq/gss": ((192, 5, "g", 0, "rmsnorm"), {"g": GSS}),
    "seq/transformer": ((192, 4, "a", 4, "layernorm"),
                        {"a": ("attention.Attention", {**ATTENTION[1], "n_heads": 6})}),
    "seq/mamba": ((192, 7, "m", 0, "rmsnorm"), {"m": MAMBA}),
    "seq/mamba2": ((192, 7, "m", 0, "rmsnorm"),
                   {"m": ("mamba2.Mamba2", {"d_state": 64, "d_conv": 4, "expand": 2, "headdim": 32,
                                            "chunk_size": 64})}),
    "seq/s4": ((192, 7, "s", 2, "layernorm"), {"s": ("s4.S4", {**S4[1], "bidirectional": False})}),
    "seq/hybrid": ((192, 8, "mmma", 0, "rmsnorm"),
                   {"m": MAMBA, "a": ("attention.Attention", {**ATTENTION[1], "n_heads": 6})}),
}
DEFAULT_RECIPE = {"lr": 1e-3, "weight_decay": 0.05, "warmup_epochs": 1, "schedule": "cosine",
                  "min_lr_ratio": 0.01, "gamma": 0.5}
FORECASTER = {"patch_len": 16, "stride": 8,
              "net": {"_target_": "tsssm.models.forecaster.Forecaster", "_partial_": True,
                      "backbone": "${model.backbone}", "patch_len": "${model.patch_len}",
                      "stride": "${model.stride}", "channel_independent": True, "revin": True,
                      "head_dropout": 0.0}}


def model_config(tmp_path: Path, model: str) -> dict:
    """``model=MODEL``'s model section, as written (interpolations kept)."""
    return OmegaConf.to_container(compose_fit(tmp_path, [f"model={model}"]).model)


@pytest.mark.parametrize("model", list(BACKBONES))
def test_every_backbone_model_composes_the_backbone_it_wrote_out_before(tmp_path, model):
    (d_model, n_layers, pattern, mlp_ratio, norm), mixers = BACKBONES[model]
    config = model_config(tmp_path, model)
    assert config.pop("backbone") == {
        "_target_": "tsssm.models.backbone.Backbone", "d_model": d_model, "n_layers": n_layers,
        "pattern": pattern, "mlp_ratio": mlp_ratio, "dropout": 0.1, "norm": norm,
        "mixers": {letter: {"_target_": f"tsssm.mixers.{target}", "_partial_": True, **settings}
                   for letter, (target, settings) in mixers.items()}}
    forecaster = {} if model.startswith("seq/") else FORECASTER
    assert config == {"name": model.removeprefix("seq/"), "optim": DEFAULT_RECIPE, **forecaster}


def test_the_baselines_keep_their_networks_and_recipes(tmp_path):
    assert model_config(tmp_path, "naive") == {
        "name": "naive", "optim": DEFAULT_RECIPE,
        "net": {"_target_": "tsssm.models.baselines.SeasonalNaive", "_partial_": True,
                "period": None}}
    assert model_config(tmp_path, "dlinear")["optim"] == {
        "lr": 5e-3, "weight_decay": 0.0, "warmup_epochs": 0, "schedule": "exponential",
        "min_lr_ratio": 0.01, "gamma": 0.5}


def mixer_classes() -> set[str]:
    """``module.Class`` of every concrete Mixer in tsssm.mixers."""
    found = set()
    for module_info in pkgutil.iter_modules(tsssm.mixers.__path__, "tsssm.mixers."):
        module = importlib.import_module(module_info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (issubclass(cls, Mixer) and not inspect.isabstract(cls)
                    and cls.__module__ == module.__name__):
                found.add(f"{cls.__module__}.{cls.__name__}")
    return found


def test_the_mixer_group_has_a_config_for_every_mixer():
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        targets = {compose(f"mixer/{path.stem}").mixer._target_
                   for path in (REPO / "conf" / "mixer").glob("*.yaml")}
    assert targets == mixer_classes()


def test_help_offers_every_group_and_no_internal_piece(tmp_path):
    result = cli.run_module("tsssm.fit", ["--help"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    section = result.stdout.split("== Configuration groups ==")[1].split("== Config ==")[0]
    offered = dict(re.findall(r"^([\w/]+): (.+)$", section, re.M))
    assert offered["mixer"] == "attention, gss, linear_attention, mamba, mamba2, rnn, s4, s4d"
    assert offered["model"] == ("dlinear, gss, hybrid, linear_attention, lstm, lstsq, mamba, mamba2, "
                                "naive, s4, s4d, transformer")
    assert offered["experiment/ltsf"].startswith("etth1, etth2")
    options = [name for names in offered.values() for name in names.split(", ")]
    assert not [name for name in options if name.startswith("_")]
    assert "experiment" not in offered, "experiments live in subgroups (ltsf/, bytes/, ...)"


def test_an_experiment_is_chosen_without_a_plus_and_overrides_the_root(tmp_path):
    cfg = compose_fit(tmp_path, ["experiment=recall/mqar", "model=seq/s4"])
    assert cfg.task._target_ == "tsssm.tasks.language_model.LanguageModelTask"
    assert (cfg.model.name, cfg.data.seq_len, cfg.trainer.max_steps) == ("s4", 256, 2000)
    assert cfg.model.backbone.dropout == 0.0 and cfg.model.optim.warmup_epochs == 0.05


@pytest.mark.parametrize("overrides", [["model=dlinear"], ["experiment=bytes/shakespeare"]])
def test_the_task_takes_the_models_recipe_as_one_node(tmp_path, overrides):
    cfg = compose_fit(tmp_path, overrides)
    assert OmegaConf.to_container(cfg.task)["optim"] == "${model.optim}"
    task = instantiate(cfg.task, net=nn.Linear(1, 1), **task_inputs(cfg))
    assert task.recipe == OptimizerRecipe(**cfg.model.optim)


def task_inputs(cfg) -> dict:
    """What the data would give the configured task besides its network."""
    if cfg.task._target_.endswith("LanguageModelTask"):
        return {"unit": "byte"}
    return {"scaler_mean": torch.zeros(1), "scaler_std": torch.ones(1)}


def test_an_unknown_recipe_field_is_named():
    with pytest.raises(ValueError, match=r"optim: unknown field\(s\) \['lrr'\]; a recipe has lr, "):
        OptimizerRecipe.from_config({"lr": 1e-3, "lrr": 1e-3})


def record_with_recipe_as_task_fields(tmp_path: Path, resolved_only: bool) -> dict:
    """A checkpoint record of ``model=dlinear`` as tsssm.fit wrote it when tasks took the six recipe
    fields as keys of their own (``task.lr: ${model.optim.lr}``); before format 2, resolved."""
    cfg = compose_fit(tmp_path, ["model=dlinear"])
    config = recorded_config(cfg, portable(OmegaConf.to_container(cfg, resolve=True)))
    del config["task"]["optim"]
    config["task"].update({field: f"${{model.optim.{field}}}" for field in RECIPE_FIELDS})
    if resolved_only:
        return {"config": OmegaConf.to_container(OmegaConf.create(config), resolve=True)}
    return {"format": CONFIG_AS_WRITTEN, "config": config}


@pytest.mark.parametrize("resolved_only", [False, True])
def test_a_checkpoint_that_recorded_the_recipe_as_task_fields_still_builds(tmp_path, resolved_only):
    record = record_with_recipe_as_task_fields(tmp_path, resolved_only)
    assert "lr" in record["config"]["task"] and "optim" not in record["config"]["task"]
    overrides = None if resolved_only else {"model": {"optim": {"lr": 0.25}}}
    config = checkpoint_config({RECORD_KEY: record}, overrides)
    task = instantiate(config.task, net=nn.Linear(1, 1), **task_inputs(config))
    lr = 5e-3 if resolved_only else 0.25  # an override reaches a recipe that kept its links
    assert task.recipe == OptimizerRecipe(lr=lr, weight_decay=0.0, warmup_epochs=0,
                                          schedule="exponential", min_lr_ratio=0.01, gamma=0.5)


@pytest.mark.parametrize("entry_point,overrides,key", [
    ("evaluate", ["checkpoint=best.ckpt"], "predictions"),
    ("forecast", ["checkpoint=best.ckpt", "input=in.csv", "output=out.parquet"], "format"),
    ("generate", ["checkpoint=best.ckpt"], "temperature"),
    ("backtest", ["checkpoint=best.ckpt", "input=in.csv", "output=out.parquet"], "n_windows"),
])
def test_the_other_entry_points_compose(tmp_path, entry_point, overrides, key):
    cfg = compose_fit(tmp_path, overrides, entry_point)
    assert cfg.checkpoint == "best.ckpt" and key in cfg and "model" not in cfg
