"""MLflow helpers against a real sqlite store in a temporary folder (one store for the module: set-up is slow)."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
from omegaconf import OmegaConf
from omegaconf.errors import MissingMandatoryValue

from tests.compose import compose_fit
from tsssm.run import tracking

EXPERIMENT = "ltsf/etth1"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    """A tracking URI in a fresh folder; MLflow's process-wide tracking URI is put back afterwards."""
    root = tmp_path_factory.mktemp("mlflow")
    yield root, f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(None)


@pytest.fixture(scope="module")
def finished_run(store, tmp_path_factory: pytest.TempPathFactory):
    """One run made the way fit makes it: logger, flattened params, a metric, an artifact, finalize."""
    root, uri = store
    logger = tracking.make_mlflow_logger(EXPERIMENT, tracking.format_run_name("mamba", "etth1", 96, 1), uri,
                                         tracking.run_tags("mamba", "etth1", 96, 1))
    params = {f"sweep.p{i:03d}": str(i) for i in range(230)}
    params["model.long"] = "x" * 7000
    tracking.log_params(logger, params)
    logger.log_metrics({"test/mse": 0.25})
    config = tmp_path_factory.mktemp("files") / "config.yaml"
    config.write_text("seed: 1\n")
    tracking.log_artifact(logger, config)
    tracking.log_artifact(logger, config, "plots")
    logger.finalize("success")
    return logger


def test_default_tracking_uri_is_absolute_sqlite_in_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert tracking.default_tracking_uri() == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    assert tracking.default_artifact_location(tracking.default_tracking_uri()) == \
        (tmp_path.resolve() / "mlartifacts").as_uri()


def test_artifact_location_only_for_sqlite_files() -> None:
    assert tracking.default_artifact_location("sqlite:////a/b/runs.db") == "file:///a/b/mlartifacts"
    assert tracking.default_artifact_location("sqlite:///:memory:") is None
    assert tracking.default_artifact_location("http://localhost:5000") is None


def test_flatten_config_resolves_and_dots_keys() -> None:
    cfg = OmegaConf.create({
        "seed": 1,
        "model": {"name": "mamba", "d_model": 16, "mixer": {"_target_": "tsssm.mixers.Mamba", "d_state": None}},
        "data": {"name": "etth1", "horizon": 96, "lookback": "${data.horizon}", "channels": [0, 2]},
        "trainer": {"max_epochs": 3, "lr": 1e-3, "fast": True, "callbacks": {}},
        "run": "${model.name}-${data.name}",
    })
    assert tracking.flatten_config(cfg) == {
        "seed": "1",
        "model.name": "mamba",
        "model.d_model": "16",
        "model.mixer._target_": "tsssm.mixers.Mamba",
        "model.mixer.d_state": "None",
        "data.name": "etth1",
        "data.horizon": "96",
        "data.lookback": "96",
        "data.channels": "[0, 2]",
        "trainer.max_epochs": "3",
        "trainer.lr": "0.001",
        "trainer.fast": "True",
        "trainer.callbacks": "{}",
        "run": "mamba-etth1",
    }


def test_flatten_config_takes_plain_dicts_holding_config_nodes() -> None:
    node = OmegaConf.create({"a": 1, "b": "${a}"})
    assert tracking.flatten_config({"x": node, "y": [1, None]}) == {"x.a": "1", "x.b": "1", "y": "[1, None]"}


def test_flatten_config_rejects_missing_values_and_non_mappings() -> None:
    with pytest.raises(MissingMandatoryValue, match="data.root"):
        tracking.flatten_config(OmegaConf.create({"data": {"root": "???"}}))
    with pytest.raises(TypeError, match="mapping"):
        tracking.flatten_config(OmegaConf.create([1, 2]))


def test_run_name_and_tags() -> None:
    assert tracking.format_run_name("s4", "weather", 720, 3) == "s4-weather-h720-s3"
    assert tracking.format_run_name("mamba", "mqar", "L256", 1) == "mamba-mqar-L256-s1"
    assert tracking.run_tags("s4", "weather", 720, 3) == {
        "tsssm.model": "s4", "tsssm.dataset": "weather", "tsssm.horizon": "720", "tsssm.seed": "3"}


def test_logger_records_run_with_params_tags_and_artifacts(store, finished_run) -> None:
    root, uri = store
    client = mlflow.MlflowClient(uri)
    run = client.get_run(finished_run.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "mamba-etth1-h96-s1"
    assert {k: v for k, v in run.data.tags.items() if k.startswith("tsssm.")} == tracking.run_tags(
        "mamba", "etth1", 96, 1)
    assert len(run.data.params) == 231
    assert run.data.params["sweep.p229"] == "229"
    long = run.data.params["model.long"]
    assert len(long) == 6000 and long.endswith(tracking.TRUNCATION_MARKER) and long.startswith("x" * 5900)
    assert run.data.metrics == {"test/mse": 0.25}

    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment.artifact_location == (root / "mlartifacts").as_uri()
    stored = root / "mlartifacts" / run.info.run_id / "artifacts"
    assert (stored / "config.yaml").read_text() == "seed: 1\n"
    assert (stored / "plots" / "config.yaml").is_file()


def test_second_logger_reuses_the_experiment(store, finished_run) -> None:
    _, uri = store
    logger = tracking.make_mlflow_logger(EXPERIMENT, "again", uri, {})
    assert logger.experiment_id == finished_run.experiment_id
    assert logger.run_id != finished_run.run_id
    logger.finalize("failed")


def test_log_artifact_names_a_missing_file(finished_run, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothing.png"):
        tracking.log_artifact(finished_run, tmp_path / "nothing.png", "plots")


def test_search_runs_keeps_finished_runs_only(store, finished_run) -> None:
    _, uri = store
    client = mlflow.MlflowClient(uri)
    running = client.create_run(finished_run.experiment_id, tags=tracking.run_tags("s4", "etth1", 96, 1))
    runs = tracking.search_runs(EXPERIMENT, uri)
    assert finished_run.run_id in set(runs["run_id"])
    assert running.info.run_id not in set(runs["run_id"])
    assert set(runs["status"]) == {"FINISHED"}
    client.set_terminated(running.info.run_id, "KILLED")


def test_search_runs_names_the_experiments_that_exist(store, finished_run) -> None:
    _, uri = store
    with pytest.raises(tracking.RunLookupError, match=r"'ltsf/etth2' not found.*'ltsf/etth1'"):
        tracking.search_runs(["ltsf/etth1", "ltsf/etth2"], uri)


def test_config_params_log_a_linked_node_once_where_it_is_defined(tmp_path):
    cfg = compose_fit(tmp_path, ["model=mamba"])
    written = OmegaConf.to_container(cfg, resolve=False)
    params = tracking.config_params(written, OmegaConf.to_container(cfg, resolve=True))
    assert params["model.backbone.d_model"] == "64" and params["model.patch_len"] == "16"
    assert params["callbacks.checkpoint.dirpath"] == str(tmp_path / "outputs" / "checkpoints")
    for linked in ("task.net", "task.optim", "model.net.backbone", "model.net.patch_len"):
        assert not [key for key in params if key == linked or key.startswith(linked + ".")], linked
    assert set(params) <= set(tracking.flatten_config(cfg))
