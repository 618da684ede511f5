"""Least privilege around the registry, as deployed (issue "Trust boundaries"): MLflow runs its basic-auth
app, configured from a ConfigMap and Secrets; every pod that may reach it signs in with its own identity
from its own Secret; and the namespace denies every ingress but the calls the platform makes.

The pods are those of the built overlay and those the Helm release makes from deploy/helm/values.yaml
(webserver, daemon, code server, and run pods with and without the code location's container context),
with the labels each gets. test_run_pod_token.py checks a real run Job carries the same label and env.
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass

import pytest
from sqlalchemy.engine import make_url

from ml_platform_tests.deploy.chart import chart_values, user_deployment, user_deployment_container_context
from ml_platform_tests.deploy.kustomize import build
from ml_platform_tests.deploy.pod_security import pod_spec_of
from ml_platform_tests.deploy.test_k8s_manifests import K8S, OVERLAYS, by_kind

ANY_NAMESPACE = "any namespace"
PROMETHEUS = "namespace monitoring"
DAGSTER_USER_CODE = {"code server", "run pod", "run pod of a location without container context"}
# (pod, port) -> who may connect; every other pod accepts no connection at all.
ALLOWED = {
    ("Deployment/mlflow", 5000): {"Deployment/bento", "Job/mlflow-identities", *DAGSTER_USER_CODE},
    ("StatefulSet/postgresql", 5432): {"webserver", "daemon", "Deployment/mlflow", *DAGSTER_USER_CODE},
    ("code server", 3030): {"webserver", "daemon"},
    ("Deployment/pushgateway", 9091): {PROMETHEUS, *DAGSTER_USER_CODE},
    ("Deployment/bento", 3000): {ANY_NAMESPACE},
}
# Who signs in to MLflow as whom: the Secret its MLFLOW_TRACKING_* come from.
IDENTITY_SECRET = {"Deployment/bento": "mlflow-serving-identity", "Job/mlflow-identities": "mlflow-auth",
                   **{pod: "mlflow-pipeline-identity" for pod in DAGSTER_USER_CODE}}


@dataclass(frozen=True)
class Pod:
    labels: dict
    env: list[dict]


def role(obj: dict) -> str:
    """A workload's name here; every model's Bento Deployment (bento-<model>) is the one role `Deployment/bento`."""
    bento = obj["kind"] == "Deployment" and obj["metadata"]["labels"].get("app.kubernetes.io/name") == "bento"
    return "Deployment/bento" if bento else f"{obj['kind']}/{obj['metadata']['name']}"


def namespace_pods(overlay: str) -> dict[str, Pod]:
    pods = {role(o): Pod(o["spec"]["template"]["metadata"]["labels"],
                         [e for c in pod_spec_of(o)["containers"] for e in c.get("env", [])])
            for o in build(K8S / "overlays" / overlay) if pod_spec_of(o) is not None}
    values = chart_values()
    deployment, context = user_deployment(values), user_deployment_container_context(values)["k8s"]
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    listed = lambda env: env if isinstance(env, list) else []  # noqa: E731 (a map goes to a ConfigMap)
    return {**pods,
            "webserver": Pod(values["dagsterWebserver"]["labels"], listed(values["dagsterWebserver"]["env"])),
            "daemon": Pod(values["dagsterDaemon"]["labels"], listed(values["dagsterDaemon"]["env"])),
            # The chart's own pod labels: component and deployment (deployment-user.yaml).
            "code server": Pod({"component": "user-deployments", "deployment": deployment["name"],
                                **deployment["labels"]}, deployment["env"]),
            "run pod": Pod({**launcher["labels"], **context["labels"]}, context["env"]),
            "run pod of a location without container context": Pod(launcher["labels"],
                                                                   launcher["runK8sConfig"]["containerConfig"]["env"])}


def selects(selector: dict, labels: dict) -> bool:
    expressions = {"In": lambda e: labels.get(e["key"]) in e["values"],
                   "NotIn": lambda e: labels.get(e["key"]) not in e["values"],
                   "Exists": lambda e: e["key"] in labels, "DoesNotExist": lambda e: e["key"] not in labels}
    return (selector.get("matchLabels", {}).items() <= labels.items()
            and all(expressions[e["operator"]](e) for e in selector.get("matchExpressions", [])))


def peers(peer: dict, pods: dict[str, Pod]) -> set[str]:
    if "podSelector" in peer and "namespaceSelector" not in peer:
        return {name for name, pod in pods.items() if selects(peer["podSelector"], pod.labels)}
    assert set(peer) == {"namespaceSelector"}, f"a peer this test does not model: {peer}"
    return {ANY_NAMESPACE} if peer["namespaceSelector"] == {} else {
        f"namespace {peer['namespaceSelector']['matchLabels']['kubernetes.io/metadata.name']}"}


def secret_ref(pod: Pod, name: str) -> dict | None:
    return next((e.get("valueFrom", {}).get("secretKeyRef") for e in pod.env if e["name"] == name), None)


def holders(pods: dict[str, Pod], secret: str) -> set[str]:
    """The pods with a variable from `secret`."""
    return {name for name, pod in pods.items()
            if any(e.get("valueFrom", {}).get("secretKeyRef", {}).get("name") == secret for e in pod.env)}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ingress_is_denied_by_default_and_each_port_opened_only_to_its_callers(overlay):
    policies = [o for o in build(K8S / "overlays" / overlay) if o["kind"] == "NetworkPolicy"]
    assert any(p["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]} for p in policies), "default deny"
    pods, opened = namespace_pods(overlay), {}
    for policy in (p for p in policies if "Ingress" in p["spec"]["policyTypes"]):
        targets = [name for name, pod in pods.items() if selects(policy["spec"]["podSelector"], pod.labels)]
        for rule in policy["spec"].get("ingress", []):
            assert rule.get("ports") and rule.get("from"), f"{policy['metadata']['name']}: every rule names both"
            sources = set().union(*(peers(peer, pods) for peer in rule["from"]))
            for target in targets:
                for port in rule["ports"]:
                    assert port["protocol"] == "TCP"
                    opened.setdefault((target, port["port"]), set()).update(sources)
    assert opened == ALLOWED
    assert "webserver" not in {target for target, _ in opened}, "the webserver has no login: port-forward only"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_that_may_reach_mlflow_signs_in_as_its_own_identity_from_a_secret(overlay):
    pods = namespace_pods(overlay)
    signing_in = {name for name, pod in pods.items() if any(e["name"].startswith("MLFLOW_TRACKING_") and
                                                              e["name"] != "MLFLOW_TRACKING_URI" for e in pod.env)}
    assert signing_in == ALLOWED[("Deployment/mlflow", 5000)] == set(IDENTITY_SECRET), (
        "who may reach MLflow is who holds credentials for it")
    for name, secret in IDENTITY_SECRET.items():
        password = secret_ref(pods[name], "MLFLOW_TRACKING_PASSWORD")
        assert password and password["name"] == secret and not password.get("optional"), name
        user = next(e for e in pods[name].env if e["name"] == "MLFLOW_TRACKING_USERNAME")
        assert "value" in user if secret == "mlflow-auth" else user["valueFrom"]["secretKeyRef"]["name"] == secret
    assert holders(pods, "mlflow-serving-identity") == {"Deployment/bento", "Job/mlflow-identities"}
    assert holders(pods, "mlflow-pipeline-identity") == DAGSTER_USER_CODE | {"Job/mlflow-identities"}
    assert holders(pods, "mlflow-auth") == {"Deployment/mlflow", "Job/mlflow-identities"}, "the admin's password"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_mlflow_runs_basic_auth_with_no_permission_by_default_and_every_secret_from_a_secret(overlay):
    objects = by_kind(build(K8S / "overlays" / overlay))
    pod = objects[("Deployment", "mlflow")]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["command"] == ["mlflow", "server"] and "--app-name=basic-auth" in container["args"]
    env = {e["name"]: e for e in container["env"]}
    for name, key in [("MLFLOW_AUTH_ADMIN_PASSWORD", "admin-password"), ("MLFLOW_FLASK_SERVER_SECRET_KEY",
                                                                         "flask-secret-key")]:
        assert env[name]["valueFrom"]["secretKeyRef"] == {"name": "mlflow-auth", "key": key}
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "dagster-postgresql-secret"
    store = next(a for a in container["args"] if a.startswith("--backend-store-uri=")).partition("=")[2]
    assert make_url(store).password is None and "$(" not in store, "no password on the command line"
    mount = next(m for m in container["volumeMounts"] if env["MLFLOW_AUTH_CONFIG_PATH"]["value"].startswith(m["mountPath"]))
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    config_map = objects[("ConfigMap", volume["configMap"]["name"])]["data"]
    auth = configparser.ConfigParser()
    auth.read_string(config_map[env["MLFLOW_AUTH_CONFIG_PATH"]["value"].removeprefix(mount["mountPath"] + "/")])
    assert auth["mlflow"]["default_permission"] == "NO_PERMISSIONS", "a new identity reads nothing it is not granted"
    assert make_url(auth["mlflow"]["database_uri"]).password is None and "admin_password" not in auth["mlflow"]
    assert auth["mlflow"].getboolean("grant_default_workspace_access") is False
    job = objects[("Job", "mlflow-identities")]["spec"]["template"]["spec"]["containers"][0]
    admin = {e["name"]: e for e in job["env"]}
    assert admin["MLFLOW_TRACKING_USERNAME"]["value"] == auth["mlflow"]["admin_username"]
    assert admin["MLFLOW_TRACKING_PASSWORD"]["valueFrom"]["secretKeyRef"] == env["MLFLOW_AUTH_ADMIN_PASSWORD"][
        "valueFrom"]["secretKeyRef"], "the Job signs in as the admin the server bootstraps"
