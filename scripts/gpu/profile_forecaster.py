"""Where a forecaster's training step goes on the GPU, as a search trial or a C3 run trains it:
the network built from the configs (``python -m tsssm.fit``'s composition, every override
applying), one training batch, and a step of forward, loss, backward and an Adam update, run
eagerly and with the network replayed from CUDA graphs (``callbacks=graphed``'s
``graphed_forward``).

    python scripts/gpu/profile_forecaster.py OUT --models s4,mamba experiment=ltsf/etth1 \
        data.lookback=96 model.backbone.d_model=64 model.backbone.n_layers=2

Writes ``OUT/profile.md``: per model and mode the wall time of a step, its kernels' summed time
and launches, and the kernels that take the most (``tsssm.benchmarks.step_profile``). On a
machine without a GPU it runs the eager steps on the CPU (no kernels to tally). Needs hydra.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from torch import Tensor

from tsssm.benchmarks.step_profile import profile_step
from tsssm.run.build import build
from tsssm.run.graphed_training import graphed_forward
from tsssm.tasks.base import Task

CONF = Path(__file__).resolve().parents[2] / "conf"
WARMUP, STEPS, TOP = 3, 10, 12


def trial(model: str, overrides: list[str], device: torch.device) -> tuple[Task, Tensor, Tensor]:
    """The task of ``fit model=MODEL OVERRIDES`` on ``device`` and its first training batch."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("fit", overrides=[*overrides, f"model={model}"])
    datamodule, task = build(cfg)
    x, y = next(iter(datamodule.train_dataloader()))
    return task.to(device).train(), x.to(device), y.to(device)


def training_step(task: Task, forward: Callable[[Tensor], Tensor], x: Tensor, y: Tensor,
                  optimizer: torch.optim.Optimizer) -> None:
    optimizer.zero_grad(set_to_none=True)
    task.loss(forward(x), y).backward()
    optimizer.step()


def model_sections(model: str, overrides: list[str], device: torch.device) -> list[str]:
    """The eager and (on a GPU) graphed profiles of one model's step."""
    task, x, y = trial(model, overrides, device)
    optimizer = torch.optim.Adam(task.net.parameters(), lr=1e-4)
    params = sum(p.numel() for p in task.net.parameters() if p.requires_grad)
    title = f"{model}, batch {tuple(x.shape)}, {params:,} parameters"
    eager = profile_step(lambda: training_step(task, task.net, x, y, optimizer), STEPS, WARMUP)
    lines = eager.markdown(f"{title}, eager", TOP)
    if device.type == "cuda":
        replay = graphed_forward(task.net, x)
        graphed = profile_step(lambda: training_step(task, replay, x, y, optimizer), STEPS, WARMUP)
        lines += graphed.markdown(f"{title}, graphed", TOP)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--models", default="s4,mamba", help="comma-separated model configs")
    parser.add_argument("overrides", nargs="*", help="fit's overrides, e.g. experiment=ltsf/etth1")
    args = parser.parse_intermixed_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = torch.cuda.get_device_name() if device.type == "cuda" else "the CPU"
    command = " ".join(["python scripts/gpu/profile_forecaster.py OUT", "--models", args.models,
                        *args.overrides])
    lines = [f"# Forecaster training steps on {name}", "",
             f"`{command}`; torch {torch.__version__}; mean of {STEPS} steps after {WARMUP}.", ""]
    for model in args.models.split(","):
        lines += model_sections(model, args.overrides, device)
        print("\n".join(lines[-2 * TOP - 16:]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "profile.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
