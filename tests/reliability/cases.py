"""The reliability cases: bad input, faults and hostile files given to tsssm's entry points, each
with the exit status and message it must end with. One list, run by ``test_cases.py`` and printed
as the table ``docs/reliability.md`` (``table.py``).

A case runs in a folder of its own holding copies of what the session trained once
(``conftest.py``: ``trained.ckpt``, a tiny DLinear on the embedded synthetic data, and its
``mlflow.db``), plus the files its ``prepare`` writes. Fits use the tiny-run overrides of
``tests/compose.py`` (``tiny``).
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from tests.compose import FAST
from tests.reliability import checks, files
from tests.reliability.files import TRAINED
from tests.reliability.launcher import Launcher, Result

Prepare = Callable[[Path], object]
Check = Callable[[Path, Result], None]
Driver = Callable[[Launcher, Path, "Case"], Result]


@dataclass(frozen=True)
class Case:
    """One command and how it must end: ``status``, and ``says`` in the last line of stderr (an
    error) or in stdout (a success)."""

    kind: str
    name: str
    entry: str
    args: tuple[str, ...]
    status: int
    says: str
    prepare: tuple[Prepare, ...] = ()
    check: Check | None = None
    env: dict[str, str] = field(default_factory=dict)
    copies: tuple[str, ...] = (TRAINED,)
    driver: Driver | None = None
    note: str = ""


def key(override: str) -> str:
    """The config key an override sets: ``+trainer.max_epochs=4`` -> ``trainer.max_epochs``."""
    return override.split("=", 1)[0].lstrip("+~")


def tiny(*overrides: str, model: str = "dlinear") -> tuple[str, ...]:
    """A fit of ``model`` with ``overrides``, over the tiny-run overrides they do not replace."""
    mine = {key(o) for o in overrides}
    return (f"model={model}", *overrides, *(o for o in FAST if key(o) not in mine))


def tiny_csv(path: str) -> tuple[str, ...]:
    """A tiny fit on the user file ``path`` (``data=csv``)."""
    fit = tiny("data=csv", f"data.path={path}")
    return tuple(o for o in fit if not key(o).startswith("data.synthetic"))


def killed_then_resumed(launcher: Launcher, folder: Path, case: Case) -> Result:
    """The fit killed (SIGKILL) when its epoch 2 starts, in ``killed/``; then ``case``'s command,
    which resumes from its ``last.ckpt``."""
    killed = [a for a in case.args if not a.startswith("resume=")]
    first = launcher.run(case.entry, [*killed, "hydra.run.dir=killed",
                                      "+callbacks.fault._target_=tests.reliability.faults.KillAtEpoch",
                                      "+callbacks.fault.epoch=2"], folder)
    assert first.status == -signal.SIGKILL, first.stderr[-2000:]
    return launcher.run(case.entry, list(case.args), folder)


def at_once(count: int, launcher: Launcher, folder: Path, case: Case, after_one: bool = False) -> Result:
    """``count`` copies of ``case``'s command (seeds 1..count) started together, after a first one
    run alone when ``after_one``; the first failure's result, else the last one's."""
    if after_one:
        alone = launcher.run(case.entry, [*case.args, "seed=0"], folder)
        assert alone.status == 0, alone.stderr[-2000:]
    started = [launcher.start(case.entry, [*case.args, f"seed={i}"], folder, label=f"run{i}")
               for i in range(1, count + 1)]
    results = [launcher.wait(process, folder, f"run{i}") for i, process in enumerate(started, 1)]
    return next((r for r in results if r.status != 0), results[-1])


HOSTILE, UNREADABLE, OUTPUTS, DATA, ARGUMENTS, SHORT, TRACKING = (
    "hostile checkpoint", "unreadable checkpoint", "output safety", "bad data", "bad arguments",
    "short run", "tracking fault")
REFUSED = "refused: its pickle holds the object io.open"
NOT_A_CHECKPOINT = "is not a tsssm checkpoint or is truncated"
WITH_SERIES = (files.series,)

CASES = [
    Case(HOSTILE, "evaluate a checkpoint whose pickle would create a file", "evaluate",
         ("checkpoint=hostile.ckpt",), 2, REFUSED, (files.hostile,), checks.payload_never_ran),
    Case(HOSTILE, "forecast with it", "forecast",
         ("checkpoint=hostile.ckpt", "input=series.csv", "output=forecast.csv"), 2, REFUSED,
         (files.hostile, files.series), checks.payload_never_ran),
    Case(HOSTILE, "generate with it", "generate", ("checkpoint=hostile.ckpt", "output=samples"), 2,
         REFUSED, (files.hostile,), checks.payload_never_ran),
    Case(HOSTILE, "resume a fit from it", "fit", tiny("resume=hostile.ckpt"), 2, REFUSED,
         (files.hostile,), checks.payload_never_ran_and_no_run),
    Case(HOSTILE, "resume from one whose payload runs a shell command", "fit",
         tiny("resume=shell.ckpt"), 2, "refused: its pickle holds the object posix.system",
         (partial(files.hostile, name="shell.ckpt", shell=True),), checks.payload_never_ran_and_no_run),
    Case(HOSTILE, "forecast with one in torch's older (non-zip) format", "forecast",
         ("checkpoint=legacy.ckpt", "input=series.csv", "output=forecast.csv"), 2, REFUSED,
         (partial(files.hostile, name="legacy.ckpt", legacy=True), files.series),
         checks.payload_never_ran),
    Case(HOSTILE, "evaluate a plain pickle (not torch.save) with a payload", "evaluate",
         ("checkpoint=pickled.ckpt",), 2, NOT_A_CHECKPOINT, (files.bare_pickle,),
         checks.payload_never_ran),

    Case(UNREADABLE, "evaluate a checkpoint cut in half", "evaluate", ("checkpoint=half.ckpt",), 2,
         NOT_A_CHECKPOINT, (partial(files.truncated, name="half.ckpt", keep=0.5),)),
    Case(UNREADABLE, "forecast with its first 100 bytes", "forecast",
         ("checkpoint=head.ckpt", "input=series.csv", "output=forecast.csv"), 2, NOT_A_CHECKPOINT,
         (partial(files.truncated, name="head.ckpt", keep=100), files.series)),
    Case(UNREADABLE, "generate with an empty file", "generate",
         ("checkpoint=empty.ckpt", "output=samples"),
         2, NOT_A_CHECKPOINT, (partial(files.empty, name="empty.ckpt"),)),
    Case(UNREADABLE, "resume a fit from random bytes", "fit", tiny("resume=random.ckpt"), 2,
         NOT_A_CHECKPOINT, (partial(files.garbage, name="random.ckpt"),)),
    Case(UNREADABLE, "evaluate a text file", "evaluate", ("checkpoint=series.csv",), 2,
         NOT_A_CHECKPOINT, WITH_SERIES),
    Case(UNREADABLE, "forecast with a folder as checkpoint", "forecast",
         ("checkpoint=stores", "input=series.csv", "output=forecast.csv"), 2,
         "checkpoint stores is a folder", (files.series, partial(files.series, name="stores/a.csv"))),
    Case(UNREADABLE, "evaluate a checkpoint that does not exist", "evaluate",
         ("checkpoint=nowhere.ckpt",), 2, "checkpoint nowhere.ckpt does not exist"),
    Case(UNREADABLE, "forecast with weights saved without tsssm's record", "forecast",
         ("checkpoint=weights.ckpt", "input=series.csv", "output=forecast.csv"), 2,
         "was not written by tsssm.fit", (files.weights_only_checkpoint, files.series)),
    Case(UNREADABLE, "generate with a forecasting checkpoint", "generate",
         (f"checkpoint={TRAINED}", "output=samples"), 2,
         "holds a forecaster (tsssm.tasks.forecast.ForecastTask), not a sequence model"),
    Case(UNREADABLE, "forecast with a sequence model's checkpoint", "forecast",
         ("checkpoint=sequence.ckpt", "input=series.csv", "output=forecast.csv"), 2,
         "holds a sequence model (tsssm.tasks.language_model.LanguageModelTask), not a forecaster",
         (files.of_a_sequence_model, files.series)),

    Case(OUTPUTS, "forecast written over its input", "forecast",
         (f"checkpoint={TRAINED}", "input=series.csv", "output=series.csv"), 2,
         "output series.csv is the input series.csv", WITH_SERIES, checks.series_unchanged),
    Case(OUTPUTS, "backtest scores written over its input", "backtest",
         (f"checkpoint={TRAINED}", "input=series.csv", "output=bt.csv", "metrics=series.csv"), 2,
         "metrics series.csv is the input series.csv", WITH_SERIES, checks.series_unchanged),
    Case(OUTPUTS, "forecast written through another path to its input", "forecast",
         (f"checkpoint={TRAINED}", "input=series.csv", "output=stores/../series.csv"), 2,
         "is the input series.csv", (files.series, partial(files.series, name="stores/a.csv")),
         checks.series_unchanged),
    Case(OUTPUTS, "forecast written into its input folder", "forecast",
         (f"checkpoint={TRAINED}", "input=stores", "output=stores/forecast.csv"), 2,
         "lies inside the input folder stores", (partial(files.series, name="stores/a.csv"),
                                                 partial(files.series, name="stores/b.csv")),
         checks.nothing_written_in_stores),
    Case(OUTPUTS, "forecast to a read-only location (before the checkpoint is read)", "forecast",
         ("checkpoint=nowhere.ckpt", "input=series.csv", "output=/sys/forecast.csv"), 2,
         "output /sys/forecast.csv: cannot write in /sys", WITH_SERIES),
    Case(OUTPUTS, "forecast to a path that is a folder", "forecast",
         (f"checkpoint={TRAINED}", "input=series.csv", "output=out.csv"), 2,
         "output out.csv is a folder; expected the path of a file",
         (files.series, partial(files.series, name="out.csv/a.csv"))),
    Case(OUTPUTS, "forecast replacing an earlier output a killed run left half-written", "forecast",
         (f"checkpoint={TRAINED}", "input=series.csv", "output=forecast.csv", "device=cpu"), 0,
         "wrote forecast.csv (48 rows)",
         (files.series, partial(files.empty, name="forecast.csv"), files.stale_temporary),
         checks.replaced_whole_without_temporaries),
    Case(OUTPUTS, "evaluate predictions written over the checkpoint", "evaluate",
         (f"checkpoint={TRAINED}", f"predictions={TRAINED}"), 2,
         f"predictions {TRAINED} is the input {TRAINED}", check=checks.trained_unchanged),
    Case(OUTPUTS, "evaluate predictions written into the data folder", "evaluate",
         ("checkpoint=local.ckpt", "predictions=data/predictions.parquet"), 2,
         "lies inside the input folder", (files.with_data_here,), checks.nothing_written_in_data),
    Case(OUTPUTS, "evaluate predictions to a read-only location", "evaluate",
         (f"checkpoint={TRAINED}", "predictions=/sys/predictions.parquet"), 2,
         "cannot write in /sys"),
    Case(OUTPUTS, "evaluate predictions written atomically", "evaluate",
         (f"checkpoint={TRAINED}", "predictions=predictions.parquet"), 0, '"test/mse"',
         check=checks.predictions_written_whole),
    Case(OUTPUTS, "generate samples written over the checkpoint", "generate",
         (f"checkpoint={TRAINED}", f"output={TRAINED}"), 2, f"output {TRAINED} is the input",
         check=checks.trained_unchanged),
    Case(OUTPUTS, "generate samples to a read-only location", "generate",
         (f"checkpoint={TRAINED}", "output=/sys/samples"), 2, "cannot write in /sys"),
    Case(OUTPUTS, "generate samples into a path that is a file", "generate",
         (f"checkpoint={TRAINED}", "output=series.csv"), 2,
         "output series.csv is a file; expected the path of a folder", WITH_SERIES),
    Case(OUTPUTS, "compare tables to a read-only location", "compare",
         ("--experiment", "default", "--output", "/sys/table"), 2, "Permission denied",
         copies=("mlflow.db",)),

    Case(DATA, "train on a file with inf", "fit", tiny_csv("inf.csv"), 2,
         "infinite values (inf or -inf)", (partial(files.series_with, name="inf.csv", flaw="inf"),)),
    Case(DATA, "train on a file with a repeated date", "fit", tiny_csv("twice.csv"), 2,
         "dates must be sorted and unique, but row 120",
         (partial(files.series_with, name="twice.csv", flaw="duplicate"),)),
    Case(DATA, "train on a file with unsorted dates", "fit", tiny_csv("unsorted.csv"), 2,
         "comes before the date of row",
         (partial(files.series_with, name="unsorted.csv", flaw="unsorted"),)),
    Case(DATA, "train on an empty file", "fit", tiny_csv("empty.csv"), 2, "empty file (0 bytes)",
         (partial(files.empty, name="empty.csv"),)),
    Case(DATA, "train on a header-only file", "fit", tiny_csv("header.csv"), 2,
         "header only, no data rows", (files.header_only,)),
    Case(DATA, "train on a corrupt Parquet file", "fit", tiny_csv("corrupt.parquet"), 2,
         "corrupt.parquet: unreadable", (files.corrupt_parquet,)),
    Case(DATA, "train on a folder given as the file", "fit", tiny_csv("stores"), 2,
         "stores is a folder; expected a table file", (partial(files.series, name="stores/a.csv"),)),
    Case(DATA, "train on a file that does not exist", "fit", tiny_csv("nowhere.csv"), 2,
         "nowhere.csv does not exist"),
    Case(DATA, "forecast series with inf", "forecast",
         (f"checkpoint={TRAINED}", "input=inf.csv", "output=forecast.csv"), 2,
         "infinite values (inf or -inf)", (partial(files.series_with, name="inf.csv", flaw="inf"),)),
    Case(DATA, "forecast series missing a channel", "forecast",
         (f"checkpoint={TRAINED}", "input=no_x3.csv", "output=forecast.csv"), 2,
         "missing channel columns ['x3']",
         (partial(files.series_with, name="no_x3.csv", flaw="no_x3"),)),
    Case(DATA, "backtest more windows than the series holds", "backtest",
         (f"checkpoint={TRAINED}", "input=series.csv", "output=bt.csv", "n_windows=100",
          "step_size=2"), 2,
         "input series.csv: 200 rows, but 100 windows 2 rows apart need at least", WITH_SERIES),
    Case(DATA, "forecast a corrupt Parquet file", "forecast",
         (f"checkpoint={TRAINED}", "input=corrupt.parquet", "output=forecast.csv"), 2,
         "corrupt.parquet: unreadable", (files.corrupt_parquet,)),
    Case(DATA, "forecast an input that does not exist", "forecast",
         (f"checkpoint={TRAINED}", "input=nowhere.csv", "output=forecast.csv"), 2,
         "input nowhere.csv does not exist"),

    Case(ARGUMENTS, "fit with an unknown model", "fit", tiny(model="resnet"), 2,
         "Could not find 'model/resnet'", copies=()),
    Case(ARGUMENTS, "fit with a horizon that is not a number", "fit", tiny("data.horizon=soon"), 2,
         "horizon must be a positive integer, got 'soon'", copies=()),
    Case(ARGUMENTS, "a sweep with a bad value in one of its jobs", "fit",
         ("-m", *tiny("data.horizon=12,soon")), 2,
         "job 1 (model=dlinear data.horizon=soon",
         check=checks.one_finished_run, copies=(), note="the other job runs to the end"),
    Case(ARGUMENTS, "fit with zero devices", "fit", tiny("trainer.devices=0"), 2, "devices", copies=()),
    Case(ARGUMENTS, "fit sharing trainings over a key the config lacks", "fit",
         tiny("test_only=[data.test_rate]"), 2,
         "test_only names 'data.test_rate', which the config does not have", copies=()),
    Case(ARGUMENTS, "evaluate without a checkpoint", "evaluate", (), 2,
         "Missing mandatory value: checkpoint", copies=()),
    Case(ARGUMENTS, "forecast with an unknown format", "forecast",
         (f"checkpoint={TRAINED}", "input=series.csv", "output=forecast.csv", "format=sideways"), 2,
         "format must be one of", WITH_SERIES),
    Case(ARGUMENTS, "forecast with batch_size=0", "forecast",
         (f"checkpoint={TRAINED}", "input=series.csv", "output=forecast.csv", "batch_size=0"), 2,
         "batch_size must be a positive integer, got 0", WITH_SERIES),
    Case(ARGUMENTS, "generate zero samples", "generate", (f"checkpoint={TRAINED}", "n=0"), 2,
         "n must be a positive integer, got 0"),
    Case(ARGUMENTS, "generate on an unknown device", "generate",
         (f"checkpoint={TRAINED}", "output=samples", "device=tpu"), 2,
         "device must be auto, cpu or cuda[:INDEX], got 'tpu'"),
    Case(ARGUMENTS, "compare an experiment the store does not have", "compare",
         ("--experiment", "nowhere"), 2, "experiment 'nowhere' not found", copies=("mlflow.db",)),
    Case(ARGUMENTS, "compare on a tracking store that is not a database", "compare",
         ("--experiment", "default", "--tracking-uri", "sqlite:///series.csv"), 2,
         "file is not a database",
         WITH_SERIES, copies=()),
    Case(ARGUMENTS, "the traceback, asked for with TSSSM_DEBUG=1", "forecast",
         ("checkpoint=nowhere.ckpt", "input=series.csv", "output=forecast.csv"), 1,
         "checkpoint nowhere.ckpt does not exist", WITH_SERIES, checks.traceback_shown,
         env={"TSSSM_DEBUG": "1"}),
    Case(ARGUMENTS, "the traceback, asked for with HYDRA_FULL_ERROR=1", "evaluate",
         ("checkpoint=random.ckpt",), 1, NOT_A_CHECKPOINT,
         (partial(files.garbage, name="random.ckpt"),), checks.traceback_shown,
         env={"HYDRA_FULL_ERROR": "1"}),

    Case(SHORT, "fit with fast_dev_run", "fit", tiny("++trainer.fast_dev_run=true"), 0, "test/mse=",
         check=checks.one_finished_run, copies=()),
    Case(SHORT, "fit with max_steps shorter than an epoch", "fit",
         tiny("++trainer.max_steps=2", "+trainer.limit_train_batches=1.0"), 0, "val/best_mse=nan",
         check=checks.one_finished_run, copies=()),
    Case(SHORT, "fit without validation (limit_val_batches=0)", "fit",
         tiny("+trainer.limit_val_batches=0"), 0, "val/best_mse=nan", check=checks.one_finished_run,
         copies=()),

    Case(TRACKING, "a fit that fails at epoch 1 (a full disk)", "fit",
         tiny("trainer.max_epochs=3", "+callbacks.fault._target_=tests.reliability.faults.FailAtEpoch",
              "+callbacks.fault.epoch=1"), 2, "No space left on device (injected at epoch 1)",
         check=checks.one_failed_run, copies=()),
    Case(TRACKING, "a fit killed at epoch 2, resumed from its last.ckpt", "fit",
         tiny("trainer.max_epochs=4", "resume=killed/checkpoints/last.ckpt"), 0, "test/mse=",
         check=checks.resumed_in_one_run, copies=(), driver=killed_then_resumed,
         note="after the same fit was killed (SIGKILL) at the start of epoch 2, in killed/"),
    Case(TRACKING, "resume from a checkpoint whose run is in another store", "fit",
         tiny("trainer.max_epochs=2", f"resume={TRAINED}"), 0, "test/mse=",
         check=checks.new_run_for_foreign_checkpoint),
    Case(TRACKING, "three fits started at once on a new mlflow.db", "fit", tiny(), 0, "test/mse=",
         check=checks.every_fit_recorded(3), copies=(), driver=partial(at_once, 3),
         note="three times at once, seeds 1-3"),
    Case(TRACKING, "two fits started at once on an existing mlflow.db", "fit", tiny(model="naive"), 0,
         "test/mse=", check=checks.every_fit_recorded(3), copies=(),
         driver=partial(at_once, 2, after_one=True), note="once, then twice at once"),
]
