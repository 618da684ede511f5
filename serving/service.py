"""The BentoML service for the champion model.

The model tag comes from ML_PLATFORM_MODEL_TAG when the Bento is built (the `bento` asset sets it), so
the Bento carries exactly the promoted model; the request type is derived from the dataset spec that
promotion stored beside the model.
"""

from __future__ import annotations

import os

import bentoml
import pandas as pd

from ml_platform.lib.model_store import load_verified, read_spec_json
from ml_platform.lib.request_schema import Prediction, record_model
from ml_platform.lib.spec import DatasetSpec

MODEL_TAG = os.environ.get("ML_PLATFORM_MODEL_TAG", "customer-segmentation:latest")
_stored = bentoml.models.get(MODEL_TAG)
SPEC = DatasetSpec.model_validate(read_spec_json(_stored.path))
Record = record_model(SPEC)


@bentoml.service(name="ml-platform-classifier", traffic={"timeout": 30})
class Classifier:
    model_ref = bentoml.models.BentoModel(MODEL_TAG)

    def __init__(self) -> None:
        self.model = load_verified(self.model_ref.path, self.model_ref.info.metadata["sha256"])
        self.version = self.model_ref.info.labels.get("mlflow_version", str(self.model_ref.tag.version))

    @bentoml.api
    def predict(self, records: list[Record]) -> list[Prediction]:  # type: ignore[valid-type]
        """Predict the class of each record, with class probabilities and the model version."""
        frame = pd.DataFrame([r.model_dump() for r in records], columns=SPEC.feature_names)
        probabilities = self.model.predict_proba(frame)
        classes = [str(c) for c in self.model.classes_]
        return [
            Prediction(label=classes[row.argmax()],
                       probabilities={c: round(float(p), 6) for c, p in zip(classes, row)},
                       model_version=self.version)
            for row in probabilities
        ]
