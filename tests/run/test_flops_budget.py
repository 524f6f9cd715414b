"""A fit with a FLOPs budget trains exactly the steps that reach it, and logs what it spent."""

from __future__ import annotations

import mlflow
import pytest

from tests.compose import compose_fit
from tsssm.fit import fit
from tsssm.run.flops_budget import FlopsBudget

BATCH, WINDOW, BUDGET = 2, 16, 2e7


def test_training_stops_at_the_first_step_that_reaches_the_budget(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    cfg = compose_fit(tmp_path, [
        "experiment=bytes/shakespeare", "model.backbone.d_model=16", "model.backbone.n_layers=1",
        f"data.seq_len={WINDOW}", f"data.batch_size={BATCH}", "trainer.max_steps=1000",
        "+trainer.limit_val_batches=1", "+trainer.limit_test_batches=1", "plot_windows=1",
        "trainer.enable_progress_bar=false", f"flops_budget={BUDGET}", f"logger.tracking_uri={uri}"])
    fit(cfg)
    client = mlflow.MlflowClient(uri)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    steps = run.data.metrics["trained_steps"]
    per_step = 3 * run.data.metrics["flops_per_token"] * BATCH * WINDOW
    assert 1 < steps < 1000
    assert steps * per_step >= BUDGET > (steps - 1) * per_step
    history = client.get_metric_history(run.info.run_id, "train/flops")
    assert history[-1].value == pytest.approx(steps * per_step, rel=1e-6)
    assert "val/bits_per_byte" in run.data.metrics, "validated where the budget ended training"


def test_a_budget_must_be_positive():
    with pytest.raises(ValueError, match="flops_budget must be a positive number of FLOPs, got 0"):
        FlopsBudget(0)
