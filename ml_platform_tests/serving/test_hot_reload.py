"""A promotion and a `make rollback` reach a running service under load, with no failed request."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter

import httpx

from ml_platform.definitions import PROJECT_DIR
from ml_platform.defs.promotion.alias_history import recorded_moves
from ml_platform_tests.serving.conftest import RECORD, serving

# Paced and bounded: the clients must outlast a retrain and a rollback, however fast the service answers.
CLIENTS, MAX_REQUESTS_EACH, PAUSE_SECONDS = 4, 30_000, 0.01


class Load:
    """Clients posting records until stopped; remembers every status (or transport error) and model version."""

    def __init__(self, service):
        self.service, self.stop, self.seen = service, threading.Event(), []
        self.threads = [threading.Thread(target=self._client) for _ in range(CLIENTS)]

    def _client(self) -> None:
        with self.service.client() as client:
            for _ in range(MAX_REQUESTS_EACH):
                if self.stop.is_set():
                    return
                try:
                    response = client.post("/predict", json=RECORD)
                except httpx.HTTPError as exc:  # a failed request too, not a silently dead client
                    self.seen.append((type(exc).__name__, None))
                    continue
                version = response.json()[0]["model_version"] if response.status_code == 200 else None
                self.seen.append((response.status_code, version))
                time.sleep(PAUSE_SECONDS)

    def wait_for(self, version: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.seen and self.seen[-1][1] == version:
                return
            time.sleep(0.1)
        raise AssertionError(f"never served v{version}; last seen {self.seen[-5:]}")

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)


def test_promotion_and_rollback_are_followed_without_a_restart_or_a_failed_request(platform):
    with serving(platform) as service, Load(service) as load:
        load.wait_for("1")
        assert platform.retrain().success
        promoted = platform.registry.champion_version()
        assert promoted not in ("1", "2")
        load.wait_for(promoted)

        rolled_back = subprocess.run(
            [sys.executable, "-m", "ml_platform.rollback"], cwd=PROJECT_DIR, capture_output=True, text=True,
            timeout=120, env={**os.environ, "MLFLOW_TRACKING_URI": platform.resources["mlflow_tracking"].tracking_uri,
                              "BENTOML_HOME": platform.bentoml_home, "ML_PLATFORM_DATASET": str(platform.spec_path),
                              "DAGSTER_HOME": str(platform.root / "dagster_home")})
        assert rolled_back.returncode == 0, rolled_back.stderr
        assert f"from v{promoted} back to v1" in rolled_back.stdout
        journal = [(m.alias, m.from_version, m.to_version) for m in recorded_moves(platform.instance)]
        assert journal[-2:] == [("champion", "1", promoted), ("champion", promoted, "1")], journal
        assert recorded_moves(platform.instance)[-1].actor.startswith("make rollback")
        load.wait_for("1")
        with service.client() as client:
            assert client.get("/model").json()["champion"]["model_version"] == "1"
            metrics = client.get("/metrics").text

    statuses = Counter(status for status, _ in load.seen)
    versions = [version for _, version in load.seen]
    assert statuses == {200: len(load.seen)}, statuses
    assert versions[0] == "1" and promoted in versions and versions[-1] == "1"
    assert 'ml_platform_model_reloads_total{outcome="loaded",role="champion"} 3.0' in metrics


def test_rollback_refuses_when_there_is_nothing_to_go_back_to(platform):
    result = subprocess.run(
        [sys.executable, "-m", "ml_platform.rollback", "--to", "99"], cwd=PROJECT_DIR, capture_output=True,
        text=True, timeout=120, env={**os.environ, "MLFLOW_TRACKING_URI": platform.resources["mlflow_tracking"].tracking_uri,
                                     "BENTOML_HOME": platform.bentoml_home, "ML_PLATFORM_DATASET": str(platform.spec_path),
                                     "DAGSTER_HOME": str(platform.root / "dagster_home")})
    assert result.returncode == 1 and "v99 is not in the BentoML store" in result.stderr
    assert platform.registry.champion_version() == "1"
