"""A Bento following a registry it was not built against serves that registry's models, told apart by
sha256: its own v1 is not the fresh registry's v1, and other bytes registered again as v1 reach it
within a poll. The real service (`bentoml serve`), a real registry and file artifact store."""

from __future__ import annotations

import time

from prometheus_client.parser import text_string_to_metric_families

from ml_platform.lib.features import add_features_to_rows
from ml_platform.lib.inference_log import all_closed_files, read_records
from ml_platform.lib.registry import MODEL_SHA256_TAG
from ml_platform.lib.served_model import ServedModel
from ml_platform_tests.fresh_registry import fitted, fresh_registry, register
from ml_platform_tests.serving.conftest import RECORD, serving
from ml_platform_tests.waiting import eventually

RELOAD_SECONDS = 1.0


def answer_of(model, spec) -> dict[str, float]:
    """The probabilities the service answers RECORD with when it serves `model`."""
    [(_, probabilities)] = ServedModel(model, "1", "", spec, source="test").predict(add_features_to_rows(spec, [RECORD]))
    return probabilities


def served_sha256(client) -> dict[str, float]:
    return {s.labels["model_sha256"]: s.value for family in text_string_to_metric_families(client.get("/metrics").text)
            for s in family.samples if s.name == "ml_platform_model_info" and s.labels["role"] == "champion"}


def test_the_service_serves_the_registrys_v1_by_sha256_and_follows_new_bytes_under_it(platform, tmp_path):
    spec = platform.spec
    baked_sha = platform.registry.version_tags("1")[MODEL_SHA256_TAG]
    fresh = fresh_registry(tmp_path / "fresh", spec)
    _, first = register(fresh, spec, fitted(spec, seed=11))
    first_answer = answer_of(fresh.load_model("1"), spec)
    assert first_answer != answer_of(platform.registry.load_model("1"), spec), "the two v1s must answer apart"
    with serving(platform, MLFLOW_TRACKING_URI=fresh.tracking_uri,
                 ML_PLATFORM_RELOAD_SECONDS=str(RELOAD_SECONDS)) as service, service.client() as client:
        port = service.url.rsplit(":", 1)[1]
        assert client.get("/model").json()["champion"]["model_sha256"] == first  # loaded before it said ready
        assert client.post("/predict", json=RECORD).json()[0]["probabilities"] == first_answer
        champion = client.get("/model").json()["champion"]
        assert (champion["model_version"], champion["model_sha256"]) == ("1", first)
        assert champion["source"] == f"models:/{spec.name}/1"
        assert served_sha256(client) == {baked_sha: 0.0, first: 1.0}

        fresh.client.delete_registered_model(spec.name)  # the registry starts over: v1 again, other bytes
        other = fitted(spec, seed=12, estimator="random_forest", n_estimators=20)
        second_answer = answer_of(other, spec)
        version, second = register(fresh, spec, other)
        registered = time.monotonic()
        eventually(lambda: client.post("/predict", json=RECORD).json()[0]["probabilities"] == second_answer,
                   timeout=RELOAD_SECONDS + 20, what="the new v1's answers")
        took = time.monotonic() - registered
        assert version == "1" and second not in (first, baked_sha)
        readiness, described = client.get("/readyz").json(), client.get("/model").json()
        assert (readiness["champion"], described["champion"]["model_sha256"], readiness["refused"]) == ("1", second, [])
        assert served_sha256(client) == {baked_sha: 0.0, first: 0.0, second: 1.0}
    print(f"re-registered v1 served {took:.2f} s after its alias was set (poll every {RELOAD_SECONDS} s)")
    assert took < RELOAD_SECONDS + 10
    assert f"{spec.name}:v1 in the BentoML store is not the registry's v1" in service.output.read_text()
    logged = [r for path in all_closed_files(platform.root / f"inference-log-{port}") for r in read_records(path)]
    assert {r["model_sha256"] for r in logged} == {first, second}
    assert all(r["model_version"] == "1" for r in logged)
