"""Runs a recorded Job's container locally, as the kubelet would: its command, with the env it declares.

`Kubelet` does this in the background for the Jobs the stand-in API server is sent (the step Jobs of
`k8s_job_executor`, and run Jobs when asked), and reports each one's pod the way the API server would.
A `Fate` kills a pod when a given step starts, as the kernel's OOM killer or a lost node would: the
OOM-killed pod is reported terminated with exit code 137, reason OOMKilled; the vanished one is gone.

Environment references (envFrom, valueFrom, and `$(NAME)` in a value) resolve against the ConfigMaps and Secrets the test says
exist; a reference to any other name fails, as a pod would fail to start, unless marked optional. Paths that the pod would
find on its volumes are the test's temporary directories, given as the ConfigMap's values.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
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
            env[var["name"]] = expand(var["value"], env)
        else:
            for ref_kind, objects, kind in (("secretKeyRef", secrets, "Secret"), ("configMapKeyRef", config_maps, "ConfigMap")):
                ref = var.get("valueFrom", {}).get(ref_kind)
                if ref and not (ref.get("optional") and ref["key"] not in objects.get(ref["name"], {})):
                    env[var["name"]] = _lookup(objects, ref["name"], kind)[ref["key"]]
    return env


def expand(value: str, defined: dict[str, str]) -> str:
    """`$(NAME)` replaced by a variable defined above it, as the kubelet does; an unknown one stays as
    written, and `$$` escapes a `$`."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)",
                  lambda m: "$" if m[0] == "$$" else defined.get(m[1], m[0]), value)


def _lookup(objects: dict[str, dict], name: str, kind: str) -> dict:
    assert name in objects, f"the pod references {kind} {name!r}, which the deployment does not create"
    return objects[name]


