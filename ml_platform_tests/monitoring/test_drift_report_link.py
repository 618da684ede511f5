"""The Evidently report opens from the UI: drift_report links to it as an artifact of the batch's MLflow
run, and a real `mlflow server` over the platform's store serves exactly the bytes the asset wrote."""

import re
from pathlib import Path

import dagster as dg
import httpx
from mlflow import MlflowClient

from ml_platform.lib.report_artifacts import MLFLOW_UI
from ml_platform_tests.deploy.mlflow_server import mlflow_server

LINK = re.compile(re.escape(MLFLOW_UI) + r"/#/experiments/(\d+)/runs/([0-9a-f]{32})/artifactPath/(drift/[^/]+\.html)")


def test_each_drift_report_links_its_html_in_the_batchs_mlflow_run(platform):
    records = platform.instance.fetch_materializations(dg.AssetKey("drift_report"), limit=10).records
    assert len(records) == 2, "one report per landed batch"
    client = MlflowClient(platform.resources["mlflow_tracking"].tracking_uri)
    with mlflow_server(platform.root, platform.root / "mlflow-artifacts") as server:
        for record in records:
            meta = record.asset_materialization.metadata
            experiment, run_id, artifact = LINK.fullmatch(meta["evidently_report_url"].value).groups()
            run = client.get_run(run_id)
            assert run.info.experiment_id == experiment
            assert run.data.tags["dagster_run_id"] == record.run_id
            assert run.data.tags["batch"] == record.asset_materialization.partition
            served = httpx.get(f"{server}/get-artifact", params={"path": artifact, "run_uuid": run_id}, timeout=30)
            assert served.status_code == 200
            assert served.content == Path(meta["evidently_report"].value).read_bytes()
            assert served.content.lstrip().lower().startswith(b"<!doctype html>")
            assert all(name.encode() in served.content for name in platform.spec.feature_names)
