"""Human-readable reports as MLflow artifacts, so a browser opens them from a link in Dagster's metadata.

A file path in metadata opens nothing in a browser, and on Kubernetes names a file on a volume no
browser reaches; the MLflow server serves its artifacts to its UI locally and in the cluster alike.
The link is to the MLflow UI as `make mlflow-ui` (or `kubectl port-forward svc/mlflow 5000:5000`)
serves it, like the training run links.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from upath import UPath

from ml_platform.lib.storage import write_atomic

MLFLOW_UI = "http://127.0.0.1:5000"


def log_html_report(tracking: Any, path: Path, folder: str, batch: str | None = None) -> str:
    """Log `path` (an HTML report or a plot) under `folder` in the active MLflow run (tagged with its batch);
    returns the UI link to it."""
    run = tracking.active_run()
    if batch is not None:
        tracking.set_tag("batch", batch)
    tracking.log_artifact(str(path), artifact_path=folder)
    return (f"{MLFLOW_UI}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"
            f"/artifactPath/{folder}/{Path(path).name}")


@contextmanager
def kept_report(path: UPath, data: bytes) -> Iterator[Path]:
    """Keep `data` at `path` under the storage root and yield a local file of the same bytes to log to
    MLflow (its `log_artifact` takes only local paths), so the bytes are never read back from the store."""
    write_atomic(path, data)
    with tempfile.TemporaryDirectory(prefix="report-") as folder:
        local = Path(folder, path.name)
        local.write_bytes(data)
        yield local
