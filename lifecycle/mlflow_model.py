"""The MLflow pyfunc of a lifecycle model, logged as "model from code".

MLflow copies this file into the model and runs it on load; ``predict`` takes a feature
frame and returns ``score`` (calibrated probability or expected value) and, for LTV,
``p10``/``p50``/``p90``. The model itself is the bundle in the ``bundle`` artifact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow.models
import mlflow.pyfunc
import pandas as pd

from lifecycle.bundle import ModelBundle


class LifecycleModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context: Any) -> None:
        self.bundle = ModelBundle.load(Path(context.artifacts["bundle"]))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict | None = None
    ) -> pd.DataFrame:
        return self.bundle.outputs(model_input)


mlflow.models.set_model(LifecycleModel())
