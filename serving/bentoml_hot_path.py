"""Per-request costs of BentoML 1.4 that a service can avoid, found with py-spy under 32 clients.

Our service answers /predict in its own middleware (`predict_endpoint.py`), so only the last two
patches lie on its path; the first two make the benchmark's BentoML baselines as fast as they can be.

- The JSON schema of a root input or output type (a record-or-list, a list of predictions) is rebuilt
  with a new pydantic `TypeAdapter` on every call of `model_json_schema`, and BentoML calls it twice
  per request: to decide how to parse the body and to pick the response's media type. That was half
  of the worker's time. A type's schema never changes: compute it once, hand out fresh copies (the
  OpenAPI builder mutates what it gets) parsed from its JSON text, five times cheaper than deepcopy.
- For every batch BentoML looks the API method up on the service instance, and each lookup runs
  `inspect.signature` and `functools.wraps` again (about an eighth of the worker's time). Binding the
  method once into the instance's own attributes makes the lookup a dictionary read.
- BentoML's `TimeoutMiddleware` arms a timer per request (`traffic.timeout`, 30 s) and never disarms
  it, so every request's context (its tracing span, futures, locks) stays alive for 30 s. Under load
  that is tens of thousands of objects, promoted to the oldest generation, and every full garbage
  collection (every 2 to 3 s) walked them all: the periodic stall of 130 ms and more that made the
  p99. The timer is now cancelled when the request ends; the timeout itself is unchanged.
- Every request gets a recording OpenTelemetry span even when no trace is sampled or exported
  (BentoML's sampler records all spans, for its request ids): a quarter of a worker's time. Without a
  tracing exporter in the BentoML configuration the middleware is left out; with one, it stays.

These are patches of BentoML internals, valid for the exact version pinned in pyproject.toml;
`ml_platform_tests/serving/test_bentoml_hot_path.py` drives BentoML's own request path and fails
if any of them stops taking effect.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

PINNED_BENTOML = "1.4.40"


def memoize_json_schemas(api: Any) -> None:
    for spec in (api.input_spec, api.output_spec):
        spec.model_json_schema = classmethod(_memoized(spec.model_json_schema))


def bind_api_methods(instance: Any, apis: dict[str, Any]) -> None:
    """Call from the service's `__init__`: an instance attribute wins over the class's descriptor."""
    for name, method in apis.items():
        setattr(instance, name, method.__get__(instance, type(instance)))


def _memoized(compute: Any) -> Any:
    computed: dict[Any, dict[str, Any]] = {}

    def model_json_schema(cls: type, *args: Any, **kwargs: Any) -> dict[str, Any]:
        key = (args, tuple(sorted(kwargs.items())))
        if key not in computed:
            computed[key] = json.dumps(compute(*args, **kwargs))
        return json.loads(computed[key])

    model_json_schema.computed = computed  # what the hot-path test reads: one entry per distinct call
    return model_json_schema


def disarm_request_timers() -> None:
    """Make BentoML's per-request timeout timer end with its request (see the module docstring)."""
    from bentoml._internal.server.http.traffic import TimeoutMiddleware

    TimeoutMiddleware.__call__ = _timeout_call


async def _timeout_call(self: Any, scope: dict, receive: Any, send: Any) -> None:
    """BentoML's TimeoutMiddleware, with the timer cancelled once the request is answered or timed out."""
    if scope["type"] not in ("http", "websocket"):
        return await self.app(scope, receive, send)
    loop = asyncio.get_running_loop()
    first_message = loop.create_future()
    timer = loop.call_later(self.timeout, self._set_timer_out, first_message)

    async def send_and_notify(message: dict) -> None:
        if not first_message.done():
            first_message.set_result(None)
        await send(message)

    handling = asyncio.ensure_future(self.app(scope, receive, send_and_notify))
    try:
        await first_message
    except asyncio.TimeoutError:
        if handling.cancel():
            from starlette.responses import JSONResponse

            timed_out = {"error": f"Not able to process the request in {self.timeout} seconds"}
            await JSONResponse(timed_out, status_code=504)(scope, receive, send)
        return
    finally:
        timer.cancel()
    await handling


def trace_only_when_exported() -> None:
    """Leave BentoML's OpenTelemetry middleware out unless a tracing exporter is configured."""
    from _bentoml_impl.server.app import ServiceAppFactory
    from bentoml._internal.container import BentoMLContainer

    every_middleware = ServiceAppFactory.middlewares.fget
    if getattr(every_middleware, "traces_only_when_exported", False):
        return

    def middlewares(self: Any) -> list:
        chosen = every_middleware(self)
        if BentoMLContainer.config.tracing.exporter_type.get() is None:
            chosen = [m for m in chosen if m.cls.__name__ != "OpenTelemetryMiddleware"]
        return chosen

    middlewares.traces_only_when_exported = True
    ServiceAppFactory.middlewares = property(middlewares)
