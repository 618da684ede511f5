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