def run_container(job: dict, env: dict[str, str], dagster_home: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    """The container's command, on this machine's venv, with DAGSTER_HOME moved to the test's directory."""
    return run_container_until(job, env, dagster_home, None, timeout)


def _local_argv_env(job: dict, env: dict[str, str], dagster_home: Path) -> tuple[list[str], dict[str, str]]:
    container = job["spec"]["template"]["spec"]["containers"][0]
    argv = [*container.get("command", []), *container.get("args", [])]
    return argv, {**env, "DAGSTER_HOME": str(dagster_home), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
                  "PYTHONPATH": os.environ.get("PYTHONPATH", ""), "HOME": os.environ.get("HOME", str(dagster_home))}


TRAINING_STARTS = "trained_model.plan_search"  # the first step of the training asset's search


@dataclass(frozen=True)
class Fate:
    """How a pod dies: SIGKILLed with all its processes (a container's cgroup is OOM-killed as a group)
    when `step` starts; `reason` "OOMKilled" leaves the pod reported, "Vanished" deletes it."""

    step: str
    reason: str = "OOMKilled"


def run_container_until(job: dict, env: dict[str, str], dagster_home: Path, fate: Fate | None, timeout: int,
                        started: Callable[[subprocess.Popen], None] = lambda process: None) -> subprocess.CompletedProcess:
    """The container's command, SIGKILLed (process group and all) when its log says `fate.step` started,
    or when it overruns `timeout`. `started` is handed the process (the kubelet deletes pods at teardown)."""
    argv, local_env = _local_argv_env(job, env, dagster_home)
    process = subprocess.Popen(argv, env=local_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    started(process)
    timer = threading.Timer(timeout, os.killpg, (process.pid, signal.SIGKILL))
    timer.start()
    output = []
    for line in process.stdout:
        output.append(line)
        if fate and f'Started execution of step "{fate.step}"' in line:
            os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    timer.cancel()
    # The container runtime reports a SIGKILLed container as 128 + 9.
    code = 128 - process.returncode if process.returncode < 0 else process.returncode
    return subprocess.CompletedProcess(argv, code, "".join(output), "")


class Kubelet:
    """Runs each Job it is given in a background thread, and reports its pod as the API server would.

    A pod whose env cannot be built, or that overruns `timeout`, fails, as it would in a cluster; so a
    stuck step ends the run instead of hanging the test.
    """

    def __init__(self, config_maps: dict[str, dict], secrets: dict[str, dict], dagster_home: Path,
                 timeout: int = 240, components: tuple[str, ...] = ("step_worker",)) -> None:
        self._config_maps, self._secrets, self._home, self._timeout = config_maps, secrets, dagster_home, timeout
        self.components = components
        self.fates: dict[str, Fate] = {}  # by Job name
        self._jobs: dict[str, dict] = {}
        self._started: dict[str, str] = {}
        self.finished: dict[str, subprocess.CompletedProcess] = {}
        self._threads: list[threading.Thread] = []
        self._processes: list[subprocess.Popen] = []

    def runs(self, job: dict) -> bool:
        return job["metadata"]["labels"].get("app.kubernetes.io/component") in self.components

    def start(self, job: dict) -> None:
        self._jobs[job["metadata"]["name"]] = job
        self._started[job["metadata"]["name"]] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        thread = threading.Thread(target=self._run, args=(job,), daemon=True)
        self._threads.append(thread)
        thread.start()

    def _run(self, job: dict) -> None:
        fate = self.fates.get(job["metadata"]["name"])
        try:
            env = container_env(job, self._config_maps, self._secrets)
            finished = run_container_until(job, env, self._home, fate, self._timeout, self._processes.append)
        except (AssertionError, KeyError, subprocess.TimeoutExpired) as error:
            finished = subprocess.CompletedProcess([], 1, "", f"the pod failed: {error!r}")
        self.finished[job["metadata"]["name"]] = finished

    def wait(self, timeout: float = 30) -> None:
        for thread in self._threads:
            thread.join(timeout)

    def delete_all(self) -> None:
        """What deleting the test's namespace does: every pod still running (a step pod whose run pod died
        keeps training, as it would in a cluster) is killed, and the kubelet waits for its threads."""
        for process in self._processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
        self.wait()

    def has_job(self, name: str) -> bool:
        return name in self._jobs

    def job_status(self, name: str) -> dict:
        """As the Job controller reports it (backoffLimit 0: the pod's failure, or its deletion, fails the Job)."""
        finished, started = self.finished.get(name), self._started[name]
        if finished is None:
            return {"active": 1, "ready": 1, "startTime": started}
        if finished.returncode == 0:
            met = ("SuccessCriteriaMet", "CompletionsReached", "Reached expected number of succeeded pods")
            return {"succeeded": 1, "startTime": started, "completionTime": started, "conditions": [
                _condition("SuccessCriteriaMet", *met[1:], started), _condition("Complete", *met[1:], started)]}
        limit = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        return {"failed": 1, "startTime": started, "conditions": [
            _condition("FailureTarget", *limit, started), _condition("Failed", *limit, started)]}

    def vanished(self, job_name: str) -> bool:
        fate = self.fates.get(job_name)
        return job_name in self.finished and fate is not None and fate.reason == "Vanished"

    def pods(self, job_name: str) -> list[dict]:
        """The Job's one pod, labelled `job-name` as the Job controller labels it, with its container's state."""
        job = self._jobs.get(job_name)
        if job is None or self.vanished(job_name):
            return []
        finished, fate = self.finished.get(job_name), self.fates.get(job_name)
        template = job["spec"]["template"]
        reason = "Completed" if finished and finished.returncode == 0 else fate.reason if fate else "Error"
        state = {"running": {}} if finished is None else {"terminated": {"exitCode": finished.returncode,
                                                                          "reason": reason}}
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


def _condition(kind: str, reason: str, message: str, when: str) -> dict:
    return {"type": kind, "status": "True", "reason": reason, "message": message,
            "lastProbeTime": when, "lastTransitionTime": when}
