"""A real `mlflow server` on 127.0.0.1: what `http://mlflow:5000` (the platform ConfigMap's
MLFLOW_TRACKING_URI) answers in a cluster, over a SQLite store instead of PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from benchmarks.service_process import HOST, free_port


@contextmanager
def mlflow_server(root: Path, artifacts: Path, timeout: float = 120) -> Iterator[str]:
    """Serves the registry and tracking API of `root/mlflow.db` until the block ends; yields its URL."""
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "server", "--host", HOST, "--port", str(port),
               "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination", str(artifacts),
               "--workers", "1"]
    with serving(command, root, {**os.environ, "MLFLOW_ENABLE_TELEMETRY": "false"}, f"http://{HOST}:{port}",
                 timeout) as url:
        yield url


@contextmanager
def serving(command: list[str], root: Path, env: dict[str, str], url: str, timeout: float = 120) -> Iterator[str]:
    """Runs an `mlflow server` command in its own process group until the block ends, then ends the group."""
    log = root / "mlflow-server.log"
    with log.open("w") as sink:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=sink, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while not _healthy(url):
            assert process.poll() is None, f"mlflow server exited:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"mlflow server not up in {timeout} s:\n{log.read_text()[-3000:]}"
            time.sleep(0.3)
        yield url
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(30)
        except ProcessLookupError:  # the group is gone already (the server failed to start)
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
