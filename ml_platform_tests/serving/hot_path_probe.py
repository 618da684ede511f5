"""Drives BentoML's own request path in process (its app factory and middleware stack, then ours)
and prints, as JSON, what the hot-path patches should have changed. Run by test_bentoml_hot_path.py
with BENTOML_HOME and ML_PLATFORM_MODEL_TAG naming a stored model."""

import gc
import json
import warnings

warnings.simplefilter("ignore")

from starlette.testclient import TestClient  # noqa: E402

import serving.service as service  # noqa: E402

RECORD = {"age": 35, "gender": "Female", "income": 62000.0, "occupation": "Teacher", "spending_score": 55}
REQUESTS = 40

app = service.Classifier.to_asgi()
with TestClient(app) as client:
    statuses = [client.post("/predict", json=RECORD).status_code for _ in range(REQUESTS)]
    gc.unfreeze()  # the service froze its heap; frozen objects are invisible to get_objects
    gc.collect()
    timers = [o for o in gc.get_objects() if type(o).__name__ == "TimerHandle" and "_set_timer_out" in repr(o)]
    print(json.dumps({
        "statuses": sorted(set(statuses)),
        "request_timers_alive": len(timers),
        "tracing_middleware": "OpenTelemetryMiddleware" in {m.cls.__name__ for m in app.user_middleware},
        "timeout_middleware": "TimeoutMiddleware" in {m.cls.__name__ for m in app.user_middleware},
    }))
