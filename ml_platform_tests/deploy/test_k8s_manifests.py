"""Every manifest under deploy/k8s, each overlay built, validates against the Kubernetes schema, and every
model's Bento and MLflow are wired to the object store the way the issue asks: no volume shared between pods."""

import kubernetes_validate
import pytest

from ml_platform.definitions import PROJECT_DIR
from ml_platform.quickstart import ENV
from ml_platform_tests.deploy.job_checks import K8S_VERSION
from ml_platform_tests.deploy.kustomize import build, load_documents
from ml_platform_tests.deploy.operator_crds import is_operator_kind, validate_operator_object
from serving.client_address import trusted_networks

K8S = PROJECT_DIR / "deploy" / "k8s"
OVERLAYS = ["dev", "prod"]


def by_kind(objects: list[dict]) -> dict[tuple[str, str], dict]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def bento_deployments(objects: dict[tuple[str, str], dict]) -> dict[str, dict]:
    """model -> its Bento Deployment (deploy/models.py makes one per declared model)."""
    return {o["metadata"]["labels"]["ml-platform/model"]: o for (kind, _), o in objects.items()
            if kind == "Deployment" and o["metadata"]["labels"].get("app.kubernetes.io/name") == "bento"}


def a_bento(objects: dict[tuple[str, str], dict]) -> dict:
    return next(iter(bento_deployments(objects).values()))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_built_manifest_validates_against_the_kubernetes_schema(overlay):
    objects = build(K8S / "overlays" / overlay)
    assert len(objects) >= 12
    for obj in objects:
        validate_manifest(obj)
        assert obj["metadata"].get("namespace", obj["metadata"]["name"]) == "ml-platform"
        assert obj["metadata"]["labels"]["ml-platform/environment"] == overlay


