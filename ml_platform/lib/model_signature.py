"""The logged model's MLflow signature, from the dataset spec rather than inferred from training columns.

Training holds every number as a float, so an inferred signature calls `age` a double, and MLflow then
refuses the integer a client sends ("Can not safely convert int64 to float64"). The spec knows which
numbers are integers; real numbers are left to the pyfunc, which casts them (`mlflow_flavor.py`). The output is what `ServedModel.predict` answers: the label and one probability
per class.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from ml_platform.lib.spec import DatasetSpec

LABEL = "label"


def probability_column(label: Any) -> str:
    return f"probability_{label}"


def column_type(feature: Any) -> Any:
    """An MLflow column type. A real number is `Any`, cast and checked by the model's pyfunc as the HTTP
    API casts it: MLflow's `double` refuses an int64 column ("Can not safely convert int64 to float64"),
    and that is what pandas makes of `{"income": 60000}`, a record the API takes. A nullable integer is
    a real number too: MLflow's `long` cannot hold a missing value."""
    from mlflow.types.schema import AnyType

    if feature.type == "categorical":
        return "string"
    if feature.type == "timestamp":
        return "datetime"
    return "long" if feature.integer and not feature.nullable else AnyType()


def model_signature(spec: DatasetSpec, classes: Iterable[Any]) -> Any:
    """Inputs typed from the spec (nullable ones optional); the label, then a probability per class."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    inputs = [ColSpec(column_type(f), f.name, required=not f.nullable) for f in spec.features]
    outputs = [ColSpec("string", LABEL), *(ColSpec("double", probability_column(c)) for c in classes)]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))


def input_example(spec: DatasetSpec, x: pd.DataFrame, rows: int = 5) -> pd.DataFrame | None:
    """A few complete training rows typed as the signature says, or None if no row is complete."""
    complete = x[spec.feature_names].dropna().head(rows)
    longs = {f.name: "int64" for f in spec.features if column_type(f) == "long"}
    return complete.astype(longs) if len(complete) else None
