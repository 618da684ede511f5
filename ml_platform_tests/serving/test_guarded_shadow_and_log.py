"""A service with a bearer token and a shadow challenger, then the inference log it leaves behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ml_platform.lib.inference_log import CLOSED_SUFFIX, FIELDS, OPEN_SUFFIX, closed_files, read_records
from ml_platform_tests.serving.conftest import RECORD, serving

TOKEN = "s3cret-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}
REQUESTS = 40


@pytest.fixture(scope="module")
def guarded(platform):
    platform.registry.client.set_registered_model_alias(platform.spec.name, "challenger", "2")
    with serving(platform, ML_PLATFORM_API_TOKEN=TOKEN, ML_PLATFORM_SHADOW_ALIAS="challenger",
                 ML_PLATFORM_INFERENCE_LOG_MAX_BYTES="4000") as service:
        yield service
    platform.registry.client.delete_registered_model_alias(platform.spec.name, "challenger")


def test_without_the_token_only_probes_and_metrics_answer(guarded):
    with guarded.client() as client:
        assert client.post("/predict", json=RECORD).status_code == 401
        assert client.post("/predict", json=RECORD, headers={"authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/model").status_code == 401
        assert client.get("/docs.json").status_code == 401
        assert [client.get(p).status_code for p in ("/livez", "/readyz", "/metrics")] == [200, 200, 200]
        assert client.post("/predict", json=RECORD, headers=AUTH).status_code == 200


def test_shadow_model_is_loaded_beside_the_champion_and_only_the_champion_answers(guarded):
    with guarded.client(headers=AUTH) as client:
        described = client.get("/model").json()
        response = client.post("/predict", json=RECORD)
    assert described["champion"]["model_version"] == "1" and described["shadow"]["model_version"] == "2"
    assert [p["model_version"] for p in response.json()] == ["1"]


@pytest.fixture(scope="module")
def log_after_clean_shutdown(guarded) -> tuple[Path, list[dict]]:
    with guarded.client(headers=AUTH) as client:
        for i in range(REQUESTS):
            assert client.post("/predict", json=[RECORD, {**RECORD, "age": 60 + i}],
                               headers={"x-request-id": f"logged-{i}"}).status_code == 200
    assert guarded.stop() == 0
    log_dir = Path(guarded.output.parent / f"inference-log-{guarded.url.rsplit(':', 1)[1]}")
    return log_dir, [r for f in closed_files(log_dir) for r in read_records(f)]


def test_every_prediction_is_in_the_log_after_a_clean_shutdown(log_after_clean_shutdown):
    log_dir, records = log_after_clean_shutdown
    assert not list(log_dir.glob(f"*{OPEN_SUFFIX}"))
    assert len(list(log_dir.glob(f"*{CLOSED_SUFFIX}"))) > 1, "4000-byte files should have rotated"
    logged = [r for r in records if r["request_id"].startswith("logged-")]
    assert len(logged) == 2 * REQUESTS
    assert {r["request_id"] for r in logged} == {f"logged-{i}" for i in range(REQUESTS)}
    ages = sorted(r["inputs"]["age"] for r in logged if r["inputs"]["age"] != RECORD["age"])
    assert ages == [60 + i for i in range(REQUESTS)]


def test_log_records_keep_the_contract_and_carry_the_shadow_answer(log_after_clean_shutdown):
    _, records = log_after_clean_shutdown
    for record in records:
        assert set(FIELDS) <= set(record)
        assert record["model_version"] == "1" and record["prediction"] in record["probabilities"]
        assert record["inputs"].keys() == {*RECORD, "age_group"}, "the raw fields and the derived features"
        assert record["shadow"]["model_version"] == "2"
        assert record["shadow"]["prediction"] in record["shadow"]["probabilities"]
        json.dumps(record, allow_nan=False)
