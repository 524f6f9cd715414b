"""The code stored with a fit's MLflow model ("models from code"): MLflow runs this file to get the
model, so nothing is pickled. The model itself: ``tsssm.run.pyfunc_model.ServedForecaster``."""

from mlflow.models import set_model

from tsssm.run.pyfunc_model import ServedForecaster

set_model(ServedForecaster())
