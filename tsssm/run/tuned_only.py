"""Studies of tuned models only: a job of a study that sets ``tuned_only`` runs with the recipe its
model and experiment were tuned to (``conf/recipe/<experiment>/<model>.yaml``, which names the
search that found it in ``tuned_by``) or not at all, so that no comparison sets a tuned model beside
an untuned one. A network solved in closed form (least squares) has nothing to tune and runs as is.
"""

from __future__ import annotations

from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf

from tsssm.run.closed_form import solved_in_closed_form


def lacks_its_recipe(cfg: DictConfig) -> bool:
    """Whether ``cfg`` is a job of a ``tuned_only`` study whose model would run untuned."""
    if not cfg.get("tuned_only") or cfg.get("tuned_by") is not None:
        return False
    target = OmegaConf.select(cfg, "model.net._target_")
    return target is None or not solved_in_closed_form(get_class(target))
