"""The BentoML service for the champion model.

The Bento carries the model promoted when it was built (its manifest's `model_tag` label, set by the
`bento` asset; ML_PLATFORM_MODEL_TAG overrides it); with MLFLOW_TRACKING_URI set, the service then
follows the registry's `champion` alias and swaps models without a restart. The request type is
derived from the dataset spec stored beside the model. Everything around the model call (auth, size
limits, headers, /model) lives in `serving/middleware.py`; what a worker holds lives in `serving/state.py`.
"""

from __future__ import annotations

import bentoml
from threadpoolctl import threadpool_limits

from ml_platform.lib.model_store import read_spec_json
from ml_platform.lib.request_schema import Prediction, record_model, records_type
from ml_platform.lib.served_model import from_store, stored_version
from ml_platform.lib.spec import DatasetSpec
from serving.bentoml_hot_path import disarm_request_timers, trace_only_when_exported
from serving import logs
from serving.middleware import ServingMiddleware
from serving.settings import Settings
from serving.state import ServingState

SETTINGS = Settings.from_env()
SPEC = DatasetSpec.model_validate(read_spec_json(bentoml.models.get(SETTINGS.model_tag).path))
Record = record_model(SPEC)
Records = records_type(Record)
STATE = ServingState(SETTINGS)

# HTTP /predict is answered by the middleware (`serving/predict_endpoint.py`), which batches up to
# MAX_RECORDS records per model call. A request queued longer than this is shed with 503: far above a
# batch's cost (about a millisecond), so a burst queues instead of failing.
MAX_WAIT_SECONDS = 2.0


@bentoml.service(name="ml-platform-classifier", traffic={"timeout": 30},
                 workers=SETTINGS.workers, threads=1,
                 # BentoML's request metrics and access log are off: they label and log the raw path, a
                 # series per made-up URL; the middleware counts, logs and serves /metrics instead.
                 metrics={"enabled": False}, logging={"access": {"enabled": False}})
class Classifier:
    model_ref = bentoml.models.BentoModel(SETTINGS.model_tag)

    def __init__(self) -> None:
        logs.configure(SETTINGS.log_format)
        threadpool_limits(1)  # BLAS in one thread: the batcher already runs one batch at a time
        stored = self.model_ref  # resolved to the stored model by the descriptor
        STATE.start(lambda: from_store(stored), stored_version(stored), SPEC)

    @bentoml.api
    async def predict(self, records: Records, /) -> list[Prediction]:  # type: ignore[valid-type]
        """Predict one record or a list: class, class probabilities, versions and the record ids.

        This declares the HTTP interface (the OpenAPI document, BentoML's clients); over HTTP the
        middleware answers with the same types, batching requests together (see its module)."""
        return STATE.predict(records)

    @bentoml.on_shutdown
    def flush_inference_log(self) -> None:
        STATE.close()


if SETTINGS.bentoml_patches:  # a way back to BentoML's public API alone, should an upgrade break them
    disarm_request_timers()
    trace_only_when_exported()
Classifier.add_asgi_middleware(ServingMiddleware, state=STATE, records_type=Records, max_wait_seconds=MAX_WAIT_SECONDS)
