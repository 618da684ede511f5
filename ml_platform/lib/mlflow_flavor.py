"""How a model is logged to MLflow: the sklearn flavor in skops, and a pyfunc that answers with probabilities.

`mlflow.sklearn` writes the model as skops with the platform's trusted types, so MLflow's own
`mlflow.sklearn.load_model` works and unpickles nothing. Its `python_function` flavor is then pointed
at this module, because the sklearn one answers labels only (or, with `pyfunc_predict_fn=
"predict_proba"`, probabilities without labels). MLflow imports the loader by name from the installed
platform, so the artifact holds neither code nor pickle, and the trusted types come from the
platform's code rather than from the MLmodel file beside the model, which the artifact's writer controls.

The file's sha256 goes into MLmodel's metadata (and, from `log_winner`, into the registry's version
tag). `mlflow.pyfunc.load_model` checks the former, which catches a corrupted file; someone who can
write the artifact store could rewrite both files, so the platform's own loads (`Registry.load_model`)
check the registry's tag instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml_platform.lib.model_format import TRUSTED_TYPES, loads_verified, sha256
from ml_platform.lib.model_signature import LABEL, probability_column

MODEL_FILE = "model.skops"  # where mlflow.sklearn writes a skops model inside the logged model
SHA256_KEY = "model_sha256"
SPEC_KEY = "dataset_spec"


def save_model(sk_model: Any, path: str, mlflow_model: Any, dataset_spec: dict | None = None,
               **sklearn_options: Any) -> None:
    """The model directory, as `mlflow.models.Model.log(flavor=<this module>, sk_model=...)` asks for it.

    `dataset_spec` (the spec as JSON) goes into MLmodel's metadata: the pyfunc computes the derived
    features from it, so MLflow's clients send the raw fields, as the service's clients do."""
    import mlflow.sklearn
    from mlflow import pyfunc
    from mlflow.models.model import MLMODEL_FILE_NAME

    mlflow.sklearn.save_model(sk_model, path, mlflow_model=mlflow_model, serialization_format="skops",
                              skops_trusted_types=list(TRUSTED_TYPES), **sklearn_options)
    mlflow_model.flavors[pyfunc.FLAVOR_NAME].update({pyfunc.MAIN: __name__, pyfunc.DATA: MODEL_FILE})
    mlflow_model.metadata = {**(mlflow_model.metadata or {}), SHA256_KEY: sha256(Path(path, MODEL_FILE).read_bytes()),
                             **({SPEC_KEY: dataset_spec} if dataset_spec else {})}
    mlflow_model.save(os.path.join(path, MLMODEL_FILE_NAME))


def _load_pyfunc(path: str) -> LabelAndProbabilities:
    """MLflow's pyfunc loader hook; `path` is the skops file."""
    from mlflow.models import Model
    from mlflow.models.model import MLMODEL_FILE_NAME

    from ml_platform.lib.spec import DatasetSpec

    metadata = Model.load(Path(path).parent / MLMODEL_FILE_NAME).metadata or {}
    spec = DatasetSpec.model_validate(metadata[SPEC_KEY]) if SPEC_KEY in metadata else None
    return LabelAndProbabilities(loads_verified(Path(path).read_bytes(), metadata.get(SHA256_KEY), path), spec)


class LabelAndProbabilities:
    """The fitted pipeline as pyfunc: one row per input, the label then `probability_<class>` per class."""

    def __init__(self, model: Any, spec: Any = None):
        self.model = model
        self.spec = spec
        self.classes = [str(c) for c in model.classes_]

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> pd.DataFrame:
        from ml_platform.lib.features import add_features

        rows = pd.DataFrame(data)
        if self.spec is not None:
            rows = add_features(self.spec, as_numbers(self.spec, rows))
        rows = rows.reindex(columns=list(self.model.feature_names_in_))  # optional columns may be absent
        probabilities = self.model.predict_proba(rows)
        answer = pd.DataFrame(probabilities, columns=[probability_column(c) for c in self.classes], index=rows.index)
        answer.insert(0, LABEL, np.asarray(self.classes, dtype=object)[probabilities.argmax(axis=1)])
        return answer


def as_numbers(spec: Any, rows: pd.DataFrame) -> pd.DataFrame:
    """Numeric fields as floats, as the HTTP API casts them (the signature leaves real numbers untyped so
    MLflow passes an int64 column on); anything that is not a number is refused naming its field."""
    cast = {}
    for feature in spec.features:
        if feature.type == "numeric" and feature.name in rows:
            column = rows[feature.name]
            numbers = pd.to_numeric(column, errors="coerce").astype("float64")
            wrong = column[numbers.isna() & column.notna()]
            if len(wrong):
                raise ValueError(f"{feature.name}: expected a number, got {wrong.iloc[0]!r}")
            cast[feature.name] = numbers
    return rows.assign(**cast)
