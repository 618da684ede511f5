"""The whole monitoring path, for real: Dagster pushes model quality to Debian's Pushgateway, Debian's
Prometheus scrapes it and a served Bento with the shipped scrape config and rules, bad traffic makes a
shipped alert go pending, and every dashboard panel's PromQL parses and returns series.

Only intervals change from the shipped config (1 s scrapes and rule evaluations), so the test waits
seconds, not minutes; `for:` durations are the shipped ones, so alerts are read back as pending.
"""

from __future__ import annotations

import time

import dagster as dg
import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from ml_platform.defs.monitoring.quality import quality_sensor
from ml_platform.model_scope import ModelScope
from ml_platform.lib.generator import customer_segmentation
from ml_platform.loop_resources import Pushgateway
from ml_platform_tests.loop.test_served_traffic import write_labels, write_log
from ml_platform_tests.monitoring import servers
from ml_platform_tests.monitoring.test_rules import MONITORING, RULES, generate_module
from ml_platform_tests.serving.conftest import RECORD
from ml_platform_tests.waiting import eventually

LOG = "inference-20260101T001000.000000-7-1-aa-pod-m"


def tick(platform, url: str) -> str:
    """One evaluation of the sensor, as the daemon's tick makes it."""
    resources = {**platform.resources, "pushgateway": Pushgateway(url=url)}
    with dg.build_sensor_context(instance=platform.instance, resources=resources) as context:
        return quality_sensor(ModelScope(str(platform.spec_path)))(context).skip_message


@pytest.fixture(scope="module")
def pushed(platform, tmp_path_factory):
    """A Pushgateway holding the platform's quality, scored on 200 labelled records the model got wrong."""
    loop = platform.resources["loop_storage"]
    traffic = customer_segmentation(200, seed=11)
    write_log(loop.inference_log_path, LOG, traffic, prediction="budget")
    write_labels(loop.labels_path, "labels-1.csv", LOG, traffic)
    assert platform.job("track_performance").execute_in_process(instance=platform.instance).success
    with servers.pushgateway(tmp_path_factory.mktemp("pushgateway")) as gateway:
        assert tick(platform, gateway.url).startswith("pushed")
        yield gateway


@pytest.fixture(scope="module")
def prometheus(pushed, service, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("prometheus")
    config = yaml.safe_load((MONITORING / "prometheus.local.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(RULES)]
    targets = {"ml-platform-bento": service.url, "ml-platform-pushgateway": pushed.url}
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [targets[job["job_name"]].removeprefix("http://")]}]
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    with servers.prometheus(workdir / "prometheus.yml", workdir) as running:
        yield running


@pytest.fixture(scope="module")
def traffic(prometheus, service):
    """20 good and 40 bad requests (invalid fields, broken JSON) over 6 s, scraped before the tests read.

    Spread over several scrapes: a counter first seen already at its final value has a rate of 0."""
    with service.client() as client:
        for i in range(20):
            assert client.post("/predict", json=RECORD).status_code == 200
            assert client.post("/predict", json={**RECORD, "age": "old"}).status_code == 400
            assert client.post("/predict", content=b"{", headers={"content-type": "application/json"}).status_code == 400
            time.sleep(0.3)
    eventually(lambda: servers.query(prometheus.url, 'sum(ml_platform_request_duration_seconds_count{status="400"}) >= 40'),
               timeout=30, what="Prometheus scraping the bad requests")
    return prometheus


def pushed_values(gateway_url: str) -> dict[tuple[str, frozenset], float]:
    text = httpx.get(f"{gateway_url}/metrics", timeout=10).text
    return {(s.name, frozenset(s.labels.items())): s.value for family in text_string_to_metric_families(text)
            for s in family.samples if s.labels.get("job") == "ml_platform_quality"}


def test_the_pushgateway_holds_what_dagster_recorded(platform, pushed):
    values = pushed_values(pushed.url)
    group = {"job": "ml_platform_quality", "dataset": platform.spec.name, "instance": ""}

    def value(name: str, **labels: str) -> float:
        return values[(name, frozenset({**group, **labels}.items()))]

    live = platform.instance.get_latest_materialization_event(dg.AssetKey("live_performance")).asset_materialization.metadata
    assert value("ml_platform_live_score", metric="accuracy") == pytest.approx(live["accuracy"].value)
    assert value("ml_platform_live_score_threshold", metric="f1_macro") == platform.spec.thresholds.min_metric
    assert value("ml_platform_live_labelled_records") == 200 and value("ml_platform_live_enough_labels") == 1
    drift = platform.instance.fetch_materializations(dg.AssetKey("drift_report"), limit=1).records[0]
    meta = drift.asset_materialization.metadata
    assert value("ml_platform_drift_share", batch=drift.asset_materialization.partition) == meta["drifted_share"].value
    assert value("ml_platform_drift_detected", batch=drift.asset_materialization.partition) == (meta["decision"].value == "drift")
    registry = platform.registry
    assert value("ml_platform_champion_version") == 1 == int(registry.champion_version()), "the rollback shows"
    assert value("ml_platform_champion_info", model_version="1",
                 data_version=registry.version_tags("1")["data_version"]) == 1
    landed = platform.instance.fetch_materializations(dg.AssetKey("raw_data"), limit=1).records[0]
    assert value("ml_platform_last_batch_landed_timestamp_seconds") == pytest.approx(landed.timestamp)
    assert value("ml_platform_retrain_last_success") == 1


def alert_states(prometheus_url: str) -> dict[str, str]:
    alerts = httpx.get(f"{prometheus_url}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
    return {a["labels"]["alertname"]: a["state"] for a in alerts}


def test_bad_traffic_and_a_failing_model_raise_the_shipped_alerts(traffic):
    expected, deadline = {"ClientErrorRatioSpike", "LiveScoreBelowThreshold"}, time.monotonic() + 60
    while not expected <= set(states := alert_states(traffic.url)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert expected <= set(states), states
    assert states["ClientErrorRatioSpike"] in ("pending", "firing")
    assert states["LiveScoreBelowThreshold"] in ("pending", "firing")
    assert {"BentoDown", "BentoNotReady", "PushgatewayDown", "ServerErrorRatioHigh"}.isdisjoint(states), states
    up = {r["metric"]["job"]: r["value"][1] for r in servers.query(traffic.url, "up")}
    assert up == {"ml-platform-bento": "1", "ml-platform-pushgateway": "1"}


def test_every_dashboard_panel_query_parses_and_returns_series(platform, traffic):
    """Rates over 10 minutes: the traffic is over by now, and on a loaded machine the Bento's 1 s scrapes
    may have failed for a while since (its samples then go stale; a 1-minute window can come back empty)."""
    panels = generate_module().dashboard()["panels"]
    assert len(panels) >= 12
    for panel in panels:
        for target in panel["targets"]:
            promql = (target["expr"].replace("$__rate_interval", "10m").replace("$dataset", platform.spec.name)
                      .replace("$model", ".*"))  # the model variable's "All" (a Bento served with no model label)
            assert servers.query(traffic.url, promql), f"{panel['title']}: {promql} returned no series"
