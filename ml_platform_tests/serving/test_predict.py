"""The built Bento over HTTP: good records, every kind of bad record, probes, /model and /metrics."""

from __future__ import annotations

import json
import math

import pytest

from ml_platform.lib.request_schema import MAX_RECORDS
from ml_platform_tests.serving.conftest import RECORD, samples
from ml_platform_tests.waiting import eventually

CLASSES = {"budget", "standard", "premium", "luxury"}


def post(client, body: str | bytes, **headers):
    return client.post("/predict", content=body, headers={"content-type": "application/json", **headers})


def test_one_record_gets_class_probabilities_versions_and_request_id(service, platform):
    with service.client() as client:
        response = post(client, json.dumps(RECORD))
    assert response.status_code == 200, response.text
    [prediction] = response.json()
    assert prediction["label"] in CLASSES and set(prediction["probabilities"]) == CLASSES
    assert math.isclose(sum(prediction["probabilities"].values()), 1, abs_tol=1e-4)
    assert prediction["label"] == max(prediction["probabilities"], key=prediction["probabilities"].get)
    data_version = platform.registry.version_tags("1")["data_version"]
    assert prediction["model_version"] == response.headers["x-model-version"] == "1"
    assert prediction["data_version"] == response.headers["x-data-version"] == data_version
    assert prediction["code_version"] == response.headers["x-code-version"] != ""
    assert prediction["request_id"] == response.headers["x-request-id"]


def test_a_list_is_predicted_in_order_under_the_callers_request_id(service):
    records = [RECORD, {**RECORD, "income": 900000.0, "spending_score": 99}, {**RECORD, "age": 90}]
    with service.client() as client:
        response = post(client, json.dumps(records), **{"x-request-id": "order-42"})
        singles = [post(client, json.dumps(r)).json()[0] for r in records]
    assert response.status_code == 200
    assert [p["request_id"] for p in response.json()] == ["order-42"] * 3
    assert [p["probabilities"] for p in response.json()] == [p["probabilities"] for p in singles]


BAD_RECORDS = {
    "missing field": ({k: v for k, v in RECORD.items() if k != "income"}, "income"),
    "wrong type": ({**RECORD, "age": "35"}, "age"),
    "bool for a number": ({**RECORD, "spending_score": True}, "spending_score"),
    "unknown category": ({**RECORD, "occupation": "Astronaut"}, "occupation"),
    "look-alike unicode": ({**RECORD, "gender": "Fem\u0430le"}, "gender"),
    "zero-width space": ({**RECORD, "gender": "Female\u200b"}, "gender"),
    "below range": ({**RECORD, "age": 17}, "age"),
    "above range": ({**RECORD, "income": 1e12}, "income"),
    "huge integer": ({**RECORD, "age": 10**40}, "age"),
    "extra field": ({**RECORD, "segment": "luxury"}, "segment"),
    "null": ({**RECORD, "gender": None}, "gender"),
}
BAD_BODIES = {
    "NaN": json.dumps(RECORD).replace("62000.0", "NaN"),
    "Infinity": json.dumps(RECORD).replace("62000.0", "Infinity"),
    "-Infinity": json.dumps(RECORD).replace("62000.0", "-Infinity"),
    "overflowing float": json.dumps(RECORD).replace("62000.0", "1e999"),
    "lone surrogate": json.dumps(RECORD).replace("Teacher", "\\ud800"),
    "invalid utf-8": json.dumps(RECORD).encode().replace(b"Teacher", b"\xff\xfe"),
    "not json": "age=35",
    "empty body": "",
    "null body": "null",
    "empty list": "[]",
    "list of lists": json.dumps([[RECORD]]),
    "too many records": json.dumps([RECORD] * (MAX_RECORDS + 1)),
}


@pytest.mark.parametrize("case", sorted(BAD_RECORDS))
def test_a_bad_record_is_a_400_naming_the_field(service, case):
    record, field = BAD_RECORDS[case]
    with service.client() as client:
        response = post(client, json.dumps(record))
    assert response.status_code == 400, response.text
    error = response.json()
    assert any(e["field"].split(".")[-1] == field for e in error["errors"]), error
    assert f"{field}: " in error["detail"] and field in error["error"]
    assert response.headers["x-model-version"] == "1"


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_a_bad_body_is_a_400_never_a_500(service, case):
    with service.client() as client:
        response = post(client, BAD_BODIES[case])
    assert response.status_code == 400, response.text
    assert "NaN" not in response.text and "Infinity" not in response.text
    json.loads(response.text)


