"""What the official Dagster chart makes of deploy/helm/values.yaml, where our tests need it (no helm here).

Transcribed from the chart's templates at dagster-io/dagster b8d7b2530862566f7ae5450a0e5387ab04c784c6,
the commit of the vendored values (dagster_chart/SOURCE.md):
- `user_deployment_container_context`: `dagsterUserDeployments.k8sContainerContext` in the subchart's
  templates/helpers/_helpers.tpl, which deployment-user.yaml puts in DAGSTER_CONTAINER_CONTEXT when
  includeConfigInLaunchedRuns is on. Every run and step pod of the code location merges it over the
  run launcher's config (dagster_k8s.container_context.K8sContainerContext.create_for_run).
- `chart_pods`: the security-relevant part of the webserver, daemon and user-code pods (pod and
  container securityContext, init containers, volumes, ports) as deployment-*.yaml lay them out.
"""

from __future__ import annotations

import copy

import yaml

from ml_platform.definitions import PROJECT_DIR

CHART = PROJECT_DIR / "ml_platform_tests" / "deploy" / "dagster_chart"  # the official chart's schemas, see SOURCE.md there
VALUES_FILE = PROJECT_DIR / "deploy" / "helm" / "values.yaml"

RELEASE = "dagster"
NAMESPACE = "ml-platform"
SUBCHART_FULLNAME = f"{RELEASE}-dagster-user-deployments"  # `dagster.fullname` in the subchart


def merged(defaults: dict, override: dict) -> dict:
    """Helm's merge: maps merge key by key, anything else (lists included) is replaced."""
    result = copy.deepcopy(defaults)
    for key, value in override.items():
        both_maps = isinstance(value, dict) and isinstance(result.get(key), dict)
        result[key] = merged(result[key], value) if both_maps else copy.deepcopy(value)
    return result


def chart_values() -> dict:
    """deploy/helm/values.yaml over the chart's defaults, as Helm hands them to the templates."""
    return merged(yaml.safe_load((CHART / "values.yaml").read_text()), yaml.safe_load(VALUES_FILE.read_text()))


def chart_image(image: dict) -> str:
    """`dagster.dagsterImage.name`: repository:tag."""
    return f"{image['repository']}:{image['tag']}"


def user_deployment(values: dict | None = None) -> dict:
    [deployment] = (values or chart_values())["dagster-user-deployments"]["deployments"]
    return deployment


def user_deployments_service_account(values: dict | None = None) -> str:
    values = values or chart_values()
    sub = values["dagster-user-deployments"]
    return (values["global"]["serviceAccountName"] or sub.get("serviceAccount", {}).get("name")
            or f"{SUBCHART_FULLNAME}-user-deployments")


def user_deployment_container_context(values: dict | None = None) -> dict:
    """The `k8s` container context the chart gives every run of the code location."""
    values = values or chart_values()
    deployment = user_deployment(values)
    if not deployment.get("includeConfigInLaunchedRuns", {"enabled": True})["enabled"]:
        return {}
    assert not values["dagster-user-deployments"].get("imagePullSecrets"), "not transcribed: imagePullSecrets"
    k8s = {"image_pull_policy": deployment["image"]["pullPolicy"],
           "env_config_maps": [f"{SUBCHART_FULLNAME}-{deployment['name']}-user-env",
                               *[c["name"] for c in deployment.get("envConfigMaps", []) if "name" in c]]}
    if deployment.get("envSecrets"):
        k8s["env_secrets"] = [s["name"] for s in deployment["envSecrets"] if "name" in s]
    for ours, theirs in [("volume_mounts", "volumeMounts"), ("volumes", "volumes"), ("labels", "labels"),
                         ("resources", "resources"), ("scheduler_name", "schedulerName")]:
        if deployment.get(theirs):
            k8s[ours] = deployment[theirs]
    k8s["namespace"] = NAMESPACE
    k8s["service_account_name"] = user_deployments_service_account(values)
    if isinstance(deployment.get("env"), list) and deployment["env"]:
        k8s["env"] = deployment["env"]
    pod_spec_config = {"automount_service_account_token": True}
    if deployment.get("sidecarContainers"):
        pod_spec_config["containers"] = deployment["sidecarContainers"]
    if deployment.get("initContainers"):
        pod_spec_config["init_containers"] = deployment["initContainers"]
    k8s["run_k8s_config"] = {"pod_spec_config": pod_spec_config}
    if deployment.get("annotations"):
        k8s["run_k8s_config"]["pod_template_spec_metadata"] = {"annotations": deployment["annotations"]}
    return {"k8s": k8s}


def _dagster_pod(component: dict, values: dict, with_port: bool) -> dict:
    """Webserver and daemon: our image, an init container per user deployment (busybox waiting on its DNS name)."""
    container = {"name": "dagster", "image": chart_image(component["image"]),
                 "securityContext": component["securityContext"]}
    if with_port:
        container["ports"] = [{"name": "http", "containerPort": component["service"]["port"], "protocol": "TCP"}]
        container["readinessProbe"] = component["readinessProbe"]
    waits = [{"name": f"init-user-deployment-{d['name']}", "image": chart_image(values["busybox"]["image"]),
              "securityContext": component["securityContext"]}
             for d in values["dagster-user-deployments"]["deployments"]]
    return {"securityContext": component["podSecurityContext"], "initContainers": waits, "containers": [container],
            "volumes": [{"name": "dagster-instance", "configMap": {"name": f"{RELEASE}-instance"}},
                        *component.get("volumes", [])]}


def chart_pods(values: dict | None = None) -> dict[str, dict]:
    """Pod specs of the release's Deployments, by name."""
    values = values or chart_values()
    deployment = user_deployment(values)
    code_server = {"securityContext": deployment["podSecurityContext"],
                   "initContainers": deployment.get("initContainers", []),
                   "containers": [{"name": "dagster-user-deployments", "image": chart_image(deployment["image"]),
                                   "securityContext": deployment["securityContext"]},
                                  *deployment.get("sidecarContainers", [])],
                   "volumes": deployment.get("volumes", [])}
    return {f"{RELEASE}-dagster-webserver": _dagster_pod(values["dagsterWebserver"], values, with_port=True),
            f"{RELEASE}-daemon": _dagster_pod(values["dagsterDaemon"], values, with_port=False),
            f"{SUBCHART_FULLNAME}-{deployment['name']}": code_server}
