"""Where a training step of ``python -m tsssm.fit`` goes on the GPU, as a search trial or a claim
study's run trains it: the task built from the configs (fit's composition, every override
applying), one training batch, and a step of the task's ``training_step``, backward and an Adam
update, run eagerly and with the network replayed from CUDA graphs (``callbacks=graphed``'s
``graphed_forward``). Forecasters and sequence models alike:

    python scripts/gpu/profile_fit_step.py OUT --models s4,mamba experiment=ltsf/etth1 \
        data.lookback=96 model.backbone.d_model=64 model.backbone.n_layers=2
    python scripts/gpu/profile_fit_step.py OUT --models seq/s4,seq/mamba experiment=waveform/fsdd

Writes ``OUT/profile.md``: per model and mode the wall time of a step, its kernels' summed time
and launches, and the kernels that take the most (``tsssm.benchmarks.step_profile``). On a
machine without a GPU it runs the eager steps on the CPU (no kernels to tally). Needs hydra.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from lightning.fabric.utilities.apply_func import move_data_to_device

from tsssm.benchmarks.step_profile import profile_step
from tsssm.run.build import build
from tsssm.run.graphed_training import graphed_forward
from tsssm.tasks.base import Task

CONF = Path(__file__).resolve().parents[2] / "conf"
WARMUP, STEPS, TOP = 3, 10, 12


def trial(model: str, overrides: list[str], device: torch.device) -> tuple[Task, object]:
    """The task of ``fit model=MODEL OVERRIDES`` on ``device`` and its first training batch."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("fit", overrides=[*overrides, f"model={model}"])
    datamodule, task = build(cfg)
    batch = next(iter(datamodule.train_dataloader()))
    return task.to(device).train(), move_data_to_device(batch, device)


def training_step(task: Task, batch: object, optimizer: torch.optim.Optimizer) -> None:
    optimizer.zero_grad(set_to_none=True)
    task.training_step(batch, 0).backward()
    optimizer.step()


def model_sections(model: str, overrides: list[str], device: torch.device) -> list[str]:
    """The eager and (on a GPU) graphed profiles of one model's step."""
    task, batch = trial(model, overrides, device)
    optimizer = torch.optim.Adam(task.net.parameters(), lr=1e-4)
    x = task.network_input(batch)
    params = sum(p.numel() for p in task.net.parameters() if p.requires_grad)
    title = f"{model}, input {tuple(x.shape)}, {params:,} parameters"
    eager = profile_step(lambda: training_step(task, batch, optimizer), STEPS, WARMUP)
    lines = eager.markdown(f"{title}, eager", TOP)
    if device.type == "cuda":
        task.net.forward = graphed_forward(task.net, x)
        graphed = profile_step(lambda: training_step(task, batch, optimizer), STEPS, WARMUP)
        lines += graphed.markdown(f"{title}, graphed", TOP)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--models", default="s4,mamba", help="comma-separated model configs")
    parser.add_argument("overrides", nargs="*", help="fit's overrides, e.g. experiment=ltsf/etth1")
    args = parser.parse_intermixed_args()
    warnings.filterwarnings("ignore", message=".*self.log.*trainer.*")  # no trainer: nothing logs
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = torch.cuda.get_device_name() if device.type == "cuda" else "the CPU"
    command = " ".join(["python scripts/gpu/profile_fit_step.py OUT", "--models", args.models,
                        *args.overrides])
    lines = [f"# Training steps on {name}", "",
             f"`{command}`; torch {torch.__version__}; mean of {STEPS} steps after {WARMUP}.", ""]
    for model in args.models.split(","):
        lines += model_sections(model, args.overrides, device)
        print("\n".join(lines[-2 * TOP - 16:]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "profile.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
