"""Every load of a model checks the sha256 recorded when it was written: store, shadow, evaluation, staging."""

import shutil
import time

import dagster as dg
import mlflow
import numpy as np
import pandas as pd
import pytest

from ml_platform.lib import model_store
from ml_platform.lib.alias_follower import AliasFollower
from ml_platform.lib.compiled_pipeline import probe_rows
from ml_platform.lib.features import model_spec
from ml_platform.lib.model_format import ModelIntegrityError
from ml_platform.lib.served_model import from_store
from ml_platform_tests.models.conftest import WEAK, logged_file, stored_file
from ml_platform_tests.tampering import tampered


def errors_of(result, node: str) -> str:
    """The class names and messages of a failed step's error and its causes."""
    error, seen = result.failure_data_for_node(node).error, []
    while error is not None:
        seen.append(f"{error.cls_name}: {error.message}")
        error = error.cause
    return "\n".join(seen)


def test_a_tampered_stored_model_is_refused_by_the_service_loader_and_by_staging(platform):
    spec, home = platform.spec, platform.bentoml_home
    stored = model_store.find(home, model_store.tag_for(spec.name, "1"))
    champion = platform.registry.load_model("1")
    with model_store.staged_champion(home, spec.name, "1", champion, spec.model_dump_json(), {}, {}):
        pass  # the same model under the same tag: kept as it is
    with pytest.raises(ModelIntegrityError, match="holding a different model"):
        with model_store.staged_champion(home, spec.name, "1", platform.registry.load_model("2"),
                                         spec.model_dump_json(), {}, {}):
            pass
    with tampered(stored_file(platform, "1")):
        with pytest.raises(ModelIntegrityError, match="does not match the recorded"):
            from_store(stored)
        with pytest.raises(ModelIntegrityError, match="does not match the recorded"):
            with model_store.staged_champion(home, spec.name, "1", champion, spec.model_dump_json(), {}, {}):
                pass
    assert from_store(stored).version == "1"


def test_a_tampered_mlflow_artifact_is_refused_by_the_registry_mlflow_and_a_shadow(platform, tracking):
    spec, registry = platform.spec, platform.registry
    loaded, refused = [], []
    registry.client.set_registered_model_alias(spec.name, "challenger", "2")
    follower = AliasFollower(tracking, spec, platform.bentoml_home, {"shadow": "challenger"},
                             on_load=lambda role, model: loaded.append(model),
                             on_failure=lambda role, version, exc: refused.append(exc), interval_seconds=0.05)
    try:
        with tampered(logged_file(platform, "2")):
            with pytest.raises(ModelIntegrityError, match="does not match the recorded"):
                registry.load_model("2")
            with pytest.raises(ModelIntegrityError, match="does not match the recorded"):
                mlflow.pyfunc.load_model(f"models:/{spec.name}/2")
            follower.poll()
            assert loaded == [] and [type(e) for e in refused] == [ModelIntegrityError]
        time.sleep(0.1)  # past the retry delay: the repaired artifact loads on the next poll
        follower.poll()
        [shadow] = loaded
        assert shadow.version == "2" and shadow.source == f"models:/{spec.name}/2"
    finally:
        registry.client.delete_registered_model_alias(spec.name, "challenger")


def test_the_evaluation_refuses_a_tampered_champion(platform):
    with tampered(logged_file(platform, "1")):
        result = platform.retrain(run_config=WEAK, raise_on_error=False)
    assert not result.success
    assert "ModelIntegrityError" in errors_of(result, "evaluation_report")
    assert platform.registry.champion_version() == "1"


def test_the_promotion_restages_a_lost_champion_only_from_verified_bytes(platform, tmp_path):
    spec, home = platform.spec, platform.bentoml_home
    promote_only = {"instance": platform.instance, "asset_selection": [dg.AssetKey("promoted_model")],
                    "raise_on_error": False}
    shutil.move(stored_file(platform, "1").parent, tmp_path / "v1")  # the store lost the champion
    with tampered(logged_file(platform, "1")):
        result = platform.job("retrain").execute_in_process(**promote_only)
        assert not result.success and "ModelIntegrityError" in errors_of(result, "promoted_model")
        assert model_store.find(home, model_store.tag_for(spec.name, "1")) is None
    assert platform.job("retrain").execute_in_process(**promote_only).success
    restaged = model_store.find(home, model_store.tag_for(spec.name, "1"))
    inputs = model_spec(spec)  # the pipeline's inputs: raw fields and derived features
    rows = pd.DataFrame(probe_rows(inputs), columns=inputs.feature_names)
    assert np.array_equal(from_store(restaged).model.predict_proba(rows),
                          platform.registry.load_model("1").predict_proba(rows))
