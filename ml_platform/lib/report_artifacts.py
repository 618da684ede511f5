"""Human-readable reports as MLflow artifacts, so a browser opens them from a link in Dagster's metadata.

A file path in metadata opens nothing in a browser, and on Kubernetes names a file on a volume no
browser reaches; the MLflow server serves its artifacts to its UI locally and in the cluster alike.
The link is to the MLflow UI as `make mlflow-ui` (or `kubectl port-forward svc/mlflow 5000:5000`)
serves it, like the training run links.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
