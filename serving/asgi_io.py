"""The ASGI plumbing of the middleware: a response that carries our headers, and a body read twice.

`Response` adds the version headers to whatever the app sends and holds back a 400 to rewrite its body
so it names the caller's fields; `replay_body` hands the app a body the middleware already read.
"""

from __future__ import annotations

from typing import Any

from serving.errors import error_message, invalid_input


class Response:
    """Sends the app's response with our headers; holds back a 400 to rewrite its body.

    `extra_headers(response, start_message)` is handed the response rather than closing over it: a
    closure that names its own response is a reference cycle, and a cycle per request is garbage only
    the collector frees (with everything the request touched hanging off it), so it piles up into the
    full collections that stall every request in flight."""

    def __init__(self, send: Any, extra_headers: Any):
        self._send, self._extra_headers = send, extra_headers
        self.status, self._held, self._chunks = 500, None, []
        self.retry_after: int | None = None  # seconds, for a 429 or 503
        self.allow: bytes | None = None  # the methods a path answers, for our own 405
        self.error: str | None = None  # the message of a refusal, for the log line

    async def send(self, message: dict) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            message["headers"] = [*message.get("headers", []), *self._extra_headers(self, message)]
            if self.status == 400:
                self._held = message
                return
        elif self._held is not None and message["type"] == "http.response.body":
            self._chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = invalid_input(b"".join(self._chunks))
            self.error = error_message(body)
            headers = [(k, v) for k, v in self._held["headers"] if k.lower() != b"content-length"]
            await self._send({**self._held, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            message = {"type": "http.response.body", "body": body}
        await self._send(message)

    async def reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        """Our own answer, already in its final shape."""
        self.status = status
        if status >= 400:
            self.error = error_message(body)
        start = {"type": "http.response.start", "status": status,
                 "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]}
        start["headers"] += self._extra_headers(self, start)
        await self._send(start)
        await self._send({"type": "http.response.body", "body": body})


def replay_body(body: bytes, receive: Any) -> Any:
    """Hand the app the body already read, then pass through (a disconnect, if the client leaves)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> dict:
        return pending.pop() if pending else await receive()

    return replay
