"""Debian's Prometheus and Pushgateway, started on 127.0.0.1 by the tests (neither starts by itself).

Each runs in its own process group and is stopped with SIGTERM (SIGKILL if that hangs); its output goes
to a file that a failed start reports.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks.service_process import HOST, free_port


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    output: Path


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


@contextmanager
def _running(command: list[str], port: int, ready_path: str, output: Path) -> Iterator[Server]:
    with output.open("w") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(f"http://{HOST}:{port}", process, output)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(server.url + ready_path, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{command[0]} did not become ready:\n{output.read_text()[-3000:]}")
            time.sleep(0.2)
        yield server
    finally:
        _stop(process)


@contextmanager
def pushgateway(workdir: Path) -> Iterator[Server]:
    port = free_port()
    with _running(["prometheus-pushgateway", f"--web.listen-address={HOST}:{port}"], port, "/-/ready",
                  workdir / "pushgateway.log") as server:
        yield server


@contextmanager
def prometheus(config: Path, workdir: Path) -> Iterator[Server]:
    port = free_port()
    command = ["prometheus", f"--config.file={config}", f"--web.listen-address={HOST}:{port}",
               f"--storage.tsdb.path={workdir / 'tsdb'}"]
    with _running(command, port, "/-/ready", workdir / "prometheus.log") as server:
        yield server


def query(prometheus_url: str, promql: str) -> list[dict]:
    """An instant query's result; fails with Prometheus's own error if the PromQL does not parse."""
    answer = httpx.get(f"{prometheus_url}/api/v1/query", params={"query": promql}, timeout=10).json()
    assert answer["status"] == "success", f"{promql}: {answer.get('error')}"
    return answer["data"]["result"]
