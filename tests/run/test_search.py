"""A hyperparameter search with the Optuna sweeper (conf/hparams_search/), shrunk to four trials on
the synthetic series: it tunes on the validation metric, refuses networks over its parameter cap,
and tags its runs with the search and, when it ends, with its best params and value, and writes
them as a recipe headed by the search."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from tests import cli
from tests.compose import FAST, REPO
from tests.gpu_blocks import block_env, recording_python
from tsssm.run.training import build
from tsssm.run.search_record import TAG_BEST_PARAMS, TAG_BEST_VALUE, TAG_STUDY

SPACE = '{model.optim.lr:"tag(log, interval(1e-4, 1e-2))",model.backbone.d_model:"choice(8, 64)"}'


def test_a_search_tunes_on_validation_under_its_cap_and_tags_its_runs(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    result = cli.run_module("tsssm.fit", [
        "-m", "hparams_search=ltsf_optuna", "model=mamba", "hydra.sweeper.n_trials=4",
        "hydra.sweeper.sampler.n_startup_trials=2", f"hydra.sweeper.params={SPACE}",
        "max_params=20000", f"logger.tracking_uri={uri}", "hydra.sweep.dir=sweep", *FAST], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = OmegaConf.load(tmp_path / "sweep" / "optimization_results.yaml")
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("default").experiment_id])
    refused = result.stdout.count("refused: mamba has")
    assert refused and len(runs) == 4 - refused, "a network over the cap is neither trained nor logged"
    assert {run.data.params["model.backbone.d_model"] for run in runs} == {"8"}
    assert outcome.best_value == min(run.data.metrics["val/best_mse"] for run in runs)
    assert outcome.best_value not in [run.data.metrics["test/mse"] for run in runs]
    for run in runs:
        assert run.data.tags[TAG_STUDY] == "synthetic-mamba-h12"
        assert run.data.tags["tsssm.search.trials"] == "4"
        assert json.loads(run.data.tags[TAG_BEST_PARAMS]) == OmegaConf.to_container(outcome.best_params)
        assert float(run.data.tags[TAG_BEST_VALUE]) == pytest.approx(outcome.best_value)
    recipe_file = tmp_path / "sweep" / "recipe.yaml"
    header = recipe_file.read_text().split("\nmodel:", 1)[0]
    assert header.startswith("# @package _global_\n# Tuned by the hyperparameter search ")
    assert (f"search synthetic-mamba-h12: TPESampler (seed 1234), 4 trials on the validation set "
            f"only; best validation value {outcome.best_value}.") in header.replace("\n# ", " ")
    recipe = OmegaConf.load(recipe_file)
    assert recipe.model.optim.lr == outcome.best_params["model.optim.lr"]
    assert recipe.model.backbone.d_model == outcome.best_params["model.backbone.d_model"] == 8
    assert "conf/recipe/None/mamba.yaml" in result.stdout
    assert recipe.tuned_by == "synthetic-mamba-h12"


def test_a_search_launched_again_replays_its_finished_trials_and_reruns_the_cut_one(tmp_path):
    """The last trial's run is deleted, as if a time limit had cut it: the second launch takes the
    first two trials' values from the store, trains nothing for them, and the seeded sampler
    proposes the third trial's params again."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    args = ["-m", "hparams_search=ltsf_optuna", "model=mamba", "hydra.sweeper.n_trials=3",
            "hydra.sweeper.sampler.n_startup_trials=2", f"hydra.sweeper.params={SPACE}",
            "max_params=20000", f"logger.tracking_uri={uri}", *FAST]
    first = cli.run_module("tsssm.fit", [*args, "hydra.sweep.dir=first"], tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("default").experiment_id
    runs = client.search_runs([experiment], order_by=["attributes.start_time ASC"])
    cut = runs[-1]
    client.delete_run(cut.info.run_id)
    second = cli.run_module("tsssm.fit", [*args, "hydra.sweep.dir=second"], tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert (first.stdout + first.stderr).count("skipped: job") == 0
    assert (second.stdout + second.stderr).count("skipped: job") == len(runs) - 1
    rerun = client.search_runs([experiment], order_by=["attributes.start_time ASC"])
    assert [r.info.run_id for r in rerun[:-1]] == [r.info.run_id for r in runs[:-1]]
    def searched(run):
        return {key: value for key, value in run.data.params.items()
                if not key.startswith("callbacks.checkpoint.")}  # in each launch's sweep folder
    assert searched(rerun[-1]) == searched(cut)
    best = [OmegaConf.load(tmp_path / sweep / "optimization_results.yaml").best_params
            for sweep in ("first", "second")]
    assert best[0] == best[1]


@pytest.mark.parametrize(("search", "experiment", "model", "lookbacks"), [
    ("ltsf_optuna", "ltsf/etth1", "mamba", "choice(96, 336, 512, 720)"),
    ("ltsf_optuna_ili", "ltsf/ili", "mamba", "choice(36, 60, 104, 148)"),
    ("ltsf_optuna_linear", "ltsf/etth1", "dlinear", "choice(96, 336, 512, 720)"),
    ("ltsf_optuna_linear_ili", "ltsf/ili", "dlinear", "choice(36, 60, 104, 148)")])
def test_every_search_space_holds_only_keys_its_models_config_has(search, experiment, model,
                                                                  lookbacks):
    """The four searches share sampler, trials and settings; a backbone's width, depth and dropout
    are searched only where the model has a backbone, and ILI's lookbacks are its own."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("fit", overrides=[f"hparams_search={search}", f"experiment={experiment}",
                                        f"model={model}"], return_hydra_config=True)
    sweeper = cfg.hydra.sweeper
    assert (sweeper.n_trials, sweeper.sampler.seed, cfg.skip_finished) == (24, 1234, True)
    assert sweeper.params["data.lookback"] == lookbacks
    for key in sweeper.params:
        assert OmegaConf.select(cfg, key) is not None, f"{search} searches {key}, which {model} lacks"
    assert ("model.backbone.d_model" in sweeper.params) == (model != "dlinear")


SEARCH_SCRIPT = REPO / "scripts" / "gpu" / "claims_search.sh"
LINEAR_SCRIPT = REPO / "scripts" / "claims_linear_cpu.sh"
"""DLinear's searches, run on a CPU."""
SEARCH_RULE = REPO / "scripts" / "search_for.sh"


def script_list(name: str) -> list[str]:
    """The words of the bash array ``name=(...)`` in claims_search.sh."""
    return re.search(rf"^{name}=\((.*)\)$", SEARCH_SCRIPT.read_text(), re.M).group(1).split()


def search_for(model: str, experiment: str) -> str:
    """The search the scripts run for a model on an experiment (DLinear's: the CPU script), by
    their shared rule (scripts/search_for.sh) run in bash."""
    command = f"source {SEARCH_RULE}; search_for {model} {experiment}"
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=True)
    return result.stdout.strip()


@pytest.mark.parametrize("script", [SEARCH_SCRIPT, LINEAR_SCRIPT])
def test_both_search_scripts_take_the_search_from_the_shared_rule(script):
    text = script.read_text()
    assert "/search_for.sh\"" in text and re.search(r"search=\$\(search_for ", text)
    assert "ltsf_optuna" not in "".join(line for line in text.splitlines()
                                        if not line.startswith("#"))


def launched_searches(calls: Path) -> set[tuple[str, str]]:
    """(experiment, model) of each search in a stand-in ``python``'s record of its calls."""
    return {(re.search(r"experiment=(\S+)", line).group(1),
             re.search(r"model=(\S+)", line).group(1))
            for line in calls.read_text().splitlines() if "hparams_search=" in line}


def test_the_search_block_runs_every_search_whose_recipe_is_not_committed(tmp_path):
    """claims_search.sh, with a stand-in ``python`` that records what it is asked to run: one
    search per model and experiment, except those whose recipe is in conf/recipe/ already."""
    calls, bin_dir = tmp_path / "calls", tmp_path / "bin"
    recording_python(bin_dir, calls)
    env = block_env(tmp_path, bin_dir, SEARCH_SECONDS="60")
    subprocess.run(["bash", str(SEARCH_SCRIPT), str(tmp_path / "out")], cwd=REPO, env=env,
                   capture_output=True, timeout=120)
    launched = launched_searches(calls)
    expected = {(experiment, model) for model in script_list("models")
                for experiment in script_list("experiments")
                if not (REPO / "conf" / "recipe" / experiment / f"{model}.yaml").is_file()}
    assert launched == expected
    assert ("ltsf/ili", "mamba") not in launched  # its recipe is committed
    assert all("callbacks=graphed" in line for line in calls.read_text().splitlines()
               if "hparams_search=" in line)


def test_search_models_narrows_the_block_to_the_models_it_names(tmp_path):
    """SEARCH_MODELS: those models' searches alone, none whose recipe is committed (the block
    runs in ``tmp_path``, whose conf/recipe/ holds one)."""
    recipe = tmp_path / "conf" / "recipe" / "ltsf" / "etth2" / "s4.yaml"
    recipe.parent.mkdir(parents=True)
    recipe.write_text("tuned_by: ETTh2-s4-h96\n")
    calls, bin_dir = tmp_path / "calls", tmp_path / "bin"
    recording_python(bin_dir, calls)
    env = block_env(tmp_path, bin_dir, SEARCH_SECONDS="60", SEARCH_MODELS="s4 lstm")
    subprocess.run(["bash", str(SEARCH_SCRIPT), str(tmp_path / "out")], cwd=tmp_path, env=env,
                   capture_output=True, timeout=120)
    everything = {(experiment, model) for experiment in script_list("experiments")
                  for model in ("s4", "lstm")}
    assert launched_searches(calls) == everything - {("ltsf/etth2", "s4")}


def test_the_search_block_stops_at_once_without_the_optuna_sweeper(tmp_path):
    """A ``python`` that lacks Hydra's Optuna sweeper: one line naming the package, and no search
    launched (each would fail alike at its first trial)."""
    calls = tmp_path / "calls"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").write_text(f'#!/bin/sh\necho "$*" >> {calls}\n'
                                    '[ "$1" = -c ] && exit 1\nexit 0\n')
    (bin_dir / "python").chmod(0o755)
    env = block_env(tmp_path, bin_dir, SEARCH_SECONDS="60")
    done = subprocess.run(["bash", str(SEARCH_SCRIPT), str(tmp_path / "out")], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "claims_search.sh: the searches need Hydra's Optuna sweeper: "
        "pip install 'hydra-optuna-sweeper==1.3.*'"]
    assert "hparams_search=" not in calls.read_text()


