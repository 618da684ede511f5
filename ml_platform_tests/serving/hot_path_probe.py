"""Drives BentoML's own request path in process (its app factory and middleware stack, then ours)
and prints, as JSON, what the hot-path patches should have changed and which of our objects a request
leaves as cyclic garbage (freed only by the collector, whose full collections stall every request in
flight). Run by test_bentoml_hot_path.py with BENTOML_HOME and ML_PLATFORM_MODEL_TAG naming a stored model."""

import gc
import json
import warnings
from pathlib import Path

warnings.simplefilter("ignore")

from starlette.testclient import TestClient  # noqa: E402

import serving.service as service  # noqa: E402

RECORD = {"age": 35, "gender": "Female", "income": 62000.0, "occupation": "Teacher", "spending_score": 55}
REQUESTS = 40
OURS = tuple(str(Path(__file__).resolve().parents[2] / folder) for folder in ("serving", "ml_platform"))


def ours(thing: object) -> bool:
    """An object our code made: an instance of one of our classes, or one of our functions or frames."""
    code = getattr(thing, "__code__", None) or getattr(thing, "f_code", None)
    if code is not None:
        return code.co_filename.startswith(OURS)
    return type(thing).__module__.split(".")[0] in ("serving", "ml_platform")


def cyclic_garbage_of_ours() -> list[str]:
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what a collection finds unreachable is kept in gc.garbage, not freed
    try:
        assert all(client.post("/predict", json=RECORD).status_code == 200 for _ in range(REQUESTS))
        gc.collect()
    finally:
        gc.set_debug(0)
    found = sorted({getattr(o, "__qualname__", type(o).__qualname__) for o in gc.garbage if ours(o)})
    gc.garbage.clear()
    return found


app = service.Classifier.to_asgi()
with TestClient(app) as client:
    statuses = [client.post("/predict", json=RECORD).status_code for _ in range(REQUESTS)]
    garbage = cyclic_garbage_of_ours()
    gc.unfreeze()  # the service froze its heap; frozen objects are invisible to get_objects
    gc.collect()
    timers = [o for o in gc.get_objects() if type(o).__name__ == "TimerHandle" and "_set_timer_out" in repr(o)]
    print(json.dumps({
        "statuses": sorted(set(statuses)),
        "request_timers_alive": len(timers),
        "tracing_middleware": "OpenTelemetryMiddleware" in {m.cls.__name__ for m in app.user_middleware},
        "timeout_middleware": "TimeoutMiddleware" in {m.cls.__name__ for m in app.user_middleware},
        "cyclic_garbage_of_ours": garbage,
    }))
