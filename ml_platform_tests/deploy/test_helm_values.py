"""deploy/helm/values.yaml, merged over the official chart's defaults, validates against the chart's own
values schema (and the user-deployments subchart's), remote Kubernetes $refs resolved offline; and the
instance config in deploy/dagster-k8s.yaml says what these values render."""

import json
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from referencing import Registry, Resource

from ml_platform.definitions import PROJECT_DIR
from ml_platform_tests.deploy.chart import CHART, VALUES_FILE, chart_image, chart_values, merged
from ml_platform_tests.deploy.job_checks import K8S_VERSION

VALUES = yaml.safe_load(VALUES_FILE.read_text())
INSTANCE = yaml.safe_load((PROJECT_DIR / "deploy" / "dagster-k8s.yaml").read_text())
REMOTE_K8S = "https://kubernetesjsonschema.dev/v1.18.0/_definitions.json"


def validator(schema_file: str) -> jsonschema.Draft7Validator:
    k8s_dir = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"v{K8S_VERSION}-local"
    k8s = json.loads((k8s_dir / "_definitions.json").read_text())
    k8s["definitions"] = k8s["$defs"]
    k8s.pop("$id", None)
    registry = Registry().with_resource(REMOTE_K8S, Resource.from_contents(k8s))
    return jsonschema.Draft7Validator(json.loads((CHART / schema_file).read_text()), registry=registry)


def errors(schema_file: str, values: dict) -> list[str]:
    return [f"{list(e.path)}: {e.message}" for e in validator(schema_file).iter_errors(values)]


def test_values_validate_against_the_chart_schema():
    assert errors("values.schema.json", chart_values()) == []


def test_user_deployment_values_validate_against_the_subchart_schema():
    sub = merged(yaml.safe_load((CHART / "user-deployments.values.yaml").read_text()),
                 VALUES["dagster-user-deployments"])
    assert errors("user-deployments.values.schema.json", sub) == []


def test_the_schema_check_reaches_kubernetes_definitions():
    broken = chart_values()
    broken["dagster-user-deployments"]["deployments"][0]["resources"] = {"requests": "lots"}
    assert errors("values.schema.json", broken)


def test_the_instance_config_is_what_the_values_render():
    launcher, config = VALUES["runLauncher"]["config"]["k8sRunLauncher"], INSTANCE["run_launcher"]["config"]
    assert INSTANCE["run_launcher"]["class"] == VALUES["runLauncher"]["type"] == "K8sRunLauncher"
    assert config["job_image"] == chart_image(launcher["image"])
    assert config["env_config_maps"] == [c["name"] for c in launcher["envConfigMaps"]]
    assert config["env_secrets"] == [s["name"] for s in launcher["envSecrets"]]
    for ours, theirs in [("labels", "labels"), ("resources", "resources"), ("security_context", "securityContext")]:
        assert config[ours] == launcher[theirs], ours
    assert "volumes" not in config and "volumes" not in launcher, "no volume is shared: data is in the object store"
    run_k8s = launcher["runK8sConfig"]
    assert config["run_k8s_config"] == {"pod_spec_config": run_k8s["podSpecConfig"],
                                        "container_config": run_k8s["containerConfig"]}
    assert config["fail_pod_on_run_failure"] is launcher["failPodOnRunFailure"] is True

    coordinator = VALUES["dagsterDaemon"]["runCoordinator"]["config"]["customRunCoordinator"]
    assert {k: INSTANCE["run_coordinator"][k] for k in ("module", "class", "config")} == coordinator
    monitoring = VALUES["dagsterDaemon"]["runMonitoring"]
    assert INSTANCE["run_monitoring"]["enabled"] is monitoring["enabled"] is True
    assert INSTANCE["run_monitoring"]["max_resume_run_attempts"] == monitoring["maxResumeRunAttempts"]
    assert INSTANCE["run_retries"] == {"enabled": True, "max_retries": VALUES["dagsterDaemon"]["runRetries"]["maxRetries"]}
    db = INSTANCE["run_storage"]["config"]["postgres_db"]
    pg = VALUES["postgresql"]
    assert (db["hostname"], db["username"], db["db_name"], db["scheme"]) == (
        pg["postgresqlHost"], pg["postgresqlUsername"], pg["postgresqlDatabase"], pg["postgresqlScheme"])


@pytest.mark.parametrize("component", ["dagsterWebserver", "dagsterDaemon"])
def test_webserver_and_daemon_run_our_image_because_they_submit_runs_through_our_coordinator(component):
    assert chart_image(VALUES[component]["image"]) == INSTANCE["run_launcher"]["config"]["job_image"]


def test_the_webserver_listens_on_an_unprivileged_port_and_is_probed_there():
    webserver = chart_values()["dagsterWebserver"]
    port = webserver["service"]["port"]  # the chart's Service port, containerPort and `--port`
    assert port >= 1024, "a non-root process cannot bind a port below 1024"
    assert webserver["readinessProbe"]["httpGet"]["port"] in (port, "http")
    for probe in ("livenessProbe", "startupProbe"):
        assert webserver[probe].get("httpGet", {}).get("port", port) in (port, "http"), probe


def test_the_object_store_credentials_are_optional_everywhere_they_are_given():
    """With IRSA/Workload Identity there is no Secret: a mandatory reference would keep every pod from starting."""
    user_env = VALUES["dagster-user-deployments"]["deployments"][0]["env"]
    launcher_env = VALUES["runLauncher"]["config"]["k8sRunLauncher"]["runK8sConfig"]["containerConfig"]["env"]
    for env in (user_env, launcher_env):
        refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in env if e["name"].startswith("AWS_")}
        assert set(refs) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_REGION"}
        assert all(r["name"] == "ml-platform-object-store" and r["optional"] is True for r in refs.values())
    secrets = [s["name"] for s in VALUES["dagster-user-deployments"]["deployments"][0]["envSecrets"]]
    assert "ml-platform-object-store" not in secrets, "the chart passes envSecrets to runs by name, as mandatory"
