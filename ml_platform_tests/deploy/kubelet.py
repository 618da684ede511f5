"""Runs a recorded Job's container locally, as the kubelet would: its command, with the env it declares.

Environment references (envFrom, valueFrom) resolve against the ConfigMaps and Secrets the test says
exist; a reference to any other name fails, as a pod would fail to start. Paths that the pod would
find on its volumes are the test's temporary directories, given as the ConfigMap's values.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def container_env(job: dict, config_maps: dict[str, dict], secrets: dict[str, dict]) -> dict[str, str]:
    container = job["spec"]["template"]["spec"]["containers"][0]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(_lookup(config_maps, source["configMapRef"]["name"], "ConfigMap"))
        else:
            env.update(_lookup(secrets, source["secretRef"]["name"], "Secret"))
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
        elif "secretKeyRef" in var.get("valueFrom", {}):
            ref = var["valueFrom"]["secretKeyRef"]
            env[var["name"]] = _lookup(secrets, ref["name"], "Secret")[ref["key"]]
        elif "configMapKeyRef" in var.get("valueFrom", {}):
            ref = var["valueFrom"]["configMapKeyRef"]
            env[var["name"]] = _lookup(config_maps, ref["name"], "ConfigMap")[ref["key"]]
    return env


def _lookup(objects: dict[str, dict], name: str, kind: str) -> dict:
    assert name in objects, f"the pod references {kind} {name!r}, which the deployment does not create"
    return objects[name]


def run_container(job: dict, env: dict[str, str], dagster_home: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    """The container's command, on this machine's venv, with DAGSTER_HOME moved to the test's directory."""
    container = job["spec"]["template"]["spec"]["containers"][0]
    argv = [*container.get("command", []), *container.get("args", [])]
    local_env = {**env, "DAGSTER_HOME": str(dagster_home), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
                 "PYTHONPATH": os.environ.get("PYTHONPATH", ""), "HOME": os.environ.get("HOME", str(dagster_home))}
    return subprocess.run(argv, env=local_env, capture_output=True, text=True, timeout=timeout)
