"""Per-request costs of BentoML 1.4 that a service can avoid, found with py-spy under 32 clients.

- The JSON schema of a root input or output type (a record-or-list, a list of predictions) is rebuilt
  with a new pydantic `TypeAdapter` on every call of `model_json_schema`, and BentoML calls it twice
  per request: to decide how to parse the body and to pick the response's media type. That was half
  of the worker's time. A type's schema never changes: compute it once, hand out copies (callers
  mutate what they get).
- For every batch BentoML looks the API method up on the service instance, and each lookup runs
  `inspect.signature` and `functools.wraps` again (about an eighth of the worker's time). Binding the
  method once into the instance's own attributes makes the lookup a dictionary read.
"""

from __future__ import annotations

import copy
import gc
from typing import Any


def memoize_json_schemas(api: Any) -> None:
    for spec in (api.input_spec, api.output_spec):
        spec.model_json_schema = classmethod(_memoized(spec.model_json_schema))


def bind_api_methods(instance: Any, apis: dict[str, Any]) -> None:
    """Call from the service's `__init__`: an instance attribute wins over the class's descriptor."""
    for name, method in apis.items():
        setattr(instance, name, method.__get__(instance, type(instance)))


def freeze_heap() -> None:
    """Move everything alive now (libraries, the model) out of the garbage collector's sight.

    A worker holds a few hundred MB of long-lived objects; every full collection walks them all and
    stalls the event loop for tens of milliseconds, which shows up as the p99. They never become
    garbage, so `gc.freeze` leaves them out of later collections. Unfreezing first lets a model that
    was just replaced be collected."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _memoized(compute: Any) -> Any:
    computed: dict[Any, dict[str, Any]] = {}

    def model_json_schema(cls: type, *args: Any, **kwargs: Any) -> dict[str, Any]:
        key = (args, tuple(sorted(kwargs.items())))
        if key not in computed:
            computed[key] = compute(*args, **kwargs)
        return copy.deepcopy(computed[key])

    return model_json_schema