def test_the_search_block_runs_at_most_search_jobs_searches_at_once(tmp_path):
    """With a stand-in ``python`` that takes a while and notes how many searches are running when
    it starts: SEARCH_JOBS of them side by side, never more."""
    running, counts = tmp_path / "running", tmp_path / "counts"
    running.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").write_text(
        "#!/bin/sh\ncase \"$*\" in *hparams_search=*) ;; *) exit 0 ;; esac\n"
        f"touch {running}/$$\nls {running} | wc -l >> {counts}\nsleep 0.3\nrm {running}/$$\n")
    (bin_dir / "python").chmod(0o755)
    env = block_env(tmp_path, bin_dir, SEARCH_SECONDS="60", SEARCH_JOBS="3")
    subprocess.run(["bash", str(SEARCH_SCRIPT), str(tmp_path / "out")], cwd=REPO, env=env,
                   capture_output=True, timeout=120)
    seen = [int(line) for line in counts.read_text().split()]
    assert len(seen) > 3 and max(seen) == 3


@pytest.mark.parametrize("seconds_left", [30, -1])
def test_the_search_block_ends_its_searches_by_the_claims_deadline(tmp_path, seconds_left):
    """CLAIMS_DEADLINE, sooner than SEARCH_SECONDS: no search's time limit passes it, and past
    it no search starts."""
    limits = tmp_path / "limits"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "timeout").write_text(f'#!/bin/sh\necho "$2" >> {limits}\n')
    (bin_dir / "timeout").chmod(0o755)
    (bin_dir / "python").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "python").chmod(0o755)
    env = block_env(tmp_path, bin_dir, SEARCH_SECONDS="600",
                    CLAIMS_DEADLINE=str(int(time.time()) + seconds_left))
    subprocess.run(["bash", str(SEARCH_SCRIPT), str(tmp_path / "out")], cwd=REPO, env=env,
                   capture_output=True, timeout=120)
    given = [int(line) for line in limits.read_text().split()] if limits.exists() else []
    assert (0 < len(given) and max(given) <= 30) if seconds_left > 0 else given == []


