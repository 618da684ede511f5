"""The champion is identified by (version, sha256) and comes from MLflow's artifact store when the BentoML
store does not hold that very model: a Bento pod whose image carries another model, or none."""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
import pytest

from ml_platform.lib import model_store
from ml_platform.lib.alias_follower import AliasFollower
from ml_platform.lib.compiled_pipeline import probe_rows
from ml_platform.lib.features import model_spec
from ml_platform.lib.model_format import ModelIntegrityError
from ml_platform.lib.registry import MODEL_SHA256_TAG
from ml_platform.lib.served_model import from_store
from ml_platform_tests.fresh_registry import artifact_file, fitted, fresh_registry, register
from ml_platform_tests.models.conftest import logged_file
from ml_platform_tests.tampering import tampered


class Follower:
    """An AliasFollower of `champion` that records what it was given and what it refused."""

    def __init__(self, tracking_uri, spec, home, interval=0.05, serving=None):
        self.loaded, self.refused = [], []
        self.follower = AliasFollower(tracking_uri, spec, str(home), {"champion": "champion"},
                                      on_load=lambda role, model: self.loaded.append(model),
                                      on_failure=lambda role, version, exc: self.refused.append(exc),
                                      interval_seconds=interval, serving=serving)


def probabilities(model, spec) -> np.ndarray:
    inputs = model_spec(spec)
    return model.predict_proba(pd.DataFrame(probe_rows(inputs), columns=inputs.feature_names))


def test_the_champion_comes_from_the_artifact_store_when_the_bentoml_store_lacks_it(platform, tmp_path):
    spec, registry = platform.spec, platform.registry
    sha = registry.version_tags("1")[MODEL_SHA256_TAG]
    in_store = Follower(registry.tracking_uri, spec, platform.bentoml_home)
    in_store.follower.poll()
    [stored] = in_store.loaded  # promotion recorded the registry's sha256 beside the stored model
    assert (stored.source, stored.identity) == (f"{spec.name}:v1", ("1", sha))

    pod = Follower(registry.tracking_uri, spec, tmp_path / "empty-store")
    pod.follower.poll()
    [served] = pod.loaded
    assert pod.refused == [] and served.source == f"models:/{spec.name}/1" and served.identity == ("1", sha)
    assert np.array_equal(probabilities(served.model, spec), probabilities(stored.model, spec))

    again = Follower(registry.tracking_uri, spec, tmp_path / "empty-store", serving={"champion": ("1", sha)})
    again.follower.poll()
    assert again.loaded == [] and again.refused == [], "the model already served is not loaded again"


def test_a_tampered_artifact_is_refused_and_the_repaired_one_loads(platform, tmp_path):
    spec, registry = platform.spec, platform.registry
    pod = Follower(registry.tracking_uri, spec, tmp_path / "empty-store")
    with tampered(logged_file(platform, "1")):
        pod.follower.poll()
        assert pod.loaded == [] and [type(e) for e in pod.refused] == [ModelIntegrityError]
        assert "does not match the recorded" in str(pod.refused[0])
    time.sleep(0.1)  # past the retry delay
    pod.follower.poll()
    assert [m.identity for m in pod.loaded] == [("1", registry.version_tags("1")[MODEL_SHA256_TAG])]


def test_a_fresh_registrys_v1_is_served_not_the_stored_v1_of_another_registry(platform, tmp_path, caplog):
    spec = platform.spec
    stored = from_store(model_store.find(platform.bentoml_home, model_store.tag_for(spec.name, "1")))
    fresh = fresh_registry(tmp_path / "fresh", spec)
    version, sha = register(fresh, spec, fitted(spec, seed=11))
    assert version == "1" and sha != stored.sha256
    # as a Bento pod starts: serving the v1 its image carries, following a registry that has another v1
    pod = Follower(fresh.tracking_uri, spec, platform.bentoml_home, serving={"champion": stored.identity})
    with caplog.at_level(logging.WARNING, logger="ml_platform.lib.alias_follower"):
        pod.follower.poll()
    [served] = pod.loaded
    assert served.identity == ("1", sha) and served.source == f"models:/{spec.name}/1"
    assert np.array_equal(probabilities(served.model, spec), probabilities(fresh.load_model("1"), spec))
    assert not np.array_equal(probabilities(served.model, spec), probabilities(stored.model, spec))
    assert f"{spec.name}:v1 in the BentoML store is not the registry's v1" in caplog.text


def test_other_bytes_under_the_same_version_are_reloaded_within_the_poll_interval(platform, tmp_path):
    spec, interval = platform.spec, 0.5
    fresh = fresh_registry(tmp_path / "fresh", spec)
    _, first = register(fresh, spec, fitted(spec, seed=11))
    pod = Follower(fresh.tracking_uri, spec, tmp_path / "empty-store", interval=interval)
    pod.follower.poll()
    assert [m.identity for m in pod.loaded] == [("1", first)]
    # the object store's v1 is re-uploaded with other bytes, and its tag with them
    other = fresh_registry(tmp_path / "other", spec)
    _, second = register(other, spec, fitted(spec, seed=12, estimator="random_forest", n_estimators=20))
    artifact_file(fresh, "1").write_bytes(artifact_file(other, "1").read_bytes())
    pod.follower.start()
    try:
        changed = time.monotonic()
        fresh.tag_version("1", {MODEL_SHA256_TAG: second})
        while len(pod.loaded) < 2 and time.monotonic() - changed < 30:
            time.sleep(0.01)
        took = time.monotonic() - changed
    finally:
        pod.follower.stop()
    assert pod.refused == [] and [m.identity for m in pod.loaded] == [("1", first), ("1", second)]
    assert took < interval + 5, f"reloaded {took:.2f} s after the registry changed"
    print(f"other bytes under v1 served {took:.2f} s after the tag changed (poll every {interval} s)")
    assert np.array_equal(probabilities(pod.loaded[1].model, spec), probabilities(other.load_model("1"), spec))
