"""A model whose bytes no longer match the checksum promotion recorded is never served.

A running service keeps its champion and says, in /readyz and /metrics, which version it refused and
why, until the alias is rolled back or the artifact repaired (then it loads it by itself); a service that starts on a corrupted model stays up but not ready, answers 503 with Retry-After,
and becomes ready by itself once the alias names a model that passes.
"""

from __future__ import annotations

from pathlib import Path

from ml_platform.lib.model_store import MODEL_FILE
from ml_platform.lib.registry import MODEL_SHA256_TAG
from ml_platform_tests.serving.conftest import RECORD, samples, serving
from ml_platform_tests.tampering import tampered
from ml_platform_tests.waiting import eventually

READY = {"ready": True, "why": "serving", "refused": []}  # and the champion: words, no paths or hashes


def corrupted(platform, version: str):
    """Flip bytes in the middle of a stored model, then put them back."""
    return tampered(Path(platform.bentoml_home, "models", platform.spec.name, f"v{version}", MODEL_FILE))


def refused_gauge(client, version: str) -> float | None:
    for sample in samples(client, "ml_platform_model_refused"):
        if sample.labels.get("model_version") == version:
            assert sample.labels == {"role": "champion", "model_version": version, "reason": "checksum_mismatch"}
            return sample.value
    return None


def test_a_corrupted_new_champion_is_refused_and_the_previous_one_keeps_serving(platform):
    registry = platform.registry

    def sha(version: str) -> str:
        return registry.version_tags(version)[MODEL_SHA256_TAG]

    with serving(platform) as service, service.client() as client:
        assert client.get("/readyz").json() == READY | {"champion": "1"}
        assert client.get("/model").json()["champion"]["model_sha256"] == sha("1")
        try:
            with corrupted(platform, "2"):
                registry.set_champion("2")
                readiness = eventually(lambda: (r := client.get("/readyz")).json()["refused"] and r)
                assert readiness.status_code == 200
                [refusal] = readiness.json()["refused"]
                assert refusal == {"role": "champion", "model_version": "2", "reason": "checksum_mismatch"}
                [detailed] = client.get("/model").json()["refused"]  # the detail only to an authenticated caller
                assert "does not match the recorded" in detailed["detail"]
                assert refused_gauge(client, "2") == 1
                for _ in range(20):
                    answer = client.post("/predict", json=RECORD)
                    assert answer.status_code == 200 and answer.json()[0]["model_version"] == "1"
                registry.set_champion("1")  # the operator rolls back: nothing is refused any more
                eventually(lambda: client.get("/readyz").json()["refused"] == [])
                assert refused_gauge(client, "2") == 0
                registry.set_champion("2")
                eventually(lambda: client.get("/readyz").json()["refused"])
            eventually(lambda: client.post("/predict", json=RECORD).json()[0]["model_version"] == "2")
            assert client.get("/readyz").json() == READY | {"champion": "2"}
            assert client.get("/model").json()["champion"]["model_sha256"] == sha("2")
            assert refused_gauge(client, "2") == 0
        finally:
            registry.set_champion("1")
            eventually(lambda: client.get("/readyz").json()["champion"] == "1")


def test_a_service_started_on_a_corrupted_model_is_up_but_not_ready_until_a_good_one_is_named(platform):
    with corrupted(platform, "1"), serving(platform, wait_until_ready=False) as service, service.client() as client:
        readiness = eventually(lambda: (r := client.get("/readyz")).json()["refused"] and r)
        assert readiness.status_code == 503
        assert readiness.json()["ready"] is False and readiness.json()["champion"] is None
        assert readiness.json()["why"] == "no champion model is loaded"
        assert readiness.json()["refused"][0]["reason"] == "checksum_mismatch"
        refused = client.post("/predict", json=RECORD)
        assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
        assert "no model loaded" in refused.text
        assert client.post("/elsewhere", json=RECORD).status_code == 404, "only /predict waits for a model"
        assert client.get("/readyz").status_code == 503
        rejected = {s.labels["reason"]: s.value for s in samples(client, "ml_platform_rejected_requests_total")}
        assert rejected.get("no_model") == 1, f"the probes' 503s are not refused requests: {rejected}"
        platform.registry.set_champion("2")
        try:
            eventually(lambda: client.get("/readyz").status_code == 200)
            answer = client.post("/predict", json=RECORD)
            assert answer.status_code == 200 and answer.json()[0]["model_version"] == "2"
            assert client.get("/readyz").json()["refused"] == []
        finally:
            platform.registry.set_champion("1")
    assert "refusing the model built into the Bento (v1)" in service.output.read_text()
