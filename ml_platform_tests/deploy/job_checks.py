"""What every Job our deployment sends must carry: a run pod's (K8sRunLauncher) or a step pod's (k8s_job_executor).

Both are built from the run launcher's config in deploy/dagster-k8s.yaml merged with the container context
the chart gives the code location, so both must pass the Kubernetes schema and the restricted Pod Security
Standard, and carry our image, the env sources (ConfigMaps, the optional object-store Secret), the code
location's service account, the security context and labels, and no volume: data is in the object store.
"""

import dagster as dg
import kubernetes_validate

from ml_platform.definitions import PROJECT_DIR
from ml_platform_tests.deploy.pod_security import restricted_violations

K8S_VERSION = "1.33.0"
IMAGE = dict(line.split("=", 1) for line in (PROJECT_DIR / "deploy" / "images.env").read_text().splitlines()
             if line and not line.startswith("#"))["USER_CODE_IMAGE"]
SERVICE_ACCOUNT = "ml-platform-user-code"  # the code location's, which the chart's container context names
OBJECT_STORE_KEYS = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_REGION"}
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
    assert restricted_violations(pod) == []
    assert "ml-platform-env" in [e["configMapRef"]["name"] for e in container["envFrom"] if "configMapRef" in e]
    object_store = [e["valueFrom"]["secretKeyRef"] for e in container["env"]
                    if e["name"] in OBJECT_STORE_KEYS and "valueFrom" in e]
    assert len(object_store) == len(OBJECT_STORE_KEYS), "each key once, though launcher and location both give it"
    assert all(ref["name"] == "ml-platform-object-store" and ref["optional"] for ref in object_store)
    assert not pod.get("volumes") and not container.get("volumeMounts"), "no volume: data is in the object store"
    assert pod["serviceAccountName"] == SERVICE_ACCOUNT
    labels = job["metadata"]["labels"]
    assert labels["dagster/run-id"] == run.run_id and labels["app.kubernetes.io/part-of"] == "ml-platform"
    assert job["metadata"]["namespace"] == "ml-platform"
    return container


def materialized_assets(instance: dg.DagsterInstance, run_id: str) -> set[dg.AssetKey]:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    return {r.event_log_entry.dagster_event.asset_key for r in records}
