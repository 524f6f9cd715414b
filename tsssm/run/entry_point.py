"""``@hydra_entry_point("fit")``: Hydra's ``@hydra.main`` for tsssm's command lines, with every
error reported in one line (``tsssm.run.errors``) and the resolvers the configs use registered.

Hydra catches a job's exception itself and prints it with a traceback (and a line naming the job's
overrides), then exits with status 1; it prints a config it cannot compose the same way. So the job
function reports its own errors (``error: ...``, exit status 2) before Hydra sees them, and
composition runs with ``HYDRA_FULL_ERROR=1``, under which Hydra raises instead of printing, so
that the same report catches them. The job restores the variable: processes it starts (Lightning's
DDP ranks run the command line again) see the user's setting. When debugging (``TSSSM_DEBUG=1``),
every error goes through with Hydra's full traceback. In a multirun, a job that fails is reported
(``error: job N (its overrides): ...``) and the sweep goes on, as Hydra's own launcher would; the
sweep then exits with the failed jobs' status.

Every job starts with the libraries' log lines routed into its log and their known noise quieted
(``tsssm.run.console``).

Resolvers: ``${tsssm.pid:}``, the process id, which ``conf/hydra/output/unique.yaml`` puts in every
run folder's name, so two jobs started in the same second never share a folder;
``${tsssm.on_terminal:}``, whether stdout is a terminal (the trainer's progress bar);
``${tsssm.attention_fraction:${model.backbone}}``, the share of a backbone's layers that are softmax
attention, which the hybrid study (conf/study/c5_*.yaml) tags its runs with.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from tsssm.run.console import on_terminal, quiet_known_noise, route_library_logs
from tsssm.run.errors import debug_requested, exit_with, report

CONFIG_PATH = "../conf"  # relative to the entry point's own module: tsssm/<name>.py
HYDRA_FULL_ERROR = "HYDRA_FULL_ERROR"


ATTENTION = "tsssm.mixers.attention.Attention"


def attention_fraction(backbone: DictConfig) -> float:
    """The share of the layers of a backbone config whose mixer is softmax attention (``ATTENTION``):
    ``pattern: mmma`` over 8 layers -> 0.25."""
    from tsssm.models.backbone import expand_pattern  # torch: only where a config asks for it

    layout = expand_pattern(backbone.pattern, backbone.n_layers)
    return sum(backbone.mixers[letter]._target_ == ATTENTION for letter in layout) / len(layout)


def register_resolvers() -> None:
    """Resolvers of tsssm's configs (module docstring); registering again replaces them."""
    OmegaConf.register_new_resolver("tsssm.pid", os.getpid, replace=True)
    OmegaConf.register_new_resolver("tsssm.on_terminal", on_terminal, replace=True)
    OmegaConf.register_new_resolver("tsssm.attention_fraction", attention_fraction, replace=True)


@contextmanager
def environment_variable(name: str, value: str | None) -> Iterator[None]:
    """``name`` set to ``value`` (None: unset) inside the block, as it was after it."""
    before = os.environ.get(name)
    set_variable(name, value)
    try:
        yield
    finally:
        set_variable(name, before)


def set_variable(name: str, value: str | None) -> None:
    """``os.environ[name] = value``, or ``name`` unset for None."""
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def hydra_entry_point(config_name: str) -> Callable[[Callable[[DictConfig], Any]], Callable[[], Any]]:
    """Decorates a job function of a config into the entry point's ``main`` (module docstring)."""
    register_resolvers()

    def decorate(job: Callable[[DictConfig], Any]) -> Callable[[], Any]:
        debugging = False
        failed: list[int] = []  # exit statuses of the jobs of a sweep that failed

        @functools.wraps(job)
        def reported_job(cfg: DictConfig) -> Any:
            route_library_logs()
            quiet_known_noise()
            if debugging:
                return job(cfg)
            with environment_variable(HYDRA_FULL_ERROR, None):
                try:
                    return job(cfg)
                except Exception as error:
                    hydra_job = HydraConfig.get()
                    if hydra_job.mode != RunMode.MULTIRUN:
                        exit_with(error)
                    overrides = " ".join(hydra_job.overrides.task)
                    failed.append(report(error, f"job {hydra_job.job.num} ({overrides}): "))
                    return None

        hydra_main = hydra.main(version_base="1.3", config_path=CONFIG_PATH,
                                config_name=config_name)(reported_job)

        @functools.wraps(job)
        def main() -> Any:
            nonlocal debugging
            debugging = debug_requested()
            with environment_variable(HYDRA_FULL_ERROR, "1"):
                if debugging:
                    return hydra_main()
                try:
                    result = hydra_main()
                except Exception as error:
                    exit_with(error)
            if failed:
                sys.exit(max(failed))
            return result

        return main

    return decorate
