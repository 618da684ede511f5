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
from ml_platform.lib.request_schema import MAX_RECORDS, Prediction, record_model, records_type
from ml_platform.lib.served_model import from_store, stored_version
from ml_platform.lib.spec import DatasetSpec
from serving.bentoml_hot_path import (bind_api_methods, disarm_request_timers, dispatch_when_free,
                                      memoize_json_schemas, trace_only_when_exported)
from serving import logs
from serving.middleware import ServingMiddleware
from serving.settings import Settings
from serving.state import ServingState

SETTINGS = Settings.from_env()
SPEC = DatasetSpec.model_validate(read_spec_json(bentoml.models.get(SETTINGS.model_tag).path))
Record = record_model(SPEC)
Records = records_type(Record)
STATE = ServingState(SETTINGS)

# Batching: up to MAX_RECORDS records per model call. max_latency_ms is the point at which the
# dispatcher sheds load with 503; it is far above the batch cost (a few ms) so that a burst queues
# instead of failing, while the adaptive window itself stays at a few milliseconds.
MAX_LATENCY_MS = 2000


@bentoml.service(name="ml-platform-classifier", traffic={"timeout": 30},
                 workers=SETTINGS.workers, threads=1,
                 logging={"access": {"enabled": SETTINGS.access_log}})
class Classifier:
    model_ref = bentoml.models.BentoModel(SETTINGS.model_tag)

    def __init__(self) -> None:
        logs.configure(SETTINGS.log_format)
        threadpool_limits(1)  # BLAS in one thread: the dispatcher already runs one batch at a time
        bind_api_methods(self, Classifier.apis)
        stored = self.model_ref  # resolved to the stored model by the descriptor
        STATE.start(lambda: from_store(stored), stored_version(stored), SPEC)

    @bentoml.api(batchable=True, max_batch_size=MAX_RECORDS, max_latency_ms=MAX_LATENCY_MS)
    async def predict(self, records: Records, /) -> list[Prediction]:  # type: ignore[valid-type]
        """Predict one record or a list: class, class probabilities, versions and the request id.

        A batch costs well under a millisecond, so it runs on the event loop: handing it to a thread
        made it wait for the GIL behind request parsing (up to the 5 ms switch interval) while the
        next batch queued behind it."""
        return STATE.predict(records)

    @bentoml.on_shutdown
    def flush_inference_log(self) -> None:
        STATE.close()


memoize_json_schemas(Classifier.apis["predict"])
disarm_request_timers()
dispatch_when_free()
trace_only_when_exported()
Classifier.add_asgi_middleware(ServingMiddleware, state=STATE)
