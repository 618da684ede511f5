"""Runs a recorded Job's container locally, as the kubelet would: its command, with the env it declares.

`Kubelet` does this in the background for the Jobs the stand-in API server is sent (the step Jobs of
`k8s_job_executor`), and reports each one's pod the way the API server would.

Environment references (envFrom, valueFrom) resolve against the ConfigMaps and Secrets the test says
exist; a reference to any other name fails, as a pod would fail to start. Paths that the pod would
find on its volumes are the test's temporary directories, given as the ConfigMap's values.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
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


class Kubelet:
    """Runs each Job it is given in a background thread, and reports its pod as the API server would.

    A pod whose env cannot be built, or that overruns `timeout`, fails, as it would in a cluster; so a
    stuck step ends the run instead of hanging the test.
    """

    def __init__(self, config_maps: dict[str, dict], secrets: dict[str, dict], dagster_home: Path,
                 timeout: int = 240) -> None:
        self._config_maps, self._secrets, self._home, self._timeout = config_maps, secrets, dagster_home, timeout
        self._jobs: dict[str, dict] = {}
        self.finished: dict[str, subprocess.CompletedProcess] = {}
        self._threads: list[threading.Thread] = []

    def start(self, job: dict) -> None:
        self._jobs[job["metadata"]["name"]] = job
        thread = threading.Thread(target=self._run, args=(job,), daemon=True)
        self._threads.append(thread)
        thread.start()

    def _run(self, job: dict) -> None:
        try:
            finished = run_container(job, container_env(job, self._config_maps, self._secrets), self._home,
                                     self._timeout)
        except (AssertionError, KeyError, subprocess.TimeoutExpired) as error:
            finished = subprocess.CompletedProcess([], 1, "", f"the pod failed: {error!r}")
        self.finished[job["metadata"]["name"]] = finished

    def wait(self, timeout: float = 30) -> None:
        for thread in self._threads:
            thread.join(timeout)

    def has_job(self, name: str) -> bool:
        return name in self._jobs

    def job_status(self, name: str) -> dict:
        finished = self.finished.get(name)
        if finished is None:
            return {"active": 1}
        done = "Complete" if finished.returncode == 0 else "Failed"
        return {"succeeded" if done == "Complete" else "failed": 1,
                "conditions": [{"type": done, "status": "True"}]}

    def pods(self, job_name: str) -> list[dict]:
        """The Job's one pod, labelled `job-name` as the Job controller labels it, with its container's state."""
        job = self._jobs.get(job_name)
        if job is None:
            return []
        finished = self.finished.get(job_name)
        template = job["spec"]["template"]
        state = {"running": {}} if finished is None else {"terminated": {
            "exitCode": finished.returncode, "reason": "Completed" if finished.returncode == 0 else "Error"}}
        phase = "Running" if finished is None else "Succeeded" if finished.returncode == 0 else "Failed"
        return [{"kind": "Pod", "apiVersion": "v1",
                 "metadata": {"name": f"{job_name}-pod", "namespace": job["metadata"]["namespace"],
                              "labels": {**template.get("metadata", {}).get("labels", {}), "job-name": job_name}},
                 "spec": template["spec"],
                 "status": {"phase": phase, "containerStatuses": [
                     {"name": c["name"], "image": c["image"], "imageID": "", "ready": finished is None,
                      "restartCount": 0, "state": state} for c in template["spec"]["containers"]]}}]

    def log(self, pod_name: str) -> str:
        finished = self.finished.get(pod_name.removesuffix("-pod"))
        return "" if finished is None else finished.stdout + finished.stderr
