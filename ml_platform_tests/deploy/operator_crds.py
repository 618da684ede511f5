"""The prometheus-operator objects we ship, checked against the fields of its CRDs (monitoring.coreos.com/v1).

kubernetes-validate knows only built-in kinds, and the CRDs themselves are not vendored here, so this
is a strict schema of the subset of ServiceMonitor and PrometheusRule fields that deploy/ uses, typed
as the CRDs type them: an unknown or misspelt field fails, as `kubectl apply --validate=strict` would.
"""

from __future__ import annotations

import jsonschema

DURATION = {"type": "string", "pattern": "^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"}
STRINGS = {"type": "object", "additionalProperties": {"type": "string"}}
METADATA = {"type": "object", "required": ["name"],
            "properties": {"name": {"type": "string"}, "namespace": {"type": "string"}, "labels": STRINGS,
                           "annotations": STRINGS}, "additionalProperties": False}


def _strict(properties: dict, required: list[str] = ()) -> dict:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


RELABELING = _strict({"action": {"enum": ["replace", "keep", "drop", "labelmap", "labeldrop", "labelkeep"]},
                      "targetLabel": {"type": "string"}, "replacement": {"type": "string"},
                      "sourceLabels": {"type": "array", "items": {"type": "string"}}, "regex": {"type": "string"}})
ENDPOINT = _strict({"port": {"type": "string"}, "path": {"type": "string"}, "interval": DURATION,
                    "scrapeTimeout": DURATION, "honorLabels": {"type": "boolean"},
                    "relabelings": {"type": "array", "items": RELABELING}})
SERVICE_MONITOR = _strict({"selector": _strict({"matchLabels": STRINGS}, ["matchLabels"]),
                           "endpoints": {"type": "array", "items": ENDPOINT, "minItems": 1}}, ["selector", "endpoints"])
RULE = _strict({"alert": {"type": "string"}, "record": {"type": "string"}, "expr": {"type": "string"},
                "for": DURATION, "keep_firing_for": DURATION, "labels": STRINGS, "annotations": STRINGS}, ["expr"])
GROUP = _strict({"name": {"type": "string"}, "interval": DURATION, "rules": {"type": "array", "items": RULE}},
                ["name", "rules"])
PROMETHEUS_RULE = _strict({"groups": {"type": "array", "items": GROUP}}, ["groups"])

SPECS = {"ServiceMonitor": SERVICE_MONITOR, "PrometheusRule": PROMETHEUS_RULE}


def is_operator_kind(obj: dict) -> bool:
    return obj.get("apiVersion") == "monitoring.coreos.com/v1"


def validate_operator_object(obj: dict) -> None:
    schema = _strict({"apiVersion": {"const": "monitoring.coreos.com/v1"}, "kind": {"enum": list(SPECS)},
                      "metadata": METADATA, "spec": SPECS.get(obj.get("kind"), {"not": {}})},
                     ["apiVersion", "kind", "metadata", "spec"])
    jsonschema.validate(obj, schema)
