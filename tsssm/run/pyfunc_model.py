"""A fit's forecaster as an MLflow model (``mlflow.pyfunc``): served, or loaded anywhere with

    mlflow.pyfunc.load_model("runs:/<run id>/model").predict(df)

where ``df`` holds series as ``python -m tsssm.forecast`` reads them and the answer is its long
table of forecasts (``tsssm.load(checkpoint).predict(df)``: ``tsssm.forecasting.model``). The model's artifacts are the best
checkpoint (which carries its config and its record of the training data, so no data is needed)
and the run's resolved config, for reading. The model is stored as code
(``tsssm.run.served_model``), not pickled. It has no fixed signature: a frame's columns are its
series' channels, in either layout. Its one requirement is tsssm itself, at the version
that trained it; nothing is inferred by loading the model again, so logging costs a copy of the
checkpoint.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel, PythonModelContext

MODEL_NAME = "model"
SERVED_MODEL_CODE = str(Path(__file__).with_name("served_model.py"))
CHECKPOINT_ARTIFACT, CONFIG_ARTIFACT = "checkpoint", "config"


class ServedForecaster(PythonModel):
    """``predict(df)``: forecasts of the series of ``df`` by the checkpoint artifact."""

    def load_context(self, context: PythonModelContext) -> None:
        from tsssm.forecasting.model import load  # the forecasting code, loaded to serve

        self.model = load(context.artifacts[CHECKPOINT_ARTIFACT])

    def predict(self, context: PythonModelContext, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> pd.DataFrame:
        return self.model.predict(model_input)


def requirements() -> list[str]:
    """``tsssm==<this version>`` where tsssm is installed as a package; else none recorded."""
    try:
        return [f"tsssm=={version('tsssm')}"]
    except PackageNotFoundError:
        return []


def log_forecast_model(tracking_uri: str, run_id: str, checkpoint: Path, config: Path) -> str:
    """Log the forecaster of ``checkpoint`` as the MLflow model ``model`` of the run ``run_id``;
    returns its URI, ``runs:/<run id>/model``."""
    mlflow.set_tracking_uri(tracking_uri)
    with mlflow.start_run(run_id=run_id):
        mlflow.pyfunc.log_model(name=MODEL_NAME, python_model=SERVED_MODEL_CODE,
                                artifacts={CHECKPOINT_ARTIFACT: str(checkpoint),
                                           CONFIG_ARTIFACT: str(config)},
                                pip_requirements=requirements())
    return f"runs:/{run_id}/{MODEL_NAME}"