def test_the_schema_check_catches_a_wrong_field():
    bento = a_bento(by_kind(build(K8S / "overlays" / "dev")))
    bento["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bento, K8S_VERSION, strict=True)


def test_the_raw_base_files_validate_too():
    for path in sorted([*(K8S / "base").glob("*.yaml"), *(K8S / "bento").glob("*.yaml")]):
        if path.name != "kustomization.yaml":
            for obj in load_documents(path):
                validate_manifest(obj)


def validate_manifest(obj: dict) -> None:
    """Built-in kinds against the Kubernetes schema, prometheus-operator kinds against their CRD fields."""
    if is_operator_kind(obj):
        validate_operator_object(obj)
    else:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_bento_is_probed_limited_non_root_read_only_scaled_and_protected(overlay):
    objects = by_kind(build(K8S / "overlays" / overlay))
    for deployment in bento_deployments(objects).values():
        check_bento_is_probed_limited_non_root_read_only_scaled_and_protected(objects, deployment)


def check_bento_is_probed_limited_non_root_read_only_scaled_and_protected(objects: dict, deployment: dict) -> None:
    name = deployment["metadata"]["name"]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert set(container["resources"]) == {"requests", "limits"}
    assert pod["securityContext"]["runAsNonRoot"] and container["securityContext"]["readOnlyRootFilesystem"]
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert container["lifecycle"]["preStop"]["sleep"]["seconds"] < pod["terminationGracePeriodSeconds"] - 10, (
        "the pause must leave time to drain requests and flush the inference log")
    env = {e["name"]: e.get("value") for e in container["env"]}
    token = env["ML_PLATFORM_API_TOKEN_FILE"]
    assert float(env["ML_PLATFORM_RATE_LIMIT_PER_SECOND"]) > 0 and float(env["ML_PLATFORM_RATE_LIMIT_BURST"]) > 0
    assert trusted_networks(env["ML_PLATFORM_TRUSTED_PROXIES"]), "the ingress's X-Forwarded-For keys the limit"
    assert env["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] == "false"
    mount = next(m for m in container["volumeMounts"] if token.startswith(m["mountPath"] + "/"))
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["secret"]["secretName"] == "ml-platform-secrets" and mount["readOnly"]
    hpa = objects[("HorizontalPodAutoscaler", name)]
    assert hpa["spec"]["scaleTargetRef"]["name"] == name
    assert hpa["spec"]["minReplicas"] <= deployment["spec"]["replicas"] <= hpa["spec"]["maxReplicas"]
    pdb = objects[("PodDisruptionBudget", name)]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"] or hpa["spec"]["minReplicas"] == 1
    assert objects[("Service", name)]["spec"]["ports"][0]["port"] == 3000


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_code_location_env_covers_what_definitions_reads_and_names_one_bucket(overlay):
    objects = by_kind(build(K8S / "overlays" / overlay))
    env = objects[("ConfigMap", "ml-platform-env")]["data"]
    assert set(ENV.values()) - set(env) == {"ML_PLATFORM_DATASET"}, (
        "no single-model shortcut: the code location runs every model declared under ml_platform/defs/models/")
    assert env["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] == "false", "no MLflow loader in a pod unpickles"
    assert not {"ML_PLATFORM_DATA_DIR", "ML_PLATFORM_INFERENCE_LOG_DIR", "ML_PLATFORM_LABELS_DIR"} & set(env)
    assert env["ML_PLATFORM_STORAGE"].startswith("s3://") and overlay in env["ML_PLATFORM_STORAGE"]
    assert env["MLFLOW_ARTIFACTS_DESTINATION"] == env["ML_PLATFORM_STORAGE"] + "/mlflow"
    assert not [o for o in objects.values() if o["kind"] == "PersistentVolumeClaim"], "no shared volume"
    mlflow_pod = objects[("Deployment", "mlflow")]["spec"]["template"]["spec"]
    mlflow = mlflow_pod["containers"][0]
    assert any(a.startswith("--backend-store-uri=postgresql") for a in mlflow["args"])
    assert "--no-serve-artifacts" in mlflow["args"], "clients read and write the bucket directly"
    declared = {e["name"]: e["valueFrom"]["configMapKeyRef"]["key"] for e in mlflow["env"] if "configMapKeyRef" in e.get("valueFrom", {})}
    assert "--default-artifact-root=$(MLFLOW_ARTIFACTS_DESTINATION)" in mlflow["args"]
    assert declared["MLFLOW_ARTIFACTS_DESTINATION"] == "MLFLOW_ARTIFACTS_DESTINATION"
    assert [v for v in mlflow_pod["volumes"] if "emptyDir" not in v] == [
        {"name": "auth-config", "configMap": {"name": "mlflow-auth-config"}}], "only its basic-auth config"
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000" and ("Service", "mlflow") in objects


def test_network_policies_open_only_the_bento_and_the_pushgateway_scrape_to_other_namespaces():
    policies = [o for o in build(K8S / "overlays" / "prod") if o["kind"] == "NetworkPolicy"]
    from_outside = {p["metadata"]["name"]: (peer["namespaceSelector"], rule["ports"]) for p in policies
                    for rule in p["spec"].get("ingress", []) for peer in rule["from"] if "namespaceSelector" in peer}
    assert set(from_outside) == {"bento-http-ingress", "pushgateway-scrape-ingress"}
    assert from_outside["pushgateway-scrape-ingress"] == (
        {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}, [{"protocol": "TCP", "port": 9091}]), (
        "anyone who can reach the Pushgateway can push fake quality metrics: only Prometheus's namespace scrapes it")
    assert any(p["spec"]["podSelector"] == {} and p["spec"]["policyTypes"] == ["Ingress"] for p in policies)


def mounts_of(container: dict, pod: dict) -> dict[str, tuple[dict, dict]]:
    """mountPath -> (the mount, its volume)."""
    volumes = {v["name"]: v for v in pod["volumes"]}
    return {m["mountPath"]: (m, volumes[m["name"]]) for m in container["volumeMounts"]}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_bento_follows_the_registry_and_reads_and_writes_only_the_object_store(overlay):
    objects = by_kind(build(K8S / "overlays" / overlay))
    for model, deployment in bento_deployments(objects).items():
        check_bento_follows_the_registry_and_reads_and_writes_only_the_object_store(objects, model, deployment)


def check_bento_follows_the_registry_and_reads_and_writes_only_the_object_store(objects, model, deployment) -> None:
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["MLFLOW_TRACKING_URI"]["valueFrom"]["configMapKeyRef"] == {"name": "ml-platform-env",
                                                                         "key": "MLFLOW_TRACKING_URI"}
    assert env["ML_PLATFORM_STORAGE_ROOT"]["valueFrom"]["configMapKeyRef"] == {"name": "ml-platform-env",
                                                                              "key": "ML_PLATFORM_STORAGE"}
    assert env["ML_PLATFORM_MODEL"]["value"] == model, "the model's own folder of the bucket (test_model_bentos)"
    assert 0 < float(env["ML_PLATFORM_RELOAD_SECONDS"]["value"]) <= 10, "the stated follow time depends on it"
    assert container["envFrom"] == [{"secretRef": {"name": "ml-platform-object-store", "optional": True}}], (
        "credentials from the optional Secret; none needed with a workload identity on the bento account")
    assert pod["serviceAccountName"] == "bento" and ("ServiceAccount", "bento") in objects
    mounts = mounts_of(container, pod)
    assert all("emptyDir" in volume or "secret" in volume for _, volume in mounts.values()), "no volume shared"
    home = env["BENTOML_HOME"]["value"]
    holding_home = max((p for p in mounts if home.startswith(p + "/")), key=len)
    assert "emptyDir" in mounts[holding_home][1], "BENTOML_HOME is per pod: serve wipes its metrics folder"
    spool, spool_volume = mounts[env["ML_PLATFORM_LOG_SPOOL"]["value"]]
    assert spool_volume["emptyDir"]["sizeLimit"] and not spool.get("readOnly"), "a bounded local spool"
    assert holding_home != env["ML_PLATFORM_LOG_SPOOL"]["value"], "the spool does not share /tmp's budget"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_bento_may_call_dns_the_mlflow_server_and_https_only(overlay):
    objects = by_kind(build(K8S / "overlays" / overlay))
    bento_labels = a_bento(objects)["spec"]["template"]["metadata"]["labels"]
    egress = [p for p in objects.values() if p["kind"] == "NetworkPolicy" and "Egress" in p["spec"]["policyTypes"]
              and p["spec"]["podSelector"]["matchLabels"].items() <= bento_labels.items()]
    rules = [rule for policy in egress for rule in policy["spec"]["egress"]]
    assert rules and all(rule.get("ports") for rule in rules), "every egress rule names its ports"
    dns = [rule for rule in rules if "to" not in rule]
    assert [{p["port"] for p in rule["ports"]} for rule in dns] == [{53}]
    mlflow = objects[("Deployment", "mlflow")]["spec"]["template"]
    service = objects[("Service", "mlflow")]["spec"]
    [to_mlflow] = [rule for rule in rules if "to" in rule and "podSelector" in rule["to"][0]]
    [to_object_store] = [rule for rule in rules if "to" in rule and "ipBlock" in rule["to"][0]]
    assert to_object_store["ports"] == [{"protocol": "TCP", "port": 443}], "the object store's HTTPS endpoint"
    assert len(rules) == 3
    [peer] = to_mlflow["to"]
    assert set(peer) == {"podSelector"}
    assert peer["podSelector"]["matchLabels"].items() <= mlflow["metadata"]["labels"].items()
    container_port = next(p["containerPort"] for p in mlflow["spec"]["containers"][0]["ports"]
                          if p["name"] == service["ports"][0]["targetPort"])
    assert [(p["protocol"], p["port"]) for p in to_mlflow["ports"]] == [("TCP", container_port)]
