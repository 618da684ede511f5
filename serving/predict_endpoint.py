"""POST /predict, answered by the middleware: parse and validate, batch, predict, serialize.

BentoML's own path for a batchable API builds a Starlette request, a service context, an IO
descriptor call, a dispatcher future and a response through its OpenAPI machinery for every request.
py-spy under 32 connections put that at twice the cost of an echo on the same stack, while the model
answers 32 records in under a millisecond. Here a request is one pydantic `validate_json` (in Rust),
one place in a batch and one `dump_json`. The BentoML API stays the service's declared interface (the
OpenAPI document, the Python client); both validate with the same types, so they accept and refuse
the same bodies.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bentoml.exceptions import ServiceUnavailable
from pydantic import TypeAdapter, ValidationError

from ml_platform.lib.request_schema import MAX_RECORDS, Prediction
from serving.batcher import Batcher, Overloaded
from serving.errors import error_body, validation_error

PREDICTIONS = TypeAdapter(list[Prediction])
logger = logging.getLogger("ml_platform.serving")


class PredictEndpoint:
    def __init__(self, records_type: Any, predict: Callable[[list[Any]], list[Prediction]], max_wait_seconds: float):
        self._records = TypeAdapter(records_type)
        self._batcher = Batcher(predict, MAX_RECORDS, max_wait_seconds)

    async def answer(self, body: bytes) -> tuple[int, bytes]:
        """(status, JSON body): 200 with one prediction per record, 400 naming the fields, 503 to retry."""
        try:
            records = self._records.validate_json(body)
        except ValidationError as exc:
            return 400, validation_error(exc.errors(include_url=False, include_context=False, include_input=False))
        try:
            answers = await self._batcher.submit(records)
        except (Overloaded, ServiceUnavailable) as exc:
            return 503, error_body(str(exc))
        except Exception:
            logger.exception("the model failed on a batch")
            return 500, error_body("the model failed to answer; the service log has the traceback")
        return 200, PREDICTIONS.dump_json(answers)
