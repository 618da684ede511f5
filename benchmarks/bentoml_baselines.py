"""Baselines (b2), (c) and (c2) of the serving benchmark, on the same BentoML stack as our service.

    bentoml serve benchmarks.bentoml_baselines:Naive   (or :Echo, :EchoOnOurPath)

`Naive` predicts the way the seed tutorial does, one pipeline call per request; `Echo` parses the same
request type with a BentoML API and returns a constant, the stack's own ceiling for an API.
`EchoOnOurPath` answers /predict where our service does, in an ASGI middleware with one pydantic
`validate_json`, and returns a constant: the floor of our request path, so a ratio against it is what
auth, features, the model, the log and the metrics cost. All get the BentoML fixes and the settings
(workers, no access log) that `serving.service:Classifier` runs with, so a ratio measures our request
path, not a configuration difference.
"""

from __future__ import annotations

import os

import bentoml

from pydantic import TypeAdapter

from ml_platform.lib.features import add_features
from ml_platform.lib.model_store import read_spec_json
from ml_platform.lib.request_schema import Prediction, record_model, records_type
from ml_platform.lib.served_model import from_store
from ml_platform.lib.spec import DatasetSpec
from serving.bentoml_hot_path import (bind_api_methods, disarm_request_timers, memoize_json_schemas,
                                      trace_only_when_exported)
from serving.heap import freeze_heap

MODEL_TAG = os.environ.get("ML_PLATFORM_MODEL_TAG", "customer-segmentation:latest")
SPEC = DatasetSpec.model_validate(read_spec_json(bentoml.models.get(MODEL_TAG).path))
Records = records_type(record_model(SPEC))
SAME_STACK = {"workers": int(os.environ.get("ML_PLATFORM_SERVICE_WORKERS", "1")),
              "logging": {"access": {"enabled": False}}}


@bentoml.service(name="benchmark-naive", threads=1, **SAME_STACK)
class Naive:
    model_ref = bentoml.models.BentoModel(MODEL_TAG)

    def __init__(self) -> None:
        self.served = from_store(self.model_ref)
        bind_api_methods(self, Naive.apis)
        freeze_heap()

    @bentoml.api
    def predict(self, records: Records, /) -> list[Prediction]:  # type: ignore[valid-type]
        """The tutorial's way: a DataFrame of the request, its derived features, the pipeline's own predict_proba."""
        import pandas as pd

        model = self.served.model
        probabilities = model.predict_proba(add_features(SPEC, pd.DataFrame([r.model_dump() for r in records])))
        return [Prediction(record_id="", request_id="", label=str(model.classes_[row.argmax()]),
                           probabilities=dict(zip(map(str, model.classes_), row.tolist())),
                           model_version=self.served.version, data_version=self.served.data_version,
                           code_version="") for row in probabilities]


@bentoml.service(name="benchmark-echo", **SAME_STACK)
class Echo:
    def __init__(self) -> None:
        bind_api_methods(self, Echo.apis)
        freeze_heap()

    @bentoml.api
    async def predict(self, records: Records, /) -> list[dict]:  # type: ignore[valid-type]
        return [{"label": "constant"}]


@bentoml.service(name="benchmark-echo-on-our-path", **SAME_STACK)
class EchoOnOurPath:
    """Declares /predict as Echo does; its answers come from `ParseAndAnswerConstant`."""

    def __init__(self) -> None:
        freeze_heap()

    @bentoml.api
    async def predict(self, records: Records, /) -> list[dict]:  # type: ignore[valid-type]
        return [{"label": "constant"}]


class ParseAndAnswerConstant:
    """POST /predict answered in the middleware, as `serving.predict_endpoint` does, minus the model."""

    ANSWER = b'[{"label": "constant"}]'

    def __init__(self, app):
        self.app, self.records = app, TypeAdapter(Records)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] != "/predict":
            return await self.app(scope, receive, send)
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        self.records.validate_json(body)
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(self.ANSWER)).encode())]})
        await send({"type": "http.response.body", "body": self.ANSWER})


EchoOnOurPath.add_asgi_middleware(ParseAndAnswerConstant)
for service in (Naive, Echo, EchoOnOurPath):
    memoize_json_schemas(service.apis["predict"])
disarm_request_timers()
trace_only_when_exported()
