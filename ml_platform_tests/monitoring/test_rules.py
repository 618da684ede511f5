"""The alert rules pass `promtool check rules`, every alert has a `promtool test rules` case, and the
generated files (PrometheusRule, dashboard) and the two scrape configs agree with their sources."""

import copy
import json
import importlib.util
import re
import subprocess

import yaml

from ml_platform.definitions import PROJECT_DIR

MONITORING = PROJECT_DIR / "deploy" / "monitoring"
RULES, RULE_TESTS = MONITORING / "ml-platform.rules.yml", MONITORING / "ml-platform.rules.test.yml"


def generate_module():
    spec = importlib.util.spec_from_file_location("monitoring_generate", MONITORING / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def promtool(*args: str) -> subprocess.CompletedProcess:
    """Debian's promtool (`make test` installs it); a missing tool fails the test, it never skips."""
    return subprocess.run(["promtool", *args], cwd=MONITORING, capture_output=True, text=True, timeout=120)


def test_promtool_checks_the_rules_and_the_local_scrape_config():
    checked = promtool("check", "rules", RULES.name)
    assert checked.returncode == 0 and "SUCCESS: 14 rules found" in checked.stdout, checked.stdout + checked.stderr
    config = promtool("check", "config", "prometheus.local.yml")
    assert config.returncode == 0, config.stdout + config.stderr


def test_every_alert_passes_its_promtool_unit_tests_and_has_one():
    result = promtool("test", "rules", RULE_TESTS.name)
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr
    alerts = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    cases = [case for test in yaml.safe_load(RULE_TESTS.read_text())["tests"] for case in test["alert_rule_test"]]
    fired = {case["alertname"] for case in cases if case.get("exp_alerts")}
    quiet = {case["alertname"] for case in cases if not case.get("exp_alerts")}
    assert fired == alerts, f"alerts without a firing case: {alerts - fired}"
    assert quiet == alerts, f"alerts never shown quiet: {alerts - quiet}"


def test_a_broken_rule_is_caught_by_promtool(tmp_path):
    broken = yaml.safe_load(RULES.read_text())
    broken["groups"][0]["rules"][0]["expr"] = "up{job= == 0"
    (tmp_path / "broken.yml").write_text(yaml.safe_dump(broken))
    result = subprocess.run(["promtool", "check", "rules", str(tmp_path / "broken.yml")], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0 and "parse error" in (result.stdout + result.stderr)


def test_generated_files_are_up_to_date():
    for path, text in generate_module().rendered().items():
        assert path.read_text() == text, f"{path.name} is stale: run python deploy/monitoring/generate.py"


def test_the_prometheus_rule_carries_exactly_the_rule_files_groups():
    rule = yaml.safe_load((PROJECT_DIR / "deploy" / "k8s" / "base" / "monitoring-rules.yaml").read_text())
    assert rule["kind"] == "PrometheusRule"
    assert rule["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"]


def test_the_kubernetes_scrape_config_is_the_local_one_but_for_target_discovery():
    """Debian's promtool has no Kubernetes discovery, so the cluster config is checked through the local one."""
    cluster = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    local = yaml.safe_load((MONITORING / "prometheus.local.yml").read_text())
    as_local = copy.deepcopy(cluster)
    for job, local_job in zip(as_local["scrape_configs"], local["scrape_configs"], strict=True):
        keep = job.pop("relabel_configs")[0]
        assert keep["action"] == "keep" and re.fullmatch(keep["regex"], f"{job['job_name'].split('-')[-1]};http")
        assert job.pop("kubernetes_sd_configs") == [{"role": "endpoints", "namespaces": {"names": ["ml-platform"]}}]
        job["static_configs"] = local_job["static_configs"]
    assert as_local == local


def test_the_dashboard_has_every_asked_panel_tiled_on_the_datasource_variable():
    board = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    panels = board["panels"]
    assert len({p["id"] for p in panels}) == len({(p["gridPos"]["x"], p["gridPos"]["y"]) for p in panels}) == len(panels)
    assert {p["datasource"]["uid"] for p in panels} == {"${datasource}"}
    assert [v["name"] for v in board["templating"]["list"]] == ["datasource", "model", "dataset"]
    [models] = [v for v in board["templating"]["list"] if v["name"] == "model"]
    assert models["allValue"] == ".*", "All also matches a Bento scraped with no model label (make serve)"
    serving = [t["expr"] for p in panels for t in p["targets"] if 'job="ml-platform-bento"' in t["expr"]]
    assert serving and all('model=~"$model"' in expr for expr in serving), "every serving panel is per model"
    titles = " | ".join(p["title"].lower() for p in panels)
    for asked in ("request rate", "latency", "error ratio", "per model call", "predictions by class", "model version",
                  "live score", "drift share", "data freshness"):
        assert asked in titles, asked
