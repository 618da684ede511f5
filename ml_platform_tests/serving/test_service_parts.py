"""The service's parts that a running service cannot be made to show on demand, tested in process.

Refusal reasons for every kind of failure, the follower's retry schedule, the BentoML hot-path
fixes and the worker setting; the end-to-end behaviour is in the other tests of this folder.
"""

from __future__ import annotations

import gc
from types import SimpleNamespace

import pytest
from prometheus_client import REGISTRY

from ml_platform.lib import alias_follower
from ml_platform.lib.alias_follower import MAX_RETRY_SECONDS, AliasFollower
from ml_platform.lib.inference_log_writer import InferenceLogWriter
from ml_platform.lib.model_store import ModelIntegrityError, ModelNotInStore
from ml_platform.lib.served_model import ServedModel
from ml_platform_tests.test_compiled_pipeline import SPEC, fitted
from serving.bentoml_hot_path import bind_api_methods, memoize_json_schemas
from serving.heap import freeze_heap
from serving.refusals import AliasRemoved, IncompatibleModel, reason_for
from serving.settings import Settings
from serving.state import ServingState


@pytest.mark.parametrize("error, reason", [
    (ModelIntegrityError("bytes"), "checksum_mismatch"), (ModelNotInStore("v9"), "not_in_store"),
    (IncompatibleModel("features"), "incompatible"), (AliasRemoved("gone"), "alias_removed"),
    (KeyError("sha256"), "load_error"), (ValueError("pickle"), "load_error")])
def test_every_failure_has_its_own_reason(error, reason):
    assert reason_for(error) == reason


def test_a_swap_that_cannot_be_served_is_refused_and_the_champion_kept(tmp_path):
    state = ServingState(Settings.from_env())
    state.writer = InferenceLogWriter(tmp_path)
    champion = ServedModel(fitted("logistic_regression", {}), "1", "d1", SPEC, source="test")
    state.swap("champion", champion)
    narrower = SPEC.model_copy(update={"features": SPEC.features[:-1]})
    with pytest.raises(IncompatibleModel):
        state.swap("champion", ServedModel(champion.model, "2", "d2", narrower, source="test"))
    with pytest.raises(AliasRemoved):
        state.swap("champion", None)
    assert state.champion is champion

    state._reload_failed("champion", "2", ModelIntegrityError("altered"))
    labels = {"role": "champion", "model_version": "2", "reason": "checksum_mismatch"}
    assert REGISTRY.get_sample_value("ml_platform_model_refused", labels) == 1
    assert state.readiness() == (200, {"ready": True, "why": "serving", "champion": "1", "refused": [labels]})
    assert state.describe()["refused"] == [{**labels, "detail": "altered"}]
    assert state.describe()["inference_log"] == {"writable": True, "error": None}
    state.writer.close()
    state.refusals.clear("champion")
    assert REGISTRY.get_sample_value("ml_platform_model_refused", labels) == 0


def test_a_refused_version_is_retried_with_a_doubling_delay_and_reported_once(tmp_path, monkeypatch):
    now = [0.0]
    monkeypatch.setattr(alias_follower, "time", SimpleNamespace(monotonic=lambda: now[0]))
    failures, settled, attempts = [], [], []
    follower = AliasFollower(f"sqlite:///{tmp_path / 'mlflow.db'}", SPEC, str(tmp_path), {"champion": "champion"},
                             on_load=lambda role, model: None, on_failure=lambda *args: failures.append(args[:2]),
                             on_settled=settled.append, interval_seconds=1.0, serving={"champion": ("1", "")})
    alias = ["2"]
    monkeypatch.setattr(follower.registry, "alias_tags", lambda name: (alias[0], {}))

    def broken(role, named, tags):
        attempts.append(now[0])
        raise ModelIntegrityError("altered")

    monkeypatch.setattr(follower, "_load", broken)
    for second in range(200):
        now[0] = float(second)
        follower.poll()
    assert failures == [("champion", "2")]
    assert attempts[:6] == [0, 1, 3, 7, 15, 31]
    assert all(b - a <= MAX_RETRY_SECONDS for a, b in zip(attempts, attempts[1:]))

    alias[0] = "1"  # the rollback: the alias names what is served again
    follower.poll()
    follower.poll()
    assert settled == ["champion"] and len(failures) == 1


