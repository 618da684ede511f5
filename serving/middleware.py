"""The service's edge, as one plain ASGI middleware: everything a request meets before the model.

It names the request, checks the bearer token or JWT (`access.py`), applies the per-client rate
limit (`rate_limit.py`), refuses oversized or non-JSON bodies, answers `GET /model` and `/metrics`, rewrites
validation errors to name the caller's fields, stamps version headers on every response, adds
Retry-After to 429s and shedding 503s, counts refusals and latency and logs each refusal as one line.
Plain ASGI rather than Starlette's BaseHTTPMiddleware, which costs a task per request on a path
BentoML already makes heavy.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from functools import partial
from typing import Any

from ml_platform.lib.request_schema import CURRENT_REQUEST, RequestIdentity
from serving import logs
from serving.access import Access, Refused
from serving.asgi_io import Response, replay_body
from serving.client_address import client_address
from serving.errors import error_body, json_error
from serving.loop_lag import LoopLag
from serving.metrics import exposition
from serving.predict_endpoint import PredictEndpoint
from serving.rate_limit import RateLimiter

OPEN_PATHS = {"/livez", "/readyz", "/healthz", "/metrics"}
ENDPOINTS = OPEN_PATHS | {"/predict", "/model", "/", "/docs.json", "/schema.json"}  # any other path: "other"
SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
REASONS = {400: "invalid_input", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
           413: "body_too_large", 415: "unsupported_media_type", 429: "too_many_requests",
           503: "overloaded", 504: "timeout"}
logger = logging.getLogger("ml_platform.serving")


class ServingMiddleware:
    def __init__(self, app: Any, state: Any, records_type: Any, max_wait_seconds: float):
        self.app, self.state = app, state
        self.predict = PredictEndpoint(records_type, state.predict, max_wait_seconds)
        self._latency_by_labels: dict[tuple[str, int, str], Any] = {}  # `labels()` costs more than `observe()`
        self._requests_by_labels: dict[tuple[str, int], Any] = {}
        self._loop_lag: LoopLag | None = None  # started on the worker's loop by its first request
        settings = state.settings
        self.access = Access(settings.api_token, settings.jwt)
        self.limiter = (RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst
                                    or settings.rate_limit_per_second, settings.workers)
                        if settings.rate_limit_per_second > 0 else None)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self._loop_lag is None:
            self._loop_lag = LoopLag(self.state.metrics.loop_lag).start(asyncio.get_running_loop())
        started = time.perf_counter()
        headers = dict(scope["headers"])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        identity = RequestIdentity.new(given if SAFE_REQUEST_ID.match(given) else None)
        CURRENT_REQUEST.set(identity)  # each record takes its ids from it; the batch adds who answered
        response = Response(send, partial(self._version_headers, identity))
        try:
            refusal = self._refusal(scope, headers, response, identity)
            predict = scope["method"] == "POST" and scope["path"] == "/predict"
            if refusal is None and scope["method"] == "POST":
                body, refusal = await self._read_body(receive, parse_json=not predict)
                receive = replay_body(body, receive)
            if refusal is not None:
                await response.reply(*refusal)
            elif predict:
                await response.reply(*await self.predict.answer(body))
            elif scope["method"] == "GET" and scope["path"] == "/model":
                await response.reply(200, json.dumps(self.state.describe()).encode())
            elif scope["path"] == "/metrics":  # BentoML's own is off (serving/metrics.py)
                if scope["method"] == "GET":
                    await response.reply(200, *await asyncio.to_thread(exposition))
                else:
                    response.allow = b"GET"
                    await response.reply(405, error_body("/metrics answers GET only"))
            elif scope["method"] == "GET" and scope["path"] == "/readyz":
                status, body = self.state.readiness()
                await response.reply(status, json.dumps(body).encode())
            else:
                await self.app(scope, receive, response.send)
        finally:
            self._count(scope["path"], response.status, started, identity)
            if 400 <= response.status < 500 and scope["path"] not in OPEN_PATHS:
                self._log_refusal(scope, identity, response)
            elif self.state.settings.access_log:
                logger.info(f"{scope['method']} {logs.printable(scope['path'])} {response.status} "
                            f"{(time.perf_counter() - started) * 1000:.1f}ms request_id={identity.request_id}")

    def _refusal(self, scope: dict, headers: dict[bytes, bytes], response: Response,
                 identity: RequestIdentity) -> tuple[int, bytes] | None:
        if scope["path"] in OPEN_PATHS:
            return None
        caller = None
        if self.access.required:
            try:
                caller = self.access.caller(headers.get(b"authorization", b""))
            except Refused as refused:
                return 401, error_body(str(refused))
        named = headers.get(b"x-client-id", b"").decode("latin-1")
        address = client_address((scope.get("client") or ("unknown",))[0],
                                 headers.get(b"x-forwarded-for", b"").decode("latin-1"), self.state.settings.trusted_proxies)
        identity.client_id = caller or (named if SAFE_REQUEST_ID.match(named) else "") or address
        if self.limiter is not None:
            response.retry_after = self.limiter.retry_after(caller or address)
            if response.retry_after is not None:
                return 429, error_body(f"rate limit exceeded: retry in {response.retry_after} s")
        if scope["method"] != "POST":
            return None
        if self.state.champion is None and scope["path"] == "/predict":
            return 503, error_body("no model loaded yet: see /readyz")
        length = headers.get(b"content-length", b"0")
        if not length.isdigit():
            return 400, error_body("Content-Length must be a number")
        if int(length) > self.state.settings.max_body_bytes:
            return 413, error_body(f"request body over {self.state.settings.max_body_bytes} bytes")
        if headers.get(b"content-type", b"application/json").split(b";")[0].strip().lower() != b"application/json":
            return 415, error_body("send application/json")
        return None

    async def _read_body(self, receive: Any, parse_json: bool) -> tuple[bytes, tuple[int, bytes] | None]:
        """The whole body, refused if too large (a chunked body has no length to check up front) or,
        when `parse_json`, not JSON: BentoML parses a root input with `json.loads` and turns its errors
        into 500s. /predict parses its body itself."""
        limit, chunks, size = self.state.settings.max_body_bytes, [], 0
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                return b"", (413, error_body(f"request body over {limit} bytes"))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if not parse_json:
            return body, None
        try:
            json.loads(body or b"{}")
        except (ValueError, RecursionError) as exc:
            return body, (400, json_error("the body is not valid JSON",
                                          [{"field": "", "msg": str(exc)[:200], "type": "json_invalid"}]))
        return body, None

    def _version_headers(self, identity: RequestIdentity, response: Response, message: dict) -> list[tuple[bytes, bytes]]:
        served = identity.served_by[-1] if identity.served_by else self.state.champion
        extra = [(b"x-request-id", identity.request_id.encode()), (b"x-code-version", self.state.settings.code_version.encode())]
        if served is not None:
            extra += [(b"x-model-version", served.version.encode()), (b"x-data-version", served.data_version.encode())]
        if message["status"] in (429, 503):
            extra.append((b"retry-after", str(response.retry_after or 1).encode()))
        if message["status"] == 405 and response.allow:
            extra.append((b"allow", response.allow))
        if message["status"] == 401:
            extra.append((b"www-authenticate", b'Bearer error="invalid_token"'))
        return extra

    def _log_refusal(self, scope: dict, identity: RequestIdentity, response: Response) -> None:
        """One line per refused request, with what an operator needs to find it (see serving/logs.py)."""
        fields = {"request_id": identity.request_id, "status": response.status, "method": scope["method"],
                  "path": logs.printable(scope["path"]), "reason": REASONS.get(response.status, f"http_{response.status}")}
        logger.warning(f"{fields['method']} {fields['path']} refused {fields['status']} {fields['reason']} "
                       f"request_id={fields['request_id']}: {logs.printable(response.error or '')}",
                       extra={logs.FIELDS: fields})

    def _count(self, path: str, code: int, started: float, identity: RequestIdentity) -> None:
        """Refusals by reason, and latency by the model that answered (a canary's requests apart)."""
        metrics = self.state.metrics
        endpoint = path if path in ENDPOINTS else "other"
        if (endpoint, code) not in self._requests_by_labels:
            self._requests_by_labels[(endpoint, code)] = metrics.requests.labels(endpoint=endpoint, status=str(code))
        self._requests_by_labels[(endpoint, code)].inc()
        if code >= 400 and path not in OPEN_PATHS:  # a probe's 503 is not a refused request
            no_model = code == 503 and self.state.champion is None
            metrics.rejected.labels(reason="no_model" if no_model else REASONS.get(code, f"http_{code}")).inc()
        if path in ("/predict", "/model"):
            answered = identity.served_by[-1] if identity.served_by else self.state.champion
            version = answered.version if answered else ""
            key = (path, code, version)
            if key not in self._latency_by_labels:
                self._latency_by_labels[key] = metrics.latency.labels(endpoint=path, status=str(code),
                                                                      model_version=version)
            self._latency_by_labels[key].observe(time.perf_counter() - started)
