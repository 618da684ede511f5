"""The serving request and response types, derived from the dataset spec.

A field's type, range and categories come from the same spec as the pandera schema, so the service
refuses exactly what validation would quarantine, with a 4xx naming the field.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from ml_platform.lib.spec import CategoricalFeature, DatasetSpec


def record_model(spec: DatasetSpec) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for feature in spec.features:
        if isinstance(feature, CategoricalFeature):
            annotation: Any = Literal[tuple(feature.categories)]
            example = feature.categories[0]
        else:
            annotation = int if feature.integer else float
            example = feature.min if feature.min is not None else 0
            example = int(example) if feature.integer else float(example)
        if feature.nullable:
            annotation = annotation | None
        bounds = {} if isinstance(feature, CategoricalFeature) else {"ge": feature.min, "le": feature.max}
        fields[feature.name] = (annotation, Field(..., examples=[example], **bounds))
    return create_model(
        "Record",
        __config__=ConfigDict(extra="forbid", allow_inf_nan=False, strict=False),
        **fields,
    )


class Prediction(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    label: str
    probabilities: dict[str, float]
    model_version: str
