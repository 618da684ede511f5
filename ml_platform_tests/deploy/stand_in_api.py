"""A stand-in for the Kubernetes API server on 127.0.0.1: it records the Jobs it is sent.

It answers the calls dagster-k8s makes around a run (create a Job, read its status, list its pods,
delete it, read its pod's log; and for run monitoring's debug message, list a Job, a pod and their
events) the way the API server does, so the real kubernetes client, the real K8sRunLauncher and the
real `k8s_job_executor` talk HTTP to it unchanged. A kubeconfig pointing at it is written for them.
Jobs are only recorded, unless the `kubelet` a test sets runs them (step Jobs; run Jobs if asked).
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from ml_platform_tests.deploy.kubelet import Kubelet

JOBS = re.compile(r"^/apis/batch/v1/namespaces/(?P<ns>[^/]+)/jobs(?:/(?P<name>[^/?]+))?(?:/status)?")
PODS = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods(?:/(?P<name>[^/?]+)/log)?")
EVENTS = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/events")


def _selector(path: str, kind: str, prefix: str) -> str | None:
    """The value a `labelSelector` or `fieldSelector` of the form `prefix=value` asks for."""
    value = parse_qs(urlsplit(path).query).get(kind, [""])[0]
    return value.removeprefix(prefix) if value.startswith(prefix) else None


class StandInApiServer:
    def __init__(self) -> None:
        self.jobs: list[dict] = []
        self.kubelet: Kubelet | None = None
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> StandInApiServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def write_kubeconfig(self, path: Path, namespace: str) -> Path:
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "stand-in",
            "clusters": [{"name": "stand-in", "cluster": {"server": self.url}}],
            "users": [{"name": "stand-in", "user": {"username": "test", "password": "stand-in"}}],
            "contexts": [{"name": "stand-in", "context": {"cluster": "stand-in", "user": "stand-in",
                                                           "namespace": namespace}}],
        }))
        return path

    def jobs_of(self, run_id: str, component: str) -> list[dict]:
        """The Jobs of one run: `run_worker` (the K8sRunLauncher's) or `step_worker` (the executor's)."""
        return [j for j in self.jobs if j["metadata"]["labels"].get("dagster/run-id") == run_id
                and j["metadata"]["labels"].get("app.kubernetes.io/component") == component]

    def job_for_run(self, run_id: str) -> dict:
        found = self.jobs_of(run_id, "run_worker")
        assert len(found) == 1, f"{len(found)} Jobs recorded for run {run_id}"
        return found[0]

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _reply(self, status: int, body: dict | str) -> None:
                text = isinstance(body, str)
                data = (body if text else json.dumps(body)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain" if text else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _named_job(self) -> dict | None:
                match = JOBS.match(self.path)
                named = [j for j in server.jobs if match and j["metadata"]["name"] == match["name"]]
                return named[-1] if named else None

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                match = JOBS.match(self.path)
                if not match or match["name"]:
                    return self._reply(404, {"kind": "Status", "status": "Failure", "code": 404})
                body["metadata"]["namespace"] = match["ns"]
                server.jobs.append(body)
                kubelet = server.kubelet
                if kubelet and kubelet.runs(body):
                    kubelet.start(body)
                self._reply(201, {**body, "status": {}})

            def do_GET(self) -> None:
                kubelet, pods = server.kubelet, PODS.match(self.path)
                if pods and pods["name"]:
                    return self._reply(200, kubelet.log(pods["name"]) if kubelet else "")
                if pods:
                    job_name = _selector(self.path, "labelSelector", "job-name=")
                    pod_name = _selector(self.path, "fieldSelector", "metadata.name=")
                    items = [] if not kubelet else kubelet.pods(job_name) if job_name else [
                        pod for job in server.jobs for pod in kubelet.pods(job["metadata"]["name"])
                        if pod["metadata"]["name"] == pod_name]
                    return self._reply(200, {"kind": "PodList", "apiVersion": "v1", "items": items})
                if EVENTS.match(self.path):
                    return self._reply(200, {"kind": "EventList", "apiVersion": "v1", "items": []})
                match = JOBS.match(self.path)
                if match and not match["name"]:
                    name = _selector(self.path, "fieldSelector", "metadata.name=")
                    items = [self._with_status(j) for j in server.jobs if j["metadata"]["name"] == name]
                    return self._reply(200, {"kind": "JobList", "apiVersion": "batch/v1", "items": items})
                job = self._named_job()
                if job is None:
                    return self._reply(404, {"kind": "Status", "status": "Failure", "code": 404})
                self._reply(200, self._with_status(job))

            def _with_status(self, job: dict) -> dict:
                name, kubelet = job["metadata"]["name"], server.kubelet
                return {**job, "status": kubelet.job_status(name) if kubelet and kubelet.has_job(name) else {"active": 1}}

            def do_DELETE(self) -> None:
                self._reply(200, {"kind": "Status", "status": "Success"})

        return Handler
