"""What one service worker holds: the champion (and a shadow), the log writer and the metrics.

The middleware and the service class share this object; models are swapped by replacing a reference,
so the batch function reads each model once per batch and never sees a half-loaded one.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone
from functools import partial
from typing import Any

from bentoml.exceptions import ServiceUnavailable

from ml_platform.lib.alias_follower import AliasFollower
from ml_platform.lib.features import add_features_to_rows
from ml_platform.lib.inference_log_writer import Counters, Entry, InferenceLogWriter
from ml_platform.lib.request_schema import Prediction
from ml_platform.lib.served_model import ServedModel
from ml_platform.lib.spec import DatasetSpec
from serving.bentoml_hot_path import freeze_heap
from serving.metrics import Metrics, metrics
from serving.refusals import AliasRemoved, IncompatibleModel, Refusals
from serving.settings import Settings

logger = logging.getLogger(__name__)


class ServingState:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.champion: ServedModel | None = None
        self.shadow: ServedModel | None = None
        self.follower: AliasFollower | None = None
        self.writer: InferenceLogWriter | None = None
        self.refusals = Refusals()

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
                                         lease_seconds=settings.log_lease_seconds, counters=counters)
        try:
            self.swap("champion", load_baked())
        except Exception as exc:
            logger.error(f"refusing the model built into the Bento (v{baked_version}): {exc}")
            self._reload_failed("champion", baked_version, exc)
        freeze_heap()
        if settings.tracking_uri:
            roles = {"champion": "champion", **({"shadow": settings.shadow_alias} if settings.shadow_alias else {})}
            self.follower = AliasFollower(settings.tracking_uri, spec, settings.bentoml_home, roles,
                                          on_load=self.swap, on_failure=self._reload_failed,
                                          on_settled=self.refusals.clear, interval_seconds=settings.reload_seconds,
                                          serving={"champion": self.champion.version} if self.champion else None)
            try:
                self.follower.poll()
            except Exception as exc:
                logger.warning(f"registry at {settings.tracking_uri} not reachable yet: {exc}")
            self.follower.start()

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
            info.labels(role, current.version, current.data_version, self.settings.code_version).set(0)
        if served is not None:
            info.labels(role, served.version, served.data_version, self.settings.code_version).set(1)
        setattr(self, role, served)
        self.metrics.reloads.labels(role=role, outcome="loaded").inc()
        self.refusals.clear(role)
        if current is not None:
            freeze_heap()

    def _reload_failed(self, role: str, version: str, exc: Exception) -> None:
        """Keep what is served and say, in /readyz and the metrics, which version was refused and why."""
        self.metrics.reloads.labels(role=role, outcome="failed").inc()
        self.refusals.refuse(role, version, exc)

    def readiness(self) -> tuple[int, dict[str, Any]]:
        """Ready with a champion loaded and an inference log that takes writes; the body says what is not.

        A replica whose log folder refuses writes goes unready, so the orchestrator drains it instead of
        letting it answer traffic the loop would never see."""
        champion = self.champion.version if self.champion else None
        log_ok = self.writer is not None and self.writer.healthy
        body = {"ready": champion is not None and log_ok, "champion": champion, "refused": self.refusals.listed(),
                "inference_log": {"writable": log_ok, "error": self.writer.error if self.writer else "not started"}}
        return (200 if body["ready"] else 503), body

    def predict(self, records: list[Any]) -> list[Prediction]:
        champion, shadow = self.champion, self.shadow
        if champion is None:
            raise ServiceUnavailable("no model loaded yet: see /readyz")
        rows = add_features_to_rows(champion.spec, [record.model_dump() for record in records])
        answers = champion.predict(rows)
        for record in records:  # the middleware reads it for the response's version headers
            record.served_by.append(champion)
        m = self.metrics
        m.batch_records.labels(champion.version).observe(len(rows))
        m.batch_requests.labels(champion.version).observe(len({record.request_id for record in records}))
        self._count_predictions(answers, champion, "champion")
        timestamp = datetime.now(timezone.utc).isoformat()
        logged = [{"record_id": record.record_id, "request_id": record.request_id, "timestamp": timestamp,
                   "model_version": champion.version, "inputs": row, "prediction": label,
                   "probabilities": probabilities, "data_version": champion.data_version}
                  for record, row, (label, probabilities) in zip(records, rows, answers)]
        self.writer.submit(Entry(logged, partial(self._add_shadow_answers, shadow) if shadow else None))
        code = self.settings.code_version
        return [Prediction.model_construct(record_id=record.record_id, request_id=record.request_id, label=label,
                                           probabilities=probabilities, model_version=champion.version,
                                           data_version=champion.data_version, code_version=code)
                for record, (label, probabilities) in zip(records, answers)]

    def _add_shadow_answers(self, shadow: ServedModel, logged: list[dict]) -> None:
        """Runs on the writer thread after the champion's records exist: a shadow costs callers nothing,
        and a shadow that raises loses only its own answers (the writer counts the error). Its derived
        features are computed by its own spec: a challenger may engineer features the champion does not."""
        answers = shadow.predict(add_features_to_rows(shadow.spec, [record["inputs"] for record in logged]))
        for record, (label, probabilities) in zip(logged, answers):
            record["shadow"] = {"model_version": shadow.version, "prediction": label, "probabilities": probabilities}
        self._count_predictions(answers, shadow, "shadow")

    def _count_predictions(self, answers: list[tuple[str, Any]], model: ServedModel, role: str) -> None:
        for label, count in Counter(label for label, _ in answers).items():
            self.metrics.predictions.labels(label=label, model_version=model.version, role=role).inc(count)

    def describe(self) -> dict[str, Any]:
        return {"champion": self.champion.describe() if self.champion else None,
                "shadow": self.shadow.describe() if self.shadow else None,
                "code_version": self.settings.code_version,
                "follows": self.follower.roles if self.follower else None}

    def close(self) -> None:
        if self.follower is not None:
            self.follower.stop()
        if self.writer is not None:
            self.writer.close()

