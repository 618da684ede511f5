"""Model quality as Prometheus gauges, pushed to a Pushgateway.

Live accuracy, drift, the champion, data freshness and retrain outcomes are computed by Dagster runs:
batch work with no long-lived process for Prometheus to scrape. Prometheus's answer for batch jobs is
the Pushgateway (https://prometheus.io/docs/practices/pushing/): each push replaces the whole group
(`job` + `dataset`), so a gauge the newest facts no longer support disappears instead of going stale.
Times are published as Unix timestamps, never as ages, so PromQL computes the age at query time and a
stopped publisher cannot freeze an age (`push_time_seconds` shows when it last pushed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

JOB = "ml_platform_quality"
LIVE_SCORES = ("accuracy", "f1_macro", "f1_weighted")


@dataclass
class Quality:
    """What the platform knows about its model, each part None until it has happened once."""

    dataset: str
    live: dict | None = None  # live_performance's metadata
    drift: dict | None = None  # {"batch", "drift" (bool), "share", "timestamp"} of the latest drift report
    champion: dict | None = None  # {"version", "data_version"} as the registry names them
    last_landed: float | None = None  # when the newest batch was taken in (Unix seconds)
    retrain: dict | None = field(default=None)  # {"success", "finished", "last_success"} of finished retrains
    challenger: dict | None = None  # {"version", "difference", "labelled", "tolerance", "decided"} of a live evaluation
    model: str = ""  # a component model's name: pushed as the `model` label, as the Bentos' series carry it


def _gauge(registry: CollectorRegistry, name: str, doc: str, value: float, **labels: str) -> None:
    gauge = Gauge(name, doc, list(labels), registry=registry)
    (gauge.labels(**labels) if labels else gauge).set(value)


def registry_for(quality: Quality) -> CollectorRegistry:
    """One registry holding every gauge the facts support (the `dataset` label comes from the grouping key)."""
    registry = CollectorRegistry()
    live = quality.live or {}
    if live.get("labelled"):
        scores = Gauge("ml_platform_live_score", "The served model's score on its labelled traffic",
                       ["metric"], registry=registry)
        for metric in LIVE_SCORES:
            if live.get(metric) is not None:
                scores.labels(metric=metric).set(live[metric])
        _gauge(registry, "ml_platform_live_score_threshold", "The spec's minimum for the judged metric",
               live["threshold"], metric=live["metric"])
        _gauge(registry, "ml_platform_live_labelled_records", "Labelled predictions in the scoring window",
               live["labelled"])
        _gauge(registry, "ml_platform_live_enough_labels", "1 once enough predictions are labelled to judge",
               float(bool(live.get("enough_labels"))))
        _gauge(registry, "ml_platform_live_model_version", "The model version the live score is of",
               float(live["model_version"]))
    if quality.drift:
        drift = quality.drift
        _gauge(registry, "ml_platform_drift_detected", "1 if the latest checked batch drifted",
               float(drift["drift"]), batch=drift["batch"])
        _gauge(registry, "ml_platform_drift_share", "Share of the latest batch's tests that found drift",
               drift["share"], batch=drift["batch"])
        _gauge(registry, "ml_platform_drift_checked_timestamp_seconds", "When the latest drift report was made",
               drift["timestamp"])
    if quality.champion:
        _gauge(registry, "ml_platform_champion_version", "The registry's champion version", float(quality.champion["version"]))
        _gauge(registry, "ml_platform_champion_info", "1 for the champion, with its training data version", 1.0,
               model_version=str(quality.champion["version"]), data_version=quality.champion["data_version"])
    if quality.last_landed is not None:
        _gauge(registry, "ml_platform_last_batch_landed_timestamp_seconds", "When the newest batch was taken in",
               quality.last_landed)
    if quality.retrain:
        retrain = quality.retrain
        _gauge(registry, "ml_platform_retrain_last_success", "1 if the latest finished retrain succeeded, else 0",
               float(retrain["success"]))
        _gauge(registry, "ml_platform_retrain_last_finished_timestamp_seconds", "When the latest retrain finished",
               retrain["finished"])
        if retrain.get("last_success") is not None:
            _gauge(registry, "ml_platform_retrain_last_success_timestamp_seconds",
                   "When the latest successful retrain finished", retrain["last_success"])
    if quality.challenger:
        challenger = quality.challenger
        _gauge(registry, "ml_platform_challenger_version", "The challenger under live evaluation",
               float(challenger["version"]))
        _gauge(registry, "ml_platform_challenger_accuracy_difference",
               "Challenger minus champion accuracy on the same labelled live records", challenger["difference"])
        _gauge(registry, "ml_platform_challenger_labelled_records", "Labelled records both models answered",
               challenger["labelled"])
        _gauge(registry, "ml_platform_challenger_tolerance", "How much less accurate the challenger may be",
               challenger["tolerance"])
        _gauge(registry, "ml_platform_challenger_decided_timestamp_seconds", "When the challenger was last judged",
               challenger["decided"])
    return registry


def push(url: str, quality: Quality, timeout: float = 5.0) -> None:
    """Replace this dataset's group on the Pushgateway at `url`; raises on any failure (the caller decides)."""
    group = {"dataset": quality.dataset, **({"model": quality.model} if quality.model else {})}
    push_to_gateway(url, job=JOB, registry=registry_for(quality), grouping_key=group, timeout=timeout)
