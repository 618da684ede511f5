"""What every Job our deployment sends must carry: a run pod's (K8sRunLauncher) or a step pod's (k8s_job_executor).

Both are built from the run launcher's config in deploy/dagster-k8s.yaml, so both must pass the
Kubernetes schema and carry our image, env sources, volume, service account, security context and labels.
"""

import dagster as dg
import kubernetes_validate

K8S_VERSION = "1.33.0"
IMAGE = "ml-platform/user-code:0.1.0"
# The launcher's `resources`: what a pod gets when none of its assets is sized.
DEFAULT_POD_RESOURCES = {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}}


def resources_of(tags: dict) -> dict:
    return tags["dagster-k8s/config"]["container_config"]["resources"]


def check_pod_job(job: dict, run: dg.DagsterRun, resources: dict, command: list[str]) -> dict:
    """Asserts what run and step Jobs share; returns the container for the caller's own checks."""
    kubernetes_validate.validate(job, K8S_VERSION, strict=True)
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == IMAGE
    assert container["args"][:len(command)] == command
    assert container["resources"] == resources
    assert container["securityContext"]["runAsNonRoot"] is True
    assert [e["configMapRef"]["name"] for e in container["envFrom"] if "configMapRef" in e] == ["ml-platform-env"]
    assert {"name": "platform-data", "mountPath": "/mnt/platform"} in container["volumeMounts"]
    assert pod["serviceAccountName"] == "dagster"
    labels = job["metadata"]["labels"]
    assert labels["dagster/run-id"] == run.run_id and labels["app.kubernetes.io/part-of"] == "ml-platform"
    assert job["metadata"]["namespace"] == "ml-platform"
    return container


def materialized_assets(instance: dg.DagsterInstance, run_id: str) -> set[dg.AssetKey]:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    return {r.event_log_entry.dagster_event.asset_key for r in records}
