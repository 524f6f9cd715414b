"""Every experiment (conf/experiment/) composes with every model it supports and trains and tests a
step or two at tiny sizes, tracked in MLflow: forecasting experiments (ltsf/*) with every model of
conf/model/, sequence experiments (waveform/*, bytes/*, recall/*) with every size preset of
conf/model/seq, logging its size and FLOPs. At their real sizes the presets are matched in
parameters, and the counts that the experiment files state are the ones the networks have."""

from __future__ import annotations

import math
import re
from pathlib import Path
from types import SimpleNamespace

import mlflow
import pytest
from hydra.utils import instantiate

from tests.compose import REPO, compose_fit
from tsssm.fit import fit


def config_names(group: str) -> list[str]:
    """The configs of a group of conf/, subgroups included (``ltsf/etth1``), without ``.yaml``."""
    folder = REPO / "conf" / group
    return sorted(path.relative_to(folder).with_suffix("").as_posix()
                  for path in folder.rglob("*.yaml"))


PRESETS = config_names("model/seq")
FORECAST_MODELS = [name for name in config_names("model") if "/" not in name]
FORECAST_EXPERIMENTS = [name for name in config_names("experiment") if name.startswith("ltsf/")]
# Their files are kept out of the test data: they are held out for independent evaluation.
HELD_OUT = {"ltsf/ettm2", "ltsf/weather"}
# One training batch, one validation batch, one test batch at each experiment's own window sizes.
ONE_STEP = ["data.batch_size=4", "trainer.max_epochs=1", "+trainer.limit_train_batches=1",
            "+trainer.limit_val_batches=1", "+trainer.limit_test_batches=1",
            "trainer.enable_progress_bar=false", "plot_windows=1"]
REFERENCE = "transformer"
TOLERANCE = 0.10
METRICS = {  # experiment -> its test metric in the data's unit
    "waveform/fsdd": "test/bits_per_sample",
    "bytes/shakespeare": "test/bits_per_byte",
    "bytes/enwik6": "test/bits_per_byte",
    "bytes/shakespeare_bpe": "test/bits_per_byte",
    "recall/mqar": "test/accuracy",
    "recall/copying": "test/accuracy",
}
TINY_DATA = {
    "waveform/fsdd": ["data.clip_length=64"],
    "bytes/shakespeare": ["data.seq_len=32"],
    "bytes/enwik6": ["data.seq_len=32"],
    "bytes/shakespeare_bpe": ["data.seq_len=16"],
    "recall/mqar": ["data.seq_len=32", "data.n_kv_pairs=4", "data.n_train=16", "data.n_val=8",
                    "data.n_test=8"],
    "recall/copying": ["data.seq_len=32", "data.n_tokens_to_copy=4", "data.n_train=16",
                       "data.n_val=8", "data.n_test=8"],
}
# S4's kernel raises its N x N transition to the L-th power, Mamba-2 runs its chunked scan over the
# state: small states keep both quick on the CPU.
TINY_STATE = {"s4": ["model.backbone.mixers.s.d_state=8"],
              "gss": ["model.backbone.mixers.g.d_state=8"],
              "mamba2": ["model.backbone.mixers.m.d_state=8",
                         "model.backbone.mixers.m.chunk_size=16"]}
