"""Every manifest under deploy/k8s, each overlay built, validates against the Kubernetes schema,
and the Bento, MLflow and shared storage are wired the way the issue asks."""

import kubernetes_validate
import pytest
import yaml

from ml_platform.definitions import PROJECT_DIR
from ml_platform.quickstart import ENV
from ml_platform_tests.deploy.job_checks import K8S_VERSION
from ml_platform_tests.deploy.kustomize import build, load_documents
from ml_platform_tests.deploy.operator_crds import is_operator_kind, validate_operator_object

K8S = PROJECT_DIR / "deploy" / "k8s"
OVERLAYS = ["dev", "prod"]


def by_kind(objects: list[dict]) -> dict[tuple[str, str], dict]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_built_manifest_validates_against_the_kubernetes_schema(overlay):
    objects = build(K8S / "overlays" / overlay)
    assert len(objects) >= 12
    for obj in objects:
        validate_manifest(obj)
        assert obj["metadata"]["namespace"] == "ml-platform"
        assert obj["metadata"]["labels"]["ml-platform/environment"] == overlay


def test_the_schema_check_catches_a_wrong_field():
    bento = by_kind(build(K8S / "overlays" / "dev"))[("Deployment", "bento")]
    bento["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bento, K8S_VERSION, strict=True)


def test_the_raw_base_files_validate_too():
    for path in sorted((K8S / "base").glob("*.yaml")):
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
def test_the_bento_is_probed_limited_non_root_read_only_scaled_and_protected(overlay):
    objects = by_kind(build(K8S / "overlays" / overlay))
    deployment = objects[("Deployment", "bento")]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert set(container["resources"]) == {"requests", "limits"}
    assert pod["securityContext"]["runAsNonRoot"] and container["securityContext"]["readOnlyRootFilesystem"]
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert container["lifecycle"]["preStop"]["sleep"]["seconds"] < pod["terminationGracePeriodSeconds"] - 10, (
        "the pause must leave time to drain requests and flush the inference log")
    token = {e["name"]: e.get("value") for e in container["env"]}["ML_PLATFORM_API_TOKEN_FILE"]
    mount = next(m for m in container["volumeMounts"] if token.startswith(m["mountPath"] + "/"))
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["secret"]["secretName"] == "ml-platform-secrets" and mount["readOnly"]
    hpa = objects[("HorizontalPodAutoscaler", "bento")]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "bento"
    assert hpa["spec"]["minReplicas"] <= deployment["spec"]["replicas"] <= hpa["spec"]["maxReplicas"]
    pdb = objects[("PodDisruptionBudget", "bento")]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"] or hpa["spec"]["minReplicas"] == 1
    assert objects[("Service", "bento")]["spec"]["ports"][0]["port"] == 3000


def test_code_location_env_covers_what_definitions_reads_and_lives_on_the_shared_volume():
    objects = by_kind(build(K8S / "overlays" / "prod"))
    env = objects[("ConfigMap", "ml-platform-env")]["data"]
    assert set(ENV.values()) <= set(env)
    for key in ("ML_PLATFORM_DATA_DIR", "ML_PLATFORM_INFERENCE_LOG_DIR", "MLFLOW_ARTIFACTS_DESTINATION", "BENTOML_HOME"):
        assert env[key].startswith("/mnt/platform/"), key
    assert env["ML_PLATFORM_INFERENCE_LOG_DIR"].startswith(env["ML_PLATFORM_DATA_DIR"])
    assert objects[("PersistentVolumeClaim", "ml-platform-shared")]["spec"]["accessModes"] == ["ReadWriteMany"]
    mlflow = objects[("Deployment", "mlflow")]["spec"]["template"]["spec"]["containers"][0]
    assert any(a.startswith("--backend-store-uri=postgresql") for a in mlflow["args"])
    assert "--artifacts-destination=" + env["MLFLOW_ARTIFACTS_DESTINATION"] in mlflow["args"]
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


def code_location_mount() -> str:
    """Where the code location and its run pods see the shared volume (helm/values.yaml)."""
    values = yaml.safe_load((PROJECT_DIR / "deploy" / "helm" / "values.yaml").read_text())
    [mount] = values["dagster-user-deployments"]["deployments"][0]["volumeMounts"]
    return mount["mountPath"]


def mounts_of(container: dict, pod: dict) -> dict[str, tuple[dict, dict]]:
    """mountPath -> (the mount, its volume)."""
    volumes = {v["name"]: v for v in pod["volumes"]}
    return {m["mountPath"]: (m, volumes[m["name"]]) for m in container["volumeMounts"]}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_bento_follows_the_registry_and_loads_from_the_shared_store(overlay):
    objects = by_kind(build(K8S / "overlays" / overlay))
    platform_env = objects[("ConfigMap", "ml-platform-env")]["data"]
    pod = objects[("Deployment", "bento")]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["MLFLOW_TRACKING_URI"]["valueFrom"]["configMapKeyRef"] == {"name": "ml-platform-env",
                                                                          "key": "MLFLOW_TRACKING_URI"}
    assert 0 < float(env["ML_PLATFORM_RELOAD_SECONDS"]["value"]) <= 10, "the stated follow time depends on it"
    mounts = mounts_of(container, pod)
    home = env["BENTOML_HOME"]["value"]
    holding_home = max((p for p in mounts if home.startswith(p + "/")), key=len)
    assert "emptyDir" in mounts[holding_home][1], "BENTOML_HOME is per pod: serve wipes its metrics folder"
    store, store_volume = mounts[home + "/models"]
    assert store_volume["persistentVolumeClaim"]["claimName"] == "ml-platform-shared" and store["readOnly"]
    assert store["subPath"] == platform_env["BENTOML_HOME"].removeprefix(code_location_mount() + "/") + "/models"
    artifacts, artifacts_volume = mounts[platform_env["MLFLOW_ARTIFACTS_DESTINATION"]]
    assert "persistentVolumeClaim" in artifacts_volume and artifacts["readOnly"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_bento_may_call_dns_and_the_mlflow_server_only(overlay):
    objects = by_kind(build(K8S / "overlays" / overlay))
    bento_labels = objects[("Deployment", "bento")]["spec"]["template"]["metadata"]["labels"]
    egress = [p for p in objects.values() if p["kind"] == "NetworkPolicy" and "Egress" in p["spec"]["policyTypes"]
              and p["spec"]["podSelector"]["matchLabels"].items() <= bento_labels.items()]
    rules = [rule for policy in egress for rule in policy["spec"]["egress"]]
    assert rules and all(rule.get("ports") for rule in rules), "every egress rule names its ports"
    dns = [rule for rule in rules if "to" not in rule]
    assert [{p["port"] for p in rule["ports"]} for rule in dns] == [{53}]
    mlflow = objects[("Deployment", "mlflow")]["spec"]["template"]
    service = objects[("Service", "mlflow")]["spec"]
    [to_mlflow] = [rule for rule in rules if "to" in rule]
    [peer] = to_mlflow["to"]
    assert set(peer) == {"podSelector"}
    assert peer["podSelector"]["matchLabels"].items() <= mlflow["metadata"]["labels"].items()
    container_port = next(p["containerPort"] for p in mlflow["spec"]["containers"][0]["ports"]
                          if p["name"] == service["ports"][0]["targetPort"])
    assert [(p["protocol"], p["port"]) for p in to_mlflow["ports"]] == [("TCP", container_port)]
