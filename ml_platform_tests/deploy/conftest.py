"""Fixtures for the Kubernetes proofs: PostgreSQL, the stand-in API server, the deploy/ instance on both,
and a deployment: that instance, a workspace loaded as the chart's code server serves it (our image and
the container context the chart builds from deploy/helm/values.yaml), and the code location's env over
ingested batches.
"""

from __future__ import annotations

import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

from ml_platform.definitions import PROJECT_DIR, build_defs, platform_resources
from ml_platform.quickstart import ENV, land_default_batches
from ml_platform_tests.conftest import write_spec
from ml_platform_tests.deploy import launch_paths
from ml_platform_tests.deploy.chart import SUBCHART_FULLNAME, chart_image, user_deployment, user_deployment_container_context
from ml_platform_tests.deploy.postgres_server import PostgresServer
from ml_platform_tests.deploy.stand_in_api import StandInApiServer

DEPLOY = PROJECT_DIR / "deploy"
NAMESPACE = "ml-platform"
PG_PASSWORD = "local-test-only"
# What the chart's pods have in their environment (from dagster-postgresql-secret) for the instance config.
CHART_ENV = {"DAGSTER_PG_PASSWORD": PG_PASSWORD}
# The Secrets a pod's env may reference, as the deployment creates them. The object store's keys are what
# the cluster's Secret holds; the code these tests run still stores in the local folders of its env.
OBJECT_STORE_SECRET = {"AWS_ACCESS_KEY_ID": "local-test-only", "AWS_SECRET_ACCESS_KEY": "local-test-only",
                       "AWS_ENDPOINT_URL": "http://127.0.0.1:8333", "AWS_REGION": "us-east-1"}
POD_SECRETS = {"ml-platform-secrets": {}, "ml-platform-object-store": OBJECT_STORE_SECRET,
               "dagster-postgresql-secret": {"postgresql-username": "dagster", "postgresql-password": PG_PASSWORD},
               # The registry's `pipeline` identity; the tests' tracking store is SQLite, which ignores it.
               "mlflow-pipeline-identity": {"MLFLOW_TRACKING_USERNAME": "pipeline",
                                            "MLFLOW_TRACKING_PASSWORD": PG_PASSWORD}}
# The chart's per-deployment ConfigMap, empty when `env` is a list (ours is), named in the container context.
USER_ENV_CONFIG_MAP = f"{SUBCHART_FULLNAME}-{user_deployment()['name']}-user-env"


def pod_config_maps(platform_env: dict) -> dict[str, dict]:
    """The ConfigMaps a run or step pod's env may reference: ours (the test's env) and the chart's."""
    return {"ml-platform-env": platform_env, USER_ENV_CONFIG_MAP: {}}


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


@pytest.fixture
def code_location() -> str:
    """The `k8s_location` Definitions the workspace loads; a test module overrides it for `step_pod_defs`."""
    return "defs"


@pytest.fixture
def deployment(k8s_instance_home, tmp_path, monkeypatch, code_location):
    """The instance, a loaded workspace, and the code location's env pointing at landed, ingested batches."""
    platform_env = {
        "ML_PLATFORM_DATASET": str(write_spec(tmp_path / "spec.yaml", source={"batches": 2, "rows_per_batch": 400})),
        # The storage root is a local folder here: the pods share nothing else (as on a cluster, the bucket).
        "ML_PLATFORM_STORAGE": str(tmp_path / "data"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "data" / "mlflow"),
        "BENTOML_HOME": str(tmp_path / "bentoml"),
        "ML_PLATFORM_ALERT_WEBHOOK": "",
        "ML_PLATFORM_PUSHGATEWAY_URL": "",
    }
    for name, value in platform_env.items():
        monkeypatch.setenv(name, value)
    local = build_defs(platform_resources(**{arg: platform_env[name] for arg, name in ENV.items()}))
    with dg.DagsterInstance.get() as instance:
        keys = [f.name for f in land_default_batches(local.resources["dataset"].load(), local.resources["storage"])]
        instance.add_dynamic_partitions("batches", keys)
        for key in keys:
            assert local.resolve_job_def("ingest_batch").execute_in_process(instance=instance, partition_key=key).success
        with launch_paths.workspace(instance, code_location, chart_image(user_deployment()["image"]),
                                    user_deployment_container_context()) as context:
            yield instance, context, platform_env, keys