# d_model 48 divides into the presets' 6 attention heads (rotary: even head_dim 8) and Mamba-2's
# heads of 32 channels (expand 2); four layers hold the hybrid's "mmma" once.
TINY_RUN = ["model.backbone.d_model=48", "model.backbone.n_layers=4", "data.batch_size=4",
            "trainer.max_steps=2", "trainer.val_check_interval=2", "+trainer.limit_train_batches=2",
            "+trainer.limit_val_batches=2", "+trainer.limit_test_batches=2",
            "trainer.enable_progress_bar=false"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One MLflow store and one BPE cache for the module (the data root is read-only, and the
    tokenizer then trains once)."""
    root = tmp_path_factory.mktemp("experiments")
    return {"uri": f"sqlite:///{root}/mlflow.db", "bpe_cache": str(root / "bpe")}


def test_every_experiment_is_forecasting_or_sequence_modelling():
    assert sorted([*FORECAST_EXPERIMENTS, *METRICS]) == config_names("experiment")


def tracked_run(store: dict[str, str], experiment: str, model: str) -> mlflow.entities.Run:
    """The one run of ``model`` in the MLflow experiment named after ``experiment``."""
    client = mlflow.MlflowClient(store["uri"])
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id],
                              f"tags.tsssm.model = '{model}'")
    assert len(runs) == 1
    return runs[0]


@pytest.mark.parametrize("model", FORECAST_MODELS)
@pytest.mark.parametrize("experiment", sorted(set(FORECAST_EXPERIMENTS) - HELD_OUT))
def test_forecast_experiment_trains_and_tests_with_every_model(tmp_path, store, experiment, model):
    cfg = compose_fit(tmp_path, [f"experiment={experiment}", f"model={model}",
                                 f"logger.tracking_uri={store['uri']}", *ONE_STEP])
    metrics = fit(cfg)
    assert math.isfinite(metrics["test/mse"]) and math.isfinite(metrics["test/mae_orig"])
    run = tracked_run(store, experiment, model)
    assert run.data.params["data.horizon"] == str(cfg.data.horizon)
    assert run.data.metrics["test/mse"] == pytest.approx(metrics["test/mse"])


@pytest.mark.parametrize("model", FORECAST_MODELS)
@pytest.mark.parametrize("experiment", sorted(HELD_OUT))
def test_held_out_forecast_experiments_compose_with_every_model(tmp_path, experiment, model):
    cfg = compose_fit(tmp_path, [f"experiment={experiment}", f"model={model}"])
    assert cfg.data.name.lower() == experiment.removeprefix("ltsf/")
    assert cfg.model.name == model and cfg.task._target_.endswith("ForecastTask")


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("experiment", list(METRICS))
def test_sequence_experiment_trains_and_tests_with_every_preset(tmp_path, store, experiment, preset):
    overrides = [f"experiment={experiment}", f"model=seq/{preset}",
                 f"logger.tracking_uri={store['uri']}", *TINY_RUN, *TINY_DATA[experiment],
                 *TINY_STATE.get(preset, [])]
    if experiment.endswith("_bpe"):
        overrides.append(f"data.cache_dir={store['bpe_cache']}")
    cfg = compose_fit(tmp_path, overrides)
    metrics = fit(cfg)
    metric = METRICS[experiment]
    assert math.isfinite(metrics[metric]) and math.isfinite(metrics["test/bits_per_token"])
    run = tracked_run(store, experiment, preset)
    assert int(run.data.params["n_params"]) > 0
    assert float(run.data.params["flops_per_token"]) > 0
    assert run.data.metrics[metric] == pytest.approx(metrics[metric])


def language_model_size(tmp_path: Path, experiment: str, preset: str) -> int:
    """Parameters of the experiment's LanguageModel at the preset's real size and the data's
    vocabulary, built untrained (a data module knows its vocabulary before it loads anything)."""
    cfg = compose_fit(tmp_path, [f"experiment={experiment}", f"model=seq/{preset}"])
    net = instantiate(cfg.task.net)(vocab_size=instantiate(cfg.data).vocab_size)
    return sum(p.numel() for p in net.parameters())


def stated_sizes(experiment: str) -> dict[str, int]:
    """The ``preset 1,234,567`` counts that the experiment file's header comment states."""
    header = (REPO / "conf" / "experiment" / f"{experiment}.yaml").read_text()
    return {name: int(count.replace(",", ""))
            for name, count in re.findall(r"\b(\w+) (\d{1,3}(?:,\d{3})+)\b", header)
            if name in PRESETS}


@pytest.mark.parametrize("experiment", list(METRICS))
def test_presets_are_matched_in_parameters_and_the_experiment_states_their_counts(tmp_path,
                                                                                  experiment):
    sizes = {preset: language_model_size(tmp_path, experiment, preset) for preset in PRESETS}
    reference = sizes[REFERENCE]
    for preset, size in sizes.items():
        assert abs(size / reference - 1) <= TOLERANCE, (preset, size, reference)
    assert stated_sizes(experiment) == sizes
    assert 1.5e6 <= reference <= 5e6, "sized for a couple of GPU minutes per model"


def test_warm_up_is_the_configured_fraction_of_the_step_budget(tmp_path):
    """The experiments train for max_steps with max_epochs -1, which the optimizer recipe counts
    as one epoch: warmup_epochs must then read as a fraction of max_steps (conf/_sequence.yaml)."""
    cfg = compose_fit(tmp_path, ["experiment=bytes/shakespeare", "model.backbone.d_model=48"])
    task = instantiate(cfg.task, net=instantiate(cfg.task.net)(vocab_size=256))
    steps = cfg.trainer.max_steps
    trainer = SimpleNamespace(estimated_stepping_batches=steps, max_epochs=cfg.trainer.max_epochs)
    scheduler = task.recipe.configure(task.net, trainer)["lr_scheduler"]["scheduler"]
    rates = []
    for _ in range(steps):
        rates.append(scheduler.get_last_lr()[0])
        scheduler.optimizer.step()
        scheduler.step()
    warmup = round(cfg.model.optim.warmup_epochs * steps)
    assert rates.index(max(rates)) == warmup - 1
    assert rates[-1] == pytest.approx(cfg.model.optim.lr * cfg.model.optim.min_lr_ratio, rel=0.01)
