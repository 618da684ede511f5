"""Every pod we ship passes the restricted Pod Security Standard, which the namespace enforces.

Covered here: each Deployment and StatefulSet of both overlays, and the Helm release's webserver, daemon
and code server as the chart lays them out from our values (chart.py). Run and step pods are checked on
every Job the real launcher and executor send (job_checks.check_pod_job).
"""

import copy

import pytest

from ml_platform_tests.deploy.chart import chart_pods
from ml_platform_tests.deploy.kustomize import build
from ml_platform_tests.deploy.pod_security import pod_spec_of, restricted_violations
from ml_platform_tests.deploy.test_k8s_manifests import K8S, OVERLAYS, a_bento, by_kind


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_of_the_overlays_is_restricted(overlay):
    workloads = {f"{o['kind']}/{o['metadata']['name']}": pod_spec_of(o) for o in build(K8S / "overlays" / overlay)
                 if pod_spec_of(o) is not None}
    assert {"Deployment/bento-customer-segmentation", "Deployment/bento-iris", "Deployment/mlflow",
            "StatefulSet/postgresql", "Deployment/pushgateway",
            "Job/mlflow-identities"} <= set(workloads)
    assert {name: restricted_violations(pod) for name, pod in workloads.items()} == {name: [] for name in workloads}


def test_every_pod_of_the_helm_release_is_restricted():
    pods = chart_pods()
    assert len(pods) == 3
    assert {name: restricted_violations(pod) for name, pod in pods.items()} == {name: [] for name in pods}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_namespace_enforces_the_restricted_profile(overlay):
    namespace = by_kind(build(K8S / "overlays" / overlay))[("Namespace", "ml-platform")]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


BREAKS = {
    "no seccomp profile": lambda pod: pod["securityContext"].pop("seccompProfile"),
    "privilege escalation": lambda pod: pod["containers"][0]["securityContext"].pop("allowPrivilegeEscalation"),
    "capabilities kept": lambda pod: pod["containers"][0]["securityContext"].pop("capabilities"),
    "may run as root": lambda pod: pod["securityContext"].pop("runAsNonRoot"),
    "hostPath": lambda pod: pod["volumes"].append({"name": "host", "hostPath": {"path": "/"}}),
    "hostNetwork": lambda pod: pod.update(hostNetwork=True),
    "added capability": lambda pod: pod["containers"][0]["securityContext"]["capabilities"].update(add=["SYS_ADMIN"]),
}


@pytest.mark.parametrize("change", sorted(BREAKS))
def test_the_checker_refuses_what_the_profile_refuses(change):
    pod = copy.deepcopy(pod_spec_of(a_bento(by_kind(build(K8S / "overlays" / "prod")))))
    assert restricted_violations(pod) == []
    BREAKS[change](pod)
    assert restricted_violations(pod), change
