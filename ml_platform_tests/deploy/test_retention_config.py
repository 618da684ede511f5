"""Dagster's own tick retention is the same locally and on Kubernetes: the `retention:` the chart renders
from deploy/helm/values.yaml (its configmap-instance.yaml template, transcribed below), the one in
deploy/dagster-k8s.yaml and the one in the root dagster.yaml, and dagster's schema accepts it."""

import yaml
from dagster._config import process_config
from dagster._core.instance.config import retention_config_schema

from ml_platform.definitions import PROJECT_DIR
from ml_platform_tests.deploy.chart import chart_values

LOCAL = yaml.safe_load((PROJECT_DIR / "dagster.yaml").read_text())["retention"]
K8S = yaml.safe_load((PROJECT_DIR / "deploy" / "dagster-k8s.yaml").read_text())["retention"]


def rendered_by_the_chart() -> dict:
    """`retention:` as the chart's instance ConfigMap writes it: each section's purgeAfterDays, as merged."""
    values = chart_values()["retention"]
    assert values["enabled"], "the chart renders no retention unless it is enabled"
    sections = {"sensor": "sensor", "schedule": "schedule", "auto_materialize": "autoMaterialize"}
    return {ours: {"purge_after_days": values[theirs]["purgeAfterDays"]} for ours, theirs in sections.items()
            if values.get(theirs)}


def test_local_and_kubernetes_instances_keep_ticks_alike():
    assert rendered_by_the_chart() == K8S == LOCAL


def test_dagster_accepts_the_retention_and_purges_every_kind_of_tick():
    assert process_config(retention_config_schema().config_type, LOCAL).success
    for kind in ("sensor", "auto_materialize"):
        days = LOCAL[kind]["purge_after_days"]
        assert days["skipped"] > 0 and days["success"] > 0 and days["failure"] > 0, kind
    assert LOCAL["schedule"]["purge_after_days"] > 0
