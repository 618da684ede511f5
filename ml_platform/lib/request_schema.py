"""The serving request and response types, derived from the dataset spec.

A field's type, range and categories come from the same spec as the pandera schema, so the service
refuses exactly what validation would quarantine, with a 4xx naming the field. Numbers must be finite
and strings are matched exactly against the spec's categories, so NaN, inf, huge values and look-alike
unicode all fail validation instead of reaching the model.
"""

from __future__ import annotations

import itertools
import os
import time
import uuid
from datetime import datetime
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, PrivateAttr, Tag, create_model

from ml_platform.lib.spec import CategoricalFeature, DatasetSpec, NumericFeature, TimestampFeature

MAX_RECORDS = 256


class _ServerIds:
    """Ids as long as a uuid4's hex without a system call per request: 80 random bits drawn once per
    process (drawn again in a forked child), then a counter."""

    def __init__(self) -> None:
        self._pid: int | None = None

    def __call__(self) -> str:
        if self._pid != os.getpid():
            self._pid, self._prefix, self._counter = os.getpid(), uuid.uuid4().hex[:20], itertools.count()
        return f"{self._prefix}{next(self._counter):012x}"


new_server_id = _ServerIds()


@dataclass
class RequestIdentity:
    """Who a request is: the caller's id, an id the server makes, and the models that answered it.

    `request_id` is the caller's `X-Request-ID` (or `server_id` when none was sent) and may repeat
    across callers; every record gets `<server_id>-<index>`, unique whatever the caller sends.
    `client_id` names the caller for anything that must stay the same for one caller across requests
    (a canary's sticky routing): the JWT subject, else `X-Client-ID`, else the client address."""

    request_id: str
    client_id: str = ""
    arrived: float = field(default_factory=time.perf_counter)  # when the middleware took the request
    server_id: str = field(default_factory=new_server_id)
    served_by: list = field(default_factory=list)
    _indexes: Iterator[int] = field(default_factory=itertools.count)

    @classmethod
    def new(cls, given: str | None = None, client_id: str = "") -> RequestIdentity:
        identity = cls(request_id=given or "", client_id=client_id)
        identity.request_id = given or identity.server_id
        return identity

    def next_record_id(self) -> str:
        return f"{self.server_id}-{next(self._indexes)}"


# Set by the middleware for each request; a record made outside any request is a request of its own.
CURRENT_REQUEST: ContextVar[RequestIdentity | None] = ContextVar("ml_platform_request", default=None)


def _new_origin() -> tuple[RequestIdentity, str]:
    identity = CURRENT_REQUEST.get() or RequestIdentity.new()
    return identity, identity.next_record_id()


class _RecordBase(BaseModel):
    """Remembers the request it arrived in and its own id: batching merges requests, the log must not."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    _origin: tuple[RequestIdentity, str] = PrivateAttr(default_factory=_new_origin)

    @property
    def request_id(self) -> str:
        return self._origin[0].request_id

    @property
    def record_id(self) -> str:
        return self._origin[1]

    @property
    def arrived(self) -> float:
        return self._origin[0].arrived

    @property
    def client_id(self) -> str:
        return self._origin[0].client_id

    @property
    def served_by(self) -> list:
        return self._origin[0].served_by


def record_model(spec: DatasetSpec) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for feature in spec.features:
        if isinstance(feature, CategoricalFeature):
            annotation: Any = Literal[tuple(feature.categories)]
            example = feature.categories[0]
        elif isinstance(feature, TimestampFeature):
            annotation, example = Annotated[str, AfterValidator(_iso_8601)], "2026-01-05T09:30:00Z"
        else:
            annotation = int if feature.integer else float
            example = feature.min if feature.min is not None else 0
            example = int(example) if feature.integer else float(example)
        if feature.nullable:
            annotation = annotation | None
        bounds = {} if not isinstance(feature, NumericFeature) else {"ge": feature.min, "le": feature.max,
                                                                     "strict": True}
        fields[feature.name] = (annotation, Field(..., examples=[example], **bounds))
    return create_model("Record", __base__=_RecordBase, **fields)


def _iso_8601(value: str) -> str:
    """Kept as the caller's text (it is logged as sent); refused here if the features function could not read it."""
    datetime.fromisoformat(value)
    return value


def records_type(record: type[BaseModel]) -> Any:
    """One record or a list of up to MAX_RECORDS; the service always sees a list."""
    many = Annotated[list[record], Field(min_length=1, max_length=MAX_RECORDS), Tag("records")]  # type: ignore[valid-type]
    one_or_many = Union[Annotated[record, Tag("record")], many]
    return Annotated[one_or_many, Discriminator(lambda v: "records" if isinstance(v, list) else "record"),
                     AfterValidator(lambda v: v if isinstance(v, list) else [v])]


class Prediction(BaseModel):
    model_config = ConfigDict(protected_namespaces=(), allow_inf_nan=False)

    record_id: str
    request_id: str
    label: str
    probabilities: dict[str, float]
    model_version: str
    data_version: str
    code_version: str
