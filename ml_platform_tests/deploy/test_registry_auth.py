"""The registry that decides what serves refuses what its caller may not do (issue "Trust boundaries").

One real `mlflow server`, started as deploy/k8s/base/mlflow.yaml starts it (registry_server.py), with its
identities made by the platform's own provisioning (ml_platform.lib.registry_identities). Then the
platform's own code, signed in as MLflow clients are (MLFLOW_TRACKING_USERNAME and _PASSWORD), trains and
registers a model and promotes it as `pipeline`, and follows and loads the champion as `serving`.
"""

from __future__ import annotations

import importlib
import os
import secrets
import subprocess
import sys
import threading

import httpx
import pytest
from mlflow.exceptions import MlflowException

from ml_platform.definitions import PROJECT_DIR
from ml_platform.lib.registry import CHALLENGER, CHAMPION, MODEL_SHA256_TAG, Registry
from ml_platform.lib.registry_identities import GRANTS, AdminClient, Credentials, provision, role_name
from ml_platform.lib.spec import load_spec
from ml_platform_tests.deploy.kustomize import build
from ml_platform_tests.deploy.registry_server import (OVERLAY, deployed_mlflow_server, new_identities, signed_in,
                                                      train_and_register)

SPEC_PATH = PROJECT_DIR / "datasets" / "customer_segmentation.yaml"
SPEC = load_spec(SPEC_PATH)
API = "/api/2.0/mlflow"
# The three writes that decide what serves: a new version, where `challenger` points, its canary share.
REGISTRY_WRITES = [("registered-models/create", {"name": "intruder"}),
                   ("registered-models/alias", {"name": SPEC.name, "alias": CHALLENGER, "version": "1"}),
                   ("model-versions/set-tag", {"name": SPEC.name, "version": "1", "key": "canary_percent",
                                               "value": "100"})]


@pytest.fixture(scope="module")
def registry(postgres, tmp_path_factory):
    """The server, its identities, and a champion that `pipeline` trained and promoted."""
    root = tmp_path_factory.mktemp("registry-auth")
    # The model stack takes seconds to import: on another core while the server starts.
    importing = threading.Thread(target=lambda: [importlib.import_module(m) for m in (
        "sklearn.linear_model", "skops.io", "mlflow.models", "ml_platform.lib.mlflow_logging")])
    importing.start()
    with deployed_mlflow_server(root, postgres) as server:
        importing.join()
        identities = new_identities()
        assert provision(server.url, server.admin, identities, [SPEC.name]) == {
            "serving": "created", "pipeline": "created"}
        with signed_in(identities["pipeline"]):
            version = train_and_register(server.url, str(root / "artifacts"), SPEC_PATH)
            Registry(server.url, SPEC.name).set_champion(version)
        yield server, identities, version


def status(url: str, path: str, body: dict, identity: Credentials | None = None) -> int:
    auth = (identity.username, identity.password) if identity else None
    return httpx.post(f"{url}{API}/{path}", json=body, auth=auth, timeout=30).status_code


def refused(action) -> str:
    with pytest.raises(MlflowException) as refusal:
        action()
    return refusal.value.error_code


def test_a_registry_write_without_credentials_is_refused(registry):
    server, identities, _ = registry
    for path, body in REGISTRY_WRITES:
        assert status(server.url, path, body) == 401, path
        assert status(server.url, path, body, Credentials("pipeline", "not-its-password")) == 401, path
    anonymous_read = httpx.get(f"{server.url}{API}/registered-models/alias", timeout=30,
                               params={"name": SPEC.name, "alias": CHAMPION})
    assert anonymous_read.status_code == 401, "reads need an identity too"


def test_serving_follows_and_loads_the_champion_but_moves_nothing(registry):
    server, identities, version = registry
    with signed_in(identities["serving"]):
        registry_client = Registry(server.url, SPEC.name)
        named, tags = registry_client.alias_tags(CHAMPION)
        assert named == version and tags[MODEL_SHA256_TAG]
        model, metadata = registry_client.load_logged(version, tags[MODEL_SHA256_TAG])
        assert metadata["dataset_spec"]["name"] == SPEC.name and hasattr(model, "predict")
        assert refused(lambda: registry_client.set_alias(CHALLENGER, version)) == "PERMISSION_DENIED"
        assert refused(lambda: registry_client.tag_version(version, {"canary_percent": 100})) == "PERMISSION_DENIED"
        assert refused(lambda: registry_client.client.delete_registered_model_alias(SPEC.name, CHAMPION)) == (
            "PERMISSION_DENIED")
        assert refused(lambda: registry_client.client.create_experiment("serving-owned")) == "PERMISSION_DENIED"
    for path, body in REGISTRY_WRITES[1:]:
        assert status(server.url, path, body, identities["serving"]) == 403, path
    with signed_in(identities["pipeline"]):
        assert Registry(server.url, SPEC.name).alias_tags(CHALLENGER) == (None, {}), "nothing was moved"


