"""The served edge as production runs it: JWTs beside the static token, a per-client rate limit,
and logs an operator can use (JSON lines; one line per refused request, no traceback)."""

from __future__ import annotations

import json

import pytest

from ml_platform_tests.serving.conftest import RECORD, serving
from ml_platform_tests.serving.test_access import CLAIMS, SECRET, bearer, signed

STATIC = "static-edge-token"
BURST = 5


@pytest.fixture(scope="module")
def edge(platform):
    with serving(platform, ML_PLATFORM_API_TOKEN=STATIC, ML_PLATFORM_JWT_SECRET=SECRET,
                 ML_PLATFORM_JWT_ISSUER=CLAIMS["iss"], ML_PLATFORM_JWT_AUDIENCE=CLAIMS["aud"],
                 ML_PLATFORM_RATE_LIMIT_PER_SECOND="0.5", ML_PLATFORM_RATE_LIMIT_BURST=str(BURST),
                 ML_PLATFORM_LOG_FORMAT="json") as service:
        yield service


def log_lines(service) -> list[dict]:
    return [json.loads(line) for line in service.output.read_text().splitlines() if line.startswith("{")]


def test_a_bad_jwt_gets_401_with_the_reason_and_a_good_one_or_the_static_token_is_served(edge):
    with edge.client() as client:
        expired = client.post("/predict", json=RECORD, headers={"authorization": bearer(signed(exp=1)).decode()})
        assert expired.status_code == 401 and expired.json() == {"error": "token expired"}
        assert expired.headers["www-authenticate"].startswith("Bearer")
        wrong_audience = client.post("/predict", json=RECORD,
                                     headers={"authorization": bearer(signed(aud="other")).decode()})
        assert wrong_audience.json()["error"] == "token not issued for audience 'ml-platform'"
        good = client.post("/predict", json=RECORD, headers={"authorization": bearer(signed(sub="jwt-ok")).decode()})
        assert good.status_code == 200 and good.json()[0]["label"]
        assert client.post("/predict", json=RECORD, headers={"authorization": f"Bearer {STATIC}"}).status_code == 200
        assert client.get("/livez").status_code == 200, "probes need no credential"


def test_each_subject_has_its_own_bucket_and_an_empty_one_answers_429_with_retry_after(edge):
    greedy = {"authorization": bearer(signed(sub="greedy")).decode()}
    with edge.client() as client:
        statuses = [client.post("/predict", json=RECORD, headers=greedy).status_code for _ in range(BURST + 3)]
        limited = client.post("/predict", json=RECORD, headers=greedy)
        other = client.post("/predict", json=RECORD, headers={"authorization": bearer(signed(sub="polite")).decode()})
        metrics = client.get("/metrics").text
    assert statuses.count(200) == BURST and set(statuses[BURST:]) == {429}
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert limited.json()["error"].startswith("rate limit exceeded")
    assert other.status_code == 200
    assert 'ml_platform_rejected_requests_total{reason="too_many_requests"}' in metrics


def test_a_refused_request_is_one_json_line_with_its_request_id_and_no_traceback(edge):
    with edge.client(headers={"authorization": bearer(signed(sub="log-check")).decode()}) as client:
        bad = client.post("/predict", json={**RECORD, "age": "old"}, headers={"x-request-id": "bad-record-1"})
        assert bad.status_code == 400
        assert client.get("/model").status_code == 200
    lines = log_lines(edge)
    refused = [line for line in lines if line.get("request_id") == "bad-record-1"]
    assert len(refused) == 1, refused
    assert refused[0]["level"] == "WARNING" and refused[0]["status"] == 400 and refused[0]["reason"] == "invalid_input"
    assert "age" in refused[0]["message"]
    output = edge.output.read_text()
    assert "Traceback" not in output and "Exception on /predict" not in output
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
