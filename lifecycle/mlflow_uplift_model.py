"""The MLflow pyfunc of an uplift model, logged as "model from code".

``predict`` takes a feature frame and returns ``uplift`` per row; the model itself is the
uplift bundle in the ``bundle`` artifact (``lifecycle.uplift_model``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow.models
import mlflow.pyfunc
import pandas as pd

from lifecycle.uplift_model import UpliftBundle


class LifecycleUpliftModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context: Any) -> None:
        self.bundle = UpliftBundle.load(Path(context.artifacts["bundle"]))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict | None = None
    ) -> pd.DataFrame:
        return self.bundle.outputs(model_input)


mlflow.models.set_model(LifecycleUpliftModel())