def test_pipeline_moves_the_challenger_and_its_canary_share_and_serving_sees_it(registry):
    server, identities, version = registry
    with signed_in(identities["pipeline"]):
        promotion = Registry(server.url, SPEC.name)
        promotion.set_alias(CHALLENGER, version)
        promotion.tag_version(version, {"canary_percent": 10})
    with signed_in(identities["serving"]):
        assert Registry(server.url, SPEC.name).alias_tags(CHALLENGER)[1]["canary_percent"] == "10"
    with signed_in(identities["pipeline"]):
        promotion.delete_alias(CHALLENGER)
        assert promotion.alias_version(CHALLENGER) is None and promotion.champion_version() == version


def test_an_identity_no_role_names_reads_nothing(registry):
    server, _, _ = registry
    stranger = Credentials(f"stranger-{secrets.token_hex(3)}", secrets.token_urlsafe(18))
    AdminClient(server.url, server.admin).create_user(stranger.username, stranger.password)
    with signed_in(stranger):
        assert refused(lambda: Registry(server.url, SPEC.name).alias_tags(CHAMPION)) == "PERMISSION_DENIED"


def test_provisioning_again_rotates_passwords_and_undoes_a_widened_grant(registry):
    server, identities, _ = registry
    admin = AdminClient(server.url, server.admin)
    [role] = [r for r in admin.list_roles("default") if r.name == role_name("serving")]
    [read] = [p for p in admin.list_role_permissions(role.id) if p.resource_type == "registered_model"]
    admin.update_role_permission(read.id, "MANAGE")  # someone widens serving's grant by hand
    rotated = {**identities, "serving": Credentials("serving", secrets.token_urlsafe(18))}
    try:
        assert provision(server.url, server.admin, rotated) == {"serving": "password set", "pipeline": "password set"}
        held = {(p.resource_type, p.resource_pattern, p.permission) for p in admin.list_role_permissions(role.id)}
        assert held == {(g.resource_type, g.pattern, g.permission) for g in GRANTS["serving"]}
        body = {"name": SPEC.name, "alias": CHAMPION}
        old = httpx.get(f"{server.url}{API}/registered-models/alias", params=body, timeout=30,
                        auth=(identities["serving"].username, identities["serving"].password))
        assert old.status_code == 401, "the old password stops working"
        assert status(server.url, "registered-models/alias", {**body, "version": "1"}, rotated["serving"]) == 403
    finally:
        provision(server.url, server.admin, identities)


def test_the_jobs_command_provisions_from_the_env_its_manifest_gives_it(registry):
    """`mlflow-identities`' own command, with each variable resolved from the ConfigMap and Secrets it names."""
    server, identities, _ = registry
    [job] = [o for o in build(OVERLAY) if o["kind"] == "Job" and o["metadata"]["name"] == "mlflow-identities"]
    [container] = job["spec"]["template"]["spec"]["containers"]
    held = {("ml-platform-env", "MLFLOW_TRACKING_URI"): server.url, ("mlflow-auth", "admin-password"): server.admin.password}
    for kind, identity in identities.items():
        held[(f"mlflow-{kind}-identity", "MLFLOW_TRACKING_USERNAME")] = identity.username
        held[(f"mlflow-{kind}-identity", "MLFLOW_TRACKING_PASSWORD")] = identity.password
    refs = {var["name"]: next(iter(var["valueFrom"].values())) for var in container["env"] if "valueFrom" in var}
    env = {**{var["name"]: var["value"] for var in container["env"] if "value" in var},
           **{name: held[(ref["name"], ref["key"])] for name, ref in refs.items()}}
    assert container["command"][0] == "python"
    clean = {k: v for k, v in os.environ.items() if k != "ML_PLATFORM_DATASET"}  # as in the pod: every declared model
    done = subprocess.run([sys.executable, *container["command"][1:]], env={**clean, **env}, text=True,
                          capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines() == ["serving: password set, role ml-platform-serving",
                                        "pipeline: password set, role ml-platform-pipeline",
                                        "registered models held by the admin: ['customer-segmentation', 'iris']"]
    with signed_in(identities["serving"]):
        from mlflow import MlflowClient

        assert MlflowClient(server.url).get_registered_model("iris").name == "iris", (
            "the admin made iris's registered model before any training, and the serving identity reads it")
