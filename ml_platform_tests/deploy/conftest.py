"""Fixtures for the Kubernetes proofs: PostgreSQL, the stand-in API server, and the deploy/ instance on both."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from ml_platform.definitions import PROJECT_DIR
from ml_platform_tests.deploy.postgres_server import PostgresServer
from ml_platform_tests.deploy.stand_in_api import StandInApiServer

DEPLOY = PROJECT_DIR / "deploy"
NAMESPACE = "ml-platform"
PG_PASSWORD = "local-test-only"
# What the chart's pods have in their environment (from dagster-postgresql-secret) for the instance config.
CHART_ENV = {"DAGSTER_PG_PASSWORD": PG_PASSWORD}


@pytest.fixture(scope="session")
def postgres():
    server = PostgresServer(PG_PASSWORD).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def stand_in_api():
    server = StandInApiServer().start()
    yield server
    server.stop()


def instance_config_for_test(postgres: PostgresServer, db_name: str, kubeconfig: Path) -> dict:
    """deploy/dagster-k8s.yaml with the only two things a test must change: where PostgreSQL and the API server are."""
    config = yaml.safe_load((DEPLOY / "dagster-k8s.yaml").read_text())
    db = config["run_storage"]["config"]["postgres_db"]
    db.update(hostname="127.0.0.1", port=postgres.port, db_name=db_name)
    config["run_launcher"]["config"].update(load_incluster_config=False, kubeconfig_file=str(kubeconfig))
    return config


@pytest.fixture
def k8s_instance_home(tmp_path, postgres, stand_in_api, monkeypatch):
    """A DAGSTER_HOME whose dagster.yaml is deploy's, on a fresh database, launching into the stand-in."""
    for name, value in CHART_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PYTHONPATH", str(PROJECT_DIR))
    if str(PROJECT_DIR) not in sys.path:
        sys.path.insert(0, str(PROJECT_DIR))
    home = tmp_path / "dagster_home"
    home.mkdir()
    kubeconfig = stand_in_api.write_kubeconfig(tmp_path / "kubeconfig", NAMESPACE)
    db_name = postgres.create_database(f"dagster_{tmp_path.name.lower().replace('-', '_')}"[:60])
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance_config_for_test(postgres, db_name, kubeconfig)))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home
