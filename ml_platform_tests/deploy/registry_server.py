"""The MLflow server as deploy/k8s/base/mlflow.yaml runs it, on this machine: the Deployment's own command
line and environment (the basic-auth app, its auth config from the ConfigMap, PostgreSQL for runs and for
users with the password from PGPASSWORD), with only the host, port, database names, artifact root and
Secret values replaced. The built Deployment is read, so what is tested is what gets applied. And the
clients' side: signing in as a pod does, and training and registering as `trained_model` does."""

from __future__ import annotations

import configparser
import os
import re
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from benchmarks.service_process import free_port
from ml_platform.definitions import PROJECT_DIR
from ml_platform.lib.registry_identities import GRANTS, Credentials
from ml_platform_tests.deploy.kustomize import build
from ml_platform_tests.deploy.mlflow_server import serving
from ml_platform_tests.deploy.postgres_server import PostgresServer

OVERLAY = PROJECT_DIR / "deploy" / "k8s" / "overlays" / "dev"


@dataclass(frozen=True)
class RegistryServer:
    url: str
    admin: Credentials


def deployed_mlflow() -> tuple[dict, str]:
    """The MLflow container of the built overlay and the auth config file its ConfigMap holds."""
    objects = {(o["kind"], o["metadata"]["name"]): o for o in build(OVERLAY)}
    [container] = objects[("Deployment", "mlflow")]["spec"]["template"]["spec"]["containers"]
    return container, objects[("ConfigMap", "mlflow-auth-config")]["data"]["basic_auth.ini"]


def _local(uri: str, postgres: PostgresServer, database: str) -> str:
    """The same database URL (driver, user, no password) on the test's PostgreSQL."""
    url = make_url(uri)
    assert url.password is None, "the password comes from PGPASSWORD, never the URL"
    return url.set(host="127.0.0.1", port=postgres.port, database=database).render_as_string()


@contextmanager
def deployed_mlflow_server(root: Path, postgres: PostgresServer, timeout: float = 180) -> Iterator[RegistryServer]:
    container, ini = deployed_mlflow()
    name = re.sub(r"\W", "_", root.name.lower())[:40]
    auth = configparser.ConfigParser()
    auth.read_string(ini)
    auth["mlflow"]["database_uri"] = _local(auth["mlflow"]["database_uri"], postgres,
                                            postgres.create_database(f"auth_{name}"))
    config = root / "basic_auth.ini"
    with config.open("w") as sink:
        auth.write(sink)
    admin = Credentials(auth["mlflow"]["admin_username"], secrets.token_urlsafe(18))
    values = {"PGPASSWORD": postgres.password, "MLFLOW_AUTH_CONFIG_PATH": str(config),
              "MLFLOW_AUTH_ADMIN_PASSWORD": admin.password, "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16),
              "MLFLOW_ARTIFACTS_DESTINATION": str(root / "artifacts")}
    assert set(values) <= {var["name"] for var in container["env"]}, "the test fills only what the pod declares"
    env = {var["name"]: values[var["name"]] if var["name"] in values else var["value"] for var in container["env"]}
    port = free_port()
    args = []
    for arg in container["args"]:
        option, has_value, value = arg.partition("=")
        value = re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], value)
        value = {"--host": "127.0.0.1", "--port": str(port)}.get(option, value)
        if option == "--backend-store-uri":
            value = _local(value, postgres, postgres.create_database(f"tracking_{name}"))
        args.append(f"{option}={value}" if has_value else option)
    command = [sys.executable, "-m", *container["command"], *args, "--workers", "1"]
    # `localhost:*` is among the Deployment's --allowed-hosts; 127.0.0.1 is not.
    with serving(command, root, {**os.environ, **env}, f"http://localhost:{port}", timeout) as url:
        yield RegistryServer(url, admin)


@contextmanager
def signed_in(identity: Credentials) -> Iterator[None]:
    """As every MLflow client in a pod is: credentials in MLFLOW_TRACKING_USERNAME and _PASSWORD."""
    saved = {name: os.environ.get(name) for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")}
    os.environ.update(MLFLOW_TRACKING_USERNAME=identity.username, MLFLOW_TRACKING_PASSWORD=identity.password)
    try:
        yield
    finally:
        for name, value in saved.items():
            os.environ.pop(name) if value is None else os.environ.update({name: value})


def new_identities() -> dict[str, Credentials]:
    """One identity of each kind, with a fresh password."""
    return {kind: Credentials(kind, secrets.token_urlsafe(18)) for kind in GRANTS}


def train_and_register(url: str, artifact_root: str, spec_path: Path) -> str:
    """What `trained_model` does: the experiment, a run, the winner logged, registered and tagged; the version."""
    import mlflow

    from ml_platform.lib.features import add_features
    from ml_platform.lib.generator import customer_segmentation
    from ml_platform.lib.mlflow_logging import log_winner
    from ml_platform.lib.search import Scored
    from ml_platform.resources import DatasetResource, MlflowTracking

    tracking = MlflowTracking(tracking_uri=url, artifact_root=artifact_root)
    spec = DatasetResource(spec_path=str(spec_path)).load()
    frame = add_features(spec, customer_segmentation(300, seed=7))
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(url)
    try:
        mlflow.set_experiment(tracking.experiment_name(spec.name))
        with mlflow.start_run():
            logged = log_winner(mlflow, spec, Scored("logistic_regression", {}, 300, 0.9, 0.01, 0.0), frame,
                                frame[spec.target.name], "data-v1", "dagster-run-1")
    finally:
        mlflow.set_tracking_uri(previous)
    return logged["version"]