def choices(space: str) -> list[int]:
    """The values of a sweeper ``choice(a, b, ...)`` of whole numbers."""
    return [int(value) for value in re.fullmatch(r"choice\((.*)\)", space).group(1).split(",")]


@pytest.mark.parametrize("experiment", ["ltsf/etth1", "ltsf/ili"])
@pytest.mark.parametrize("model", [*script_list("models"), "dlinear"])
def test_every_corner_of_a_searched_space_builds_under_its_cap(model, experiment):
    """Each search claims_search.sh launches, and DLinear's that claims_linear_cpu.sh does: its
    smallest and largest widths, depths and lookbacks build the model (the hybrid's pattern needs
    whole repeats) and stay under max_params, so no trial of the budget is spent on a refusal or
    an error."""
    assert experiment in script_list("experiments")
    assert model != "dlinear" or experiment in LINEAR_SCRIPT.read_text()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        search = [f"hparams_search={search_for(model, experiment)}", f"experiment={experiment}",
                  f"model={model}"]
        space = compose("fit", overrides=search, return_hydra_config=True).hydra.sweeper.params
        keys = [key for key in ("data.lookback", "model.backbone.d_model",
                                "model.backbone.n_layers") if key in space]
        for pick in (min, max):
            corner = [f"{key}={pick(choices(space[key]))}" for key in keys]
            cfg = compose("fit", overrides=[*search, *corner])
            task = build(cfg)[1]
            n_params = sum(p.numel() for p in task.net.parameters() if p.requires_grad)
            assert n_params <= cfg.max_params, f"{model} at {corner}: {n_params} parameters"
