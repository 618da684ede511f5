"""The serving request and response types, derived from the dataset spec.

A field's type, range and categories come from the same spec as the pandera schema, so the service
refuses exactly what validation would quarantine, with a 4xx naming the field. Numbers must be finite
and strings are matched exactly against the spec's categories, so NaN, inf, huge values and look-alike
unicode all fail validation instead of reaching the model.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, PrivateAttr, Tag, create_model

from ml_platform.lib.spec import CategoricalFeature, DatasetSpec

MAX_RECORDS = 256
CURRENT_REQUEST_ID: ContextVar[str] = ContextVar("ml_platform_request_id", default="")
# The request's own list of the models that answered it, for its response headers (set per request).
CURRENT_SERVED_BY: ContextVar[list | None] = ContextVar("ml_platform_served_by", default=None)


class _RecordBase(BaseModel):
    """Remembers the request it arrived in: batching merges requests, the log must keep them apart."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    _request_id: str = PrivateAttr(default_factory=CURRENT_REQUEST_ID.get)
    _served_by: list = PrivateAttr(default_factory=lambda: CURRENT_SERVED_BY.get() or [])

    @property
    def request_id(self) -> str:
        return self._request_id

    @property
    def served_by(self) -> list:
        return self._served_by


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
        bounds = {} if isinstance(feature, CategoricalFeature) else {"ge": feature.min, "le": feature.max,
                                                                     "strict": True}
        fields[feature.name] = (annotation, Field(..., examples=[example], **bounds))
    return create_model("Record", __base__=_RecordBase, **fields)


def records_type(record: type[BaseModel]) -> Any:
    """One record or a list of up to MAX_RECORDS; the service always sees a list."""
    many = Annotated[list[record], Field(min_length=1, max_length=MAX_RECORDS), Tag("records")]  # type: ignore[valid-type]
    one_or_many = Union[Annotated[record, Tag("record")], many]
    return Annotated[one_or_many, Discriminator(lambda v: "records" if isinstance(v, list) else "record"),
                     AfterValidator(lambda v: v if isinstance(v, list) else [v])]


class Prediction(BaseModel):
    model_config = ConfigDict(protected_namespaces=(), allow_inf_nan=False)

    request_id: str
    label: str
    probabilities: dict[str, float]
    model_version: str
    data_version: str
    code_version: str