def test_json_schemas_are_computed_once_and_handed_out_as_copies():
    computed = []

    class Spec:
        @classmethod
        def model_json_schema(cls, *args, **kwargs):
            computed.append(args)
            return {"type": "object", "$defs": {"Record": {}}}

    api = SimpleNamespace(input_spec=type("In", (Spec,), {}), output_spec=type("Out", (Spec,), {}))
    memoize_json_schemas(api)
    first = api.input_spec.model_json_schema()
    first.pop("$defs")  # BentoML's OpenAPI code mutates what it gets
    assert api.input_spec.model_json_schema() == {"type": "object", "$defs": {"Record": {}}}
    api.output_spec.model_json_schema()
    assert len(computed) == 2


def test_api_methods_are_bound_once_and_the_heap_frozen():
    looked_up = []

    class Method:
        def __get__(self, instance, owner):
            looked_up.append(instance)
            return lambda: "answer"

    class Service:
        predict = Method()

    service = Service()
    bind_api_methods(service, {"predict": Service.__dict__["predict"]})
    assert [service.predict() for _ in range(3)] == ["answer"] * 3 and len(looked_up) == 1
    try:
        freeze_heap()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_the_worker_count_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("ML_PLATFORM_SERVICE_WORKERS", raising=False)
    assert Settings.from_env().workers == 1
    monkeypatch.setenv("ML_PLATFORM_SERVICE_WORKERS", "2")
    assert Settings.from_env().workers == 2


def test_the_bentoml_patches_are_on_unless_switched_off(monkeypatch):
    monkeypatch.delenv("ML_PLATFORM_BENTOML_PATCHES", raising=False)
    assert Settings.from_env().bentoml_patches
    monkeypatch.setenv("ML_PLATFORM_BENTOML_PATCHES", "0")
    assert not Settings.from_env().bentoml_patches


def test_a_shadow_that_engineers_its_own_features_is_answered_from_them(tmp_path):
    """The challenger may derive a feature the champion's spec does not have: its answers must come from
    its own features, computed from the logged inputs, not from the champion's rows."""
    from ml_platform.lib.derived_spec import Log
    from ml_platform.lib.features import add_features, add_features_to_rows, model_spec
    from ml_platform.lib.generator import customer_segmentation
    from ml_platform.lib.modeling import build_pipeline
    from serving.answering import Answering
    from serving.metrics import metrics

    spec = SPEC.model_copy(update={"derived": [*SPEC.derived, Log(name="log_income", kind="log1p", column="income")]})
    frame = add_features(spec, customer_segmentation(1500, seed=3))
    inputs = model_spec(spec).feature_names
    assert "log_income" in inputs
    pipeline = build_pipeline(spec, "logistic_regression", {}, seed=1).fit(frame[inputs], frame[spec.target.name])
    shadow = ServedModel(pipeline, "2", "d2", spec, source="test")
    rows = add_features_to_rows(SPEC, customer_segmentation(40, seed=8)[SPEC.feature_names].to_dict("records"))
    assert "log_income" not in rows[0], "the champion's rows lack the challenger's feature"
    logged = [{"inputs": row} for row in rows]
    Answering(metrics).add_shadow_answers(shadow, logged)
    expected = shadow.predict(add_features_to_rows(spec, [{k: r[k] for k in SPEC.feature_names} for r in rows]))
    assert [r["shadow"]["probabilities"] for r in logged] == [p for _, p in expected]
    assert all(r["shadow"]["model_version"] == "2" for r in logged)
