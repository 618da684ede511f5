"""Baseline (b) of the serving benchmark: the seed tutorial's way of serving, on a plain ASGI stack.

    ML_PLATFORM_MODEL_TAG=customer-segmentation:latest python -m uvicorn benchmarks.starlette_baseline:app

One Starlette app in one uvicorn process: the JSON body is validated into the dataset's record type
(as FastAPI would), made a one-row DataFrame, given the spec's derived features (the tutorial's
`DataPreprocessor` step) and passed to the fitted pipeline's own `predict_proba`;
the label is the most probable class. No batching, no compiled path, no BentoML: what our service is
measured against. The model is the one the service serves, loaded checksum-verified from the store.
"""

from __future__ import annotations

import os

import bentoml
import pandas as pd
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from ml_platform.lib.features import add_features
from ml_platform.lib.model_store import read_spec_json
from ml_platform.lib.request_schema import record_model
from ml_platform.lib.served_model import from_store
from ml_platform.lib.spec import DatasetSpec

STORED = bentoml.models.get(os.environ.get("ML_PLATFORM_MODEL_TAG", "customer-segmentation:latest"))
SPEC = DatasetSpec.model_validate(read_spec_json(STORED.path))
Record = record_model(SPEC)
PIPELINE = from_store(STORED).model
CLASSES = [str(c) for c in PIPELINE.classes_]


async def predict(request: Request) -> JSONResponse:
    try:
        record = Record.model_validate_json(await request.body())
    except ValidationError as exc:
        return JSONResponse({"detail": exc.errors(include_url=False, include_context=False)}, status_code=422)
    frame = add_features(SPEC, pd.DataFrame([record.model_dump()], columns=SPEC.feature_names))
    probabilities = PIPELINE.predict_proba(frame)[0]
    return JSONResponse({"label": CLASSES[int(probabilities.argmax())],
                         "probabilities": dict(zip(CLASSES, probabilities.tolist()))})


async def ready(request: Request) -> PlainTextResponse:
    """The model loads at import, so an answering process is a ready one."""
    return PlainTextResponse("ok")


app = Starlette(routes=[Route("/predict", predict, methods=["POST"]), Route("/readyz", ready)])
