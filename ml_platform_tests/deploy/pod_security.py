"""The restricted Pod Security Standard, checked on a pod spec as the API server's admission plugin does.

Written from the standard's table (kubernetes.io/docs/concepts/security/pod-security-standards, the
baseline controls plus the restricted ones), for the fields our pods can set. A namespace labelled
`pod-security.kubernetes.io/enforce: restricted` refuses a pod that breaks any of them.
"""

from __future__ import annotations

RESTRICTED_VOLUME_TYPES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                           "projected", "secret"}
SECCOMP_ALLOWED = {"RuntimeDefault", "Localhost"}


def _containers(pod: dict) -> list[dict]:
    return [*pod.get("initContainers", []), *pod.get("containers", []), *pod.get("ephemeralContainers", [])]


def restricted_violations(pod: dict) -> list[str]:
    """What in `pod` (a PodSpec) the restricted profile refuses; empty if the pod is admitted."""
    found = [f"spec.{field}" for field in ("hostNetwork", "hostPID", "hostIPC") if pod.get(field)]
    pod_context = pod.get("securityContext", {})
    found += [f"volume {v['name']}: type {kind}" for v in pod.get("volumes", [])
              for kind in set(v) - {"name"} - RESTRICTED_VOLUME_TYPES]
    found += _sysctl_and_selinux(pod_context, "pod")
    pod_seccomp = pod_context.get("seccompProfile", {}).get("type")
    if pod_seccomp is not None and pod_seccomp not in SECCOMP_ALLOWED:
        found.append(f"pod seccompProfile {pod_seccomp}")
    if pod_context.get("runAsUser") == 0:
        found.append("pod runAsUser 0")
    for container in _containers(pod):
        name, context = container["name"], container.get("securityContext", {})
        if context.get("privileged"):
            found.append(f"{name}: privileged")
        if context.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation must be false")
        capabilities = context.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []):
            found.append(f"{name}: capabilities must drop ALL")
        if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
            found.append(f"{name}: adds capabilities {capabilities['add']}")
        if not context.get("runAsNonRoot", pod_context.get("runAsNonRoot")):
            found.append(f"{name}: runAsNonRoot must be true (pod or container)")
        if context.get("runAsUser") == 0:
            found.append(f"{name}: runAsUser 0")
        seccomp = context.get("seccompProfile", {}).get("type", pod_seccomp)
        if seccomp not in SECCOMP_ALLOWED:
            found.append(f"{name}: seccompProfile must be RuntimeDefault or Localhost (pod or container), is {seccomp}")
        if context.get("procMount", "Default") != "Default":
            found.append(f"{name}: procMount {context['procMount']}")
        if context.get("windowsOptions", {}).get("hostProcess"):
            found.append(f"{name}: hostProcess")
        found += _sysctl_and_selinux(context, name)
        found += [f"{name}: hostPort {p['hostPort']}" for p in container.get("ports", []) if p.get("hostPort")]
    return found


def _sysctl_and_selinux(context: dict, owner: str) -> list[str]:
    selinux = context.get("seLinuxOptions", {})
    found = [f"{owner}: seLinuxOptions.{key}" for key in ("user", "role") if selinux.get(key)]
    if selinux.get("type") not in (None, "", "container_t", "container_init_t", "container_kvm_t",
                                   "container_engine_t"):
        found.append(f"{owner}: seLinuxOptions.type {selinux['type']}")
    if context.get("appArmorProfile", {}).get("type") == "Unconfined":
        found.append(f"{owner}: appArmorProfile Unconfined")
    safe = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
            "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
            "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
            "net.ipv4.tcp_keepalive_probes"}
    return found + [f"{owner}: sysctl {s['name']}" for s in context.get("sysctls", []) if s["name"] not in safe]


def pod_spec_of(obj: dict) -> dict | None:
    """The pod spec a workload object creates: Deployment, StatefulSet, DaemonSet, Job, or a Pod itself."""
    if obj["kind"] == "Pod":
        return obj["spec"]
    if obj["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}:
        return obj["spec"]["template"]["spec"]
    return None
