"""The service's edge, as one plain ASGI middleware: everything a request meets before the model.

It names the request, checks the bearer token, refuses oversized or non-JSON bodies, answers
`GET /model`, rewrites validation errors to name the caller's fields, stamps version headers on every
response, adds Retry-After to shedding 503s and counts refusals and latency. Plain ASGI rather than
Starlette's BaseHTTPMiddleware, which costs a task per request on a path BentoML already makes heavy.
"""

from __future__ import annotations

import hmac
import json
import re
import time
import uuid
from typing import Any

from ml_platform.lib.request_schema import CURRENT_REQUEST_ID, CURRENT_SERVED_BY
from serving.errors import invalid_input, json_error

OPEN_PATHS = {"/livez", "/readyz", "/healthz", "/metrics"}
SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
REASONS = {400: "invalid_input", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
           413: "body_too_large", 415: "unsupported_media_type", 429: "too_many_requests",
           503: "overloaded", 504: "timeout"}


class ServingMiddleware:
    def __init__(self, app: Any, state: Any):
        self.app, self.state = app, state

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        headers = dict(scope["headers"])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if SAFE_REQUEST_ID.match(given) else uuid.uuid4().hex
        CURRENT_REQUEST_ID.set(request_id)
        served_by: list = []  # the batch function adds the model that answered, through each record
        CURRENT_SERVED_BY.set(served_by)
        response = _Response(send, lambda message: self._version_headers(request_id, served_by, message))
        try:
            refusal = self._refusal(scope, headers)
            if refusal is None and scope["method"] == "POST":
                body, refusal = await self._read_json_body(receive)
                receive = _replay(body, receive)
            if refusal is not None:
                await response.reply(*refusal)
            elif scope["method"] == "GET" and scope["path"] == "/model":
                await response.reply(200, json.dumps(self.state.describe()).encode())
            elif scope["method"] == "GET" and scope["path"] == "/readyz":
                status, body = self.state.readiness()
                await response.reply(status, json.dumps(body).encode())
            else:
                await self.app(scope, receive, response.send)
        finally:
            self._count(scope["path"], response.status, started)

    def _refusal(self, scope: dict, headers: dict[bytes, bytes]) -> tuple[int, bytes] | None:
        token = self.state.settings.api_token
        if token and scope["path"] not in OPEN_PATHS:
            if not hmac.compare_digest(headers.get(b"authorization", b""), f"Bearer {token}".encode()):
                return 401, _error("missing or wrong bearer token")
        if scope["method"] != "POST":
            return None
        if self.state.champion is None and scope["path"] == "/predict":
            return 503, _error("no model loaded yet: see /readyz")
        length = headers.get(b"content-length", b"0")
        if not length.isdigit():
            return 400, _error("Content-Length must be a number")
        if int(length) > self.state.settings.max_body_bytes:
            return 413, _error(f"request body over {self.state.settings.max_body_bytes} bytes")
        if headers.get(b"content-type", b"application/json").split(b";")[0].strip().lower() != b"application/json":
            return 415, _error("send application/json")
        return None

    async def _read_json_body(self, receive: Any) -> tuple[bytes, tuple[int, bytes] | None]:
        """The whole body, refused if too large (a chunked body has no length to check up front) or
        not JSON: BentoML parses a root input with `json.loads` and turns its errors into 500s."""
        limit, chunks, size = self.state.settings.max_body_bytes, [], 0
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                return b"", (413, _error(f"request body over {limit} bytes"))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            json.loads(body or b"{}")
        except (ValueError, RecursionError) as exc:
            return body, (400, json_error("the body is not valid JSON",
                                          [{"field": "", "msg": str(exc)[:200], "type": "json_invalid"}]))
        return body, None

    def _version_headers(self, request_id: str, served_by: list, message: dict) -> list[tuple[bytes, bytes]]:
        served = served_by[-1] if served_by else self.state.champion
        extra = [(b"x-request-id", request_id.encode()), (b"x-code-version", self.state.settings.code_version.encode())]
        if served is not None:
            extra += [(b"x-model-version", served.version.encode()), (b"x-data-version", served.data_version.encode())]
        if message["status"] == 503:
            extra.append((b"retry-after", b"1"))
        return extra

    def _count(self, path: str, code: int, started: float) -> None:
        metrics = self.state.metrics
        if code >= 400 and path not in OPEN_PATHS:  # a probe's 503 is not a refused request
            no_model = code == 503 and self.state.champion is None
            metrics.rejected.labels(reason="no_model" if no_model else REASONS.get(code, f"http_{code}")).inc()
        if path in ("/predict", "/model"):
            version = self.state.champion.version if self.state.champion else ""
            metrics.latency.labels(endpoint=path, status=str(code), model_version=version).observe(
                time.perf_counter() - started)


class _Response:
    """Sends the app's response with our headers; holds back a 400 to rewrite its body."""

    def __init__(self, send: Any, extra_headers: Any):
        self._send, self._extra_headers = send, extra_headers
        self.status, self._held, self._chunks = 500, None, []

    async def send(self, message: dict) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            message["headers"] = [*message.get("headers", []), *self._extra_headers(message)]
            if self.status == 400:
                self._held = message
                return
        elif self._held is not None and message["type"] == "http.response.body":
            self._chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = invalid_input(b"".join(self._chunks))
            headers = [(k, v) for k, v in self._held["headers"] if k.lower() != b"content-length"]
            await self._send({**self._held, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            message = {"type": "http.response.body", "body": body}
        await self._send(message)

    async def reply(self, status: int, body: bytes) -> None:
        """Our own answer, already in its final shape."""
        self.status = status
        start = {"type": "http.response.start", "status": status,
                 "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]}
        start["headers"] += self._extra_headers(start)
        await self._send(start)
        await self._send({"type": "http.response.body", "body": body})


def _error(message: str) -> bytes:
    return json.dumps({"error": message}).encode()


def _replay(body: bytes, receive: Any) -> Any:
    """Hand the app the body already read, then pass through (a disconnect, if the client leaves)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> dict:
        return pending.pop() if pending else await receive()

    return replay
