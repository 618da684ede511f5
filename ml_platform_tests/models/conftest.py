"""One platform for the model tests: champion v1 (BentoML store and MLflow) and a weaker v2 never promoted.

Tests that alter a model's bytes put them back, so the platform is built once (about 40 s).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import mlflow
import pytest

from ml_platform.lib import model_store
from ml_platform.lib.mlflow_flavor import MODEL_FILE
from ml_platform.quickstart import run_platform
from ml_platform_tests.conftest import Platform, new_platform

WEAK = {"ops": {"trained_model": {"config": {"estimators": ["logistic_regression"], "logistic_c": [1e-5]}}}}


@pytest.fixture(scope="session")
def platform(tmp_path_factory) -> Iterator[Platform]:
    built = new_platform(tmp_path_factory.mktemp("model-platform"))
    assert run_platform(built.defs, built.instance) == []
    assert not built.retrain(run_config=WEAK).output_for_node("promoted_model")["promoted"]
    assert model_store.find(built.bentoml_home, model_store.tag_for(built.spec.name, "2")) is None
    yield built
    built.instance.dispose()


@pytest.fixture
def tracking(platform) -> Iterator[str]:
    """MLflow's fluent API (`mlflow.pyfunc.load_model`, ...) pointed at the platform's registry."""
    uri, previous = platform.resources["mlflow_tracking"].tracking_uri, mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    yield uri
    mlflow.set_tracking_uri(previous)


def logged_file(platform: Platform, version: str) -> Path:
    """The version's model file in MLflow's artifact store."""
    uri = platform.registry.client.get_model_version_download_uri(platform.spec.name, version)
    return Path(urlparse(uri).path, MODEL_FILE)


def stored_file(platform: Platform, version: str) -> Path:
    """The version's model file in the BentoML store."""
    return Path(platform.bentoml_home, "models", platform.spec.name, f"v{version}", model_store.MODEL_FILE)