def test_oversized_bodies_are_413_whether_announced_or_streamed(service):
    big = json.dumps([RECORD] * 5000).encode()
    with service.client() as client:
        announced = post(client, big)
        streamed = client.post("/predict", content=iter([big[i:i + 65536] for i in range(0, len(big), 65536)]),
                               headers={"content-type": "application/json"})
    assert announced.status_code == 413 and streamed.status_code == 413, (announced.text, streamed.text)


def test_only_json_is_accepted(service):
    with service.client() as client:
        response = client.post("/predict", content=json.dumps(RECORD), headers={"content-type": "text/csv"})
    assert response.status_code == 415


def test_probes_and_model_description(service, platform):
    with service.client() as client:
        assert client.get("/livez").status_code == 200
        assert client.get("/readyz").status_code == 200
        described = client.get("/model").json()
    champion = described["champion"]
    assert champion["model_version"] == "1" and champion["source"] == "customer-segmentation:v1"
    assert champion["data_version"] == platform.registry.version_tags("1")["data_version"]
    assert 0.6 < champion["metrics"]["f1_macro"] <= 1 and described["shadow"] is None


def test_metrics_count_predictions_by_class_rejections_by_reason_and_versions(service):
    with service.client() as client:
        label = post(client, json.dumps(RECORD)).json()[0]["label"]
        post(client, "{}")
        text = client.get("/metrics").text
    assert f'ml_platform_predictions_total{{label="{label}",model_version="1",role="champion"}}' in text
    assert 'ml_platform_rejected_requests_total{reason="invalid_input"}' in text
    assert 'ml_platform_model_info{code_version="' in text and 'model_version="1",role="champion"} 1.0' in text
    assert 'ml_platform_request_duration_seconds_bucket{endpoint="/predict"' in text
    assert "ml_platform_batch_requests_bucket" in text
    assert 'ml_platform_requests_total{endpoint="/predict",status="200"}' in text


GC_PAUSES = "ml_platform_gc_pause_seconds"  # bounded (generation, cause), but each appears with its first collection


def series(client) -> set[tuple[str, tuple]]:
    """Every series on /metrics but the collector's timings, which appear whenever a collection first happens."""
    return {(sample.name, tuple(sorted(sample.labels.items()))) for sample in samples(client)
            if not sample.name.startswith(GC_PAUSES)}


def requests_counted(client, endpoint: str, status: str) -> float:
    return sum(s.value for s in samples(client, "ml_platform_requests_total")
               if s.labels == {"endpoint": endpoint, "status": status})


def test_ten_thousand_made_up_paths_add_no_metric_series(service):
    """An anonymous caller cannot grow /metrics (nor the multiprocess files behind it) by inventing URLs."""
    with service.client() as client:
        assert client.get("/warm-up").status_code == 404  # the `other` series exist from here on
        series(client)  # and /metrics's own: a scrape is counted once it has answered
        before, counted = series(client), requests_counted(client, "other", "404")
        statuses = {client.get(f"/made-up/{n}").status_code for n in range(10_000)}
        after = series(client)
        assert statuses == {404}
        assert after == before, f"new series: {sorted(after - before)[:5]}"
        assert requests_counted(client, "other", "404") == counted + 10_000
        assert not any("/made-up" in str(labels) for _, labels in after)


def test_a_newline_in_a_path_cannot_forge_a_log_line(service):
    with service.client() as client:
        assert client.get("/x%0aGET /predict refused 200 forged%0d%e2%80%a8").status_code == 404

    def logged() -> list[str] | None:  # the arbiter relays the worker's output: it may lag a busy worker
        return [line for line in service.output.read_text().splitlines() if "/x\\nGET /predict" in line] or None

    [line] = eventually(logged, 30, "the refusal's log line")
    lines = service.output.read_text().splitlines()
    assert "refused 404 not_found" in line and "forged\\r\\u2028" in line
    assert not any(line.startswith("GET /predict refused 200 forged") for line in lines)
