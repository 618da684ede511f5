"""Our Prometheus metrics, and the /metrics exposition of every worker's.

BentoML's request metrics are labelled with the raw path, so anyone could grow them (and the
multiprocess files under the pod's /tmp) a series per made-up URL, and a skip list does not help (it
skips only their timestamp). The service turns BentoML's metrics off (`serving/service.py`), counts
requests here with a bounded endpoint label, and the middleware serves /metrics from `exposition`:
prometheus_client's multiprocess collector over the folder BentoML's arbiter gives its workers.

They are created on first use inside the worker, never at import: BentoML sets PROMETHEUS_MULTIPROC_DIR
when the worker starts, after the service module is imported, and a metric made earlier would be
invisible to the multiprocess collector behind /metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
GC_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25)
LOOP_LAG_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)


@dataclass(frozen=True)
class Metrics:
    requests: Any
    predictions: Any
    latency: Any
    rejected: Any
    batch_records: Any
    batch_requests: Any
    model_info: Any
    reloads: Any
    refused: Any
    log_dropped: Any
    log_write_errors: Any
    log_writable: Any
    shadow_errors: Any
    canary_fallbacks: Any
    canary_share: Any
    gc_pause: Any
    loop_lag: Any


def exposition() -> tuple[bytes, str]:
    """Every worker's metrics, merged, and their content type (blocking file reads: call it off the event loop)."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry), CONTENT_TYPE_LATEST


@cache
def metrics() -> Metrics:
    from prometheus_client import Counter, Gauge, Histogram

    return Metrics(
        requests=Counter("ml_platform_requests", "HTTP requests by endpoint (paths outside the API counted as "
                         "'other', so no caller can add series) and status", ["endpoint", "status"]),
        predictions=Counter("ml_platform_predictions", "Predictions returned, by class and model version",
                            ["label", "model_version", "role"]),
        latency=Histogram("ml_platform_request_duration_seconds", "Request latency as the client sees it",
                          ["endpoint", "status", "model_version"], buckets=LATENCY_BUCKETS),
        rejected=Counter("ml_platform_rejected_requests", "Requests refused, by reason", ["reason"]),
        batch_records=Histogram("ml_platform_batch_records", "Records per model call (after batching)",
                                ["model_version"], buckets=BATCH_BUCKETS),
        batch_requests=Histogram("ml_platform_batch_requests", "HTTP requests merged into one model call",
                                 ["model_version"], buckets=BATCH_BUCKETS),
        model_info=Gauge("ml_platform_model_info", "1 for the model each role serves now",
                         ["role", "model_version", "model_sha256", "data_version", "code_version"],
                         multiprocess_mode="livemax"),
        reloads=Counter("ml_platform_model_reloads", "Model swaps after the MLflow alias moved, by outcome",
                        ["role", "outcome"]),
        refused=Gauge("ml_platform_model_refused", "1 while the version an alias names is refused, by reason",
                      ["role", "model_version", "reason"], multiprocess_mode="livemax"),
        log_dropped=Counter("ml_platform_inference_log_dropped", "Answered records the inference log lost, by reason "
                            "(queue_full, write_error, unrenderable)", ["reason"]),
        log_write_errors=Counter("ml_platform_inference_log_write_errors", "Failed attempts to write the inference log"),
        log_writable=Gauge("ml_platform_inference_log_writable", "1 while the worker's inference log takes writes",
                           multiprocess_mode="livemin"),
        shadow_errors=Counter("ml_platform_shadow_errors", "Shadow model calls that raised (the champion's records "
                              "are logged without the shadow's answer)"),
        canary_fallbacks=Counter("ml_platform_canary_fallbacks", "Canary records the challenger failed to answer "
                                 "(the champion answered them instead)"),
        canary_share=Gauge("ml_platform_canary_share_percent", "Percent of clients the shadow (challenger) answers",
                           multiprocess_mode="livemax"),
        gc_pause=Histogram("ml_platform_gc_pause_seconds", "Garbage collections, by generation and cause (collector, "
                           "or a heap freeze's own): every request in flight waits while one runs",
                           ["generation", "cause"], buckets=GC_BUCKETS),
        loop_lag=Histogram("ml_platform_event_loop_lag_seconds", "How late the worker's event loop ran a timer due "
                           "every 10 ms (serving/loop_lag.py): every request in flight waits as long",
                           buckets=LOOP_LAG_BUCKETS),
    )
