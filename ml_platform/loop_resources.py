"""Resources of the closed loop: the folders it reads, where it sends alerts, and how often it may retrain.

Kept apart from `resources.py` so the loop's settings arrive through one call, `loop_resources(...)`,
that the code location makes with `dg.EnvVar`s and tests make with temporary paths.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import dagster as dg
from pydantic import Field
from upath import UPath

from ml_platform.lib.storage import as_uri, storage_path
from ml_platform.model_scope import ModelScope

# Every loop sensor starts running on an instance that has never toggled it, so no person is needed.
LOOP_SENSORS_DEFAULT_STATUS = dg.DefaultSensorStatus.RUNNING


class LoopStorage(dg.ConfigurableResource):
    """The service's inference log (it writes, the loop reads) and the delayed label files: by default
    `inference_log/` and `labels/` under the storage root, a folder or `s3://bucket/prefix`.

    `orphan_after_minutes` is when the reader itself closes a log file no writer has touched: a
    backstop for a replica that died and never came back, far beyond the writers' own lease.
    `served_batch_minutes` is the window of served traffic landed as one batch (one partition)."""

    storage_root: str = ""
    inference_log_dir: str = ""
    labels_dir: str = ""
    predictions_dir: str = ""
    label_wait_minutes: float = 60.0
    orphan_after_minutes: float = 10.0
    served_batch_minutes: int = Field(default=60, ge=1, le=1440)

    @property
    def inference_log_path(self) -> UPath:
        return storage_path(self.inference_log_dir) if self.inference_log_dir else \
            storage_path(self.storage_root) / "inference_log"

    @property
    def labels_path(self) -> UPath:
        return storage_path(self.labels_dir) if self.labels_dir else storage_path(self.storage_root) / "labels"

    @property
    def predictions_path(self) -> UPath:
        """The labelled-prediction store (`lib/prediction_store.py`): beside the inference log by default."""
        return storage_path(self.predictions_dir) if self.predictions_dir else self.inference_log_path.parent / "predictions"

    def scoped(self, model: ModelScope) -> LoopStorage:
        """The model's own loop folders, so two models' services, labels and predictions never meet: under
        `<storage root>/<model>/` by default, else `<folder>/<model>` of each folder set (the shortcut's
        are unchanged)."""
        if not model.name:
            return self

        def own(explicit: str, path: UPath) -> str:
            return as_uri(model.folder(path)) if explicit else ""

        settings = self.model_dump(exclude={"storage_root", "inference_log_dir", "labels_dir", "predictions_dir"})
        root = as_uri(model.folder(storage_path(self.storage_root))) if self.storage_root else ""
        return LoopStorage(storage_root=root, inference_log_dir=own(self.inference_log_dir, self.inference_log_path),
                           labels_dir=own(self.labels_dir, self.labels_path),
                           predictions_dir=own(self.predictions_dir or self.inference_log_dir, self.predictions_path),
                           **settings)


class RetrainPolicy(dg.ConfigurableResource):
    """Limits that stop a retrain which keeps failing (or keeps finding drift) from looping.

    At most `max_retrains` loop-triggered retrains within `cap_window_hours`, none while one is still
    queued or running, and none within `cooldown_minutes` of the last one.
    """

    max_retrains: int = 3
    cap_window_hours: float = 24.0
    cooldown_minutes: float = 10.0
    performance_window_rows: int = 500
    performance_min_labelled: int = 100


class IngestionPolicy(dg.ConfigurableResource):
    """How the new-data sensor retries a landed file whose ingestion run failed (a full disk, a lost pod).

    The file is requested again `retry_after_seconds` after its last failure, up to `max_attempts` runs
    in all; then it waits for a person, and the sensor's log says so with the last failure.
    `arrival_margin_seconds` is how long after its stamp a landed file may still appear (a slow upload,
    clock skew): the sensor's cursor remembers the names that arrived within it, and nothing older.
    """

    max_attempts: int = 3
    retry_after_seconds: float = 60.0
    arrival_margin_seconds: float = 900.0


class AlertWebhook(dg.ConfigurableResource):
    """Where failure alerts are POSTed as JSON; an empty URL means log only."""

    url: str = ""
    timeout_seconds: float = 5.0

    def post(self, payload: dict[str, Any]) -> int | None:
        """POST the alert; returns the HTTP status, or None when no URL is configured."""
        if not self.url:
            return None
        request = urllib.request.Request(self.url, data=json.dumps(payload, default=str).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
            return response.status


class Pushgateway(dg.ConfigurableResource):
    """The Prometheus Pushgateway that model-quality gauges are pushed to; an empty URL means off."""

    url: str = ""
    timeout_seconds: float = 5.0


def loop_resources(storage_root: Any, inference_log_dir: Any = "", labels_dir: Any = "", alert_webhook: Any = "",
                   pushgateway_url: Any = "") -> dict[str, Any]:
    """Each argument is a value or a `dg.EnvVar`; an empty folder means its default under the root."""
    return {
        "loop_storage": LoopStorage(storage_root=storage_root, inference_log_dir=inference_log_dir,
                                    labels_dir=labels_dir),
        "retrain_policy": RetrainPolicy(),
        "alerts": AlertWebhook(url=alert_webhook),
        "ingestion_policy": IngestionPolicy(),
        "pushgateway": Pushgateway(url=pushgateway_url),
    }
