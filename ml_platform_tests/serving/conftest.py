"""Serving fixtures: one platform with two promoted versions, and the real service in a subprocess.

The platform is built once per session (about 30 s): `make run` gives v1, a retrain promotes v2, and a
rollback makes v1 champion again, so tests start from champion v1 with v2 in the store beside it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import httpx
import pytest

from benchmarks import service_process
from ml_platform.definitions import PROJECT_DIR
from ml_platform.defs.promotion.alias_history import Journal
from ml_platform.lib.rollback import rollback
from ml_platform.quickstart import run_platform
from ml_platform_tests.conftest import Platform, new_platform

RECORD = {"age": 35, "gender": "Female", "income": 62000.0, "occupation": "Teacher", "spending_score": 55}


@pytest.fixture(scope="session")
def platform(tmp_path_factory) -> Iterator[Platform]:
    built = new_platform(tmp_path_factory.mktemp("serving-platform"))
    assert run_platform(built.defs, built.instance) == []
    assert built.retrain().success and built.registry.champion_version() == "2"
    move = rollback(built.registry, built.bentoml_home, move=Journal(built.instance).move)
    assert (move.from_version, move.to_version) == ("2", "1")
    yield built
    built.instance.dispose()


def samples(client: httpx.Client, name: str | None = None) -> list:
    """The service's /metrics samples named `name` (all of them without one)."""
    from prometheus_client.parser import text_string_to_metric_families

    return [sample for family in text_string_to_metric_families(client.get("/metrics").text)
            for sample in family.samples if name is None or sample.name == name]


def register_variant(platform: Platform, model) -> str:
    """`model` logged, registered and staged as a new version the way training and promotion do it
    (skops artifact, `model_sha256` tag, the tag's hash on the store's copy): a service loads it as it
    loads any version, so a test's deliberately broken model is judged like a real one."""
    import mlflow
    from mlflow.models import Model

    from ml_platform.lib import mlflow_flavor, model_store
    from ml_platform.lib.registry import MODEL_SHA256_TAG

    tracking, spec = platform.resources["mlflow_tracking"], platform.spec
    mlflow.set_tracking_uri(tracking.tracking_uri)
    with mlflow.start_run(experiment_id=mlflow.get_experiment_by_name(tracking.experiment_name(spec.name)).experiment_id,
                          run_name="a test's model variant"):
        info = Model.log(artifact_path=None, name="model", flavor=mlflow_flavor, flavor_name="sklearn",
                         sk_model=model, dataset_spec=spec.model_dump(mode="json"), registered_model_name=spec.name)
    version, sha256 = str(info.registered_model_version), info.metadata[mlflow_flavor.SHA256_KEY]
    platform.registry.tag_version(version, {MODEL_SHA256_TAG: sha256})
    with model_store.staged_champion(platform.bentoml_home, spec.name, version, model, spec.model_dump_json(),
                                     {"dataset": spec.name, model_store.REGISTRY_SHA256_LABEL: sha256}, {}):
        pass
    return version


@dataclass
class Service:
    url: str
    process: subprocess.Popen
    output: Path

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)

    def stop(self) -> int:
        """A clean shutdown, as `kill -INT` or Ctrl-C gives it; returns the exit code."""
        return service_process.stop(self.process, timeout=30)


@contextmanager
def serving(platform: Platform, target: str = "serving.service:Classifier", wait_until_ready: bool = True,
            prefix: tuple[str, ...] = (), **env: str) -> Iterator[Service]:
    """`bentoml serve` on a free 127.0.0.1 port, following the platform's registry and store."""
    port = service_process.free_port()
    output = platform.root / f"service-{port}.log"
    environment = {**os.environ, "BENTOML_HOME": platform.bentoml_home, "BENTOML_DO_NOT_TRACK": "True",
                   "ML_PLATFORM_MODEL_TAG": "customer-segmentation:v1",
                   "MLFLOW_TRACKING_URI": platform.resources["mlflow_tracking"].tracking_uri,
                   "ML_PLATFORM_INFERENCE_LOG_DIR": str(platform.root / f"inference-log-{port}"),
                   "ML_PLATFORM_RELOAD_SECONDS": "0.5", **env}
    if target.startswith("serving."):  # from the checkout; a built Bento must bring its own code
        environment["PYTHONPATH"] = str(PROJECT_DIR)
    service = Service(f"http://127.0.0.1:{port}", service_process.start(target, environment, port, output, prefix), output)
    try:
        service_process.wait_until_up(service.process, port, "/readyz" if wait_until_ready else "/livez",
                                      output=output)
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="module")
def service(platform) -> Iterator[Service]:
    """The Bento the `bento` asset built, served as `make serve` serves it.

    One per test module and never two at once: every `bentoml serve` on a BENTOML_HOME empties that
    home's `prometheus_multiproc_dir`, wiping the metrics of any service already running on it.
    """
    bento = platform.instance.fetch_materializations(dg.AssetKey("bento"), limit=10).records
    first = [r for r in bento if r.asset_materialization.metadata["model_tag"].value.endswith(":v1")]
    with serving(platform, target=first[0].asset_materialization.metadata["bento_tag"].value) as running:
        yield running
