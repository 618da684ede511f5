"""Writes the generated monitoring files: the Grafana dashboard and the PrometheusRule of the alert rules.

    python deploy/monitoring/generate.py

The alert rules are written once, in ml-platform.rules.yml (what promtool tests); the PrometheusRule
for prometheus-operator users wraps the same groups, so the two cannot drift apart. The dashboard is
plain Grafana JSON (schemaVersion 39) made here rather than with grafana-foundation-sdk, whose PyPI
releases are epoch-numbered daily builds (`1769699379!11.6.0`) that do not pin to a stable name.
A test regenerates both and requires the committed files to be equal.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
RULES = HERE / "ml-platform.rules.yml"
DASHBOARD = HERE / "grafana-dashboard.json"
PROMETHEUS_RULE = HERE.parent / "k8s" / "base" / "monitoring-rules.yaml"

BENTO = 'job="ml-platform-bento", model=~"$model"'  # every model's Bento, labelled with its model on scrape
PREDICT = f'{BENTO}, endpoint="/predict"'
QUALITY = 'job="ml_platform_quality", dataset=~"$dataset"'
RATE = "$__rate_interval"


def _quantiles(metric: str, selector: str, by: str = "") -> list[tuple[str, str]]:
    return [(f"histogram_quantile({q}, sum by (le{by}) (rate({metric}_bucket{{{selector}}}[{RATE}])))", f"p{round(q * 100)}")
            for q in (0.5, 0.95, 0.99)]


def _ratio(status: str) -> str:
    total = f"sum by (job) (rate(ml_platform_request_duration_seconds_count{{{PREDICT}}}[{RATE}]))"
    part = f'sum by (job) (rate(ml_platform_request_duration_seconds_count{{{PREDICT}, status=~"{status}"}}[{RATE}]))'
    return f"({part} or {total} * 0) / {total}"  # 0, not no data, while nothing failed


# (title, panel type, unit, [(PromQL, legend)])
PANELS = [
    ("Request rate by status", "timeseries", "reqps",
     [(f"sum by (model, status) (rate(ml_platform_request_duration_seconds_count{{{PREDICT}}}[{RATE}]))", "{{model}} {{status}}")]),
    ("Latency of /predict", "timeseries", "s", _quantiles("ml_platform_request_duration_seconds", f'{PREDICT}, status="200"')),
    ("Error ratio", "timeseries", "percentunit", [(_ratio("4.."), "4xx"), (_ratio("5.."), "5xx")]),
    ("Refused requests by reason", "timeseries", "reqps",
     [(f"sum by (reason) (rate(ml_platform_rejected_requests_total{{{BENTO}}}[{RATE}]))", "{{reason}}")]),
    ("Records per model call", "timeseries", "short", _quantiles("ml_platform_batch_records", BENTO)),
    ("Predictions by class", "timeseries", "short",
     [(f'sum by (label) (rate(ml_platform_predictions_total{{{BENTO}, role="champion"}}[{RATE}]))', "{{label}}")]),
    ("Served model version", "stat", "none",
     [(f'max by (model, model_version, data_version) (ml_platform_model_info{{{BENTO}, role="champion"}})',
       "{{model}} v{{model_version}} data {{data_version}}")]),
    ("Registry champion", "stat", "none", [(f"ml_platform_champion_version{{{QUALITY}}}", "{{dataset}}")]),
    ("Live score on labelled traffic", "timeseries", "percentunit",
     [(f"ml_platform_live_score{{{QUALITY}}}", "{{metric}}"),
      (f"ml_platform_live_score_threshold{{{QUALITY}}}", "minimum ({{metric}})")]),
    ("Drift share of the latest batch", "timeseries", "percentunit",
     [(f"ml_platform_drift_share{{{QUALITY}}}", "{{batch}}"), (f"ml_platform_drift_detected{{{QUALITY}}}", "drift decided")]),
    ("Data freshness: since the last batch", "stat", "s",
     [(f"time() - ml_platform_last_batch_landed_timestamp_seconds{{{QUALITY}}}", "{{dataset}}")]),
    ("Last retrain succeeded", "stat", "bool", [(f"ml_platform_retrain_last_success{{{QUALITY}}}", "{{dataset}}")]),
]


def dashboard() -> dict:
    source = {"type": "prometheus", "uid": "${datasource}"}
    panels = []
    for index, (title, kind, unit, queries) in enumerate(PANELS):
        panels.append({
            "id": index + 1, "type": kind, "title": title, "datasource": source,
            "gridPos": {"h": 8, "w": 12, "x": (index % 2) * 12, "y": (index // 2) * 8},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "targets": [{"refId": chr(ord("A") + i), "datasource": source, "expr": expr, "legendFormat": legend}
                        for i, (expr, legend) in enumerate(queries)],
        })
    datasets = {"type": "query", "name": "dataset", "label": "dataset", "datasource": source, "refresh": 2,
                "query": {"query": 'label_values(push_time_seconds{job="ml_platform_quality"}, dataset)', "refId": "datasets"},
                "includeAll": True, "multi": True, "current": {"text": "All", "value": "$__all"}}
    # The models whose Bentos are scraped; "All" is a regex that also matches series with no model label
    # (a local `make serve`, the single-model shortcut).
    models = {"type": "query", "name": "model", "label": "model", "datasource": source, "refresh": 2,
              "query": {"query": 'label_values(up{job="ml-platform-bento"}, model)', "refId": "models"},
              "includeAll": True, "multi": True, "allValue": ".*", "current": {"text": "All", "value": "$__all"}}
    return {"uid": "ml-platform", "title": "ml_platform: serving and model quality", "tags": ["ml_platform"],
            "schemaVersion": 39, "editable": True, "refresh": "30s", "time": {"from": "now-6h", "to": "now"},
            "templating": {"list": [{"type": "datasource", "name": "datasource", "query": "prometheus"}, models, datasets]},
            "panels": panels}


def prometheus_rule() -> dict:
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
            "metadata": {"name": "ml-platform", "labels": {"app.kubernetes.io/name": "ml-platform-alerts"}},
            "spec": {"groups": yaml.safe_load(RULES.read_text())["groups"]}}


class _BlockDumper(yaml.SafeDumper):
    """Multi-line PromQL as block literals, so the generated file reads like the rule file."""


_BlockDumper.add_representer(str, lambda dumper, text: dumper.represent_scalar(
    "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None))


def rendered() -> dict[Path, str]:
    header = "# Generated by deploy/monitoring/generate.py from deploy/monitoring/ml-platform.rules.yml: edit that.\n"
    return {DASHBOARD: json.dumps(dashboard(), indent=2) + "\n",
            PROMETHEUS_RULE: header + yaml.dump(prometheus_rule(), Dumper=_BlockDumper, sort_keys=False, width=200)}


if __name__ == "__main__":
    for path, text in rendered().items():
        path.write_text(text)
        print(f"wrote {path}")
