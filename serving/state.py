"""What one service worker holds: the champion (and a shadow), the log writer and the metrics.

The middleware and the service class share this object; models are swapped by replacing a reference,
so the batch function reads each model once per batch and never sees a half-loaded one. With a canary
share (the shadow version's registry tag) the shadow answers that share of clients, the champion the
rest; the other model's answer is logged beside each record either way (`ml_platform/lib/canary.py`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timezone
from functools import partial
from typing import Any

from bentoml.exceptions import ServiceUnavailable

from ml_platform.lib.alias_follower import AliasFollower
from ml_platform.lib.canary import ANSWERED_BY, routed_to_challenger
from ml_platform.lib.features import add_features_to_rows
from ml_platform.lib.inference_log_writer import Counters, Entry, InferenceLogWriter
from ml_platform.lib.request_schema import Prediction
from ml_platform.lib.served_model import ServedModel
from ml_platform.lib.spec import DatasetSpec
from serving.heap import GcProbe, HeapWatch
from serving.answering import Answering
from serving.metrics import Metrics, metrics
from serving.refusals import AliasRemoved, IncompatibleModel, Refusals
from serving.settings import Settings

logger = logging.getLogger(__name__)


class ServingState:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.champion: ServedModel | None = None
        self.shadow: ServedModel | None = None
        self.canary_percent = 0.0
        self.answering = Answering(metrics)
        self.follower: AliasFollower | None = None
        self.writer: InferenceLogWriter | None = None
        self.refusals = Refusals()
        self.heap = HeapWatch()

    @property
    def metrics(self) -> Metrics:
        return metrics()

    def start(self, load_baked: Callable[[], ServedModel], baked_version: str, spec: DatasetSpec) -> None:
        """Serve the model built into the Bento, then follow the registry's aliases if there is one.

        A baked model that fails its checksum is refused: the worker stays up, not ready, and takes
        the champion from the registry as soon as the alias names a model that loads."""
        settings = self.settings
        m = self.metrics
        counters = Counters(dropped=lambda count, reason: m.log_dropped.labels(reason=reason).inc(count),
                            shadow_error=m.shadow_errors.inc, write_error=m.log_write_errors.inc,
                            writable=lambda ok: m.log_writable.set(1 if ok else 0))
        self.writer = InferenceLogWriter(settings.log_dir, settings.log_max_bytes, settings.log_max_seconds,
                                         lease_seconds=settings.log_lease_seconds, counters=counters,
                                         spool=settings.log_spool)
        try:
            self.swap("champion", load_baked())
        except Exception as exc:
            logger.error(f"refusing the model built into the Bento (v{baked_version}): {exc}")
            self._reload_failed("champion", baked_version, exc)
        self.heap.probe = GcProbe(m.gc_pause).install()
        if settings.tracking_uri:
            roles = {"champion": "champion", **({"shadow": settings.shadow_alias} if settings.shadow_alias else {})}
            self.follower = AliasFollower(settings.tracking_uri, spec, settings.bentoml_home, roles,
                                          on_load=self.swap, on_failure=self._reload_failed,
                                          on_settled=self.refusals.clear, interval_seconds=settings.reload_seconds,
                                          serving={"champion": self.champion.identity} if self.champion else None,
                                          on_share=self._set_share, watch_in_child=settings.alias_watch_in_child)
            try:
                self.follower.poll()
            except Exception as exc:
                logger.warning(f"registry at {settings.tracking_uri} not reachable yet: {exc}")
            self.follower.start()
        self.heap.freeze()  # after the follower's first poll: MLflow and its registry client are long-lived too
        self.heap.start()

    def swap(self, role: str, served: ServedModel | None) -> None:
        """Serve `served` in `role`; a model whose features differ from the request schema is refused.

        After a swap that replaces a model the heap is frozen again: the old model becomes collectable
        and the new one leaves the collector's sight (one full collection, on the follower thread)."""
        current = self.champion if role == "champion" else self.shadow
        reference = current or self.champion
        if served is not None and reference is not None and served.spec.features != reference.spec.features:
            raise IncompatibleModel(f"v{served.version} expects other features than the running service; redeploy it")
        if role == "champion" and served is None:
            raise AliasRemoved("the champion alias is gone; keeping the current champion")
        info = self.metrics.model_info
        if current is not None:
            info.labels(role, current.version, current.sha256, current.data_version, self.settings.code_version).set(0)
        if served is not None:
            info.labels(role, served.version, served.sha256, served.data_version, self.settings.code_version).set(1)
        setattr(self, role, served)
        self.metrics.reloads.labels(role=role, outcome="loaded").inc()
        self.refusals.clear(role)
        if current is not None:
            self.heap.freeze()

    def _reload_failed(self, role: str, version: str, exc: Exception) -> None:
        """Keep what is served and say, in /readyz and the metrics, which version was refused and why."""
        self.metrics.reloads.labels(role=role, outcome="failed").inc()
        self.refusals.refuse(role, version, exc)

    @property
    def log_writable(self) -> bool:
        return self.writer is not None and self.writer.healthy

    def readiness(self) -> tuple[int, dict[str, Any]]:
        """Ready with a champion loaded and an inference log that takes writes; the body says what is not.

        A replica whose log folder refuses writes goes unready, so the orchestrator drains it instead of
        letting it answer traffic the loop would never see. The probe needs no credential, so it says why
        in words and reason codes only: paths, hashes and error details are in the authenticated /model."""
        champion = self.champion.version if self.champion else None
        why = [text for failing, text in ((champion is None, "no champion model is loaded"),
                                          (not self.log_writable, "the inference log does not take writes")) if failing]
        refused = [{k: refusal[k] for k in ("role", "model_version", "reason")} for refusal in self.refusals.listed()]
        body = {"ready": not why, "why": "; ".join(why) or "serving", "champion": champion, "refused": refused}
        return (200 if body["ready"] else 503), body

    def _set_share(self, role: str, percent: float) -> None:
        if role == "shadow" and percent != self.canary_percent:
            logger.info(f"canary: the shadow now answers {percent:g}% of clients")
            self.canary_percent = percent
            self.metrics.canary_share.set(percent)

    def predict(self, records: list[Any]) -> list[Prediction]:
        champion, shadow, percent = self.champion, self.shadow, self.canary_percent
        if champion is None:
            raise ServiceUnavailable("no model loaded yet: see /readyz")
        rows = add_features_to_rows(champion.spec, [record.model_dump() for record in records])
        canary = [i for i, record in enumerate(records)
                  if routed_to_challenger(record.client_id or record.request_id, shadow.version, percent)
                  ] if shadow is not None and percent > 0 else []
        models, answers, failed = self.answering.answer(champion, shadow, rows, canary)
        m = self.metrics
        m.batch_records.labels(champion.version).observe(len(rows))
        m.batch_requests.labels(champion.version).observe(len({record.request_id for record in records}))
        timestamp, answered = datetime.now(timezone.utc).isoformat(), time.perf_counter()
        logged = []
        for record, row, model, (label, probabilities) in zip(records, rows, models, answers):
            record.served_by.append(model)  # the middleware reads it for the response's version headers
            entry = {"record_id": record.record_id, "request_id": record.request_id, "timestamp": timestamp,
                     "model_version": model.version, "inputs": row, "prediction": label,
                     "probabilities": probabilities, "data_version": model.data_version, "model_sha256": model.sha256,
                     "latency_ms": round((answered - record.arrived) * 1000, 2)}
            if model is not champion:
                entry[ANSWERED_BY] = "challenger"
            logged.append(entry)
        for index in failed:
            logged[index]["challenger_failed"] = True
        self.writer.submit(Entry(logged, partial(self.answering.add_other_answers, champion, shadow) if shadow else None))
        code = self.settings.code_version
        return [Prediction.model_construct(record_id=record.record_id, request_id=record.request_id, label=label,
                                           probabilities=probabilities, model_version=model.version,
                                           data_version=model.data_version, code_version=code)
                for record, model, (label, probabilities) in zip(records, models, answers)]

    def describe(self) -> dict[str, Any]:
        return {"champion": self.champion.describe() if self.champion else None,
                "shadow": self.shadow.describe() if self.shadow else None,
                "canary_percent": self.canary_percent,
                "code_version": self.settings.code_version,
                "follows": self.follower.roles if self.follower else None,
                "refused": self.refusals.listed(),
                "inference_log": {"writable": self.log_writable,
                                  "error": self.writer.error if self.writer else "not started"}}

    def close(self) -> None:
        self.heap.stop()
        if self.follower is not None:
            self.follower.stop()
        if self.writer is not None:
            self.writer.close()

