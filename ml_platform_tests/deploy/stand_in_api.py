"""A stand-in for the Kubernetes API server on 127.0.0.1: it records the Jobs it is sent.

It answers the calls dagster-k8s makes around a run (create a Job, read its status, list its pods,
delete it, read its pod's log) the way the API server does, so the real kubernetes client, the real
K8sRunLauncher and the real `k8s_job_executor` talk HTTP to it unchanged. A kubeconfig pointing at it
is written for them. Run Jobs are only recorded; step Jobs are also run, by the `kubelet` a test sets.
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
                if kubelet and body["metadata"]["labels"].get("app.kubernetes.io/component") == "step_worker":
                    kubelet.start(body)
                self._reply(201, {**body, "status": {}})

            def do_GET(self) -> None:
                kubelet, pods = server.kubelet, PODS.match(self.path)
                if pods and pods["name"]:
                    return self._reply(200, kubelet.log(pods["name"]) if kubelet else "")
                if pods:
                    selector = parse_qs(urlsplit(self.path).query).get("labelSelector", [""])[0]
                    job_name = selector.removeprefix("job-name=") if selector.startswith("job-name=") else ""
                    items = kubelet.pods(job_name) if kubelet else []
                    return self._reply(200, {"kind": "PodList", "apiVersion": "v1", "items": items})
                job = self._named_job()
                if job is None:
                    return self._reply(404, {"kind": "Status", "status": "Failure", "code": 404})
                name = job["metadata"]["name"]
                status = kubelet.job_status(name) if kubelet and kubelet.has_job(name) else {"active": 1}
                self._reply(200, {**job, "status": status})

            def do_DELETE(self) -> None:
                self._reply(200, {"kind": "Status", "status": "Success"})

        return Handler
