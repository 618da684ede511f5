"""A 400 a person can read, in the shape the service's own OpenAPI document promises.

BentoML answers a validation error with `detail` as a list of pydantic errors located under its
internal wrapper (`root.record.age`), while its OpenAPI document says `detail` is a string. We keep
the structured list under `errors`, with the location cut down to the caller's own terms
(`age`, or `3.age` for the fourth record of a list), and put a sentence in `detail`. Refusals made
before the model (401, 413, 415, 503) carry one message (`error_body`).
"""

from __future__ import annotations

import json
from typing import Any

WRAPPERS = (("root",), ("record", "records"))


def invalid_input(body: bytes) -> bytes:
    """Rewrite BentoML's 400 body; anything unexpected is passed on unchanged."""
    try:
        payload = json.loads(body)
    except ValueError:
        return body
    if not isinstance(payload, dict) or not isinstance(payload.get("detail"), list):
        return body
    return validation_error([e for e in payload["detail"] if isinstance(e, dict)])


def validation_error(pydantic_errors: list[dict[str, Any]]) -> bytes:
    """A 400's body from pydantic's errors: a sentence, and each error located in the caller's terms."""
    errors = [_caller_terms(e) for e in pydantic_errors]
    if any(e["type"] == "json_invalid" for e in errors):
        return json_error("the body is not valid JSON", errors)
    return json_error(f"{len(errors)} invalid field(s): " + ", ".join(e["field"] or "(body)" for e in errors), errors)


def json_error(summary: str, errors: list[dict[str, Any]]) -> bytes:
    detail = "; ".join(f"{e['field'] or '(body)'}: {e['msg']}" for e in errors)
    return json.dumps({"error": summary, "detail": detail, "errors": errors}).encode()


def _caller_terms(error: dict[str, Any]) -> dict[str, Any]:
    location = [str(part) for part in error.get("loc", [])]
    for wrapper in WRAPPERS:
        if location and location[0] in wrapper:
            location.pop(0)
    return {"field": ".".join(location), "msg": str(error.get("msg", "")), "type": str(error.get("type", ""))}


def error_body(message: str) -> bytes:
    """The body of a refusal made before the model: one message."""
    return json.dumps({"error": message}).encode()


def error_message(body: bytes) -> str:
    """The one-line message of an error body, for the log."""
    try:
        payload = json.loads(body)
    except ValueError:
        return body[:200].decode("utf-8", "replace")
    if not isinstance(payload, dict):
        return str(payload)[:200]
    return "; ".join(str(payload[key]) for key in ("error", "detail") if payload.get(key))[:500]
