"""Per-client rate limits: a token bucket per caller, answered with 429 and Retry-After when empty.

The caller is the token's subject, else the client address: behind a proxy listed in
ML_PLATFORM_TRUSTED_PROXIES, the one its X-Forwarded-For names (`client_address.py`). Limits are per replica and split
evenly over its workers, since each worker process keeps its own buckets; a cluster-wide limit belongs
in the ingress. The table of buckets is bounded: the least recently seen caller is forgotten first.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict

MAX_CALLERS = 10_000


class RateLimiter:
    def __init__(self, per_second: float, burst: float, workers: int = 1):
        self.rate = per_second / workers
        self.burst = max(1.0, burst / workers)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def retry_after(self, caller: str, now: float | None = None) -> int | None:
        """Take one token for `caller`: None if allowed, else the whole seconds until one is back."""
        now = time.monotonic() if now is None else now
        tokens, then = self._buckets.pop(caller, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        allowed = tokens >= 1
        self._buckets[caller] = (tokens - 1 if allowed else tokens, now)
        if len(self._buckets) > MAX_CALLERS:
            self._buckets.popitem(last=False)
        return None if allowed else max(1, math.ceil((1 - tokens) / self.rate))
